"""The project's label schema: every version loaded, the newest in force."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.data.schema import CONLL, LabelSchema, from_data
from core.store.records import dumps, loads, now

if TYPE_CHECKING:
    from core.store import Store


@dataclass(frozen=True)
class SchemaVersion:
    id: int
    schema: LabelSchema
    created: str


class LabelRepository:
    """Reads and writes `label_schemas`; `store.labels`. A project that loaded none is CoNLL's."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def current(self) -> LabelSchema:
        if not self.db["label_schemas"].exists():  # a file opened below v4 (before schemas): CoNLL's
            return CONLL
        row = self.db.execute("select schema from label_schemas order by id desc limit 1").fetchone()
        return from_data(loads(row[0]), "the project's label schema") if row else CONLL

    def save(self, schema: LabelSchema) -> int:
        """Put `schema` in force; the earlier ones stay, so a run can say which it was made under."""
        return self.db.execute("insert into label_schemas(schema, digest, created) values (?, ?, ?)",
                               [dumps(schema.to_json()), schema.digest(), now()]).lastrowid

    def by_digest(self, digest: str) -> LabelSchema | None:
        """The schema saved with this digest (what a run records), newest first; None if none."""
        row = self.db.execute("select schema from label_schemas where digest = ? order by id desc limit 1",
                              [digest]).fetchone()
        return from_data(loads(row[0]), f"label schema {digest}") if row else None

    def matching(self, labels: list[str]) -> LabelSchema | None:
        """The schema a student with these labels was trained under: the one in force, else the
        newest earlier one, else CoNLL's; None if none has exactly these labels."""
        candidates = [self.current(), *(v.schema for v in reversed(self.history())), CONLL]
        return next((s for s in candidates if s.bio_labels() == list(labels)), None)

    def history(self) -> list[SchemaVersion]:
        return [SchemaVersion(i, from_data(loads(text), f"label schema {i}"), created)
                for i, text, created in self.db.execute(
                    "select id, schema, created from label_schemas order by id")]

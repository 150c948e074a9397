"""`nerd loop`'s tables: a loop's settings and its rounds, one row a round, updated as the
round moves on (trained, scored, batch chosen, batch labelled)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from core.store.records import dumps, loads, now

if TYPE_CHECKING:
    from core.store import Store


@dataclass(frozen=True)
class LoopRecord:
    id: int
    name: str
    subset_id: int
    config: dict[str, Any]


@dataclass(frozen=True)
class LoopRound:
    """One round as stored. `status`, the step it is at: training (and scoring), choosing its
    batch, labelling it, ready (the batch waits for a person)."""

    round: int
    status: str
    labeller: str = ""
    training_run_id: int | None = None
    train_subset_id: int | None = None
    batch_subset_id: int | None = None
    annotation_run_id: int | None = None
    reviewed: int = 0  # reviewed sentences the round's student trained on
    heldout: int = 0  # reviewed held-out sentences it was scored on
    compared: int = 0  # of those, the ones the teacher labelled: where the two are compared
    student_f1: float | None = None
    student_f1_compared: float | None = None
    teacher_f1: float | None = None
    created: str = ""


_ROUND = [f.name for f in fields(LoopRound)]


class LoopRepository:
    """Reads and writes the loop tables; `store.loops`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def find(self, name: str) -> LoopRecord | None:
        row = self.db.execute("select id, name, subset_id, config from loops where name = ?",
                              [name]).fetchone()
        return LoopRecord(row[0], row[1], row[2], loads(row[3])) if row else None

    def of_run(self, run_id: int) -> LoopRecord | None:
        """The loop one of whose rounds this annotation run pre-annotated."""
        row = self.db.execute("select l.name from loops l join loop_rounds r on r.loop_id = l.id"
                              " where r.annotation_run_id = ?", [run_id]).fetchone()
        return self.find(row[0]) if row else None

    def names(self) -> list[str]:
        return [r[0] for r in self.db.execute("select name from loops order by id")]

    def create(self, name: str, subset_id: int, config: dict[str, Any]) -> int:
        with self.store.transaction() as db:
            return db.execute("insert into loops(name, subset_id, config, created) values (?, ?, ?, ?)",
                              [name, subset_id, dumps(config), now()]).lastrowid

    def set_config(self, loop_id: int, config: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute("update loops set config = ? where id = ?", [dumps(config), loop_id])

    def rounds(self, loop_id: int) -> list[LoopRound]:
        """The loop's rounds in order."""
        return [LoopRound(*row) for row in self.db.execute(
            f"select {', '.join(_ROUND)} from loop_rounds where loop_id = ? order by round", [loop_id])]

    def save_round(self, loop_id: int, found: LoopRound) -> None:
        """Insert the round, or update every field of the stored one."""
        values = {name: getattr(found, name) for name in _ROUND if name != "created"}
        with self.store.transaction() as db:
            db.execute(
                f"insert into loop_rounds(loop_id, {', '.join(values)}, created)"
                f" values (?, {', '.join('?' * len(values))}, ?) on conflict(loop_id, round) do update set "
                + ", ".join(f"{k} = excluded.{k}" for k in values if k != "round"),
                [loop_id, *values.values(), now()])

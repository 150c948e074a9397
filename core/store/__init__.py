"""The project's SQLite file: one per project, WAL mode, foreign keys on, versioned schema.

Every table is created by a numbered migration so an older project file is brought up to
date on open, never silently reinterpreted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import sqlite_utils

from core.store.annotations import AnnotationRepository
from core.store.corpora import CorpusRepository
from core.store.embeddings import EmbeddingRepository
from core.store.errors import StoreBusy, StoreError, is_busy
from core.store.labels import LabelRepository
from core.store.loops import LoopRepository
from core.store.records import dumps, loads, now
from core.store.reviews import ReviewRepository
from core.store.training import TrainingRepository

__all__ = ["Store", "StoreBusy", "StoreError", "dumps", "is_busy", "loads", "now"]

SCHEMA_VERSION_KEY = "schema_version"


def _v1(db: sqlite_utils.Database) -> None:
    db["datasets"].create(
        {"id": int, "name": str, "kind": str, "source": str, "content_hash": str,
         "scheme": str, "n_sentences": int, "created": str},
        pk="id", not_null={"name", "kind", "content_hash"},
    )
    db["datasets"].create_index(["name"], unique=True)
    db["datasets"].create_index(["content_hash"], unique=True)
    db["sentences"].create(
        {"id": int, "dataset_id": int, "position": int, "doc": str, "category": str,
         "text": str, "tokens": str, "gold_tags": str, "n_tokens": int},
        pk="id", foreign_keys=[("dataset_id", "datasets", "id")],
        not_null={"dataset_id", "position", "tokens", "n_tokens"},
    )
    db["sentences"].create_index(["dataset_id", "position"], unique=True)
    db["subsets"].create(
        {"id": int, "name": str, "dataset_id": int, "seed": int, "size": int,
         "params": str, "created": str},
        pk="id", foreign_keys=[("dataset_id", "datasets", "id")], not_null={"name"},
    )
    db["subsets"].create_index(["name"], unique=True)
    db["subset_sentences"].create(
        {"subset_id": int, "sentence_id": int, "position": int},
        pk=("subset_id", "sentence_id"),
        foreign_keys=[("subset_id", "subsets", "id"), ("sentence_id", "sentences", "id")],
    )
    db["annotation_runs"].create(
        {"id": int, "name": str, "subset_id": int, "backend": str, "model": str,
         "prompt": str, "template_version": str, "prompt_hash": str, "params": str,
         "status": str, "created": str, "finished": str},
        pk="id", foreign_keys=[("subset_id", "subsets", "id")],
    )
    db["annotations"].create(
        {"run_id": int, "sentence_id": int, "prompt_hash": str, "raw": str, "reasoning": str,
         "entities": str,
         "tags": str, "parse_status": str, "unmatched": str, "conflicts": str,
         "examples": str, "prompt_tokens": int, "completion_tokens": int,
         "latency_s": float, "created": str},
        pk=("run_id", "sentence_id"),
        foreign_keys=[("run_id", "annotation_runs", "id"), ("sentence_id", "sentences", "id")],
    )
    db["annotations"].create_index(["prompt_hash"])
    db["reviews"].create(
        {"id": int, "run_id": int, "sentence_id": int, "tags": str, "entities": str,
         "action": str, "created": str},
        pk="id",
        foreign_keys=[("run_id", "annotation_runs", "id"), ("sentence_id", "sentences", "id")],
    )
    db["reviews"].create_index(["run_id", "sentence_id"])
    db["training_runs"].create(
        {"id": int, "name": str, "config": str, "status": str, "checkpoint_dir": str,
         "created": str, "finished": str},
        pk="id",
    )
    db["epoch_metrics"].create(
        {"training_run_id": int, "epoch": int, "loss": float, "w0": float,
         "n_distilled": int, "n_original": int, "lr": float, "dev_f1": float,
         "seconds": float},
        pk=("training_run_id", "epoch"),
        foreign_keys=[("training_run_id", "training_runs", "id")],
    )
    db["predictions"].create(
        {"training_run_id": int, "sentence_id": int, "tags": str},
        pk=("training_run_id", "sentence_id"),
        foreign_keys=[("training_run_id", "training_runs", "id"),
                      ("sentence_id", "sentences", "id")],
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Better small teachers: several samples a sentence, their vote, cached embeddings."""
    db["annotations"].add_column("votes", str)
    db["annotation_samples"].create(
        {"run_id": int, "sentence_id": int, "sample": int, "prompt_hash": str, "raw": str, "entities": str,
         "prompt_tokens": int, "completion_tokens": int, "latency_s": float},
        pk=("run_id", "sentence_id", "sample"),
        foreign_keys=[("run_id", "annotation_runs", "id"), ("sentence_id", "sentences", "id")],
    )
    db["embeddings"].create(
        {"sentence_id": int, "model": str, "vector": bytes},
        pk=("sentence_id", "model"), foreign_keys=[("sentence_id", "sentences", "id")],
    )


def _v3(db: sqlite_utils.Database) -> None:
    """One meaning a column: `prompt_hash` was the prefix hash, the request key and a file digest."""
    for sql in (
        "alter table annotation_runs rename column prompt_hash to prefix_hash",
        "alter table annotation_runs add column source_digest text",
        "update annotation_runs set source_digest = prefix_hash, prefix_hash = null where backend = 'import'",
        "alter table annotations rename column prompt_hash to request_key",
        "drop index if exists idx_annotations_prompt_hash",
        "create index idx_annotations_request_key on annotations(request_key)",
        "alter table annotation_samples rename column prompt_hash to request_key",
        "create index idx_annotation_samples_request_key on annotation_samples(request_key)",
    ):
        db.execute(sql)


def _v4(db: sqlite_utils.Database) -> None:
    """A project's own entity types (`nerd labels load`); none saved means CoNLL-2003's four."""
    db.execute("create table label_schemas (id integer primary key, schema text not null,"
               " digest text not null, created text)")


def _v5(db: sqlite_utils.Database) -> None:
    """Users' own documents: each document's original text, and every sentence's place in it.

    `sentences.offsets` is JSON `[[start, end], ...]`, one pair a token, into its document's
    text; both columns stay null for sentences without a document (CoNLL imports).
    """
    for sql in (
        "create table documents (id integer primary key, dataset_id integer not null"
        " references datasets(id), position integer not null, key text not null,"
        " text text not null, meta text)",
        "create unique index idx_documents_dataset_position on documents(dataset_id, position)",
        "alter table sentences add column document_id integer references documents(id)",
        "alter table sentences add column offsets text",
        "create index idx_sentences_document_id on sentences(document_id)",
    ):
        db.execute(sql)


def _v6(db: sqlite_utils.Database) -> None:
    """Review decisions: each row says what the sentence is now (accepted, rejected, flagged,
    kept different from gold, skipped, edited, or '' for unreviewed) and a flag's note.

    Rows written before keep a null status; `core.store.reviews.status_of` reads it off the action.
    """
    for sql in (
        "alter table reviews add column status text",
        "alter table reviews add column note text",
    ):
        db.execute(sql)


def _v7(db: sqlite_utils.Database) -> None:
    """Issue 13: how each answer's strings were fitted to the tokens, JSON `[[repair, type, text]]`
    (`final period added`, `types assigned in order`, ...); null for answers stored before."""
    db.execute("alter table annotations add column align_repairs text")


def _v8(db: sqlite_utils.Database) -> None:
    """Issue 17: which server answered each sentence (its base URL), so a run spread over several
    endpoints shows who did what; '' for answers not asked of a server, null before v8."""
    db.execute("alter table annotations add column endpoint text")


def _v9(db: sqlite_utils.Database) -> None:
    """Issue 33: each review row's edit id, unique, so an edit replayed from a journal (an app
    killed while the database was busy) is stored once; null for rows written before v9."""
    db.execute("alter table reviews add column edit_id text")
    db.execute("create unique index reviews_edit_id on reviews(edit_id)")


def _v10(db: sqlite_utils.Database) -> None:
    """Issue 29: how sure a model that labels with probabilities (the student) was of each
    sentence, JSON `{"sentence": p, "entities": [[start, end, type, p, second type, its p], ...]}`
    (since then also `"word"`: the least sure word's index, where review opens; no new column);
    null for answers without probabilities (an LLM's)."""
    db.execute("alter table annotations add column scores text")


def _v11(db: sqlite_utils.Database) -> None:
    """Issue 33: who made each review row (`annotator`) and in which sitting (`session`), so
    several annotators keep their own view of a run and their agreement can be measured; null
    for rows written before v11 (annotator unknown)."""
    db.execute("alter table reviews add column annotator text")
    db.execute("alter table reviews add column session text")
    db.execute("create index reviews_annotator on reviews(run_id, annotator)")


def _v12(db: sqlite_utils.Database) -> None:
    """Issue 29: `nerd loop`: a loop's settings over its subset (`loops`), and each round
    (`loop_rounds`): the student trained on what was reviewed so far, its held-out F1 beside the
    teacher's, which labeller pre-annotated the round's batch, and the run a person reviews."""
    db.execute("create table loops (id integer primary key, name text not null unique,"
               " subset_id integer not null references subsets(id), config text not null,"
               " created text not null)")
    db.execute("create table loop_rounds (id integer primary key,"
               " loop_id integer not null references loops(id), round integer not null,"
               " status text not null, labeller text not null default '',"
               " training_run_id integer references training_runs(id),"
               " train_subset_id integer references subsets(id),"
               " batch_subset_id integer references subsets(id),"
               " annotation_run_id integer references annotation_runs(id),"
               " reviewed integer not null default 0, heldout integer not null default 0,"
               " compared integer not null default 0, student_f1 real, student_f1_compared real,"
               " teacher_f1 real, created text not null, unique(loop_id, round))")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12]


def _foreign_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of a database that is not a nerd project: it has tables but no `meta` version.

    An empty file, a new one, or any nerd project (even one made before a migration) has none.
    """
    names = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'"
                                        " and name not like 'sqlite_%' order by name")]
    if not names:
        return []
    if "meta" in names and conn.execute("select 1 from meta where key = ?", [SCHEMA_VERSION_KEY]).fetchone():
        return []
    return names


class Store:
    """A project database. `Store(path)` creates or upgrades it; an SQLite file that is not a
    nerd project (tables, but no nerd schema version) is refused and left untouched.

    `busy_timeout`: seconds a statement waits for another connection's write lock before
    `StoreBusy` (the app waits briefly and retries, so its screen never freezes); opening and
    upgrading always wait up to 30 s.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path).resolve()
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            foreign = _foreign_tables(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a nerd project database ({exc})") from exc
        if foreign:
            conn.close()
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise StoreError(f"{self.path}: an SQLite database, but not a nerd project (its tables: {shown});"
                             " nerd leaves it as it is: give another path")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        self.db = sqlite_utils.Database(conn)
        self._migrate()
        if busy_timeout != 30.0:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")

    @property
    def schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute(
            "select value from meta where key = ?", [SCHEMA_VERSION_KEY]
        ).fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this nerd knows "
                f"({len(MIGRATIONS)}); upgrade nerd"
            )
        if current == len(MIGRATIONS):
            return
        with self.transaction():
            if "meta" not in self.db.table_names():
                self.db["meta"].create({"key": str, "value": str}, pk="key")
            for version in range(current, len(MIGRATIONS)):
                MIGRATIONS[version](self.db)
            self.db.execute(
                "insert or replace into meta(key, value) values (?, ?)",
                [SCHEMA_VERSION_KEY, str(len(MIGRATIONS))],
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """All or nothing: a failed import leaves the file as it was.

        Write with `db.execute` inside it: sqlite-utils' own write helpers commit on their own.
        """
        conn = self.db.conn
        if conn.in_transaction:  # nested: the outer transaction decides
            yield self.db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        self.db.conn.close()

    @cached_property
    def annotations(self) -> AnnotationRepository:
        return AnnotationRepository(self)

    @cached_property
    def training(self) -> TrainingRepository:
        return TrainingRepository(self)

    @cached_property
    def corpora(self) -> CorpusRepository:
        return CorpusRepository(self)

    @cached_property
    def reviews(self) -> ReviewRepository:
        return ReviewRepository(self)

    @cached_property
    def embeddings(self) -> EmbeddingRepository:
        return EmbeddingRepository(self)

    @cached_property
    def labels(self) -> LabelRepository:
        return LabelRepository(self)

    @cached_property
    def loops(self) -> LoopRepository:
        return LoopRepository(self)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counts(self) -> dict[str, int]:
        return {name: self.db[name].count for name in self.db.table_names() if name != "meta"}

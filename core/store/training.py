"""Training runs, their metrics per epoch, and the predictions of a finished run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.store.records import dumps, find_run, loads, now

if TYPE_CHECKING:
    from core.store import Store


@dataclass(frozen=True)
class TrainingRun:
    id: int
    name: str
    config: dict[str, Any]
    status: str
    checkpoint_dir: str | None


def _run(row: tuple) -> TrainingRun:
    return TrainingRun(row[0], row[1] or "", loads(row[2]) or {}, row[3] or "", row[4])


_COLUMNS = "id, name, config, status, checkpoint_dir"


class TrainingRepository:
    """Reads and writes the training tables; `store.training`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def run(self, run_id: int) -> TrainingRun | None:
        row = self.db.execute(f"select {_COLUMNS} from training_runs where id = ?", [run_id]).fetchone()
        return _run(row) if row else None

    def find(self, ref: str) -> int | None:
        """A run by id or name; '' or 'latest' is the newest."""
        return find_run(self.db.conn, "training_runs", ref)

    def named(self, name: str) -> list[TrainingRun]:
        """Runs of this name, newest first."""
        return [_run(r) for r in self.db.execute(
            f"select {_COLUMNS} from training_runs where name = ? order by id desc", [name])]

    def runs(self) -> list[TrainingRun]:
        """Every run, newest first."""
        return [_run(r) for r in self.db.execute(f"select {_COLUMNS} from training_runs order by id desc")]

    def create(self, name: str, config: dict[str, Any], checkpoint_root: str) -> int:
        """A new run; its checkpoints go to CHECKPOINT_ROOT/train-ID."""
        with self.store.transaction() as db:
            run = db.execute("insert into training_runs(name, config, status, created)"
                             " values (?, ?, 'running', ?)", [name, dumps(config), now()]).lastrowid
            db.execute("update training_runs set checkpoint_dir = ? where id = ?",
                       [f"{checkpoint_root}/train-{run}", run])
        return run

    def set_status(self, run_id: int, status: str) -> None:
        self.db.execute("update training_runs set status = ?, finished = ? where id = ?",
                        [status, now() if status != "running" else None, run_id])

    def finished_names(self) -> set[str]:
        return {r[0] for r in self.db.execute("select name from training_runs where status = 'finished'")}

    def finished_named(self, name: str) -> int | None:
        row = self.db.execute("select id from training_runs where name = ? and status = 'finished'"
                              " order by id desc limit 1", [name]).fetchone()
        return row[0] if row else None

    def finished_with_prefix(self, prefix: str) -> list[tuple[int, str]]:
        """(run, name) of the newest finished run of each name that starts with `prefix`."""
        return [tuple(r) for r in self.db.execute(
            "select max(id), name from training_runs where status = 'finished' and substr(name, 1, ?) = ?"
            " group by name order by name", [len(prefix), prefix])]

    def any_running(self) -> bool:
        row = self.db.execute("select count(*) from training_runs where status = 'running'").fetchone()
        return row[0] > 0

    def save_epoch(self, row: dict[str, Any]) -> None:
        """One epoch's metrics (training_run_id, epoch, loss, w0, ...); again for an epoch replaces it."""
        self.db.execute(f"insert or replace into epoch_metrics({', '.join(row)})"
                        f" values ({', '.join('?' * len(row))})", list(row.values()))

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        cursor = self.db.execute("select * from epoch_metrics where training_run_id = ? order by epoch",
                                 [run_id])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def save_predictions(self, run_id: int, tags: Iterable[tuple[int, list[str]]]) -> None:
        with self.store.transaction() as db:
            db.conn.executemany(
                "insert or replace into predictions(training_run_id, sentence_id, tags) values (?, ?, ?)",
                ((run_id, sid, json.dumps(t)) for sid, t in tags))

    def predictions(self, run_id: int) -> dict[int, list[str]]:
        rows = self.db.execute("select sentence_id, tags from predictions where training_run_id = ?",
                               [run_id])
        return {sid: json.loads(tags) for sid, tags in rows if tags is not None}

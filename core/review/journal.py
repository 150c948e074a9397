"""Review edits the database could not take yet, kept in an append-only file beside it.

When another program holds the project's write lock, an edit goes to this process's journal
(`PROJECT.db.journal/PID-TOKEN.jsonl`, each line flushed and fsync'd) before the screen moves
on, and is written to the `reviews` table, in order, when the lock frees; then the file is
emptied. Every edit carries a unique id that the table holds under a unique index, so a
journal replayed after a crash between the commit and the emptying inserts nothing twice.

Each process holds a lock on its own file, which the OS drops when the process dies: the next
session that opens the project takes over any journal whose lock is free (a killed app's) and
writes its edits. A journal in use by a live process is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, ClassVar


@dataclass(frozen=True)
class Row:
    """One review row: what a sentence's tags became, by which action; `edit_id` names the
    edit, so writing it twice (a replayed journal) stores it once."""

    run_id: int
    sentence_id: int
    tags: list[str]
    entities: list
    action: str
    status: str
    note: str
    edit_id: str
    annotator: str = ""  # who made it ('' unknown)
    session: str = ""  # in which sitting

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex


class Journal:
    """This process's journal for one project file: `rows` (in order) are the edits not yet in
    the database, and the file holds them too. Get it with `Journal.of(db_path)`."""

    _open: ClassVar[dict[tuple[int, Path], Journal]] = {}

    def __init__(self, db_path: Path) -> None:
        self.folder = db_path.with_name(db_path.name + ".journal")
        self.rows: deque[Row] = deque()
        self._ids: set[str] = set()
        self._file: IO[str] | None = None

    @classmethod
    def of(cls, db_path: str | Path) -> Journal:
        """The one journal of this process for this project file (shared by its sessions)."""
        key = (os.getpid(), Path(db_path).resolve())
        if key not in cls._open:
            cls._open[key] = cls(key[1])
        return cls._open[key]

    @property
    def path(self) -> Path | None:
        """This process's file, once an edit has gone to it."""
        return Path(self._file.name) if self._file is not None else None

    def append(self, row: Row) -> None:
        """Keep `row` for later: on disk (fsync'd) before this returns, then in `rows`."""
        if row.edit_id in self._ids:
            return
        handle = self._own()
        handle.write(json.dumps(asdict(row)) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        self.rows.append(row)
        self._ids.add(row.edit_id)

    def written(self) -> None:
        """The first row is in the database: drop it from memory; once none is left, empty the
        file (a crash before that replays rows the database already holds, which adds nothing)."""
        self._ids.discard(self.rows.popleft().edit_id)
        if not self.rows and self._file is not None:
            self.clear()

    def clear(self) -> None:
        """Empty this process's file: every row in it is in the database."""
        assert self._file is not None
        self._file.truncate(0)
        self._file.seek(0)
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Let go of this process's file: removed when every row in it is written, else left for
        the next session that opens the project."""
        if self._file is None:
            return
        if not self.rows:
            Path(self._file.name).unlink(missing_ok=True)
        self._file.close()
        self._file = None

    def take_over(self) -> int:
        """Adopt the journals of processes that died with edits unwritten (their lock is free):
        their rows join this journal, in order, and their files go. How many rows came."""
        if not self.folder.is_dir():
            return 0
        adopted = 0
        own = self.path
        for path in sorted(self.folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime):
            if path == own:
                continue
            with contextlib.suppress(FileNotFoundError), open(path, "r+", encoding="utf-8") as orphan:
                try:
                    fcntl.flock(orphan, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process's journal
                rows = list(_read(orphan))
                for row in rows:
                    self.append(row)
                adopted += len(rows)
                path.unlink()
        return adopted

    def _own(self) -> IO[str]:
        if self._file is None:
            self.folder.mkdir(exist_ok=True)
            path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            self._file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self._file


def _read(handle: IO[str]) -> Iterable[Row]:
    """The rows of a journal file; a last line cut short by a crash mid-write is no edit yet."""
    for line in handle.read().splitlines():
        try:
            yield Row(**json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue

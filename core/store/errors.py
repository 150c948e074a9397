"""What can go wrong with the project file: the errors every repository and caller shares."""

from __future__ import annotations

import sqlite3

from common.errors import NerdError


class StoreError(NerdError, RuntimeError):
    """The project file can't be used as it is; the message says why and what to do."""


class StoreBusy(StoreError):
    """Another connection holds the write lock longer than this store waits; try again later."""


def is_busy(exc: BaseException) -> bool:
    """Whether an SQLite error means another connection has the database locked."""
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        or "locked" in str(exc) or "busy" in str(exc))

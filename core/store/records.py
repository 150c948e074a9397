"""How values become columns: JSON text and UTC timestamps. Every repository uses these."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def loads(text: str | None) -> Any:
    """A JSON column's value; NULL stays None."""
    return json.loads(text) if text is not None else None


def find_run(conn: sqlite3.Connection, table: str, ref: str) -> int | None:
    """A run of `table` by id or name (the newest of that name); '' or 'latest' is the newest run."""
    if ref in ("", "latest"):
        row = conn.execute(f"select max(id) from {table}").fetchone()
    elif ref.isdigit():
        row = conn.execute(f"select id from {table} where id = ?", [int(ref)]).fetchone()
    else:
        row = conn.execute(f"select id from {table} where name = ? order by id desc limit 1",
                           [ref]).fetchone()
    return row[0] if row else None

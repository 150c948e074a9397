"""Where the data, the project database and the cache live."""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import NerdError

DEFAULT_DB = "nerd.db"


class DataDirError(NerdError, FileNotFoundError):
    """The data dir (CoNLL-2003, BBC) can't be found; the message says where we looked."""


def data_dir(explicit: str | Path | None = None, need: str | None = None) -> Path:
    """`--data-dir`, else NERD_DATA_DIR, else ../shared/data when it exists.

    `need` is a path inside the data dir that must exist (e.g. `conll2003/train.txt`).
    """
    tried: list[str] = []
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("--data-dir", Path(explicit)))
    elif os.environ.get("NERD_DATA_DIR"):
        candidates.append(("NERD_DATA_DIR", Path(os.environ["NERD_DATA_DIR"])))
    else:
        candidates.append(("default", Path("..") / "shared" / "data"))
    for origin, path in candidates:
        target = path / need if need else path
        if target.exists():
            return path.resolve()
        tried.append(f"{target} ({origin})")
    raise DataDirError(
        "data not found; looked in " + ", ".join(tried)
        + ". Pass --data-dir DIR or set NERD_DATA_DIR to the folder holding conll2003/ and bbc/."
    )


def db_path(explicit: str | Path | None = None) -> Path:
    """`--db`, else NERD_DB, else nerd.db in the current dir."""
    return Path(explicit or os.environ.get("NERD_DB") or DEFAULT_DB)


def cache_dir() -> Path:
    """Where derived artefacts (the GGUF written from its package) are kept once per user."""
    base = os.environ.get("NERD_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    path = root / "nerd" if not os.environ.get("NERD_CACHE_DIR") else root
    path.mkdir(parents=True, exist_ok=True)
    return path

"""What every benchmark writes beside its numbers: the machine, the command and the date."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}"


def header(title: str) -> str:
    return (f"# {title}\n\n- date: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
            f"- machine: {machine()}\n- python: {sys.version.split()[0]}\n"
            f"- command: `{command()}`\n\n")


def command() -> str:
    """How to run it again: `python -m bench.NAME ARGS` (argv[0] is a path under -m)."""
    module = Path(sys.argv[0]).stem
    return " ".join(["python -m bench." + module, *sys.argv[1:]])


def write(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    print(text)
    return path

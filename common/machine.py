"""What a measurement was made on: printed beside every benchmark and experiment table."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU model name, cores, memory and OS: numbers compare only within one machine."""
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

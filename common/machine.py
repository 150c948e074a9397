"""What a measurement was made on: printed beside every benchmark and experiment table."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def machine() -> str:
    """CPU model name, cores, memory, OS and any NVIDIA GPU: numbers compare only within one
    machine, and a table trained on a GPU must not read as a CPU's."""
    cpu = this_cpu().model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpus = ", ".join(nvidia_gpus())
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}"
            + (f", GPU: {gpus}" if gpus else ""))


def nvidia_gpus() -> list[str]:
    """The names nvidia-smi reports (none without the driver); asked of the driver rather than
    torch so that a table-only command need not import torch."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class Cpu:
    model: str
    flags: frozenset[str]


def this_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> Cpu:
    """The CPU's model name and flags; empty flags where /proc/cpuinfo is missing."""
    model, flags = platform.processor() or platform.machine(), frozenset[str]()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:  # x86, ARM
                flags = frozenset(value.split())
    return Cpu(model, flags)

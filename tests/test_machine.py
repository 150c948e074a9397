"""The machine line beside every table: a GPU run must say so, a CPU run must not claim one."""

from __future__ import annotations

import os
import stat

from common.machine import machine, nvidia_gpus


def _tool(directory, script: str) -> None:
    """A stand-in nvidia-smi: this machine has no GPU driver to ask."""
    path = directory / "nvidia-smi"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_a_gpu_the_driver_reports_is_named(tmp_path, monkeypatch):
    _tool(tmp_path, 'echo "NVIDIA H200"')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert nvidia_gpus() == ["NVIDIA H200"]
    assert machine().endswith(", GPU: NVIDIA H200")


def test_no_driver_or_a_failing_one_names_no_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    assert nvidia_gpus() == [] and "GPU" not in machine()
    _tool(tmp_path, 'echo "NVIDIA-SMI has failed" >&2; exit 9')
    assert nvidia_gpus() == [] and "GPU" not in machine()

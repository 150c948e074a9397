"""The llama.cpp runtime: a build this CPU can run (no AMX), and a native crash that explains itself."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from models.llama_build import (
    LLAMA_CPP_VERSION,
    Cpu,
    build_problems,
    check,
    cmake_args,
    compiled_features,
    this_cpu,
    wheel_key,
)

# What llama_print_system_info() says on the builds that matter (llama-cpp-python 0.3.36).
AMX_BUILD = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 |"
             " BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 |"
             " AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
XEON_NO_AMX = AMX_BUILD.replace(" AMX_INT8 = 1 |", "")
EPYC_AVX2 = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 |"
             " LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
XEON = Cpu("Intel(R) Xeon(R) Platinum 8481C", frozenset(
    ["pni", "ssse3", "avx", "avx2", "avx_vnni", "f16c", "fma", "bmi2", "avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]))
EPYC = Cpu("AMD EPYC", frozenset(["pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2"]))


def test_the_installed_build_runs_on_this_cpu():
    """Red, with the reason and the fix, when llama_cpp was built with AMX or for another CPU."""
    pytest.importorskip("llama_cpp")
    problems = check()
    assert not problems, "\n".join(problems)


def test_an_amx_build_is_refused_everywhere_and_named():
    for cpu in (XEON, EPYC):
        problems = build_problems(AMX_BUILD, cpu)
        assert any("AMX_INT8" in p and "segfault" in p for p in problems)
    assert build_problems(XEON_NO_AMX, XEON) == []


def test_a_build_from_a_wider_cpu_is_refused():
    problems = build_problems(XEON_NO_AMX, EPYC)
    assert problems and "AVX512" in problems[0] and "lacks" in problems[0]
    assert build_problems(EPYC_AVX2, EPYC) == [] and build_problems(EPYC_AVX2, XEON) == []


def test_features_are_read_from_system_info():
    assert compiled_features(EPYC_AVX2) == {"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2",
                                            "LLAMAFILE", "OPENMP", "REPACK"}
    assert compiled_features("CPU : AVX = 1 | AMX_INT8 = 0 |") == {"AVX"}


def test_cpuinfo_is_read(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU\n"
                       "flags\t\t: fpu avx2 amx_int8\n\nprocessor\t: 1\nflags\t\t: other\n")
    cpu = this_cpu(cpuinfo)
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8481C CPU"
    assert cpu.flags == {"fpu", "avx2", "amx_int8"}


def test_the_wheel_cache_is_per_cpu_and_version():
    assert wheel_key(XEON) != wheel_key(EPYC)
    assert wheel_key(EPYC) == wheel_key(EPYC) and wheel_key(EPYC).startswith(LLAMA_CPP_VERSION)


def test_the_pins_agree():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'llama-cpp-python[server]=={LLAMA_CPP_VERSION}"' in text


@pytest.mark.parametrize("march", ["sapphirerapids", "native"])
def test_the_build_flags_switch_amx_off(march: str):
    """What `just install-llm` passes to the compiler leaves no AMX code, even for an AMX target."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler here (llama-cpp-python's build needs one)")
    flags = shlex.split(dict(arg.split("=", 1) for arg in shlex.split(cmake_args("x86_64")))
                        ["-DCMAKE_C_FLAGS"])
    assert flags == ["-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"]

    def macros(*extra: str) -> str:
        done = subprocess.run([compiler, f"-march={march}", *extra, "-dM", "-E", "-"], input="",
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"{compiler} doesn't know -march={march}: {done.stderr.strip()}")
        return done.stdout

    if march == "sapphirerapids":
        assert "__AMX_INT8__" in macros()  # the target does have AMX...
        assert "__AVX512F__" in macros(*flags)  # ...and the flags keep the rest of it
    assert "__AMX" not in macros(*flags)
    assert cmake_args("aarch64") == ""


def _children(parent: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(parent):
            found.append(int(status.parent.name))
    return found


@pytest.mark.llm
def test_a_native_crash_becomes_a_clear_error(gguf: Path):
    """The child dies by SIGSEGV mid-completion, as on an AMX Xeon: an error, not a vanished process."""
    from models.llama_backend import LlamaBackend, LlamaCrashed
    from models.llm import Request

    backend = LlamaBackend(gguf, n_ctx=512)
    assert backend.complete(Request("The capital of France is", max_tokens=3)).completion_tokens > 0
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            backend.complete(Request("Count: one, two, three,", max_tokens=400))
        except BaseException as exc:  # noqa: BLE001 - the assertion is on what was raised
            errors.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    time.sleep(0.3)
    os.kill(backend._proc.pid, signal.SIGSEGV)
    asker.join(30)
    assert len(errors) == 1 and isinstance(errors[0], LlamaCrashed) and errors[0].fatal
    message = str(errors[0])
    assert "crashed (signal SIGSEGV)" in message and this_cpu().model in message
    assert "just rebuild-llm" in message and "compiled-in features:" in message
    with pytest.raises(LlamaCrashed):  # and it stays crashed, it doesn't hang
        backend.complete(Request("x", max_tokens=1))
    backend.close()


@pytest.mark.llm
def test_a_crash_mid_run_fails_the_run_and_keeps_what_was_done(tmp_path: Path, conll_file: Path,
                                                              gguf: Path):
    """`nerd annotate` whose llama.cpp child is killed: exit 2, the reason, run failed, resumable."""
    import sqlite3

    db = str(tmp_path / "p.db")
    nerd = [sys.executable, "-m", "tui.cli"]
    subprocess.run([*nerd, "import", "conll", str(conll_file), "--name", "tiny", "--db", db],
                   check=True, capture_output=True)
    annotate = [*nerd, "annotate", "tiny", "--model", str(gguf), "--db", db]
    proc = subprocess.Popen(annotate,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, done = time.monotonic() + 120, 0
    while done < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        with sqlite3.connect(db) as conn:
            done = conn.execute("select count(*) from annotations").fetchone()[0]
    for child in _children(proc.pid):
        os.kill(child, signal.SIGSEGV)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "llama.cpp runtime crashed (signal SIGSEGV)" in err and "just rebuild-llm" in err
    with sqlite3.connect(db) as conn:
        status = conn.execute("select status from annotation_runs").fetchone()[0]
        kept = conn.execute("select count(*) from annotations").fetchone()[0]
    assert status == "failed" and 1 <= kept < 5
    again = subprocess.run(annotate, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("select status from annotation_runs").fetchall() == [("finished",)]
        assert conn.execute("select count(*), count(distinct sentence_id) from annotations"
                            ).fetchone() == (5, 5)


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="/proc and PR_SET_PDEATHSIG are Linux's")
def test_sigterm_cancels_the_run_and_closes_the_child(tmp_path: Path, conll_file: Path, gguf: Path):
    """`kill` marks the run cancelled (not left "running") and closes llama.cpp; it resumes."""
    import sqlite3

    db = str(tmp_path / "p.db")
    nerd = [sys.executable, "-m", "tui.cli"]
    subprocess.run([*nerd, "import", "conll", str(conll_file), "--name", "tiny", "--db", db],
                   check=True, capture_output=True)
    annotate = [*nerd, "annotate", "tiny", "--model", str(gguf), "--db", db]

    def started() -> tuple[subprocess.Popen, list[int]]:
        proc = subprocess.Popen(annotate, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not _children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # the model is loading or answering
        return proc, _children(proc.pid)

    proc, children = started()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("select status from annotation_runs").fetchall() == [("cancelled",)]
    assert children and not any(_alive(child) for child in children)

    again = subprocess.run(annotate, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(distinct sentence_id) from annotations").fetchone() == (5,)


LONG_COMPLETION = """
import sys, threading
from models.llama_backend import LlamaBackend
from models.llm import Request
backend = LlamaBackend(sys.argv[1], n_ctx=4096)
print(backend._proc.pid, flush=True)
backend.complete(Request(prompt="Once upon a time", max_tokens=3000, temperature=1.0, seed=1))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_parent_killed_mid_completion_takes_the_llama_child_with_it(gguf: Path):
    """`kill -9` of nerd cannot close its child; the kernel must, or llama.cpp goes on alone."""
    parent = subprocess.Popen([sys.executable, "-c", LONG_COMPLETION, str(gguf)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[1])
    child = int(parent.stdout.readline())
    time.sleep(1.5)  # loaded, and generating its 3000 tokens (many seconds on 2 cores)
    assert _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 1
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)

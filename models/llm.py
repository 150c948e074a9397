"""One small interface for every teacher: a request in, a completion out.

Backends differ in transport (in-process llama.cpp, an OpenAI-compatible HTTP API) but the
annotation run only ever sees `Backend.complete_many`, so a new backend is one class.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from common.errors import NerdError


@dataclass
class Request:
    """What to ask. `messages` set means chat mode; otherwise `prompt` is completed as is."""

    prompt: str = ""
    messages: list[dict[str, str]] | None = None
    stop: list[str] = field(default_factory=list)
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    pattern: str | None = None  # the answer must match this regex: llama.cpp enforces it, HTTP ignores it


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached_tokens: int = 0
    endpoint: str = ""  # the server that answered (its base URL); '' in process or from the store


class BackendError(NerdError, RuntimeError):
    """The teacher can't answer (bad key, model missing, server gone); the message says why."""

    fatal = False  # True: the backend itself is gone, so every later request would fail too


class Backend(Protocol):
    name: str
    model: str

    def complete(self, request: Request) -> Completion: ...

    def complete_many(self, requests: list[Request]) -> Iterator[tuple[int, Completion | BackendError]]:
        """`(index into requests, answer or error)` in the order they complete. A failure is
        yielded, not raised, so the caller keeps the rest; a `fatal` one is the last yielded."""
        ...

    def close(self) -> None: ...


def one_at_a_time(backend: Backend, requests: list[Request]
                  ) -> Iterator[tuple[int, Completion | BackendError]]:
    """`complete_many` for a backend that answers one request at a time, in order."""
    for i, request in enumerate(requests):
        try:
            yield i, backend.complete(request)
        except BackendError as exc:
            yield i, exc
            if exc.fatal:  # the backend is gone: every later request would fail the same way
                return

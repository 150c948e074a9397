"""The backend interface: `complete_many` for one-at-a-time backends, and the factory."""

from __future__ import annotations

import pytest

from models.backends import open_backend
from models.llama_backend import LlamaCrashed
from models.llm import BackendError, Completion, Request, one_at_a_time


class Scripted:
    """Answers from a script: a string is the completion, an exception is raised."""

    name, model = "scripted", "m"

    def __init__(self, *script: str | BackendError) -> None:
        self.script, self.asked = list(script), 0

    def complete(self, request: Request) -> Completion:
        self.asked += 1
        step = self.script.pop(0)
        if isinstance(step, BackendError):
            raise step
        return Completion(step)


def test_one_at_a_time_yields_answers_and_errors_in_order():
    backend = Scripted("a", BackendError("busy"), "c")
    got = list(one_at_a_time(backend, [Request("1"), Request("2"), Request("3")]))
    assert [i for i, _ in got] == [0, 1, 2]
    assert got[0][1].text == "a" and isinstance(got[1][1], BackendError) and got[2][1].text == "c"


def test_a_fatal_error_is_the_last_thing_yielded():
    backend = Scripted("a", LlamaCrashed("gone"), "never")
    got = list(one_at_a_time(backend, [Request("1"), Request("2"), Request("3")]))
    assert [i for i, _ in got] == [0, 1] and got[1][1].fatal and backend.asked == 2


def test_an_unknown_backend_is_a_user_error():
    with pytest.raises(BackendError, match="unknown backend 'gpt'; use llama-cpp or openai"):
        open_backend("gpt")

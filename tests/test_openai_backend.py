"""OpenAIBackend against a scripted faulty server, and once against a real llama.cpp server."""

from __future__ import annotations

import json
import logging
import time
import traceback
import urllib.request

import pytest

from bench.endpoints import free_port
from models.llm import BackendError, Completion, Request
from models.openai_backend import OpenAIBackend
from tests.fault_server import FaultServer

pytestmark = pytest.mark.server  # a fault-injecting HTTP server on 127.0.0.1

KEY = "sk-test-DO-NOT-LEAK-7f3a9c"


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real key or base URL must not leak into, or change, these tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def backend(server: FaultServer, **kw: object) -> OpenAIBackend:
    options: dict = {"timeout": 2.0, "max_retries": 3, "backoff": 0.01, "backoff_max": 0.05}
    return OpenAIBackend("fake-model", base_url=server.base_url, **(options | kw))


@pytest.mark.parametrize(("fault", "seen"), [
    ("429", "HTTP 429"), ("500", "HTTP 500"), ("503", "HTTP 503"),
    ("garbage", "invalid JSON in HTTP 200"), ("drop", "connection dropped"),
    ("reset", "connection reset"), ("partial", "response cut short"),
])
def test_retries_transient_faults_then_succeeds(
    fault: str, seen: str, caplog: pytest.LogCaptureFixture
) -> None:
    with FaultServer([fault, fault, "ok"]) as server:
        result = backend(server).complete(Request(prompt="Text: Ada\nResult:"))
    assert result.text == "PER: Ada"
    assert len(server.requests) == 3
    assert [r.getMessage().startswith(seen) for r in caplog.records] == [True, True]


def test_honours_retry_after_and_caps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer(["429:2", "503:100", "ok"]) as server:
        client = backend(server, backoff_max=5.0)
        waits: list[float] = []
        monkeypatch.setattr(client, "_sleep", waits.append)
        client.complete(Request(prompt="x"))
    assert waits == [2.0, 5.0]


def test_retry_after_really_waits() -> None:
    with FaultServer(["429:1", "ok"]) as server:
        started = time.perf_counter()
        backend(server, backoff_max=2.0).complete(Request(prompt="x"))
        elapsed = time.perf_counter() - started
    assert 0.95 <= elapsed < 3


def test_backoff_is_exponential_with_full_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer(["500"] * 5) as server:
        client = backend(server, max_retries=5, backoff=0.01, backoff_max=0.03)
        waits: list[float] = []
        monkeypatch.setattr(client, "_sleep", waits.append)
        client.complete(Request(prompt="x"))
    assert len(waits) == 5
    assert all(0 <= w <= min(0.03, 0.01 * 2**i) for i, w in enumerate(waits))


def test_timeout_on_hang_then_succeeds() -> None:
    with FaultServer(["hang", "ok"], hang_s=3) as server:
        started = time.perf_counter()
        result = backend(server, timeout=0.3).complete(Request(prompt="x"))
        elapsed = time.perf_counter() - started
    assert result.text == "PER: Ada"
    assert elapsed < 2


def test_gives_up_after_max_retries_saying_what_happened() -> None:
    with FaultServer(["429"] * 10) as server, pytest.raises(BackendError) as caught:
        backend(server, max_retries=3).complete(Request(prompt="x"))
    assert str(caught.value) == f"HTTP 429 from {server.base_url}/completions after 3 retries"
    assert len(server.requests) == 4


def test_gives_up_on_repeated_timeouts() -> None:
    expected = r"timed out after 0.2s waiting for .* after 1 retries"
    with FaultServer(["hang"] * 3, hang_s=1) as server, pytest.raises(BackendError, match=expected):
        backend(server, timeout=0.2, max_retries=1).complete(Request(prompt="x"))


def test_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = OpenAIBackend("m", base_url=url, max_retries=2, backoff=0.01)
    with pytest.raises(BackendError) as caught:
        client.complete(Request(prompt="x"))
    assert str(caught.value) == f"connection refused from {url}/completions after 2 retries"


@pytest.mark.parametrize("status", ["401", "403"])
def test_rejected_key_fails_at_once(status: str) -> None:
    with FaultServer([status, "ok"]) as server, pytest.raises(BackendError) as caught:
        backend(server, api_key=KEY).complete(Request(prompt="x"))
    assert f"the API rejected the key (HTTP {status})" in str(caught.value)
    assert "check OPENAI_API_KEY" in str(caught.value)
    assert len(server.requests) == 1


def test_not_found_names_url_and_model() -> None:
    with FaultServer(["404"]) as server, pytest.raises(BackendError) as caught:
        backend(server).complete(Request(messages=[{"role": "user", "content": "hi"}]))
    message = str(caught.value)
    assert "model or endpoint not found" in message
    assert f"{server.base_url}/chat/completions" in message and "'fake-model'" in message
    assert len(server.requests) == 1


def test_other_client_error_is_not_retried_and_quotes_the_server() -> None:
    expected = r"HTTP 400 from .*: fault 400$"
    with FaultServer(["400"]) as server, pytest.raises(BackendError, match=expected):
        backend(server).complete(Request(prompt="x"))
    assert len(server.requests) == 1


def test_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with FaultServer(["401", "echo400", "500", "500", "404"]) as server:
        client = backend(server, api_key=KEY, max_retries=1)
        for _ in range(4):
            try:
                client.complete(Request(prompt="x"))
            except BackendError as exc:
                errors.append(exc)
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"  # it was sent
    assert "bad request with Bearer ***" in str(errors[1])  # echoed, then scrubbed
    seen = [repr(client), str(client), caplog.text]
    for exc in errors:
        seen += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    assert len(errors) == 4 and not [text for text in seen if KEY in text]


def test_local_server_needs_no_key_and_env_key_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer() as server:
        backend(server).complete(Request(prompt="x"))
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        backend(server).complete(Request(prompt="x"))
    assert "Authorization" not in server.requests[0].headers
    assert server.requests[1].headers["Authorization"] == f"Bearer {KEY}"


def test_openai_without_a_key_fails_clearly() -> None:
    with pytest.raises(BackendError, match="set OPENAI_API_KEY"):
        OpenAIBackend("gpt-4")
    assert OpenAIBackend("gpt-4", api_key=KEY).base_url == "https://api.openai.com/v1"


def test_completion_mode_sends_prompt_and_options() -> None:
    with FaultServer() as server:
        request = Request(prompt="Text: Ada\nResult:", stop=["\n"], max_tokens=32,
                          temperature=0.2, seed=7)
        result = backend(server).complete(request)
    sent = server.requests[0]
    assert sent.path == "/v1/completions"
    assert sent.body == {"model": "fake-model", "prompt": "Text: Ada\nResult:", "max_tokens": 32,
                         "temperature": 0.2, "stop": ["\n"], "seed": 7}
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("PER: Ada", 7, 3)
    assert result.latency_s > 0


def test_chat_mode_sends_messages_and_omits_unset_options() -> None:
    messages = [{"role": "system", "content": "Label entities."},
                {"role": "user", "content": "Ada"}]
    with FaultServer() as server:
        result = backend(server).complete(Request(messages=messages))
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {"model": "fake-model", "messages": messages, "max_tokens": 256,
                         "temperature": 0.0}
    assert sent.headers["Content-Type"] == "application/json"
    assert result.text == "PER: Ada" and result.prompt_tokens == 7


def test_complete_many_runs_concurrently_and_isolates_a_failure() -> None:
    prompts = [f"sentence {i}" for i in range(8)]
    prompts[5] = "bad"
    route = lambda r: "400" if r.body["prompt"] == "bad" else "slow"  # noqa: E731
    with FaultServer(route=route, slow_s=0.2) as server:
        client = backend(server, concurrency=4)
        started = time.perf_counter()
        results = dict(client.complete_many([Request(prompt=p) for p in prompts]))
        elapsed = time.perf_counter() - started
    assert sorted(results) == list(range(8))
    assert isinstance(results[5], BackendError) and "HTTP 400" in str(results[5])
    for i, result in results.items():
        if i != 5:
            assert isinstance(result, Completion) and result.text == prompts[i]
    assert 2 <= server.peak <= 4
    assert elapsed < 7 * 0.2  # serially it would take 1.4 s


def test_closing_complete_many_early_cancels_the_rest() -> None:
    with FaultServer(route=lambda r: "slow", slow_s=0.1) as server:
        stream = backend(server, concurrency=2).complete_many([Request(prompt="x")] * 20)
        next(stream)
        stream.close()
    assert len(server.requests) < 8


# -- a real OpenAI-compatible server: llama.cpp serving the embedded Gemma 270M -------------


@pytest.mark.llm
def test_real_llama_cpp_server_completes(llama_server: str) -> None:
    with urllib.request.urlopen(f"{llama_server}/models", timeout=5) as response:
        model = json.load(response)["data"][0]["id"]
    client = OpenAIBackend(model, base_url=llama_server, timeout=60, max_retries=1)
    prompt = (
        "Label the people (PER) and places (LOC).\n"
        "Text: Marie Curie lived in Paris.\nResult: PER: Marie Curie | LOC: Paris\n"
        "Text: Alan Turing was born in London.\nResult: PER: Alan Turing | LOC: London\n"
        "Text: Ada Lovelace visited Turin.\nResult:"
    )
    result = client.complete(Request(prompt=prompt, stop=["\n"], max_tokens=32, seed=0))
    assert result.text.strip()
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.latency_s > 0
    client.close()

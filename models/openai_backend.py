"""A teacher behind any OpenAI-compatible HTTP API: OpenAI itself, vLLM, Ollama, llama.cpp.

Standard library only, so the offline install needs no `openai`/`httpx`. Long annotation runs
meet rate limits, restarts and flaky proxies, so transient failures are retried with
exponential backoff and full jitter; permanent ones (bad key, unknown model) fail at once with
a message saying what to fix. The API key never appears in a message, repr or log line.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from models.llm import BackendError, Completion, Request

DEFAULT_BASE_URL = "https://api.openai.com/v1"
log = logging.getLogger(__name__)


class _Retry(Exception):
    """A transient failure: `what` is told to the user if it is the last one."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what, self.retry_after = what, retry_after


class TransientError(BackendError):
    """A failure that may pass (429, 5xx, a dropped or refused connection, a timeout): the same
    request may succeed later, or on another server (`models/endpoints.py` moves it there)."""


class EndpointError(BackendError):
    """The server can answer no request as configured (key rejected, model or path missing,
    unknown host, bad certificate): another server may still answer this request."""


class OpenAIBackend:
    """`complete` one request, or `complete_many` of them on a small thread pool."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        backoff_max: float = 20.0,
        concurrency: int = 4,
    ) -> None:
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.base_url = self.base_url.rstrip("/")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff, self.backoff_max = backoff, backoff_max
        self.concurrency = max(1, concurrency)
        self._sleep = time.sleep  # tests swap this to observe waits without waiting
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        if self._api_key is None and host.endswith("openai.com"):
            raise BackendError(
                f"{self.base_url} needs an API key: set OPENAI_API_KEY or pass api_key"
            )

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, key={key})"

    def complete(self, request: Request) -> Completion:
        """Chat mode when `request.messages` is set, plain completion otherwise; transient
        failures are retried here with backoff (`max_retries`)."""
        return self._complete(request, self.max_retries)

    def complete_once(self, request: Request) -> Completion:
        """One attempt, no retry: a transient failure is a `TransientError` at once, so a
        scheduler over several servers can move the request instead of waiting here."""
        return self._complete(request, 0)

    def _complete(self, request: Request, retries: int) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.messages is not None:
            path, body["messages"] = "/chat/completions", request.messages
        else:
            path, body["prompt"] = "/completions", request.prompt
        if request.stop:
            body["stop"] = request.stop
        if request.seed is not None:
            body["seed"] = request.seed
        started = time.perf_counter()
        data = self._post(path, body, retries)
        latency = time.perf_counter() - started
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise self._error(
                f"unexpected response from {self.base_url}{path}: {str(data)[:200]}"
            ) from None
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return Completion(
            text=text or "",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            cached_tokens=int(details.get("cached_tokens") or 0),
            endpoint=self.base_url,
        )

    def complete_many(
        self, requests: list[Request]
    ) -> Iterator[tuple[int, Completion | BackendError]]:
        """Yield `(index, result)` as each finishes; a failure is yielded, not raised, so the
        caller can keep the successes. Closing the iterator early cancels what hasn't started."""
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="openai")
        try:
            futures = {pool.submit(self.complete, r): i for i, r in enumerate(requests)}
            for future in as_completed(futures):
                try:
                    result: Completion | BackendError = future.result()
                except BackendError as exc:
                    result = exc
                yield futures[future], result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""

    # -- transport -------------------------------------------------------------------------

    def _error(self, message: str, kind: type[BackendError] = BackendError) -> BackendError:
        """Every message goes through here, so a key echoed by a server is scrubbed."""
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return kind(message)

    def _post(self, path: str, body: dict[str, Any], retries: int) -> dict[str, Any]:
        url = self.base_url + path
        for attempt in range(retries + 1):
            try:
                return self._attempt(url, body)
            except _Retry as retry:
                if attempt == retries:
                    tail = f" after {retries} retries" if retries else ""
                    raise self._error(retry.what + tail, TransientError) from None
                delay = random.uniform(0, min(self.backoff_max, self.backoff * 2**attempt))
                if retry.retry_after is not None:
                    delay = min(retry.retry_after, self.backoff_max)
                log.warning("%s; retry %d/%d in %.2fs", retry.what, attempt + 1, retries, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _attempt(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """One HTTP round trip: the parsed JSON, or `_Retry`, or a permanent BackendError."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(url, exc) from None
        except urllib.error.URLError as exc:  # raised while connecting / sending
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise _Retry(f"timed out after {self.timeout}s connecting to {url}") from None
            permanent = (socket.gaierror, ssl.SSLCertVerificationError)  # typo'd host, bad cert
            if isinstance(reason, OSError) and not isinstance(reason, permanent):
                raise _Retry(f"{_describe(reason)} from {url}") from None
            raise self._error(f"cannot reach {url}: {reason}", EndpointError) from None
        except TimeoutError:
            raise _Retry(f"timed out after {self.timeout}s waiting for {url}") from None
        except (http.client.HTTPException, ConnectionError) as exc:
            raise _Retry(f"{_describe(exc)} from {url}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise _Retry(f"invalid JSON in HTTP 200 from {url}: {raw[:80]!r}") from None

    def _http_error(self, url: str, exc: urllib.error.HTTPError) -> Exception:
        status = exc.code
        if status in (401, 403):
            return self._error(
                f"the API rejected the key (HTTP {status}) at {url}: check OPENAI_API_KEY",
                EndpointError,
            )
        if status == 429 or status >= 500:
            return _Retry(f"HTTP {status} from {url}", _retry_after(exc.headers))
        detail = _server_message(exc)
        if status == 404:
            return self._error(
                f"model or endpoint not found (HTTP 404) at {url} for model {self.model!r}"
                + (f": {detail}" if detail else ""),
                EndpointError,
            )
        return self._error(f"HTTP {status} from {url}" + (f": {detail}" if detail else ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection dropped without a response"
    if isinstance(exc, http.client.IncompleteRead):
        return "response cut short"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return f"{type(exc).__name__}: {exc}"


def _retry_after(headers: Any) -> float | None:
    """`Retry-After` as seconds (a number or an HTTP date); None when absent or unreadable."""
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(exc: urllib.error.HTTPError) -> str:
    """`error.message` (OpenAI) or `detail` (FastAPI servers), else the body's start."""
    try:
        raw = exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    try:
        data = json.loads(raw)
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            error = error.get("message") or error.get("detail")
        if isinstance(error, str) and error:
            return error[:500]
    except ValueError:
        pass
    return raw.strip()[:200]

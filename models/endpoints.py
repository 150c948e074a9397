"""One teacher behind several OpenAI-compatible servers: every server kept busy, none trusted.

A long run over many servers meets restarts, crashes and flaky networks. `Endpoints` is a
`Backend` that sends each request to the server with the most free slots (each has its own
concurrency), makes one attempt there, and on a transient failure (a refused or dropped
connection, a timeout, 429, 5xx) moves the request to another server. A server that keeps
failing is a *circuit breaker*: after a failure it gets one probe request at a time, after a
delay that doubles with each failure in a row; `fail_after` failures in a row take it out of
rotation (it is still probed now and then, and one answer brings it back). Only when every
server is out does the run stop, with an error naming each server and its last failure.
A request that fails `attempts` times, wherever, fails alone: it is never bounced forever. By
default that is one more than the failures it takes to put every server out, so servers that are
all gone stop the run (a clear error) before a request is given up for them.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from common.errors import NerdError
from models.llm import BackendError, Completion, Request
from models.openai_backend import EndpointError, OpenAIBackend, TransientError

SPEC_HELP = "URL, or URL,concurrency=N"
log = logging.getLogger(__name__)


class EndpointsError(NerdError, ValueError):
    """An endpoint list that can't be read; the message names the file, line and fix."""


@dataclass(frozen=True)
class Endpoint:
    """A server to ask, and how many requests it may have in flight (None: `--concurrency`)."""

    url: str
    concurrency: int | None = None


def parse_spec(spec: str) -> Endpoint:
    """`--base-url` on the command line: `URL` or `URL,concurrency=N`."""
    url, _, option = spec.partition(",")
    concurrency = None
    if option:
        name, _, value = option.partition("=")
        if name.strip() != "concurrency":
            raise EndpointsError(f"--base-url {spec!r}: unknown option {name.strip()!r}; write {SPEC_HELP}")
        concurrency = _concurrency(value, f"--base-url {spec!r}")
    return Endpoint(_url(url.strip(), f"--base-url {spec!r}"), concurrency)


def read_endpoints(path: str | Path) -> list[Endpoint]:
    """An endpoints file: one `URL [CONCURRENCY]` a line; `#` comments and blank lines skipped."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EndpointsError(f"{source}: cannot read the endpoints file ({exc})") from None
    found: list[Endpoint] = []
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{source}:{number}"
        if len(fields) > 2:
            raise EndpointsError(f"{where}: {len(fields)} fields; write one URL and an optional"
                                 " concurrency, e.g. http://10.0.0.5:8000/v1 4")
        endpoint = Endpoint(_url(fields[0], where),
                            _concurrency(fields[1], where) if len(fields) == 2 else None)
        if any(e.url == endpoint.url for e in found):
            raise EndpointsError(f"{where}: {endpoint.url} is listed twice; give each server once,"
                                 " with its concurrency")
        found.append(endpoint)
    if not found:
        raise EndpointsError(f"{source}: no endpoints; write one URL a line, e.g. http://127.0.0.1:8000/v1")
    return found


def _url(text: str, where: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise EndpointsError(f"{where}: {text!r} is not an http(s) URL; give the API root, e.g."
                             " http://127.0.0.1:8000/v1")
    return text.rstrip("/")


def _concurrency(text: str, where: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise EndpointsError(f"{where}: concurrency {text.strip()!r} is not a whole number of 1 or"
                             " more; it is how many requests that server may have in flight")
    return value


@dataclass
class _Server:
    """One endpoint's state. `failures`: failures in a row; from 1 it gets one probe at a time
    after a delay, from `fail_after` it is out of rotation (still probed, less often)."""

    backend: OpenAIBackend
    concurrency: int
    busy: int = 0
    failures: int = 0
    failed_at: float = float("-inf")  # when the last counted failure was seen
    retry_at: float = 0.0  # no probe before this
    last_error: str = ""

    def free(self, now: float) -> int:
        if not self.failures:
            return self.concurrency - self.busy
        return 1 if self.busy == 0 and now >= self.retry_at else 0


@dataclass
class _Job:
    index: int
    request: Request
    tries: int = 0  # transient failures so far, on any server


class Endpoints:
    """The `Backend` protocol over several `OpenAIBackend`s; see the module's docstring."""

    name = "openai"

    def __init__(self, backends: list[OpenAIBackend], concurrency: list[int], fail_after: int = 3,
                 backoff: float = 1.0, backoff_max: float = 60.0, attempts: int | None = None) -> None:
        if not backends or len(backends) != len(concurrency):
            raise ValueError("one concurrency per backend, and at least one backend")
        self.model = backends[0].model
        self.servers = [_Server(b, max(1, c)) for b, c in zip(backends, concurrency, strict=True)]
        self.fail_after = fail_after
        self.attempts = attempts or fail_after * len(backends) + 1
        self.backoff, self.backoff_max = backoff, backoff_max

    def __repr__(self) -> str:
        return f"Endpoints({', '.join(s.backend.base_url for s in self.servers)})"

    def complete(self, request: Request) -> Completion:
        for _, result in self.complete_many([request]):
            if isinstance(result, BackendError):
                raise result
            return result
        raise AssertionError("unreachable")

    def complete_many(self, requests: list[Request]) -> Iterator[tuple[int, Completion | BackendError]]:
        """`(index, answer or error)` as each completes; every server busy up to its concurrency.

        The last thing yielded is a `fatal` error when every server is out of rotation. Closing
        the iterator early lets what is in flight finish and starts nothing more."""
        waiting = deque(_Job(i, r) for i, r in enumerate(requests))
        running: dict[Future[Completion], tuple[_Job, _Server, float]] = {}
        pool = ThreadPoolExecutor(sum(s.concurrency for s in self.servers), thread_name_prefix="endpoint")
        try:
            while waiting or running:
                self._dispatch(pool, waiting, running)
                if not running:
                    if self._all_down():
                        yield waiting[0].index, self._down_error()
                        return
                    time.sleep(max(0.0, min(s.retry_at for s in self.servers) - time.monotonic()))
                    continue
                probe = self._next_probe() if waiting else None  # a resting server may take one
                done, _ = wait(running, timeout=probe, return_when=FIRST_COMPLETED)
                for future in done:
                    job, server, sent = running.pop(future)
                    server.busy -= 1
                    if (result := self._settle(future, job, server, sent)) is not None:
                        yield job.index, result
                    else:
                        waiting.appendleft(job)  # asked again first, elsewhere if it can
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""

    # -- scheduling ------------------------------------------------------------------------

    def _dispatch(self, pool: ThreadPoolExecutor, waiting: deque[_Job],
                  running: dict[Future[Completion], tuple[_Job, _Server, float]]) -> None:
        """Hand waiting requests to the servers with the most free slots, until none is free."""
        while waiting:
            now = time.monotonic()
            server = max(self.servers, key=lambda s: s.free(now) / s.concurrency)
            if server.free(now) <= 0:
                return
            job = waiting.popleft()
            server.busy += 1
            running[pool.submit(server.backend.complete_once, job.request)] = (job, server, now)

    def _settle(self, future: Future[Completion], job: _Job, server: _Server,
                sent: float) -> Completion | BackendError | None:
        """The result to yield, or None to ask again; updates the server's health."""
        try:
            answer = future.result()
        except (TransientError, EndpointError) as exc:
            self._failed(server, exc, sent)
            job.tries += 1
            if job.tries >= self.attempts:
                return BackendError(f"{exc} (tried {job.tries} times on {len(self.servers)} servers)")
            return None
        except BackendError as exc:  # the request itself is wrong (HTTP 400, a bad body)
            server.failures = 0
            return exc
        server.failures, server.last_error = 0, ""
        return answer

    def _failed(self, server: _Server, exc: BackendError, sent: float) -> None:
        """Count a failure, unless the request was sent before the last one counted: a burst of
        requests failing together (a server killed with four in flight) is one failure."""
        server.last_error = str(exc)
        now = time.monotonic()
        if sent < server.failed_at:
            return
        server.failures = self.fail_after if isinstance(exc, EndpointError) else server.failures + 1
        server.failed_at = now
        delay = min(self.backoff_max, self.backoff * 2 ** (server.failures - 1))
        server.retry_at = now + delay
        if server.failures == self.fail_after:
            log.warning("%s out of rotation after %d failures in a row (%s); probing it again in %.0fs",
                        server.backend.base_url, server.failures, exc, delay)

    def _all_down(self) -> bool:
        return all(s.failures >= self.fail_after and s.busy == 0 for s in self.servers)

    def _next_probe(self) -> float | None:
        """Seconds until a resting server may be probed (the wait for answers is cut there)."""
        now = time.monotonic()
        resting = [s.retry_at - now for s in self.servers if s.failures and s.busy == 0]
        return max(0.0, min(resting)) if resting else None

    def _down_error(self) -> BackendError:
        lines = "; ".join(f"{s.backend.base_url}: {s.last_error} ({s.failures} failures in a row)"
                          for s in self.servers)
        error = BackendError(f"every endpoint is down: {lines}. Start them again (or fix the"
                             " endpoints list), then run the same command: the run resumes")
        error.fatal = True
        return error

"""Annotation across several OpenAI-compatible servers (issue 17): the endpoints list, the
scheduler's failover, and a real run over three llama.cpp servers with one killed mid-run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.endpoints import free_port, llama_servers
from core.data import corpora
from core.store import Store
from core.teacher.annotate import annotate
from core.teacher.prompts import build
from core.teacher.runs import RunConfig, open_run
from models.endpoints import Endpoint, Endpoints, EndpointsError, parse_spec, read_endpoints
from models.llm import BackendError, Request
from models.openai_backend import OpenAIBackend
from tests.fault_server import FaultServer, Received

pytestmark = pytest.mark.server  # HTTP servers on 127.0.0.1

ANSWER = "{'PER': ['Peter Blackburn'], 'LOC': ['BRUSSELS', 'France']}"

# Short news-like sentences, one a line; the test writes them as a two-column CoNLL file.
SENTENCES = """Peter Blackburn visited Paris .
The European Commission met in Brussels .
Germany beat France 2-1 on Sunday .
John Smith works for Reuters in London .
Apple opened a store in Tokyo .
The Thames flows through Oxford .
Maria Garcia won the Madrid marathon .
Toyota sold more cars in Canada .
The United Nations met in Geneva .
Fischler spoke in Luxembourg on Monday .
Boris Yeltsin returned to Moscow .
Nokia shares rose in Helsinki .
Clinton arrived in Chicago on Friday .
The Red Cross helped in Rwanda .
Sony hired Ken Tanaka in Osaka .
Ajax beat PSV in Amsterdam ."""


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real key or base URL must not leak into, or change, these tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def news(tmp_path: Path, db: Path, count: int = len(SENTENCES.splitlines())) -> Path:
    """`count` short sentences imported as dataset `news` into a new project at `db`."""
    conll = tmp_path / "news.conll"
    conll.write_text("\n\n".join("\n".join(f"{t} O" for t in line.split())
                                 for line in SENTENCES.splitlines()[:count]) + "\n")
    with Store(db) as store:
        corpora.import_conll(store, conll, "news")
    return db


def dead_url() -> str:
    """A port nothing listens on: a real refused connection, no fake needed."""
    return f"http://127.0.0.1:{free_port()}/v1"


def quick(urls: list[str], **kw: object) -> Endpoints:
    """The scheduler with short waits, so failures are seen in a test's time."""
    backends = [OpenAIBackend("m", base_url=u, timeout=5) for u in urls]
    return Endpoints(backends, [2] * len(urls), **({"backoff": 0.01, "backoff_max": 0.05} | kw))


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select sentence_id, endpoint from annotations order by sentence_id").fetchall()


# -- the endpoints list ------------------------------------------------------------------------


def test_an_endpoints_file_with_comments_and_concurrency(tmp_path: Path) -> None:
    path = tmp_path / "servers.txt"
    path.write_text("# the lab's servers\n\nhttp://10.0.0.5:8000/v1 4\n"
                    "  https://gpu-2.lab/v1/   # default concurrency\n")
    assert read_endpoints(path) == [Endpoint("http://10.0.0.5:8000/v1", 4),
                                    Endpoint("https://gpu-2.lab/v1", None)]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("http://a:1/v1\nftp://b/v1 2\n", 2, "'ftp://b/v1' is not an http(s) URL"),
    ("http://a:1/v1 four\n", 1, "concurrency 'four' is not a whole number"),
    ("# c\nhttp://a:1/v1 0\n", 2, "concurrency '0' is not a whole number of 1 or more"),
    ("http://a:1/v1 2 3\n", 1, "3 fields; write one URL and an optional concurrency"),
    ("http://a:1/v1\nhttp://a:1/v1/ 2\n", 2, "http://a:1/v1 is listed twice"),
])
def test_a_bad_endpoints_line_names_the_file_line_and_fix(tmp_path: Path, text: str, line: int,
                                                            message: str) -> None:
    path = tmp_path / "servers.txt"
    path.write_text(text)
    with pytest.raises(EndpointsError) as caught:
        read_endpoints(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") and message in str(caught.value)


def test_an_empty_or_missing_endpoints_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# nothing yet\n\n")
    with pytest.raises(EndpointsError, match="empty.txt: no endpoints; write one URL a line"):
        read_endpoints(tmp_path / "empty.txt")
    with pytest.raises(EndpointsError, match="missing.txt: cannot read the endpoints file"):
        read_endpoints(tmp_path / "missing.txt")


def test_base_url_specs_on_the_command_line() -> None:
    assert parse_spec("http://a:1/v1/") == Endpoint("http://a:1/v1", None)
    assert parse_spec("http://a:1/v1,concurrency=8") == Endpoint("http://a:1/v1", 8)
    with pytest.raises(EndpointsError, match="unknown option 'threads'; write URL, or URL,concurrency=N"):
        parse_spec("http://a:1/v1,threads=8")
    with pytest.raises(EndpointsError, match="concurrency 'x' is not a whole number"):
        parse_spec("http://a:1/v1,concurrency=x")


def test_the_cli_refuses_a_bad_endpoints_file_before_making_a_run(tmp_path: Path, nerd) -> None:
    news(tmp_path, tmp_path / "cli.db", 2)
    (tmp_path / "servers.txt").write_text("http://a:1/v1\nhttp://b:1/v1 many\n")
    output = nerd("annotate", "news", "--backend", "openai", "--endpoints",
                  str(tmp_path / "servers.txt"), code=2)
    assert f"{tmp_path / 'servers.txt'}:2: concurrency 'many'" in " ".join(output.split())
    assert Store(tmp_path / "cli.db").annotations.ids() == []


# -- the scheduler, against faults a real server can't be made to produce on cue ------------------


def asked_about(received: Received) -> str:
    """The sentence a request asks about (the prompt's last `Sentence:`)."""
    return received.body.get("prompt", "").rsplit("Sentence:", 1)[-1]


def poisoned(received: Received) -> str:
    """Every server: HTTP 400 for the Paris sentence, 500 for the Tokyo one, else an answer."""
    sentence = asked_about(received)
    return "400" if "Paris" in sentence else "500" if "Tokyo" in sentence else "ok"


def test_a_request_error_fails_its_sentence_once_and_a_poisoned_one_is_not_bounced_forever(
        tmp_path: Path) -> None:
    """HTTP 400 is the request's fault: no other server is asked. A request every server answers
    with 500 is tried `attempts` times, then fails alone; the servers stay in rotation."""
    with Store(news(tmp_path, tmp_path / "p.db", 6)) as store, \
            FaultServer(route=poisoned, reply=ANSWER) as one, \
            FaultServer(route=poisoned, reply=ANSWER) as two, \
            FaultServer(route=poisoned, reply=ANSWER) as three:
        teacher = quick([one.base_url, two.base_url, three.base_url], attempts=4)
        prompt, config = build("standard"), RunConfig(subset="news", backend="openai", model="m")
        run = open_run(store, config, prompt)
        summary = annotate(store, run, teacher, prompt, config)
        asked = [r for s in (one, two, three) for r in s.requests]

        def tried(marker: str) -> int:
            return sum(marker in asked_about(r) for r in asked)

        assert summary.failed == 2 and summary.done == 4
        assert tried("Paris") == 1 and "HTTP 400" in " ".join(summary.errors)
        assert tried("Tokyo") == 4 and "HTTP 500" in " ".join(summary.errors)
        assert "tried 4 times on 3 servers" in " ".join(summary.errors)
        assert store.annotations.run(run).status == "partial"


def test_a_misconfigured_server_is_taken_out_and_its_work_moves(tmp_path: Path) -> None:
    """HTTP 404 (model missing) says the server can't serve any request: out of rotation."""
    with Store(news(tmp_path, tmp_path / "m.db", 5)) as store, \
            FaultServer(route=lambda r: "404") as wrong, \
            FaultServer(route=lambda r: "ok", reply=ANSWER) as right:
        teacher = quick([wrong.base_url, right.base_url])
        prompt, config = build("standard"), RunConfig(subset="news", backend="openai", model="m")
        run = open_run(store, config, prompt)
        summary = annotate(store, run, teacher, prompt, config)
        assert summary.done == 5 and summary.failed == 0
        assert store.annotations.per_endpoint(run) == {right.base_url: 5}
        assert len(wrong.requests) <= 3  # the first burst, and a probe now and then


def test_every_endpoint_down_fails_the_run_clearly_and_it_resumes(tmp_path: Path, nerd) -> None:
    db = news(tmp_path, tmp_path / "cli.db", 4)
    first, second = dead_url(), dead_url()
    output = " ".join(nerd("annotate", "news", "--backend", "openai", "--model", "m",
                           "--base-url", first, "--base-url", f"{second},concurrency=1", code=2).split())
    assert "every endpoint is down:" in output and "connection refused" in output
    assert first in output and second in output and "run the same command" in output
    with Store(db) as store:
        assert [store.annotations.run(r).status for r in store.annotations.ids()] == ["failed"]
    with FaultServer(route=lambda r: "ok", reply=ANSWER) as healthy:
        output = nerd("annotate", "news", "--backend", "openai", "--model", "m",
                      "--base-url", first, "--base-url", healthy.base_url)
    assert "run 1 finished: 4/4 sentences (4 asked" in output
    assert f"answers by endpoint: {first} 0, {healthy.base_url} 4" in " ".join(output.split())
    assert [e for _, e in rows(db)] == [healthy.base_url] * 4


def test_endpoints_complete_one_request_and_raise_when_all_are_down() -> None:
    with FaultServer(route=lambda r: "ok") as server:
        answer = quick([dead_url(), server.base_url]).complete(Request("Hi"))
    assert answer.text == "PER: Ada" and answer.endpoint == server.base_url
    with pytest.raises(BackendError, match="every endpoint is down") as caught:
        quick([dead_url(), dead_url()]).complete(Request("Hi"))
    assert caught.value.fatal


# -- three real llama.cpp servers, one killed mid-run ---------------------------------------------


@pytest.mark.llm
@pytest.mark.slow
def test_three_llama_servers_one_killed_mid_run_lose_nothing(tmp_path: Path, gguf: Path) -> None:
    pytest.importorskip("llama_cpp.server")
    db = news(tmp_path, tmp_path / "three.db")
    total = len(SENTENCES.splitlines())
    with llama_servers(3, gguf, tmp_path, n_ctx=1024, threads=1) as servers:
        urls = [s.url for s in servers]
        endpoints = tmp_path / "servers.txt"
        endpoints.write_text(f"# three local servers\n{urls[0]} 1\n{urls[1]} 1\n\n{urls[2]}\n")
        command = [sys.executable, "-m", "tui.cli", "annotate", "news", "--backend", "openai",
                   "--model", "gemma", "--endpoints", str(endpoints), "--concurrency", "1",
                   "--timeout", "300", "--db", str(db)]
        cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while len(rows(db)) < 3 and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        servers[0].process.send_signal(signal.SIGKILL)  # mid-run, with a request in flight
        killed_at = len(rows(db))
        stdout, stderr = cli.communicate(timeout=600)
    assert cli.returncode == 0, stderr[-3000:]
    assert killed_at < total, "the server should have been killed part-way"
    # Every sentence exactly once: 16 committed, each asked once (a second commit would count).
    assert f"finished: {total}/{total} sentences ({total} asked, 0 from the store" in stdout
    answered = rows(db)
    assert len(answered) == total == len({sid for sid, _ in answered})
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*), min(status), max(status) from annotation_runs"
                            ).fetchone() == (1, "finished", "finished")
    by = {url: sum(e == url for _, e in answered) for url in urls}
    assert {e for _, e in answered} <= set(urls)
    assert by[urls[0]] < min(by[urls[1]], by[urls[2]]), by
    assert "answers by endpoint:" in stdout

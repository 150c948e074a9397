"""Annotation runs with real teachers: llama.cpp in process, and over HTTP."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from core.data import corpora
from core.data.conll import CorpusError
from core.store import Store
from core.teacher.annotate import annotate
from core.teacher.llm_output import import_llm_output
from core.teacher.prompts import build
from core.teacher.runs import AnnotationError, RunConfig, open_run, pool_sentences
from models.openai_backend import OpenAIBackend
from tests.conftest import kill_when
from tests.fault_server import FaultServer
from tui.cli import main


@pytest.fixture
def tiny(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    return store


@pytest.fixture(scope="module")
def llama(gguf):
    from models.llama_backend import LlamaBackend

    backend = LlamaBackend(gguf, n_ctx=2048)
    yield backend
    backend.close()


def annotations(store: Store, run: int) -> list[tuple]:
    return store.db.execute(
        "select sentence_id, raw, parse_status, tags, created from annotations where run_id = ?"
        " order by sentence_id", [run]).fetchall()


@pytest.mark.llm
def test_llama_run_stores_every_answer_and_reuses_them(tiny, llama):
    prompt = build("standard")
    corpora.sample(tiny, "tiny", "two", 2, seed=3)
    first = open_run(tiny, RunConfig(subset="two", backend="llama-cpp", model=llama.model), prompt)
    summary = annotate(tiny, first, llama, prompt, RunConfig(subset="two", backend="llama-cpp", model=llama.model))
    assert (summary.asked, summary.from_store, summary.done, summary.total) == (2, 0, 2, 2)
    rows = annotations(tiny, first)
    assert len(rows) == 2 and all(r[1] for r in rows)
    tokens = tiny.db.execute("select prompt_tokens, completion_tokens, latency_s from annotations"
                             " where run_id = ?", [first]).fetchall()
    assert all(p > 300 and c > 0 and t > 0 for p, c, t in tokens)
    # The same requests in a run over the whole dataset are served from the store.
    config = RunConfig(subset="tiny", backend="llama-cpp", model=llama.model)
    second = open_run(tiny, config, prompt)
    assert second != first
    summary = annotate(tiny, second, llama, prompt, config)
    assert (summary.asked, summary.from_store) == (3, 2)
    assert tiny.db.execute("select status from annotation_runs where id = ?",
                           [second]).fetchone()[0] == "finished"
    # Asking again changes nothing: the run is complete.
    assert annotate(tiny, second, llama, prompt, config).asked == 0


@pytest.mark.llm
def test_kill_9_mid_run_resumes_without_loss_or_repeat(tmp_path, conll_file):
    db = tmp_path / "kill.db"
    with Store(db) as store:
        corpora.import_conll(store, conll_file, "tiny")
    command = [sys.executable, "-m", "tui.cli", "annotate", "tiny", "--db", str(db)]
    kill_when(command, str(db), "select count(*) from annotations", 2)
    with sqlite3.connect(db) as conn:
        before = conn.execute("select sentence_id, raw, created from annotations").fetchall()
    assert 2 <= len(before) < 5, "the run should have been killed part-way"
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"({5 - len(before)} asked, 0 from the store" in result.stdout
    with sqlite3.connect(db) as conn:
        after = conn.execute("select sentence_id, raw, created from annotations").fetchall()
        runs = conn.execute("select count(*), min(status) from annotation_runs").fetchone()
    assert len(after) == 5 and set(before) <= set(after)
    assert runs == (1, "finished")


@pytest.mark.llm
def test_openai_backend_against_real_llama_server(tiny, llama_server):
    backend = OpenAIBackend("gemma", base_url=llama_server, timeout=120, max_retries=1,
                            concurrency=2)
    prompt = build("standard")
    config = RunConfig(subset="tiny", backend="openai", model=backend.model)
    run = open_run(tiny, config, prompt)
    summary = annotate(tiny, run, backend, prompt, config)
    assert summary.done == 5 and summary.failed == 0
    rows = annotations(tiny, run)
    assert len(rows) == 5 and all(r[1].strip() for r in rows)


@pytest.mark.server
def test_failing_teacher_leaves_run_resumable(tiny):
    prompt = build("standard")
    with FaultServer(route=lambda request: "500") as broken:
        backend = OpenAIBackend("m", base_url=broken.base_url, max_retries=1, backoff=0.01,
                                backoff_max=0.02)
        config = RunConfig(subset="tiny", backend="openai", model="m")
        run = open_run(tiny, config, prompt)
        summary = annotate(tiny, run, backend, prompt, config)
    assert summary.failed == 5 and summary.done == 0 and "HTTP 500" in summary.errors[0]
    answer = "{'PER': ['Peter Blackburn'], 'LOC': ['BRUSSELS', 'France']}"
    with FaultServer(route=lambda request: "ok", reply=answer) as healthy:
        backend = OpenAIBackend("m", base_url=healthy.base_url)
        summary = annotate(tiny, open_run(tiny, config, prompt), backend, prompt, config)
    assert summary.done == 5 and summary.asked == 5
    tags = {tuple(json.loads(r[3])) for r in annotations(tiny, run)}
    assert ("B-PER", "I-PER") in tags and ("B-LOC", "O") in tags


def test_import_llm_output_by_id_and_text(tiny, tmp_path):
    sentences = list(corpora.subset_sentences(tiny, corpora.resolve_subset(tiny, "tiny")))
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": sentences[1].id, "answer": "{'PER': ['Peter Blackburn']}"}),
        json.dumps({"text": "BRUSSELS 1996-08-22", "answer": "```json\n{\"LOC\": [\"Brussels\"]}\n```",
                    "prompt_tokens": 400}),
    ]) + "\n")
    run, count = import_llm_output(tiny, str(path), "tiny", "cot", "gpt-4")
    assert count == 2
    rows = {r[0]: json.loads(r[3]) for r in annotations(tiny, run)}
    assert rows[sentences[1].id] == ["B-PER", "I-PER"]
    assert rows[sentences[2].id] == ["B-LOC", "O"]
    assert import_llm_output(tiny, str(path), "tiny", "cot", "gpt-4") == (run, 2)


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": 9999, "answer": "{}"}', "sentence id 9999 is not in tiny"),
    ('{"text": "no such sentence", "answer": "{}"}', "matches no sentence of tiny"),
    ('{"id": 1}', "field 'answer'"),
    ('{"answer": "{}"}', "give the sentence as 'id' or 'text'"),
    ("not json", "not JSON"),
])
def test_import_llm_output_errors_name_the_line(tiny, tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "answer": "{}"}\n' + line + "\n")
    with pytest.raises(CorpusError, match=rf"bad.jsonl:2: .*{message}"):
        import_llm_output(tiny, str(path), "tiny")
    assert tiny.db["annotations"].count == 0


def test_report_annotations_puts_standard_and_cot_side_by_side(tiny, tmp_path):
    sentences = list(corpora.subset_sentences(tiny, corpora.resolve_subset(tiny, "tiny")))
    for kind, answer in (("standard", "{'PER': ['Peter']}"), ("cot", "{'PER': ['Peter Blackburn']}")):
        path = tmp_path / f"{kind}.jsonl"
        path.write_text(json.dumps({"id": sentences[1].id, "answer": answer}) + "\n")
        import_llm_output(tiny, str(path), "tiny", kind, "gpt-4")
    result = CliRunner().invoke(main, ["report", "annotations", "--db", str(tiny.path),
                                       "--format", "markdown"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "| Metric |" in line)
    assert "standard-import" in header and "cot-import" in header
    assert header.index("standard") < header.index("cot")
    assert "| Micro Average F1 | 0.000 | 1.000 |" in result.output
    assert "| parse failures | 0.0% | 0.0% |" in result.output


def test_annotate_with_missing_model_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["annotate", "x", "--model", str(tmp_path / "none.gguf"),
                                       "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 2
    assert "none.gguf: no such GGUF file" in result.output


@pytest.mark.server
def test_events_say_where_a_run_stands_and_how_it_ended(tiny):
    """A limit leaves it partial, stopping the iteration cancels it, the rest finishes it."""
    from core.teacher.annotate import annotate_events
    from core.teacher.runs import Ended, Progressed

    prompt = build("standard")
    config = RunConfig(subset="tiny", backend="openai", model="m")
    status = lambda run: tiny.annotations.run(run).status  # noqa: E731
    with FaultServer(route=lambda request: "ok", reply="{'PER': ['Peter Blackburn']}") as server:
        backend = OpenAIBackend("m", base_url=server.base_url, concurrency=1)
        run = open_run(tiny, config, prompt)
        events = list(annotate_events(tiny, run, backend, prompt, config, limit=2))
        assert [type(e) for e in events] == [Progressed, Progressed, Progressed, Ended]
        assert [e.done for e in events[:3]] == [0, 1, 2] and events[-1].status == "partial"
        assert status(run) == "partial"
        events = annotate_events(tiny, run, backend, prompt, config)
        assert next(events).done == 2 and next(events).done == 3
        assert status(run) == "running"
        events.close()
        assert status(run) == "cancelled" and tiny.annotations.count(run) == 3
        *_, ended = annotate_events(tiny, run, backend, prompt, config)
        assert (ended.status, ended.summary.done, ended.summary.asked) == ("finished", 5, 2)
        assert status(run) == "finished"


def test_a_pool_of_several_layers_pools_them_and_names_an_empty_one(project, review_project):
    config = RunConfig(subset="dist", backend="llama-cpp", model="", pool="orig, held@gold")
    pooled = pool_sentences(project, config)
    expected = [*corpora.subset_sentences(project, corpora.resolve_subset(project, "orig")),
                *corpora.subset_sentences(project, corpora.resolve_subset(project, "held"))]
    assert [s.id for s in pooled] == [s.id for s in expected]
    store, run = review_project
    with pytest.raises(AnnotationError, match=f"nobody has reviewed a sentence of run {run} yet"):
        pool_sentences(store, RunConfig(subset="tiny", backend="llama-cpp", model="",
                                        pool=f"tiny, review:{run}"))

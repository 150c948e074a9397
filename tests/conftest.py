"""Fixtures the project writes itself: no test reads the licensed corpora unless marked `data`.

Every fixture and helper two test modules share lives here; no test module imports another."""

from __future__ import annotations

import html
import json
import os
import random
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.data import corpora, schema
from core.data.conll import Sentence, write_conll
from core.store import Store
from core.teacher.llm_output import import_llm_output

if TYPE_CHECKING:
    from tui.app import NerdApp

# Three documents, five sentences, IOB2, four columns: the shape of CoNLL-2003.
CONLL_IOB2 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP B-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O

The DT B-NP O
European NNP I-NP B-ORG
Commission NNP I-NP I-ORG
said VBD B-VP O
on IN B-PP O
Thursday NNP B-NP O
it PRP B-NP O
disagreed VBD B-VP O
with IN B-PP O
German JJ B-NP B-MISC
advice NN I-NP O
. . O O

-DOCSTART- -X- -X- O

Only RB B-NP O
France NNP I-NP B-LOC
and CC I-NP O
Britain NNP I-NP B-LOC
backed VBD B-VP O
Fischler NNP B-NP B-PER
's POS B-NP O
proposal NN I-NP O
. . O O
"""

ARTICLE = """Ad sales boost Time Warner profit

Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (\u00a3600m) for the three months to December, from $639m year-earlier. Mr. Smith said it's Germany's best quarter.

The firm, which is now one of the biggest investors in Google, benefited from sales of high-speed internet connections.
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that loads the embedded GGUF is `llm`, and one that serves it over HTTP is `server`
    too, whatever its module says: the fast lane (`just test-fast`) leaves them out."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {"gguf", "llama_server"}:
            item.add_marker(pytest.mark.llm)
        if "llama_server" in fixtures:
            item.add_marker(pytest.mark.server)


@pytest.fixture
def conll_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.conll"
    path.write_text(CONLL_IOB2)
    return path


def write_bad(tmp_path: Path, text: str, name: str = "bad.conll") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    (folder / "business").mkdir(parents=True)
    (folder / "tech").mkdir()
    (folder / "business" / "001.txt").write_text(ARTICLE)
    (folder / "business" / "002.txt").write_text(ARTICLE)  # an exact duplicate, as in BBC
    (folder / "tech" / "001.txt").write_bytes(
        "Games maker hits \xa3 target\n\nThe firm said sales rose. Profits fell.\n".encode("latin-1")
    )
    return folder


@pytest.fixture
def nerd(tmp_path: Path):
    """`nerd(*args, code=0) -> output`: the CLI on a project in tmp_path, exit code checked."""
    from click.testing import CliRunner

    from tui.cli import main

    runner = CliRunner()
    db = str(tmp_path / "cli.db")

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, [*args, "--db", db])
        assert result.exit_code == code, result.output
        return result.output

    return run


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "project.db") as opened:
        yield opened


def shared_data() -> Path | None:
    """The licensed corpora, when this machine has them (never copied into the repo)."""
    candidates = [os.environ.get("NERD_DATA_DIR"), Path(__file__).parents[2] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "conll2003" / "test.txt").is_file():
            return Path(candidate)
    return None


# -- a real OpenAI-compatible server: llama.cpp serving the embedded Gemma 270M -------------


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The embedded Gemma 270M, written once into the user's cache like `nerd annotate` does."""
    from models.llama_backend import embedded_gguf

    return embedded_gguf()


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` on 127.0.0.1; yields its base URL; always stopped."""
    pytest.importorskip("llama_cpp.server")
    from bench.endpoints import llama_servers

    threads = max((os.cpu_count() or 2) // 2, 1)  # llama_cpp.server's own default
    with llama_servers(1, gguf, tmp_path_factory.mktemp("llama"), n_ctx=2048, threads=threads) as (server,):
        yield server.url


def kill_when(command: list[str], db: str, count_sql: str, at_least: int, timeout: float = 300) -> None:
    """Start `command`, SIGKILL it once `count_sql` on the database reaches `at_least`."""
    import signal
    import sqlite3

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline, done = time.monotonic() + timeout, 0
    while done < at_least and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with sqlite3.connect(db) as conn:
            done = conn.execute(count_sql).fetchone()[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()


# -- a tiny training project: templated news sentences a few epochs can learn ---------------


PEOPLE = ["Peter Blackburn", "Angela Merkel", "Orlando Miller", "Marie Curie", "Alan Turing"]

PLACES = ["Paris", "Houston", "Berlin", "New York", "Jerusalem"]

ORGS = ["European Commission", "Reuters", "Houston Astros", "Congress"]

def synthetic(n: int, seed: int) -> list[Sentence]:
    """Templated news sentences, so a few epochs can really learn something."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        person, place, org = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(ORGS)
        words, tags = [], []
        for chunk, kind in ((person, "PER"), ("visited", None), (place, "LOC"), ("for", None),
                            (org, "ORG"), ("talks", None), (".", None)):
            parts = chunk.split()
            words += parts
            tags += ["O"] * len(parts) if kind is None else [f"B-{kind}"] + [f"I-{kind}"] * (len(parts) - 1)
        out.append(Sentence(words, tags))
    return out

@pytest.fixture
def project(tmp_path: Path) -> Iterator[Store]:
    """48 templated sentences in three disjoint subsets of 16: orig, dist and held."""
    path = tmp_path / "synthetic.conll"
    with path.open("w") as fh:
        write_conll(synthetic(48, 1), fh)
    with Store(tmp_path / "train.db") as store:
        corpora.import_conll(store, path, "synth")
        corpora.sample(store, "synth", "orig", 16, seed=1)
        corpora.sample(store, "synth", "dist", 16, seed=2, exclude=["orig"])
        corpora.sample(store, "synth", "held", 16, seed=3, exclude=["orig", "dist"])
        yield store


# -- a tiny review project: five sentences and one imported annotation run ----------------


REVIEW_CONLL = """Peter B-PER
Blackburn I-PER
visited O
Paris B-LOC
. O

EU B-ORG
rejects O
German B-MISC
call O
. O

Only O
France B-LOC
and O
Britain B-LOC
backed O
Fischler B-PER
. O

The O
European B-ORG
Commission I-ORG
said O
so O
. O

Rain O
fell O
in O
Brussels B-LOC
. O
"""

ANSWERS = [  # sentence 1 has Paris as ORG, 3 a hallucination, 5 no dict at all
    "{'PER': ['Peter Blackburn'], 'ORG': ['Paris']}",
    "{'ORG': ['EU'], 'MISC': ['German']}",
    "{'LOC': ['France', 'Britain'], 'PER': ['Fischler', 'Hans Fischler']}",
    "{'ORG': ['European Commission']}",
    "I am not sure.",
]

def build_project(folder: Path, name: str = "project.db") -> tuple[Path, int]:
    """A project file with the five sentences above and one imported annotation run."""
    db = folder / name
    conll = folder / "tiny.conll"
    conll.write_text(REVIEW_CONLL)
    with Store(db) as store:
        corpora.import_conll(store, conll, "tiny")
        ids = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "tiny"))]
        answers = folder / "answers.jsonl"
        answers.write_text("".join(json.dumps({"id": i, "answer": a}) + "\n"
                                   for i, a in zip(ids, ANSWERS, strict=True)))
        run, count = import_llm_output(store, str(answers), "tiny", model="teacher")
    assert count == 5
    return db, run

@pytest.fixture
def review_project(tmp_path: Path) -> tuple[Store, int]:
    db, run = build_project(tmp_path)
    with Store(db) as store:
        yield store, run


# The student's answers on the review project's five sentences, with its confidences: Paris it
# tags ORG, unsure (second choice LOC); Fischler PER, unsure (second ORG); the rest sure.
STUDENT_SCORES = [
    (["B-PER", "I-PER", "O", "B-ORG", "O"], {"sentence": 0.55, "entities": [
        [0, 2, "PER", 0.97, "ORG", 0.02], [3, 4, "ORG", 0.55, "LOC", 0.41]]}),
    (["B-ORG", "O", "B-MISC", "O", "O"], {"sentence": 0.93, "entities": [
        [0, 1, "ORG", 0.95, "LOC", 0.03], [2, 3, "MISC", 0.93, "LOC", 0.05]]}),
    (["O", "B-LOC", "O", "B-LOC", "O", "B-PER", "O"], {"sentence": 0.62, "entities": [
        [1, 2, "LOC", 0.99, "ORG", 0.01], [3, 4, "LOC", 0.98, "ORG", 0.01], [5, 6, "PER", 0.62, "ORG", 0.3]]}),
    (["O", "B-ORG", "I-ORG", "O", "O", "O"], {"sentence": 0.9, "entities": [
        [1, 3, "ORG", 0.9, "MISC", 0.06]]}),
    (["O", "O", "O", "B-LOC", "O"], {"sentence": 0.96, "entities": [[3, 4, "LOC", 0.96, "ORG", 0.02]]}),
]


def add_student_run(db: Path, words: list[int] | None = None) -> int:
    """A run as `nerd annotate --backend student` stores it (tags, entities, confidences; with
    `words`, each sentence's least sure word, as the labeller stores it now)."""
    with Store(db) as store:
        subset = corpora.resolve_subset(store, "tiny")
        run = store.annotations.create(name="tiny-student", subset_id=subset, backend="student",
                                       model="training run 1 (demo)", prompt="student-v1",
                                       template_version="student-v1", prefix_hash="f00d", params={})
        sentences = list(corpora.subset_sentences(store, subset))
        for i, (sentence, (tags, scores)) in enumerate(zip(sentences, STUDENT_SCORES, strict=True)):
            scores = {**scores, "word": words[i]} if words else scores
            found = [[label, " ".join(sentence.tokens[a:b])] for a, b, label, *_ in scores["entities"]]
            store.annotations.save(run, sentence.id, request_key=f"student-{sentence.id}", raw=str(found),
                                   reasoning="", entities=found, tags=tags, parse_status="ok",
                                   unmatched=[], conflicts=[], examples=[], prompt_tokens=0,
                                   completion_tokens=0, latency_s=0.001, scores=scores)
        store.annotations.set_status(run, "finished")
    return run


# -- the Textual app: projects to open, and reading what the screen shows --------------------


SIZE = (80, 24)


def add_training_run(db: Path) -> None:
    """A finished training run's epochs, as `core.student.training` writes them."""
    with Store(db) as store:
        run = store.db.execute(
            "insert into training_runs(name, config, status, created) values (?, ?, 'finished', ?)",
            ["simple-mix-demo", json.dumps({"schedule": "simple-mix"}), "2025-01-01T00:00:00+00:00"],
        ).lastrowid
        for epoch, (loss, w0, f1) in enumerate([(1.2, 1.0, 0.41), (0.7, 1.0, 0.55), (0.5, 0.0, 0.63),
                                                (0.4, 0.0, 0.66)]):
            store.db.execute(
                "insert into epoch_metrics(training_run_id, epoch, loss, w0, n_distilled, n_original,"
                " lr, dev_f1, seconds) values (?, ?, ?, ?, 5, 5, 1e-4, ?, 1.0)", [run, epoch, loss, w0, f1])


@pytest.fixture
def tui_project(tmp_path: Path) -> tuple[Path, int]:
    """The review project's file with a finished training run's epochs too."""
    db, run = build_project(tmp_path)
    add_training_run(db)
    return db, run


MARITIME = schema.from_data([{"name": name, "description": f"A {name.lower()} named in a shipping report."}
                             for name in ("VESSEL", "PORT", "COMPANY", "PERSON", "CARGO")])


MARITIME_CONLL = """Ever B-VESSEL
Given I-VESSEL
left O
Rotterdam B-PORT
for O
Maersk B-COMPANY
with O
crude B-CARGO
oil I-CARGO
. O

Captain O
Kim B-PERSON
Lee I-PERSON
berthed O
MSC B-VESSEL
Oscar I-VESSEL
at O
Antwerp B-PORT
. O
"""


MARITIME_ANSWERS = [  # the cargo missed, a port made up
    "{'VESSEL': ['Ever Given'], 'PORT': ['Rotterdam'], 'COMPANY': ['Maersk']}",
    "{'PERSON': ['Kim Lee'], 'VESSEL': ['MSC Oscar'], 'PORT': ['Antwerp', 'Hamburg']}",
]


@pytest.fixture
def maritime(tmp_path: Path) -> tuple[Path, int]:
    """A project with its own five types (keys 1-5 in order, CARGO on 5) and one imported run."""
    db, conll, answers = tmp_path / "maritime.db", tmp_path / "maritime.conll", tmp_path / "answers.jsonl"
    conll.write_text(MARITIME_CONLL)
    with Store(db) as store:
        store.labels.save(MARITIME)
        corpora.import_conll(store, conll, "maritime")
        ids = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "maritime"))]
        answers.write_text("".join(json.dumps({"id": i, "answer": a}) + "\n"
                                   for i, a in zip(ids, MARITIME_ANSWERS, strict=True)))
        run, _ = import_llm_output(store, str(answers), "maritime", model="teacher")
    return db, run


CELL = re.compile(r'<text class="terminal-[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>')


def screen_text(app: NerdApp) -> str:
    """What the terminal shows, as plain text, each run of text at its column (from the SVG)."""
    rows: dict[int, list[str]] = {}
    for x, y, text in CELL.findall(app.export_screenshot()):
        row, column = rows.setdefault(round((float(y) - 20) / 24.4), []), round(float(x) / 12.2)
        row.extend(" " * (column - len(row)))
        row[column:column + len(text)] = html.unescape(text).replace("\xa0", " ")
    return "\n".join("".join(rows.get(r, [])).rstrip() for r in range(max(rows, default=-1) + 1))


def reviews(db: Path, run: int) -> list[tuple[int, list[str], str]]:
    with sqlite3.connect(db) as conn:
        return [(sid, json.loads(tags), action) for sid, tags, action in conn.execute(
            "select sentence_id, tags, action from reviews where run_id = ? order by id", [run])]


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)

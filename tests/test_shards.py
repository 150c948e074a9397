"""Issue 17: one subset annotated in shards on machines that share no disk, merged into one run.

Every database here is a real SQLite file made from the same fixture, some with another
dataset imported first so their sentence row ids differ; the shards' answers come from the
embedded Gemma through llama.cpp (7 sentences, each asked once), the refusals' from a scripted
OpenAI-compatible server.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import layers
from core.data import corpora
from core.store import Store
from core.teacher.merge import MergeError, merge
from core.teacher.prompts import build
from core.teacher.runs import RunConfig, open_run, pending
from core.teacher.shards import Shard, ShardError, parse_shard, shard_of, share
from tests.fault_server import FaultServer
from tui.cli import main

# Seven short sentences: shards 1/3, 2/3 and 3/3 hold 3, 2 and 2 of them.
FIXTURE = [
    ("Peter Blackburn lives in Paris .", "B-PER I-PER O O B-LOC O"),
    ("EU rejects German call .", "B-ORG O B-MISC O O"),
    ("Anna works for Siemens .", "B-PER O O B-ORG O"),
    ("BRUSSELS 1996-08-22", "B-LOC O"),
    ("Only France and Britain backed Fischler .", "O B-LOC O B-LOC O B-PER O"),
    ("Maria flew to Tokyo .", "B-PER O O B-LOC O"),
    ("John visited Berlin .", "B-PER O B-LOC O"),
]
OTHER = [("Rome is old .", "B-LOC O O O"), ("Nothing here .", "O O O")]
SHARES = {1: 3, 2: 2, 3: 2}


def conll(sentences: list[tuple[str, str]]) -> str:
    return "\n".join("\n".join(f"{t} {g}" for t, g in zip(text.split(), tags.split(), strict=True)) + "\n"
                     for text, tags in sentences)


def project(path: Path, other_first: bool) -> Path:
    """A database with the fixture as dataset `tiny` and another one, `other`; imported in the
    other order (`other_first`), every sentence has another row id."""
    fixture, other = path.with_suffix(".tiny.conll"), path.with_suffix(".other.conll")
    fixture.write_text(conll(FIXTURE))
    other.write_text(conll(OTHER))
    with Store(path) as store:
        for name, source in [("other", other), ("tiny", fixture)][:: 1 if other_first else -1]:
            corpora.import_conll(store, source, name)
    return path


def nerd(*args: str | Path, code: int = 0) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def answers(db: Path) -> dict[str, tuple]:
    """Every stored answer by its sentence's text: raw, parse status, entities, tags, request key."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select s.tokens, a.raw, a.parse_status, a.entities, a.tags, a.request_key"
                            " from annotations a join sentences s on s.id = a.sentence_id").fetchall()
    found: dict[str, tuple] = {}
    for tokens, *answer in rows:
        text = " ".join(json.loads(tokens))
        assert text not in found, f"{text!r} answered twice in {db.name}"
        found[text] = tuple(answer)
    return found


@pytest.fixture(scope="module")
def shard_dbs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Shards 1/3, 2/3, 3/3 of `tiny`, each annotated by the embedded GGUF in its own database."""
    root = tmp_path_factory.mktemp("shards")
    dbs = [project(root / f"shard{i}.db", other_first=i == 2) for i in (1, 2, 3)]
    for i, db in enumerate(dbs, start=1):
        out = nerd("annotate", "tiny", "--shard", f"{i}/3", "--db", db)
        assert f"{SHARES[i]}/{SHARES[i]} sentences" in out and "finished" in out
    return dbs


@pytest.mark.llm
def test_three_shards_merge_into_one_run_with_every_answer_once(shard_dbs, tmp_path):
    main_db = project(tmp_path / "main.db", other_first=True)
    out = nerd("merge", *shard_dbs, "--db", main_db)
    assert "finished: shards 1,2,3 of 3 merged" in out and "7/7 sentences answered (7 added" in out
    merged, by_shard = answers(main_db), {}
    for db in shard_dbs:
        by_shard |= answers(db)
    assert len(by_shard) == 7 and merged == by_shard  # raw, status, entities, tags, request key
    # Again: nothing twice.
    assert "(0 added, 7 already in the run)" in nerd("merge", *shard_dbs, "--db", main_db)
    assert answers(main_db) == merged
    with Store(main_db) as store:
        run = store.annotations.find("tiny-standard")
        assert store.annotations.run(run).status == "finished"
        assert len(layers.labelled(store, "tiny@run:tiny-standard")) == 7  # a layer for nerd train
        # The merged run is the one `nerd annotate tiny` (no --shard) makes here: it resumes it.
        config = RunConfig(subset="tiny", backend="llama-cpp", model=store.annotations.run(run).model)
        same = open_run(store, config, build("standard"))
        assert same == run and pending(store, same) == ([], 7)


@pytest.mark.llm
def test_a_merge_with_a_shard_missing_is_partial_and_says_which(shard_dbs, tmp_path):
    main_db = project(tmp_path / "main.db", other_first=False)
    out = nerd("merge", shard_dbs[0], shard_dbs[2], "--db", main_db)
    assert "partial: shards 1,3 of 3 merged; 2/3 missing: 2 sentences" in out
    assert "5/7 sentences answered" in out
    with Store(main_db) as store:
        assert store.annotations.run(store.annotations.find("tiny-standard")).status == "partial"
    out = nerd("merge", shard_dbs[1], "--db", main_db)
    assert "finished: shards 1,2,3 of 3 merged" in out and "7/7 sentences answered (2 added" in out


def annotate_fake(db: Path, shard: str, *options: str) -> None:
    """A shard annotated by the scripted server (its answer is always the same)."""
    with FaultServer(route=lambda request: "ok", reply="{'PER': ['Anna']}") as server:
        nerd("annotate", "tiny", "--backend", "openai", "--model", "m", "--base-url", server.base_url,
             "--shard", shard, *options, "--db", db)


@pytest.mark.parametrize(("options", "field", "values"), [
    (["--examples", "subset:tiny:2"], "examples", "'paper' in a.db, 'subset:tiny:2' in b.db"),
    (["--prompt", "cot"], "prompt", "'standard-v1' in a.db, 'cot-v1' in b.db"),
])
@pytest.mark.server
def test_a_shard_asked_another_question_is_refused_naming_file_and_field(tmp_path, options, field, values):
    a, b = project(tmp_path / "a.db", False), project(tmp_path / "b.db", True)
    annotate_fake(a, "1/2")
    annotate_fake(b, "2/2", *options)
    main_db = project(tmp_path / "main.db", False)
    out = nerd("merge", a, b, "--db", main_db, code=2)
    assert f"{b}: its run 1 was not asked the same question" in " ".join(out.split())
    assert f"{field}: {values}" in " ".join(out.split())
    assert answers(main_db) == {}


@pytest.mark.server
def test_the_same_shard_twice_and_unsharded_files_are_errors(tmp_path):
    a, b, c = (project(tmp_path / f"{n}.db", n == "b") for n in "abc")
    annotate_fake(a, "1/2")
    annotate_fake(b, "1/2")
    main_db = tmp_path / "main.db"
    with Store(main_db) as store:
        with pytest.raises(MergeError, match=r"shard 1/2 is in both .*a\.db and .*b\.db"):
            merge(store, [a, b])
        with pytest.raises(MergeError, match=r"c\.db: no run made with --shard"):
            merge(store, [a, c])
        with pytest.raises(MergeError, match=r"has no subset or dataset 'tiny'"):
            merge(store, [a])
        with pytest.raises(MergeError, match=r"nope\.db: no such file"):
            merge(store, [tmp_path / "nope.db"])


def test_the_split_is_the_same_whatever_the_row_ids(tmp_path):
    """Two databases that imported the data in another order split it alike, and the shards
    are disjoint and cover the subset."""
    splits = []
    for name, other_first in (("x.db", False), ("y.db", True)):
        with Store(project(tmp_path / name, other_first)) as store:
            sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, "tiny")))
            ids = [s.id for s in sentences]
            config = RunConfig(subset="tiny", backend="openai", model="m", shard="2/3")
            run = open_run(store, config, build("standard"))
            assert [s.id for s in pending(store, run)[0]] == [s.id for s in share(sentences, Shard(2, 3))]
            splits.append((ids, {i: [" ".join(s.tokens) for s in share(sentences, Shard(i, 3))]
                                 for i in (1, 2, 3)}))
    (x_ids, x_split), (y_ids, y_split) = splits
    assert all(x != y for x, y in zip(x_ids, y_ids, strict=True))  # each sentence another row id ...
    assert x_split == y_split  # ... the same shards
    texts = [t for i in (1, 2, 3) for t in x_split[i]]
    assert sorted(texts) == sorted(text for text, _ in FIXTURE)  # disjoint, covering
    assert {i: len(x_split[i]) for i in (1, 2, 3)} == SHARES
    assert all(shard_of(t.split(), 3) == i for i in (1, 2, 3) for t in x_split[i])


def test_a_shard_and_the_whole_subset_are_different_runs(tmp_path):
    with Store(project(tmp_path / "p.db", False)) as store:
        prompt = build("standard")
        runs = {shard: open_run(store, RunConfig(subset="tiny", backend="openai", model="m", shard=shard),
                                prompt) for shard in ("", "1/3", "2/3")}
        assert len(set(runs.values())) == 3
        assert pending(store, runs["1/3"])[1] == 3 and pending(store, runs[""])[1] == 7


@pytest.mark.parametrize(("value", "message"), [
    ("0/3", "I must be between 1 and 3"),
    ("4/3", "I must be between 1 and 3"),
    ("x", "expected I/N"),
    ("1/0", "N must be 1 or more"),
    ("1/3/2", "expected I/N"),
])
def test_bad_shard_values_are_clear_errors(tmp_path, value, message):
    with pytest.raises(ShardError, match=message):
        parse_shard(value)
    out = nerd("annotate", "tiny", "--shard", value, "--db", tmp_path / "e.db", code=2)
    assert f"error: --shard {value!r}" in out or f"error: --shard {value}:" in out
    assert message in out
    assert parse_shard(" 2 / 3 ") == Shard(2, 3) and str(parse_shard("3/3")) == "3/3"


@pytest.mark.server
def test_example_ids_are_this_databases_and_annotate_here_resumes_the_merged_run(tmp_path):
    """Few-shot examples drawn from a subset are sentences too: their ids in the merged run are
    the main database's, so `nerd annotate` with the same options finds the merged run."""
    a, b = project(tmp_path / "a.db", False), project(tmp_path / "b.db", False)
    for db, shard in ((a, "1/2"), (b, "2/2")):
        annotate_fake(db, shard, "--examples", "subset:other:1")
    main_db = project(tmp_path / "main.db", True)  # `other` first: every id differs from the shards'
    assert "finished: shards 1,2 of 2 merged" in nerd("merge", a, b, "--db", main_db)
    with Store(main_db) as store:
        run = store.annotations.run(store.annotations.find("tiny-standard"))
        from core.teacher.runs import build_prompt

        prompt = build_prompt(store, "standard", "subset:other:1")
        assert run.params["example_ids"] == [e.sentence_id for e in prompt.examples]
        config = RunConfig(subset="tiny", backend="openai", model="m", examples="subset:other:1")
        assert open_run(store, config, prompt) == run.id and pending(store, run.id) == ([], 7)
        assert {tuple(json.loads(r[0])) for r in store.db.execute(
            "select examples from annotations where run_id = ?", [run.id])} == {
            tuple(run.params["example_ids"])}

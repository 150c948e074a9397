"""Issue 13 end to end: answers in other shapes go through `nerd import llm-output`, their
statuses and the aligner's repairs are stored, and `nerd report annotations` counts how many
answers needed each repair, so a model drifting from the format shows."""

from __future__ import annotations

import json

from click.testing import CliRunner

from core.data import corpora
from core.teacher import quality
from core.teacher.llm_output import import_llm_output
from core.teacher.runs import FAILED
from tui.cli import main

ANSWERS = [  # one a sentence of tests/conftest.py's CoNLL file, in its order
    "ORG: EU\nMISC: German, British",  # spacy-llm's lines
    '[{"text": "Peter Blackburn", "type": "PER"}]',  # objects
    "I am not sure.",  # not understood
    "{'ORG': ['European commission'], 'MISC': ['German']}",  # another case
    "{'LOC': ['France', 'Britain'], 'PER': ['Fischler']}",
]


def _run(store, tmp_path, answers=ANSWERS):
    corpora.import_conll(store, tmp_path / "tiny.conll", "tiny")
    sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, "tiny")))
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"id": s.id, "answer": a}) + "\n" for s, a in zip(sentences, answers, strict=True)))
    run, _ = import_llm_output(store, str(path), "tiny")
    return run


def test_statuses_and_alignment_repairs_are_stored(store, tmp_path, conll_file):
    run = _run(store, tmp_path)
    answers = store.annotations.answers(run)
    assert [a.parse_status for a in answers] == ["repaired", "repaired", "unreadable", "ok", "ok"]
    assert answers[0].tags[:3] == ["B-ORG", "O", "B-MISC"] and answers[1].tags == ["B-PER", "I-PER"]
    assert answers[2].tags == ["O", "O"]
    assert answers[3].align_repairs == [["case differs", "ORG", "European commission"]]
    assert answers[4].align_repairs == []


def test_report_counts_the_answers_that_needed_each_repair(store, tmp_path, conll_file):
    q = quality.run_quality(store, _run(store, tmp_path))
    assert q.parse_failures == 1  # "unreadable" is a parse failure; "empty" (no entities, said) is not
    assert q.repairs == {"align: case differs": 1, "parse: line format": 1, "parse: list of objects": 1}
    rows = dict(quality.quality_rows([q]))
    assert rows["parse failures"] == ["20.0%"]
    assert rows["needed parse: line format"] == ["20.0% (1)"]
    assert rows["needed align: case differs"] == ["20.0% (1)"]


def test_failed_from_older_runs_still_counts_as_a_failure(store, tmp_path, conll_file):
    assert "failed" in FAILED and "unreadable" in FAILED and "empty" not in FAILED
    run = _run(store, tmp_path, ["{}"] * 5)
    first = store.annotations.answers(run)[0]
    store.annotations.save(run, first.sentence_id, request_key="old", raw="{'LOC': {'city': ", reasoning="",
                           entities=[], tags=first.tags, parse_status="failed", unmatched=[], conflicts=[],
                           examples=[], prompt_tokens=0, completion_tokens=0, latency_s=0.0)
    q = quality.run_quality(store, run)
    assert q.parse_failures == 1 and q.repairs == {}


def test_nerd_report_annotations_shows_the_repairs(store, tmp_path, conll_file):
    _run(store, tmp_path)
    store.close()
    result = CliRunner().invoke(main, ["report", "annotations", "--db", str(store.path), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "| needed parse: line format | 20.0% (1) |" in result.output
    assert "| needed align: case differs | 20.0% (1) |" in result.output

"""Small-teacher techniques: nearest-neighbour examples, span-constrained decoding, voting."""

from __future__ import annotations

import json

import pytest

from core import corpora
from core.annotate import RunConfig, annotate, open_run, record
from core.grammar import candidate_spans, span_grammar
from core.neighbours import nearest
from core.prompts import build
from core.training import confident
from models.llm import Completion


@pytest.fixture
def tiny(store, conll_file):
    corpora.import_conll(store, conll_file, "tiny")
    return store


def sentences(store, name="tiny"):
    return list(corpora.subset_sentences(store, corpora.resolve_subset(store, name)))


def test_candidate_spans_are_word_bounded_ngrams():
    spans = candidate_spans(["In", "St.", "Louis", ",", "O'Neill", "won", "."], max_len=3)
    assert "St. Louis" in spans and "O'Neill" in spans and "In St. Louis" in spans
    assert "Louis , O'Neill" in spans  # punctuation inside a span is fine ...
    assert not any(s.split()[0] in {",", "."} or s.split()[-1] in {",", "."} for s in spans)  # ... not at its ends
    assert "won ." not in spans and len(spans) == 10


def test_grammar_lists_only_spans_and_escapes_quotes():
    grammar = span_grammar(["O'Neill", "met", '"Bob"'])
    assert "\"'O\\\\'Neill'\"" in grammar  # 'O\'Neill' inside a GBNF string literal
    assert "'LOC'" in grammar and "{0,5}" in grammar
    span_rule = next(line for line in grammar.splitlines() if line.startswith("span ::="))
    assert "Paris" not in span_rule


def test_nearest_neighbours_exclude_the_sentence_and_cache_embeddings(tiny):
    pool = sentences(tiny)
    chosen = nearest(tiny, pool[:2], pool, k=2)
    assert all(pool[i].id not in [s.id for s in chosen[pool[i].id]] for i in range(2))
    assert all(len(v) == 2 for v in chosen.values())
    assert tiny.db["embeddings"].count == 5
    nearest(tiny, pool[:2], pool, k=2)
    assert tiny.db["embeddings"].count == 5  # nothing computed twice
    # "German" sentences are closest to each other: the EU sentence's best match mentions German too.
    best = chosen[pool[0].id][-1]
    assert "German" in best.tokens


def test_vote_keeps_majority_entities_and_stores_samples(tiny):
    sentence = sentences(tiny)[0]  # EU rejects German call to boycott British lamb .
    config = RunConfig("tiny", "import", "m", samples=3)
    run = open_run(tiny, config, build("standard"))
    answers = [("k1", Completion("{'ORG': ['EU'], 'MISC': ['German']}")),
               ("k2", Completion("{'ORG': ['EU'], 'MISC': ['British']}")),
               ("k3", Completion("{'ORG': ['EU'], 'LOC': ['lamb']}"))]
    assert record(tiny, run, sentence, answers, [], threshold=0.5) == "ok"
    tags, votes = tiny.db.execute("select tags, votes from annotations where run_id = ?", [run]).fetchone()
    assert json.loads(tags)[:3] == ["B-ORG", "O", "O"]
    assert ["ORG", "EU", 3, 3] in json.loads(votes) and ["MISC", "German", 1, 3] in json.loads(votes)
    assert tiny.db["annotation_samples"].count == 3
    assert confident(tiny, run, 0.9) == {sentence.id}
    record(tiny, run, sentence, answers, [], threshold=0.3)  # every entity kept, some weakly
    assert confident(tiny, run, 0.9) == set() and confident(tiny, run, 0.3) == {sentence.id}


@pytest.mark.llm
def test_constrained_neighbour_voting_run_with_the_real_model(tiny, gguf):
    from models.llama_backend import LlamaBackend

    backend = LlamaBackend(gguf, n_ctx=4096)
    prompt = build("standard")
    corpora.sample(tiny, "tiny", "two", 2, seed=4)
    config = RunConfig("two", backend.name, backend.model, neighbours=2, pool="tiny",
                       constrained=True, samples=2)
    run = open_run(tiny, config, prompt)
    summary = annotate(tiny, run, backend, prompt, config)
    backend.close()
    assert summary.done == 2 and summary.parse_failures == 0
    rows = tiny.db.execute("select parse_status, unmatched, examples, votes, sentence_id"
                           " from annotations where run_id = ?", [run]).fetchall()
    for status, unmatched, examples, votes, sid in rows:
        assert status in ("ok", "repaired") and json.loads(unmatched) == []
        assert len(json.loads(examples)) == 2 and sid not in json.loads(examples)
        assert votes is not None
    assert tiny.db["annotation_samples"].count == 4

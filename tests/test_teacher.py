"""Small-teacher techniques: nearest-neighbour examples, span-constrained decoding, voting,
answers that list every type, and the pool memory."""

from __future__ import annotations

import json

import pytest

from core.data import corpora
from core.data.schema import CONLL
from core.student.examples import confident
from core.teacher.annotate import annotate, record
from core.teacher.grammar import candidate_spans, span_pattern
from core.teacher.memory import Memory, overlay
from core.teacher.neighbours import nearest
from core.teacher.prompts import build
from core.teacher.runs import RunConfig, open_run, small_teacher
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


def test_span_pattern_admits_only_spans_of_the_sentence():
    import regex

    pattern = regex.compile(span_pattern(["O'Neill", "met", "Bob", "Smith", "in", "Paris", "."],
                                         CONLL.names))
    assert pattern.fullmatch(" {'PER': ['O\\'Neill', 'Bob Smith'], 'LOC': ['Paris']}\n")
    assert pattern.fullmatch("{}") and pattern.fullmatch("{'LOC': []}")
    assert not pattern.fullmatch("{'PER': ['Bob Jones']}")  # not a span: invented
    assert not pattern.fullmatch("{'PER': ['O'Neill']}")  # an unescaped quote would not parse
    assert not pattern.fullmatch("{'CITY': ['Paris']}") and not pattern.fullmatch("{'LOC': ['Paris .']}")
    assert pattern.fullmatch(" {'PER': ['Bob Sm", partial=True)  # a prefix that can still finish
    assert not pattern.fullmatch(" {'PER': ['Bob J", partial=True)
    too_many = ", ".join(["'Paris'"] * 7)
    assert not pattern.fullmatch("{'LOC': [" + too_many + "]}")  # bounded lists


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
    config = RunConfig(subset="tiny", backend="import", model="m", samples=3)
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
    config = RunConfig(subset="two", backend=backend.name, model=backend.model, neighbours=2, pool="tiny",
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


def test_memory_types_by_majority_and_never_answers_a_sentence_with_its_own_labels(tiny):
    pool = sentences(tiny)
    memory = Memory(pool)
    eu, commission, france = pool[0], pool[3], pool[4]
    # "German" is MISC in two sentences: the EU sentence still remembers it from the other one.
    assert memory.tags(eu.tokens, eu.id)[:4] == ["O", "O", "B-MISC", "O"]
    assert memory.tags(commission.tokens, commission.id)[1:3] == ["O", "O"]  # labelled only there
    # "France", "Britain" and "Fischler" are labelled only in their own sentence: unseen when
    # it is the one asked about, remembered for any other.
    assert memory.tags(france.tokens, france.id) == ["O"] * len(france.tokens)
    assert memory.tags(france.tokens)[:6] == ["O", "B-LOC", "O", "B-LOC", "O", "B-PER"]
    assert memory.entities(["Fischler", "met", "Britain"], eu.id) == [("PER", "Fischler"), ("LOC", "Britain")]

    class Labelled:
        def __init__(self, id, tokens, gold):
            self.id, self.tokens, self.gold = id, tokens, gold

    votes = Memory([Labelled(1, ["Jordan"], ["B-PER"]), Labelled(2, ["Jordan"], ["B-LOC"]),
                    Labelled(3, ["Jordan", "won"], ["B-LOC", "O"])])
    assert votes.entities(["Jordan", "left"]) == [("LOC", "Jordan")]  # 2 LOC against 1 PER
    assert votes.entities(["Jordan", "left"], 3) == [("PER", "Jordan")]  # 1-1 without 3: first seen
    assert len(votes) == 1


def test_overlay_keeps_the_first_layer_and_fills_only_untouched_spans():
    first = ["B-PER", "I-PER", "O", "O", "O", "B-LOC"]
    then = ["B-ORG", "O", "O", "B-MISC", "I-MISC", "I-MISC"]
    assert overlay(first, then) == ["B-PER", "I-PER", "O", "O", "O", "B-LOC"]  # both overlap: dropped
    then = ["O", "O", "B-ORG", "B-MISC", "I-MISC", "O"]
    assert overlay(first, then) == ["B-PER", "I-PER", "B-ORG", "B-MISC", "I-MISC", "B-LOC"]


def test_all_types_answers_list_every_type_in_a_fixed_order():
    plain, every = build("standard"), build("standard")
    every.all_types = True
    assert "Result: {'PER': ['Antonio Kandir'], 'ORG': ['Congress'], 'LOC': [], 'MISC': ['Brazilian']}" \
        in every.prefix()
    assert "'LOC': []" not in plain.prefix() and plain.prefix_hash() != every.prefix_hash()


def test_memory_goes_first_and_the_teacher_fills_the_rest(tiny):
    eu = sentences(tiny)[0]  # EU rejects German call to boycott British lamb .
    config = RunConfig(subset="tiny", backend="import", model="m", pool="tiny", memory=True)
    run = open_run(tiny, config, build("standard"))
    answer = [("k", Completion("{'LOC': ['German'], 'ORG': ['EU'], 'PER': ['lamb']}"))]
    record(tiny, run, eu, answer, [], memory=Memory(sentences(tiny)))
    tags, entities = tiny.db.execute("select tags, entities from annotations where run_id = ?", [run]).fetchone()
    # The pool's MISC wins over the teacher's LOC; the teacher fills what memory lacks (EU,
    # lamb); "British" is labelled only in this sentence, so memory does not know it.
    assert json.loads(tags) == ["B-ORG", "O", "B-MISC", "O", "O", "O", "O", "B-PER", "O"]
    assert ["LOC", "German"] in json.loads(entities)  # what the teacher said is kept as it said it


def test_new_settings_open_new_runs_and_leave_older_runs_resumable(tiny):
    prompt = build("standard")
    plain = open_run(tiny, RunConfig(subset="tiny", backend="import", model="m"), prompt)
    params = json.loads(tiny.db.execute("select params from annotation_runs where id = ?", [plain]).fetchone()[0])
    # A run as an older nerd wrote it, before these settings existed, still resumes.
    older = {k: v for k, v in params.items() if k not in ("memory", "all_types")}
    tiny.db.execute("update annotation_runs set params = ? where id = ?", [json.dumps(older), plain])
    assert open_run(tiny, RunConfig(subset="tiny", backend="import", model="m"), prompt) == plain
    small = open_run(tiny, small_teacher(RunConfig(subset="tiny", backend="import", model="m", pool="tiny")), prompt)
    assert small != plain
    params = json.loads(tiny.db.execute("select params from annotation_runs where id = ?", [small]).fetchone()[0])
    assert params["memory"] and params["all_types"] and params["neighbours"] == 8
    assert open_run(tiny, small_teacher(RunConfig(subset="tiny", backend="import", model="m", pool="tiny")), prompt) == small


def test_small_teacher_without_a_pool_is_a_clear_error(tiny, tmp_path):
    from click.testing import CliRunner

    from tui.cli import main

    result = CliRunner().invoke(main, ["annotate", "tiny", "--small-teacher", "--backend", "openai",
                                       "--base-url", "http://127.0.0.1:9/v1", "--db", str(tiny.path)])
    assert result.exit_code != 0 and "--pool SUBSET" in result.output
    assert tiny.db["annotation_runs"].count == 0  # refused before anything was written


@pytest.mark.llm
def test_small_teacher_run_with_the_real_model(tiny, gguf, tmp_path):
    """The `--small-teacher` CLI path end to end on the embedded model."""
    import subprocess
    import sys

    corpora.sample(tiny, "tiny", "two", 2, seed=4)
    result = subprocess.run([sys.executable, "-m", "tui.cli", "annotate", "two", "--small-teacher",
                             "--pool", "tiny", "--model", str(gguf), "--db", str(tiny.path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    params, status = tiny.db.execute("select params, status from annotation_runs").fetchone()
    assert json.loads(params)["memory"] and status == "finished"
    for tags, examples, sid in tiny.db.execute("select tags, examples, sentence_id from annotations"):
        assert len(json.loads(examples)) == 4 and sid not in json.loads(examples)  # the pool minus itself
        assert len(json.loads(tags)) == len(next(s for s in sentences(tiny) if s.id == sid).tokens)


class Vocabulary:
    """A 100-token stand-in for a model's vocabulary: only what PatternConstraint reads."""

    pieces = [f"x{i}" for i in range(97)] + [" {", "}", "'LOC'"]

    def n_vocab(self) -> int:
        return len(self.pieces)

    def token_eos(self) -> int:
        return 0

    def detokenize(self, ids) -> bytes:
        return "".join(self.pieces[i] for i in ids).encode()


def test_constraint_prefers_the_models_ranking_and_widens_only_when_nothing_fits():
    import numpy as np

    from models.constrained import PatternConstraint

    constraint = PatternConstraint(Vocabulary())
    process = constraint.processor(r" ?\{(?:'LOC': \[\])?\}\n?")
    logits = np.arange(100, 0, -1, dtype=np.float32)  # token 0 best ... token 99 worst
    masked = process(np.array([5, 6]), logits)  # the prompt: two tokens; no answer yet
    assert np.isfinite(masked).sum() == 1 and np.isfinite(masked[97])  # " {", found past the top 64
    masked = process(np.array([5, 6, 97]), logits)
    assert np.isfinite(masked[98]) and np.isfinite(masked).sum() == 1  # "}" ranks above "'LOC'"
    masked = process(np.array([5, 6, 97, 98]), logits)
    assert np.isfinite(masked).sum() == 1 and np.isfinite(masked[0])  # complete: end of text allowed
    sampling = constraint.processor(r" \{(?:'LOC'|\})+", keep_all=True)
    sampling(np.array([5]), logits)  # first call: the prompt ends here
    kept = sampling(np.array([5, 97]), logits)
    assert set(np.flatnonzero(np.isfinite(kept))) == {98, 99}  # every allowed token, to sample from
    nothing = constraint.processor("z")(np.array([5]), logits)
    assert np.flatnonzero(np.isfinite(nothing)).tolist() == [0]  # nothing fits: end the answer


def test_agreement_filter_keeps_what_teacher_and_student_tag_alike(review_project, tmp_path):
    """`--filter agree:RUN`: the teacher's sentences another run (the student's) tags the same."""
    import json

    from core.student.examples import layer_examples
    from core.teacher.llm_output import import_llm_output
    from tests.conftest import ANSWERS

    store, teacher = review_project
    ids = [s.id for s in store.reviews.run_sentences(teacher)]
    student = ["{'PER': ['Peter Blackburn'], 'LOC': ['Paris']}", ANSWERS[1], ANSWERS[2], "{}", ANSWERS[4]]
    answers = tmp_path / "student.jsonl"
    answers.write_text("".join(json.dumps({"id": i, "answer": a}) + "\n" for i, a in zip(ids, student, strict=True)))
    other, _ = import_llm_output(store, str(answers), "tiny", model="student", name="student")
    kept = layer_examples(store, f"tiny@run:{teacher}", "distilled", f"agree:{other}")
    assert [e.sentence_id for e in kept] == [ids[1], ids[2], ids[4]]  # Paris's type and EC differ

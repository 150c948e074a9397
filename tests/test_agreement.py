"""Issue 33, steps 2 and 3: each review row says who made it, and annotators' agreement."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from core import layers
from core.review.agreement import AgreementError, agreement
from core.review.session import AnnotatorError, ReviewSession, annotator_name
from core.store import Store
from core.student.examples import layer_examples
from tui.cli import main
from tui.shell import who


def review_as(store: Store, run: int, name: str, script) -> ReviewSession:
    session = ReviewSession(store, run, annotator=name)
    paris, eu, france, *_ = session.items
    script(session, paris.id, eu.id, france.id)
    return session


def alice(s, paris, eu, france):  # Paris is a LOC; the rest as the teacher said
    s.label(paris, 3, 4, "LOC")
    s.accept(paris), s.accept(eu), s.accept(france)


def bob(s, paris, eu, france):  # keeps Paris ORG, drops Britain
    s.accept(paris), s.accept(eu)
    s.delete(france, 3)
    s.accept(france)


def carol(s, paris, eu, france):  # as alice, but rejects the EU sentence
    s.label(paris, 3, 4, "LOC")
    s.accept(paris), s.reject(eu), s.accept(france)


@pytest.fixture
def reviewed(review_project):
    store, run = review_project
    for name, script in (("alice", alice), ("bob", bob), ("carol", carol)):
        review_as(store, run, name, script)
    return store, run


def test_every_row_says_who_made_it_and_each_annotator_keeps_their_own_view(reviewed):
    store, run = reviewed
    with sqlite3.connect(store.path) as conn:
        who_did = {(a, s) for a, s in conn.execute("select annotator, session from reviews")}
    assert {a for a, _ in who_did} == {"alice", "bob", "carol"} and len({s for _, s in who_did}) == 3
    paris = ReviewSession(store, run, annotator="bob").items[0]
    assert paris.tags[3] == "B-ORG" and paris.status == "accepted"  # bob's view, not carol's later LOC
    assert ReviewSession(store, run, annotator="carol").items[1].status == "rejected"
    assert ReviewSession(store, run, annotator="dave").items[0].status == ""  # nothing of his yet


def test_agreement_matches_the_hand_worked_example(reviewed):
    store, run = reviewed
    found = agreement(store, run)
    assert found.annotators == ["alice", "bob", "carol"]
    ab, ac, bc = found.pairs
    # alice ~ bob on 3 sentences: 7 and 6 entities, 5 the same (Paris's type and Britain differ)
    assert (ab.sentences, ab.overall.first, ab.overall.second) == (3, 7, 6)
    assert (round(ab.overall.precision, 4), round(ab.overall.recall, 4), round(ab.overall.f1, 4)) == (
        round(5 / 6, 4), round(5 / 7, 4), round(10 / 13, 4))
    assert ab.per_type["LOC"].f1 == 0.5 and round(ab.per_type["ORG"].f1, 4) == round(2 / 3, 4)
    assert ab.per_type["PER"].f1 == ab.per_type["MISC"].f1 == 1.0
    assert round(ab.kappa, 4) == round(154 / 188, 4)  # 15 of 17 words agree; chance 101/289
    assert (ac.sentences, ac.overall.f1, ac.kappa) == (2, 1.0, 1.0)  # carol rejected the EU sentence
    assert (bc.overall.precision, bc.overall.recall, round(bc.overall.f1, 4)) == (0.6, 0.75, round(6 / 9, 4))
    assert round(found.alpha, 4) == round(1 - (4 / 46) / (1384 / 2070), 4)  # nominal, 46 pairable values
    assert [d.sentence_id for d in found.disagreements] == [1, 3]
    assert found.disagreements[0].entities["bob"] == [["PER", "Peter Blackburn"], ["ORG", "Paris"]]
    assert "anchoring" in found.notes[0]


def test_the_agreement_command_speaks_table_markdown_and_json(reviewed):
    store, run = reviewed
    runner = CliRunner()
    table = runner.invoke(main, ["agreement", str(run), "--db", str(store.path)])
    assert table.exit_code == 0, table.output
    assert "alice ~ bob" in table.output and "0.769" in table.output and "2 sentences differ" in table.output
    markdown = runner.invoke(main, ["agreement", str(run), "--format", "markdown", "--db", str(store.path)])
    assert "| alice ~ bob | overall | 3 | 0.833 | 0.714 | 0.769 | 7 / 6 | 0.819 |" in markdown.output
    data = json.loads(runner.invoke(main, ["agreement", str(run), "--format", "json",
                                           "--db", str(store.path)]).output)
    assert data["annotators"] == ["alice", "bob", "carol"] and round(data["alpha"], 3) == 0.870


def test_one_annotator_is_no_agreement_and_a_bad_name_is_refused(review_project, monkeypatch):
    store, run = review_project
    review_as(store, run, "alice", alice)
    with pytest.raises(AgreementError, match="labelled by alice; agreement needs two annotators"):
        agreement(store, run)
    with pytest.raises(AnnotatorError, match="--annotator 'a b'"):
        annotator_name("a b")
    monkeypatch.setenv("NERD_ANNOTATOR", "x/y")
    with pytest.raises(AnnotatorError, match=r"\$NERD_ANNOTATOR 'x/y'"):
        who(None)
    monkeypatch.setenv("NERD_ANNOTATOR", "dana")
    assert who(None) == "dana" and who("e.f-g_1") == "e.f-g_1"


def test_adjudication_settles_where_annotators_differ_and_training_takes_it(reviewed):
    store, run = reviewed
    assert layers.labelled(store, "tiny@review:1") == []  # all three sentences are contested
    assert [len(layers.labelled(store, f"tiny@review:1/{n}")) for n in ("alice", "bob", "carol")] == [3, 3, 2]
    judge = ReviewSession(store, run, annotator="judge", adjudicate=True)
    paris, eu, france = judge.items
    assert paris.versions == {"alice": ["PER Peter Blackburn", "LOC Paris"],
                              "bob": ["PER Peter Blackburn", "ORG Paris"],
                              "carol": ["PER Peter Blackburn", "LOC Paris"]}
    assert eu.versions["carol"] == ["(rejected)"]
    judge.label(paris.id, 3, 4, "LOC")
    judge.accept(paris.id), judge.accept(eu.id)
    settled = {s.id: s.gold for s in layers.labelled(store, "tiny@review:1")}
    assert settled == {paris.id: ["B-PER", "I-PER", "O", "B-LOC", "O"], eu.id: ["B-ORG", "O", "B-MISC", "O", "O"]}
    examples = layer_examples(store, "tiny@review:1", "original")
    assert [e.sentence_id for e in examples] == [paris.id, eu.id]  # what training takes
    assert agreement(store, run).annotators == ["alice", "bob", "carol"]  # the judge is no view
    again = ReviewSession(store, run, annotator="judge", adjudicate=True)
    assert [i.status for i in again.items] == ["accepted", "accepted", ""]  # where they stopped


def test_one_annotator_settles_alone(review_project):
    store, run = review_project
    review_as(store, run, "alice", alice)
    assert len(layers.labelled(store, "tiny@review:1")) == 3 == len(layers.labelled(store, "review:1/alice"))
    assert ReviewSession(store, run, annotator="judge", adjudicate=True).items == []

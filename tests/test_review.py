"""Human review of an annotation run: every change is a committed row the `review:N` layer reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import layers
from core.data import corpora
from core.review.caret import Caret, extend, move, next_capitalised, next_entity, to_edge
from core.review.items import entities, relabel, unlabel
from core.review.order import run_scores, student_model, student_scores, vote_scores
from core.review.session import ReviewSession
from core.store import Store
from tests.conftest import add_student_run


def rows(store: Store, run: int) -> list[tuple[int, list[str], list, str]]:
    return [(sid, json.loads(tags), json.loads(ents), action) for sid, tags, ents, action in
            store.db.execute("select sentence_id, tags, entities, action from reviews"
                             " where run_id = ? order by id", [run])]


def test_relabel_and_unlabel_keep_iob2():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert relabel(tags, 1, 4, "ORG") == ["O", "B-ORG", "I-ORG", "I-ORG", "O"]
    assert relabel(tags, 3, 4, "LOC") == tags
    assert unlabel(tags, 1) == ["O", "O", "O", "B-LOC", "O"]
    assert unlabel(tags, 2) == tags
    tokens = ["Peter", "Blackburn", "visited", "Paris", "."]
    assert entities(tokens, tags) == [["PER", "Peter Blackburn"], ["LOC", "Paris"]]


def test_session_loads_run_in_subset_order(review_project):
    store, run = review_project
    session = ReviewSession(store, run)
    assert len(session) == 5 and session.reviewed == 0
    first, _, third, _, fifth = session.items
    assert first.tokens[:2] == ["Peter", "Blackburn"]
    assert first.tags == ["B-PER", "I-PER", "O", "B-ORG", "O"] == first.run_tags
    assert first.gold == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert third.unmatched == [["PER", "Hans Fischler"]]
    assert fifth.parse_status not in ("ok", "repaired") and fifth.raw == "I am not sure."
    with pytest.raises(LookupError):
        ReviewSession(store, 99)


def test_label_delete_accept_undo_redo_are_rows_and_the_review_layer(review_project, tmp_path):
    store, run = review_project
    session = ReviewSession(store, run)
    paris, brussels = session.items[0], session.items[4]
    assert session.label(paris.id, 3, 4, "LOC")
    assert not session.label(paris.id, 3, 4, "LOC")  # no change, no row
    assert session.delete(paris.id, 0)
    assert not session.delete(paris.id, 2)
    assert session.undo() == paris.id  # the PER comes back
    assert session.label(brussels.id, 3, 4, "LOC")
    assert session.accept(paris.id)
    assert [(sid, action) for sid, _, _, action in rows(store, run)] == [
        (paris.id, "label"), (paris.id, "delete"), (paris.id, "undo"), (brussels.id, "label"),
        (paris.id, "accept")]
    assert rows(store, run)[-1][2] == [["PER", "Peter Blackburn"], ["LOC", "Paris"]]
    assert session.reviewed == 2

    sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, "tiny")))
    reviewed = layers.load(store, f"review:{run}", sentences)
    assert reviewed[paris.id] == paris.gold and reviewed[brussels.id] == brussels.gold
    assert layers.load(store, f"run:{run}", sentences)[paris.id][3] == "B-ORG"  # the run is kept

    assert session.undo() == paris.id and session.undo() == brussels.id
    assert rows(store, run)[-1][1:] == (brussels.run_tags, [], "revert")  # back to the run's tags
    assert session.reviewed == 1 and session.can_redo
    assert session.redo() == brussels.id
    assert rows(store, run)[-1][3] == "redo" and brussels.tags == brussels.gold
    session.label(paris.id, 0, 1, "PER")  # a new change forgets what could be redone
    assert not session.can_redo and session.redo() is None

    reopened = ReviewSession(Store(store.path), run)  # after a crash: a fresh object, same file
    assert [i.tags for i in reopened.items] == [i.tags for i in session.items]
    assert reopened.reviewed == session.reviewed == 2
    assert not reopened.can_undo and reopened.undo() is None


def test_revert_leaves_the_sentence_unreviewed_after_a_restart(review_project):
    store, run = review_project
    session = ReviewSession(store, run)
    sid = session.items[1].id
    session.accept(sid)
    session.undo()
    reopened = ReviewSession(Store(store.path), run)
    assert reopened.reviewed == 0 and reopened.next_unreviewed(0) == 1


def test_navigation(review_project):
    store, run = review_project
    session = ReviewSession(store, run)
    disagreeing = [i for i, item in enumerate(session.items) if item.disagrees]
    assert disagreeing == [0, 4]
    assert session.next_disagreement(0) == 4
    assert session.next_disagreement(4) == 0  # wraps
    assert session.next_unmatched(3) == 2 and session.next_unmatched(2) == 2  # only one: itself
    session.accept(session.items[1].id)
    assert session.next_unreviewed(0) == 2
    session.label(session.items[0].id, 3, 4, "LOC")
    session.label(session.items[4].id, 3, 4, "LOC")
    assert session.next_disagreement(2) is None
    for item in session.items:
        session.accept(item.id)
    assert session.next_unreviewed(0) is None


# -- issue 18: moving by entity and name, retyping, decisions -------------------------------

TOKENS = ["The", "spokesman", "said", "the", "Golden", "Four", "met", "at", "the", "White", "House", "in", "Washington"]
TAGS = ["O", "O", "O", "O", "B-LOC", "I-LOC", "O", "O", "O", "O", "O", "O", "B-LOC"]


def test_tab_goes_entity_to_entity_and_wraps():
    assert next_entity(Caret(0), TAGS, 1) == Caret(4)
    assert next_entity(Caret(4), TAGS, 1) == Caret(12)
    assert next_entity(Caret(12), TAGS, 1) == Caret(4)  # wraps
    assert next_entity(Caret(0), TAGS, -1) == Caret(12)  # shift+tab from the start: the last
    assert next_entity(Caret(5), TAGS, -1) == Caret(4)  # inside an entity: its own start first
    assert next_entity(Caret(3, 1), TAGS, 1) == Caret(4)  # the selection is dropped
    assert next_entity(Caret(0), ["O"] * 3, 1) is None


def test_w_and_b_jump_to_capitalised_names():
    assert next_capitalised(Caret(0), TOKENS, 1) == Caret(4)  # "Golden" (its run is one name)
    assert next_capitalised(Caret(4), TOKENS, 1) == Caret(9)  # "White", not "Four"
    assert next_capitalised(Caret(9), TOKENS, 1) == Caret(12)
    assert next_capitalised(Caret(12), TOKENS, 1) is None
    assert next_capitalised(Caret(10), TOKENS, -1) == Caret(9)  # back to the start of its name
    assert next_capitalised(Caret(9), TOKENS, -1) == Caret(4)
    assert to_edge(TOKENS, end=True) == Caret(12) and to_edge(TOKENS, end=False) == Caret(0)
    assert move(Caret(12), TOKENS, 1) == Caret(12) and move(Caret(0, 3), TOKENS, -1) == Caret(0)


def test_a_label_key_retypes_the_whole_entity_under_the_cursor():
    assert Caret(5).target(TAGS) == (4, 6)  # on "Four" of "Golden Four": both
    assert Caret(2).target(TAGS) == (2, 3)  # outside any entity: the token
    assert Caret(5, 5).target(TAGS) == (5, 6)  # an explicit selection wins


def test_extending_into_an_entity_takes_it_whole():
    tags = ["O", "O", "B-ORG", "I-ORG", "I-ORG", "O"]
    tokens = ["at", "the", "New", "York", "Times", "."]
    assert extend(Caret(1), tokens, tags, 1) == Caret(4, 1)  # "the" -> snaps to "Times"
    assert extend(Caret(5), tokens, tags, -1) == Caret(2, 5)  # from "." leftwards: to "New"
    assert extend(Caret(2), tokens, tags, 1) == Caret(3, 2)  # started inside: token by token (shrink)
    assert extend(Caret(4, 2), tokens, tags, -1) == Caret(3, 2)


def test_decisions_are_rows_with_a_state_and_only_human_labels_train(review_project):
    store, run = review_project
    session = ReviewSession(store, run)
    paris, eu, france, commission, rain = session.items
    assert session.accept(paris.id) and session.reject(eu.id)
    assert session.flag(france.id, "  is Fischler a PER here?  ") and session.keep(commission.id)
    assert session.skip(rain.id)
    assert [(i.status, i.note) for i in session.items] == [
        ("accepted", ""), ("rejected", ""), ("flagged", "is Fischler a PER here?"), ("kept", ""),
        ("skipped", "")]
    assert session.history == [rain.id, commission.id, france.id, eu.id, paris.id]
    assert session.pace.done == 5 and session.remaining == 0
    assert [a for *_, a in rows(store, run)] == ["accept", "reject", "flag", "keep", "skip"]

    reopened = ReviewSession(Store(store.path), run)  # the states and the history survive a restart
    assert [(i.status, i.note) for i in reopened.items] == [(i.status, i.note) for i in session.items]
    assert reopened.history == session.history and reopened.pace.done == 0
    # review:N holds what a person vouches for: accepted, kept (and edited), not the rest
    assert set(store.reviews.latest(run)) == {paris.id, commission.id}
    assert layers.reviewed_ids(store, run) == {paris.id, commission.id}

    assert session.undo() == rain.id and rain.status == "" and session.pace.done == 4
    assert rows(store, run)[-1][3] == "revert"
    assert session.undo() == commission.id and session.undo() == france.id and france.note == ""
    assert session.redo() == france.id and france.note == "is Fischler a PER here?"


def test_n_passes_by_sentences_kept_different_from_gold_on_purpose(review_project):
    store, run = review_project
    session = ReviewSession(store, run)
    assert session.next_disagreement(0) == 4
    session.keep(session.items[4].id)
    assert session.next_disagreement(0) == 0  # only the first is left (wrapping round to itself)
    session.reject(session.items[0].id)
    assert session.next_disagreement(0) is None


def test_rows_written_before_states_read_their_state_off_the_action(review_project):
    store, run = review_project
    sid = ReviewSession(store, run).items[0].id
    store.reviews.add(run, sid, ["O"] * 5, [], "accept")
    assert store.reviews.states(run)[sid].status == "accepted"
    store.db.execute("update reviews set status = null")  # as a v5 file holds them
    assert store.reviews.states(run)[sid].status == "accepted"
    store.reviews.add(run, sid, ["O"] * 5, [], "revert")
    store.db.execute("update reviews set status = null")
    assert store.reviews.states(run)[sid].status == "" and sid not in store.reviews.latest(run)


def test_a_busy_database_keeps_the_changes_and_writes_them_when_free(review_project):
    """Another connection holds the write lock: changes wait in order, nothing is lost or doubled."""
    import sqlite3

    store, run = review_project
    fast = Store(store.path, busy_timeout=0.05)
    session = ReviewSession(fast, run)
    first, second = session.items[0], session.items[1]
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("begin immediate")
    assert session.label(first.id, 3, 4, "LOC") and session.accept(first.id) and session.skip(second.id)
    assert len(session.pending) == 3 and not session.flush()
    assert first.status == "accepted" and rows(store, run) == []  # on screen, not yet in the file
    again = ReviewSession(fast, run, session.pending)  # reloading keeps them, and shows them
    assert again.items[0].status == "accepted" and len(again.pending) == 3
    other.execute("commit")
    assert again.flush() and not again.pending
    assert [a for *_, a in rows(store, run)] == ["label", "accept", "skip"]
    fast.close()


# -- review order: least confident first ------------------------------------------------------


def test_votes_order_puts_the_least_agreed_sentence_first_and_says_why(review_project):
    store, run = review_project
    session = ReviewSession(store, run)
    paris, eu, france, commission, rain = session.items
    france.votes = [["LOC", "France", 4, 4], ["PER", "Hans Fischler", 2, 4]]  # split down the middle
    eu.votes = [["ORG", "EU", 3, 4]]
    commission.votes = []  # every sample: no entity
    scores = vote_scores(session.items)
    assert scores[rain.id][0] == 0.0 and "did not parse" in scores[rain.id][1]
    assert scores[france.id] == (0.5, "2 of 4 samples named 'Hans Fischler' PER")
    assert scores[eu.id][0] == 0.75 and scores[commission.id][0] == 1.0 and paris.id not in scores
    session.arrange("votes", scores)
    assert [session.items[i] for i in session.order] == [rain, france, eu, commission, paris]
    assert session.step(session.index_of(rain.id), 1) == session.index_of(france.id)
    assert session.next_disagreement(session.index_of(eu.id)) == session.index_of(paris.id)  # in this order
    session.arrange("document")
    assert session.order == [0, 1, 2, 3, 4] and session.position(3) == 3


def test_the_students_least_sure_word_scores_a_sentence(review_project, monkeypatch):
    from models import encoder

    store, run = review_project
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    model = encoder.load_classifier(encoder.embedded_encoder(), labels)  # an untrained head: unsure
    tokenizer = encoder.load_tokenizer(encoder.embedded_encoder())
    sentences = [["Peter", "Blackburn", "visited", "Paris", "."], ["Rain", "fell"] * 80]  # two windows
    found = encoder.word_probabilities(model, tokenizer, sentences, max_length=32)
    assert [probs.shape for probs in found] == [(5, 5), (160, 5)]
    assert all(abs(float(row.sum()) - 1) < 1e-5 and row.min() > 0 for probs in found for row in probs)

    monkeypatch.setattr(encoder, "load_classifier", lambda folder: model)
    monkeypatch.setattr(encoder, "load_tokenizer", lambda folder: tokenizer)
    session = ReviewSession(store, run)
    scores = student_scores(session.items, Path("unused"), run=3)
    assert set(scores) == {i.id for i in session.items}
    confidence, why = scores[session.items[0].id]
    assert why.startswith("training run 3 is ") and " sure '" in why and 0 < confidence <= 1
    assert student_model(store) is None  # no finished training run saved a model here


# -- correcting the student: its confidences, the unsure marks, its second-best type ----------


def test_the_students_unsure_entities_and_the_one_key_fix(review_project):
    store, _ = review_project
    run = add_student_run(store.path)
    session = ReviewSession(store, run)
    paris, eu, france, *_ = session.items
    assert paris.confidence == 0.55 and [(s.label, s.unsure) for s in paris.scored()] == [
        ("PER", False), ("ORG", True)]
    assert session.second_type(paris.id, 3) == "LOC"  # Paris: ORG -> LOC, one change
    assert paris.tags == ["B-PER", "I-PER", "O", "B-LOC", "O"] and paris.status == "edited"
    assert [s.label for s in paris.scored()] == ["PER"]  # the retyped entity is the student's no more
    assert session.second_type(paris.id, 3) is None and session.second_type(paris.id, 2) is None
    assert rows(store, run)[-1][1] == paris.tags  # full tags for the sentence, as every edit
    name, scores = run_scores(session.items)
    assert name == "confidence" and scores[france.id][0] == 0.62
    assert "0.62" not in scores[france.id][1] and "62% sure 'Fischler' is PER" in scores[france.id][1]
    session.arrange(name, scores)
    assert [session.items[i] for i in session.order][:2] == [paris, france]
    assert run_scores(ReviewSession(store, 1).items)[0] == "votes"  # the teacher's run: its votes

"""Human review of an annotation run: every change is a committed row the `review:N` layer reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import corpora, layers
from core.annotate import import_llm_output
from core.review import ReviewSession, entities, relabel, unlabel
from core.store import Store

CONLL = """Peter B-PER
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
    conll.write_text(CONLL)
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
def project(tmp_path: Path) -> tuple[Store, int]:
    db, run = build_project(tmp_path)
    with Store(db) as store:
        yield store, run


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


def test_session_loads_run_in_subset_order(project):
    store, run = project
    session = ReviewSession(store, run)
    assert len(session) == 5 and session.reviewed == 0
    first, _, third, _, fifth = session.items
    assert first.tokens[:2] == ["Peter", "Blackburn"]
    assert first.tags == ["B-PER", "I-PER", "O", "B-ORG", "O"] == first.run_tags
    assert first.gold == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert third.unmatched == [["PER", "Hans Fischler"]]
    assert fifth.parse_status == "empty" and fifth.raw == "I am not sure."
    with pytest.raises(LookupError):
        ReviewSession(store, 99)


def test_label_delete_accept_undo_redo_are_rows_and_the_review_layer(project, tmp_path):
    store, run = project
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


def test_revert_leaves_the_sentence_unreviewed_after_a_restart(project):
    store, run = project
    session = ReviewSession(store, run)
    sid = session.items[1].id
    session.accept(sid)
    session.undo()
    reopened = ReviewSession(Store(store.path), run)
    assert reopened.reviewed == 0 and reopened.next_unreviewed(0) == 1


def test_navigation(project):
    store, run = project
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

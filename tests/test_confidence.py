"""Word probabilities read as tags, entities, their confidence and second-best type."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.confidence import scored, softmax, type_probabilities
from models.pieces import score_windows, tag_windows, word_windows

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_an_entity_is_as_sure_as_its_least_sure_word_and_knows_its_runner_up():
    probs = np.array([
        [0.05, 0.80, 0.05, 0.05, 0.05],  # Peter: B-PER
        [0.10, 0.20, 0.40, 0.10, 0.20],  # Blackburn: I-PER, PER 0.6 (B 0.2 + I 0.4), LOC 0.3
        [0.90, 0.02, 0.03, 0.02, 0.03],  # visited: O
        [0.30, 0.05, 0.05, 0.55, 0.05],  # Paris: B-LOC 0.6, PER 0.1
    ])
    result = scored(probs, LABELS)
    assert result.tags == ["B-PER", "I-PER", "O", "B-LOC"]
    person, place = result.entities
    assert (person.start, person.end, person.label) == (0, 2, "PER")
    assert abs(person.confidence - 0.6) < 1e-6 and person.second == "LOC"
    assert abs(person.second_confidence - 0.1) < 1e-6  # LOC's minimum over the two words
    assert (place.label, round(place.confidence, 6), place.second) == ("LOC", 0.6, "PER")
    assert abs(result.confidence - 0.6) < 1e-6  # Blackburn's PER (0.6) ties Paris's LOC (0.6)
    assert result.word in (1, 3)  # where the review cursor opens


def test_a_model_unsure_between_b_and_i_is_sure_of_the_type():
    probs = np.array([[0.0, 0.45, 0.45, 0.05, 0.05]])
    result = scored(probs, LABELS)
    assert result.tags == ["B-PER"] and abs(result.entities[0].confidence - 0.9) < 1e-6


def test_an_empty_sentence_is_sure_and_has_no_entities():
    empty = scored(np.zeros((0, 5)), LABELS)
    assert empty.tags == [] and empty.entities == [] and empty.confidence == 1.0


def test_softmax_is_safe_for_huge_logits():
    out = softmax(np.array([[1000.0, 0.0, -1000.0]]))
    assert np.isfinite(out).all() and abs(out.sum() - 1) < 1e-9 and out[0, 0] > 0.999


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(-20, 20), min_size=5, max_size=5), min_size=1, max_size=12))
def test_scored_tags_are_what_tag_windows_gives_and_types_sum_to_one(logits):
    """The two readings of one model never disagree: tags from probabilities are the argmax tags."""
    probs = softmax(np.array(logits, dtype=np.float64))
    by_type = type_probabilities(probs, LABELS)
    assert np.allclose(sum(by_type.values()), 1.0)
    result = scored(probs, LABELS)
    best = probs.argmax(-1)
    (window,) = word_windows([f"w{i}" for i in range(len(logits))],
                             lambda words: (list(range(len(words))), list(range(len(words)))), 101, 102, 100)
    tags = tag_windows([[window]], [len(logits)], lambda rows: [[0, *best, 0]], LABELS)
    assert result.tags == tags[0]
    assert all(0 <= e.confidence <= 1 and e.second != e.label for e in result.entities)


def test_score_windows_stitches_each_words_row_from_its_first_piece():
    def encode(words):  # two pieces a word
        return [7] * 2 * len(words), [i for i in range(len(words)) for _ in (0, 1)]

    sentences = [["a", "b", "c"], ["d"]]
    windows = [word_windows(s, encode, 1, 2, 3, max_length=6) for s in sentences]  # 2 words a window

    def scores(rows):  # a position's row: [position, 0, 0]
        width = max(len(r) for r in rows)
        return np.array([[[p, 0, 0] for p in range(width)] for _ in rows], dtype=np.float32)

    found = score_windows(windows, map(len, sentences), scores, 3)
    assert [f[:, 0].tolist() for f in found] == [[1, 3, 1], [1]]  # first pieces at 1 and 3 a window

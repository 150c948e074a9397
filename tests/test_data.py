"""Acceptance counts on the real CoNLL-2003 files, where this machine has them."""

from __future__ import annotations

import pytest

from core import corpora
from tests.conftest import shared_data

DATA = shared_data()
pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(DATA is None, reason="CoNLL-2003 not found (set NERD_DATA_DIR)"),
]


@pytest.mark.parametrize(
    ("split", "sentences", "entities"),
    [
        ("test", 3453, {"LOC": 1668, "ORG": 1661, "PER": 1617, "MISC": 702}),
        ("train", 14041, {"LOC": 7140, "ORG": 6321, "PER": 6600, "MISC": 3438}),
    ],
)
def test_conll2003_counts(store, split, sentences, entities):
    result = corpora.import_conll(store, DATA / "conll2003" / f"{split}.txt", split)
    assert result.sentences == sentences
    (row,) = [r for r in corpora.stats(store) if r.name == split]
    assert dict(row.entities) == entities
    assert sum(row.entities.values()) == sum(entities.values())


def test_dict_round_trip_ceiling_on_all_of_train(store):
    """Gold -> dict -> tags: the ceiling of any teacher that answers a dict (issue 3)."""
    from core import layers

    corpora.import_conll(store, DATA / "conll2003" / "train.txt", "train")
    (report,) = layers.score(store, "train", "gold", ["roundtrip"]).values()
    assert report.support == 23499
    assert 0.999 < report.micro_f1 < 1.0  # two sentences of 14041 differ

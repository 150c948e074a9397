"""Acceptance counts on the real CoNLL-2003 files, where this machine has them."""

from __future__ import annotations

import pytest

from core.data import corpora
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
    assert report.micro_f1 == 1.0  # issue 13: a string listed once a tagged occurrence, none differ


def test_bbc_counts_and_offsets(store):
    """The demo's BBC import (headline first, as BBC's files are) keeps its counts, and every
    token is its article's text between its stored offsets (issue 12)."""
    from core.data.ingest import ARTICLES, read_source
    from core.data.text import normalise_quotes
    from core.jobs import demo

    if not (DATA / "bbc").is_dir():
        pytest.skip("BBC articles not found")
    list(demo.import_defaults(store, DATA))
    bbc = store.corpora.dataset_by_name("bbc")
    assert bbc.n_sentences == 39830
    documents = {d.id: d for d in store.corpora.documents(bbc.id)}
    assert len(read_source(DATA / "bbc", ARTICLES).documents) == 2225  # 98 of them duplicates
    assert len(documents) == 2225 - 98 == 2127
    for sentence in store.corpora.dataset_sentences(bbc.id):
        text = documents[sentence.document_id].text
        assert [normalise_quotes(text[a:b]) for a, b in sentence.offsets] == sentence.tokens
    again = corpora.import_text(store, DATA / "bbc", "bbc-again", ARTICLES)
    assert not again.added and again.name == "bbc" and again.sentences == 39830

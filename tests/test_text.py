from __future__ import annotations

import pytest

from core.text import article_sentences, split_sentences, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Germany's representative", ["Germany", "'s", "representative"]),
        ("It didn't work", ["It", "did", "n't", "work"]),
        ("a two-run homer", ["a", "two-run", "homer"]),
        ("the U.S. and St. Louis", ["the", "U.S.", "and", "St.", "Louis"]),
        ("$1.13bn (\u00a3600m), 76%.", ["$", "1.13bn", "(", "\u00a3", "600m", ")", ",", "76", "%", "."]),
        ("\"Yes,\" said O'Neill.", ['"', "Yes", ",", '"', "said", "O'Neill", "."]),
        ("AT&T won 3-1", ["AT&T", "won", "3-1"]),
        ("Smith\u2019s dog", ["Smith", "'s", "dog"]),
    ],
)
def test_tokenize_like_conll(text, tokens):
    assert tokenize(text) == tokens


def test_split_sentences_respects_abbreviations():
    paragraph = 'Mr. Smith went to Washington. He met the U.S. envoy. "It was good." Then he left!'
    assert split_sentences(paragraph) == [
        "Mr. Smith went to Washington.", "He met the U.S. envoy.", '"It was good."',
        "Then he left!",
    ]


def test_article_skips_headline_and_keeps_paragraphs():
    text = "Headline here\n\nFirst one. Second one.\n\nThird one.\n"
    assert article_sentences(text) == [["First", "one", "."], ["Second", "one", "."],
                                       ["Third", "one", "."]]

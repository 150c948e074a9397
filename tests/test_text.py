from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data import text as text_module
from core.data.text import (
    article_sentences,
    document_sentences,
    normalise_quotes,
    split_sentences,
    tokenize,
    tokenize_with_offsets,
)


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
        ("ENGLAND'S M. Waugh", ["ENGLAND", "'S", "M.", "Waugh"]),  # issue 16: CoNLL's conventions
        ("1. Ajax Amsterdam 3 1.", ["1.", "Ajax", "Amsterdam", "3", "1", "."]),
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


def test_no_split_after_an_enumerator_opening_a_line():
    text = "Leading results.\n29. Patrizia Bassis (Italy) won.\n30. Anna Smith (U.S.) lost."
    assert [s[0] for s in article_sentences(text, skip_headline=False)] == ["Leading", "29.", "30."]


def test_article_skips_headline_and_keeps_paragraphs():
    text = "Headline here\n\nFirst one. Second one.\n\nThird one.\n"
    assert article_sentences(text) == [["First", "one", "."], ["Second", "one", "."],
                                       ["Third", "one", "."]]


# -- offsets (issue 12): the same tokens as before, each at its place in the source text -------

PIECES = ["Mr.", "'S", "M", "29", "U.S.", "St.", "St", ".", "don't", "Germany's", "O'Neill", "AT&T", "3.5bn", "1,000", "...",
          "--", "\u2019s", "\u2018quoted\u2019", "Smith\u2019s", "n\u2019t", '"', "(", ")", "!", "?", ",", "£",
          "$", "e.g.", "a", "A", "HMS", "Victory", "x-y", "\u00e9t\u00e9", "_", "9", "'"]
GAPS = ["", " ", " ", "  ", "\n", "\n\n", "\r\n", "\r\n\r\n", "\t", " \n \n", "\u00a0", "\u2028", "\x0c"]
prose = st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(GAPS)), max_size=40).map(
    lambda parts: "".join(piece + gap for piece, gap in parts))


def _reference_tokenize(text: str) -> list[str]:
    """core.data.text.tokenize before offsets existed, and the CoNLL conventions added on purpose since
    (issue 16): `'S` splits like `'s` (through `_TOKEN`), an initial keeps its dot (`M.`), and so
    does an enumerator opening the text (`1.`)."""
    tokens: list[str] = []
    for match in text_module._TOKEN.finditer(text.replace("\u2019", "'").replace("\u2018", "'")):
        token = match.group()
        if token == "." and tokens and (tokens[-1].lower() in text_module._ABBREVIATIONS
                                        or (len(tokens[-1]) == 1 and tokens[-1].isupper())  # É. too
                                        or (len(tokens) == 1 and re.fullmatch(r"\d{1,3}", tokens[0]))):
            end = match.start()
            if end > 0 and not text[end - 1].isspace():
                tokens[-1] += "."
                continue
        tokens.append(token)
    return tokens


def _reference_split(paragraph: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in text_module._BOUNDARY.finditer(paragraph):
        before = paragraph[start : match.start()].rstrip("\"')]")
        last_word = before.split()[-1] if before.split() else ""
        stem = last_word.rstrip(".").lower()
        if before.endswith(".") and (stem in text_module._ABBREVIATIONS or re.fullmatch(r"[a-z]", stem)):
            continue
        if before.strip() == last_word and re.fullmatch(r"\d{1,3}", stem):  # issue 16: "29. Patrizia"
            continue
        pieces.append(paragraph[start : match.start() + len(match.group().rstrip())].strip())
        start = match.end()
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def _reference_article(text: str, skip_headline: bool) -> list[list[str]]:
    lines = text.replace("\r\n", "\n").split("\n")
    if skip_headline and lines:
        lines = lines[1:]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    return [tokens for paragraph in paragraphs for sentence in _reference_split(" ".join(paragraph.split()))
            if (tokens := _reference_tokenize(sentence))]


@settings(max_examples=400, deadline=None)
@given(st.one_of(prose, st.text(max_size=80)), st.booleans())
def test_offsets_point_at_the_tokens_and_tokens_are_unchanged(text, skip_headline):
    """text[start:end] is the token, but for curly apostrophes, which tokens spell straight
    (normalise_quotes); the tokens are exactly those of the tokenizer before offsets."""
    sentences = document_sentences(text, skip_headline=skip_headline)
    assert [[t.text for t in s] for s in sentences] == _reference_article(text, skip_headline)
    previous_end = 0
    for sentence in sentences:
        for token in sentence:
            assert previous_end <= token.start < token.end
            assert normalise_quotes(text[token.start : token.end]) == token.text
            previous_end = token.end
    flat = tokenize_with_offsets(text)
    assert [t.text for t in flat] == _reference_tokenize(text) == tokenize(text)
    assert all(normalise_quotes(text[t.start : t.end]) == t.text for t in flat)


def test_curly_apostrophe_keeps_its_source_span():
    text = "Smith\u2019s dog didn\u2019t bark."
    tokens = tokenize_with_offsets(text)
    assert [t.text for t in tokens] == ["Smith", "'s", "dog", "did", "n't", "bark", "."]
    assert [text[t.start : t.end] for t in tokens][1] == "\u2019s"

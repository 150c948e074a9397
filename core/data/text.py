"""Raw text to CoNLL-style sentences: `Germany's` becomes `Germany 's`, punctuation stands alone.

The BBC articles are plain prose; the teacher and the student both see tokens, so raw
text must be split the way CoNLL-2003 was, or alignment and evaluation drift apart.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "gen", "col", "lt", "sgt", "capt",
    "gov", "sen", "rep", "rev", "hon", "mt", "ft", "no", "vs", "etc", "inc", "ltd", "co",
    "corp", "plc", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "u.s", "u.k", "u.n", "e.g", "i.e", "a.m", "p.m",
}

_ENUMERATOR = re.compile(r"\d{1,3}")  # "29." opening a line of a ranking

# Order matters: the first alternative that matches at a position wins.
_TOKEN = re.compile(
    r"""
    (?:[A-Za-z]\.){2,}                          # U.S. U.K. a.m.
    | \d+(?:[.,:/]\d+)+(?:[a-zA-Z%]+)?          # 1,000  3.5  10:30  1/2  3.5bn
    | (?i:n't)(?![a-z])                         # n't of don't (split below)
    | '(?i:s|re|ve|ll|d|m)(?![A-Za-z])          # 's 're 've 'll 'd 'm, and 'S of a capitalised headline
    | (?i:[a-z0-9]+(?:[-&][a-z0-9]+)*)(?=n't)    # do of don't
    | [^\W_]+(?:(?:[-&]|'(?!(?i:s|re|ve|ll|d|m)(?![A-Za-z])))[^\W_]+)*  # two-run O'Neill AT&T
    | \.\.\.|--                                 # ellipsis, dash
    | \S                                        # any other single character
    """,
    re.VERBOSE,
)


def normalise_quotes(text: str) -> str:
    """The source text as the tokens spell it: curly single quotes made straight."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


class Token(NamedTuple):
    """A token and where it stands in the text it came from: `text[start:end]`.

    The text is the token as CoNLL writes it: a curly apostrophe (\u2018, \u2019) in the source
    is a straight one in the token, so `normalise_quotes(source[start:end]) == text`; nothing
    else differs. Exports that carry the source text write the source's own characters.
    """

    text: str
    start: int
    end: int


def _keeps_dot(word: str, first: bool) -> bool:
    return (word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())
            or (first and _ENUMERATOR.fullmatch(word) is not None))


def tokenize_with_offsets(text: str) -> list[Token]:
    """`tokenize`, each token with its (start, end) in `text`."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(normalise_quotes(text)):
        token = match.group()
        # A trailing abbreviation dot belongs to the word ("St." in "St. Louis"), and so does the
        # dot of an initial ("M. Waugh") or of an enumerator that opens the text ("1. Ajax"), as CoNLL.
        if token == "." and tokens and _keeps_dot(tokens[-1].text, len(tokens) == 1):
            end = match.start()
            if end > 0 and not text[end - 1].isspace():
                last = tokens[-1]
                tokens[-1] = Token(last.text + ".", last.start, match.end())
                continue
        tokens.append(Token(token, match.start(), match.end()))
    return tokens


def tokenize(text: str) -> list[str]:
    """Split like CoNLL-2003: `'s` and `n't` off their words, punctuation alone."""
    return [token.text for token in tokenize_with_offsets(text)]


_BOUNDARY = re.compile(r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z0-9£$])""")


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    """`text[start:end].strip()` as positions."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(paragraph: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a paragraph (see `split_sentences`)."""
    found: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        before = paragraph[start : match.start()].rstrip("\"')]")
        last_word = before.split()[-1] if before.split() else ""
        stem = last_word.rstrip(".").lower()
        if before.endswith(".") and (stem in _ABBREVIATIONS or re.fullmatch(r"[a-z]", stem)):
            continue
        if before.strip() == last_word and _ENUMERATOR.fullmatch(stem):  # "29. Patrizia Bassis"
            continue
        found.append(_stripped(paragraph, start, match.start() + len(match.group().rstrip())))
        start = match.end()
    found.append(_stripped(paragraph, start, len(paragraph)))
    return [(a, b) for a, b in found if b > a]


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph at ., ! or ? followed by a capital, unless the dot ends an abbreviation."""
    return [paragraph[a:b] for a, b in sentence_spans(paragraph)]


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")


def body_start(text: str) -> int:
    """Where the text after its first line (a headline) begins."""
    newline = text.find("\n")
    return len(text) if newline < 0 else newline + 1


def paragraph_spans(text: str, start: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each blank-line separated paragraph of `text[start:]`, without the
    whitespace around it; LF, CRLF and CR-LF mixes alike."""
    found: list[tuple[int, int]] = []
    for match in _PARAGRAPH_BREAK.finditer(text, start):
        found.append(_stripped(text, start, match.start()))
        start = match.end()
    found.append(_stripped(text, start, len(text)))
    return [(a, b) for a, b in found if b > a]


def document_sentences(text: str, skip_headline: bool = False) -> list[list[Token]]:
    """Tokenised sentences of one document, every token with its (start, end) in `text`.

    Paragraphs are blank-line separated and never share a sentence; inside one, any run of
    whitespace (line breaks too) counts as one space. With `skip_headline` the first line is
    a title: it stays in the text but gives no sentence.
    """
    sentences: list[list[Token]] = []
    for para_start, para_end in paragraph_spans(text, body_start(text) if skip_headline else 0):
        words = list(_WORD.finditer(text, para_start, para_end))
        flat = " ".join(word.group() for word in words)
        origin: list[int] = []  # flat's position -> text's position (-1 for the joining spaces)
        for word in words:
            origin.extend(range(word.start(), word.end()))
            origin.append(-1)
        for sent_start, sent_end in sentence_spans(flat):
            tokens = tokenize_with_offsets(flat[sent_start:sent_end])
            if tokens:
                sentences.append([
                    Token(t.text, origin[sent_start + t.start], origin[sent_start + t.end - 1] + 1)
                    for t in tokens
                ])
    return sentences


def article_sentences(text: str, skip_headline: bool = True) -> list[list[str]]:
    """Tokenised sentences of one article: paragraphs are blank-line separated, line 1 is the headline."""
    return [[token.text for token in sentence]
            for sentence in document_sentences(text, skip_headline=skip_headline)]

"""Raw text to CoNLL-style sentences: `Germany's` becomes `Germany 's`, punctuation stands alone.

The BBC articles are plain prose; the teacher and the student both see tokens, so raw
text must be split the way CoNLL-2003 was, or alignment and evaluation drift apart.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "gen", "col", "lt", "sgt", "capt",
    "gov", "sen", "rep", "rev", "hon", "mt", "ft", "no", "vs", "etc", "inc", "ltd", "co",
    "corp", "plc", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "u.s", "u.k", "u.n", "e.g", "i.e", "a.m", "p.m",
}

# Order matters: the first alternative that matches at a position wins.
_TOKEN = re.compile(
    r"""
    (?:[A-Za-z]\.){2,}                          # U.S. U.K. a.m.
    | \d+(?:[.,:/]\d+)+(?:[a-zA-Z%]+)?          # 1,000  3.5  10:30  1/2  3.5bn
    | (?i:n't)(?![a-z])                         # n't of don't (split below)
    | '(?:s|re|ve|ll|d|m)(?![A-Za-z])           # 's 're 've 'll 'd 'm
    | (?i:[a-z0-9]+(?:[-&][a-z0-9]+)*)(?=n't)    # do of don't
    | [^\W_]+(?:(?:[-&]|'(?!(?:s|re|ve|ll|d|m)(?![A-Za-z])))[^\W_]+)*  # two-run O'Neill AT&T
    | \.\.\.|--                                 # ellipsis, dash
    | \S                                        # any other single character
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split like CoNLL-2003: `'s` and `n't` off their words, punctuation alone."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.replace("\u2019", "'").replace("\u2018", "'")):
        token = match.group()
        # A trailing abbreviation dot belongs to the word ("St." in "St. Louis").
        if token == "." and tokens and tokens[-1].lower() in _ABBREVIATIONS:
            end = match.start()
            if end > 0 and not text[end - 1].isspace():
                tokens[-1] += "."
                continue
        tokens.append(token)
    return tokens


_BOUNDARY = re.compile(r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z0-9£$])""")


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph at ., ! or ? followed by a capital, unless the dot ends an abbreviation."""
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        before = paragraph[start : match.start()].rstrip("\"')]")
        last_word = before.split()[-1] if before.split() else ""
        stem = last_word.rstrip(".").lower()
        if before.endswith(".") and (stem in _ABBREVIATIONS or re.fullmatch(r"[a-z]", stem)):
            continue
        pieces.append(paragraph[start : match.start() + len(match.group().rstrip())].strip())
        start = match.end()
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def article_sentences(text: str, skip_headline: bool = True) -> list[list[str]]:
    """Tokenised sentences of one article: paragraphs are blank-line separated, line 1 is the headline."""
    lines = text.replace("\r\n", "\n").split("\n")
    if skip_headline and lines:
        lines = lines[1:]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    sentences: list[list[str]] = []
    for paragraph in paragraphs:
        for sentence in split_sentences(" ".join(paragraph.split())):
            tokens = tokenize(sentence)
            if tokens:
                sentences.append(tokens)
    return sentences

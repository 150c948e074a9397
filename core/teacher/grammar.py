"""Span-constrained decoding: the answer language of one sentence, as a regular expression.

It admits only the dict format, with entity strings that are token spans of the input
sentence and lists of bounded length: every answer parses, and no entity is invented. The
llama.cpp backend enforces it token by token (`models/constrained.py`).
"""

from __future__ import annotations

import re

_WORDY = re.compile(r"\w")


def candidate_spans(tokens: list[str], max_len: int = 6) -> list[str]:
    """Token n-grams that could name something: they start and end with a word character."""
    found: dict[str, None] = {}
    for i in range(len(tokens)):
        if not _WORDY.search(tokens[i]):
            continue
        for j in range(i + 1, min(i + max_len, len(tokens)) + 1):
            if _WORDY.search(tokens[j - 1]):
                found.setdefault(" ".join(tokens[i:j]))
    return list(found)


def _python_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _either(texts: list[str]) -> str:
    """Longest first, so a span is never cut short by a shorter one it starts with."""
    return "(?:" + "|".join(re.escape(_python_string(t)) for t in sorted(texts, key=len, reverse=True)) + ")"


def span_pattern(tokens: list[str], types: tuple[str, ...], max_len: int = 6, max_items: int = 6) -> str:
    """`{'TYPE': ['span', ...], ...}` over this sentence's spans and the schema's `types`, then
    the newline that stops it."""
    spans = candidate_spans(tokens, max_len)
    item = _either(spans) if spans else "(?!)"
    values = rf"\[(?:{item}(?:, {item}){{0,{max_items - 1}}})?\]"
    pair = rf"{_either(list(types))}: {values}"
    return rf" ?\{{(?:{pair}(?:, {pair}){{0,{len(types) - 1}}})?\}}\n?"

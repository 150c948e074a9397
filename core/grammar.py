"""Span-constrained decoding: a per-sentence GBNF grammar for llama.cpp.

It admits only the answer format, with entity strings that are token spans of the input
sentence and lists of bounded length: every answer parses, and no entity is invented.
"""

from __future__ import annotations

import re

from core import ENTITY_TYPES

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


def _literal(text: str) -> str:
    """A GBNF string literal of `text`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _python_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def span_grammar(tokens: list[str], types: tuple[str, ...] = ENTITY_TYPES, max_len: int = 6,
                 max_items: int = 6) -> str:
    """GBNF for `{'TYPE': ['span', ...], ...}` over this sentence's spans, then a newline."""
    spans = candidate_spans(tokens, max_len)
    key = " | ".join(_literal(_python_string(t)) for t in types)
    lines = [
        'root ::= " "? "{" pairs? "}" "\\n"',
        f'pairs ::= pair (", " pair){{0,{len(types) - 1}}}',
        f'pair ::= key ": [" (span (", " span){{0,{max_items - 1}}})? "]"',
        f"key ::= {key}",
    ]
    lines.append("span ::= " + (" | ".join(_literal(_python_string(s)) for s in spans) or '"\'\'"'))
    return "\n".join(lines) + "\n"

"""What every family asks of one answer: its text and schema, and what a word says as a type
(the schema's, an unknown type's name, or "not an entity"), with the few questions about where
a `[` stands. Separate because the value, line and markup readers all lean on it, and it
leans on none of them: `_Context` is their shared base, and answer.py assembles the whole.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from core.data.schema import LabelSchema
from core.teacher.parse.reader import _Quotes
from core.teacher.parse.result import _Found
from core.teacher.parse.vocabulary import (
    _BRACKET,
    _LABEL_JUNK,
    _LINK,
    _MARKER_WORDS,
    _META,
    _TEXT_KEYS,
    _TYPE_KEYS,
    _WRAPPERS,
    _norm,
)

_NOT_ENTITY = {"o", "none", "==none==", "null", "nil", "na", "n/a", "noentity", "notanentity", "nan"}
_TYPE_LIKE = re.compile(r"[A-Z][A-Z0-9_]{1,30}")
_BIO = re.compile(r"([BIES])[-_](.+)")
_LABEL_PREFIX = re.compile(r"\s*(?:[-*\u2022+]\s+|\d{1,3}[.)]\s+)?[*_#\s]*([^:\n\[\]{}]{1,60}?)[*_\s]*:\s*")
_WORDS = re.compile(r"[A-Za-z][A-Za-z]*(?: [A-Za-z]+){0,2}")


@dataclass(frozen=True)
class _Label:
    kind: str  # type (the schema's) | other (looks like a type name) | none (O, ==NONE==)
    key: str
    prefix: str = ""  # B / I of a token tag


class _Context:
    """The text, the schema and what is known about both: the reading of one answer."""

    def __init__(self, text: str, schema: LabelSchema) -> None:
        self.text, self.schema = text, schema
        self.quotes = _Quotes(text)
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.one_type = schema.names[0] if len(schema.names) == 1 else None
        self._resolved: dict[str, str | None] = {}
        self._labels: dict[str, _Label | None] = {}

    def resolve(self, key: str) -> str | None:
        if key not in self._resolved:
            self._resolved[key] = self.schema.resolve(key) if len(key) <= 60 else None
        return self._resolved[key]

    def label(self, word: str) -> _Label | None:
        """What a word says as a type: the schema's, an unknown type's name, 'not an entity'."""
        if word not in self._labels:
            self._labels[word] = self._label(word)
        return self._labels[word]

    def _label(self, word: str) -> _Label | None:
        word = word.strip(_LABEL_JUNK) if len(word) <= 60 else ""
        if not word:
            return None
        prefix = ""
        if (m := _BIO.fullmatch(word)) and (self.resolve(m.group(2)) or m.group(2).isupper()):
            prefix, word = m.group(1), m.group(2)
        n = _norm(word)
        if self.resolve(word):
            return _Label("type", word, prefix)
        if n in _NOT_ENTITY:
            return _Label("none", word, prefix)
        if (_TYPE_LIKE.fullmatch(word) and n not in _TYPE_KEYS | _TEXT_KEYS | _META | _WRAPPERS
                | _MARKER_WORDS):
            return _Label("other", word, prefix)
        return None

    def known(self, found: _Found) -> bool:
        return any(self.resolve(key) for key, _ in found.pairs)

    def after_label(self, pos: int) -> bool:
        """Whether a `[` is the value of a line like `PER: [...]` (a `{` is always read whole)."""
        if self.text[pos] != "[":
            return False
        k = bisect.bisect_left(self.newlines, pos)
        line_start = self.newlines[k - 1] + 1 if k else 0
        if pos - line_start > 80:
            return False
        m = _LABEL_PREFIX.fullmatch(self.text, line_start, pos)
        return bool(m) and self.names_type(m.group(1).strip(_LABEL_JUNK))

    def names_type(self, name: str) -> bool:
        """Whether `name: [...]` is a line of one type's texts (`PER`, `People`, `Dates`)."""
        if (label := self.label(name)) is not None:
            return label.kind != "none"
        n = _norm(name)
        return bool(_WORDS.fullmatch(name)) and n not in _TYPE_KEYS | _TEXT_KEYS | _META | _MARKER_WORDS

    def bracket_mark(self, pos: int) -> bool:
        """Whether a `[` opens inline markup like `[Houston | LOC]` or `[Houston](LOC)`."""
        m = _BRACKET.match(self.text, pos) or _LINK.match(self.text, pos)
        label = self.label(m.group(2).split("&")[0]) if m else None
        return label is not None and label.kind != "none"

    # -- what the other families read: each reads through the others (a list's strings may be
    # lines, a line's `[...]` a value); values.py and lines.py fill these in.

    def value(self, v, f: _Found, depth: int = 0) -> None:
        raise NotImplementedError

    def typed(self, key: str, v, f: _Found) -> None:
        raise NotImplementedError

    def classify(self, line: str) -> tuple:
        raise NotImplementedError

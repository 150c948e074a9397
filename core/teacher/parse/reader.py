"""Reading the "dicts and JSON" family: one Python or JSON literal (`{...}`, `[...]`, `(...)`)
read forgivingly, with mixed or curly quotes, comments, trailing or missing commas, unquoted
words and doubled braces, and kept as far as it goes when the answer is cut off. Separate
because it is a tokenizer: it knows quotes and delimiters, not what a value means (values.py
and the line readers decide that).
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings

from core.teacher.parse.vocabulary import _DEPTH

# Quote classes: a string opened by any quote of a class is closed by one of the same class.
_DQ, _SQ = "\"\u201c\u201d", "'\u2018\u2019"
_CLASS = {q: cls for cls in (_DQ, _SQ) for q in cls}
_STRAIGHT = {_DQ: '"', _SQ: "'"}
# A quote closes a string if it is not backslash-escaped and a delimiter, a comment or (for a
# missing comma) another string follows; other quotes are text (`'O'Neil'`).
_UNESCAPED = r"(?<!\\)(?:\\\\)*"
_AFTER = r"(?=\s*(?:[,\]}:)]|#|//|\Z)|\s+['\"])"
_STRAY = {q: re.compile(f"({_UNESCAPED}){q}") for q in "'\""}
_WS = re.compile(r"\s*")
_KEY = re.compile(r"[A-Za-z_][\w-]*")
_BARE = {"}": re.compile(r"[^,\]}\n]*"), "]": re.compile(r"[^,\]}\n]*"), ")": re.compile(r"[^,\])}\n]*")}
_NULLS = {"None", "none", "null", "NULL", "Null"}


class _Eof(Exception):
    """The text ended inside a structure: the answer was cut off."""


class _Bad(Exception):
    """Something that does not fit a dict or list."""


class _Dict(list):
    """A read `{...}`: [key, value] pairs in order; `closed` once its `}` was read."""

    closed = False


class _List(list):
    """A read `[...]` or `(...)`; `closed` once its closer was read."""

    closed = False


class _Word(str):
    """An unquoted word."""


class _Json(str):
    """A double-quoted string: in JSON, where `null` is nothing, "None" is nothing too."""


_MISSING = object()


class _Quotes:
    """Where each quote class can close a string, found once for the whole text, so that every
    string is read by bisection and reading stays linear."""

    def __init__(self, text: str) -> None:
        self.straight, self.curly, self.every = {}, {}, {}
        for cls, q in _STRAIGHT.items():
            self.straight[cls] = [m.end() - 1 for m in re.finditer(_UNESCAPED + q + _AFTER, text)]
            self.curly[cls] = [m.start() for m in re.finditer(f"[{cls[1:]}]{_AFTER}", text)]
            self.every[cls] = [m.end() - 1 for m in _STRAY[q].finditer(text)]

    @staticmethod
    def _next(positions: list[int], after: int) -> int | None:
        k = bisect.bisect_right(positions, after)
        return positions[k] if k < len(positions) else None

    def closer(self, at: int, opener: str) -> tuple[int, bool] | None:
        """Where the string opened at `at` ends, and whether a curly quote ends it."""
        cls = _CLASS[opener]
        straight, curly = self._next(self.straight[cls], at), self._next(self.curly[cls], at)
        if curly is None:
            return (straight, False) if straight is not None else None
        if straight is None or opener not in "'\"":
            return (curly, True) if straight is None or curly < straight else (straight, False)
        if curly < straight:
            # A curly quote closes a straight one when the straight closer lies past the next
            # string's opening quote (`['Houston’], 'LOC'`), not when it is text (`'a’, b'`).
            after = self._next(self.every[cls], curly)
            if after is not None and after < straight:
                return curly, True
        return straight, False


class _Reader:
    """Reads one `{...}` or `[...]` value from `text[start]`, noting every repair.

    Containers are attached to their parent before they are filled, and strings when they
    close, so a cut-off answer keeps everything that was complete.
    """

    def __init__(self, text: str, start: int, quotes: _Quotes) -> None:
        self.s, self.i, self.quotes = text, start, quotes
        self.truncated = False
        self.clean_end = False  # cut off right after a complete item: only closers are missing
        self.problems: list[str] = []
        self.work = 0  # tokens looked at: what a failed try is charged

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def run(self) -> _Dict | _List | None:
        holder: list = []
        try:
            self.value(holder.append, 0)
        except _Eof:
            self.truncated, self.i = True, len(self.s)  # read to the end
        except _Bad:
            self.note("ignored unparsable text")
        return holder[0] if holder and isinstance(holder[0], (_Dict, _List)) else None

    def peek(self) -> str:
        """Skip whitespace and comments; the next character, or _Eof at the end of the text."""
        while True:
            self.work += 1
            self.i = _WS.match(self.s, self.i).end()
            if self.i >= len(self.s):
                raise _Eof
            c = self.s[self.i]
            if c == "#" or self.s.startswith("//", self.i):
                end = self.s.find("\n", self.i)
            elif self.s.startswith("/*", self.i):
                end = self.s.find("*/", self.i)
                end = end + 1 if end != -1 else -1
            else:
                return c
            self.note("comment")
            if end == -1:
                self.i = len(self.s)
                raise _Eof
            self.i = end + 1

    def value(self, attach, depth: int) -> None:
        if depth > _DEPTH:
            raise _Bad
        c = self.peek()
        if c == "{":
            obj = _Dict()
            attach(obj)
            self.i += 1
            if depth == 0 and self.peek() == "{":  # the paper's template prints `{{...}}`
                self.i += 1
                self.note("doubled braces")
            self.seq("}", lambda: self.pair(obj, depth))
            obj.closed = True
        elif c in "[(":
            items = _List()
            attach(items)
            self.i += 1
            closer = "]" if c == "[" else ")"
            self.seq(closer, lambda: self.value(items.append, depth + 1) if self.peek() in "{[("
                     else items.append(self.scalar(closer)))
            items.closed = True
        else:
            attach(self.scalar("}"))

    def seq(self, closer: str, read_one) -> None:
        """Items up to `closer`, forgiving trailing and missing commas."""
        while (c := self.peek()) != closer:
            if c == ",":
                self.i += 1
                if self.peek() == closer:
                    self.note("trailing comma")
                continue
            read_one()
            try:
                c = self.peek()
            except _Eof:
                self.clean_end = True
                raise
            if c not in (",", closer):
                self.note("missing comma")
        self.i += 1

    def pair(self, obj: _Dict, depth: int) -> None:
        if self.peek() in _CLASS:
            key = self.string()
        elif m := _KEY.match(self.s, self.i):
            self.i, key = m.end(), m.group()
            self.note("unquoted key")
        else:
            raise _Bad
        if self.peek() != ":":
            raise _Bad
        self.i += 1
        pair = [key, _MISSING]
        obj.append(pair)
        self.value(lambda v: pair.__setitem__(1, v), depth + 1)

    def scalar(self, closer: str) -> str | None:
        """A quoted string, None/null (-> None) or an unquoted word running to a delimiter."""
        c = self.peek()
        if c in _CLASS:
            return self.string()
        m = _BARE[closer].match(self.s, self.i)
        if m.end() == len(self.s):
            raise _Eof
        if not (word := m.group().strip()):
            raise _Bad
        self.i = m.end()
        return None if word in _NULLS else _Word(word)

    def string(self) -> str:
        """A quoted string up to its closing quote."""
        opener = self.s[self.i]
        found = self.quotes.closer(self.i, opener)
        if found is None:
            self.i = len(self.s)
            raise _Eof
        end, curly = found
        if curly or opener not in "'\"":
            self.note("curly quotes")
        raw = self.s[self.i + 1 : end]
        self.i = end + 1
        q = _STRAIGHT[_CLASS[opener]]
        fixed = _STRAY[q].sub(lambda m: m.group(1) + "\\" + q, raw)
        if fixed != raw:
            self.note("unescaped quote")
        text = _unescape(q, fixed)
        return _Json(text) if q == '"' else text


def _unescape(quote: str, raw: str) -> str:
    """Decode escapes as Python would (which also covers JSON's); raw text if that fails."""
    if "\\" not in raw:
        return raw  # nothing to decode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(quote + raw + quote)
        if isinstance(value, str):
            return value
    except Exception:  # noqa: BLE001 - any malformed escape falls back to the raw text
        pass
    return raw.replace("\\" + quote, quote)

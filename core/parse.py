"""Get the teacher's entity dict out of whatever an LLM wrote around it.

Small models wrap the dict in prose, code fences and chain-of-thought, mix quote styles, leave
trailing commas, rename the types or get cut off mid-string. `ast.literal_eval` on a guessed
substring fails on all of that, so this is a forgiving reader for the one shape we need,
`{type: [text, ...]}`, that notes every repair it makes. It never raises: how well the answer
parsed is reported through `Parsed.status`.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from dataclasses import dataclass, field

from core.labels import CONLL, LabelSchema

# A quote closes a string if it is not backslash-escaped and a delimiter (or, for a missing
# comma, another string) follows; other quotes are text (`'O'Neil'`). Escaped = after an odd
# run of backslashes.
_UNESCAPED = r"(?<!\\)(?:\\\\)*"
_CLOSER = {q: re.compile(_UNESCAPED + q + r"(?=\s*(?:[,\]}:]|\Z)|\s+['\"])") for q in "'\""}
_STRAY = {q: re.compile(f"({_UNESCAPED}){q}") for q in "'\""}
_WS = re.compile(r"\s*")
_KEY = re.compile(r"[A-Za-z_][\w-]*")
_BARE = re.compile(r"[^,\]}\n]*")  # an unquoted value runs to the next delimiter
_NULLS = {"None", "none", "null", "NULL", "Null"}
_DICT_LIKE = re.compile(r"\{\s*(?:\{\s*)?['\"]?\w+['\"]?\s*:")
_FENCE_OPEN = re.compile(r"```\w*\s*\Z")
_CURLY = str.maketrans("\u2018\u2019\u201c\u201d", "''\"\"")


@dataclass
class Parsed:
    entities: list[tuple[str, str]]
    status: str  # ok | repaired | truncated | empty | failed
    reasoning: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)  # keys not in the schema: their texts
    problems: list[str] = field(default_factory=list)
    types: tuple[str, ...] = CONLL.names  # the schema's types, in its order

    @property
    def unknown_types(self) -> list[str]:
        """Keys the answer used that the schema doesn't know (their texts are in `extra`)."""
        return list(self.extra)

    def as_dict(self) -> dict[str, list[str]]:
        """{type: [texts]} in the schema's order (other types after), only non-empty types."""
        out: dict[str, list[str]] = {}
        for etype, text in self.entities:
            out.setdefault(etype, []).append(text)
        rank = {t: n for n, t in enumerate(self.types)}
        return {t: out[t] for t in sorted(out, key=lambda t: rank.get(t, len(rank)))}


class _Eof(Exception):
    """The text ended inside the dict: the answer was cut off."""


class _Bad(Exception):
    """Something that does not fit the dict shape."""


class _Reader:
    """Reads `{key: [str, ...] | str | None, ...}` from `text[start]`, noting every repair.

    Pairs are recorded as soon as their key is read and strings as soon as they close, so a
    cut-off answer keeps everything that was complete. None/null values are kept as None.
    """

    def __init__(self, text: str, start: int, closers: dict[str, list[int]]):
        self.s, self.i, self.closers = text, start, closers
        self.pairs: list[tuple[str, list[str | None]]] = []
        self.complete = 0  # pairs whose value was read to its end
        self.truncated = False
        self.problems: list[str] = []

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def peek(self) -> str:
        """Skip whitespace and return the next character; _Eof at the end of the text."""
        self.i = _WS.match(self.s, self.i).end()
        if self.i >= len(self.s):
            raise _Eof
        return self.s[self.i]

    def run(self) -> bool:
        """Read the dict; True if it holds anything worth keeping (a clean `{}` counts)."""
        try:
            self.i += 1
            if self.peek() == "{":  # the paper's template prints `{{...}}`; the extra `}` is moot
                self.i += 1
                self.note("doubled braces")
            self.read_seq("}", self.read_pair)
            return True
        except _Eof:
            self.truncated = True
        except _Bad:
            self.note("ignored unparsable text")
        return self.complete > 0 or any(any(items) for _, items in self.pairs)

    def read_seq(self, closer: str, read_one) -> None:
        """Items up to `closer`, forgiving trailing and missing commas."""
        while (c := self.peek()) != closer:
            if c == ",":
                self.i += 1
                if self.peek() == closer:
                    self.note("trailing comma")
                continue
            read_one()
            if self.peek() not in (",", closer):
                self.note("missing comma")
        self.i += 1

    def read_pair(self) -> None:
        if self.peek() in "'\"":
            key = self.read_string()
        elif m := _KEY.match(self.s, self.i):
            self.i, key = m.end(), m.group()
            self.note("unquoted key")
        else:
            raise _Bad
        if self.peek() != ":":
            raise _Bad
        self.i += 1
        self.pairs.append((key, items := []))
        if self.peek() == "[":
            self.i += 1
            self.read_seq("]", lambda: items.append(self.read_scalar()))
        else:
            items.append(self.read_scalar())
            if items[0] is not None:
                self.note("string instead of list")
        self.complete += 1

    def read_scalar(self) -> str | None:
        """A quoted string, None/null (-> None) or an unquoted word running to a delimiter."""
        c = self.peek()
        if c in "'\"":
            return self.read_string()
        if c in "{[":
            raise _Bad
        m = _BARE.match(self.s, self.i)
        if m.end() == len(self.s):
            raise _Eof
        if not (word := m.group().strip()):
            raise _Bad
        self.i = m.end()
        if word in _NULLS:
            return None
        self.note("unquoted string")
        return word

    def read_string(self) -> str:
        """A quoted string up to its closing quote (found by bisection: linear overall)."""
        q, closers = self.s[self.i], self.closers[self.s[self.i]]
        k = bisect.bisect_right(closers, self.i)
        if k == len(closers):
            raise _Eof
        raw = self.s[self.i + 1 : closers[k]]
        self.i = closers[k] + 1
        fixed = _STRAY[q].sub(lambda m: m.group(1) + "\\" + q, raw)
        if fixed != raw:
            self.note("unescaped quote")
        return _unescape(q, fixed)


def _unescape(quote: str, raw: str) -> str:
    """Decode escapes as Python would (which also covers JSON's); raw text if that fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(quote + raw + quote)
        if isinstance(value, str):
            return value
    except Exception:  # noqa: BLE001 - any malformed escape falls back to the raw text
        pass
    return raw.replace("\\" + quote, quote)


def parse_answer(text: str, schema: LabelSchema = CONLL) -> Parsed:
    """The final entity dict in an LLM answer, keys resolved by the schema ('loc', 'Location',
    'PERSON', an alias, a plural); never raises, whatever the input."""
    try:
        return _parse(text if isinstance(text, str) else str(text or ""), schema)
    except Exception as exc:  # noqa: BLE001 - the contract is a status, not an exception
        return Parsed([], "failed", problems=[f"internal error: {exc!r}"], types=schema.names)


def _dicts(text: str) -> list[tuple[int, _Reader]]:
    """Every usable dict in the text, left to right, with where it starts."""
    closers = {q: [m.end() - 1 for m in rx.finditer(text)] for q, rx in _CLOSER.items()}
    found: list[tuple[int, _Reader]] = []
    budget = 20 * len(text) + 10_000  # text re-read by failed tries: keeps junk input linear
    start = text.find("{")
    while start != -1:
        reader = _Reader(text, start, closers)
        if reader.run():
            found.append((start, reader))
            if reader.truncated:
                break
            start = text.find("{", max(reader.i, start + 1))
        else:
            budget -= reader.i - start
            start = text.find("{", start + 1) if budget > 0 else -1
    return found


def _parse(text: str, schema: LabelSchema) -> Parsed:
    found, curly = _dicts(text), False
    if not found and (straight := text.translate(_CURLY)) != text:
        found, curly, text = _dicts(straight), True, straight
    if not found:
        status = "failed" if _DICT_LIKE.search(text) else "empty"
        return Parsed([], status, problems=["no dict found"] if text.strip() else [], types=schema.names)

    start, reader = found[-1]
    outside = text[:start] + text[reader.i :]  # a fence-like string inside the dict is data
    problems = (["code fence"] if "```" in outside else []) + (["curly quotes"] if curly else [])
    problems += reader.problems
    entities: list[tuple[str, str]] = []
    extra: dict[str, list[str]] = {}
    for key, items in reader.pairs:
        etype = schema.resolve(key)
        if etype not in (None, key):
            problems.append(f"mapped key {key!r} to {etype}")
        texts = [t.strip() for t in items if t and t.strip()]
        if etype is None:
            extra[key] = list(dict.fromkeys(extra.get(key, []) + texts))
        else:
            entities += [(etype, t) for t in texts]
    entities = list(dict.fromkeys(entities))  # de-duplicated, first occurrence's order
    extra = {key: texts for key, texts in extra.items() if texts}
    problems += [f"unknown type {key}" for key in extra]  # its entities are lost to training
    status = "truncated" if reader.truncated else "repaired" if problems else "ok"
    reasoning = _FENCE_OPEN.sub("", text[:start]).strip()
    return Parsed(entities, status, reasoning, extra, problems, schema.names)


def format_answer(entities: dict[str, list[str]]) -> str:
    """The canonical one-line Python-literal dict the paper's prompts show as answers."""
    parts = []
    for key, values in entities.items():
        items = [values] if isinstance(values, str) else [str(v) for v in values or []]
        parts.append(f"{key!r}: {items!r}")
    return "{" + ", ".join(parts) + "}"

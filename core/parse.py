"""Get the teacher's entities out of whatever an LLM wrote.

The prompt asks for a dict, `{type: [text, ...]}`, but real models answer in many shapes
(collected from public issue trackers; tests/test_parse_shapes.py has a row a shape, each with
its source):
- the dict itself, wrapped in prose, code fences or chain-of-thought, with mixed or curly
  quotes, `#`/`//` comments, trailing or missing commas, unquoted words, `"PER": "a, b"`
  strings, doubled braces, or cut off;
- objects: `[{"text": ..., "type": ...}]`, `{"entities": [...]}`, langextract's
  `extractions`, Promptify's `{"T": ..., "E": ...}`; inverted dicts (`{"Houston": "LOC"}`);
- `(text, label)` tuples (token tags with `O` and `B-`/`I-` too) and `[label, [texts]]`;
- lines: `PER: a, b` (spacy-llm NER.v1/v2), `PER: ["a", "b"]`, bullets and markdown
  (`- PER: ...`, `* **PER**: ...`), a type heading over a bullet list, spacy-llm NER.v3's
  `1. Houston | True | LOC | reason`, tables, `Houston (LOC)`, `PERSON (Suzuko Mimori)`;
- inline markup: `[Houston](LOC)`, `<PER>Orlando Miller</PER>`, GPT-NER's `@@Houston##`
  (typed only when the schema has one type).
Types and aliases come from the label schema (`LabelSchema.resolve`).

The answer is the first complete one, not the last dict: reasoning before a `Result:` or
`Answer:` line (or a `</think>`) is passed over, a later copy is ignored, and so is anything
after a new few-shot `Sentence:` line (an invented next example). It never raises, and it is
linear in the length of the text: every failed try at a structure is charged to a budget.

`Parsed.status` says what was recovered:
- ok: entities, or an explicit empty answer (`{}`, `{'PER': []}`), read in the asked shape;
- repaired: the same after repairs, or in another shape; `problems` names each;
- truncated: the answer was cut off; what was complete is kept;
- empty: the answer says in words that there are no entities;
- unreadable: no answer could be read, a parse failure (older runs stored `failed`).
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from dataclasses import dataclass, field

from core.labels import CONLL, LabelSchema

SUCCESS = ("ok", "repaired", "truncated")  # statuses with entities or an explicit empty answer read
NO_TEXT = {"none", "null", "nil", "n/a", "na", "nan", "-"}  # a type's only "text" that means: nothing
STATUSES = (*SUCCESS, "empty", "unreadable")  # best first

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
_FENCE_OPEN = re.compile(r"```\w*\s*\Z")
_START = re.compile(r"[\[{]")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_DEPTH = 8

# Field names, compared without case, spaces, `_` and `-`.
_TYPE_KEYS = {"type", "label", "entitytype", "entitylabel", "category", "class", "tag", "nertag", "t",
              "extractionclass", "classname", "entitygroup", "kind", "entityclass", "labeltype"}
_TEXT_KEYS = {"text", "entity", "mention", "name", "span", "word", "value", "e", "w", "extractiontext",
              "string", "surface", "token", "entitytext", "phrase", "entityname", "spantext", "content"}
_WRAPPERS = {"entities", "namedentities", "extractions", "results", "result", "output", "answer",
             "annotations", "spans", "mentions", "items", "data", "predictions", "ner", "response",
             "entitylist", "labels", "finalanswer"}
_META = {"reasoning", "reason", "explanation", "thoughts", "thought", "notes", "note", "comment",
         "sentence", "confidence", "score", "id", "start", "end", "startchar", "endchar", "startpos",
         "endpos", "charinterval", "attributes", "isentity", "offset", "offsets", "index", "source",
         "probability", "classprobability", "justification", "context", "description", "input"}
_MARKER_WORDS = {"result", "results", "answer", "finalanswer", "finalresult", "output", "entities",
                 "namedentities", "prediction", "response", "extractedentities", "final"}
_NOT_ENTITY = {"o", "none", "==none==", "null", "nil", "na", "n/a", "noentity", "notanentity", "nan"}
_NONE_VALUE = re.compile(r"(?i)\s*(?:none|null|nil|n/?a|-+|—|\[\s*\]|nothing|no entities|not found"
                         r"|not applicable)?\s*\.?\s*")
_TYPE_LIKE = re.compile(r"[A-Z][A-Z0-9_]{1,30}")
_BIO = re.compile(r"([BIES])[-_](.+)")

# Lines.
_BULLET = re.compile(r"[ \t]*(?:[-*\u2022+>]|\d{1,3}[.)]|\(\d{1,3}\))[ \t]+")
_COLON = re.compile(r"([^:\n]{1,60}?)\s*:\s*(.*)")
_LABEL_PREFIX = re.compile(r"\s*(?:[-*\u2022+]\s+|\d{1,3}[.)]\s+)?[*_#\s]*([^:\n\[\]{}]{1,60}?)[*_\s]*:\s*")
_PAREN = re.compile(r"(.{1,200}?)\s*[(\[]\s*([^()\[\]]{1,60}?)\s*[)\]]\s*\.?")
_PAREN_SPLIT = re.compile(r"\s*[;,]\s*(?![^()\[\]]*[)\]])")
_ARROW = re.compile(r"(.{1,120}?)\s+(?:->|=>|\u2192|\u2014|\u2013|-)\s+([\w .]{1,40}?)\s*\.?")
_SEPARATOR = re.compile(r"\|?\s*:?-{3,}.*")
_WORDS = re.compile(r"[A-Za-z][A-Za-z]*(?: [A-Za-z]+){0,2}")
_LABEL_JUNK = " \t*_`'\"#[]()="
_ITEM_JUNK = " \t*`"
_PAIRED = re.compile(r"(['\"\u2018\u201c])(.*)(['\"\u2019\u201d])\Z", re.S)
_TAIL = re.compile(r"(?:\s+\([^()]*\)|\s+[-\u2013\u2014]\s.*|\s*:\s.*)\Z")
_MAX_LINE = 1000

# Inline markup, answer markers, few-shot headers, answers in words.
_LINK = re.compile(r"\[([^\[\]\n]{1,200})\]\(([^()\n]{1,80})\)")
_BRACKET = re.compile(r"\[([^\[\]|\n]{1,200})\|\s*([^\[\]|\n]{1,40})\]")
_TAG = re.compile(r"<([A-Za-z][\w-]{0,30})>([^<>\n]{1,200})</\1\s*>")
_GPTNER = re.compile(r"@@([^@#\n]{1,200}?)##")
_MARKER = re.compile(r"(?im)^[ \t>*#_-]*(?:final\s+)?(?:result|answer|output|(?:named\s+)?entities"
                     r"|prediction|response)s?[ \t*_]*:|</think>")
_HEADER = re.compile(r"(?m)^[ \t]*(?:Sentence|Text|Paragraph|Input|Passage)[ \t]*:")
_NO_ENTITIES = re.compile(
    r"(?im)\b(?:no|zero|nothing|not\s+(?:find|found|identify|detect|see|contain|any)"
    r"|n't\s+(?:find|identify|detect|see|contain|any))\b[^\n]{0,60}?\b(?:entit|names?\b|mentions?\b)"
    r"|^[ \t*]*(?:(?:final\s+)?(?:answer|result|output|entities)[ \t*]*:[ \t*]*)?"
    r"(?:none|n/?a|nothing|no|null|nil)[ \t]*[.!]?[ \t*]*$")


@dataclass
class Parsed:
    entities: list[tuple[str, str]]
    status: str  # ok | repaired | truncated | empty | unreadable
    reasoning: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)  # keys not in the schema: their texts
    problems: list[str] = field(default_factory=list)
    types: tuple[str, ...] = CONLL.names  # the schema's types, in its order
    mentions: list[tuple[str, str]] = field(default_factory=list)  # `entities` in answer order, repeats kept

    @property
    def unknown_types(self) -> list[str]:
        """Keys the answer used that the schema doesn't know (their texts are in `extra`)."""
        return list(self.extra)

    @property
    def repairs(self) -> list[str]:
        """Each kind of problem once, without its particulars ('mapped key', 'unknown type')."""
        return list(dict.fromkeys(repair_kind(p) for p in self.problems))

    def as_dict(self) -> dict[str, list[str]]:
        """{type: [texts]} in the schema's order (other types after), only non-empty types."""
        out: dict[str, list[str]] = {}
        for etype, text in self.entities:
            out.setdefault(etype, []).append(text)
        rank = {t: n for n, t in enumerate(self.types)}
        return {t: out[t] for t in sorted(out, key=lambda t: rank.get(t, len(rank)))}


def repair_kind(problem: str) -> str:
    """'mapped key 'loc' to LOC' -> 'mapped key'; 'unknown type DATE' -> 'unknown type'."""
    for kind in ("mapped key", "unknown type"):
        if problem.startswith(kind):
            return kind
    return problem


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


def _norm(key: str) -> str:
    return re.sub(r"[\s_-]+", "", key).lower()


@dataclass
class _Found:
    """One candidate answer: where it is and what it says."""

    start: int
    end: int
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (the answer's type name, text)
    empty: bool = False  # an explicit empty answer (or an empty type) was read
    truncated: bool = False
    clean_end: bool = False
    problems: list[str] = field(default_factory=list)
    record: bool = False  # a lone entity object: joined with the objects right after it

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    @property
    def understood(self) -> bool:
        return bool(self.pairs) or self.empty


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

    # -- what a read value says ---------------------------------------------------------

    def value(self, v, f: _Found, depth: int = 0) -> None:
        if depth > _DEPTH:
            return
        if isinstance(v, _Dict):
            self.dict_(v, f, depth)
        elif isinstance(v, _List):
            self.list_(v, f, depth)

    def dict_(self, obj: _Dict, f: _Found, depth: int) -> None:
        pairs = [(k, v) for k, v in obj if v is not _MISSING]
        if not pairs:
            f.empty |= obj.closed
            return
        if self.record(pairs, f):
            f.record |= depth == 0
            return
        inverted = any(isinstance(v, str) and not self.resolve(k) and (lab := self.label(v)) is not None
                       and lab.kind == "type" for k, v in pairs)
        if depth == 0 and len(pairs) == 1 and isinstance(pairs[0][1], str):
            f.record = True  # `{"person": "Orlando Miller"}`: one of a run of lone objects
        for key, v in pairs:
            n = _norm(key)
            if self.resolve(key):
                self.typed(key, v, f)
            elif n in _WRAPPERS and isinstance(v, (_Dict, _List)):
                f.note("wrapper key")
                self.value(v, f, depth + 1)
            elif inverted and isinstance(v, str) and (lab := self.label(v)) is not None:
                f.note("inverted dict")
                if lab.kind != "none" and key.strip():
                    f.pairs.append((lab.key, key.strip()))
                f.empty = True
            elif n in _META | _TEXT_KEYS | _TYPE_KEYS or n.endswith("attributes"):
                continue
            elif self.label(key) is not None or (isinstance(v, _List) and any(isinstance(t, str) for t in v)):
                self.typed(key, v, f)  # an unknown type (`DATE`): its texts go to `extra`

    def record(self, pairs: list, f: _Found) -> bool:
        """An entity object (`{"text": ..., "type": ...}` and its many spellings), if it is one."""
        fields = _TYPE_KEYS | _TEXT_KEYS | _META
        if sum(_norm(k) not in fields and not _norm(k).endswith("attributes") for k, _ in pairs) > 1:
            return False  # an object of field names, at most one other (not `{"w": ..., "if": ...}`)
        scalars = [(k, v) for k, v in pairs if isinstance(v, str)]
        by_key = next(((k, v) for k, v in scalars if _norm(k) in _TYPE_KEYS), None)
        by_value = next(((k, v) for k, v in scalars if _norm(k) not in _META
                         and (lab := self.label(v)) is not None and lab.kind == "type"), None)
        typed = by_key if by_key and self.label(by_key[1]) else by_value or by_key
        if typed is None:
            return False
        texts = [(k, v) for k, v in pairs if _norm(k) in _TEXT_KEYS and (k, v) != typed
                 and isinstance(v, (str, _List))]
        if not texts:
            return False
        flag = next((v for k, v in pairs if _norm(k) == "isentity" and isinstance(v, str)
                     and v.strip().lower() in ("false", "no")), None)
        label = self.label(typed[1])
        if flag is not None or label is not None and label.kind == "none":
            f.empty = True
            return True
        key = label.key if label is not None else typed[1].strip()  # else an unknown type
        value = texts[0][1]
        for text in ([value] if isinstance(value, str) else [t for t in value if isinstance(t, str)]):
            if text.strip() and key:
                f.pairs.append((key, text.strip()))
        f.empty = True
        return True

    def typed(self, key: str, v, f: _Found) -> None:
        """The texts of one type's value: a list, a string (split at commas), null, objects."""
        if v is None:
            f.empty = True
            return
        texts: list[str] = []
        if isinstance(v, str):
            if _NONE_VALUE.fullmatch(v):
                f.empty = True
                return
            f.note("string instead of list")
            texts = [v]
            if re.search(r"[,;]\s", v):
                texts = re.split(r"[,;]\s+", v)
                f.note("comma-split string")
        elif isinstance(v, _List) and len(v) == 1 and isinstance(v[0], (_Json, _Word)) \
                and v[0].strip().lower() in NO_TEXT:
            f.empty = True  # `["None"]` (a Python literal has `[None]` for that: `['None']` is a text)
        elif isinstance(v, (_List, _Dict)):
            items = [v] if isinstance(v, _Dict) else list(v)
            for item in items:
                if isinstance(item, str):
                    texts.append(item)
                elif isinstance(item, _Dict):
                    texts += [t for k, t in item if _norm(k) in _TEXT_KEYS and isinstance(t, str)][:1]
                elif isinstance(item, _List):
                    texts += [t for t in item if isinstance(t, str)]
            f.empty |= getattr(v, "closed", False)
        for text in texts:
            if isinstance(text, _Word):
                f.note("unquoted string")
            if text.strip():
                f.pairs.append((key, text.strip()))

    def list_(self, items: _List, f: _Found, depth: int) -> None:
        present = [x for x in items if x is not None]
        if not present:
            f.empty |= items.closed
            return
        rows = []
        for x in present:
            if isinstance(x, _Dict):
                f.note("list of objects")
                self.dict_(x, f, depth + 1)
            elif isinstance(x, _List):
                if x and all(isinstance(y, (_Dict, _List)) for y in x):
                    self.list_(x, f, depth + 1)
                else:
                    rows.append(x)
            elif isinstance(x, str) and len(x) <= _MAX_LINE:
                kind = self.classify(x)
                if kind[0] == "pairs":
                    f.note("typed strings")
                    f.pairs += kind[1]
                elif kind[0] == "typed" and kind[2]:
                    f.note("typed strings")
                    f.pairs += [(kind[1], t) for t in _split(kind[2])]
        if rows:
            self.tuples(rows, f)

    def tuples(self, rows: list[_List], f: _Found) -> None:
        """`(text, label)` in either order, token tags with O and B-/I-, `[label, [texts]]`."""
        tags: list[tuple[_Label, str]] = []
        votes: dict[int, int] = {}  # where the label stands in rows where only one element is a type
        for row in rows:
            typed = [i for i, y in enumerate(y for y in row if isinstance(y, str))
                     if (lab := self.label(y)) is not None and lab.kind != "other"]
            if len(typed) == 1:
                votes[typed[0]] = votes.get(typed[0], 0) + 1
        usual = max(votes, key=votes.get) if votes else None
        for row in rows:
            scalars = [y for y in row if isinstance(y, str)]
            lists = [y for y in row if isinstance(y, _List)]
            if len(scalars) == 1 and len(lists) == 1:
                if (label := self.label(scalars[0])) is not None:
                    f.note("label lists")
                    f.empty = True
                    if label.kind != "none":
                        f.pairs += [(label.key, t.strip()) for t in lists[0]
                                    if isinstance(t, str) and t.strip()]
                continue
            labels = [(i, lab) for i, y in enumerate(scalars) if (lab := self.label(y)) is not None]
            best = (next((x for x in labels if x[0] == usual and x[1].kind != "other"), None)
                    or next((x for x in labels if x[1].kind == "type"), None)
                    or next((x for x in labels if x[1].kind == "none"), None)
                    or (labels[-1] if labels else None))
            if best is None:
                continue
            text = next((y for i, y in enumerate(scalars) if i != best[0] and not _NUMBER.fullmatch(y)), None)
            if text is not None and text.strip():
                tags.append((best[1], text.strip()))
        if not tags:
            return
        f.note("tuples")
        f.empty = True
        tagged = any(lab.kind == "none" for lab, _ in tags) or any(lab.prefix for lab, _ in tags)
        merged: list[list[str]] = []
        previous: str | None = None
        for lab, text in tags:
            if lab.kind == "none":
                previous = None
                continue
            joins = lab.prefix == "I" or (tagged and not lab.prefix and not any(x.prefix for x, _ in tags))
            if joins and previous == lab.key and merged:
                merged[-1][1] += " " + text
                f.note("token tags merged")
            else:
                merged.append([lab.key, text])
            previous = lab.key
        f.pairs += [(k, t) for k, t in merged]

    # -- lines ------------------------------------------------------------------------------

    def classify(self, line: str) -> tuple:
        """What one line says: blank, neutral, marker, header, typed, pairs, negative, item, prose."""
        body = line.strip()
        if not body:
            return ("blank",)
        bulleted = False
        if m := _BULLET.match(body):
            body, bulleted = body[m.end():], True
        body = body.replace("**", "").replace("__", "").strip()
        if body.startswith("#"):
            body = body.lstrip("#").strip()
            if (label := self.label(body.rstrip(":"))) is not None and label.kind == "type":
                return ("header", label.key)
        if not body:
            return ("blank",)
        if len(body) > _MAX_LINE:
            m = _COLON.match(body)
            label = self.label(m.group(1)) if m else None
            return ("typed", label.key, m.group(2)) if label and label.kind == "type" else ("prose",)
        if _SEPARATOR.fullmatch(body):
            return ("neutral",)
        m = _COLON.fullmatch(body)
        if m and _norm(m.group(1).strip(_LABEL_JUNK)) in _MARKER_WORDS:
            return ("marker", m.group(2).strip())  # `Result: ...`: what follows is read on its own
        if _BRACKET.search(body) or _LINK.search(body) or _TAG.search(body):
            return ("prose",)  # inline markup (`[Houston | LOC]`), read as such
        if "|" in body:
            return self.pipe(body)
        if m:
            name, rest = m.group(1).strip(_LABEL_JUNK), m.group(2).strip()
            label = self.label(name)
            if label is not None and label.kind == "type":
                return ("typed", label.key, rest)
            if rest and (value := self.label(rest.rstrip("."))) is not None and value.kind == "type" \
                    and len(name.split()) <= 10 and _norm(name) not in _TYPE_KEYS | _TEXT_KEYS | _META:
                return ("pairs", [(value.key, name)], "inverted lines")
            if label is not None and label.kind == "other" or rest[:1] == "[" and self.names_type(name):
                return ("typed", label.key if label is not None else name, rest)  # `Dates: []`
        if pairs := self.paren(body):
            return ("pairs", pairs, "paren lines")
        if (m := _ARROW.fullmatch(body)) and (label := self.label(m.group(2))) is not None \
                and label.kind == "type" and len(m.group(1).split()) <= 10:
            return ("pairs", [(label.key, _item(m.group(1)))], "paren lines")
        if bulleted:
            return ("item", body)
        return ("prose",)

    def pipe(self, body: str) -> tuple:
        """spacy-llm NER.v3's `Houston | True | LOC | reason`, or a table row `| Houston | LOC |`."""
        cells = [_item(c) for c in body.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].lower() in ("true", "false"):
            label = self.label(cells[2])
            if cells[1].lower() == "false" or label is None or label.kind == "none":
                return ("negative",)
            return ("pairs", [(label.key, cells[0])] if cells[0] else [], "pipe lines")
        labels = [(i, lab) for i, c in enumerate(cells) if (lab := self.label(c)) is not None]
        best = (next((x for x in labels if x[1].kind == "type" and x[0] > 0), None)
                or next((x for x in labels if x[1].kind == "type"), None)
                or next((x for x in labels if x[0] > 0), None))
        if best is None:
            return ("neutral",)
        if best[1].kind == "none":
            return ("negative",)
        text = next((c for i, c in enumerate(cells) if i != best[0] and c), None)
        return ("pairs", [(best[1].key, text)], "pipe lines") if text else ("neutral",)

    def paren(self, body: str) -> list[tuple[str, str]]:
        """`Houston (LOC), Todd (PER)` or `PERSON (Suzuko Mimori)`."""
        if len(body) > 400 or "(" not in body and "[" not in body:
            return []
        out = []
        for piece in _PAREN_SPLIT.split(body):
            if not (m := _PAREN.fullmatch(piece)):
                return []
            a, b = _item(m.group(1)), m.group(2).strip()
            if (label := self.label(b)) is not None and label.kind != "none" and 0 < len(a.split()) <= 10:
                out.append((label.key, a))
            elif (label := self.label(a)) is not None and label.kind == "type":
                out.append((label.key, _item(b)))
            else:
                return []
        return out


def _item(text: str) -> str:
    """A line's item without markdown, a quote pair around it or an explanation after it."""
    text = _TAIL.sub("", text.strip(_ITEM_JUNK)).strip(_ITEM_JUNK)
    if (m := _PAIRED.match(text)) and _CLASS[m.group(1)] == _CLASS[m.group(3)]:
        text = m.group(2).strip()
    return text


def _split(rest: str) -> list[str]:
    """`Orlando Miller, Todd Stottlemyre.` -> the items."""
    items = [x.strip(_ITEM_JUNK) for x in re.split(r"[,;]", rest)]
    if items and items[-1].endswith(".") and items[-1].count(".") == 1:
        items[-1] = items[-1][:-1]  # the line's full stop (a name's own stop comes back in alignment)
    return [_item(x) for x in items if x and not _NONE_VALUE.fullmatch(x)]


def parse_answer(text: str, schema: LabelSchema = CONLL) -> Parsed:
    """The entities in an LLM answer, keys resolved by the schema ('loc', 'Location',
    'PERSON', an alias, a plural); never raises, whatever the input."""
    try:
        return _parse(text if isinstance(text, str) else str(text or ""), schema)
    except Exception as exc:  # noqa: BLE001 - the contract is a status, not an exception
        return Parsed([], "unreadable", problems=[f"internal error: {exc!r}"], types=schema.names)


def _structured(ctx: _Context) -> tuple[list[_Found], int | None]:
    """Every understood `{...}` or `[...]`, left to right, and where a read ran off the end."""
    text, found, cut = ctx.text, [], None
    budget = 2 * len(text) + 10_000  # the work of failed tries: keeps junk input linear
    pos = 0
    while budget > 0 and (m := _START.search(text, pos)):
        start = m.start()
        if ctx.after_label(start) or ctx.bracket_mark(start):
            pos = start + 1
            continue
        reader = _Reader(text, start, ctx.quotes)
        value = reader.run()
        f = _Found(start, reader.i, truncated=reader.truncated, clean_end=reader.clean_end,
                   problems=list(reader.problems))
        if value is not None:
            ctx.value(value, f)
        if reader.truncated and cut is None:
            cut = start
        if f.understood and not reader.truncated:
            found.append(f)
            pos = max(reader.i, start + 1)
            continue
        if f.understood:  # cut off: its parts are read again, in case one of them is the answer
            found.append(f)
        budget -= reader.i - start + reader.work
        pos = start + 1
    # A cut-off structure runs to the end, so it holds every later one. If one of those says the
    # same and is complete (`[` then the dict), the cut-off one is junk around it; otherwise the
    # later ones are just its parts.
    i = 0
    while i < len(found):
        if not found[i].truncated:
            i += 1
        elif found[i].clean_end and any(not f.truncated and f.pairs == found[i].pairs
                                        for f in found[i + 1 :]):
            del found[i]
        else:
            del found[i + 1 :]
            break
    return found, cut


def _lines(ctx: _Context, spans: list[_Found]) -> list[_Found]:
    """Blocks of answer lines outside the structures already read."""
    text, blocks = ctx.text, []
    block: _Found | None = None
    header: str | None = None
    pos, k = 0, 0

    def add(kind: tuple, start: int, end: int) -> None:
        nonlocal block, header
        tag = kind[0]
        if tag in ("blank", "neutral"):
            return
        if tag in ("prose", "marker") or (tag == "item" and header is None):
            block, header = None, None
            if tag == "marker" and kind[1]:
                add(ctx.classify(kind[1]), start, end)
            return
        if block is None:
            block = _Found(start, end)
            blocks.append(block)
        block.end = end
        if tag == "header":
            header = kind[1]
            block.empty = True
            block.note("line format")
        elif tag == "typed":
            block.note("line format")
            rest = kind[2].strip()
            header = None if rest else kind[1]
            if rest[:1] in ("[", "{", "("):
                at = text.find(rest[0], start, end)
                reader = _Reader(text, at, ctx.quotes)
                value, before = reader.run(), len(block.pairs)
                if ctx.resolve(kind[1]) is None:  # `Output: [...]` may hold typed objects of its own
                    ctx.value(value, block)
                if len(block.pairs) == before:
                    ctx.typed(kind[1], value, block)  # a cut-off list is no empty answer
                block.truncated |= reader.truncated
                for problem in reader.problems:
                    block.note(problem)
            else:
                block.empty = True
                block.pairs += [(kind[1], t) for t in _split(rest)]
        elif tag == "pairs":
            header = None
            block.note(kind[2])
            block.empty = True
            block.pairs += kind[1]
        elif tag == "negative":
            block.note("pipe lines")
            block.empty = True
        elif tag == "item":
            item = _item(kind[1])
            if item and not _NONE_VALUE.fullmatch(item):
                block.pairs.append((header, item))

    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        while k < len(spans) and spans[k].end <= pos:
            k += 1
        inside = k < len(spans) and spans[k].start < end
        add(("prose",) if inside else ctx.classify(text[pos:end]), pos, end)
        pos = end + 1
    return [b for b in blocks if b.understood]


def _inline(ctx: _Context, spans: list[_Found], bounds: list[int]) -> list[_Found]:
    """`[Houston](LOC)`, `<PER>...</PER>` and `@@...##` marks, one candidate a segment."""
    hits: list[tuple[int, int, str | None, str]] = []
    for rx, kind, text in ((_LINK, 2, 1), (_BRACKET, 2, 1), (_TAG, 1, 2)):  # the type's group, the text's
        for m in rx.finditer(ctx.text):
            label = ctx.label(m.group(kind).split("&")[0])  # `[Alexander](PERSON&Alexander)`
            if label is not None and label.kind != "none":
                hits.append((m.start(), m.end(), label.key, m.group(text)))
    for m in _GPTNER.finditer(ctx.text):
        hits.append((m.start(), m.end(), ctx.one_type, m.group(1)))
    starts = [s.start for s in spans]
    out: dict[int, _Found] = {}
    for start, end, key, text in sorted(hits):
        k = bisect.bisect_right(starts, start) - 1
        if k >= 0 and spans[k].end > start:
            continue
        segment = bisect.bisect_right(bounds, start)
        f = out.setdefault(segment, _Found(start, end))
        f.end = max(f.end, end)
        f.note("inline markup")
        if key is None:
            f.note("untyped markup")
        elif text.strip():
            f.pairs.append((key, text.strip()))
    return [f for f in out.values() if f.pairs]


def _joined(found: list[_Found], text: str) -> list[_Found]:
    """Lone entity objects one after another (one a line, or comma-separated) are one answer."""
    out: list[_Found] = []
    for f in found:
        last = out[-1] if out else None
        if (last is not None and last.record and f.record and not last.truncated
                and re.fullmatch(r"[\s,;\-*\u2022\d.]*", text[last.end : f.start])):
            last.pairs += f.pairs
            last.end, last.truncated = f.end, f.truncated
            for problem in ["list of objects", *f.problems]:
                last.note(problem)
        else:
            out.append(f)
    return out


def _choose(ctx: _Context, found: list[_Found], lo: int, hi: int,
            cut: int | None) -> tuple[_Found, list[str]]:
    """The answer among a segment's candidates: the first complete one after the last answer
    marker, preferring entities of the schema's types, then other types, then an empty answer."""
    spans = [(f.start, f.end) for f in found]
    markers = [m for m in _MARKER.finditer(ctx.text, lo, hi)
               if not any(s < m.start() < e for s, e in spans)]
    notes: list[str] = []
    after = found
    if markers:
        mark = markers[-1]
        after = [f for f in found if f.start >= mark.end()]

    def rank(f: _Found) -> int:
        return 0 if ctx.known(f) else 1 if f.pairs else 2

    complete = [f for f in after if not f.truncated]
    if complete:
        chosen = min(complete, key=lambda f: (rank(f), f.start))
    elif after:
        chosen = min(after, key=lambda f: (rank(f), f.start))
    else:  # nothing readable after the marker: the last complete answer before it
        before = [f for f in found if not f.truncated] or found
        chosen = min(before, key=lambda f: (rank(f), -f.start))
        if cut is not None and markers and cut >= markers[-1].end():
            chosen.truncated = True
            notes.append("final answer cut off")
    if any(f.start > chosen.start for f in after if f is not chosen):
        notes.append("ignored a later answer")
    return chosen, notes


def _parse(text: str, schema: LabelSchema) -> Parsed:
    ctx = _Context(text, schema)
    structured, cut = _structured(ctx)
    bounds = sorted({m.start() for m in _HEADER.finditer(text)} - {0})
    found = _joined(sorted(structured + _lines(ctx, structured) + _inline(ctx, structured, bounds),
                           key=lambda f: f.start), text)
    if found:  # the first segment (between few-shot headers) with a candidate holds the answer
        segment = bisect.bisect_right(bounds, found[0].start)
        lo = bounds[segment - 1] if segment else 0
        hi = bounds[segment] if segment < len(bounds) else len(text) + 1
        if not _NO_ENTITIES.search(text, 0, lo):  # unless an earlier one said there are none
            here = [f for f in found if f.start < hi]
            chosen, notes = _choose(ctx, here, lo, hi, cut)
            if len(here) < len(found):
                notes.append("ignored a next example")
            return _result(ctx, chosen, notes)
    if _NO_ENTITIES.search(text):
        return Parsed([], "empty", types=schema.names)
    if not text.strip():
        problem = "blank answer"
    elif cut is not None:
        problem = "cut off before any entity"
    else:
        problem = "no answer found"
    return Parsed([], "unreadable", problems=[problem], types=schema.names)


def _result(ctx: _Context, chosen: _Found, notes: list[str]) -> Parsed:
    text, schema = ctx.text, ctx.schema
    outside = text[: chosen.start] + text[chosen.end :]  # a fence-like string inside is data
    problems = ["code fence"] if "```" in outside else []
    problems += chosen.problems + notes
    entities: list[tuple[str, str]] = []
    extra: dict[str, list[str]] = {}
    for key, item in chosen.pairs:
        etype = ctx.resolve(key)
        if etype not in (None, key):
            problems.append(f"mapped key {key!r} to {etype}")
        item = item.strip()
        if not item:
            continue
        if etype is None:
            extra.setdefault(key, [])
            if item not in extra[key]:
                extra[key].append(item)
        else:
            entities.append((etype, item))
    mentions, entities = entities, list(dict.fromkeys(entities))  # de-duplicated, first one's order
    problems += [f"unknown type {key}" for key in extra]  # its entities are lost to training
    problems = list(dict.fromkeys(problems))
    status = "truncated" if chosen.truncated else "repaired" if problems else "ok"
    reasoning = _FENCE_OPEN.sub("", text[: chosen.start]).strip()
    return Parsed(entities, status, reasoning, extra, problems, schema.names, mentions)


def format_answer(entities: dict[str, list[str]]) -> str:
    """The canonical one-line Python-literal dict the paper's prompts show as answers."""
    parts = []
    for key, values in entities.items():
        items = [values] if isinstance(values, str) else [str(v) for v in values or []]
        parts.append(f"{key!r}: {items!r}")
    return "{" + ", ".join(parts) + "}"

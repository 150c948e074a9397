"""What a read value says, the other half of the "dicts and JSON" family: `{type: [texts]}`
dicts (with wrappers, inverted dicts and unknown types), entity objects and records, a type's
value (a list, a comma-split string, null), lists of objects or typed strings, `(text, label)`
tuples and token tags. Separate from reader.py because this is about meaning, read through
the label schema, while the reader only tokenizes.
"""

from __future__ import annotations

import re

from core.teacher.parse.context import _Context, _Label
from core.teacher.parse.lines import _split
from core.teacher.parse.reader import _MISSING, _Dict, _Json, _List, _Word
from core.teacher.parse.result import _Found
from core.teacher.parse.vocabulary import (
    _DEPTH,
    _MAX_LINE,
    _META,
    _NONE_VALUE,
    _TEXT_KEYS,
    _TYPE_KEYS,
    _WRAPPERS,
    NO_TEXT,
    _norm,
)

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


class _ValueReading(_Context):
    """Reads the values reader.py read; a list's strings are classified as lines."""

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

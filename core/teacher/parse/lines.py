"""Reading the "lines" family: `PER: a, b`, `PER: ["a", "b"]`, bullets and markdown, a type
heading over a bullet list, spacy-llm NER.v3's pipe lines, tables, `Houston (LOC)`,
`PERSON (Suzuko Mimori)` and `Houston -> LOC`. Separate because it reads the answer a line at
a time, outside the structures reader.py read, where the others read spans of characters.
"""

from __future__ import annotations

import re

from core.teacher.parse.context import _Context
from core.teacher.parse.reader import _CLASS, _Reader
from core.teacher.parse.result import _Found
from core.teacher.parse.vocabulary import (
    _BRACKET,
    _LABEL_JUNK,
    _LINK,
    _MARKER_WORDS,
    _MAX_LINE,
    _META,
    _NONE_VALUE,
    _TAG,
    _TEXT_KEYS,
    _TYPE_KEYS,
    _norm,
)

_BULLET = re.compile(r"[ \t]*(?:[-*\u2022+>]|\d{1,3}[.)]|\(\d{1,3}\))[ \t]+")
_COLON = re.compile(r"([^:\n]{1,60}?)\s*:\s*(.*)")
_PAREN = re.compile(r"(.{1,200}?)\s*[(\[]\s*([^()\[\]]{1,60}?)\s*[)\]]\s*\.?")
_PAREN_SPLIT = re.compile(r"\s*[;,]\s*(?![^()\[\]]*[)\]])")
_ARROW = re.compile(r"(.{1,120}?)\s+(?:->|=>|\u2192|\u2014|\u2013|-)\s+([\w .]{1,40}?)\s*\.?")
_SEPARATOR = re.compile(r"\|?\s*:?-{3,}.*")
_ITEM_JUNK = " \t*`"
_PAIRED = re.compile(r"(['\"\u2018\u201c])(.*)(['\"\u2019\u201d])\Z", re.S)
_TAIL = re.compile(r"(?:\s+\([^()]*\)|\s+[-\u2013\u2014]\s.*|\s*:\s.*)\Z")


class _LineReading(_Context):
    """What one line says; `_lines` below gathers them into candidate answers."""

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


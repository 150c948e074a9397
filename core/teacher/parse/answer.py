"""Choosing the answer: every family's candidates, read left to right, and the first complete
one after the last answer marker taken, within the first few-shot segment that has one; then
its keys resolved by the schema into `Parsed`. Separate because it is the one place that knows
all the families (it assembles `_Reading` from them) and the only one that decides.
"""

from __future__ import annotations

import bisect
import re

from core.data.schema import CONLL, LabelSchema
from core.teacher.parse.lines import _LineReading, _lines
from core.teacher.parse.markup import _inline
from core.teacher.parse.reader import _Reader
from core.teacher.parse.result import Parsed, _Found
from core.teacher.parse.values import _ValueReading

_FENCE_OPEN = re.compile(r"```\w*\s*\Z")
_START = re.compile(r"[\[{]")
# Answer markers, few-shot headers, answers in words.
_MARKER = re.compile(r"(?im)^[ \t>*#_-]*(?:final\s+)?(?:result|answer|output|(?:named\s+)?entities"
                     r"|prediction|response)s?[ \t*_]*:|</think>")
_HEADER = re.compile(r"(?m)^[ \t]*(?:Sentence|Text|Paragraph|Input|Passage)[ \t]*:")
_NO_ENTITIES = re.compile(
    r"(?im)\b(?:no|zero|nothing|not\s+(?:find|found|identify|detect|see|contain|any)"
    r"|n't\s+(?:find|identify|detect|see|contain|any))\b[^\n]{0,60}?\b(?:entit|names?\b|mentions?\b)"
    r"|^[ \t*]*(?:(?:final\s+)?(?:answer|result|output|entities)[ \t*]*:[ \t*]*)?"
    r"(?:none|n/?a|nothing|no|null|nil)[ \t]*[.!]?[ \t*]*$")


class _Reading(_ValueReading, _LineReading):
    """The reading of one answer: the context with both the value and the line readers."""


def parse_answer(text: str, schema: LabelSchema = CONLL) -> Parsed:
    """The entities in an LLM answer, keys resolved by the schema ('loc', 'Location',
    'PERSON', an alias, a plural); never raises, whatever the input."""
    try:
        return _parse(text if isinstance(text, str) else str(text or ""), schema)
    except Exception as exc:  # noqa: BLE001 - the contract is a status, not an exception
        return Parsed([], "unreadable", problems=[f"internal error: {exc!r}"], types=schema.names)


def _structured(ctx: _Reading) -> tuple[list[_Found], int | None]:
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


def _choose(ctx: _Reading, found: list[_Found], lo: int, hi: int,
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
    ctx = _Reading(text, schema)
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


def _result(ctx: _Reading, chosen: _Found, notes: list[str]) -> Parsed:
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


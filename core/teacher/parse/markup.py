"""Reading the "inline markup" family: `[Houston](LOC)`, `[Houston | LOC]`,
`<PER>Orlando Miller</PER>` and GPT-NER's `@@Houston##` (typed only when the schema has one
type), marked inside running text. Separate because such marks are found anywhere in a line,
by pattern, one candidate a few-shot segment, where the other families read whole structures
or whole lines.
"""

from __future__ import annotations

import bisect
import re

from core.teacher.parse.context import _Context
from core.teacher.parse.result import _Found
from core.teacher.parse.vocabulary import _BRACKET, _LINK, _TAG

_GPTNER = re.compile(r"@@([^@#\n]{1,200}?)##")


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

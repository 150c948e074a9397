"""Entity strings from a teacher's dict to token spans and IOB2 tags.

Matching is tried from strict to loose: the exact tokens, then ignoring case, then
ignoring spacing around punctuation (`St.Louis`, `Miller's`). Every occurrence is tagged.
Overlaps are settled by length (the longer span wins) and recorded; strings that match
nothing are kept as unmatched, since they are the teacher's hallucinations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.tags import spans
from core.text import tokenize

EXACT, CASELESS, SPACELESS = 0, 1, 2


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str
    text: str
    level: int = EXACT


@dataclass
class Alignment:
    tags: list[str]
    spans: list[Span] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)


def _find(tokens: list[str], entity: str) -> tuple[list[tuple[int, int]], int]:
    """Occurrences of `entity` in `tokens` at the strictest level that finds any."""
    wanted = tokenize(entity)
    if not wanted:
        return [], EXACT
    n = len(wanted)
    for level, fold in ((EXACT, str), (CASELESS, str.casefold)):
        target = [fold(t) for t in wanted]
        folded = [fold(t) for t in tokens]
        hits = [(i, i + n) for i in range(len(tokens) - n + 1) if folded[i : i + n] == target]
        if hits:
            return hits, level
    squashed = "".join(entity.split()).casefold()
    hits = []
    for i in range(len(tokens)):
        joined = ""
        for j in range(i, len(tokens)):
            joined += tokens[j].casefold()
            if joined == squashed:
                hits.append((i, j + 1))
                break
            if not squashed.startswith(joined):
                break
    return hits, SPACELESS


def align(tokens: list[str], entities: list[tuple[str, str]]) -> Alignment:
    """`entities` is a list of (type, string) in the teacher's order."""
    candidates: list[Span] = []
    unmatched: list[tuple[str, str]] = []
    for kind, text in entities:
        hits, level = _find(tokens, text)
        if not hits:
            unmatched.append((kind, text))
        candidates.extend(Span(s, e, kind, text, level) for s, e in hits)
    # Longer spans first, then stricter matches, then the teacher's order (stable sort).
    candidates.sort(key=lambda s: (-(s.end - s.start), s.level))
    taken: list[Span] = []
    conflicts: list[dict] = []
    owner: dict[int, Span] = {}
    for span in candidates:
        clash = next((owner[i] for i in range(span.start, span.end) if i in owner), None)
        if clash is None:
            taken.append(span)
            for i in range(span.start, span.end):
                owner[i] = span
        elif clash != span:
            conflicts.append({
                "kept": [clash.start, clash.end, clash.type, clash.text],
                "dropped": [span.start, span.end, span.type, span.text],
            })
    tags = ["O"] * len(tokens)
    for span in taken:
        tags[span.start] = "B-" + span.type
        for i in range(span.start + 1, span.end):
            tags[i] = "I-" + span.type
    taken.sort(key=lambda s: s.start)
    return Alignment(tags, taken, unmatched, conflicts)


def entities_of(tokens: list[str], tags: list[str]) -> dict[str, list[str]]:
    """The dict a perfect teacher would answer for these gold tags."""
    found: dict[str, list[str]] = {}
    for start, end, kind in spans(tags):
        text = " ".join(tokens[start:end])
        if text not in found.setdefault(kind, []):
            found[kind].append(text)
    return found

"""Entity strings from a teacher's answer to token spans and IOB2 tags.

Matching is tried from strict to loose: the exact tokens, then ignoring case, then on the
characters alone, which ignores spacing (`St.Louis`, `Miller's`) and lets a match that stops
inside a token grow or shrink to token boundaries, like spaCy's `alignment_mode` `expand` and
`contract`: `Apple Inc` and `U.S` find the tokens `Inc.` and `U.S.` (a missing final period),
`German` finds `German-based`; a string that only cuts a word in two (`Paris` in `Parisian`)
finds nothing.

Each string the answer names takes one occurrence, left to right, like spacy-llm's
`find_after`: `Paris` answered as LOC and then as PER tags the first Paris LOC and the second
PER, and `May` named once is not also tagged in `in May` (an answer names a string as often
as it means it: `Parsed.mentions` keeps the repeats). Longer strings go first, so a short
one takes an occurrence outside them (`Houston` beside `Houston Astros`). `every_occurrence`
tags them all (a lexicon's memory). Strings that match nothing are kept as unmatched, since
they are the teacher's hallucinations; a string whose every occurrence is taken is a conflict.
`Alignment.repairs` lists each loosened match and each choice made, as [repair, type, text].
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from common.tags import spans
from core.data.text import tokenize

EXACT, CASELESS, SPACELESS, PARTIAL = 0, 1, 2, 3

# Repairs a match can need, and the choices recorded beside them.
CASE, SPACING, FINAL_PERIOD, EXPANDED, CONTRACTED = ("case differs", "spacing differs",
                                                     "final period added", "expanded to token",
                                                     "contracted to token")
IN_ORDER, REPEAT = "types assigned in order", "repeat left untagged"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str
    text: str
    level: int = EXACT
    repair: str = ""  # how the string was made to fit the tokens ("" when it fitted as it was)


@dataclass
class Alignment:
    tags: list[str]
    spans: list[Span] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    repairs: list[list[str]] = field(default_factory=list)  # [repair, type, text]


def _punctuation(text: str) -> bool:
    return not any(c.isalnum() for c in text)


class _Chars:
    """The sentence's tokens case-folded and joined without spaces, with where each starts."""

    def __init__(self, tokens: list[str]) -> None:
        self.folded = [t.casefold() for t in tokens]
        self.joined = "".join(self.folded)
        self.starts, at = [], 0
        for token in self.folded:
            self.starts.append(at)
            at += len(token)

    def token_at(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def fit(self, a: int, b: int) -> tuple[int, int, str] | None:
        """The characters [a, b) as a token span, grown or shrunk to whole tokens, and the repair
        that took; None when a boundary falls between two letters or digits of one word."""
        first, last = self.token_at(a), self.token_at(b - 1)
        head, tail = a - self.starts[first], b - self.starts[last]
        repairs = []
        if head:  # starts inside a token
            token = self.folded[first]
            covered = token[head:tail] if first == last else token[head:]
            if _punctuation(covered):
                repairs.append(CONTRACTED)
                first += 1
            elif _punctuation(token[:head]) or not (token[head - 1].isalnum() and token[head].isalnum()):
                repairs.append(EXPANDED)
            else:
                return None
        token = self.folded[last]
        if tail < len(token) and last >= first:  # ends inside a token
            covered, rest = token[head if first == last else 0 : tail], token[tail:]
            if rest == ".":
                repairs.append(FINAL_PERIOD)
            elif _punctuation(covered):
                repairs.append(CONTRACTED)
                last -= 1
            elif _punctuation(rest) or not (token[tail - 1].isalnum() and token[tail].isalnum()):
                repairs.append(EXPANDED)
            else:
                return None
        if last < first:
            return None
        return first, last + 1, repairs[-1] if repairs else ""


def _find(tokens: list[str], chars: _Chars, entity: str) -> tuple[list[tuple[int, int, str]], int]:
    """Occurrences of `entity` as (start, end, repair), at the strictest level that finds any."""
    wanted = tokenize(entity)
    if not wanted:
        return [], EXACT
    n = len(wanted)
    for level, fold, repair in ((EXACT, str, ""), (CASELESS, str.casefold, CASE)):
        target = [fold(t) for t in wanted]
        folded = tokens if fold is str else chars.folded
        hits = [(i, i + n, repair) for i in range(len(tokens) - n + 1) if folded[i : i + n] == target]
        if hits:
            return hits, level
    squashed = "".join(entity.split()).casefold()
    hits, seen = [], set()
    at = chars.joined.find(squashed) if squashed else -1
    while at != -1:
        fitted = chars.fit(at, at + len(squashed))
        if fitted is not None and fitted[:2] not in seen:
            seen.add(fitted[:2])
            hits.append(fitted)
        at = chars.joined.find(squashed, at + 1)
    aligned = all(not repair for _, _, repair in hits)
    return [(s, e, repair or SPACING) for s, e, repair in hits], SPACELESS if aligned else PARTIAL


def align(tokens: list[str], entities: list[tuple[str, str]], every_occurrence: bool = False) -> Alignment:
    """`entities` is a list of (type, string) in the teacher's order."""
    chars = _Chars(tokens)
    mentions = []
    unmatched: list[tuple[str, str]] = []
    for order, (kind, text) in enumerate(entities):
        hits, level = _find(tokens, chars, text)
        if not hits:
            unmatched.append((kind, text))
            continue
        mentions.append((order, kind, text, hits, level))
    # Longer spans first, then stricter matches, then the teacher's order (stable sort).
    mentions.sort(key=lambda m: (-(m[3][0][1] - m[3][0][0]), m[4], m[0]))
    owner: list[Span | None] = [None] * len(tokens)
    taken: list[Span] = []
    conflicts: list[dict] = []
    repairs: list[list[str]] = []
    kinds_of: dict[str, set[str]] = {}
    for _, kind, text, hits, level in mentions:
        free = [h for h in hits if all(owner[i] is None for i in range(h[0], h[1]))]
        chosen = free if every_occurrence else free[:1]
        for start, end, repair in chosen:
            span = Span(start, end, kind, text, level, repair)
            taken.append(span)
            owner[start:end] = [span] * (end - start)
            if repair and [repair, kind, text] not in repairs:
                repairs.append([repair, kind, text])
        if chosen:
            kinds_of.setdefault(text.casefold(), set()).add(kind)
        for start, end, _ in hits if every_occurrence or not chosen else []:
            clash = next((owner[i] for i in range(start, end) if owner[i] is not None), None)
            if clash is None or (clash.type, clash.start, clash.end) == (kind, start, end):
                continue  # free (taken just now), or named twice the same way
            conflicts.append({"kept": [clash.start, clash.end, clash.type, clash.text],
                              "dropped": [start, end, kind, text]})
            if not every_occurrence:
                break
    if not every_occurrence:
        for _, kind, text, hits, _ in mentions:
            if len(kinds_of.get(text.casefold(), ())) > 1 and [IN_ORDER, kind, text] not in repairs:
                repairs.append([IN_ORDER, kind, text])
            left = any(all(owner[i] is None for i in range(s, e)) for s, e, _ in hits)
            if left and not any(r[0] == REPEAT and r[2] == text for r in repairs):
                repairs.append([REPEAT, kind, text])
    tags = ["O"] * len(tokens)
    for span in taken:
        tags[span.start] = "B-" + span.type
        for i in range(span.start + 1, span.end):
            tags[i] = "I-" + span.type
    taken.sort(key=lambda s: s.start)
    return Alignment(tags, taken, unmatched, conflicts, repairs)


def entities_of(tokens: list[str], tags: list[str], repeats: bool = False) -> dict[str, list[str]]:
    """The dict a perfect teacher would answer for these gold tags: each string once, or with
    `repeats` once a tagged occurrence, which is what `align` needs to tag them all."""
    found: dict[str, list[str]] = {}
    for start, end, kind in spans(tags):
        text = " ".join(tokens[start:end])
        if repeats or text not in found.setdefault(kind, []):
            found.setdefault(kind, []).append(text)
    return found

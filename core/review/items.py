"""A sentence of an annotation run as the reviewer sees it, and the edits a key makes to its tags.

Kept apart from the session (`core.review.session`) so the review orders (`core.review.order`)
and the keys-per-correction benchmark (`bench/review.py`) can use them without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.tags import spans
from core.store.reviews import UNREVIEWED
from models.confidence import ScoredEntity

EDITED = "edited"
OPEN = (UNREVIEWED, EDITED)  # not decided yet: what `a`, `x`, ... move on to
@dataclass
class Item:
    """One sentence of the run as the reviewer sees it."""

    id: int
    tokens: list[str]
    gold: list[str] | None
    run_tags: list[str]
    raw: str
    reasoning: str
    unmatched: list
    parse_status: str
    tags: list[str]
    status: str = UNREVIEWED
    note: str = ""
    votes: list | None = None
    scores: dict | None = None  # the labeller's confidences, where it gave them (the student)
    versions: dict[str, list[str]] | None = None  # adjudicating: each annotator's entities

    @property
    def reviewed(self) -> bool:
        return self.status != UNREVIEWED

    @property
    def decided(self) -> bool:
        return self.status not in OPEN

    @property
    def disagrees(self) -> bool:
        return self.gold is not None and self.tags != self.gold

    @property
    def confidence(self) -> float | None:
        """How sure the labeller was of the whole sentence (its least sure word)."""
        return self.scores["sentence"] if self.scores else None

    def scored(self) -> list[ScoredEntity]:
        """The labeller's entities that still stand as it tagged them (same span, same type)."""
        standing = set(spans(self.tags))
        return [s for s in (ScoredEntity(*row) for row in (self.scores or {}).get("entities", []))
                if (s.start, s.end, s.label) in standing]

    def scored_at(self, token: int) -> ScoredEntity | None:
        """The labeller's entity covering `token`, if it still stands."""
        return next((s for s in self.scored() if s.start <= token < s.end), None)

    def opening(self) -> int:
        """The token the cursor starts on (`opening`)."""
        return opening(self.tags, self.scores)


def opening(tags: list[str], scores: dict | None) -> int:
    """Where the cursor starts in a sentence: on the word its labeller was least sure of, entity
    or not, the likeliest fix (a missed name is an `O` word; bench/results/review.md measures
    it), else on the first token (a teacher's answer, or scores stored before they named it)."""
    if not scores or "word" not in scores:
        return 0
    return max(0, min(scores["word"], len(tags) - 1))


def entities(tokens: list[str], tags: list[str]) -> list[list[str]]:
    """[type, text] of each entity, in sentence order (the `entities` column)."""
    return [[kind, " ".join(tokens[start:end])] for start, end, kind in spans(tags)]


def relabel(tags: list[str], start: int, end: int, kind: str) -> list[str]:
    """Tags with [start, end) labelled `kind`; any entity overlapping it is removed whole."""
    out = unlabel_span(tags, start, end)
    out[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return out


def unlabel(tags: list[str], token: int) -> list[str]:
    """Tags without the entity covering `token` (unchanged when none does)."""
    return unlabel_span(tags, token, token + 1)


def unlabel_span(tags: list[str], start: int, end: int) -> list[str]:
    """Tags without any entity overlapping [start, end)."""
    out = list(tags)
    for s, e, _ in spans(tags):
        if s < end and start < e:
            out[s:e] = ["O"] * (e - s)
    return out

"""Human corrections: the append-only `reviews` log and the run sentences a review works on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.store.records import dumps, loads, now

if TYPE_CHECKING:
    from core.store import Store


@dataclass(frozen=True)
class Review:
    """One row of the log: what a sentence's tags became, and by which action."""

    sentence_id: int
    tags: list[str] | None
    action: str


@dataclass(frozen=True)
class RunSentence:
    """A sentence of an annotation run as a review shows it: its text, gold and the run's answer."""

    id: int
    tokens: list[str]
    gold: list[str] | None
    tags: list[str]
    raw: str
    reasoning: str
    unmatched: list
    parse_status: str


class ReviewRepository:
    """Reads and appends to the review log; `store.reviews`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def add(self, run_id: int, sentence_id: int, tags: list[str], entities: list, action: str) -> None:
        """One row, committed at once (the connection is in autocommit mode)."""
        self.db.execute(
            "insert into reviews(run_id, sentence_id, tags, entities, action, created)"
            " values (?, ?, ?, ?, ?, ?)",
            [run_id, sentence_id, dumps(tags), dumps(entities), action, now()],
        )

    def latest(self, run_id: int) -> dict[int, Review]:
        """Each reviewed sentence's newest row that holds tags."""
        found: dict[int, Review] = {}
        for sid, tags, action in self.db.execute(
            "select sentence_id, tags, action from reviews where run_id = ? order by id", [run_id]
        ):
            if tags is not None:
                found[sid] = Review(sid, loads(tags), action)
        return found

    def latest_tags(self, run_id: int) -> dict[int, list[str]]:
        """The reviewed-tags overlay of a run: sentence id -> its current reviewed tags."""
        return {sid: review.tags for sid, review in self.latest(run_id).items() if review.tags is not None}

    def run_sentences(self, run_id: int) -> list[RunSentence]:
        """The run's answered sentences in subset order."""
        return [
            RunSentence(sid, loads(tokens), loads(gold) if gold else None, loads(tags), raw or "",
                        reasoning or "", loads(unmatched) or [], status or "")
            for sid, tokens, gold, tags, raw, reasoning, unmatched, status in self.db.execute(
                "select s.id, s.tokens, s.gold_tags, a.tags, a.raw, a.reasoning, a.unmatched,"
                " a.parse_status from annotation_runs r"
                " join subset_sentences ss on ss.subset_id = r.subset_id"
                " join sentences s on s.id = ss.sentence_id"
                " join annotations a on a.run_id = r.id and a.sentence_id = s.id"
                " where r.id = ? order by ss.position", [run_id],
            )
        ]

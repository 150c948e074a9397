"""Human corrections: the append-only `reviews` log and the run sentences a review works on.

Each row holds a sentence's tags after one action and what the sentence is then (`status`):
edited, accepted, rejected (unusable), flagged (with a note), kept (different from gold on
purpose), skipped, or '' (back to the run's own tags: unreviewed). The newest row of a
sentence is its state; the `review:N` layer takes the sentences whose state is a human label.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.store.errors import StoreBusy, is_busy
from core.store.records import dumps, loads, now

if TYPE_CHECKING:
    from core.store import Store

UNREVIEWED = ""
ADJUDICATED = "adjudicated"  # the action of an adjudicator's settled answer
ADJUDICATION = "adjudication-"  # how an adjudication sitting's `session` begins
STATUSES = (UNREVIEWED, "edited", "accepted", "rejected", "flagged", "kept", "skipped")
HUMAN_LABELS = frozenset({"edited", "accepted", "kept"})  # what the review:N layer trains on
# The actions that end a sentence's review, and the state each leaves it in.
DECISIONS = {"accept": "accepted", "reject": "rejected", "flag": "flagged", "keep": "kept", "skip": "skipped"}


def status_of(action: str, status: str | None) -> str:
    """A row's status; rows written before statuses existed (null) read it off the action."""
    if status is not None:
        return status
    return UNREVIEWED if action == "revert" else "accepted" if action == "accept" else "edited"


@dataclass(frozen=True)
class Review:
    """One row of the log: what a sentence's tags became, by which action, and its state then."""

    sentence_id: int
    tags: list[str] | None
    action: str
    status: str = "edited"
    note: str = ""
    created: str = ""
    annotator: str = ""  # '' for a row of no known annotator
    session: str = ""


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
    votes: list | None = None  # [[type, text, samples naming it, samples], ...] (self-consistency)
    scores: dict | None = None  # a labelling model's confidences (`annotations.save`'s `scores`)


class ReviewRepository:
    """Reads and appends to the review log; `store.reviews`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def add(self, run_id: int, sentence_id: int, tags: list[str], entities: list, action: str,
            status: str | None = None, note: str = "", edit_id: str | None = None,
            annotator: str | None = None, session: str | None = None, created: str | None = None) -> bool:
        """One row, committed at once (autocommit, or with the caller's transaction); `StoreBusy`
        when another connection holds the write lock longer than the store's busy timeout
        (nothing is written then). A row whose `edit_id` is stored already adds nothing (False):
        a replayed journal or a merged file writes each edit once. `annotator` and `session` say
        who made it, and in which sitting; `created` keeps a merged row's time."""
        try:
            return self.db.execute(
                "insert into reviews(run_id, sentence_id, tags, entities, action, status, note, created,"
                " edit_id, annotator, session) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " on conflict(edit_id) do nothing",
                [run_id, sentence_id, dumps(tags), dumps(entities), action, status_of(action, status),
                 note or None, created or now(), edit_id, annotator or None, session or None],
            ).rowcount == 1
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise StoreBusy(f"{self.store.path}: database busy (another program is writing)") from exc
            raise

    def states(self, run_id: int, annotator: str | None = None) -> dict[int, Review]:
        """Each reviewed sentence's newest row, whatever its state (what the review screen shows);
        with `annotator`, that annotator's view: their rows and those of no known annotator."""
        mine, args = _whose(annotator)
        return {r.sentence_id: r for r in self._rows(f"{mine} and tags is not null order by id",
                                                     [run_id, *args])}

    def latest(self, run_id: int) -> dict[int, Review]:
        """The settled human labels of the run (what `review:N` trains on): a sentence an
        adjudicator settled takes that answer; else one whose annotators' views (`views`) all
        label it alike (edited, accepted or kept), which with one annotator is their newest row;
        a sentence they label differently, or that one of them rejected, flagged or skipped while
        another labelled it, waits for adjudication."""
        views = self.views(run_id)
        settled = {sid: r for sid, r in self.adjudications(run_id).items() if r.status in HUMAN_LABELS}
        for sid in set().union(*views.values()) - set(settled):
            found = [view[sid] for view in views.values() if sid in view]
            if all(r.status in HUMAN_LABELS for r in found) and len({tuple(r.tags) for r in found}) == 1:
                settled[sid] = found[-1]
        return settled

    def view(self, run_id: int, annotator: str) -> dict[int, Review]:
        """One annotator's human labels (`review:N/NAME`)."""
        view = self.views(run_id).get(annotator, {})
        return {sid: r for sid, r in view.items() if r.status in HUMAN_LABELS}

    def latest_tags(self, run_id: int) -> dict[int, list[str]]:
        """The reviewed-tags overlay of a run: sentence id -> its current reviewed tags."""
        return {sid: review.tags for sid, review in self.latest(run_id).items() if review.tags is not None}

    def decisions(self, run_id: int, limit: int = 10, annotator: str | None = None) -> list[Review]:
        """The newest decision rows (accept, reject, flag, keep, skip), newest first, one a
        sentence; with `annotator`, in that annotator's view (`states`)."""
        out: dict[int, Review] = {}
        actions = [*DECISIONS, ADJUDICATED]
        mine, args = _whose(annotator)
        for review in self._rows(f"{mine} and action in ({', '.join('?' * len(actions))}) order by id desc",
                                 [run_id, *args, *actions]):
            out.setdefault(review.sentence_id, review)
            if len(out) == limit:
                break
        return list(out.values())

    def views(self, run_id: int) -> dict[str, dict[int, Review]]:
        """Each annotator's newest row of each sentence they reviewed: their own rows and those of
        no known annotator (written before annotators were recorded), as the review screen shows
        them; '' names the one view of a run reviewed before annotators were recorded. An
        adjudicator's rows are no view of their own (`latest` reads them)."""
        rows = list(self._rows(" and tags is not null and coalesce(session, '') not like ? order by id",
                               [run_id, ADJUDICATION + "%"]))
        names = sorted({r.annotator for r in rows if r.annotator}) or [""]
        found: dict[str, dict[int, Review]] = {name: {} for name in names}
        for review in rows:
            for view in (names if not review.annotator else [review.annotator]):
                found[view][review.sentence_id] = review
        return {name: view for name, view in found.items() if view}

    def adjudications(self, run_id: int) -> dict[int, Review]:
        """Each sentence's newest row of an adjudication sitting (what the adjudicator sees)."""
        return {r.sentence_id: r for r in self._rows(" and session like ? and tags is not null order by id",
                                                     [run_id, ADJUDICATION + "%"])}

    def _rows(self, where: str, args: list) -> Iterator[Review]:
        """The run's rows (`args` begins with the run id) matching `where` (which may order them)."""
        for sid, tags, action, status, note, created, annotator, session in self.db.execute(
            "select sentence_id, tags, action, status, note, created, annotator, session from reviews"
            f" where run_id = ?{where}", args
        ):
            yield Review(sid, loads(tags), action, status_of(action, status), note or "", created,
                         annotator or "", session or "")

    def log(self, run_id: int) -> list[dict]:
        """Every row of the run in order, as stored: what a merge copies to another file."""
        columns = ("sentence_id", "tags", "entities", "action", "status", "note", "created", "edit_id",
                   "annotator", "session")
        return [dict(zip(columns, (sid, loads(tags), loads(ents), *rest), strict=True))
                for sid, tags, ents, *rest in self.db.execute(
                    f"select {', '.join(columns)} from reviews where run_id = ? order by id", [run_id])]

    def has(self, run_id: int, sentence_id: int, created: str, action: str) -> bool:
        """Whether a row of this very moment and action is here (a row written before edit ids)."""
        found = self.db.execute("select 1 from reviews where run_id = ? and sentence_id = ? and created = ?"
                                " and action = ?", [run_id, sentence_id, created, action]).fetchone()
        return found is not None

    def newest_answered_run(self) -> int | None:
        """The newest annotation run with at least one answered sentence: what the app opens on
        (a run that failed at its start, with nothing in it, is not worth reviewing)."""
        row = self.db.execute("select max(run_id) from annotations").fetchone()
        return row[0] if row else None

    def run_sentences(self, run_id: int) -> list[RunSentence]:
        """The run's answered sentences in subset order."""
        return [
            RunSentence(sid, loads(tokens), loads(gold) if gold else None, loads(tags), raw or "",
                        reasoning or "", loads(unmatched) or [], status or "", loads(votes), loads(scores))
            for sid, tokens, gold, tags, raw, reasoning, unmatched, status, votes, scores in self.db.execute(
                "select s.id, s.tokens, s.gold_tags, a.tags, a.raw, a.reasoning, a.unmatched,"
                " a.parse_status, a.votes, a.scores from annotation_runs r"
                " join subset_sentences ss on ss.subset_id = r.subset_id"
                " join sentences s on s.id = ss.sentence_id"
                " join annotations a on a.run_id = r.id and a.sentence_id = s.id"
                " where r.id = ? order by ss.position", [run_id],
            )
        ]


def _whose(annotator: str | None) -> tuple[str, list[str]]:
    """The SQL that keeps one annotator's rows (and those of no known annotator)."""
    if annotator is None:
        return "", []
    return " and (annotator = ? or annotator is null)", [annotator]

"""Human corrections of an annotation run, one review row per change, committed at once.

The `reviews` table is append-only: the latest row of a sentence is its current tags and
state (edited, accepted, rejected, flagged, kept different from gold, skipped), which is what
the `review:N` layer trains on. Undo and redo append rows too, so a crash at any moment
leaves the database holding what the reviewer last saw.

When another program holds the database's write lock, a change goes to the project's journal
(`core.review.journal`: a file beside the database, fsync'd) and is written, in order, by the
next `flush()`: the reviewer goes on working meanwhile, and an app killed then loses nothing,
since the next session to open the project writes what its journal holds. Every review row is
written here and only here, each with its own edit id, so none is ever stored twice.

The sentences (`Item`) and their tag edits are in `core.review.items`, the cursor in
`core.review.caret`, and the orders a session can walk in (`arrange`) in `core.review.order`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from common.errors import NerdError
from core.data.corpora import NotFound
from core.review.adjudication import contested, versions
from core.review.items import EDITED, Item, entities, relabel, unlabel_span
from core.review.journal import Journal, Row
from core.review.order import Scores
from core.store import Store, StoreBusy
from core.store.reviews import ADJUDICATED, ADJUDICATION, DECISIONS, UNREVIEWED

ACTIONS = ("label", "delete", "accept", "reject", "flag", "keep", "skip", "undo", "redo", "revert")
REVERT = "revert"  # an undo back to the run's own tags: the sentence is unreviewed again
DECIDED = DECISIONS  # action -> the state it leaves the sentence in
HISTORY = 10  # decisions the screen lists, each reopenable


State = tuple[tuple[str, ...], str, str]  # tags, status, note


@dataclass(frozen=True)
class Change:
    """What one action did to one sentence: enough to undo or redo it."""

    sentence_id: int
    before: State
    after: State


@dataclass
class Pace:
    """This session's decisions: how many, how fast. `clock` is seconds (monotonic)."""

    clock: Callable[[], float] = time.monotonic
    decided: dict[int, float] = field(default_factory=dict)  # sentence id -> when first decided

    def record(self, sentence_id: int, decided: bool) -> None:
        if decided:
            self.decided.setdefault(sentence_id, self.clock())
        else:
            self.decided.pop(sentence_id, None)

    @property
    def done(self) -> int:
        return len(self.decided)

    @property
    def per_minute(self) -> float:
        """Decisions a minute since the first (counted over at least a minute)."""
        if not self.decided:
            return 0.0
        return self.done / max((self.clock() - min(self.decided.values())) / 60, 1.0)


def write_row(store: Store, row: Row) -> None:
    store.reviews.add(row.run_id, row.sentence_id, row.tags, row.entities, row.action, row.status,
                      row.note, row.edit_id, row.annotator, row.session)


def write_journal(store: Store, journal: Journal) -> bool:
    """Write the journal's rows in order; False (the rest kept) while the database is busy."""
    while journal.rows:
        try:
            write_row(store, journal.rows[0])
        except StoreBusy:
            return False
        journal.written()
    return True


def recover_journals(store: Store) -> bool:
    """Write the reviews a killed app left in the project's journal, so a job that reads the
    reviews (the loop) counts them; False while the database is busy (they stay journalled)."""
    journal = Journal.of(store.path)
    journal.take_over()
    return write_journal(store, journal)


ANNOTATOR = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class AnnotatorError(NerdError, ValueError):
    """An annotator name that can't be used; the message says which characters may."""


def annotator_name(name: str, source: str = "--annotator") -> str:
    """A name for the review rows: letters, digits, `_ . -` (it names layers and files too)."""
    if not ANNOTATOR.fullmatch(name):
        raise AnnotatorError(f"{source} {name!r}: an annotator's name is 1 to 64 letters, digits,"
                             " '_', '.' or '-' (e.g. alice or a.smith)")
    return name


class ReviewSession:
    """The sentences of one annotation run, their current tags and states, an undo history,
    the order they are reviewed in, and the rows the database was too busy to take yet."""

    def __init__(self, store: Store, run_id: int, pending: Iterable[Row] = (),
                 clock: Callable[[], float] = time.monotonic, annotator: str | None = None,
                 adjudicate: bool = False) -> None:
        """`pending`: rows another session kept for later (they join this project's journal,
        with any a killed app left behind, and are written now if the database is free).
        `annotator`: whose view this is and who its rows are by (`annotator_name`); None sees
        every row and writes rows of no known annotator. `adjudicate`: only the sentences the
        annotators differ on (`core.review.adjudication`), each one's version beside it; accepting
        one records the settled answer (action `adjudicated`)."""
        self.store, self.run_id = store, run_id
        self.annotator, self.adjudicating = annotator, adjudicate
        # this session's rows, told apart from the next; an adjudication's are no annotator's view
        self.sitting = (ADJUDICATION if adjudicate else "") + uuid.uuid4().hex[:12]
        run = store.annotations.run(run_id)
        if run is None:
            raise NotFound(f"no annotation run {run_id}")
        self.name: str = run.name
        self.journal = Journal.of(store.path)
        self.journal.take_over()
        for row in pending:
            self.journal.append(row)
        self.flush()  # before the states are read, so they include what the journal held
        self.items: list[Item] = [
            Item(s.id, s.tokens, s.gold, s.tags, s.raw, s.reasoning, s.unmatched, s.parse_status,
                 list(s.tags), votes=s.votes, scores=s.scores)
            for s in store.reviews.run_sentences(run_id)
        ]
        if adjudicate:
            differ = contested(store, run_id)
            self.items = [item for item in self.items if item.id in differ]
            for item in self.items:
                item.versions = versions(differ[item.id], item.tokens)
        self._by_id = {item.id: i for i, item in enumerate(self.items)}
        reviews = store.reviews
        for sid, review in (reviews.adjudications(run_id) if adjudicate
                            else reviews.states(run_id, annotator)).items():
            if sid in self._by_id and review.tags is not None:
                item = self.items[self._by_id[sid]]
                item.tags, item.status, item.note = list(review.tags), review.status, review.note
        for row in self.pending:  # any run's rows wait here; this run's show as they will be
            if row.run_id == run_id and row.sentence_id in self._by_id:
                item = self.item(row.sentence_id)
                item.tags, item.status, item.note = list(row.tags), row.status, row.note
        self.history: list[int] = [r.sentence_id for r in store.reviews.decisions(run_id, HISTORY, annotator)
                                   if r.sentence_id in self._by_id]
        self.pace = Pace(clock)
        self.order: list[int] = list(range(len(self.items)))  # item indices, in review order
        self.order_name = "document"
        self.reasons: dict[int, str] = {}  # sentence id -> why the order puts it where it is
        self._position = {index: p for p, index in enumerate(self.order)}
        self._undo: list[Change] = []
        self._redo: list[Change] = []

    def __len__(self) -> int:
        return len(self.items)

    def index_of(self, sentence_id: int) -> int:
        return self._by_id[sentence_id]

    def item(self, sentence_id: int) -> Item:
        return self.items[self._by_id[sentence_id]]

    @property
    def reviewed(self) -> int:
        return sum(item.reviewed for item in self.items)

    @property
    def remaining(self) -> int:
        """Sentences not decided yet (accepted, rejected, flagged, kept or skipped)."""
        return sum(not item.decided for item in self.items)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # -- changes: each one a committed row ----------------------------------------------------

    def label(self, sentence_id: int, start: int, end: int, kind: str) -> bool:
        """Label tokens [start, end) as `kind`; False when nothing changed."""
        item = self.item(sentence_id)
        if not 0 <= start < end <= len(item.tokens):
            raise ValueError(f"span {start}:{end} is outside sentence {sentence_id}")
        return self._change(item, relabel(item.tags, start, end, kind), "label", EDITED)

    def delete(self, sentence_id: int, token: int, end: int | None = None) -> bool:
        """Remove the entity covering `token` (every one overlapping [token, end) when `end` is
        given); False when there is none."""
        item = self.item(sentence_id)
        tags = unlabel_span(item.tags, token, token + 1 if end is None else end)
        return self._change(item, tags, "delete", EDITED)

    def second_type(self, sentence_id: int, token: int) -> str | None:
        """Retype the labeller's entity covering `token` as its second-best type (one key for the
        commonest fix of an unsure entity); the new type, or None when there is none to take."""
        item = self.item(sentence_id)
        found = item.scored_at(token)
        if found is None or not found.second:
            return None
        self._change(item, relabel(item.tags, found.start, found.end, found.second), "label", EDITED)
        return found.second

    def accept(self, sentence_id: int) -> bool:
        """Confirm the current tags as reviewed (recorded even when they are the run's)."""
        return self._decide(sentence_id, "accept")

    def reject(self, sentence_id: int) -> bool:
        """The sentence is unusable (garbled, not a sentence): kept out of the review layer."""
        return self._decide(sentence_id, "reject")

    def flag(self, sentence_id: int, note: str) -> bool:
        """Set aside for a second look, with a note; kept out of the review layer until decided."""
        return self._decide(sentence_id, "flag", note.strip())

    def keep(self, sentence_id: int) -> bool:
        """Accept tags that differ from gold on purpose (gold is wrong): `n` passes it by."""
        return self._decide(sentence_id, "keep")

    def skip(self, sentence_id: int) -> bool:
        """Pass the sentence by, recorded (Prodigy's ignore); it stays out of the review layer."""
        return self._decide(sentence_id, "skip")

    def undo(self) -> int | None:
        """Restore the state before the last change; returns its sentence id (None: nothing)."""
        if not self._undo:
            return None
        change = self._undo.pop()
        self._redo.append(change)
        tags, status, note = change.before
        self._apply(self.item(change.sentence_id), list(tags), status, note,
                    REVERT if status == UNREVIEWED else "undo")
        return change.sentence_id

    def redo(self) -> int | None:
        """Apply the last undone change again; returns its sentence id (None: nothing)."""
        if not self._redo:
            return None
        change = self._redo.pop()
        self._undo.append(change)
        tags, status, note = change.after
        self._apply(self.item(change.sentence_id), list(tags), status, note, "redo")
        return change.sentence_id

    def _decide(self, sentence_id: int, action: str, note: str = "") -> bool:
        item = self.item(sentence_id)
        status = DECIDED[action]
        if action == "accept" and self.adjudicating:
            action = ADJUDICATED  # the settled answer, over every annotator's view
        changed = self._change(item, item.tags, action, status, note, force=True)
        self.history = [sentence_id, *(s for s in self.history if s != sentence_id)][:HISTORY]
        return changed

    def _change(self, item: Item, tags: list[str], action: str, status: str, note: str | None = None,
                force: bool = False) -> bool:
        if tags == item.tags and not force:
            return False
        note = item.note if note is None else note
        self._undo.append(Change(item.id, (tuple(item.tags), item.status, item.note),
                                 (tuple(tags), status, note)))
        self._redo.clear()
        self._apply(item, tags, status, note, action)
        return True

    def _apply(self, item: Item, tags: list[str], status: str, note: str, action: str) -> None:
        """One row, written at once unless the database is busy: then it goes to the journal and
        waits, in order, for the next `flush` (the caller's retry); a change made while rows wait
        joins them without waiting on the lock again."""
        item.tags, item.status, item.note = list(tags), status, note
        self.pace.record(item.id, item.decided)
        row = Row(self.run_id, item.id, list(tags), entities(item.tokens, tags), action, status, note,
                  Row.new_id(), self.annotator or "", self.sitting)
        if not self.pending:
            try:
                self._write(row)
                return
            except StoreBusy:
                pass
        self.journal.append(row)

    # -- the database: rows it was too busy to take ---------------------------------------------

    @property
    def pending(self) -> deque[Row]:
        """The rows the journal holds for the database, in order (any run's)."""
        return self.journal.rows

    def flush(self) -> bool:
        """Write the journal's rows in order; False (the rest kept) while the database is busy."""
        return write_journal(self.store, self.journal)

    def _write(self, row: Row) -> None:
        write_row(self.store, row)

    # -- order and navigation: positions in `order`, wrapping; None when nothing matches ------

    def arrange(self, name: str, scores: Scores | None = None) -> None:
        """Review in `name` order: 'document', or by `scores` (sentence id -> (confidence, why)),
        least confident first, the sentences without a score last in document order."""
        scores = scores or {}
        ranked = sorted(range(len(self.items)),
                        key=lambda i: (self.items[i].id not in scores,
                                       scores.get(self.items[i].id, (0.0, ""))[0], i))
        self.order = ranked if name != "document" else list(range(len(self.items)))
        self.order_name = name
        self.reasons = {sid: why for sid, (_, why) in scores.items()}
        self._position = {index: p for p, index in enumerate(self.order)}

    def position(self, index: int) -> int:
        """Where item `index` is in the review order (0-based)."""
        return self._position[index]

    def step(self, index: int, step: int) -> int | None:
        """The item `step` places on in the review order; None past either end."""
        position = self._position[index] + step
        return self.order[position] if 0 <= position < len(self.order) else None

    def _next(self, start: int, wanted: Callable[[Item], bool]) -> int | None:
        n = len(self.order)
        here = self._position.get(start, -1)
        for offset in range(1, n + 1):
            index = self.order[(here + offset) % n]
            if wanted(self.items[index]):
                return index
        return None

    def next_disagreement(self, start: int) -> int | None:
        """Differs from gold, unless kept so on purpose or rejected."""
        return self._next(start, lambda item: item.disagrees and item.status not in ("kept", "rejected"))

    def next_unreviewed(self, start: int) -> int | None:
        """Not decided yet (unreviewed, or edited without a decision)."""
        return self._next(start, lambda item: not item.decided)

    def next_unmatched(self, start: int) -> int | None:
        return self._next(start, lambda item: bool(item.unmatched))

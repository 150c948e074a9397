"""Human corrections of an annotation run, one review row per change, committed at once.

The `reviews` table is append-only: the latest row of a sentence is its current tags, which
is what the `review:N` layer trains on. Undo and redo append rows too, so a crash at any
moment leaves the database holding exactly what the reviewer last saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.tags import spans
from core.corpora import NotFound
from core.store import Store

ACTIONS = ("label", "delete", "accept", "undo", "redo", "revert")
REVERT = "revert"  # an undo back to the run's own tags: the sentence is unreviewed again


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
    reviewed: bool = False

    @property
    def disagrees(self) -> bool:
        return self.gold is not None and self.tags != self.gold


@dataclass(frozen=True)
class Change:
    """What one action did to one sentence: enough to undo or redo it."""

    sentence_id: int
    before: tuple[tuple[str, ...], bool]
    after: tuple[tuple[str, ...], bool]


def entities(tokens: list[str], tags: list[str]) -> list[list[str]]:
    """[type, text] of each entity, in sentence order (the `entities` column)."""
    return [[kind, " ".join(tokens[start:end])] for start, end, kind in spans(tags)]


def relabel(tags: list[str], start: int, end: int, kind: str) -> list[str]:
    """Tags with [start, end) labelled `kind`; any entity overlapping it is removed whole."""
    out = list(tags)
    for s, e, _ in spans(tags):
        if s < end and start < e:
            out[s:e] = ["O"] * (e - s)
    out[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return out


def unlabel(tags: list[str], token: int) -> list[str]:
    """Tags without the entity covering `token` (unchanged when none does)."""
    out = list(tags)
    for s, e, _ in spans(tags):
        if s <= token < e:
            out[s:e] = ["O"] * (e - s)
    return out


class ReviewSession:
    """The sentences of one annotation run, their current tags, and an undo history."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        run = store.annotations.run(run_id)
        if run is None:
            raise NotFound(f"no annotation run {run_id}")
        self.name: str = run.name
        self.items: list[Item] = [
            Item(s.id, s.tokens, s.gold, s.tags, s.raw, s.reasoning, s.unmatched, s.parse_status,
                 list(s.tags))
            for s in store.reviews.run_sentences(run_id)
        ]
        self._by_id = {item.id: i for i, item in enumerate(self.items)}
        for sid, review in store.reviews.latest(run_id).items():
            if sid in self._by_id and review.tags is not None:
                item = self.items[self._by_id[sid]]
                item.tags, item.reviewed = list(review.tags), review.action != REVERT
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
        return self._change(item, relabel(item.tags, start, end, kind), "label")

    def delete(self, sentence_id: int, token: int) -> bool:
        """Remove the entity covering `token`; False when there is none."""
        item = self.item(sentence_id)
        return self._change(item, unlabel(item.tags, token), "delete")

    def accept(self, sentence_id: int) -> bool:
        """Confirm the current tags as reviewed (recorded even when they are the run's)."""
        item = self.item(sentence_id)
        return self._change(item, item.tags, "accept", force=True)

    def undo(self) -> int | None:
        """Restore the state before the last change; returns its sentence id (None: nothing)."""
        if not self._undo:
            return None
        change = self._undo.pop()
        self._redo.append(change)
        tags, reviewed = change.before
        self._apply(self.item(change.sentence_id), list(tags), reviewed, "undo" if reviewed else REVERT)
        return change.sentence_id

    def redo(self) -> int | None:
        """Apply the last undone change again; returns its sentence id (None: nothing)."""
        if not self._redo:
            return None
        change = self._redo.pop()
        self._undo.append(change)
        tags, reviewed = change.after
        self._apply(self.item(change.sentence_id), list(tags), reviewed, "redo")
        return change.sentence_id

    def _change(self, item: Item, tags: list[str], action: str, force: bool = False) -> bool:
        if tags == item.tags and not force:
            return False
        self._undo.append(Change(item.id, (tuple(item.tags), item.reviewed), (tuple(tags), True)))
        self._redo.clear()
        self._apply(item, tags, True, action)
        return True

    def _apply(self, item: Item, tags: list[str], reviewed: bool, action: str) -> None:
        """One row, committed at once (the store's connection is in autocommit mode)."""
        self.store.reviews.add(self.run_id, item.id, tags, entities(item.tokens, tags), action)
        item.tags, item.reviewed = list(tags), reviewed

    # -- navigation: the next index after `start` that matches, wrapping; None when none ------

    def _next(self, start: int, wanted: Callable[[Item], bool]) -> int | None:
        n = len(self.items)
        for offset in range(1, n + 1):
            index = (start + offset) % n
            if wanted(self.items[index]):
                return index
        return None

    def next_disagreement(self, start: int) -> int | None:
        return self._next(start, lambda item: item.disagrees)

    def next_unreviewed(self, start: int) -> int | None:
        return self._next(start, lambda item: not item.reviewed)

    def next_unmatched(self, start: int) -> int | None:
        return self._next(start, lambda item: bool(item.unmatched))

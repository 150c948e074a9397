"""The fewest keys that turn a run's tags into gold on the review screen (`bench/review.py`).

A shortest path (A*, every key costing one) over the screen's states: the caret (cursor and
selection) and the sentence's tags. The moves are the screen's own functions
(`core.review.caret`), an edit is what the screen's key does (`items.relabel` for a number,
`items.unlabel_span` for `d`, the student's second type for `t` via `Item.scored_at`), so a
plan is keys the app would take. Only edits that never undo progress are tried: a number
labels a gold entity the tags lack, `d` removes entities gold does not have, `t` retypes to
the gold type; so the tags are always the run's minus some wrong entities plus some gold
ones, and the search is over those, not over every order of the edits. The heuristic (gold
entities still missing, plus one while an entity gold lacks stands) never overestimates, so
the plan is the fewest keys; it takes a moment on a sentence of twelve entities.

`plan_every_order` is the planner this replaced (every order of the edits, the nearest place
for each): kept as the reference the tests check the search against where it is feasible.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count, permutations

from common.tags import spans
from core.data.schema import CONLL
from core.review import caret as motions
from core.review.caret import Caret
from core.review.items import Item, opening, relabel, unlabel, unlabel_span

Move = Callable[[Caret, list[str], list[str]], Caret | None]
Span = tuple[int, int, str]


@dataclass(frozen=True)
class KeySet:
    name: str
    moves: dict[str, Move]
    snap: bool  # today's rules: a number retypes the entity under the cursor; a selection snaps
    second: bool = False  # `t`: the student's second type for the entity under the cursor
    select_delete: bool = False  # `d` removes every entity the selection touches (today's app)


def _old_extend(step: int) -> Move:
    def extend(caret: Caret, tokens: list[str], tags: list[str]) -> Caret:
        anchor = caret.cursor if caret.anchor is None else caret.anchor
        return Caret(max(0, min(len(tokens) - 1, caret.cursor + step)), anchor)

    return extend


OLD_MOVES: dict[str, Move] = {
    "right": lambda c, tokens, tags: motions.move(c, tokens, 1),
    "left": lambda c, tokens, tags: motions.move(c, tokens, -1),
    "shift+right": lambda c, tokens, tags: motions.extend(c, tokens, tags, 1),
    "shift+left": lambda c, tokens, tags: motions.extend(c, tokens, tags, -1),
    "escape": lambda c, tokens, tags: Caret(c.cursor),
}
NEW_MOVES: dict[str, Move] = {
    **OLD_MOVES,
    "tab": lambda c, tokens, tags: motions.next_entity(c, tags, 1),
    "shift+tab": lambda c, tokens, tags: motions.next_entity(c, tags, -1),
    "w": lambda c, tokens, tags: motions.next_capitalised(c, tokens, 1),
    "b": lambda c, tokens, tags: motions.next_capitalised(c, tokens, -1),
    "home": lambda c, tokens, tags: motions.to_edge(tokens, end=False),
    "end": lambda c, tokens, tags: motions.to_edge(tokens, end=True),
}
BEFORE = KeySet("before", OLD_MOVES, snap=True, select_delete=True)
AFTER = KeySet("after", NEW_MOVES, snap=True, second=True, select_delete=True)
OLD_RULES = KeySet("before, old rules",
                   {**OLD_MOVES, "shift+right": _old_extend(1), "shift+left": _old_extend(-1)}, snap=False)
KEY_OF = {kind: key for key, kind in CONLL.by_key().items()}
EDIT_KEYS = {*KEY_OF.values(), "d", "t"}  # the keys that change the tags (the rest move)


def _target(keys: KeySet, caret: Caret, tags: list[str]) -> tuple[int, int]:
    """What a number acts on: today's rule (`Caret.target`), or the old one (the cursor's token)."""
    return caret.target(tags) if keys.snap else (caret.selection or (caret.cursor, caret.cursor + 1))


class _Sentence:
    """One sentence's gold and what each tagging of it still lacks (cached: few taggings occur)."""

    def __init__(self, tokens: list[str], tags: list[str], gold: list[str], scores: dict | None) -> None:
        self.tokens, self.gold = tokens, gold
        self.want = frozenset(spans(gold))
        self.item = Item(0, tokens, gold, list(tags), "", "", [], "", list(tags), scores=scores)
        self._left: dict[tuple[str, ...], tuple[list[Span], bool]] = {}

    def _overlaps_gold(self, span: Span) -> bool:
        return any(span[0] < end and start < span[1] for start, end, _ in self.want)

    def left(self, caret: Caret, tags: tuple[str, ...]) -> int:
        """A lower bound on the keys still needed (A*'s heuristic). Each gold entity missing takes
        an edit key with the cursor inside it, and edit keys leave the cursor where it is, so a
        move before each but one already under the cursor; an entity overlapping no gold one
        takes a `d` (a number never reaches it)."""
        if tags not in self._left:
            have = spans(list(tags))
            self._left[tags] = (sorted(self.want - set(have)),
                                any(not self._overlaps_gold(span) for span in have))
        missing, stray = self._left[tags]
        here = any(start <= caret.cursor < end for start, end, _ in missing)
        return 2 * len(missing) - here + stray

    def edits(self, keys: KeySet, caret: Caret, tags: list[str],
              narrow: bool = False) -> list[tuple[str, Caret, list[str]]]:
        """The edit keys that make progress here: (key, caret after, tags after). `narrow`: only
        those `plan_every_order` makes (`d` without a selection, on an entity overlapping no gold one)."""
        have, out = set(spans(tags)), []
        if keys.second:  # first, so a tie with a number goes to `t`: the same one key
            self.item.tags = tags
            found = self.item.scored_at(caret.cursor)
            if found and found.second and (found.start, found.end, found.second) in self.want - have:
                out.append(("t", caret, relabel(tags, found.start, found.end, found.second)))
        start, end = _target(keys, caret, tags)
        for kind, key in KEY_OF.items():
            if (start, end, kind) in self.want - have:
                out.append((key, Caret(caret.cursor), relabel(tags, start, end, kind)))
        if caret.anchor is None or (keys.select_delete and not narrow):
            start, end = caret.selection or (caret.cursor, caret.cursor + 1)
            gone = [span for span in have if span[0] < end and start < span[1]]
            wrong = not self.want & set(gone)
            if narrow:  # the reference deletes only what overlaps no gold entity
                wrong = wrong and not any(self._overlaps_gold(span) for span in gone)
            if gone and wrong:
                out.append(("d", Caret(caret.cursor), unlabel_span(tags, start, end)))
        return out


def plan(keys: KeySet, tokens: list[str], tags: list[str], gold: list[str],
         scores: dict | None = None, narrow: bool = False, start: int | None = None) -> list[str]:
    """The fewest keys that turn `tags` into `gold`, then `a` to accept; `scores` the run's
    confidences (the student's), which make `t` possible where the key set has it and open the
    cursor where the screen does (`start` overrides it). `narrow`: only the edits
    `plan_every_order` tries, to check the search against it."""
    if not len(tokens) == len(tags) == len(gold):
        raise ValueError(f"{len(tokens)} tokens, {len(tags)} tags, {len(gold)} gold tags")
    sentence = _Sentence(tokens, tags, gold, scores)
    start = (Caret(opening(tags, scores) if start is None else start), tuple(tags))
    best = {start: 0}
    came: dict[tuple[Caret, tuple[str, ...]], tuple[tuple[Caret, tuple[str, ...]], str]] = {}
    order = count()
    queue = [(sentence.left(*start), 0, next(order), start)]
    while queue:
        _, deeper, _, state = heapq.heappop(queue)
        cost = -deeper  # ties go to the deeper state: nearer the goal
        if cost > best[state]:
            continue
        caret, now = state
        if list(now) == gold:
            pressed = []
            while state in came:
                state, key = came[state]
                pressed.append(key)
            return [*reversed(pressed), "a"]
        current = list(now)
        steps = [(key, move(caret, tokens, current), now) for key, move in keys.moves.items()]
        steps += [(key, after, tuple(edited))
                  for key, after, edited in sentence.edits(keys, caret, current, narrow)]
        for key, after, edited in steps:
            if after is None:
                continue
            following = (after, edited)
            if cost + 1 < best.get(following, cost + 2):
                best[following], came[following] = cost + 1, (state, key)
                guess = cost + 1 + sentence.left(after, edited)
                heapq.heappush(queue, (guess, -(cost + 1), next(order), following))
    raise AssertionError(f"{keys.name}: no plan corrects {' '.join(tokens)}")


# -- the reference: every order of the edits, each at the nearest place it can be made -----------

Edit = tuple[str, int, int, str]  # ("label", start, end, type) or ("delete", start, end, "")


def edits(tags: list[str], gold: list[str]) -> list[Edit]:
    """Label each gold entity the tags lack; delete each entity that overlaps none of gold's."""
    have, want = set(spans(tags)), spans(gold)
    out: list[Edit] = [("label", s, e, k) for s, e, k in want if (s, e, k) not in have]
    out += [("delete", s, e, "") for s, e, _ in spans(tags)
            if not any(s < we and ws < e for ws, we, _ in want)]
    return out


def _reach(keys: KeySet, tokens: list[str], tags: list[str], start: Caret, edit: Edit) -> list[str] | None:
    """Breadth-first: the fewest movement keys from `start` to where `edit`'s key does it."""
    action, s, e, _ = edit

    def done(caret: Caret) -> bool:
        if action == "delete":
            return caret.anchor is None and s <= caret.cursor < e
        return _target(keys, caret, tags) == (s, e)

    seen, queue = {start}, deque([(start, [])])
    while queue:
        caret, path = queue.popleft()
        if done(caret):
            return path
        for key, move in keys.moves.items():
            after = move(caret, tokens, tags)
            if after is not None and after not in seen:
                seen.add(after)
                queue.append((after, [*path, key]))
    return None


def plan_every_order(keys: KeySet, tokens: list[str], tags: list[str], gold: list[str]) -> list[str]:
    """The fewest keys over every order of the edits (n! orders: only for a few edits)."""
    best: list[str] | None = None
    for order in permutations(edits(tags, gold)):
        caret, current, pressed = Caret(), list(tags), []
        for edit in order:
            path = _reach(keys, tokens, current, caret, edit)
            if path is None:
                break
            for key in path:
                caret = keys.moves[key](caret, tokens, current) or caret
            action, s, e, kind = edit
            if action == "label":
                start, end = _target(keys, caret, current)
                current = relabel(current, start, end, kind)
                pressed += [*path, KEY_OF[kind]]
            else:
                current = unlabel(current, caret.cursor)
                pressed += [*path, "d"]
            caret = Caret(caret.cursor)
        if current == gold and (best is None or len(pressed) < len(best)):
            best = pressed
    if best is None:
        raise AssertionError(f"{keys.name}: no plan corrects {' '.join(tokens)}")
    return [*best, "a"]


def replay(keys: KeySet, tokens: list[str], tags: list[str], pressed: list[str],
           scores: dict | None = None) -> list[str]:
    """The tags after pressing `pressed` as the screen would (its motions, `relabel`, `unlabel_span`,
    `Item.scored_at`), up to the accepting `a`: a check on a plan made without the planner."""
    item = Item(0, tokens, None, list(tags), "", "", [], "", list(tags), scores=scores)
    caret, number = Caret(item.opening()), {key: kind for kind, key in KEY_OF.items()}
    for key in pressed:
        if key == "a":
            break
        if key in keys.moves:
            caret = keys.moves[key](caret, tokens, item.tags) or caret
        elif key in number:
            item.tags = relabel(item.tags, *_target(keys, caret, item.tags), number[key])
            caret = Caret(caret.cursor)
        elif key == "d":
            item.tags = unlabel_span(item.tags, *(caret.selection or (caret.cursor, caret.cursor + 1)))
            caret = Caret(caret.cursor)
        elif key == "t" and (found := item.scored_at(caret.cursor)) and found.second:
            item.tags = relabel(item.tags, found.start, found.end, found.second)
        else:
            raise ValueError(f"{keys.name}: no key {key!r}")
    return item.tags

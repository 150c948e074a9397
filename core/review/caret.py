"""The review cursor: where a key acts, and how it moves.

The moves (`Caret` and the motions below) are plain functions of the tokens and tags, so the
review screen and the keys-per-correction benchmark (`bench/review.py`) share them.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.tags import spans


def entity_at(tags: list[str], token: int) -> tuple[int, int, str] | None:
    """The entity (start, end, type) covering `token`, or None."""
    return next(((s, e, k) for s, e, k in spans(tags) if s <= token < e), None)


def capitalised(token: str) -> bool:
    return token[:1].isupper()


@dataclass(frozen=True)
class Caret:
    """The cursor's token and, while selecting (shift+arrows), the selection's other end."""

    cursor: int = 0
    anchor: int | None = None

    @property
    def selection(self) -> tuple[int, int] | None:
        """The selected tokens [start, end), or None when nothing is selected."""
        if self.anchor is None:
            return None
        return min(self.anchor, self.cursor), max(self.anchor, self.cursor) + 1

    def target(self, tags: list[str]) -> tuple[int, int]:
        """What a label key acts on: the selection, else the whole entity under the cursor
        (retyping it), else the cursor's token."""
        if self.selection is not None:
            return self.selection
        found = entity_at(tags, self.cursor)
        return (found[0], found[1]) if found else (self.cursor, self.cursor + 1)


def _clamp(token: int, tokens: list[str]) -> int:
    return max(0, min(len(tokens) - 1, token))


def move(caret: Caret, tokens: list[str], step: int) -> Caret:
    """← / →: one token, the selection dropped."""
    return Caret(_clamp(caret.cursor + step, tokens))


def to_edge(tokens: list[str], end: bool) -> Caret:
    """Home / End."""
    return Caret(len(tokens) - 1 if end else 0)


def extend(caret: Caret, tokens: list[str], tags: list[str], step: int) -> Caret:
    """shift+← / shift+→: grow or shrink the selection by a token (see `extend_to`)."""
    return extend_to(caret, tags, _clamp(caret.cursor + step, tokens), step)


def extend_to(caret: Caret, tags: list[str], token: int, step: int | None = None) -> Caret:
    """The selection from its anchor (the cursor, if none yet) to `token` (shift+click). Growing
    into an entity the selection did not start in snaps to that entity's far boundary (in the
    direction of `step`, else away from the anchor), so it is taken whole."""
    anchor = caret.cursor if caret.anchor is None else caret.anchor
    found = entity_at(tags, token)
    if found and not found[0] <= anchor < found[1]:
        forward = step > 0 if step is not None else token > anchor
        token = found[1] - 1 if forward else found[0]
    return Caret(token, anchor)


def next_entity(caret: Caret, tags: list[str], step: int) -> Caret | None:
    """Tab / shift+Tab: the start of the next or previous entity, wrapping round; None when the
    sentence has none. Backwards from inside an entity goes to its own start first."""
    starts = [s for s, _, _ in spans(tags)]
    if not starts:
        return None
    if step > 0:
        return Caret(next((s for s in starts if s > caret.cursor), starts[0]))
    return Caret(next((s for s in reversed(starts) if s < caret.cursor), starts[-1]))


def next_capitalised(caret: Caret, tokens: list[str], step: int) -> Caret | None:
    """w / b: the next or previous start of a run of capitalised words (a name, likely an entity,
    "White House"); backwards from inside a run goes to its start. None when there is none."""
    starts = [i for i, token in enumerate(tokens)
              if capitalised(token) and (i == 0 or not capitalised(tokens[i - 1]))]
    found = (next((s for s in starts if s > caret.cursor), None) if step > 0 else
             next((s for s in reversed(starts) if s < caret.cursor), None))
    return None if found is None else Caret(found)

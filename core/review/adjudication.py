"""Where annotators differ: the sentences an adjudicator settles (`nerd tui --adjudicate RUN`).

A sentence differs when two annotators' views of it do: other tags, or labels against a
rejection, a flag or a skip. The adjudicator's answer is a row of its own (action `adjudicated`,
in a sitting whose `session` begins `adjudication-`), which the settled layer `review:N` takes
over every annotator's view; a sentence one annotator decided, or several alike, needs none.
"""

from __future__ import annotations

from common.tags import spans
from core.store import Store
from core.store.reviews import HUMAN_LABELS, Review


def contested(store: Store, run: int) -> dict[int, dict[str, Review]]:
    """Each sentence the annotators differ on, with each one's newest row of it."""
    views = store.reviews.views(run)
    out: dict[int, dict[str, Review]] = {}
    for sid in sorted(set().union(*views.values())):
        found = {name: view[sid] for name, view in views.items() if sid in view}
        if len(found) >= 2 and len({_reading(r) for r in found.values()}) > 1:
            out[sid] = found
    return out


def versions(found: dict[str, Review], tokens: list[str]) -> dict[str, list[str]]:
    """What each annotator said of a sentence: their entities as `TYPE text`, or their state."""
    return {name: ([f"{kind} {' '.join(tokens[start:end])}" for start, end, kind in spans(review.tags)]
                   if review.status in HUMAN_LABELS else [f"({review.status})"])
            for name, review in sorted(found.items())}


def _reading(review: Review) -> tuple:
    """What a row says of its sentence: its labels, or that it has none to give."""
    return (True, tuple(review.tags)) if review.status in HUMAN_LABELS else (False, review.status)

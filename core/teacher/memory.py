"""Pool memory: the entity strings a human already labelled, remembered with their usual type.

News repeats its names: a player, club or country in the labelled pool recurs across the
sentences to annotate. A small teacher misses or mistypes many of them, while the pool's own
labels are right about 80 % of the time they match. So a memory match goes first and the
teacher fills the rest; memorised alone, it is the `lexicon:SUBSET` floor.
"""

from __future__ import annotations

from collections import Counter

from common.tags import spans
from core.teacher.align import align, entities_of


class Memory:
    """Every gold entity string of `sentences`, typed by its most frequent label.

    A pool sentence asked about itself is answered without its own labels, as if unseen.
    """

    def __init__(self, sentences: list) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._own: dict[int, list[tuple[str, str]]] = {}
        for s in sentences:
            own = [(kind, text) for kind, texts in entities_of(s.tokens, s.gold or []).items()
                   for text in texts]
            self._own[s.id] = own
            for kind, text in own:
                self._counts.setdefault(text, Counter())[kind] += 1
        self._by_first: dict[str, list[str]] = {}
        for text in self._counts:
            self._by_first.setdefault(text.split()[0], []).append(text)

    def __len__(self) -> int:
        return len(self._counts)

    def entities(self, tokens: list[str], sentence_id: int | None = None) -> list[tuple[str, str]]:
        """(type, string) of the remembered strings that may occur in `tokens`."""
        found = []
        for text in (x for t in dict.fromkeys(tokens) for x in self._by_first.get(t, [])):
            counts = self._counts[text].copy()
            counts.subtract(kind for kind, own in self._own.get(sentence_id, []) if own == text)
            if +counts:
                found.append(((+counts).most_common(1)[0][0], text))
        return found

    def tags(self, tokens: list[str], sentence_id: int | None = None) -> list[str]:
        return align(tokens, self.entities(tokens, sentence_id), every_occurrence=True).tags


def overlay(first: list[str], then: list[str]) -> list[str]:
    """`first`'s entities, plus each of `then`'s that overlaps none of them."""
    out = list(first)
    for start, end, kind in spans(then):
        if all(t == "O" for t in first[start:end]):
            out[start] = "B-" + kind
            out[start + 1 : end] = ["I-" + kind] * (end - start - 1)
    return out

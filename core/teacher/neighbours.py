"""Nearest-neighbour few-shot examples: demonstrations that look like the sentence at hand.

The paper's future work suggests it; for a small teacher it matters most, since a 270M
model copies its examples' shape far more than it follows instructions.
"""

from __future__ import annotations

import numpy as np

from core.store import Store
from core.store.corpora import StoredSentence
from models.encoder import embed

MODEL_KEY = "minilm-mean-v1"


def embeddings(store: Store, sentences: list[StoredSentence], encoder: str = "") -> np.ndarray:
    """One row a sentence; computed once per sentence and kept in the store."""

    known = store.embeddings.vectors(_key(encoder))
    missing = [s for s in sentences if s.id not in known]
    if missing:
        vectors = embed([" ".join(s.tokens) for s in missing], encoder or None)
        computed = {s.id: v.astype(np.float32) for s, v in zip(missing, vectors, strict=True)}
        store.embeddings.save(_key(encoder), computed)
        known.update(computed)
    return np.stack([known[s.id] for s in sentences]) if sentences else np.zeros((0, 384), np.float32)


def _key(encoder: str) -> str:
    return MODEL_KEY if not encoder else f"{MODEL_KEY}:{encoder}"


def nearest(store: Store, targets: list[StoredSentence], pool: list[StoredSentence], k: int,
            encoder: str = "") -> dict[int, list[StoredSentence]]:
    """The k most similar labelled pool sentences for each target, never the target itself.

    The most similar comes last, nearest the sentence in the prompt.
    """
    pool = [s for s in pool if s.gold]
    if not pool or not targets:
        return {t.id: [] for t in targets}
    similarity = embeddings(store, targets, encoder) @ embeddings(store, pool, encoder).T
    chosen: dict[int, list[StoredSentence]] = {}
    for row, target in enumerate(similarity):
        order = [i for i in np.argsort(-target) if pool[i].id != targets[row].id][:k]
        chosen[targets[row].id] = [pool[i] for i in reversed(order)]
    return chosen

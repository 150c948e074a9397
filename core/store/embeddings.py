"""Cached sentence embeddings, one float32 vector a sentence and model key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.store import Store


class EmbeddingRepository:
    """Reads and writes the embeddings cache; `store.embeddings`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def vectors(self, model: str) -> dict[int, np.ndarray]:
        """Every cached vector of the model key, by sentence id."""
        return {sid: np.frombuffer(blob, dtype=np.float32) for sid, blob in self.db.execute(
            "select sentence_id, vector from embeddings where model = ?", [model])}

    def save(self, model: str, vectors: Mapping[int, np.ndarray]) -> None:
        """Store (or replace) vectors by sentence id, all or nothing."""
        with self.store.transaction() as db:
            db.conn.executemany(
                "insert or replace into embeddings(sentence_id, model, vector) values (?, ?, ?)",
                ((sid, model, v.astype(np.float32).tobytes()) for sid, v in vectors.items()))

"""How sure the student is: word probabilities read as tags, entities and their confidence.

A word's probability of a type is P(B-type) + P(I-type) (a model unsure between B and I is
still sure of the type); an entity's confidence is the minimum over its words, and its second
best type is the other type with the highest such minimum. A sentence's confidence is its least
sure word's probability of the type (or O) it was given. The tags are the argmax, repaired to
IOB2 exactly as `models.pieces.tag_windows` repairs them, so both give the same tags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.tags import spans
from models.pieces import repair

# An entity the student is less sure of than this is marked for the reviewer: measured on
# distill-1000, the student's entities under 0.8 are a tenth of them and only 28 % are right.
UNSURE = 0.8


@dataclass(frozen=True)
class ScoredEntity:
    """One entity and how sure the model is; also what a run stores of it (`annotations.scores`,
    in this field order)."""

    start: int  # first word
    end: int  # one past the last word
    label: str
    confidence: float
    second: str  # the next most likely entity type ("" when the schema has one type)
    second_confidence: float

    @property
    def unsure(self) -> bool:
        return self.confidence < UNSURE


@dataclass(frozen=True)
class Scored:
    """One sentence as the student labels it."""

    tags: list[str]
    entities: list[ScoredEntity]
    confidence: float
    word: int = 0  # the least sure word, whose probability is `confidence`: where to look first


def softmax(logits: np.ndarray) -> np.ndarray:
    """Over the last axis, shifted by the max so large logits cannot overflow."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def type_probabilities(probs: np.ndarray, labels: list[str]) -> dict[str, np.ndarray]:
    """Per word, each type's probability (B + I), and O's."""
    out: dict[str, np.ndarray] = {}
    for k, label in enumerate(labels):
        kind = label[2:] if label[:2] in ("B-", "I-") else label
        out[kind] = out.get(kind, 0) + probs[:, k]
    return out


def scored(probs: np.ndarray, labels: list[str]) -> Scored:
    """A sentence's tags, entities with confidences, and its own confidence from its word
    probabilities ([words, labels], rows summing to 1)."""
    tags = repair([labels[int(i)] for i in probs.argmax(-1)]) if len(probs) else []
    by_type = type_probabilities(probs, labels)
    entities = []
    for start, end, label in spans(tags):
        confidence = float(by_type[label][start:end].min())
        others = sorted(((float(p[start:end].min()), kind) for kind, p in by_type.items()
                         if kind not in (label, "O")), reverse=True)
        second_confidence, second = others[0] if others else (0.0, "")
        entities.append(ScoredEntity(start, end, label, confidence, second, second_confidence))
    given = _given(by_type, tags)
    if not len(given):
        return Scored(tags, entities, 1.0)
    return Scored(tags, entities, float(given.min()), int(given.argmin()))


def _given(by_type: dict[str, np.ndarray], tags: list[str]) -> np.ndarray:
    """Each word's probability of the type its tag gives it (O for O)."""
    return np.array([by_type[tag[2:] if tag != "O" else "O"][i] for i, tag in enumerate(tags)])

"""The orders a review can walk a run's sentences in: least confident first.

A score is a sentence's confidence and why it has it, from the teacher's votes or from the
newest trained student; `ReviewSession.arrange` sorts by it. The student is loaded only when
asked for (`student_scores`), as the screen does in a worker thread.
"""

from __future__ import annotations

from pathlib import Path

from core.review.items import Item
from core.store import Store
from models import encoder
from models.confidence import scored

ORDERS = ("document", "votes", "student")  # `o` cycles; a run with probabilities: "confidence" for "votes"
Scores = dict[int, tuple[float, str]]  # sentence id -> (confidence, why it is there)


def run_scores(items: list[Item]) -> tuple[str, Scores]:
    """The run's own confidence in each sentence, and which it is: "confidence" where the labeller
    gave probabilities (the student: its least sure entity, or word), else "votes" (the teacher's
    least agreed-on entity's share of the votes, 0 for an answer that did not parse; sentences
    answered once, no votes, and parsed get no score)."""
    if any(item.scores for item in items):
        return "confidence", {item.id: labeller_score(item) for item in items if item.scores}
    return "votes", vote_scores(items)


def labeller_score(item: Item) -> tuple[float, str]:
    sure = min(item.scored(), key=lambda s: s.confidence, default=None)
    if sure is not None and sure.confidence <= item.confidence + 1e-9:
        text = " ".join(item.tokens[sure.start:sure.end])
        return item.confidence, f"the labeller is {sure.confidence:.0%} sure {text!r} is {sure.label}"
    return item.confidence, f"the labeller is {item.confidence:.0%} sure of its least sure word"


def vote_scores(items: list[Item]) -> Scores:
    """The teacher's confidence in each sentence from its votes (see `run_scores`)."""
    out: Scores = {}
    for item in items:
        if item.parse_status not in ("ok", "repaired"):
            out[item.id] = (0.0, f"the teacher's answer did not parse ({item.parse_status or 'no answer'})")
        elif item.votes:
            kind, text, n, total = min(item.votes, key=lambda v: max(v[2] / v[3], 1 - v[2] / v[3]))
            share = n / total
            out[item.id] = (max(share, 1 - share), f"{n} of {total} samples named {text!r} {kind}")
        elif item.votes is not None:
            out[item.id] = (1.0, "every sample agreed: no entity")
    return out


def student_model(store: Store) -> tuple[int, Path] | None:
    """The newest finished training run with its saved model, and the model's folder."""
    for run in store.training.runs():
        folder = Path(run.checkpoint_dir or "") / "model"
        if run.status == "finished" and (folder / "config.json").is_file():
            return run.id, folder
    return None


def student_scores(items: list[Item], folder: Path, run: int | None = None) -> Scores:
    """The student's confidence in each sentence: its least sure word's probability of the type
    it was given (Prodigy's ner.teach asks about those first: they teach the model most)."""
    model, tokenizer = encoder.load_classifier(folder), encoder.load_tokenizer(folder)
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    found = encoder.word_probabilities(model, tokenizer, [i.tokens for i in items])
    out: Scores = {}
    which = f"training run {run}" if run is not None else "the student"
    for item, probs in zip(items, found, strict=True):
        if len(probs):
            labelled = scored(probs, labels)
            k = labelled.word
            kind = labelled.tags[k][2:] or "O"
            out[item.id] = (labelled.confidence,
                            f"{which} is {labelled.confidence:.0%} sure {item.tokens[k]!r} is {kind}")
    return out

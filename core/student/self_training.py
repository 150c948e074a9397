"""Self-training: the student trained on the human labels labels unlabelled text; the next
student learns first from the sentences it was sure of, then from the human labels alone, and
labels for the round after (BOND, Liang et al. 2020: a fresh student each round, confident
labels only; NEEDLE, Jiang et al. 2021: a last stage on the strong labels alone).

With a teacher weaker than the student (the embedded Gemma 270M against a MiniLM that has seen a
few hundred human sentences), the student's own labels are the better distilled data. Every step
is a run of its own (training runs `NAME/self-R`, annotation runs by each round's student), so
a stopped self-training resumes where it stopped, and the tables see each round.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from core.data import corpora
from core.specs import as_spec
from core.store import Store
from core.student import labeller
from core.student.config import TrainConfig, TrainingError
from core.student.examples import measure_spec
from core.student.presets import TWO_STAGE_PRETRAIN_EPOCHS
from core.student.training import TrainEvent, TrainingEnded, train_epochs
from core.teacher.runs import Event, Started


@dataclass(frozen=True)
class Round:
    """A step of self-training begins: round R's `train` or `label` (round 0 trains on humans)."""

    round: int
    rounds: int
    step: str


def check(store: Store, config: TrainConfig, subset: str, rounds: int, threshold: float | None) -> None:
    """One error line for what can't run: a threshold outside (0, 1], no round, no human labels,
    distilled data besides, or unlabelled text that is also the dev or test set."""
    if threshold is not None and not 0 < threshold <= 1:
        raise TrainingError(f"--threshold {threshold}: give the least probability a sentence's words"
                            " must have, in (0, 1] (e.g. 0.9)")
    if rounds < 1:
        raise TrainingError(f"--rounds {rounds}: give 1 or more")
    if not config.original:
        raise TrainingError("--self-train needs human labels to start from: --original SUBSET")
    if config.distilled:
        raise TrainingError("--self-train makes the distilled data itself: leave out --distilled")
    own = set(store.corpora.subset_sentence_ids(corpora.resolve_subset(store, subset)))
    for option, spec, default in (("--dev", config.dev, "conll-dev"), ("--test", config.test, "conll-test")):
        if measured := measure_spec(store, spec, default):
            ids = store.corpora.subset_sentence_ids(corpora.resolve_subset(store, as_spec(measured).subset))
            if shared := own & set(ids):
                raise TrainingError(f"--self-train {subset} shares {len(shared)} sentences with {option}"
                                    f" {measured}: a student must never learn from what measures it;"
                                    " choose a subset without them")


def self_train(store: Store, config: TrainConfig, subset: str, rounds: int = 1,
               threshold: float | None = 0.9, name: str = "", first: str = "", last: str = ""
               ) -> Iterator[Round | TrainEvent | Event]:
    """R rounds of self-training on SUBSET's text; yields each step's events. The last
    `TrainingEnded` names the student to use. A `threshold` of None keeps every sentence.

    Round R trains the run `NAME/self-R`; `first` and `last` rename round 0 and the last round,
    so a learning curve's human-only run is round 0, trained once for every recipe it starts."""
    check(store, config, subset, rounds, threshold)
    name = name or "self-train"
    names = {0: first, rounds: last}
    yield Round(0, rounds, "train")
    human = replace(config, schedule="pure-original", pretrain_epochs=0)
    run = yield from _train(store, human, names[0] or f"{name}/self-0")
    for r in range(1, rounds + 1):
        yield Round(r, rounds, "label")
        labelled = None
        for event in labeller.label(store, subset, str(run), f"{subset}-{name}-round{r}"):
            labelled = event.run if isinstance(event, Started) else labelled
            yield event
        scores = store.annotations.scores(labelled)
        if threshold is not None and not any(found["sentence"] >= threshold for found in scores.values()):
            raise TrainingError(f"round {r}: the student was {threshold} sure of none of {subset}'s"
                                f" {len(scores)} sentences; lower --threshold or train it longer (--epochs)")
        yield Round(r, rounds, "train")
        taught = replace(human, distilled=[f"{subset}@run:{labelled}"],
                         distilled_filter="all" if threshold is None else f"sure:{threshold}",
                         pretrain_epochs=config.pretrain_epochs or TWO_STAGE_PRETRAIN_EPOCHS)
        run = yield from _train(store, taught, names.get(r) or f"{name}/self-{r}")


def _train(store: Store, config: TrainConfig, name: str):
    run = None
    for event in train_epochs(store, config, name):
        run = event.run if isinstance(event, TrainingEnded) else run
        yield event
    return run

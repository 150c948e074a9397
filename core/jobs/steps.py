"""A job's sub-steps as `Working` events: a training run's batches, an annotation run's
sentences. The demo and the loop chain the same stages and report them the same way."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TypeVar

from core.progress import Working
from core.student.training import BatchDone, TrainEvent, TrainingEnded
from core.teacher.runs import Ended, Event, Progressed, Started

T = TypeVar("T")


def working(step: str, steps: Generator[tuple, None, T]) -> Generator[Working, None, T]:
    """A sub-step's (done, total[, info]) as `Working` events; returns the sub-step's value."""
    while True:
        try:
            done, total, *info = next(steps)
        except StopIteration as finished:
            return finished.value
        yield Working(step, done, total, *info)


def training(step: str, events: Iterator[TrainEvent]) -> Generator[Working, None, TrainingEnded]:
    """A training run's batches as progress; how it ended."""
    for event in events:
        if isinstance(event, BatchDone):
            yield Working(step, event.batch, event.batches, event.note)
        elif isinstance(event, TrainingEnded):
            return event
    raise AssertionError("train_epochs ends with TrainingEnded")


def annotation(step: str, events: Iterator[Event]) -> Generator[Working, None, tuple[int, Ended]]:
    """An annotation run's sentences as progress; the run and how it ended."""
    run, ended = None, None
    for event in events:
        if isinstance(event, Started):
            run = event.run
        elif isinstance(event, Progressed):
            yield Working(step, event.done, event.total, event.note)
        elif isinstance(event, Ended):
            ended = event
    assert run is not None and ended is not None, "a run starts with Started and ends with Ended"
    return run, ended

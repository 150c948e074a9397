"""What `nerd loop --status` and the reports screen show: each round of a loop, with what the
person did in it (read from the review log: corrections, accepts, minutes of work) beside what
the round's student scored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.data import corpora
from core.jobs.loop import CORRECTIONS, FAVOURS_TEACHER, IDLE, LoopError, settings_of
from core.store import Store
from core.store.loops import LoopRecord, LoopRound
from core.store.reviews import HUMAN_LABELS

# fixes: tag changes a reviewed sentence; min: minutes of reviewing; trained: sentences the round's
# student trained on; F1s on held-out sentences (how many in brackets).
COLUMNS = ("#", "labeller (run)", "reviewed", "fixes", "min", "trained", "student", "teacher|student")


@dataclass(frozen=True)
class RoundView:
    """A round with its batch's review so far."""

    stored: LoopRound
    batch: int  # sentences in the batch
    reviewed: int  # of those, reviewed (human labels)
    corrections: int  # tag changes logged (labelling a span, deleting one, a type swapped)
    minutes: float  # time between review rows, each pause counted at most `IDLE`

    @property
    def per_sentence(self) -> float | None:
        return self.corrections / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class LoopStatus:
    loop: LoopRecord
    subset: str
    rounds: list[RoundView]

    def notes(self) -> list[str]:
        """What the numbers mean, and where the loop stands."""
        settings = settings_of(self.loop)
        out = [f"loop {self.loop.name} over {self.subset}: batches of {settings.batch}; fixes: tag changes"
               f" a reviewed sentence; F1 on held-out reviewed sentences (one in {settings.holdout}, how"
               f" many in brackets), teacher|student on those the teacher labelled; {FAVOURS_TEACHER}."]
        if self.rounds:
            last = self.rounds[-1].stored
            if last.status == "ready":
                out.append(f"round {last.round} is ready, labelled by the {last.labeller}: review run"
                           f" {last.annotation_run_id} (nerd tui --run {last.annotation_run_id}), then"
                           f" nerd loop {self.subset} for the next round")
            else:
                out.append(f"round {last.round} stopped while {last.status}: nerd loop {self.subset}"
                           " resumes it")
        return out


def loop_status(store: Store, subset: str, name: str = "") -> LoopStatus:
    name = name or f"loop-{subset}"
    loop = store.loops.find(name)
    if loop is None:
        raise LoopError(f"no loop {name!r} yet: start it with nerd loop {subset}")
    views = []
    for found in store.loops.rounds(loop.id):
        batch = len(store.corpora.subset_sentence_ids(found.batch_subset_id)) if found.batch_subset_id else 0
        reviewed, corrections, minutes = 0, 0, 0.0
        if found.annotation_run_id is not None:
            reviewed = sum(1 for r in store.reviews.latest(found.annotation_run_id).values()
                           if r.status in HUMAN_LABELS)
            log = store.reviews.log(found.annotation_run_id)
            corrections = sum(1 for row in log if row["action"] in CORRECTIONS)
            minutes = working_minutes([row["created"] for row in log])
        views.append(RoundView(found, batch, reviewed, corrections, minutes))
    return LoopStatus(loop, store.corpora.subset(corpora.resolve_subset(store, subset)).name, views)


def working_minutes(stamps: list[str]) -> float:
    """Minutes between the first and the last review row, each pause counted at most `IDLE` s."""
    times = sorted(datetime.fromisoformat(s).timestamp() for s in stamps if s)
    return sum(min(b - a, IDLE) for a, b in zip(times, times[1:], strict=False)) / 60


def _f1(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def status_rows(status: LoopStatus) -> list[list[str]]:
    """One row a round, in `COLUMNS` order: F1s on the held-out sentences (how many in brackets),
    the teacher beside the student on those the teacher labelled."""
    rows = []
    for view in status.rounds:
        found = view.stored
        by = (f"{found.labeller} ({found.annotation_run_id})" if found.status == "ready"
              else f"({found.status})")
        rows.append([str(found.round), by, f"{view.reviewed}/{view.batch}",
                     "-" if view.per_sentence is None else f"{view.per_sentence:.2f}", f"{view.minutes:.1f}",
                     str(found.reviewed) if found.round else "-",
                     f"{_f1(found.student_f1)} ({found.heldout})" if found.student_f1 is not None else "-",
                     f"{_f1(found.teacher_f1)}|{_f1(found.student_f1_compared)} ({found.compared})"
                     if found.compared else "-"])
    return rows


def curve(status: LoopStatus) -> dict[str, list[tuple[int, float]]]:
    """F1 against sentences reviewed for training: the student on every held-out sentence, and
    the teacher on those it labelled."""
    points: dict[str, list[tuple[int, float]]] = {"student": [], "teacher": []}
    for view in status.rounds:
        found = view.stored
        if found.student_f1 is not None:
            points["student"].append((found.reviewed, found.student_f1))
        if found.teacher_f1 is not None:
            points["teacher"].append((found.reviewed, found.teacher_f1))
    return points

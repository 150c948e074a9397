"""The paper's experiments as a resumable queue of training runs.

Phase two: groups A-E (section "Experiment Design"), learning-rate decay on and off.
Phase three: every blend pattern on distilled CoNLL + BBC and original CoNLL data.
Each job is a named training run; a finished one is skipped and an interrupted one
resumes, so a long sweep can run in pieces (`--only`, `--seeds`, or simply again).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from common.tables import markdown_table
from core import evaluate, layers, presets
from core.schedules import PAPER_SCHEDULES
from core.store import Store
from core.training import TrainConfig, TrainingError, train


@dataclass
class Job:
    experiment: str
    group: str  # A..E, or a schedule name
    decay: bool
    seed: int
    config: TrainConfig

    @property
    def name(self) -> str:
        return f"{self.experiment}/{self.group}/{'decay' if self.decay else 'no-decay'}/seed{self.seed}"


@dataclass
class Sources:
    """Where the distilled and original data come from (subset@layer specs)."""

    conll_distilled: str = "distill-1000@run:latest"
    bbc_distilled: str = "bbc-long-966@run:latest"
    original: str = "original-1000"


def phase2_groups(sources: Sources) -> dict[str, tuple[str, list[str], list[str]]]:
    """Group -> (schedule, distilled, original), as the paper describes them."""
    conll, both = [sources.conll_distilled], [sources.conll_distilled, sources.bbc_distilled]
    return {
        "A": ("pure-original", [], [sources.original]),
        "B": ("pure-distilled", conll, []),
        "C": ("pure-distilled", both, []),
        "D": ("simple-mix", conll, [sources.original]),
        "E": ("simple-mix", both, [sources.original]),
    }


def jobs(experiment: str, sources: Sources, preset: str = "paper", seeds: int = 5,
         only: list[str] | None = None, decays: tuple[bool, ...] = (True, False),
         base: dict | None = None) -> list[Job]:
    """Every job of the experiment; `base` holds explicit settings, which win over the preset."""
    base = base or {}
    if experiment == "phase2":
        plan = phase2_groups(sources)
    elif experiment == "phase3":
        both = [sources.conll_distilled, sources.bbc_distilled]
        plan = {spec: (spec, [] if spec == "pure-original" else both,
                       [] if spec == "pure-distilled" else [sources.original])
                for spec in PAPER_SCHEDULES}
    else:
        raise TrainingError(f"unknown experiment {experiment!r}; use phase2 or phase3")
    if only:
        unknown = set(only) - set(plan)
        if unknown:
            raise TrainingError(f"--only {', '.join(sorted(unknown))}: not in {experiment};"
                             f" choose from {', '.join(plan)}")
        plan = {k: v for k, v in plan.items() if k in only}
    out = []
    for group, (schedule, distilled, original) in plan.items():
        for decay in decays:
            for seed in range(1, seeds + 1):
                config = presets.config(preset, decay, **{**base, "schedule": schedule,
                                                          "distilled": distilled, "original": original,
                                                          "seed": seed})
                out.append(Job(experiment, group, decay, seed, config))
    return out


def run_queue(store: Store, queue: list[Job], on_job: Callable[[int, int, Job], None] | None = None,
              progress=None) -> list[tuple[Job, int]]:
    done = []
    for i, job in enumerate(queue):
        if on_job:
            on_job(i, len(queue), job)
        done.append((job, train(store, job.config, job.name, progress=progress)))
    return done


@dataclass
class Row:
    group: str
    decay: bool
    runs: int
    scores: dict[str, tuple[float, float]]  # metric -> (mean, std)


OVERALL = ["precision", "recall", "micro_f1"]  # then each entity type's F1, named by the type


def results(store: Store, queue: list[Job], test: str = "conll-test") -> list[Row]:
    """Mean ± std over seeds of micro P/R/F1 and per-type F1 (the label schema's types, and
    any other the test set has), for finished jobs."""
    scored: list[tuple[Job, evaluate.Report]] = []
    for job in queue:
        run = store.training.finished_named(job.name)
        if run is not None:
            scored += [(job, *layers.score(store, test, "gold", [f"pred:{run}"]).values())]
    names = store.labels.current().names  # every schema type a column, 0 where a run has none
    types = list(dict.fromkeys([*names, *evaluate.report_types([r for _, r in scored], names)]))
    grouped: dict[tuple[str, bool], list[dict[str, float]]] = {}
    for job, report in scored:
        values = {"precision": report.precision, "recall": report.recall,
                  "micro_f1": report.micro_f1}
        values |= {k: report.per_type[k].f1 if k in report.per_type else 0.0 for k in types}
        grouped.setdefault((job.group, job.decay), []).append(values)
    rows = []
    for (group, decay), runs in grouped.items():
        scores = {m: (statistics.mean(r[m] for r in runs),
                      statistics.stdev(r[m] for r in runs) if len(runs) > 1 else 0.0)
                  for m in OVERALL + types}
        rows.append(Row(group, decay, len(runs), scores))
    return rows


def metrics(rows: list[Row]) -> list[str]:
    """The rows' metrics: overall ones, then one a type."""
    return list(rows[0].scores) if rows else OVERALL


def to_markdown(rows: list[Row], title: str) -> str:
    names = metrics(rows)
    header = ["group", "LR decay", "runs", "P", "R", "micro F1", *(f"{t} F1" for t in names[len(OVERALL):])]
    cells = [[row.group, "yes" if row.decay else "no", str(row.runs),
              *(f"{row.scores[m][0]:.3f} ± {row.scores[m][1]:.3f}" for m in names)] for row in rows]
    return markdown_table(header, cells, "llr" + "r" * len(names), title)


def to_csv(rows: list[Row]) -> str:
    names = metrics(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "decay", "runs"] + [f"{m}_{s}" for m in names for s in ("mean", "std")])
    for row in rows:
        writer.writerow([row.group, row.decay, row.runs]
                        + [f"{v:.4f}" for m in names for v in row.scores[m]])
    return buffer.getvalue()

"""The paper's experiments, and a learning curve, as resumable queues of training runs.

Phase two: groups A-E (section "Experiment Design"). Phase three: every blend pattern on
distilled CoNLL + BBC and original CoNLL data. The curve: how much the teacher adds to
100, 250, 500 and 1000 human sentences, its few-shot pool limited to those same sentences.

Each job is a named training run, `EXPERIMENT/SETTING/GROUP/seedN`; a finished one is
skipped and an interrupted one resumes, so a sweep runs in pieces (`--only`, `--seeds`, or
simply again). Tables are made from every finished run of the experiment in the store, so
they grow as the queue does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.data import corpora
from core.specs import as_spec
from core.store import Store
from core.student import presets
from core.student.config import TrainConfig, TrainingBusy, TrainingError
from core.student.schedules import PAPER_SCHEDULES
from core.student.self_training import self_train
from core.student.training import BatchDone, TrainingEnded, train

EXPERIMENTS = ("phase2", "phase3", "curve")
CURVE_SIZES = (100, 250, 500, 1000)
# Curve recipes: what the distilled data is used for, beside the human sentences.
RECIPES: dict[str, dict] = {
    "human": {"schedule": "pure-original"},
    "two-stage": {"schedule": "pure-original", "pretrain_epochs": presets.TWO_STAGE_PRETRAIN_EPOCHS},
    "simple-mix": {"schedule": "simple-mix"},
    "loss-mix": {"schedule": "simple-mix", "blend": "loss"},
    "self-train": {"schedule": "pure-original"},
    "self-train-all": {"schedule": "pure-original"},
    "self-train-wide": {"schedule": "pure-original", "pretrain_epochs": 3},
}


@dataclass(frozen=True)
class SelfTraining:
    """A self-training recipe (issue 30): the size's human-only student labels the unlabelled
    text and a fresh one learns first from the sentences it was `threshold` sure of (None: all),
    for the recipe's `pretrain_epochs`, then from the humans; `wide`: Sources.wide's text."""

    threshold: float | None
    wide: bool = False


SELF_TRAINING = {"self-train": SelfTraining(0.9), "self-train-all": SelfTraining(None),
                 "self-train-wide": SelfTraining(None, wide=True)}


@dataclass(frozen=True)
class Job:
    experiment: str
    setting: str  # the preset and any departure from it, e.g. cpu, paper-constant, cpu+frozen
    group: str  # A..E, a schedule, or SIZE/RECIPE
    seed: int
    config: TrainConfig
    unlabelled: str = ""  # self-training: the text the human-only student labels
    threshold: float | None = None  # ... and the least sure sentence kept (None: all)

    @property
    def name(self) -> str:
        return f"{self.experiment}/{self.setting}/{self.group}/seed{self.seed}"

    @property
    def first(self) -> str:
        """Self-training's round 0: the same size's human-only job, trained once for all."""
        size = self.group.split("/")[0]
        return f"{self.experiment}/{self.setting}/{size}/human/seed{self.seed}"


@dataclass(frozen=True)
class Sources:
    """Where the distilled and original data come from (subset@layer specs). The distilled
    layers name their annotation runs: `run:latest` would move when another run is made."""

    conll_distilled: str = "distill-1000@run:distill-1000-pool1000"
    bbc_distilled: str = "bbc-long-966@run:bbc-long-966-pool1000"
    original: str = "original-1000"
    curve_distilled: str = "distill-1000@run:distill-1000-pool{size}"  # teacher pool = the human sentences
    unlabelled: str = "self-3000"  # the curve's self-training text, never the dev or test sentences
    wide: str = "train-but-original"  # self-train-wide's: every other train sentence (3 epochs of it)


def phase2_groups(sources: Sources) -> dict[str, tuple[str, list[str], list[str]]]:
    """Group -> (schedule, distilled, original), as the paper describes them."""
    conll, both = [sources.conll_distilled], [sources.conll_distilled, sources.bbc_distilled]
    groups = {
        "A": ("pure-original", [], [sources.original]),
        "B": ("pure-distilled", conll, []),
        "C": ("pure-distilled", both, []),
        "D": ("simple-mix", conll, [sources.original]),
        "E": ("simple-mix", both, [sources.original]),
    }
    return groups if sources.bbc_distilled else {g: v for g, v in groups.items() if g not in ("C", "E")}


def curve_subset(sources: Sources, size: int) -> str:
    """The first `size` human sentences (nested: 100 ⊂ 250 ⊂ ...), as a subset name."""
    return f"{sources.original}-first-{size}"


def _plan(experiment: str, sources: Sources, sizes: tuple[int, ...], recipes: tuple[str, ...]
          ) -> dict[str, dict]:
    """Group -> the config fields that make it."""
    if experiment == "phase2":
        return {g: {"schedule": s, "distilled": d, "original": o}
                for g, (s, d, o) in phase2_groups(sources).items()}
    if experiment == "phase3":
        both = [spec for spec in (sources.conll_distilled, sources.bbc_distilled) if spec]
        return {spec: {"schedule": spec, "distilled": [] if spec == "pure-original" else both,
                       "original": [] if spec == "pure-distilled" else [sources.original]}
                for spec in PAPER_SCHEDULES}
    if experiment == "curve":
        unknown = set(recipes) - set(RECIPES)
        if unknown:
            raise TrainingError(f"--recipes {', '.join(sorted(unknown))}: choose from {', '.join(RECIPES)}")
        return {f"{size}/{recipe}": {
            **RECIPES[recipe], "original": [curve_subset(sources, size)],
            "distilled": [] if recipe == "human" or recipe in SELF_TRAINING
            else [sources.curve_distilled.format(size=size)]}
            for size in sizes for recipe in recipes}
    raise TrainingError(f"unknown experiment {experiment!r}; use {', '.join(EXPERIMENTS)}")


def setting(preset: str, config: TrainConfig) -> str:
    """The job's setting label: the preset, then each departure that changes every group."""
    base = presets.config(preset)
    label = preset
    if config.lr_schedule != base.lr_schedule:
        label += f"-{config.lr_schedule}"
    if config.epochs != base.epochs:
        label += f"-{config.epochs}ep"
    if config.freeze_embeddings:
        label += "+frozen"
    return label


def jobs(experiment: str, sources: Sources, preset: str = "paper", seeds: int = 5,
         only: list[str] | None = None, decays: tuple[bool, ...] = (True, False),
         base: dict | None = None, sizes: tuple[int, ...] = CURVE_SIZES,
         recipes: tuple[str, ...] = ("human", "two-stage")) -> list[Job]:
    """Every job of the experiment; `base` holds explicit settings, which win over the preset.

    `decays` matters only for a preset whose learning rate decays a epoch (paper); for any
    other the runs would be the same, so they are asked for once.
    """
    base = base or {}
    plan = _plan(experiment, sources, sizes, recipes)
    if only:
        unknown = set(only) - set(plan)
        if unknown and experiment == "phase2" and not sources.bbc_distilled and unknown <= {"C", "E"}:
            raise TrainingError(f"--only {', '.join(sorted(unknown))}: groups C and E train on the BBC"
                                " distilled data; give --bbc-distilled SUBSET@LAYER")
        if unknown:
            raise TrainingError(f"--only {', '.join(sorted(unknown))}: not in {experiment};"
                                f" choose from {', '.join(plan)}")
        plan = {k: v for k, v in plan.items() if k in only}
    if presets.config(preset).lr_schedule != "decay":
        decays = decays[:1]
    out = []
    for group, fields in plan.items():
        for decay in decays:
            for seed in range(1, seeds + 1):
                config = presets.config(preset, decay, **{**base, **fields, "seed": seed})
                label = setting(preset, config) + ("-no-bbc" if experiment == "phase3"
                                                   and not sources.bbc_distilled else "")
                recipe = group.partition("/")[2]
                if recipe in SELF_TRAINING:
                    how = SELF_TRAINING[recipe]
                    out.append(Job(experiment, label, group, seed, config,
                                   sources.wide if how.wide else sources.unlabelled, how.threshold))
                else:
                    out.append(Job(experiment, label, group, seed, config))
    return out


def prepare(store: Store, experiment: str, queue: list[Job], sources: Sources,
            sizes: tuple[int, ...] = CURVE_SIZES) -> list[str]:
    """Make the curve's nested human subsets (cheap) and list the annotation runs the
    queue needs that the store lacks, each as the command that makes it."""
    pools = {sources.conll_distilled: sources.original, sources.bbc_distilled: sources.original}
    if experiment == "curve":
        pools = {}
        for size in sizes:
            corpora.head(store, sources.original, curve_subset(sources, size), size)
            pools[sources.curve_distilled.format(size=size)] = curve_subset(sources, size)
    used = {spec for job in queue for spec in job.config.distilled}
    needed = []
    unlabelled = {job.unlabelled for job in queue if job.unlabelled}
    human = store.corpora.subset_by_name(sources.original)
    dataset = next((d for d in store.corpora.datasets() if human and d.id == human.dataset_id), None)
    for subset in sorted(unlabelled - set(store.corpora.subset_names())):
        rest = dataset.n_sentences - len(store.corpora.subset_sentence_ids(human.id)) if dataset else 3000
        size = rest if subset == sources.wide else min(3000, rest)
        needed.append(f"nerd sample {dataset.name if dataset else 'DATASET'} --name {subset} --size {size}"
                      f" --exclude {sources.original}  # the text self-training labels: never the dev or"
                      " test sentences")
    for spec, pool in pools.items():
        if spec not in used:
            continue
        parsed = as_spec(spec)
        subset, layer = parsed.subset, parsed.layer
        name = layer.ref
        if layer.kind != "run" or name == "latest":
            continue
        found = store.annotations.find(name)
        run = store.annotations.run(found) if found is not None else None
        if run is None or run.status != "finished":  # a part-labelled layer would train silently
            state = "" if run is None else f"  # {run.status}, {store.annotations.count(run.id)} done"
            needed.append(f"nerd annotate {subset} --small-teacher --pool {pool} --name {name}{state}")
    return needed


def run_queue(store: Store, queue: list[Job], on_job: Callable[[int, int, Job], None] | None = None,
              progress=None, on_done: Callable[[Job, int], None] | None = None,
              on_busy: Callable[[Job], None] | None = None) -> list[tuple[Job, int]]:
    """Train every job in turn (a finished one returns at once); `on_done` after each. A job
    another process is training is left to it (`on_busy`), so several workers can share a queue."""
    done = []
    for i, job in enumerate(queue):
        if on_job:
            on_job(i, len(queue), job)
        try:
            run = _self_train(store, job, progress) if job.unlabelled else train(
                store, job.config, job.name, progress=progress)
        except TrainingBusy:
            if on_busy:
                on_busy(job)
            continue
        done.append((job, run))
        if on_done:
            on_done(job, run)
    return done


def _self_train(store: Store, job: Job, progress=None) -> int:
    """One round of self-training from the size's human-only run; the student it ends with."""
    run = 0
    for event in self_train(store, job.config, job.unlabelled, 1, job.threshold, job.name,
                            first=job.first, last=job.name):
        if isinstance(event, BatchDone) and progress:
            progress(event.batch, event.batches, event.note)
        elif isinstance(event, TrainingEnded):
            if event.status != "finished":
                raise TrainingError(f"{job.name}: training run {event.run} {event.status}")
            run = event.run
    return run

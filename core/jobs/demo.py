"""The main job on the embedded defaults: what `nerd demo` (and `just demo`) runs.

Each step is idempotent, so running the job again after a crash picks up where it stopped.
The job is a generator of events (lines, reports, progress), in the manner of `train_epochs`:
the CLI renders them (`tui.render`), and stopping the iteration stops the job.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from core import layers
from core.data import corpora
from core.data.corpora import Stats
from core.data.evaluate import Report
from core.data.ingest import TextFormat
from core.jobs import steps
from core.jobs.steps import working
from core.progress import Said, Working
from core.ship import deploy
from core.store import Store
from core.student import presets, training
from core.student.presets import TWO_STAGE_PRETRAIN_EPOCHS
from core.teacher import quality
from core.teacher.annotate import start
from core.teacher.quality import RunQuality
from core.teacher.runs import RunConfig

CONLL_SPLITS = {"conll-train": "train.txt", "conll-dev": "dev.txt", "conll-test": "test.txt"}
PAPER_SUBSETS = (
    # name, dataset, size, exclude, min_tokens
    ("original-1000", "conll-train", 1000, (), 0),
    ("distill-1000", "conll-train", 1000, ("original-1000",), 0),
    ("bbc-long-966", "bbc", 966, (), 30),
)
SEED = 13


@dataclass(frozen=True)
class CorpusStats:
    rows: list[Stats]


@dataclass(frozen=True)
class Scored:
    title: str
    reports: dict[str, Report]


@dataclass(frozen=True)
class TeacherBehaviour:
    runs: list[RunQuality]


@dataclass(frozen=True)
class SummaryRow:
    model: str
    report: Report | None
    note: str


@dataclass(frozen=True)
class Summary:
    """The demo's last table: every model it made, scored on CoNLL-2003 test."""

    rows: list[SummaryRow]
    seconds: float


DemoEvent = Said | Working | CorpusStats | Scored | TeacherBehaviour | Summary


def import_defaults(store: Store, data: Path) -> Iterator[Said | Working]:
    """CoNLL-2003 train/dev/test and, when present, the BBC articles."""
    for name, filename in CONLL_SPLITS.items():
        result = corpora.import_conll(store, data / "conll2003" / filename, name)
        yield Said(f"{name}: {result.sentences} sentences" + ("" if result.added else " (already there)"))
    if (data / "bbc").is_dir():
        txt = TextFormat(format="txt", headline=True)
        result = yield from working("import bbc", corpora.import_text_steps(store, data / "bbc", "bbc", txt))
        yield Said(f"bbc: {result.sentences} sentences, {result.skipped_duplicates} duplicate articles"
                   " dropped" if result.added else f"bbc: {result.sentences} sentences (already there)")


def sample_defaults(store: Store) -> list[str]:
    """The paper's subsets, drawn disjointly and seeded."""
    made = []
    have = set(store.corpora.dataset_names())
    for name, dataset, size, exclude, min_tokens in PAPER_SUBSETS:
        if dataset in have:
            corpora.sample(store, dataset, name, size, SEED, list(exclude), min_tokens)
            made.append(name)
    return made


@dataclass
class DemoOptions:
    annotate: int = 50  # sentences the embedded teacher labels (0: skip the loop after the report)
    epochs: int = 5  # epochs on the human labels, the same for both students
    model: str = ""  # GGUF for the teacher
    artifacts: Path | None = None  # where the ONNX bundle goes (default: beside the database)


# What the demo's cut-down setting stands for: the learning curve at 1,000 human sentences
# (bench/results/curve.md, AMD EPYC, cpu preset, 20 epochs, mean ± std over seeds).
FULL_SETTING = ("The full setting (20 epochs, bench/results/curve.md): human only 0.800 ± 0.004,"
                " with the teacher (two stages) 0.798 ± 0.001 at 1,000 human sentences, so this"
                " teacher adds nothing measurable there; at 250 human sentences it adds 2.9 points"
                " (0.684 → 0.713). Self-training, the student labelling 3,000 other train sentences"
                " and a fresh one learning from them first (bench/results/curve-self/curve.md, 3"
                " seeds), adds 1.5 points at 1,000 (0.798 → 0.813) and 3.1 at 250, no LLM asked.")


def run_demo(store: Store, data: Path, options: DemoOptions | None = None) -> Iterator[DemoEvent]:
    """The whole loop on the embedded defaults: import and sample, the floor and ceiling any
    teacher is judged by, a small annotation run, two students trained alike on the human labels
    (one of them on the teacher's labels first), ONNX export (int8) of the better on dev, and
    evaluation on CoNLL test, with a summary that shows what the teacher added, whatever its sign."""
    options = options or DemoOptions()
    started = time.perf_counter()
    yield from import_defaults(store, data)
    sample_defaults(store)
    yield CorpusStats(corpora.stats(store))
    reports = layers.score(store, "conll-test", "gold", ["lexicon:original-1000"])
    reports |= layers.score(store, "distill-1000", "gold", ["roundtrip"])
    yield Scored("Floor and ceiling: entities memorised from original-1000, scored on conll-test;"
                 " gold turned into a teacher's dict and aligned back, on distill-1000", reports)
    if not options.annotate:
        return
    run = yield from annotate_sample(store, options.annotate, options.model)
    teacher = quality.run_quality(store, run)
    yield TeacherBehaviour([teacher])
    summary = [SummaryRow("teacher (Gemma 270M, 8 nearest-neighbour examples)", teacher.report,
                          f"{teacher.sentences} distill sentences, {teacher.seconds:.2f} s each")]
    # Two students with the same budget on the human labels, so the teacher's part shows
    # whatever its sign: one on original-1000 alone, one first on the teacher's labels.
    students, taught_on = {}, [f"distill-first-{options.annotate}@run:{run}"]
    for name, distilled, title in (("demo-human", [], "human labels only"),
                                   ("demo-teacher", taught_on, "teacher's labels, then human")):
        config = presets.config("cpu", distilled=distilled, original=["original-1000"], schedule="auto",
                                dev="conll-dev", dev_limit=300, test="conll-test", epochs=options.epochs)
        ended = yield from steps.training(f"train: {title}", training.train_epochs(store, config, name))
        students[name] = ended.run
    scores = layers.score(store, "conll-test", "gold", [f"pred:{r}" for r in students.values()])
    human, taught = (scores[f"pred:{students[n]}"] for n in ("demo-human", "demo-teacher"))
    summary.append(SummaryRow(f"student, human only (run {students['demo-human']})", human,
                              f"{options.epochs} epochs on original-1000"))
    summary.append(SummaryRow(f"student + teacher (run {students['demo-teacher']})", taught,
                              f"{TWO_STAGE_PRETRAIN_EPOCHS} epochs on the teacher's {options.annotate},"
                              f" then the same; {100 * (taught.micro_f1 - human.micro_f1):+.1f} points"))
    best = max(students.values(), key=lambda r: store.training.metrics(r)[-1]["dev_f1"] or 0.0)
    bundle = (options.artifacts or store.path.parent / "artifacts") / "nerd-onnx-int8"
    check = deploy.export_onnx(store, str(best), bundle, int8=True)
    yield Said(f"ONNX bundle {bundle} (run {best}, the better on conll-dev): max |Δlogit|"
               f" {check.max_abs_logit_diff:.1e} (fp32), int8 dev F1 {check.dev_f1_fp32:.3f} ->"
               f" {check.dev_f1_int8:.3f}")
    result = deploy.evaluate_bundle(bundle, data / "conll2003" / "test.txt")
    summary.append(SummaryRow(f"ONNX int8 (run {best})", result.report,
                              f"{result.sentences_per_second:.0f} sentences/s"))
    yield Summary(summary, time.perf_counter() - started)
    yield Said(FULL_SETTING)


def annotate_sample(store: Store, size: int, model: str = "") -> Generator[DemoEvent, None, int]:
    """The first `size` sentences of distill-1000, labelled by the embedded teacher; the run."""
    corpora.head(store, "distill-1000", f"distill-first-{size}", size)
    # The small-teacher setting uses the human-labelled pool twice (nearest-neighbour examples
    # and its entity strings), which lifts the 270M teacher's F1 from 0.20 to 0.67
    # (bench/results/teacher.md).
    config = RunConfig(subset=f"distill-first-{size}", backend="llama-cpp", model=model, pool="original-1000")
    run, ended = yield from steps.annotation(f"annotate {size} sentences", start(store, config, small=True))
    summary = ended.summary
    yield Said(f"annotation run {run}: {summary.done} sentences, {summary.asked} asked,"
               f" {summary.from_store} from the store, {summary.seconds:.0f} s")
    return run

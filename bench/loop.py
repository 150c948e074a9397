"""`just bench-loop`: `nerd loop` simulated on CoNLL-2003 train with an annotator who knows the
gold tags, against the baseline of reviewing the teacher's pre-annotations in document order
until 1,000 sentences and training once (issue 29, step 5).

- The loop: `core.jobs.loop.advance` itself, over `sim-pool` (distill-1000 in its order, then
  2,000 more train sentences outside original-1000), batches of 50, until 1,000 sentences are
  reviewed, then one more round trains on them all. Each batch is reviewed to gold through the
  review session (`ReviewSession`: the rows the app writes). After each round its student is
  scored on conll-test.
- The baseline: the teacher labels distill-1000 (document order); a student trains once on its
  1,000 gold sentences (cpu preset, 20 epochs) and is scored on conll-test.
- Both teachers are the same: the embedded Gemma 270M, small-teacher setting, with original-1000
  as its pool besides what the loop has reviewed. The loop holds one reviewed sentence in five
  out to score, so its students train on about 800 of the 1,000 it reviewed.

Correction keys: the fewest keys the review screen allows from each sentence's pre-annotation
to gold (`bench.review_plan.plan`, accept apart), computed from the runs as stored.

`python -m bench.loop run --db DB [--name N] [--self-train] [--choose C] [--until K]` simulates
(resumable: every step is a run of the project; `--self-train` and `--choose` are `nerd loop`'s,
`--name` keeps loops of different settings apart in one project, `--until` stops reviewing
sooner than 1,000); `python -m bench.loop report --db DB [--name N]` writes
bench/results/loop.md and loop.png, named by the loop's settings (loop-self-train-in-order.md);
`python -m bench.loop compare --db DB --names N1,N2` writes loop-compare.md and .png.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS, header, write
from bench.review_plan import AFTER, plan
from common.plots import new_figure, save_png
from common.tables import markdown_table
from common.tags import spans
from core import layers
from core.data import corpora
from core.jobs import loop
from core.progress import Said, Working
from core.review.session import ReviewSession
from core.store import Store
from core.store.loops import LoopRound
from core.student import presets
from core.student.training import train
from core.teacher.annotate import start
from core.teacher.runs import RunConfig

NAME = "sim"
POOL = "sim-pool"
BATCH = 50
UNTIL = 1000  # the baseline's sentences, and the loop's unless told fewer
SETTINGS = {"batch": BATCH, "pool": "original-1000"}


SELF_TRAINING = (" The loop self-trains (`nerd loop --self-train`): once a round's student beats the"
                 " teacher, the next round learns first for one epoch from that student's labels of the"
                 " pool's sentences of no batch (held-out ones left out), then from the reviewed ones.")


CHOICE = {"least-sure": " Each batch is the sentences the round's student is least sure of.",
          "in-order": " Each batch is the next sentences in order (the student still pre-annotates).",
          "mixed": " Each batch is half the sentences the round's student is least sure of, half the"
                   " next in order."}


def output(store: Store, name: str = NAME) -> str:
    """The results' name: loop, then -self-train for a loop that self-trains and its batch choice
    when not the least sure (loop-self-train-in-order)."""
    found = store.loops.find(name)
    settings = loop.settings_of(found) if found else loop.LoopSettings()
    return "-".join(["loop", *(["self-train"] if settings.self_train else []),
                     *([settings.choose] if settings.choose != "least-sure" else [])])


def times_file(store: Store, name: str = NAME, step: str = "") -> Path:
    """Seconds a round: whole rounds, or one `step` of them (train: the training alone)."""
    return RESULTS / f"{output(store, name)}{f'-{step}' if step else ''}-times.json"


def read_times(store: Store, name: str = NAME, step: str = "") -> dict[str, float]:
    file = times_file(store, name, step)
    return json.loads(file.read_text()) if file.is_file() else {}


def pool_subset(store: Store, extra: int = 2000) -> None:
    """distill-1000 in its order, then `extra` more train sentences outside original-1000."""
    if store.corpora.subset_by_name(POOL) is not None:
        return
    corpora.sample(store, "conll-train", "sim-extra", extra, seed=29,
                   exclude=["original-1000", "distill-1000"])
    ids = [*store.corpora.subset_sentence_ids(corpora.resolve_subset(store, "distill-1000")),
           *store.corpora.subset_sentence_ids(corpora.resolve_subset(store, "sim-extra"))]
    dataset = store.corpora.subset(corpora.resolve_subset(store, "distill-1000")).dataset_id
    store.corpora.add_subset(POOL, dataset, 29, {"from": ["distill-1000", "sim-extra"]}, ids)


def test_f1(store: Store, run: int) -> float:
    from core.student.training import store_predictions
    from models import encoder

    if not store.training.predictions(run):
        folder = Path(store.training.run(run).checkpoint_dir) / "model"
        model, tokenizer = encoder.load_classifier(folder), encoder.load_tokenizer(folder)
        store_predictions(store, run, model, tokenizer, "conll-test", 128)
    return layers.score(store, "conll-test", "gold", [f"pred:{run}"])[f"pred:{run}"].micro_f1


def review_to_gold(store: Store, run: int, count: int | None = None) -> int:
    """A reviewer who knows the gold tags: fixes each sentence through the review session (the
    rows the app writes) and accepts it. The keys it would take are counted apart (`report`)."""
    session = ReviewSession(store, run, annotator="gold")
    for item in session.items[:count]:
        if item.tags != item.gold:
            for start_, end, _ in spans(item.tags):
                session.delete(item.id, start_, end)
            for start_, end, kind in spans(item.gold):
                session.label(item.id, start_, end, kind)
        session.accept(item.id)
    return session.reviewed


def rounds(store: Store, name: str = NAME) -> list[LoopRound]:
    found = store.loops.find(name)
    return store.loops.rounds(found.id) if found else []


def reviewed_so_far(store: Store, name: str = NAME) -> int:
    return sum(len(layers.reviewed_ids(store, r.annotation_run_id))
               for r in rounds(store, name) if r.annotation_run_id)


def simulate(store: Store, name: str = NAME, until: int = UNTIL, **settings: object) -> None:
    """Rounds until `until` sentences are reviewed and a last round has trained on them all;
    resumable: a killed simulation goes on from the round it was in."""
    pool_subset(store)
    loop.open_loop(store, POOL, name, **SETTINGS, **settings)
    times = read_times(store, name)
    while True:
        last = (rounds(store, name) or [None])[-1]
        waiting = last is not None and last.status == "ready"
        if waiting and not layers.reviewed_ids(store, last.annotation_run_id):
            if reviewed_so_far(store, name) >= until:
                return
            review_to_gold(store, last.annotation_run_id)
            continue
        began = time.perf_counter()
        found, trained = [], []
        for event in loop.advance(store, POOL, name):
            if isinstance(event, loop.RoundReady):
                found.append(event)
            elif isinstance(event, Said) and ": training a student" in event.text:
                trained = [time.perf_counter()] * 2
            elif trained and isinstance(event, Working) and event.step.endswith(": train"):
                trained[1] = time.perf_counter()
        current = found[0].round
        times.setdefault(str(current.round), round(time.perf_counter() - began, 1))
        times_file(store, name).write_text(json.dumps(times))
        if trained:
            train_times = read_times(store, name, "train")
            train_times.setdefault(str(current.round), round(trained[1] - trained[0], 1))
            times_file(store, name, "train").write_text(json.dumps(train_times))
        f1 = f" test F1 {test_f1(store, current.training_run_id):.3f}" if current.training_run_id else ""
        print(f"round {current.round}: {current.labeller}, trained on {current.reviewed}{f1},"
              f" {times[str(current.round)]} s", flush=True)


def baseline(store: Store) -> int:
    """One student on distill-1000's 1,000 gold sentences (what reviewing them all gives), then
    the teacher's pre-annotations of distill-1000, whose correction keys the report counts: the
    student first, as it needs no teacher; the teacher resumes where a stopped one left off."""
    trained = presets.config("cpu", original=["distill-1000"], schedule="pure-original", dev="",
                             test="conll-test")
    run = store.training.finished_named("sim-baseline") or train(store, trained, "sim-baseline")
    config = RunConfig(subset="distill-1000", backend="llama-cpp", model="", pool="original-1000",
                       name="baseline-teacher")
    for _ in start(store, config, small=True):
        pass
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["run", "baseline", "report", "compare"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--name", default=NAME, help="the loop (one a setting to compare)")
    parser.add_argument("--names", default=NAME, help="compare: the loops, comma-separated")
    parser.add_argument("--self-train", action="store_true", help="the loop self-trains (run)")
    parser.add_argument("--choose", choices=loop.CHOICES, default=None, help="its batch choice (run)")
    parser.add_argument("--until", type=int, default=UNTIL, help="sentences to review (run)")
    args = parser.parse_args()
    with Store(args.db) as store:
        if args.step == "run":
            simulate(store, args.name, args.until, self_train=args.self_train or None,
                     choose=args.choose)
        elif args.step == "baseline":
            print("baseline student: run", baseline(store))
        elif args.step == "compare":
            compare(store, args.names.split(","))
        else:
            report(store, args.name)


def gold_entities(store: Store, run: int, only: set[int] | None = None) -> int:
    """Gold entities in the run's sentences (those in `only`): what the keys had to get right."""
    return sum(len(spans(s.gold)) for s in store.reviews.run_sentences(run)
               if s.gold is not None and (only is None or s.id in only))


def correction_keys(store: Store, run: int, only: set[int] | None = None) -> dict[int, int]:
    """Per sentence of the run (those in `only`), the fewest keys from its pre-annotation to
    gold on the review screen, the accept key left out."""
    out = {}
    for s in store.reviews.run_sentences(run):
        if s.gold is not None and (only is None or s.id in only):
            out[s.id] = len(plan(AFTER, s.tokens, s.tags, s.gold, s.scores)) - 1
    return out


@dataclass(frozen=True)
class Reviewed:
    """A round as the simulated annotator met it: its batch's keys and the round's student."""

    round: LoopRound
    sentences: int  # of its batch, reviewed
    keys: int  # correcting them
    entities: int  # gold entities in them
    f1: float | None  # the round's student on conll-test
    keys_before: int  # correction keys of every earlier batch
    reviewed_before: int


def reviewed_rounds(store: Store, name: str = NAME) -> list[Reviewed]:
    out: list[Reviewed] = []
    for found in rounds(store, name):
        if found.annotation_run_id is None:
            continue
        done = layers.reviewed_ids(store, found.annotation_run_id)
        keys = correction_keys(store, found.annotation_run_id, done)
        out.append(Reviewed(found, len(done), sum(keys.values()),
                            gold_entities(store, found.annotation_run_id, done),
                            test_f1(store, found.training_run_id) if found.training_run_id else None,
                            sum(r.keys for r in out), sum(r.sentences for r in out)))
    return out


def baseline_numbers(store: Store) -> tuple[dict[int, int], int, int, float | None]:
    """The baseline's keys by sentence, its gold entities, its keys for all 1,000 sentences (a
    teacher stopped early: its keys a sentence times 1,000) and its student's test F1."""
    teacher = store.annotations.find("baseline-teacher")
    base_keys = correction_keys(store, teacher) if teacher else {}
    base_entities = gold_entities(store, teacher, set(base_keys)) if teacher else 0
    base_total = round(sum(base_keys.values()) * UNTIL / max(len(base_keys), 1))
    base_run = store.training.finished_named("sim-baseline")
    return base_keys, base_entities, base_total, test_f1(store, base_run) if base_run else None


def compare(store: Store, names: list[str]) -> None:
    """The loops side by side (bench/results/loop-compare.md and .png): what each setting's
    keys bought, against the same baseline."""
    _, _, base_total, base_f1 = baseline_numbers(store)
    curves, rows = {}, []
    for name in names:
        found = reviewed_rounds(store, name)
        settings = loop.settings_of(store.loops.find(name))
        points = [(r.keys_before, r.f1) for r in found if r.f1 is not None]
        curves[output(store, name)] = points
        reached = reached_at(points, base_f1)
        within = [f for k, f in points if k <= base_total / 2]
        rows.append([output(store, name), settings.choose, "yes" if settings.self_train else "no",
                     f"{sum(r.sentences for r in found):,}", f"{sum(r.keys for r in found):,}",
                     f"{points[-1][1]:.3f}" if points else "-",
                     f"{reached[0]:,} ({reached[0] / base_total:.2f})" if reached else "not reached",
                     f"{max(within):.3f}" if within else "-"])
    text = header("The loop's settings side by side: correction keys and F1, simulated on CoNLL-2003")
    text += (f"Each loop as in its own results file (loop-*.md): batches of {BATCH} over {POOL}, reviewed"
             " to gold with the fewest keys, one reviewed sentence in five held out. Baseline: the"
             f" teacher's pre-annotations of distill-1000 corrected in order, {base_total:,} keys, test F1"
             f" {base_f1:.3f} after one training on the 1,000.\n\n" if base_f1 is not None else "\n")
    text += markdown_table(["loop", "batches", "self-trains", "sentences reviewed", "correction keys",
                            "last round's test F1", "keys to the baseline's F1 less 0.5 (share)",
                            "best test F1 within half the baseline's keys"], rows)
    text += "\n\n![F1 against correction keys](loop-compare.png)\n"
    write("loop-compare.md", text)
    plot(curves, (base_total, base_f1), RESULTS / "loop-compare.png")


def report(store: Store, name: str = NAME) -> None:
    times = read_times(store, name)
    found = reviewed_rounds(store, name)
    points = [(r.keys_before, r.f1) for r in found if r.f1 is not None]
    rows = [[str(r.round.round), r.round.labeller, str(r.reviewed_before), str(r.round.reviewed or "-"),
             f"{r.round.student_f1:.3f}" if r.round.student_f1 is not None else "-",
             f"{r.round.teacher_f1:.3f} ({r.round.compared})" if r.round.compared else "-",
             f"{r.f1:.3f}" if r.f1 is not None else "-", str(r.sentences), str(r.entities),
             f"{r.keys / r.sentences:.2f}" if r.sentences else "-", str(r.keys_before),
             str(times.get(str(r.round.round), "-"))] for r in found]
    total, reviewed = sum(r.keys for r in found), sum(r.sentences for r in found)
    entities = sum(r.entities for r in found)
    base_keys, base_entities, base_total, base_f1 = baseline_numbers(store)
    last = points[-1] if points else (0, 0.0)
    scaled = (f" (counted on the {len(base_keys)} sentences of distill-1000 the teacher had labelled"
              f" when it was stopped, then scaled to {UNTIL:,})") if len(base_keys) < UNTIL else ""
    text = header("The student in the loop: correction keys and F1, simulated on CoNLL-2003") + (
        f"`nerd loop` over {POOL} (distill-1000, then 2,000 more CoNLL train sentences outside"
        f" original-1000), batches of {BATCH}, reviewed to gold by an annotator who presses the fewest"
        " keys the review screen allows (`bench.review_plan.plan`, the `t` swap included where the"
        f" student labelled; accepting not counted), until {reviewed:,} sentences are reviewed; then a"
        " last round trains on them all." + (SELF_TRAINING if "self-train" in output(store, name) else "")
        + CHOICE[loop.settings_of(store.loops.find(name)).choose]
        + " The teacher is the embedded Gemma 270M in the small-teacher"
        " setting with original-1000 as its pool in both arms. One reviewed sentence in five is"
        " held out (the loop's scoring), so the loop's students train on about four in five.\n\n"
        "Each row is a round: the batch it pre-annotated and how many keys correcting it took; the"
        " round's student (trained on the sentences reviewed before it) scored on its held-out"
        " sentences and on conll-test. Seconds: the round's training, scoring, choosing and"
        " labelling (not the conll-test scoring); a teacher round that asks what the baseline's teacher"
        " already asked (round 0, when the baseline ran first) reads its answers from the cache.\n\n"
        + markdown_table(["round", "labeller", "reviewed before", "trained on", "held-out F1",
                          "teacher held-out (n)", "test F1", "batch reviewed", "its gold entities",
                          "keys/sentence", "keys before", "seconds"], rows)
        + "\n\n### Against the baseline\n\n"
        + markdown_table(["arm", "sentences reviewed", "their gold entities", "correction keys",
                          "keys/sentence", "keys/entity", "test F1"], [
            ["teacher's pre-annotations in document order, one training (20 epochs)", f"{UNTIL:,}",
             f"{base_entities:,}", f"{base_total:,}",
             f"{sum(base_keys.values()) / max(len(base_keys), 1):.2f}",
             f"{sum(base_keys.values()) / max(base_entities, 1):.2f}",
             f"{base_f1:.3f}" if base_f1 is not None else "-"],
            ["the loop (last round's student)", f"{reviewed:,}", f"{entities:,}", f"{total:,}",
             f"{total / max(reviewed, 1):.2f}", f"{total / max(entities, 1):.2f}", f"{last[1]:.3f}"]])
        + (f"\n\nBaseline keys{scaled}." if scaled else "") + "\n\n"
        + targets(points, base_total, base_f1, times, read_times(store, name, "train"), rounds(store, name))
        + f"\n\n![F1 against correction keys]({output(store, name)}.png)\n")
    write(f"{output(store, name)}.md", text)
    plot({"the loop, round by round": points}, (base_total, base_f1), RESULTS / f"{output(store, name)}.png")


def reached_at(points: list[tuple[int, float]], base_f1: float | None) -> tuple[int, float] | None:
    """The first round (keys before it, its F1) within half a point of the baseline's F1."""
    return next(((k, f) for k, f in points if base_f1 is not None and f >= base_f1 - 0.005), None)


def targets(points: list[tuple[int, float]], base_keys: int, base_f1: float | None,
            times: dict[str, float], train_times: dict[str, float], rounds_: list[LoopRound]) -> str:
    """The issue's targets, met or not, with the numbers."""
    lines = []
    if base_f1 is not None:
        reached = reached_at(points, base_f1)
        if reached:
            lines.append(f"- F1 within half a point of the baseline ({base_f1:.3f}): reached at"
                         f" {reached[1]:.3f}"
                         f" after {reached[0]:,} correction keys, {reached[0] / max(base_keys, 1):.2f} of the"
                         f" baseline's {base_keys:,} (target: at most 0.5).")
        else:
            best = max(points, key=lambda p: p[1], default=(0, 0.0))
            lines.append(f"- F1 within half a point of the baseline ({base_f1:.3f}): not reached; the best"
                         f" round scored {best[1]:.3f} after {best[0]:,} keys"
                         f" ({best[0] / max(base_keys, 1):.2f} of the baseline's {base_keys:,}).")
    upto = [(r.reviewed, train_times[str(r.round)]) for r in rounds_ if str(r.round) in train_times]
    small = [t for n, t in upto if n <= 500]
    if small:
        more = [t for n, t in upto if n > 500]
        lines.append(f"- A round's training on up to 500 reviewed sentences took at most {max(small):.0f} s"
                     f" (target: under 180 s)" + (f"; on more, up to {max(more):.0f} s" if more else "")
                     + f". Whole rounds (training, scoring, choosing, labelling): at most"
                     f" {max(times.values()):.0f} s.")
    return "\n".join(lines)


def plot(curves: dict[str, list[tuple[int, float]]], baseline: tuple[int, float | None], path: Path) -> None:
    """Test F1 against correction keys, a line a loop (by label), the baseline a square."""
    figure = new_figure((6, 4))
    axes = figure.add_subplot()
    for label, points in curves.items():
        if points:
            axes.plot([k for k, _ in points], [f for _, f in points], marker="o", markersize=3, label=label)
    if baseline[1] is not None:
        axes.scatter([baseline[0]], [baseline[1]], marker="s", color="black",
                     label="baseline: teacher's pre-annotations, 1,000 sentences")
    axes.set_xlabel("correction keys so far")
    axes.set_ylabel("conll-test F1")
    axes.legend(loc="lower right")
    save_png(figure, path)


if __name__ == "__main__":
    main()

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

`python -m bench.loop run --db DB` simulates (resumable: every step is a run of the project);
`python -m bench.loop report --db DB` writes bench/results/loop.md and loop.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import RESULTS
from common.tags import spans
from core import layers
from core.data import corpora
from core.jobs import loop
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
UNTIL = 1000
SETTINGS = {"batch": BATCH, "pool": "original-1000"}
TIMES = RESULTS / "loop-times.json"


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


def rounds(store: Store) -> list[LoopRound]:
    found = store.loops.find(NAME)
    return store.loops.rounds(found.id) if found else []


def reviewed_so_far(store: Store) -> int:
    return sum(len(layers.reviewed_ids(store, r.annotation_run_id))
               for r in rounds(store) if r.annotation_run_id)


def simulate(store: Store) -> None:
    """Rounds until UNTIL sentences are reviewed and a last round has trained on them all;
    resumable: a killed simulation goes on from the round it was in."""
    pool_subset(store)
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    while True:
        last = (rounds(store) or [None])[-1]
        waiting = last is not None and last.status == "ready"
        if waiting and not layers.reviewed_ids(store, last.annotation_run_id):
            if reviewed_so_far(store) >= UNTIL:
                return
            review_to_gold(store, last.annotation_run_id)
            continue
        began = time.perf_counter()
        found = [e for e in loop.advance(store, POOL, NAME, **SETTINGS) if isinstance(e, loop.RoundReady)]
        current = found[0].round
        times.setdefault(str(current.round), round(time.perf_counter() - began, 1))
        TIMES.write_text(json.dumps(times))
        f1 = f" test F1 {test_f1(store, current.training_run_id):.3f}" if current.training_run_id else ""
        print(f"round {current.round}: {current.labeller}, trained on {current.reviewed}{f1},"
              f" {times[str(current.round)]} s", flush=True)


def baseline(store: Store) -> int:
    """The teacher on distill-1000, then one student on its 1,000 gold sentences."""
    config = RunConfig(subset="distill-1000", backend="llama-cpp", model="", pool="original-1000",
                       name="baseline-teacher")
    for _ in start(store, config, small=True):
        pass
    trained = presets.config("cpu", original=["distill-1000"], schedule="pure-original", dev="",
                             test="conll-test")
    return train(store, trained, "sim-baseline")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["run", "baseline", "report"])
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    with Store(args.db) as store:
        if args.step == "run":
            simulate(store)
        elif args.step == "baseline":
            print("baseline student: run", baseline(store))
        else:
            report(store)


def report(store: Store) -> None:
    raise NotImplementedError("written once the simulation has run")


if __name__ == "__main__":
    main()

"""`just bench-shrink`: what a 3-layer student costs in F1 and how long its distillation takes
(issue 31, step 1), side by side in one run on one machine.

Students on the same human labels (cpu preset: its epochs, batch and learning rate; no dev
scoring), each scored on conll-test:
- the 6-layer student the others come from (`--big`, a finished training run);
- K layers of the pre-trained encoder on the human labels alone (the control);
- K layers of the big student (its weights, every other layer, the last kept), trained on the
  human labels plus the big student's word probabilities (T = 2, a T²-scaled KL term) on the
  human sentences and on `--soft-text`, unlabelled text that is neither dev nor test (repeat
  it for a student each: how much unlabelled text the small student needs).

Every student is a training run of the project (`shrink/...`), so a stopped benchmark resumes
and a second call only writes the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import RESULTS, header, write
from common.tables import markdown_table
from core import layers
from core.data import corpora
from core.store import Store
from core.student import presets
from core.student.training import train

TIMES = RESULTS / "shrink-times.json"


def test_f1(store: Store, run: int) -> float:
    return layers.score(store, "conll-test", "gold", [f"pred:{run}"])[f"pred:{run}"].micro_f1


def students(store: Store, big: int, labels: str, soft_texts: list[str], keep: int) -> dict[str, int]:
    """The small students, trained unless already finished; their seconds in TIMES."""
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    big_model = str(Path(store.training.run(big).checkpoint_dir) / "model")
    plans = {f"shrink/L{keep}-human": presets.config("cpu", original=[labels], schedule="pure-original",
                                                     dev="", test="conll-test", layers=keep)}
    for text in soft_texts:
        plans[f"shrink/L{keep}-soft-{text}"] = presets.config(
            "cpu", original=[labels], schedule="pure-original", dev="", test="conll-test", layers=keep,
            soft=str(big), soft_text=[labels, text], encoder=big_model)
    runs = {}
    for name, config in plans.items():
        run = store.training.finished_named(name)
        if run is None:
            began = time.perf_counter()
            run = train(store, config, name)
            times[name] = round(time.perf_counter() - began, 1)
            TIMES.write_text(json.dumps(times, indent=1))
        runs[name] = run
        print(f"{name}: run {run}, test F1 {test_f1(store, run):.4f}, {times.get(name, '-')} s", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--big", required=True, help="the 6-layer training run (id or name)")
    parser.add_argument("--labels", default="distill-1000", help="the human labels (a subset with gold)")
    parser.add_argument("--soft-text", action="append", default=None,
                        help="unlabelled text for the soft labels, a subset neither dev nor test; repeat it"
                        " for a student each (default: sim-extra)")
    parser.add_argument("--layers", type=int, default=3)
    args = parser.parse_args()
    with Store(args.db) as store:
        big = store.training.find(args.big)
        if big is None:
            raise SystemExit(f"error: --big {args.big}: no such training run in {args.db}")
        runs = students(store, big, args.labels, args.soft_text or ["sim-extra"], args.layers)
        big_f1 = test_f1(store, big)
        times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
        rows = [["6 layers (the big student)", "-", f"{big_f1:.4f}", "+0.00", "-"]]
        for name, run in runs.items():
            config = store.training.run(run).config
            f1 = test_f1(store, run)
            soft_text = config.get("soft_text", [])
            sentences = sum(len(store.corpora.subset_sentence_ids(corpora.resolve_subset(store, t)))
                            for t in soft_text)
            what = (f"{args.layers} layers of the big student, its soft labels on {' and '.join(soft_text)}"
                    f" ({sentences} sentences)" if config.get("soft") else
                    f"{args.layers} layers of the pre-trained encoder, human labels only")
            rows.append([what, str(run), f"{f1:.4f}", f"{(f1 - big_f1) * 100:+.2f}",
                         str(times.get(name, "-"))])
    text = header(f"A {args.layers}-layer student: its F1 and its distillation's cost") + (
        f"Human labels: {args.labels} (gold), cpu preset ({presets.config('cpu').epochs} epochs),"
        f" no dev scoring; the big student: training run {big}. Seconds: the small student's"
        " training on this machine's 2 cores, its soft labels included.\n\n"
        + markdown_table(["student", "run", "conll-test F1", "Δ vs 6 layers (points)", "seconds"], rows)
        + "\n")
    write("shrink.md", text)


if __name__ == "__main__":
    main()

"""`just bench-train`: training throughput and the two presets, measured side by side.

1. Sentences/s at batch 4 and 16, random vs length-bucketed batches (one epoch each).
2. Group A (1000 original CoNLL sentences, 20 epochs) with the `paper` and `cpu` presets:
   wall time and test-set F1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import header, write
from common.paths import data_dir
from core import layers
from core.data import corpora, evaluate
from core.jobs.demo import CONLL_SPLITS, SEED
from core.store import Store
from core.student import presets
from core.student.config import TrainConfig
from core.student.training import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--presets", default="paper,cpu")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = data_dir(args.data_dir, "conll2003/train.txt")
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        for name, filename in CONLL_SPLITS.items():
            corpora.import_conll(store, data / "conll2003" / filename, name)
        corpora.sample(store, "conll-train", "original", args.sentences, SEED)
        base = TrainConfig(original=["original"], schedule="pure-original", dev="", test="",
                           lr_schedule="constant", lr=1e-5, epochs=1)
        throughput = []
        for batch in (4, 16):
            for bucket in (False, True):
                config = replace(base, batch_size=batch, bucket=bucket, seed=batch + bucket)
                run = train(store, config, f"throughput-b{batch}-{'bucket' if bucket else 'random'}",
                            root=Path(tmp) / "runs")
                seconds = store.training.metrics(run)[0]["seconds"]
                throughput.append((batch, bucket, args.sentences / seconds))
                kind = "bucketed" if bucket else "random"
                print(f"batch {batch} {kind}: {args.sentences / seconds:.1f} sent/s")
        results = []
        for preset in args.presets.split(","):
            config = presets.config(preset, original=["original"], schedule="pure-original",
                                    dev="", test="conll-test", epochs=args.epochs)
            started = time.perf_counter()
            run = train(store, config, f"groupA-{preset}", root=Path(tmp) / "runs")
            wall = time.perf_counter() - started
            (report,) = layers.score(store, "conll-test", "gold", [f"pred:{run}"]).values()
            results.append((preset, config, wall, report))
            print(f"{preset}: {wall / 60:.1f} min, test F1 {report.micro_f1:.3f}")
    text = header(f"Training the embedded MiniLM on {args.sentences} CoNLL train sentences")
    text += "## Throughput (one epoch, forward + backward + AdamW step)\n\n"
    text += "| batch | batches | sentences/s |\n| ---: | --- | ---: |\n"
    text += "".join(f"| {b} | {'length-bucketed' if k else 'random'} | {s:.1f} |\n" for b, k, s in throughput)
    text += f"\n## Group A ({args.sentences} original sentences, {args.epochs} epochs), test set\n\n"
    types = evaluate.report_types([r for *_, r in results])
    text += ("| preset | batch | lr | lr schedule | bucketed | minutes | test micro F1 |"
             f" {' | '.join(types)} |\n| --- | ---: | ---: | --- | --- | ---: | ---: |"
             + " ---: |" * len(types) + "\n")
    for preset, c, wall, r in results:
        per = " | ".join(f"{r.per_type[k].f1:.3f}" if k in r.per_type else "-" for k in types)
        text += (f"| {preset} | {c.batch_size} | {c.lr:g} | {c.lr_schedule} | {c.bucket} |"
                 f" {wall / 60:.1f} | {r.micro_f1:.3f} | {per} |\n")
    write("train.md", text)


if __name__ == "__main__":
    main()

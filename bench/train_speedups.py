"""`just bench-train-speedups`: what a training step costs with each speed-up, side by side.

A batch-16 step (forward, backward, AdamW) of the embedded MiniLM on length-bucketed CoNLL
train sentences, four ways: AdamW plain or fused, the word-embedding matrix (11.7 M of the
22.6 M parameters) trained or frozen. The variants alternate in rounds, so a busy machine
slows them alike. Whether freezing costs F1 is a question for group A over several seeds:
with `--db`, the finished phase-two A runs of each setting are tabulated below.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import conll_train_sample, header, write
from common.tables import markdown_table
from core import layers
from core.data.schema import CONLL
from core.store import Store

VARIANTS = [("plain", False), ("fused", False), ("plain", True), ("fused", True)]


def batches(sentences: int, batch: int, data: str | None) -> list[list[tuple[list[int], list[int]]]]:
    """Length-bucketed batches of (input ids, label ids), as training makes them."""
    from models import encoder as enc

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        conll_train_sample(store, data, sentences)
        labelled = layers.labelled(store, "bench")
        labels = CONLL.bio_labels()
    tokenizer = enc.load_tokenizer(enc.resolve(""))
    rows = [w for s in labelled for w in enc.training_examples(tokenizer, s.tokens, s.gold, labels)]
    rows.sort(key=lambda r: len(r[0]))
    out = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    random.Random(13).shuffle(out)
    return out


def step_times(planned, optimizer_kind: str, frozen: bool, steps: int, warmup: int = 3) -> list[float]:
    """Milliseconds per step after `warmup` steps, on a fresh model."""
    import torch

    from models import encoder as enc
    from models.pieces import IGNORE, pad

    torch.manual_seed(13)
    model = enc.load_classifier(enc.resolve(""), CONLL.bio_labels())
    model.train()
    if frozen:
        model.get_input_embeddings().weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=optimizer_kind == "fused")
    times = []
    for i, batch in enumerate(planned[: warmup + steps]):
        ids = torch.tensor(pad([b[0] for b in batch], 0))
        labels = torch.tensor(pad([b[1] for b in batch], IGNORE))
        mask = torch.tensor(pad([[1] * len(b[0]) for b in batch], 0))
        started = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


def group_a(db: Path) -> str:
    """Phase two's group A by setting (trained vs frozen embeddings), from an experiments database."""
    from core.jobs import results

    with Store(db) as store:
        rows = [r for r in results.results(store, "phase2") if r.group == "A"]
    cells = [[r.setting, ",".join(map(str, r.seeds)),
              f"{r.scores['micro_f1'][0]:.3f} ± {r.scores['micro_f1'][1]:.3f}"] for r in rows]
    return markdown_table(["setting", "seeds", "test micro F1"], cells, "llr",
                          f"Group A (1000 human sentences, 20 epochs) by setting, from {db.name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--db", type=Path, default=None, help="experiments database with phase-two A runs")
    args = parser.parse_args()
    planned = batches(args.sentences, 16, args.data_dir)
    measured: dict[tuple[str, bool], list[float]] = {v: [] for v in VARIANTS}
    for round_ in range(args.rounds):
        for kind, frozen in VARIANTS:
            measured[(kind, frozen)] += step_times(planned, kind, frozen, args.steps)
            print(f"round {round_ + 1}: {kind} AdamW, embeddings {'frozen' if frozen else 'trained'}:"
                  f" {statistics.median(measured[(kind, frozen)]):.0f} ms")
    base = statistics.median(measured[VARIANTS[0]])
    cells = [[f"{kind} AdamW", "frozen" if frozen else "trained",
              f"{statistics.median(times):.0f}", f"{statistics.quantiles(times, n=10)[-1]:.0f}",
              f"×{base / statistics.median(times):.2f}"] for (kind, frozen), times in measured.items()]
    text = header("Training speed-ups: one batch-16 step of the embedded MiniLM")
    text += markdown_table(["optimizer", "word embeddings", "median ms/step", "p90 ms", "speed vs plain"],
                           cells, "llrrr", f"{args.rounds} rounds × {args.steps} steps a variant,"
                           f" alternated; length-bucketed batches of {args.sentences} CoNLL train sentences")
    if args.db:
        text += "\n" + group_a(args.db)
    write("train-speedups.md", text)


if __name__ == "__main__":
    main()

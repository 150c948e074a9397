"""Phase two and three of the paper: train the student on distilled and original data.

Each epoch draws round(w0·|D|) distilled and round(w1·|O|) original sentences (seeded) and
shuffles them together; `blend="loss"` instead shows every sentence and weights the loss
by w0 and w1. A checkpoint is written after every epoch, so an interrupted run resumes
from the last one, and every epoch's metrics go to the store as they happen.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import corpora, layers
from core.evaluate import evaluate
from core.schedules import epoch_sample, loss_weights, parse_schedule
from core.store import Store, dumps, now

Progress = Callable[[int, int, str], None]


@dataclass
class TrainConfig:
    """Everything that decides the result; two runs with equal configs are the same run."""

    distilled: list[str] = field(default_factory=list)  # "SUBSET@LAYER", e.g. distill-1000@run:1
    original: list[str] = field(default_factory=list)  # subsets with gold tags
    schedule: str = "simple-mix"
    blend: str = "sample"  # or "loss"
    distilled_filter: str = "all"  # all | clean (parsed answers only) | reviewed
    encoder: str = ""  # checkpoint dir; "" is the embedded MiniLM
    epochs: int = 20
    batch_size: int = 4
    lr: float = 1e-5
    lr_schedule: str = "decay"  # decay (×0.95 a epoch, the paper) | constant | linear (warm-up)
    warmup: float = 0.1
    bucket: bool = True  # length-bucketed batches
    seed: int = 13
    max_length: int = 128
    dev: str = "conll-dev"
    dev_limit: int = 500
    test: str = "conll-test"


@dataclass
class Example:
    kind: str  # distilled | original
    sentence_id: int
    words: list[str]
    tags: list[str]
    pieces: list[tuple[list[int], list[int]]] = field(default_factory=list)  # per window


class TrainingError(ValueError):
    """A training set-up that can't run; the message says which option to change."""


def _layer_examples(store: Store, spec: str, kind: str, only: str = "all") -> list[Example]:
    subset, _, layer = spec.partition("@")
    subset_id = corpora.resolve_subset(store, subset)
    if layer in ("run:latest", "review:latest"):  # the newest run over this very subset
        row = store.db.execute("select max(id) from annotation_runs where subset_id = ?",
                               [subset_id]).fetchone()
        if row[0] is None:
            raise TrainingError(f"{spec}: no annotation run over {subset} yet (nerd annotate {subset})")
        layer = f"{layer.split(':')[0]}:{row[0]}"
    sentences = list(corpora.subset_sentences(store, subset_id))
    tags = layers.load(store, layer or "gold", sentences)
    if only != "all" and layer.startswith(("run:", "review:")):
        run = layers.run_id(store, layer.split(":", 1)[1])
        if only == "clean":
            keep = {r[0] for r in store.db.execute(
                "select sentence_id from annotations where run_id = ? and parse_status in"
                " ('ok', 'repaired', 'truncated')", [run])}
        elif only == "reviewed":
            keep = {r[0] for r in store.db.execute(
                "select sentence_id from reviews where run_id = ?", [run])}
        elif only.startswith("confident:"):
            keep = confident(store, run, float(only.split(":", 1)[1]))
        else:
            raise TrainingError(f"unknown distilled filter {only!r}; use all, clean, reviewed"
                                " or confident:X")
        tags = {k: v for k, v in tags.items() if k in keep}
    examples = [Example(kind, s.id, s.tokens, tags[s.id]) for s in sentences if s.id in tags]
    if not examples:
        raise TrainingError(f"{spec}: no labelled sentences (is the layer {layer or 'gold'} empty?)")
    return examples


def confident(store: Store, run: int, threshold: float) -> set[int]:
    """Tiered selection: sentences whose kept entities all reach `threshold` of the votes.

    A run without votes (one sample a sentence) keeps every sentence.
    """
    keep = set()
    for sid, votes, entities in store.db.execute(
            "select sentence_id, votes, entities from annotations where run_id = ?", [run]):
        if votes is None:
            keep.add(sid)
            continue
        share = {(k, t): n / total for k, t, n, total in json.loads(votes)}
        if all(share.get(tuple(e), 0.0) >= threshold for e in json.loads(entities)):
            keep.add(sid)
    return keep


def load_data(store: Store, config: TrainConfig) -> tuple[list[Example], list[Example]]:
    distilled = [e for spec in config.distilled
                 for e in _layer_examples(store, spec, "distilled", config.distilled_filter)]
    original = [e for spec in config.original for e in _layer_examples(store, spec, "original")]
    schedule = parse_schedule(config.schedule)
    if schedule.name != "pure-original" and not distilled:
        raise TrainingError(f"schedule {schedule.name} needs --distilled SUBSET@LAYER")
    if schedule.name != "pure-distilled" and not original:
        raise TrainingError(f"schedule {schedule.name} needs --original SUBSET")
    return distilled, original


def batches(examples: list[tuple[list[int], list[int], float]], size: int, bucket: bool,
            rng: random.Random) -> list[list[tuple[list[int], list[int], float]]]:
    """Length-bucketed: sort within pools of 50 batches, so padding is small yet order random."""
    if not bucket:
        return [examples[i : i + size] for i in range(0, len(examples), size)]
    pool = size * 50
    out = []
    for start in range(0, len(examples), pool):
        chunk = sorted(examples[start : start + pool], key=lambda e: len(e[0]))
        out.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


def find_or_create(store: Store, config: TrainConfig, name: str, root: Path) -> int:
    blob = dumps(asdict(config))
    row = store.db.execute("select id from training_runs where config = ? and name = ?"
                           " order by id desc limit 1", [blob, name]).fetchone()
    if row:
        return row[0]
    run = store.db.execute(
        "insert into training_runs(name, config, status, created) values (?, ?, 'running', ?)",
        [name, blob, now()]).lastrowid
    folder = root / f"train-{run}"
    store.db.execute("update training_runs set checkpoint_dir = ? where id = ?", [str(folder), run])
    return run


def train(store: Store, config: TrainConfig, name: str = "", root: Path | None = None,
          progress: Progress | None = None, stop_after: int | None = None) -> int:
    """Train (or resume) and return the training run id; `stop_after` epochs is for tests."""
    import torch

    from models import encoder as enc

    schedule = parse_schedule(config.schedule)
    distilled, original = load_data(store, config)
    root = root or store.path.parent / "runs"
    run = find_or_create(store, config, name or f"{schedule.name}-seed{config.seed}", root)
    folder, status = store.db.execute("select checkpoint_dir, status from training_runs where id = ?",
                                      [run]).fetchone()
    folder = Path(folder)
    if status == "finished" and (folder / "model" / "config.json").is_file():
        return run
    folder.mkdir(parents=True, exist_ok=True)
    path = enc.resolve(config.encoder)
    tokenizer = enc.load_tokenizer(path)
    torch.manual_seed(config.seed)
    device = enc.device()
    model = enc.load_classifier(path).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    for example in distilled + original:
        example.pieces = enc.training_examples(tokenizer, example.words, example.tags,
                                               config.max_length)
    plans = [_plan(schedule, config, epoch, distilled, original) for epoch in range(config.epochs)]
    lr_at = _lr_function(config, [math.ceil(sum(len(e.pieces) for e, _ in plan) / config.batch_size)
                                  for plan in plans])
    checkpoint = folder / "checkpoint.pt"
    first_epoch = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = state["epoch"] + 1
        _save_metrics(store, state["metrics"])
    dev = _dev_sentences(store, config)
    step = sum(math.ceil(sum(len(e.pieces) for e, _ in plan) / config.batch_size)
               for plan in plans[:first_epoch])
    for epoch in range(first_epoch, config.epochs):
        if stop_after is not None and epoch >= first_epoch + stop_after:
            return run
        started = time.perf_counter()
        rng = random.Random(config.seed * 1000 + epoch)
        rows = [(ids, labels, weight) for e, weight in plans[epoch] for ids, labels in e.pieces]
        rng.shuffle(rows)
        model.train()
        total_loss, seen = 0.0, 0
        planned = batches(rows, config.batch_size, config.bucket, rng)
        for i, batch in enumerate(planned):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch, step)
            ids = torch.tensor(enc.pad([b[0] for b in batch], tokenizer.pad_token_id or 0),
                               device=device)
            labels = torch.tensor(enc.pad([b[1] for b in batch], enc.IGNORE), device=device)
            mask = torch.tensor(enc.pad([[1] * len(b[0]) for b in batch], 0), device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = _weighted_loss(logits, labels, [b[2] for b in batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            total_loss += loss.item() * len(batch)
            seen += len(batch)
            if progress:
                progress(i + 1, len(planned),
                         f"epoch {epoch + 1}/{config.epochs} loss {total_loss / seen:.4f}")
        dev_f1 = _dev_f1(model, tokenizer, dev, config) if dev else None
        n_d = sum(1 for e, _ in plans[epoch] if e.kind == "distilled")
        row = {"training_run_id": run, "epoch": epoch, "loss": total_loss / max(seen, 1),
               "w0": schedule.w0(epoch, config.epochs), "n_distilled": n_d,
               "n_original": len(plans[epoch]) - n_d, "lr": lr_at(epoch, max(step - 1, 0)),
               "dev_f1": dev_f1, "seconds": time.perf_counter() - started}
        # Checkpoint first (atomically), metrics second; a crash between the two is mended
        # on resume from the copy of the metrics inside the checkpoint.
        partial = checkpoint.with_suffix(".partial")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch, "metrics": row}, partial)
        partial.replace(checkpoint)
        _save_metrics(store, row)
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    if config.test:
        store_predictions(store, run, model, tokenizer, config.test, config.max_length)
    store.db.execute("update training_runs set status = 'finished', finished = ? where id = ?",
                     [now(), run])
    return run


def _save_metrics(store: Store, row: dict) -> None:
    store.db.execute(
        f"insert or replace into epoch_metrics({', '.join(row)}) values ({', '.join('?' * len(row))})",
        list(row.values()))


def _plan(schedule, config: TrainConfig, epoch: int, distilled: list[Example],
          original: list[Example]) -> list[tuple[Example, float]]:
    if config.blend == "loss":
        w0, w1 = loss_weights(schedule, epoch, config.epochs)
        return [(e, w0) for e in distilled if w0 > 0] + [(e, w1) for e in original if w1 > 0]
    if config.blend != "sample":
        raise TrainingError(f"unknown blend {config.blend!r}; use sample or loss")
    drawn = epoch_sample(schedule, epoch, config.epochs, list(range(len(distilled))),
                         list(range(len(original))), config.seed)
    return [((distilled if kind == "distilled" else original)[i], 1.0) for kind, i in drawn]


def _lr_function(config: TrainConfig, steps: list[int]) -> Callable[[int, int], float]:
    """lr(epoch, step): the paper's ×0.95 a epoch, constant, or linear with warm-up."""
    total = max(sum(steps), 1)
    if config.lr_schedule == "constant":
        return lambda epoch, step: config.lr
    if config.lr_schedule == "decay":
        return lambda epoch, step: config.lr * 0.95**epoch
    if config.lr_schedule == "linear":
        warm = max(int(total * config.warmup), 1)
        return lambda epoch, step: (config.lr * (step + 1) / warm if step < warm
                                    else config.lr * max(0.0, (total - step) / max(total - warm, 1)))
    raise TrainingError(f"unknown lr schedule {config.lr_schedule!r}; use decay, constant or linear")


def _weighted_loss(logits, labels, weights: list[float]):
    import torch

    per_token = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    counted = (labels != -100).float()
    per_sentence = (per_token * counted).sum(1) / counted.sum(1).clamp(min=1)
    w = torch.tensor(weights, device=logits.device)
    return (per_sentence * w).sum() / w.sum().clamp(min=1e-9)


def _dev_sentences(store: Store, config: TrainConfig):
    if not config.dev:
        return []
    try:
        subset = corpora.resolve_subset(store, config.dev)
    except corpora.NotFound:
        return []
    return [s for s in corpora.subset_sentences(store, subset) if s.gold][: config.dev_limit]


def _dev_f1(model, tokenizer, dev, config: TrainConfig) -> float:
    from models.encoder import predict

    predicted = predict(model, tokenizer, [s.tokens for s in dev], max_length=config.max_length)
    return evaluate([s.gold for s in dev], predicted).micro_f1


def store_predictions(store: Store, run: int, model, tokenizer, subset: str, max_length: int) -> None:
    from models.encoder import predict

    sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, subset)))
    tags = predict(model, tokenizer, [s.tokens for s in sentences], max_length=max_length)
    with store.transaction() as db:
        db.conn.executemany(
            "insert or replace into predictions(training_run_id, sentence_id, tags) values (?, ?, ?)",
            ((run, s.id, json.dumps(t)) for s, t in zip(sentences, tags, strict=True)))


def metrics(store: Store, run: int) -> list[dict]:
    cursor = store.db.execute("select * from epoch_metrics where training_run_id = ? order by epoch", [run])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

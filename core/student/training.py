"""Phase two and three of the paper: train the student on distilled and original data.

Each epoch draws round(w0·|D|) distilled and round(w1·|O|) original sentences (seeded) and
shuffles them together; `blend="loss"` instead shows every sentence and weights the loss
by w0 and w1. A checkpoint is written after every epoch, so an interrupted run resumes
from the last one, and every epoch's metrics go to the store as they happen.

`train_epochs` is the run as a generator of events (spaCy's `train_while_improving`): the
CLI drives a progress bar from it, the TUI follows the store, and stopping the iteration
stops the run after the batch in flight.

Under torchrun (`torchrun --standalone --nproc-per-node N -m tui.cli train ...`) each process
trains on its shard of every epoch's batches with DistributedDataParallel
(`models.distributed`): they all draw the same seeded plan; rank 0 alone writes the store,
the checkpoints and the model.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core import layers
from core.data import corpora
from core.data.evaluate import evaluate
from core.progress import Advance
from core.specs import as_spec
from core.store import Store
from core.student.config import TrainConfig, TrainingBusy, TrainingError, identity
from core.student.distill import SOFT, attach_soft
from core.student.examples import Example, load_data, measure_spec
from core.student.schedules import epoch_sample, loss_weights, parse_schedule
from models import distributed as dist
from models import encoder as enc
from models.encoder import predict
from models.pieces import IGNORE, first_piece_rows, pad


@dataclass(frozen=True)
class BatchDone:
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float  # running mean over the epoch so far

    @property
    def note(self) -> str:
        return f"epoch {self.epoch + 1}/{self.epochs} loss {self.loss:.4f}"


@dataclass(frozen=True)
class EpochDone:
    metrics: dict[str, Any]


@dataclass(frozen=True)
class TrainingEnded:
    run: int
    status: str  # finished | cancelled | failed


TrainEvent = BatchDone | EpochDone | TrainingEnded


# input ids, label ids, loss weight, sentence id, and the bigger student's per-piece probabilities
# with their mask (`core.student.distill`), or None
Row = tuple[list[int], list[int], float, int, tuple[list[list[float]], list[int]] | None]


def batches(examples: list[Row], size: int, bucket: bool, rng: random.Random) -> list[list[Row]]:
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
    """The run of this name whose config has the same identity, else a new one."""
    wanted = identity(asdict(config))
    with store.transaction():  # one writer at a time: two workers starting together make one run
        for run in store.training.named(name):
            if identity(run.config) == wanted:
                return run.id
        return store.training.create(name, asdict(config), str(root))


@contextmanager
def exclusive(folder: Path, name: str) -> Iterator[None]:
    """Hold the run's lock while it trains, so a second process on the same run (workers
    sharing one queue) is told at once instead of overwriting its checkpoints. The OS drops
    the lock when its process dies, so a crashed run still resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingBusy(f"training run {name!r} is being trained by another process (it"
                               f" holds {folder / 'train.lock'}); wait for it, or give this one"
                               " other runs") from None
        yield


def train(store: Store, config: TrainConfig, name: str = "", root: Path | None = None,
          progress: Advance | None = None) -> int:
    """`train_epochs` run to its end; `progress(batch, batches, note)` after each batch."""
    for event in train_epochs(store, config, name, root):
        if isinstance(event, BatchDone) and progress:
            progress(event.batch, event.batches, event.note)
        elif isinstance(event, TrainingEnded):
            return event.run
    raise AssertionError("train_epochs ends with TrainingEnded")


def train_epochs(store: Store, config: TrainConfig, name: str = "", root: Path | None = None
                 ) -> Iterator[TrainEvent]:
    """Train (or resume) one batch at a time; the last event names the run and its status."""
    schedule = parse_schedule(config.schedule)
    distilled, original = load_data(store, config)
    root = root or store.path.parent / "runs"
    main = dist.is_main()  # under torchrun rank 0 alone writes the store; the others are told
    run, done = dist.broadcast(
        _open_run(store, config, name or f"{schedule.name}-seed{config.seed}", root) if main else None)
    if done:
        yield TrainingEnded(run, "finished")
        return
    record = store.training.run(run)
    folder = Path(record.checkpoint_dir)
    status = "failed"
    with exclusive(folder, record.name) if main else nullcontext():
        if main:
            store.training.set_status(run, "running")
        try:
            yield from _epochs(store, config, run, folder, schedule, distilled, original)
            status = "finished"
        except (GeneratorExit, KeyboardInterrupt):  # closed early, or Ctrl-C
            status = "cancelled"
            raise
        finally:
            if main:
                store.training.set_status(run, status)
    yield TrainingEnded(run, status)


def _open_run(store: Store, config: TrainConfig, name: str, root: Path) -> tuple[int, bool]:
    """The run to train (found or created) and whether it is finished already."""
    run = find_or_create(store, config, name, root)
    record = store.training.run(run)
    model = Path(record.checkpoint_dir) / "model" / "config.json"
    return run, record.status == "finished" and model.is_file()


def _epochs(store: Store, config: TrainConfig, run: int, folder: Path, schedule, distilled: list[Example],
            original: list[Example]) -> Iterator[TrainEvent]:
    import torch

    main = dist.is_main()
    if main:
        folder.mkdir(parents=True, exist_ok=True)
    path = enc.resolve(config.encoder)
    tokenizer = enc.load_tokenizer(path)
    torch.manual_seed(config.seed)
    device = dist.local_device(enc.device())
    labels = dist.broadcast(run_labels(store, folder) if main else None)
    model = enc.load_classifier(path, labels)
    if config.layers:
        enc.keep_layers(model, config.layers)
    model = model.to(device)
    original = original + attach_soft(store, config, labels, distilled + original)  # seen every epoch
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = _optimizer(model, config)
    for example in distilled + original:
        example.pieces = enc.training_examples(tokenizer, example.words, example.tags, labels,
                                               config.max_length)
        if example.soft is not None:
            example.soft_pieces = [first_piece_rows(w, example.soft, len(labels))
                                   for w in enc.windows(tokenizer, example.words, config.max_length)]
        if example.kind == SOFT:  # the bigger student's probabilities alone teach it
            example.pieces = [(ids, [IGNORE] * len(row)) for ids, row in example.pieces]
    first_stage = parse_schedule("pure-distilled")
    plans = ([_plan(first_stage, config, e, config.pretrain_epochs, distilled, original)
              for e in range(config.pretrain_epochs)]
             + [_plan(schedule, config, e, config.epochs, distilled, original)
                for e in range(config.epochs)])
    epochs = len(plans)
    # Optimizer steps (one batch a rank each): the learning-rate schedule counts these.
    steps = [dist.steps(math.ceil(sum(len(e.pieces) for e, _ in plan) / config.batch_size))
             for plan in plans]
    lr_at = _staged_lr(config, steps)
    checkpoint = folder / "checkpoint.pt"
    first_epoch = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = state["epoch"] + 1
        if main:
            store.training.save_epoch(state["metrics"])
    trainer = dist.wrap(model)  # DDP under torchrun: gradients averaged over the ranks
    dev = _dev_sentences(store, config) if main else []
    step = sum(steps[:first_epoch])
    for epoch in range(first_epoch, epochs):
        if epoch == config.pretrain_epochs > 0:  # the second stage starts afresh
            optimizer = _optimizer(model, config)
        started = time.perf_counter()
        rng = random.Random(config.seed * 1000 + epoch)
        rows = [(ids, labels, weight, e.sentence_id, e.soft_pieces[i] if e.soft_pieces else None)
                for e, weight in plans[epoch] for i, (ids, labels) in enumerate(e.pieces)]
        rng.shuffle(rows)
        model.train()
        total_loss, seen = 0.0, 0
        planned = dist.shard(batches(rows, config.batch_size, config.bucket, rng))
        for i, batch in enumerate(planned):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch, step)
            ids = torch.tensor(pad([b[0] for b in batch], tokenizer.pad_token_id or 0),
                               device=device)
            labels = torch.tensor(pad([b[1] for b in batch], IGNORE), device=device)
            mask = torch.tensor(pad([[1] * len(b[0]) for b in batch], 0), device=device)
            logits = trainer(input_ids=ids, attention_mask=mask).logits
            loss = _weighted_loss(logits, labels, [b[2] for b in batch], _soft_batch(batch, logits, config))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            total_loss += loss.item() * len(batch)
            seen += len(batch)
            _trace(epoch, batch)
            yield BatchDone(epoch, epochs, i + 1, len(planned), total_loss / seen)
        total_loss, seen = dist.all_sum([total_loss, seen])  # the epoch's loss over every rank
        dev_f1 = _dev_f1(model, tokenizer, dev, config) if dev else None
        n_d = sum(1 for e, _ in plans[epoch] if e.kind == "distilled")
        row = {"training_run_id": run, "epoch": epoch, "loss": total_loss / max(seen, 1),
               "w0": _w0(schedule, config, epoch), "n_distilled": n_d,
               "n_original": len(plans[epoch]) - n_d, "lr": lr_at(epoch, max(step - 1, 0)),
               "dev_f1": dev_f1, "seconds": time.perf_counter() - started}
        # Checkpoint first (atomically), metrics second; a crash between the two is mended
        # on resume from the copy of the metrics inside the checkpoint.
        if main:
            partial = checkpoint.with_suffix(".partial")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "epoch": epoch, "metrics": row}, partial)
            partial.replace(checkpoint)
            store.training.save_epoch(row)
        dist.barrier()  # no rank starts an epoch before rank 0 has its predecessor checkpointed
        yield EpochDone(row)
    if not main:
        return
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    test = measure_spec(store, config.test, "conll-test")
    if test:
        store_predictions(store, run, model, tokenizer, as_spec(test).subset, config.max_length)
    # The resume state (weights and AdamW's two moments: 3x the model, 270 MB for MiniLM) is of
    # no use once the model is saved; keeping it filled 17 GB of disk over the paper's tables.
    checkpoint.unlink(missing_ok=True)


def _trace(epoch: int, batch: list[Row]) -> None:
    """Debugging: with NERD_TRAIN_TRACE=DIR each rank appends its batches' sentence ids to
    DIR/rank-R.jsonl, so a torchrun run's epochs can be checked against a single process's."""
    if folder := os.environ.get("NERD_TRAIN_TRACE"):
        with (Path(folder) / f"rank-{dist.world().rank}.jsonl").open("a") as fh:
            fh.write(json.dumps({"epoch": epoch, "sentences": [row[3] for row in batch]}) + "\n")


def run_labels(store: Store, folder: Path) -> list[str]:
    """The student's label list (O, B-/I- of each type of the label schema), fixed when the run
    starts (`labels.json` in its folder): a schema loaded later needs a new run, not a resume."""
    saved = folder / "labels.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    labels = store.labels.current().bio_labels()
    saved.write_text(json.dumps(labels))
    return labels


def _optimizer(model, config: TrainConfig):
    """AdamW over the trainable parameters; fused (one kernel for all of them) where the
    device has it: the same update, fewer passes over memory."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.AdamW(trainable, lr=config.lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(trainable, lr=config.lr)


def _w0(schedule, config: TrainConfig, epoch: int) -> float:
    """The share of distilled data in `epoch`, counted over both stages."""
    if epoch < config.pretrain_epochs:
        return 1.0
    return schedule.w0(epoch - config.pretrain_epochs, config.epochs)


def _plan(schedule, config: TrainConfig, epoch: int, epochs: int, distilled: list[Example],
          original: list[Example]) -> list[tuple[Example, float]]:
    if config.blend == "loss":
        w0, w1 = loss_weights(schedule, epoch, epochs)
        return [(e, w0) for e in distilled if w0 > 0] + [(e, w1) for e in original if w1 > 0]
    if config.blend != "sample":
        raise TrainingError(f"unknown blend {config.blend!r}; use sample or loss")
    drawn = epoch_sample(schedule, epoch, epochs, list(range(len(distilled))),
                         list(range(len(original))), config.seed)
    return [((distilled if kind == "distilled" else original)[i], 1.0) for kind, i in drawn]


def _staged_lr(config: TrainConfig, steps: list[int]) -> Callable[[int, int], float]:
    """lr(epoch, step) over both stages: each stage runs its own schedule from its first step."""
    first = config.pretrain_epochs
    offset = sum(steps[:first])
    pretrain, main = _lr_function(config, steps[:first]), _lr_function(config, steps[first:])
    return lambda epoch, step: (pretrain(epoch, step) if epoch < first
                                else main(epoch - first, step - offset))


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


def _soft_batch(batch: list[Row], logits, config: TrainConfig):
    """The batch's soft targets [batch, pieces, labels] and mask, padded like the logits; None
    when no row has any."""
    import torch

    if all(b[4] is None for b in batch):
        return None
    targets = torch.zeros(logits.shape, device=logits.device)
    mask = torch.zeros(logits.shape[:2], device=logits.device)
    for i, b in enumerate(batch):
        if b[4] is not None:
            rows, present = b[4]
            targets[i, : len(rows)] = torch.tensor(rows, device=logits.device)
            mask[i, : len(present)] = torch.tensor(present, device=logits.device, dtype=torch.float)
    return targets, mask, config.temperature


def _weighted_loss(logits, labels, weights: list[float], soft=None):
    """Each sentence's mean over its labelled pieces of the cross-entropy, and, with `soft`
    (targets, mask, T), of T²·KL(targets ‖ softmax(logits / T)) over the pieces that have a
    target (the T² keeps its gradients the size of the hard term's, Hinton et al. 2015)."""
    import torch

    per_token = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    counted = (labels != -100).float()
    total, seen = (per_token * counted).sum(1), counted.sum(1)
    if soft is not None:
        targets, mask, temperature = soft
        log_q = torch.nn.functional.log_softmax(logits.float() / temperature, dim=-1)
        kl = (targets * (targets.clamp_min(1e-12).log() - log_q)).sum(-1) * temperature**2
        total, seen = total + (kl * mask).sum(1), seen + mask.sum(1)
    per_sentence = total / seen.clamp(min=1)
    w = torch.tensor(weights, device=logits.device)
    return (per_sentence * w).sum() / w.sum().clamp(min=1e-9)


def _dev_sentences(store: Store, config: TrainConfig):
    spec = measure_spec(store, config.dev, "conll-dev")
    return layers.labelled(store, spec)[: config.dev_limit] if spec else []


def _dev_f1(model, tokenizer, dev, config: TrainConfig) -> float:

    predicted = predict(model, tokenizer, [s.tokens for s in dev], max_length=config.max_length)
    return evaluate([s.gold for s in dev], predicted).micro_f1


def store_predictions(store: Store, run: int, model, tokenizer, subset: str, max_length: int) -> None:

    sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, subset)))
    tags = predict(model, tokenizer, [s.tokens for s in sentences], max_length=max_length)
    store.training.save_predictions(run, ((s.id, t) for s, t in zip(sentences, tags, strict=True)))

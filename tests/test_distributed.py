"""Issue 17: `nerd train` under torchrun, two CPU processes on gloo, on the tiny synthetic project.

The job trains the same sentences each epoch as one process does (NERD_TRAIN_TRACE logs every
rank's batches), rank 0 alone writes the store and the model, and a stopped job resumes from
its last checkpoint on every rank.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from core.student import presets
from core.student.training import train
from models import distributed

pytestmark = [pytest.mark.torchrun, pytest.mark.model]  # torchrun, two processes

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 5
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "tui.cli", "train", "--distilled", "dist@lexicon:orig", "--original", "orig",
            "--schedule", "simple-mix", "--epochs", str(EPOCHS), "--batch-size", "6", "--lr", "5e-4", "--dev", "",
            "--test", "held", "--name", "ddp"]  # 16 sentences an epoch: 3 batches, one padded
DDP_EPOCHS = ("select count(*) from epoch_metrics join training_runs on training_runs.id = training_run_id"
              " where name = 'ddp'")


def traced(folder: Path) -> tuple[dict[int, set[int]], Counter]:
    """Per epoch the sentences trained over all ranks, and the batches per (rank, epoch)."""
    sentences, steps = defaultdict(set), Counter()
    for path in sorted(folder.glob("rank-*.jsonl")):
        rank = int(path.stem.split("-")[1])
        for line in path.read_text().splitlines():
            batch = json.loads(line)
            sentences[batch["epoch"]].update(batch["sentences"])
            steps[rank, batch["epoch"]] += 1
    return dict(sentences), steps


def torchrun(db: str, trace: Path, stop_at: int | None = None) -> subprocess.CompletedProcess | None:
    """The job to its end, or SIGTERM to torchrun (which stops its workers) after `stop_at` epochs."""
    trace.mkdir()
    command = [*TORCHRUN, "--db", db]
    env = {**os.environ, "NERD_TRAIN_TRACE": str(trace)}
    if stop_at is None:
        return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            env=env)
    deadline, done = time.monotonic() + 300, 0
    while done < stop_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        with sqlite3.connect(db) as conn:
            done = conn.execute(DDP_EPOCHS).fetchone()[0]
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return None


def test_two_processes_train_the_same_epochs_write_once_and_resume(project, tmp_path, monkeypatch):  # noqa: F811
    config = presets.config("cpu", distilled=["dist@lexicon:orig"], original=["orig"], epochs=EPOCHS,
                            batch_size=6, lr=5e-4, dev="", test="held")
    monkeypatch.setenv("NERD_TRAIN_TRACE", str(tmp_path / "single"))
    (tmp_path / "single").mkdir()
    train(project, config, name="single")
    monkeypatch.delenv("NERD_TRAIN_TRACE")
    single, single_steps = traced(tmp_path / "single")
    db = str(project.path)

    torchrun(db, tmp_path / "stopped", stop_at=1)
    before = project.training.metrics(project.training.named("ddp")[0].id)
    assert 1 <= len(before) < EPOCHS, "the job should have been stopped part-way"
    result = torchrun(db, tmp_path / "resumed")
    assert result.returncode == 0, result.stderr[-3000:]

    stopped, _ = traced(tmp_path / "stopped")
    resumed, steps = traced(tmp_path / "resumed")
    assert min(e for _, e in steps) == len(before)  # neither rank trained a checkpointed epoch again
    for epoch in range(EPOCHS):  # every epoch's sentences, shared out between the ranks
        assert (stopped.get(epoch, set()) | resumed.get(epoch, set())) == single[epoch]
    for epoch in range(len(before), EPOCHS):  # equal steps a rank, the odd batch padded
        assert steps[0, epoch] == steps[1, epoch] == math.ceil(single_steps[0, epoch] / 2)

    (run,) = project.training.named("ddp")  # one run, written by rank 0 alone
    assert run.status == "finished"
    rows = project.training.metrics(run.id)
    assert [r["epoch"] for r in rows] == list(range(EPOCHS))
    assert rows[: len(before)] == before  # checkpointed epochs were not trained again
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert len(project.training.predictions(run.id)) == 16
    runs_root = project.path.parent / "runs"
    assert sorted(p.name for p in runs_root.iterdir()) == sorted(
        Path(r.checkpoint_dir).name for r in project.training.runs())
    assert (Path(run.checkpoint_dir) / "model" / "config.json").is_file()


def test_every_rank_takes_the_same_number_of_steps_and_every_batch_is_seen(monkeypatch):
    """Without a process group: shard() and steps() as ranks of a world of three would see them."""
    shards = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "world", lambda rank=rank: distributed.World(rank, 3, rank))
        shards.append(distributed.shard(list(range(7))))
        assert distributed.steps(7) == 3
    assert shards == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]  # padded by wrapping round to the start
    monkeypatch.setattr(distributed, "world", lambda: distributed.World(0, 3, 0))
    assert distributed.shard([]) == [] and distributed.steps(0) == 0
    monkeypatch.undo()
    assert distributed.world() == distributed.World(0, 1, 0)  # alone: everything as it was
    assert distributed.shard([1, 2]) == [1, 2] and distributed.broadcast("x") == "x"

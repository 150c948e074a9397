"""A real (tiny) training run with the embedded MiniLM: loss falls, metrics land, resume works."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core import layers
from core.student.config import TrainConfig, TrainingError
from core.student.training import train
from tests.conftest import kill_when

pytestmark = pytest.mark.model  # every test trains the embedded MiniLM

TINY = TrainConfig(distilled=["dist@lexicon:orig"], original=["orig"], schedule="simple-mix",
                   epochs=2, batch_size=8, lr=5e-4, lr_schedule="constant", dev="held",
                   test="held")


def test_tiny_run_lowers_loss_stores_metrics_and_predictions(project):
    run = train(project, replace(TINY, epochs=4))
    rows = project.training.metrics(run)
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert [(r["n_distilled"], r["n_original"]) for r in rows] == [(16, 0), (16, 0), (0, 16), (0, 16)]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert all(r["dev_f1"] is not None and r["seconds"] > 0 for r in rows)
    (report,) = layers.score(project, "held", "gold", [f"pred:{run}"]).values()
    assert report.sentences == 16 and report.micro_f1 > 0.3
    status = project.db.execute("select status from training_runs where id = ?", [run]).fetchone()
    assert status == ("finished",)


def test_checkpoint_loads_in_transformers_pipeline(project):
    from transformers import pipeline

    run = train(project, TINY)
    folder = project.db.execute("select checkpoint_dir from training_runs where id = ?", [run]).fetchone()[0]
    tagger = pipeline("token-classification", model=f"{folder}/model", aggregation_strategy="first")
    found = tagger("Marie Curie visited Berlin for Reuters talks .")
    assert {e["entity_group"] for e in found} <= {"PER", "LOC", "ORG", "MISC"}
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(f"{folder}/model").id2label[1] == "B-LOC"
    assert not Path(folder, "checkpoint.pt").exists()  # a finished run keeps the model, not its resume state


def test_loss_blend_shows_everything_with_weights(project):
    run = train(project, replace(TINY, schedule="cosine", blend="loss", epochs=3, test=""))
    rows = project.training.metrics(run)
    assert [(r["n_distilled"], r["n_original"]) for r in rows] == [(16, 0), (16, 16), (0, 16)]


def test_two_stages_train_distilled_first_then_restart_the_learning_rate(project):
    config = replace(TINY, schedule="pure-original", pretrain_epochs=2, lr_schedule="linear", test="")
    rows = project.training.metrics(train(project, config))
    assert [(r["n_distilled"], r["n_original"], r["w0"]) for r in rows] == [
        (16, 0, 1.0), (16, 0, 1.0), (0, 16, 0.0), (0, 16, 0.0)]
    assert rows[1]["lr"] < config.lr / 2 < rows[2]["lr"]  # stage one decayed, stage two starts afresh
    with pytest.raises(TrainingError, match="--pretrain-epochs 2 needs --distilled"):
        train(project, replace(config, distilled=[]))


def test_frozen_embeddings_stay_as_pretrained(project):
    import torch

    from models import encoder as enc

    run = train(project, replace(TINY, freeze_embeddings=True, test=""))
    trained = enc.load_classifier(enc.resolve(f"{project.training.run(run).checkpoint_dir}/model"))
    fresh = enc.load_classifier(enc.resolve(""), ["O", "B-PER", "I-PER"])
    assert torch.equal(trained.get_input_embeddings().weight, fresh.get_input_embeddings().weight)
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(trained.state_dict()[layer], fresh.state_dict()[layer])


def test_missing_data_for_schedule_is_a_clear_error(project):
    with pytest.raises(TrainingError, match="needs --original"):
        train(project, replace(TINY, original=[]))
    with pytest.raises(ValueError, match="sigmoid"):
        train(project, replace(TINY, schedule="sigmoid"))


def test_kill_9_resumes_from_last_epoch(project, tmp_path):
    db = str(project.path)
    command = [sys.executable, "-m", "tui.cli", "train", "--distilled", "dist@lexicon:orig",
               "--original", "orig", "--schedule", "simple-mix", "--epochs", "6", "--batch-size", "4",
               "--lr", "5e-4",
               "--dev", "", "--test", "held", "--db", db]
    kill_when(command, str(db), "select count(*) from epoch_metrics", 2)
    with sqlite3.connect(db) as conn:
        before = conn.execute("select epoch, loss from epoch_metrics order by epoch").fetchall()
    assert 2 <= len(before) < 6, "training should have been killed part-way"
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        after = conn.execute("select epoch, loss from epoch_metrics order by epoch").fetchall()
        runs = conn.execute("select count(*), min(status) from training_runs").fetchone()
    assert [e for e, _ in after] == list(range(6))
    assert after[: len(before)] == before  # finished epochs were not trained again
    assert runs == (1, "finished")


def test_a_run_is_found_by_what_changes_the_model(project):
    """Measuring settings (dev, dev-limit, test) and new fields at their default keep a run."""
    import json

    from core.student.training import find_or_create

    root = project.path.parent / "runs"
    run = find_or_create(project, TINY, "same", root)
    assert find_or_create(project, replace(TINY, dev_limit=7, dev="", test=""), "same", root) == run
    stored = project.training.run(run).config
    older = {k: v for k, v in stored.items() if k != "bucket"}  # as if written before `bucket`
    project.db.execute("update training_runs set config = ? where id = ?", [json.dumps(older), run])
    assert find_or_create(project, TINY, "same", root) == run
    assert find_or_create(project, replace(TINY, lr=1e-3), "same", root) != run
    assert find_or_create(project, TINY, "other name", root) != run


def test_presets_apply_first_and_explicit_values_win():
    from core.student.presets import config

    cpu = config("cpu", lr=3e-5, epochs=None)
    assert (cpu.lr, cpu.epochs, cpu.batch_size, cpu.lr_schedule) == (3e-5, 20, 16, "linear")
    assert config("paper", decay=False).lr_schedule == "constant"
    assert config("paper", decay=False, lr_schedule="linear").lr_schedule == "linear"
    with pytest.raises(TypeError):
        TrainConfig("dist@run:1")  # keyword-only: no positional mix-ups


def test_auto_schedule_trains_two_stages_with_both_kinds_of_data_else_the_one_kind():
    from core.student.presets import TWO_STAGE_PRETRAIN_EPOCHS, config

    both = {"distilled": ["dist@run:1"], "original": ["orig"], "schedule": "auto"}
    two = config("cpu", **both)
    assert (two.schedule, two.pretrain_epochs) == ("pure-original", TWO_STAGE_PRETRAIN_EPOCHS)
    assert config("cpu", **both, pretrain_epochs=3).pretrain_epochs == 3
    one_stage = config("cpu", **both, pretrain_epochs=0)
    assert (one_stage.schedule, one_stage.pretrain_epochs) == ("simple-mix", 0)
    assert config("cpu", original=["orig"], schedule="auto").schedule == "pure-original"
    assert config("cpu", distilled=["dist@run:1"], schedule="auto").schedule == "pure-distilled"
    assert config("cpu", **{**both, "schedule": "cosine"}).pretrain_epochs == 0  # explicit wins

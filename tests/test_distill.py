"""A smaller student distilled from a bigger one (issue 31, step 1): `--layers K` keeps K of
the encoder's layers, `--soft RUN --soft-text SUBSET` learns the bigger student's word
probabilities on text labelled or not; the real MiniLM on the templated project."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from core import layers
from core.ship import deploy
from core.student.config import TrainConfig, TrainingError
from core.student.distill import tempered
from core.student.training import train
from models import encoder
from models.encoder import EncoderError, kept_layers
from tui.cli import main

BIG = TrainConfig(original=["orig"], schedule="pure-original", epochs=3, batch_size=8, lr=5e-4,
                  lr_schedule="constant", dev="", test="held")


def test_kept_layers_are_evenly_spaced_and_end_with_the_last():
    assert kept_layers(6, 3) == [1, 3, 5]
    assert kept_layers(6, 2) == [2, 5]
    assert kept_layers(6, 6) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(EncoderError, match="--layers 7: the encoder has 6 layers; give 1 to 6"):
        kept_layers(6, 7)


def test_tempering_softens_and_keeps_the_order():
    probs = np.array([[0.7, 0.2, 0.1], [1.0, 0.0, 0.0]])
    soft = tempered(probs, 2.0)
    assert np.allclose(soft.sum(-1), 1) and (soft.argmax(-1) == probs.argmax(-1)).all()
    assert soft[0, 0] < 0.7 and np.allclose(tempered(probs, 1.0)[0], probs[0])


@pytest.mark.model
def test_a_two_layer_student_learns_the_bigger_ones_probabilities(project, tmp_path):
    big = train(project, BIG, "big")
    small = train(project, replace(BIG, layers=2, soft=str(big), soft_text=["dist", "orig"],
                                   encoder=str(Path(project.training.run(big).checkpoint_dir) / "model")),
                  "small")
    folder = Path(project.training.run(small).checkpoint_dir) / "model"
    model = encoder.load_classifier(folder)
    assert model.config.num_hidden_layers == 2 and len(model.base_model.encoder.layer) == 2
    epochs = project.training.metrics(small)
    assert [e["n_original"] for e in epochs] == [32] * 3  # orig's 16 with labels, dist's 16 soft
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    scores = layers.score(project, "held", "gold", [f"pred:{big}", f"pred:{small}"])
    assert scores[f"pred:{small}"].micro_f1 > 0.5  # it learnt the task, not only a shape
    check = deploy.export_onnx(project, str(small), tmp_path / "bundle")  # ships like any run
    assert check.max_abs_logit_diff < 1e-3
    [(tokens, tags)] = deploy.tag_text(tmp_path / "bundle", "Marie Curie visited Paris for Reuters talks .")
    assert len(tags) == len(tokens) == 8


@pytest.mark.model
def test_soft_text_overlapping_the_test_set_is_refused(project):
    big = train(project, BIG, "big")
    with pytest.raises(TrainingError, match="--soft-text shares 16 sentences with --test held"):
        train(project, replace(BIG, layers=2, soft=str(big), soft_text=["held"]), "small")


@pytest.mark.model
@pytest.mark.parametrize(("args", "message"), [
    (["--layers", "0"], "0 is not in the range x>=1"),
    (["--soft-text", "dist"], "--soft-text needs --soft RUN"),
    (["--layers", "9"], "--layers 9: the encoder has 6 layers; give 1 to 6"),
    (["--encoder", "nosuch"], "--encoder nosuch: neither a checkpoint dir (with config.json) nor a training run"),
])
def test_bad_shrinking_is_one_error_line(project, args, message):
    result = CliRunner().invoke(main, ["train", "--original", "orig", "--epochs", "1", "--dev", "",
                                       "--test", "", *args, "--db", str(project.path)])
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.model
def test_the_encoder_may_be_a_training_run_by_name(project):
    big = train(project, BIG, "big")
    result = CliRunner().invoke(main, ["train", "--original", "orig", "--epochs", "1", "--dev", "", "--test", "",
                                       "--layers", "2", "--encoder", "big", "--name", "small",
                                       "--db", str(project.path)])
    assert result.exit_code == 0, result.output
    small = project.training.find("small")
    assert project.training.run(small).config["encoder"] == str(Path(project.training.run(big).checkpoint_dir)
                                                                 / "model")


@pytest.mark.model
def test_shrink_makes_the_smaller_student_from_a_run_in_one_command(project):
    big = train(project, BIG, "big")
    db = ["--db", str(project.path)]
    result = CliRunner().invoke(main, ["shrink", "big", "--layers", "2", *db])
    assert result.exit_code == 0, result.output
    assert "its probabilities on synth-but-held" in " ".join(result.output.split())
    small = project.training.find("big/L2")
    config = project.training.run(small).config
    assert config["layers"] == 2 and config["soft"] == str(big) and config["soft_text"] == ["synth-but-held"]
    held = set(project.corpora.subset_sentence_ids(project.corpora.subset_by_name("held").id))
    text = project.corpora.subset_sentence_ids(project.corpora.subset_by_name("synth-but-held").id)
    assert len(text) == 32 and not held & set(text)  # all of synth but its test sentences
    assert [e["n_original"] for e in project.training.metrics(small)] == [32] * 3  # big's 3 epochs
    model = encoder.load_classifier(Path(project.training.run(small).checkpoint_dir) / "model")
    assert model.config.num_hidden_layers == 2
    again = CliRunner().invoke(main, ["shrink", "big/L2", *db])
    assert again.exit_code == 2 and "is itself a shrunken student; shrink the run it learnt from" in again.output
    missing = CliRunner().invoke(main, ["shrink", "nosuch", *db])
    assert missing.exit_code == 2 and "nosuch: no such training run; give its id or name" in missing.output

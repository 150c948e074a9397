"""Issue 30, step 2: self-training on unlabelled text with the student as its own labeller."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.student.config import TrainConfig, TrainingError
from core.student.self_training import Round, self_train
from core.student.training import TrainingEnded
from tui.cli import main

pytestmark = pytest.mark.model  # real (tiny) MiniLM students, a few seconds each

HUMAN = TrainConfig(original=["orig"], schedule="pure-original", epochs=2, batch_size=8, lr=5e-4,
                    lr_schedule="constant", dev="held", test="held", pretrain_epochs=1)


def test_each_round_labels_the_text_and_trains_on_what_it_was_sure_of_then_on_humans(project):
    events = list(self_train(project, HUMAN, "dist", rounds=2, threshold=0.5, name="st"))
    steps = [(e.round, e.step) for e in events if isinstance(e, Round)]
    assert steps == [(0, "train"), (1, "label"), (1, "train"), (2, "label"), (2, "train")]
    runs = [e.run for e in events if isinstance(e, TrainingEnded)]
    assert [project.training.run(r).name for r in runs] == ["st/self-0", "st/self-1", "st/self-2"]
    labelled = project.annotations.ids()
    assert [project.annotations.run(a).model for a in labelled] == [
        f"training run {runs[0]} (st/self-0)", f"training run {runs[1]} (st/self-1)"]  # each labels the next
    sure = {sid for sid, s in project.annotations.scores(labelled[0]).items() if s["sentence"] >= 0.5}
    first = project.training.metrics(runs[1])
    assert first[0]["n_distilled"] == len(sure) and first[0]["n_original"] == 0  # sure pseudo-labels
    assert first[-1]["n_distilled"] == 0 and first[-1]["n_original"] == 16  # then the human labels alone
    assert project.training.run(runs[2]).config["distilled"] == [f"dist@run:{labelled[1]}"]
    again = list(self_train(project, HUMAN, "dist", rounds=2, threshold=0.5, name="st"))  # all done: resumes
    assert [e.run for e in again if isinstance(e, TrainingEnded)] == runs
    assert project.annotations.ids() == labelled


@pytest.mark.parametrize(("subset", "rounds", "threshold", "message"), [
    ("dist", 1, 0.0, "--threshold 0.0: give the least probability"),
    ("dist", 1, 1.5, "--threshold 1.5"),
    ("dist", 0, 0.9, "--rounds 0: give 1 or more"),
    ("held", 1, 0.9, "--self-train held shares 16 sentences with --dev held"),
])
def test_bad_self_training_is_one_error_line(project, subset, rounds, threshold, message):
    with pytest.raises(TrainingError, match=message.replace("(", r"\(")):
        next(self_train(project, HUMAN, subset, rounds, threshold))
    assert project.training.runs() == []  # refused before anything trains


def test_the_cli_self_trains(project):
    result = CliRunner().invoke(main, ["train", "--original", "orig", "--self-train", "dist", "--epochs", "1",
                                       "--pretrain-epochs", "1", "--threshold", "all", "--dev", "",
                                       "--test", "held", "--name", "cli", "--db", str(project.path)])
    assert result.exit_code == 0, result.output
    assert [r.name for r in project.training.runs()] == ["cli/self-1", "cli/self-0"]
    assert "training run 2 on held" in result.output
    taught = project.training.run(2)
    assert taught.config["distilled_filter"] == "all"  # 'all': every sentence the student labelled
    assert project.training.metrics(2)[0]["n_distilled"] == 16
    bad = CliRunner().invoke(main, ["train", "--original", "orig", "--self-train", "dist", "--threshold", "most",
                                    "--db", str(project.path)])
    assert bad.exit_code == 2 and "'most': give a probability in (0, 1], e.g. 0.9, or 'all'" in bad.output


def test_a_student_sure_of_nothing_says_so(project):
    with pytest.raises(TrainingError, match="the student was 1.0 sure of none of dist's 16 sentences"):
        list(self_train(project, HUMAN, "dist", threshold=1.0))

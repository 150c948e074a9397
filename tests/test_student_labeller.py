"""Issue 29, step 2: the trained student labels a subset as an annotation run like any other."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core import layers
from core.data import schema
from core.review.session import ReviewSession
from core.ship import deploy
from core.student.config import TrainConfig
from core.student.training import train
from tui.cli import main

pytestmark = pytest.mark.model  # a real (tiny) MiniLM student, trained for a few seconds

HUMAN = TrainConfig(original=["orig"], schedule="pure-original", epochs=3, batch_size=8, lr=5e-4,
                    lr_schedule="constant", dev="", test="held")


def nerd(store, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(store.path)])
    assert result.exit_code == code, result.output
    return result.output


def test_the_student_labels_a_subset_with_its_confidence_and_resumes(project):
    trained = train(project, HUMAN)
    out = nerd(project, "annotate", "held", "--backend", "student", "--model", str(trained), "--limit", "5")
    assert "partial: 5/16 sentences" in " ".join(out.split())
    out = nerd(project, "annotate", "held", "--backend", "student", "--model", str(trained))
    assert "finished: 16/16 sentences" in " ".join(out.split())
    (run,) = project.annotations.ids()
    row = project.annotations.run(run)
    assert (row.backend, row.model, row.status) == ("student", f"training run {trained} (pure-original-seed13)", "finished")
    assert project.annotations.count(run) == 16  # resumed, nothing labelled twice
    # its tags are the student's own predictions on the same sentences (stored by training)
    ours = layers.score(project, "held", f"pred:{trained}", [f"run:{run}"])[f"run:{run}"]
    assert ours.micro_f1 == 1.0
    scores = project.annotations.scores(run)
    answers = {a.sentence_id: a for a in project.annotations.answers(run)}
    assert set(scores) == set(answers)
    for sid, found in scores.items():
        assert 0 < found["sentence"] <= 1
        spans = [(start, end, label) for start, end, label, *_ in found["entities"]]
        assert [label for *_, label in spans] == [label for label, _ in answers[sid].entities]
        for start, end, label, confidence, second, second_confidence in found["entities"]:
            assert answers[sid].tags[start:end] == [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
            assert second != label
            assert 0 <= second_confidence <= 1 and 0 < confidence <= 1
            assert confidence >= found["sentence"] - 1e-4  # the sentence is as sure as its least sure part
        word = found["word"]  # the least sure word, where review opens
        holder = [c for start, end, _, c, _, _ in found["entities"] if start <= word < end]
        assert 0 <= word < len(answers[sid].tags)
        if holder:  # inside an entity: the entity is exactly as sure as the sentence
            assert abs(holder[0] - found["sentence"]) < 1e-4
        else:
            assert answers[sid].tags[word] == "O"
    session = ReviewSession(project, run)  # reviewable like any run
    assert len(session) == 16 and session.items[0].raw.startswith("{")


def test_an_onnx_bundle_labels_alike_and_is_a_run_of_its_own(project, tmp_path):
    trained = train(project, HUMAN)
    bundle = tmp_path / "bundle"
    deploy.export_onnx(project, str(trained), bundle)
    nerd(project, "annotate", "held", "--backend", "student", "--model", str(trained))
    nerd(project, "annotate", "held", "--backend", "student", "--model", str(bundle), "--name", "onnx")
    torch_run, onnx_run = sorted(project.annotations.ids())
    assert project.annotations.run(onnx_run).model == f"bundle {bundle.resolve()}"
    assert project.annotations.tags(onnx_run) == project.annotations.tags(torch_run)
    a, b = project.annotations.scores(torch_run), project.annotations.scores(onnx_run)
    assert max(abs(a[s]["sentence"] - b[s]["sentence"]) for s in a) < 1e-3


def test_a_student_for_other_types_or_no_model_is_one_clear_error(project):
    trained = train(project, HUMAN)
    project.labels.save(schema.from_data([{"name": "VESSEL", "description": "A ship."},
                                          {"name": "PORT", "description": "A harbour."}]))
    out = nerd(project, "annotate", "held", "--backend", "student", "--model", str(trained), code=2)
    said = " ".join(out.split())
    assert "labels LOC, MISC, ORG, PER but the project's schema has VESSEL, PORT" in said, said
    assert project.annotations.ids() == []  # refused before any run exists
    assert "needs --model" in nerd(project, "annotate", "held", "--backend", "student", code=2)
    assert "no training run '99'" in nerd(project, "annotate", "held", "--backend", "student",
                                          "--model", "99", code=2)

"""`nerd loop`: rounds with the real embedded teacher (Gemma 270M through llama.cpp) and the
real MiniLM student on a templated project; reviews written through the review session."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.loop import review_to_gold
from core.data import corpora
from core.data.conll import Sentence
from core.jobs import loop
from core.jobs.loop_report import loop_status, status_rows, working_minutes
from core.store.loops import LoopRound
from core.student import labeller
from core.student.config import TrainConfig
from core.student.training import train
from core.teacher.runs import Started
from tests.conftest import kill_when, synthetic
from tui.cli import main

SMALL = {"batch": 6, "holdout": 2, "compared": 1, "epochs": 1}


def ready(events) -> loop.RoundReady:
    found = [e for e in events if isinstance(e, loop.RoundReady)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.llm
@pytest.mark.model
@pytest.mark.slow
def test_rounds_train_on_reviews_score_held_out_and_pick_the_least_sure_batch(project):
    store = project
    first = ready(loop.advance(store, "dist", **SMALL)).round
    ids = store.corpora.subset_sentence_ids(corpora.resolve_subset(store, "dist"))
    assert (first.round, first.labeller, first.status) == (0, "teacher", "ready")
    batch0 = store.corpora.subset_sentence_ids(first.batch_subset_id)
    assert batch0 == ids[:6]  # round 0: the first sentences, in order
    assert set(store.annotations.tags(first.annotation_run_id)) == set(batch0)

    with pytest.raises(loop.LoopError, match="no reviewed sentence yet: review round 0's batch"):
        list(loop.advance(store, "dist"))
    assert review_to_gold(store, first.annotation_run_id) == 6

    second = ready(loop.advance(store, "dist")).round
    sentences = {s.id: s for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "dist"))}
    trained = store.corpora.subset_sentence_ids(second.train_subset_id)
    heldout = [sid for sid in batch0 if loop.held_out(sentences[sid], 2)]
    assert heldout and trained and sorted(trained) == sorted(set(batch0) - set(heldout))
    assert second.reviewed == len(trained) and second.heldout == len(heldout)
    assert second.compared == len(heldout)  # the teacher labelled round 0's held-out sentences
    assert 0 <= second.student_f1 <= 1 and 0 <= second.teacher_f1 <= 1
    assert second.labeller == ("student" if loop.student_leads(second, loop.LoopSettings(**SMALL)) else "teacher")
    batch1 = store.corpora.subset_sentence_ids(second.batch_subset_id)
    assert len(batch1) == 6 and not set(batch1) & set(batch0)
    pool = store.annotations.find("loop-dist-pool-1")
    sure = store.annotations.scores(pool)
    assert set(sure) == set(ids) - set(batch0)  # the student read everything left
    rest = [sure[sid]["sentence"] for sid in set(sure) - set(batch1)]
    assert max(sure[sid]["sentence"] for sid in batch1) <= min(rest)  # the least sure come first
    assert set(store.annotations.tags(second.annotation_run_id)) == set(batch1)

    with pytest.raises(loop.LoopError, match="nothing reviewed for training since round 1"):
        list(loop.advance(store, "dist"))
    review_to_gold(store, second.annotation_run_id)
    third = ready(loop.advance(store, "dist")).round
    config = store.training.run(third.training_run_id).config
    previous = Path(store.training.run(second.training_run_id).checkpoint_dir) / "model"
    assert config["encoder"] == str(previous)  # warm-started from round 1's student
    assert not set(store.corpora.subset_sentence_ids(third.train_subset_id)) & {
        sid for sid in sentences if loop.held_out(sentences[sid], 2)}
    assert len(store.corpora.subset_sentence_ids(third.batch_subset_id)) == 4  # what was left

    review_to_gold(store, third.annotation_run_id)
    with pytest.raises(loop.LoopError, match="dist has nothing left to review"):
        list(loop.advance(store, "dist"))

    status = loop_status(store, "dist")
    rows = status_rows(status)
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    assert rows[0][2] == "6/6" and rows[1][2] == "6/6"
    assert rows[3][1] == "(choosing)"  # round 3 trained, then found nothing left: say where it stopped
    output = CliRunner().invoke(main, ["loop", "dist", "--status", "--db", str(store.path)]).output
    assert "nerd loop: loop-dist" in output and "held-out F1 by sentences reviewed" in output
    assert "round 3 stopped while choosing" in output


@pytest.mark.model
def test_with_self_training_a_round_learns_first_from_the_last_students_labels_of_the_rest(project):
    """Rounds 0 and 1 as the loop leaves them (pre-annotated, reviewed; round 1's student beat
    the teacher and read the rest to choose its batch); round 2 then trains on that student's
    labels of the sentences of no batch, held-out ones left out, before the reviewed ones."""
    store = project
    student = train(store, TrainConfig(original=["orig"], schedule="pure-original", epochs=1, batch_size=8,
                                       lr=5e-4, lr_schedule="constant", dev="", test=""), "first")
    record = loop.open_loop(store, "dist", **SMALL, self_train=True)
    ids = store.corpora.subset_sentence_ids(corpora.resolve_subset(store, "dist"))

    def labelled(part: str, r: int, chosen: list[int]) -> tuple[int, int]:
        name = loop.loop_subset(store, record, part, r, chosen)
        events = labeller.label(store, name, str(student), name)
        return corpora.resolve_subset(store, name), [e.run for e in events if isinstance(e, Started)][0]

    batch0, run0 = labelled("batch-0", 0, ids[:6])
    _, pool = labelled("pool-1", 1, ids[6:])
    batch1, run1 = labelled("batch-1", 1, ids[6:12])
    for run in (run0, run1):
        review_to_gold(store, run)
    store.loops.save_round(record.id, LoopRound(0, "ready", "teacher", batch_subset_id=batch0,
                                                annotation_run_id=run0))
    store.loops.save_round(record.id, LoopRound(1, "ready", "student", training_run_id=student,
                                                batch_subset_id=batch1, annotation_run_id=run1, compared=1,
                                                student_f1_compared=0.9, teacher_f1=0.5))
    third = ready(loop.advance(store, "dist")).round
    sentences = {s.id: s for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "dist"))}
    rest = [sid for sid in ids[12:] if not loop.held_out(sentences[sid], 2)]
    assert rest and len(rest) < 4  # the held-out sentences of the rest never teach
    config = store.training.run(third.training_run_id).config
    assert config["distilled"] == [f"loop-dist-pseudo-2@run:{pool}"] and config["pretrain_epochs"] == 1
    assert store.corpora.subset_sentence_ids(corpora.resolve_subset(store, "loop-dist-pseudo-2")) == rest
    metrics = store.training.metrics(third.training_run_id)
    assert (metrics[0]["n_distilled"], metrics[0]["n_original"]) == (len(rest), 0)
    assert (metrics[-1]["n_distilled"], metrics[-1]["n_original"]) == (0, third.reviewed)

    first, second = store.loops.rounds(record.id)[:2]
    behind = replace(second, teacher_f1=0.95)  # had the teacher been better, no pseudo-labels yet
    assert loop.pseudo_labelled(store, record, loop.LoopSettings(**SMALL, self_train=True), third,
                                [first, behind]) is None  # not until the student leads


@pytest.mark.llm
@pytest.mark.model
@pytest.mark.slow
def test_a_loop_killed_while_training_loses_no_review_and_resumes(project):
    store = project
    first = ready(loop.advance(store, "dist", batch=4, holdout=2, compared=1, epochs=6)).round
    review_to_gold(store, first.annotation_run_id)
    reviews = store.db.execute("select count(*) from reviews").fetchone()[0]
    command = [sys.executable, "-m", "tui.cli", "loop", "dist", "--db", str(store.path)]
    kill_when(command, str(store.path), "select count(*) from epoch_metrics", 2)
    with sqlite3.connect(store.path) as conn:
        killed = conn.execute("select count(*) from epoch_metrics").fetchone()[0]
        assert conn.execute("select status from loop_rounds where round = 1").fetchone() == ("training",)
    assert 2 <= killed < 6, "the loop should have been killed while training"
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "round 1: resuming (training)" in result.stdout
    rounds = store.loops.rounds(store.loops.find("loop-dist").id)
    assert [(r.round, r.status) for r in rounds] == [(0, "ready"), (1, "ready")]
    assert store.db.execute("select count(*) from reviews").fetchone()[0] == reviews
    epochs = [r["epoch"] for r in store.training.metrics(rounds[1].training_run_id)]
    assert epochs == list(range(6)) and len(store.training.runs()) == 1  # resumed, not restarted


@pytest.mark.parametrize(("given", "message"), [
    ({"batch": 0}, "--batch 0: give 1 or more"),
    ({"holdout": 1}, "--holdout 1: give 2 or more"),
    ({"compared": 0}, "--compared 0: give 1 or more"),
    ({"choose": "random"}, "--choose random: give one of least-sure, in-order, mixed"),
])
def test_bad_settings_are_one_error_line(project, given, message):
    with pytest.raises(loop.LoopError, match=message):
        loop.open_loop(project, "dist", **given)


def test_a_loop_keeps_its_settings_and_its_subset(project):
    made = loop.open_loop(project, "dist", batch=8)
    assert loop.settings_of(made).batch == 8 and loop.settings_of(made).holdout == 5
    again = loop.open_loop(project, "dist", holdout=4)  # an option given later replaces its own
    assert (loop.settings_of(again).batch, loop.settings_of(again).holdout) == (8, 4)
    assert not loop.settings_of(again).self_train  # off unless asked
    assert loop.settings_of(loop.open_loop(project, "dist", self_train=True)).self_train
    with pytest.raises(loop.LoopError, match="loop 'loop-dist' runs over subset dist, not orig"):
        loop.open_loop(project, "orig", name="loop-dist")


def test_status_of_no_loop_says_how_to_start_one(project):
    result = CliRunner().invoke(main, ["loop", "dist", "--status", "--db", str(project.path)])
    assert result.exit_code == 2
    assert "error: no loop 'loop-dist' yet: start it with nerd loop dist" in result.output


def test_held_out_is_a_fixed_share_decided_by_the_words_alone():
    sentences = synthetic(400, 7)
    held = [s for s in sentences if loop.held_out(s, 5)]
    assert 0.12 < len(held) / len(sentences) < 0.28
    same_words = [Sentence(list(s.tokens), ["O"] * len(s.tokens)) for s in sentences]
    assert [loop.held_out(s, 5) for s in same_words] == [loop.held_out(s, 5) for s in sentences]


def test_a_batch_is_the_least_sure_the_next_in_order_or_half_of_each():
    left = [10, 11, 12, 13, 14, 15]
    sure = {10: {"sentence": 0.9}, 11: {"sentence": 0.2}, 12: {"sentence": 0.99}, 13: {"sentence": 0.5},
            14: {"sentence": 0.1}, 15: {"sentence": 0.95}}
    assert loop.batch_of(left, sure, loop.LoopSettings(batch=4)) == [14, 11, 13, 10]
    assert loop.batch_of(left, sure, loop.LoopSettings(batch=4, choose="in-order")) == [10, 11, 12, 13]
    assert loop.batch_of(left, sure, loop.LoopSettings(batch=4, choose="mixed")) == [11, 14, 10, 12]
    assert loop.batch_of(left[:3], sure, loop.LoopSettings(batch=4, choose="mixed")) == [10, 11, 12]


def test_round_epochs_see_about_3000_sentences_within_3_to_20():
    assert [loop.round_epochs(n) for n in (0, 40, 200, 500, 1000, 5000)] == [20, 20, 15, 6, 3, 3]


def test_reviewing_minutes_count_a_long_pause_as_two_minutes():
    stamps = ["2026-12-06T10:00:00+00:00", "2026-12-06T10:00:30+00:00", "2026-12-06T11:00:30+00:00",
              "2026-12-06T11:01:00+00:00"]
    assert working_minutes(stamps) == pytest.approx((30 + 120 + 30) / 60)
    assert working_minutes([]) == 0


@pytest.mark.llm
@pytest.mark.model
@pytest.mark.slow
def test_a_schema_changed_since_the_reviews_is_one_error_line(project, tmp_path):
    first = ready(loop.advance(project, "dist", batch=3, holdout=2, epochs=1)).round
    review_to_gold(project, first.annotation_run_id)
    (tmp_path / "ships.yaml").write_text("types:\n  - name: VESSEL\n    description: A ship.\n")
    runner = CliRunner()
    loaded = runner.invoke(main, ["labels", "load", str(tmp_path / "ships.yaml"), "--force",
                                  "--db", str(project.path)])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(main, ["loop", "dist", "--db", str(project.path)])
    assert result.exit_code == 2
    assert "error: round 1: tag 'B-" in result.output and "nerd loop dist --name NEW" in result.output

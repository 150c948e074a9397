"""A project without gold: reviews are the human labels, for pools, held-out splits and training."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core import layers
from core.data import corpora
from core.review.session import ReviewSession
from core.ship.deploy import check_sentences
from core.store import Store
from core.student.config import TrainingError
from core.student.examples import load_data, measure_spec
from core.student.presets import config
from core.teacher.prompts import build
from core.teacher.runs import AnnotationError, RunConfig, open_run
from tui.cli import main


def review_two(store: Store, run: int) -> list[int]:
    session = ReviewSession(store, run)
    first, second = session.items[0], session.items[1]
    session.label(first.id, 3, 4, "LOC")
    session.accept(second.id)
    return [first.id, second.id]


def test_a_review_layer_as_human_labels_is_the_reviewed_sentences_only(review_project):  # noqa: F811
    store, run = review_project
    assert layers.labelled(store, f"tiny@review:{run}") == []
    reviewed = review_two(store, run)
    chosen = layers.labelled(store, f"tiny@review:{run}")
    assert [s.id for s in chosen] == reviewed and chosen[0].gold[3] == "B-LOC"
    assert len(layers.labelled(store, "tiny")) == 5  # gold: every sentence
    # an undo back to the run's own tags un-reviews a sentence
    session = ReviewSession(store, run)
    session.accept(session.items[2].id)
    session.undo()
    assert [s.id for s in layers.labelled(store, f"tiny@review:{run}")] == reviewed
    # rejected, flagged and skipped sentences are decisions, not human labels
    session.reject(session.items[2].id)
    session.flag(session.items[3].id, "unsure")
    session.skip(session.items[4].id)
    assert [s.id for s in layers.labelled(store, f"tiny@review:{run}")] == reviewed


def test_original_data_from_reviews_counts_only_reviewed_sentences(review_project):  # noqa: F811
    store, run = review_project
    spec = config("cpu", original=[f"tiny@review:{run}"], schedule="pure-original", dev="", test="")
    with pytest.raises(TrainingError, match="review some sentences"):
        load_data(store, spec)
    reviewed = review_two(store, run)
    _, original = load_data(store, spec)
    assert [e.sentence_id for e in original] == reviewed


def test_a_held_out_split_from_reviews_stays_out_of_training(review_project):  # noqa: F811
    store, run = review_project
    review_two(store, run)
    result = CliRunner().invoke(main, ["sample", "--from", f"review:{run}", "--name", "held", "--size", "1",
                                       "--db", str(store.path)])
    assert result.exit_code == 0, result.output
    (held,) = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "held"))]
    spec = config("cpu", original=[f"tiny@review:{run}"], schedule="pure-original",
                  dev=f"held@review:{run}", test="held")
    _, original = load_data(store, spec)
    assert held not in {e.sentence_id for e in original} and len(original) == 1
    too_many = CliRunner().invoke(main, ["sample", "--from", f"review:{run}", "--name", "big", "--size", "3",
                                         "--db", str(store.path)])
    assert too_many.exit_code == 2 and "fewer than --size 3" in too_many.output


def test_no_gold_means_no_dev_or_test_by_default(tmp_path):
    with Store(tmp_path / "p.db") as store:
        assert measure_spec(store, "auto", "conll-dev") == ""
        assert measure_spec(store, "held@review:1", "conll-dev") == "held@review:1"


def test_a_pool_of_reviews_and_an_empty_pool(review_project):  # noqa: F811
    store, run = review_project
    small = RunConfig(subset="tiny", backend="import", model="m", pool=f"review:{run}", neighbours=2,
                      memory=True)
    with pytest.raises(AnnotationError, match="nobody has reviewed"):
        open_run(store, small, build("standard"))
    assert store.annotations.ids() == [run]  # nothing created
    review_two(store, run)
    assert open_run(store, small, build("standard")) != run


def test_the_export_check_uses_the_projects_own_sentences(review_project):  # noqa: F811
    store, run = review_project
    words, gold = check_sentences(store, "no such run", f"tiny@review:{run}")
    assert words and gold == []  # nothing reviewed yet: words to compare on, no F1
    review_two(store, run)
    words, gold = check_sentences(store, "no such run", f"tiny@review:{run}")
    assert len(words) == len(gold) == 2 and words[0][:2] == ["Peter", "Blackburn"]

from __future__ import annotations

import json

import pytest

from core.data.evaluate import evaluate, to_json, to_markdown

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC"]]


def test_perfect_prediction():
    report = evaluate(GOLD, GOLD)
    assert report.micro_f1 == report.macro_f1 == report.weighted_f1 == 1.0
    assert report.support == 4 and report.sentences == 2


def test_strict_span_and_type():
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "O", "B-MISC"]]
    report = evaluate(GOLD, predicted)
    # 2 of 4 predicted right (LOC, MISC), 2 of 4 gold found.
    assert report.precision == pytest.approx(0.5)
    assert report.recall == pytest.approx(0.5)
    assert report.per_type["PER"].f1 == 0.0
    assert report.per_type["LOC"].precision == pytest.approx(0.5)
    assert report.per_type["LOC"].recall == pytest.approx(1.0)
    assert report.per_type["MISC"].f1 == 1.0


def test_mismatched_lengths_are_errors():
    with pytest.raises(ValueError, match="sentence 1: 3 gold tags but 2"):
        evaluate(GOLD, [GOLD[0], ["O", "O"]])


def test_markdown_has_table1_rows_side_by_side():
    text = to_markdown({"standard": evaluate(GOLD, GOLD), "cot": evaluate(GOLD, GOLD)}, "t")
    lines = text.splitlines()
    assert lines[2] == "|  | Metric | standard | cot |"
    for row in ("| Overall | Precision |", "|  | Micro Average F1 |", "|  | Weighted Average F1 |",
                "| LOC | Precision |", "| MISC | Precision |", "| ORG | Precision |",
                "| PER | Precision |"):
        assert any(line.startswith(row) for line in lines), row


def test_json_report():
    data = json.loads(to_json({"x": evaluate(GOLD, GOLD)}))
    assert data["x"]["per_type"]["PER"]["f1"] == 1.0


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TAG = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-MISC"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=6).flatmap(
    lambda lengths: st.tuples(*[st.tuples(st.lists(TAG, min_size=n, max_size=n),
                                          st.lists(TAG, min_size=n, max_size=n)) for n in lengths])))
def test_same_numbers_as_seqeval_classification_report(pairs):
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    gold, predicted = [list(g) for g, _ in pairs], [list(p) for _, p in pairs]
    ours = evaluate(gold, predicted)
    theirs = classification_report(gold, predicted, mode="strict", scheme=IOB2, output_dict=True,
                                   zero_division=0)
    assert ours.precision == pytest.approx(theirs["micro avg"]["precision"])
    assert ours.recall == pytest.approx(theirs["micro avg"]["recall"])
    assert ours.micro_f1 == pytest.approx(theirs["micro avg"]["f1-score"])
    if ours.per_type:  # with no entity at all seqeval's macro average is nan
        assert ours.macro_f1 == pytest.approx(theirs["macro avg"]["f1-score"])
    assert ours.weighted_f1 == pytest.approx(theirs["weighted avg"]["f1-score"])
    assert set(ours.per_type) == {k for k in theirs if not k.endswith(" avg")}
    for kind, scores in ours.per_type.items():
        assert scores.f1 == pytest.approx(theirs[kind]["f1-score"]) and scores.support == theirs[kind]["support"]

from __future__ import annotations

import json

import pytest

from core.evaluate import evaluate, to_json, to_markdown

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

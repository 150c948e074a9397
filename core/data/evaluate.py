"""Entity-level evaluation with seqeval, reported in the layout of the paper's Table 1."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from seqeval.scheme import IOB2, Entities

from common.errors import NerdError
from common.tables import markdown_table
from core.data.schema import CONLL


class ScoringError(NerdError, ValueError):
    """Gold and predicted tags that can't be compared; the message says where they differ."""


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Report:
    """Overall P/R and micro/macro/weighted F1, plus P/R/F1 for each entity type."""

    precision: float
    recall: float
    micro_f1: float
    macro_f1: float
    weighted_f1: float
    support: int
    sentences: int
    per_type: dict[str, Scores] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(gold: list[list[str]], predicted: list[list[str]], strict: bool = True) -> Report:
    """Strict IOB2 by default: an entity counts only with exact span and type.

    Entities come from seqeval's own strict IOB2 extraction, and the arithmetic is that of
    seqeval's `classification_report` (a test holds the two equal). Scoring here avoids the
    scikit-learn import `seqeval.metrics` pulls in, a second of every `nerd eval`.
    """
    if len(gold) != len(predicted):
        raise ScoringError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ScoringError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    if not strict:
        return _lenient(gold, predicted)
    true, found = Entities(gold, IOB2), Entities(predicted, IOB2)
    per_type: dict[str, Scores] = {}
    hits = n_true = n_found = 0
    for kind in sorted(true.unique_tags | found.unique_tags):
        t, p = set(true.filter(kind)), set(found.filter(kind))
        tp = len(t & p)
        hits, n_true, n_found = hits + tp, n_true + len(t), n_found + len(p)
        per_type[kind] = _scores(tp, len(p), len(t))  # as seqeval: types of gold or predictions
    micro = _scores(hits, n_found, n_true)
    support = sum(s.support for s in per_type.values())
    return Report(
        precision=micro.precision, recall=micro.recall, micro_f1=micro.f1,
        macro_f1=sum(s.f1 for s in per_type.values()) / len(per_type) if per_type else 0.0,
        weighted_f1=sum(s.f1 * s.support for s in per_type.values()) / support if support else 0.0,
        support=n_true, sentences=len(gold), per_type=per_type,
    )


def _scores(tp: int, n_predicted: int, n_true: int) -> Scores:
    precision = tp / n_predicted if n_predicted else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, n_true)


def _lenient(gold: list[list[str]], predicted: list[list[str]]) -> Report:
    """seqeval's default (conlleval-like) mode, through seqeval itself."""
    from seqeval.metrics import classification_report

    table = classification_report(gold, predicted, output_dict=True, zero_division=0)
    micro = table.get("micro avg", {})
    per_type = {
        kind: Scores(float(v["precision"]), float(v["recall"]), float(v["f1-score"]), int(v["support"]))
        for kind, v in sorted(table.items()) if not kind.endswith(" avg")
    }
    return Report(float(micro.get("precision", 0.0)), float(micro.get("recall", 0.0)),
                  float(micro.get("f1-score", 0.0)), float(table.get("macro avg", {}).get("f1-score", 0.0)),
                  float(table.get("weighted avg", {}).get("f1-score", 0.0)), int(micro.get("support", 0)),
                  len(gold), per_type)


def report_types(reports: Iterable[Report], types: Sequence[str] = ()) -> list[str]:
    """The types the reports score: those of `types` (a schema's names; CoNLL's when none is
    given) in its order, then any other in alphabetical order."""
    found = {k for r in reports for k in r.per_type}
    first = [k for k in (types or CONLL.names) if k in found]
    return first + sorted(found - set(first))


def table_rows(reports: dict[str, Report], types: Sequence[str] = ()) -> list[tuple[str, str, list[str]]]:
    """(group, metric, one cell per report) in the order of the paper's Table 1."""
    names = list(reports.values())
    rows = [
        ("Overall", "Precision", [f"{r.precision:.3f}" for r in names]),
        ("", "Recall", [f"{r.recall:.3f}" for r in names]),
        ("", "Micro Average F1", [f"{r.micro_f1:.3f}" for r in names]),
        ("", "Macro Average F1", [f"{r.macro_f1:.3f}" for r in names]),
        ("", "Weighted Average F1", [f"{r.weighted_f1:.3f}" for r in names]),
    ]
    for kind in report_types(names, types):
        for i, (label, attr) in enumerate(
            [("Precision", "precision"), ("Recall", "recall"), ("F1-Score", "f1")]
        ):
            cells = [
                f"{getattr(r.per_type[kind], attr):.3f}" if kind in r.per_type else "-"
                for r in names
            ]
            rows.append((kind if i == 0 else "", label, cells))
    rows.append(("", "Entities (gold)", [str(r.support) for r in names]))
    rows.append(("", "Sentences", [str(r.sentences) for r in names]))
    return rows


def to_markdown(reports: dict[str, Report], title: str = "") -> str:
    rows = [[group, metric, *cells] for group, metric, cells in table_rows(reports)]
    return markdown_table(["", "Metric", *reports], rows, "ll" + "r" * len(reports), title)


def to_json(reports: dict[str, Report]) -> str:
    return json.dumps({name: r.to_dict() for name, r in reports.items()}, indent=2)

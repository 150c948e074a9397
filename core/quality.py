"""How good is a teacher: Table 1 against gold, plus what the paper calls instability.

Parse failures, unmatched (hallucinated) entity strings, tokens and time per sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.table import Table

from core import evaluate
from core.annotate import FAILED
from core.layers import run_id
from core.store import Store


@dataclass
class RunQuality:
    run_id: int
    label: str
    sentences: int
    parse_failures: int
    entities: int
    unmatched: int
    prompt_tokens: float
    completion_tokens: float
    seconds: float
    report: evaluate.Report | None

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / self.sentences if self.sentences else 0.0

    @property
    def unmatched_rate(self) -> float:
        return self.unmatched / self.entities if self.entities else 0.0


def run_quality(store: Store, run: int) -> RunQuality:
    prompt, model = store.db.execute(
        "select prompt, model from annotation_runs where id = ?", [run]).fetchone()
    rows = store.db.execute(
        "select a.tags, a.parse_status, a.entities, a.unmatched, a.prompt_tokens,"
        " a.completion_tokens, a.latency_s, s.gold_tags from annotations a"
        " join sentences s on s.id = a.sentence_id where a.run_id = ? order by a.sentence_id", [run],
    ).fetchall()
    gold, predicted = [], []
    failures = entities = unmatched = 0
    prompt_tokens = completion_tokens = seconds = 0.0
    for tags, status, found, missing, p_tok, c_tok, latency, gold_tags in rows:
        failures += status in FAILED
        entities += len(json.loads(found or "[]"))
        unmatched += len(json.loads(missing or "[]"))
        prompt_tokens += p_tok or 0
        completion_tokens += c_tok or 0
        seconds += latency or 0.0
        if gold_tags:
            gold.append(json.loads(gold_tags))
            predicted.append(json.loads(tags))
    n = max(len(rows), 1)
    label = f"run {run} {prompt} ({model.rsplit('/', 1)[-1]})"
    return RunQuality(run, label, len(rows), failures, entities, unmatched, prompt_tokens / n,
                      completion_tokens / n, seconds / n,
                      evaluate.evaluate(gold, predicted) if gold else None)


def companions(store: Store, ref: str = "latest") -> list[int]:
    """The run asked for, and beside it the latest run of the other prompt on the same subset."""
    run = run_id(store, ref)
    subset, prompt = store.db.execute(
        "select subset_id, prompt from annotation_runs where id = ?", [run]).fetchone()
    kind = prompt.split("-")[0]
    other = store.db.execute(
        "select id from annotation_runs where subset_id = ? and prompt not like ?"
        " order by id desc limit 1", [subset, f"{kind}-%"],
    ).fetchone()
    runs = [run, other[0]] if other else [run]
    return sorted(runs, key=lambda r: 0 if "standard" in _prompt(store, r) else 1)


def _prompt(store: Store, run: int) -> str:
    return store.db.execute("select prompt from annotation_runs where id = ?", [run]).fetchone()[0]


def quality_rows(runs: list[RunQuality]) -> list[tuple[str, list[str]]]:
    return [
        ("sentences", [str(q.sentences) for q in runs]),
        ("parse failures", [f"{q.parse_failure_rate:.1%}" for q in runs]),
        ("unmatched entities", [f"{q.unmatched_rate:.1%} of {q.entities}" for q in runs]),
        ("prompt tokens / sentence", [f"{q.prompt_tokens:.0f}" for q in runs]),
        ("generated tokens / sentence", [f"{q.completion_tokens:.1f}" for q in runs]),
        ("seconds / sentence", [f"{q.seconds:.2f}" for q in runs]),
    ]


def quality_table(runs: list[RunQuality]) -> Table:
    table = Table(title="Teacher behaviour")
    table.add_column("")
    for q in runs:
        table.add_column(q.label, justify="right")
    for name, cells in quality_rows(runs):
        table.add_row(name, *cells)
    return table


def quality_markdown(runs: list[RunQuality]) -> str:
    lines = ["| | " + " | ".join(q.label for q in runs) + " |",
             "| --- | " + " | ".join("---:" for _ in runs) + " |"]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in quality_rows(runs)]
    return "\n".join(lines) + "\n"

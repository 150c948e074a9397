"""How good is a teacher: Table 1 against gold, plus what the paper calls instability.

Parse failures, unmatched (hallucinated) entity strings, tokens and time per sentence, and how
many answers needed each repair of the parser or the aligner (issue 13): a model drifting from
the asked format shows as a growing `parse: line format` or `parse: code fence` row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from common.tables import markdown_table
from core.data import evaluate
from core.layers import run_id
from core.store import Store
from core.teacher.parse import SUCCESS, parse_answer
from core.teacher.runs import FAILED, run_schema


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
    unknown_types: int = 0  # answers that named a type not in the run's label schema
    repairs: dict[str, int] = field(default_factory=dict)  # 'parse: line format' -> answers that needed it

    @property
    def unknown_type_rate(self) -> float:
        return self.unknown_types / self.sentences if self.sentences else 0.0

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / self.sentences if self.sentences else 0.0

    @property
    def unmatched_rate(self) -> float:
        return self.unmatched / self.entities if self.entities else 0.0


def run_quality(store: Store, run: int) -> RunQuality:
    info = store.annotations.run(run)
    answers = store.annotations.answers(run)
    scored = [a for a in answers if a.gold]
    n = max(len(answers), 1)
    label = f"run {run} {info.prompt} ({info.model.rsplit('/', 1)[-1]})"
    schema = run_schema(store, info.params)
    parsed = [parse_answer(a.raw, schema) for a in answers]
    return RunQuality(
        run, label, len(answers), sum(a.parse_status in FAILED for a in answers),
        sum(len(a.entities) for a in answers), sum(len(a.unmatched) for a in answers),
        sum(a.prompt_tokens for a in answers) / n, sum(a.completion_tokens for a in answers) / n,
        sum(a.latency_s for a in answers) / n,
        evaluate.evaluate([a.gold for a in scored], [a.tags for a in scored]) if scored else None,
        sum(bool(p.extra) for p in parsed), repairs(answers, parsed))


def repairs(answers: list, parsed: list) -> dict[str, int]:
    """How many answers needed each repair, most needed first: the parser's (read again from the
    raw answer) and the aligner's (as stored; answers from before they were stored have none)."""
    counts: Counter[str] = Counter()
    for answer, p in zip(answers, parsed, strict=True):
        kinds = {f"parse: {kind}" for kind in p.repairs  # what a failure lacked is not a repair
                 if p.status in SUCCESS and kind != "unknown type"}  # (unknown types have a row)
        kinds |= {f"align: {repair[0]}" for repair in answer.align_repairs or []}
        counts.update(kinds)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def companions(store: Store, ref: str = "latest") -> list[int]:
    """The run asked for, and beside it the latest run of the other prompt on the same subset."""
    run = store.annotations.run(run_id(store, ref))
    other = store.annotations.newest_other_prompt(run.subset_id, run.prompt.split("-")[0])
    runs = [run.id, other] if other else [run.id]
    return sorted(runs, key=lambda r: 0 if "standard" in store.annotations.run(r).prompt else 1)


def quality_rows(runs: list[RunQuality]) -> list[tuple[str, list[str]]]:
    return [
        ("sentences", [str(q.sentences) for q in runs]),
        ("parse failures", [f"{q.parse_failure_rate:.1%}" for q in runs]),
        ("unmatched entities", [f"{q.unmatched_rate:.1%} of {q.entities}" for q in runs]),
        ("answers with unknown types", [f"{q.unknown_type_rate:.1%} ({q.unknown_types})" for q in runs]),
        ("prompt tokens / sentence", [f"{q.prompt_tokens:.0f}" for q in runs]),
        ("generated tokens / sentence", [f"{q.completion_tokens:.1f}" for q in runs]),
        ("seconds / sentence", [f"{q.seconds:.2f}" for q in runs]),
        *[(f"needed {kind}", [f"{q.repairs.get(kind, 0) / max(q.sentences, 1):.1%} ({q.repairs.get(kind, 0)})"
                              for q in runs])
          for kind in dict.fromkeys(kind for q in runs for kind in q.repairs)],
    ]


def quality_markdown(runs: list[RunQuality]) -> str:
    rows = [[name, *cells] for name, cells in quality_rows(runs)]
    return markdown_table(["", *(q.label for q in runs)], rows, "l" + "r" * len(runs))

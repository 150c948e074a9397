"""Issue 30, step 4, measured first: can the teacher settle the student's hard cases?

For the `--limit` entities a student's run is least sure of, the embedded teacher answers a
multiple choice per span (the student's two types or "none", decoding constrained to them;
with 0 and k nearest-neighbour examples from the human-labelled pool), and its accuracy is
set against the student's own first choice on the same spans. Scoring (strict, per span) is
`core.teacher.hard_cases.gold_answer`'s: a span gold covers with other boundaries has no
right choice.

    python -m bench.hard_cases --db /tmp/hard/self.db --run 4 --limit 200
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import header, write
from common.tables import markdown_table
from core.data import corpora, evaluate
from core.data.schema import LabelSchema
from core.store import Store
from core.store.corpora import StoredSentence
from core.teacher import hard_cases
from core.teacher.hard_cases import NONE, HardCase
from core.teacher.neighbours import nearest
from models.llama_backend import LlamaBackend
from tui.render import bar


@dataclass(frozen=True)
class Asked:
    """One case, the teacher's choice with `neighbours` examples, and its seconds."""

    case: HardCase
    gold: str | None
    neighbours: int
    choice: str
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="the experiment database (not written to but"
                        " for the sentence embeddings the neighbours need; work on a copy)")
    parser.add_argument("--run", type=int, required=True, help="the student's labelling run, with scores")
    parser.add_argument("--limit", type=int, default=200, help="how many least-sure entities")
    parser.add_argument("--pool", default="original-1000", help="human-labelled subset for examples")
    parser.add_argument("--neighbours", default="0,6", help="comma-separated example counts to try")
    parser.add_argument("--model", default=None, help="GGUF (default: the embedded Gemma 3 270M)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--answers", default=None, help="also write every answer here (JSON lines)")
    parser.add_argument("--out", default="hard-cases.md", help="results file under bench/results")
    parser.add_argument("--from-answers", default=None,
                        help="re-render from an earlier run's --answers file instead of asking")
    args = parser.parse_args()
    counts = [int(k) for k in args.neighbours.split(",")]
    with Store(args.db) as store:
        run = store.annotations.run(args.run)
        if run is None:
            raise SystemExit(f"error: no annotation run {args.run} in {args.db}")
        schema = store.labels.current()
        sentences = {s.id: s for s in corpora.subset_sentences(store, run.subset_id)}
        cases = hard_cases.least_sure(store.annotations.scores(args.run), sentences, args.limit)
        if not cases:
            raise SystemExit(f"error: run {args.run} stored no entity confidences")
        pool = list(corpora.subset_sentences(store, corpora.resolve_subset(store, args.pool)))
        near = nearest(store, [sentences[c.sentence_id] for c in cases], pool, 3 * max(counts))
        found = store.corpora.subset(run.subset_id)
        subset = found.name if found else str(run.subset_id)
        labels = store.annotations.tags(args.run)
    golds = [hard_cases.gold_answer(sentences[c.sentence_id].gold or [], c.start, c.end) for c in cases]
    if args.from_answers:
        asked, model = _read(args.from_answers, cases, golds), args.model or "gemma3-270m-q4_k_m.gguf"
        counts = list(dict.fromkeys(a.neighbours for a in asked))
    else:
        backend = LlamaBackend(args.model, n_ctx=4096, n_threads=args.threads)
        model = backend.model
        try:
            asked = [a for k in counts for a in _ask_all(backend, cases, golds, near, k, schema)]
        finally:
            backend.close()
    if args.answers and not args.from_answers:
        Path(args.answers).write_text("".join(json.dumps({
            "sentence_id": a.case.sentence_id, "start": a.case.start, "end": a.case.end,
            "span": a.case.text, "first": a.case.first, "confidence": a.case.confidence,
            "second": a.case.second, "gold": a.gold, "neighbours": a.neighbours,
            "teacher": a.choice, "seconds": round(a.seconds, 3)}) + "\n" for a in asked))
    text = render(cases, golds, asked, counts, run.name, subset, model)
    write(args.out, text + f1_table(cases, golds, asked, counts, sentences, labels))


def _read(path: str, cases: list[HardCase], golds: list[str | None]) -> list[Asked]:
    """An `--answers` file back as `Asked`, matched to the cases by sentence and span."""
    index = {(c.sentence_id, c.start, c.end): (c, g) for c, g in zip(cases, golds, strict=True)}
    asked = []
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        case, gold = index[(row["sentence_id"], row["start"], row["end"])]
        asked.append(Asked(case, gold, row["neighbours"], row["teacher"], row["seconds"]))
    return asked


def _ask_all(backend: LlamaBackend, cases: list[HardCase], golds: list[str | None],
             near: dict[int, list[StoredSentence]], k: int, schema: LabelSchema) -> list[Asked]:
    """Every case asked with `k` examples, under a progress bar."""
    asked = []
    with bar(f"{k} examples", len(cases)) as advance:
        for i, (case, gold) in enumerate(zip(cases, golds, strict=True)):
            choices = case.choices(schema.order)
            examples = hard_cases.demonstrations(near[case.sentence_id], choices, k,
                                                 seed=case.sentence_id * 1000 + case.start)
            choice, seconds = hard_cases.ask(backend, hard_cases.prompt(case, examples, schema), choices)
            asked.append(Asked(case, gold, k, choice, seconds))
            advance(i + 1, info=case.text[:30])
    return asked


def render(cases: list[HardCase], golds: list[str | None], asked: list[Asked], counts: list[int],
           run: str, subset: str, model: str) -> str:
    """The results page: the cases, then accuracies per labeller and per combination."""
    n = len(cases)
    boundary = sum(g is None for g in golds)
    kinds = Counter(_kind(c, g) for c, g in zip(cases, golds, strict=True))
    ceiling = kinds["first"] + kinds["second"] + kinds["none"]
    text = header(f"The teacher on the student's {n} least-sure entities (multiple choice)")
    text += (f"Run `{run}` on `{subset}`: its {n} least-sure entities (confidence"
             f" {cases[0].confidence:.2f} to {cases[-1].confidence:.2f}). Teacher: `{Path(model).name}`"
             " through llama.cpp, greedy, decoding constrained to the choices (the student's first and"
             " second type in the schema's order, then `none`); examples from the human-labelled pool's"
             " nearest sentences, one question each, in the same format.\n\n"
             "Scoring, strict per span: a type is right only if gold has exactly this span with this"
             " type, `none` only if no gold entity overlaps the span. Gold for these spans: "
             f"student's first type {kinds['first']}, its second {kinds['second']}, `none` {kinds['none']},"
             f" another type {kinds['other']}, and {boundary} spans gold covers with other boundaries"
             f" (no choice is right). Ceiling (gold among the choices): {ceiling}"
             f" of {n}.\n\n")

    def student(pick: Callable[[HardCase], str]) -> list[bool]:
        return [pick(c) == g for c, g in zip(cases, golds, strict=True)]

    first = student(lambda c: c.first)

    def row(name: str, right: list[bool]) -> list[str]:
        return _row(name, right, first, n - boundary)

    rows = [row("student, first choice", first),
            row("student, second choice (reference)", student(lambda c: c.second)),
            row("`none` always (drop every hard entity)", student(lambda c: NONE))]
    timing = []
    for k in counts:
        mine = [a for a in asked if a.neighbours == k]
        said = [a.choice for a in mine]
        teacher = [a.choice == a.gold for a in mine]
        drop = [(NONE if s == NONE else c.first) == g for c, s, g in zip(cases, said, golds, strict=True)]
        retype = [(c.first if s == NONE else s) == g for c, s, g in zip(cases, said, golds, strict=True)]
        oracle = [a or b for a, b in zip(first, teacher, strict=True)]
        rows += [row(f"teacher, {k} examples", teacher),
                 row(f"student's type unless the teacher ({k}) says `none`", drop),
                 row(f"teacher's type ({k}), the student's where it says `none`", retype),
                 row(f"oracle: student or teacher ({k}) right", oracle)]
        seconds = [a.seconds for a in mine]
        picked = Counter(_picked(c, s) for c, s in zip(cases, said, strict=True))
        disagree = [(c, s, g) for c, s, g in zip(cases, said, golds, strict=True) if s != c.first]
        on_boundary = sum(s == NONE for s, g in zip(said, golds, strict=True) if g is None)
        timing.append([str(k), f"{statistics.mean(seconds):.2f}", f"{statistics.median(seconds):.2f}",
                       f"{picked['first']} / {picked['second']} / {picked['none']}",
                       f"{len(disagree)}: teacher right {sum(s == g for _, s, g in disagree)},"
                       f" student right {sum(c.first == g for c, _, g in disagree)}",
                       f"{on_boundary} of {boundary}"])
    text += markdown_table(["labeller", "right", "accuracy", f"on the {n - boundary} answerable",
                            "vs student first (discordant, sign test p)"], rows, "lrrrl")
    text += "\n" + markdown_table(
        ["examples", "s/question (mean)", "median", "teacher chose first / second / none",
         "disagrees with the student", "said `none` on boundary spans"], timing, "rrrlll")
    return text


def f1_table(cases: list[HardCase], golds: list[str | None], asked: list[Asked], counts: list[int],
             sentences: dict[int, StoredSentence], labels: dict[int, list[str]]) -> str:
    """What each policy does to the run's labels of the whole subset (strict micro F1): accuracy
    counts a dropped boundary-error entity as wrong, F1 gains its removed false positive."""
    ids = [sid for sid in sentences if sid in labels and sentences[sid].gold]
    gold = [sentences[sid].gold or [] for sid in ids]

    def score(name: str, choose: Callable[[int, HardCase], str]) -> list[str]:
        tags = {sid: list(labels[sid]) for sid in ids}
        for i, case in enumerate(cases):
            if case.sentence_id in tags:
                tags[case.sentence_id] = hard_cases.relabelled(tags[case.sentence_id], case.start, case.end,
                                                               choose(i, case))
        report = evaluate.evaluate(gold, [tags[sid] for sid in ids])
        return [name, f"{report.precision:.4f}", f"{report.recall:.4f}", f"{report.micro_f1:.4f}"]

    rows = [score("student as it labelled", lambda i, c: c.first),
            score(f"its second type on the {len(cases)}", lambda i, c: c.second),
            score(f"drop all {len(cases)}", lambda i, c: NONE),
            score("gold's answer per span (drop on boundary spans)", lambda i, c: golds[i] or NONE)]
    for k in counts:
        said = [a.choice for a in asked if a.neighbours == k]
        rows += [score(f"teacher ({k} examples)", lambda i, c, said=said: said[i]),
                 score(f"student's type unless the teacher ({k}) says `none`",
                       lambda i, c, said=said: NONE if said[i] == NONE else c.first),
                 score(f"teacher's type ({k}), the student's where it says `none`",
                       lambda i, c, said=said: c.first if said[i] == NONE else said[i])]
    columns = ["policy on the hard entities", "P", "R", f"micro F1 ({len(ids)} sentences)"]
    return "\n" + markdown_table(columns, rows, "lrrr", title="Effect on the labels of the whole subset")


def _kind(case: HardCase, gold: str | None) -> str:
    if gold is None:
        return "boundary"
    if gold in (case.first, case.second, NONE):
        return {case.first: "first", case.second: "second", NONE: "none"}[gold]
    return "other"


def _picked(case: HardCase, choice: str) -> str:
    return "none" if choice == NONE else "first" if choice == case.first else "second"


def _row(name: str, right: list[bool], baseline: list[bool], answerable: int) -> list[str]:
    """Accuracy (of all, of the spans with a right choice), and a paired two-sided sign test
    against the student's first choice."""
    better = sum(a and not b for a, b in zip(right, baseline, strict=True))
    worse = sum(b and not a for a, b in zip(right, baseline, strict=True))
    versus = "" if right is baseline else f"+{better} −{worse}, p = {_sign_test(better, worse):.3f}"
    return [name, f"{sum(right)} / {len(right)}", f"{sum(right) / len(right):.3f}",
            f"{sum(right) / answerable:.3f}" if answerable else "", versus]


def _sign_test(a: int, b: int) -> float:
    """Exact two-sided binomial test of a successes in a + b fair trials."""
    n = a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a, b) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


if __name__ == "__main__":
    main()

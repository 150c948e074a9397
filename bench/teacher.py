"""`just bench-teacher`: making the embedded 270M teacher useful, one technique at a time.

On CoNLL train sentences outside the labelled pool (original-1000): the paper's standard
prompt, then nearest-neighbour examples, answers that list every type, the pool memory,
span-constrained decoding, self-consistency voting, the small-teacher default and all
together. Micro and per-type F1, parse failures, unmatched entities, s/sentence.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.common import header, write
from common.paths import data_dir
from core.data import corpora, evaluate
from core.jobs.demo import SEED
from core.store import Store
from core.teacher import quality
from core.teacher.annotate import annotate
from core.teacher.runs import RunConfig, build_prompt, open_run
from models.llama_backend import LlamaBackend
from tui.render import bar

SMALL = {"neighbours": 8, "all_types": True, "memory": True}  # core.teacher.annotate.small_teacher
VARIANTS = {
    "paper standard prompt": {},
    "+ 8 nearest neighbours": {"neighbours": 8},
    "+ every type in answers": {"all_types": True},
    "+ pool memory": {"memory": True},
    "+ span-constrained": {"constrained": True},
    "+ vote of 3": {"samples": 3},
    "small-teacher default": SMALL,
    "small-teacher + span-constrained": SMALL | {"constrained": True},
    "all together": SMALL | {"constrained": True, "samples": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--model", default=None)
    parser.add_argument("--only", default="", help="comma-separated variant numbers (1-based)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="teacher.md", help="results file under bench/results")
    parser.add_argument("--from-db", default=None,
                        help="re-render the table from an earlier (interrupted) bench database")
    parser.add_argument("--db", default=None,
                        help="keep the bench database here (runs resume; the table shows them all)")
    parser.add_argument("--limit", type=int, default=None,
                        help="annotate at most this many sentences per variant now")
    args = parser.parse_args()
    if args.from_db:
        with Store(args.from_db) as store:
            write(args.out, render(store, args.sentences, "(from an earlier run)"))
        return
    data = data_dir(args.data_dir, "conll2003/train.txt")
    chosen = [v for i, v in enumerate(VARIANTS, 1) if not args.only or str(i) in args.only.split(",")]
    with tempfile.TemporaryDirectory() as tmp, Store(args.db or Path(tmp) / "bench.db") as store:
        corpora.import_conll(store, data / "conll2003" / "train.txt", "conll-train")
        corpora.sample(store, "conll-train", "original-1000", 1000, SEED)
        corpora.sample(store, "conll-train", "teacher-bench", args.sentences, 2025,
                       exclude=["original-1000"])
        backend = LlamaBackend(args.model)
        prompt = build_prompt(store, "standard")
        for name in chosen:
            config = replace(RunConfig(subset="teacher-bench", backend=backend.name, model=backend.model,
                                       pool="original-1000", name=name), **VARIANTS[name])
            run = open_run(store, config, prompt)
            with bar(name) as advance:
                annotate(store, run, backend, prompt, config, progress=advance, limit=args.limit)
            q = quality.run_quality(store, run)
            print(f"{name}: F1 {q.report.micro_f1:.3f}, {q.seconds:.2f} s/sentence", flush=True)
        write(args.out, render(store, args.sentences, Path(backend.model).name))


def render(store: Store, sentences: int, model: str) -> str:
    """One row per run in the bench database; s/sentence is the teacher's time for all its
    samples of a sentence (an answer served from the store counts its original latency)."""
    text = header(f"Teacher techniques with {model}, {sentences} CoNLL train sentences outside"
                  " original-1000")
    runs = [(store.annotations.run(run).name, quality.run_quality(store, run))
            for run in store.annotations.ids()]
    types = evaluate.report_types([q.report for _, q in runs if q.report], store.labels.current().names)
    text += (f"| teacher | sentences | micro F1 | P | R | {' | '.join(types)} | parse failures |"
             " unmatched | s/sentence |\n| --- |" + " ---: |" * (7 + len(types)) + "\n")
    for name, q in runs:
        r = q.report
        per = " | ".join(f"{r.per_type[k].f1:.3f}" if k in r.per_type else "-" for k in types)
        text += (f"| {name} | {q.sentences} | {r.micro_f1:.3f} | {r.precision:.3f} | {r.recall:.3f} |"
                 f" {per} | {q.parse_failure_rate:.1%} | {q.unmatched_rate:.1%} | {q.seconds:.2f} |\n")
    text += ("\nTarget (issue 7): micro F1 ≥ 0.65 (GPT-4 with the paper's standard prompt), 100 % parse"
             " validity, no invented entity, at most 1.5 s a sentence on 2 cores.\n")
    return text


if __name__ == "__main__":
    main()

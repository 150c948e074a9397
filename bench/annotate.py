"""`just bench-annotate`: the embedded teacher on 200 CoNLL train sentences, standard and CoT.

Sentences/s, prompt and generated tokens/s, parse failures, micro F1, and the prefix
cache's effect (the first sentence pays for the few-shot prefix, the rest do not).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bench.common import conll_train_sample, header, teacher_arguments, write
from core.data import evaluate
from core.store import Store
from core.teacher import quality
from core.teacher.annotate import annotate
from core.teacher.prompts import build
from core.teacher.runs import RunConfig, open_run
from models.llama_backend import LlamaBackend
from tui.render import bar


def main() -> None:
    args = teacher_arguments(200)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        conll_train_sample(store, args.data_dir, args.sentences)
        backend = LlamaBackend(args.model)
        rows, runs = [], []
        for kind in ("standard", "cot"):
            prompt = build(kind)
            config = RunConfig(subset="bench", backend=backend.name, model=backend.model, prompt=kind)
            run = open_run(store, config, prompt)
            with bar(f"{kind}") as advance:
                summary = annotate(store, run, backend, prompt, config, progress=advance)
            latencies = store.annotations.latencies(run)
            q = quality.run_quality(store, run)
            runs.append(q)
            rest = statistics.mean(latencies[1:]) if len(latencies) > 1 else float("nan")
            rate = summary.done / summary.seconds
            rows.append((kind, rate, q.prompt_tokens * rate, q.completion_tokens * rate,
                         q.parse_failure_rate,
                         q.unmatched_rate, q.report.micro_f1 if q.report else float("nan"),
                         latencies[0], rest))
    text = header(f"Annotation with {Path(backend.model).name}, {args.sentences} CoNLL train sentences")
    text += ("| prompt | sentences/s | prompt tokens/s | generated tokens/s | parse failures |"
             " unmatched entities | micro F1 | first sentence s | later sentences s (mean) |\n"
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    for kind, sps, ptps, gtps, pf, um, f1, first, rest in rows:
        text += (f"| {kind} | {sps:.3f} | {ptps:.0f} | {gtps:.1f} | {pf:.1%} | {um:.1%} | {f1:.3f} |"
                 f" {first:.2f} | {rest:.2f} |\n")
    text += ("\nPrompt tokens/s counts every prompt token, also those llama.cpp served from its"
             " prefix cache; the first sentence evaluates the whole few-shot prefix, later ones"
             " only their own tokens.\n\n")
    text += evaluate.to_markdown({q.label: q.report for q in runs if q.report}, "Against gold")
    text += "\n" + quality.quality_markdown(runs)
    write("annotate.md", text)


if __name__ == "__main__":
    main()

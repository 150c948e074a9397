"""`just bench-llama-guard`: what the watched child process costs against llama.cpp in process.

Both backends load the same GGUF; each CoNLL train sentence's real annotation request (the
paper's standard prompt) goes to one and then the other, alternating which goes first, so
both keep a warm prefix cache and drift on a busy machine hits both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import conll_train_sample, header, teacher_arguments, write
from core.data import corpora
from core.store import Store
from core.teacher.prompts import build
from models.llama_backend import InProcessLlama, LlamaBackend
from models.llm import Request
from tui.render import bar


def timed(factory):
    started = time.perf_counter()
    value = factory()
    return value, time.perf_counter() - started


def main() -> None:
    args = teacher_arguments(50)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        conll_train_sample(store, args.data_dir, args.sentences)
        sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, "bench")))
    prompt = build("standard")
    backends = {}
    backends["in process"], load_in = timed(lambda: InProcessLlama(args.model))
    backends["watched child"], load_child = timed(lambda: LlamaBackend(args.model))
    latency: dict[str, list[float]] = {name: [] for name in backends}
    tiny: dict[str, list[float]] = {name: [] for name in backends}
    same = 0
    with bar("sentences") as advance:
        for i, sentence in enumerate(sentences):
            order = list(backends) if i % 2 == 0 else list(reversed(backends))
            texts = {}
            for name in order:
                request = prompt.request(" ".join(sentence.tokens))
                answer, seconds = timed(lambda b=backends[name], r=request: b.complete(r))
                latency[name].append(seconds)
                texts[name] = answer.text
                _, seconds = timed(lambda b=backends[name]: b.complete(Request("Hi", max_tokens=1)))
                tiny[name].append(seconds)
            same += len(set(texts.values())) == 1
            advance(i + 1, len(sentences), "")
    for backend in backends.values():
        backend.close()

    def ms(values: list[float]) -> str:
        return f"{statistics.mean(values) * 1000:.1f} / {statistics.median(values) * 1000:.1f}"

    text = header(f"llama.cpp in process vs in a watched child, {len(sentences)} CoNLL train sentences")
    text += ("| backend | load s | per sentence ms (mean / median) | 1-token request ms (mean / median) |\n"
             "| --- | ---: | ---: | ---: |\n")
    for name, load in (("in process", load_in), ("watched child", load_child)):
        text += f"| {name} | {load:.2f} | {ms(latency[name])} | {ms(tiny[name])} |\n"
    overhead = [c - p for c, p in zip(latency["watched child"], latency["in process"], strict=True)]
    mean, median = statistics.mean(overhead) * 1000, statistics.median(overhead) * 1000
    text += (f"\nPer-sentence difference (child − in process), paired: mean {mean:+.1f} ms,"
             f" median {median:+.1f} ms"
             f" ({statistics.mean(overhead) / statistics.mean(latency['in process']):+.1%} of the mean)."
             f" Identical answers: {same} of {len(sentences)}.\n")
    write("llama-guard.md", text)


if __name__ == "__main__":
    main()

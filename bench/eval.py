"""`just bench-eval`: the full CoNLL-2003 test set, end to end from the command line.

Three ways to run the same trained student, each a fresh process (load included), measured
in one run: the transformers pipeline on torch, nerd's ONNX runtime fp32, and int8.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import header, write
from common.paths import data_dir, db_path
from core import deploy
from core.store import Store

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default="latest",
                        help="checkpoint dir or training run (default: the latest in nerd.db)")
    parser.add_argument("--db", default=None)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    test = data_dir(args.data_dir, "conll2003/test.txt") / "conll2003" / "test.txt"
    with Store(db_path(args.db)) as store:
        checkpoint = deploy.checkpoint_dir(store, args.checkpoint)
        with tempfile.TemporaryDirectory() as tmp:
            fp32, int8 = Path(tmp) / "fp32", Path(tmp) / "int8"
            deploy.export_onnx(store, str(checkpoint), fp32)
            check = deploy.export_onnx(store, str(checkpoint), int8, int8=True)
            nerd = [sys.executable, "-m", "tui.cli", "eval", "--conll", str(test), "--format", "json",
                    "--model"]
            rows = []
            for name, command in (
                ("transformers pipeline (torch)", [sys.executable, "-m", "bench.hf_pipeline",
                                                   str(checkpoint), str(test)]),
                ("nerd eval, ONNX fp32", [*nerd, str(fp32)]),
                ("nerd eval, ONNX int8", [*nerd, str(int8)]),
            ):
                wall, peak, stdout = measured(command)
                data = json.loads(stdout)
                f1 = data["micro_f1"] if "micro_f1" in data else next(iter(data.values()))["micro_f1"]
                rows.append((name, wall, 3453 / wall, peak, f1))
                print(f"{name}: {wall:.2f} s, {peak:.0f} MiB, F1 {f1:.4f}")
    text = header("End-to-end evaluation on CoNLL-2003 test (3453 sentences), load included")
    text += f"Checkpoint: `{checkpoint}`.\n\n"
    text += ("| runner | wall s | sentences/s | peak MiB | micro F1 |\n"
             "| --- | ---: | ---: | ---: | ---: |\n")
    text += "".join(f"| {n} | {w:.2f} | {s:.0f} | {p:.0f} | {f:.4f} |\n" for n, w, s, p, f in rows)
    base = rows[0][1]
    text += (f"\nSpeed-up over the pipeline: fp32 ×{base / rows[1][1]:.1f}, int8 ×{base / rows[2][1]:.1f}."
             f" int8 F1 change against fp32: {(rows[2][4] - rows[1][4]) * 100:+.2f} points on test"
             f" ({'per-channel' if check.per_channel else 'per-tensor'} weights; on dev:"
             f" {check.dev_f1_fp32:.4f} -> {check.dev_f1_int8:.4f}).\n")
    write("eval.md", text)


if __name__ == "__main__":
    main()

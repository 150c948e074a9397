"""What every benchmark writes beside its numbers: the machine, the command and the date."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from common.machine import machine, this_cpu

RESULTS = Path(__file__).parent / "results"


def header(title: str) -> str:
    return (f"# {title}\n\n- date: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
            f"- machine: {machine()}\n- python: {sys.version.split()[0]}\n"
            f"- command: `{command()}`\n\n")


def command() -> str:
    """How to run it again: `python -m bench.NAME ARGS` (argv[0] is a path under -m)."""
    module = Path(sys.argv[0]).stem
    return " ".join(["python -m bench." + module, *sys.argv[1:]])


def write(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    print(text)
    return path


def int8_flags() -> list[str]:
    """The instruction sets this CPU has that decide how int8 runs (dot products first)."""
    from models.runtime import INT8_DOT

    flags = this_cpu().flags
    return [flag for flag in (*INT8_DOT, "avx512f", "avx2") if flag in flags]


def checkpoint_arguments() -> argparse.ArgumentParser:
    """What every benchmark of a trained student takes: which checkpoint, database and data."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default="latest",
                        help="checkpoint dir or training run (default: the latest in nerd.db)")
    parser.add_argument("--db", default=None)
    parser.add_argument("--data-dir", default=None)
    return parser


def teacher_arguments(sentences: int) -> argparse.Namespace:
    """What every teacher benchmark takes: how many sentences, which GGUF, where the data is."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=sentences)
    parser.add_argument("--model", default=None, help="GGUF path (default: embedded Gemma 270M)")
    parser.add_argument("--data-dir", default=None)
    return parser.parse_args()


def conll_train_sample(store, data: str | None, size: int, name: str = "bench", seed: int = 2024) -> None:
    """CoNLL-2003 train into the store and a seeded subset `name` of it."""
    from common.paths import data_dir
    from core.data import corpora

    folder = data_dir(data, "conll2003/train.txt")
    corpora.import_conll(store, folder / "conll2003" / "train.txt", "conll-train")
    corpora.sample(store, "conll-train", name, size, seed=seed)

"""Ship the student: export a checkpoint or training run to ONNX, evaluate a bundle, tag text.

Evaluation and tagging use the ONNX runtime alone, so a deployment needs no torch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import NerdError
from common.tags import spans
from core import corpora
from core.conll import read_conll
from core.evaluate import Report, evaluate
from core.store import Store
from core.text import article_sentences, tokenize


class DeployError(NerdError, FileNotFoundError):
    """No model or labelled data to ship from; the message says what is missing and what to do."""


def checkpoint_dir(store: Store | None, ref: str) -> Path:
    """A checkpoint dir as given, or the model of training run N (by id or name)."""
    path = Path(ref)
    if (path / "config.json").is_file():
        return path
    run = store.training.find(ref) if store is not None else None
    found = store.training.run(run) if store is not None and run is not None else None
    if found is not None:
        model = Path(found.checkpoint_dir or "") / "model"
        if (model / "config.json").is_file():
            return model
        raise DeployError(f"training run {found.id} has no finished model in {model};"
                          " finish it with the same `nerd train` command")
    raise DeployError(f"{ref}: neither a checkpoint dir (with config.json) nor a training run")


def held_out(store: Store | None, subset: str, limit: int) -> tuple[list[list[str]], list[list[str]]]:
    """Words and gold tags of up to `limit` sentences of a subset, when the store has it."""
    if store is None:
        return [], []
    try:
        sentences = corpora.subset_sentences(store, corpora.resolve_subset(store, subset))
    except corpora.NotFound:
        return [], []
    chosen = [s for s in sentences if s.gold][:limit]
    return [s.tokens for s in chosen], [s.gold for s in chosen]


FALLBACK_CHECK = [tokenize(t) for t in (
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn said the European Commission met in Brussels on Thursday .",
    "Houston Astros beat the St. Louis Cardinals 3-1 in the NL Central division .",
)]


def export_onnx(store: Store | None, ref: str, out: Path, int8: bool = False,
                check_subset: str = "conll-dev", check_limit: int = 200, dev_limit: int = 1000):
    """Export, check against torch on held-out sentences, optionally quantise and measure."""
    from models import onnx_export

    checkpoint = checkpoint_dir(store, ref)
    words, _ = held_out(store, check_subset, check_limit)
    result = onnx_export.export(checkpoint, out, words or FALLBACK_CHECK)
    if int8:
        dev_words, dev_gold = held_out(store, check_subset, dev_limit)
        result = onnx_export.quantize(out, dev_words, lambda tags: evaluate(dev_gold, tags).micro_f1)
    return result


@dataclass
class Evaluation:
    report: Report
    sentences: int
    seconds: float
    load_seconds: float

    @property
    def sentences_per_second(self) -> float:
        return self.sentences / self.seconds if self.seconds else 0.0


def evaluate_bundle(bundle: Path, conll: Path | None = None, threads: int | None = None,
                    store: Store | None = None, subset: str = "conll-test") -> Evaluation:
    """Score a bundle on a CoNLL file, or on a labelled subset of the store."""
    from models.runtime import Tagger

    started = time.perf_counter()
    tagger = Tagger(bundle, threads)
    loaded = time.perf_counter()
    if conll is not None:
        words, gold = zip(*((s.tokens, s.tags) for s in read_conll(conll)), strict=True)
    else:
        words, gold = held_out(store, subset, 10**9)
        if not words:
            raise DeployError(f"no labelled subset {subset!r} in the store to evaluate on")
    predicted = tagger.tag(list(words))
    finished = time.perf_counter()
    return Evaluation(evaluate(list(gold), predicted), len(words), finished - loaded, loaded - started)


def tag_text(bundle: Path, text: str) -> list[tuple[list[str], list[str]]]:
    """Raw text to (words, tags) per sentence, split and tokenised the CoNLL way."""
    from models.runtime import Tagger

    sentences = [s for p in text.split("\n\n") for s in article_sentences(p, skip_headline=False)]
    return list(zip(sentences, Tagger(bundle).tag(sentences), strict=True))


def entities_json(words: list[str], tags: list[str]) -> str:
    return json.dumps({"text": " ".join(words), "entities": [
        {"type": kind, "text": " ".join(words[s:e]), "start": s, "end": e} for s, e, kind in spans(tags)
    ]}, ensure_ascii=False)

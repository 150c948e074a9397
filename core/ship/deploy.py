"""Ship the student: export a checkpoint or training run to ONNX, evaluate a bundle, tag text.

Evaluation and tagging use the ONNX runtime alone, so a deployment needs no torch.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import NerdError
from common.tags import spans
from core import layers
from core.data import corpora
from core.data.conll import read_conll
from core.data.evaluate import Report, evaluate
from core.data.text import Token, document_sentences, tokenize
from core.specs import as_spec
from core.store import Store
from core.student.examples import measure_spec
from models import onnx_export
from models.runtime import Tagger


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


FALLBACK_CHECK = [tokenize(t) for t in (
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn said the European Commission met in Brussels on Thursday .",
    "Houston Astros beat the St. Louis Cardinals 3-1 in the NL Central division .",
)]


def check_sentences(store: Store | None, ref: str, spec: str | None = None, limit: int = 1000
                    ) -> tuple[list[list[str]], list[list[str]]]:
    """The project's own sentences an export is checked on, and their labels where they have any.

    SPEC (SUBSET[@LAYER]) when given; else the training run's dev, test, then training data;
    else CoNLL's dev. Three stand-in news sentences only when the store has none of these.
    """

    if store is None:
        return FALLBACK_CHECK, []
    specs = [spec] if spec else []
    run = store.training.find(ref) if not spec else None
    config = store.training.run(run).config if run is not None else {}
    if config:
        specs += [measure_spec(store, config.get(k, "auto"), d)
                  for k, d in (("dev", "conll-dev"), ("test", "conll-test"))]
        specs += [*config.get("original", []), *config.get("distilled", [])]
    specs.append("conll-dev")
    for candidate in filter(None, specs):
        try:
            sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(
                store, as_spec(candidate).subset)))[:limit]
            labelled = {s.id: s.gold for s in layers.labelled(store, candidate)}
        except (corpora.NotFound, layers.LayerError):
            if candidate == spec:
                raise
            continue
        if sentences:
            scored = [s for s in sentences if s.id in labelled]
            return ([s.tokens for s in scored] or [s.tokens for s in sentences],
                    [labelled[s.id] for s in scored])
    return FALLBACK_CHECK, []


def export_onnx(store: Store | None, ref: str, out: Path, int8: bool = False,
                check_subset: str | None = None, check_limit: int = 200, dev_limit: int = 1000):
    """Export, check against torch on the project's held-out sentences, optionally quantise and
    measure the F1 change where those sentences have labels."""

    checkpoint = checkpoint_dir(store, ref)
    words, gold = check_sentences(store, ref, check_subset, dev_limit)
    schema = store.labels.matching(onnx_export.checkpoint_labels(checkpoint)) if store is not None else None
    result = onnx_export.export(checkpoint, out, words[:check_limit], schema=schema and schema.to_json())
    if int8:
        dev = words if gold else []
        result = onnx_export.quantize(out, dev, lambda tags: evaluate(gold, tags).micro_f1,
                                      calibration=words)
    return result


@dataclass
class Evaluation:
    report: Report
    sentences: int
    seconds: float
    load_seconds: float
    graph: str = ""  # which of the bundle's graphs ran, and why (models.runtime.choose_graph)

    @property
    def sentences_per_second(self) -> float:
        return self.sentences / self.seconds if self.seconds else 0.0


def evaluate_bundle(bundle: Path, conll: Path | None = None, threads: int | None = None,
                    store: Store | None = None, subset: str = "conll-test") -> Evaluation:
    """Score a bundle on a CoNLL file, or on a labelled subset of the store."""

    started = time.perf_counter()
    tagger = Tagger(bundle, threads)
    loaded = time.perf_counter()
    if conll is not None:
        types = tuple(dict.fromkeys(label[2:] for label in tagger.labels if label != "O"))  # the bundle's
        words, gold = zip(*((s.tokens, s.tags) for s in read_conll(conll, types=types)), strict=True)
    else:
        try:
            chosen = layers.labelled(store, subset) if store is not None else []
        except corpora.NotFound:
            chosen = []
        if not chosen:
            raise DeployError(f"no labelled subset {subset!r} in the store to evaluate on"
                              " (give SUBSET or SUBSET@review:N)")
        words, gold = [s.tokens for s in chosen], [s.gold for s in chosen]
    predicted = tagger.tag(list(words))
    finished = time.perf_counter()
    return Evaluation(evaluate(list(gold), predicted), len(words), finished - loaded, loaded - started,
                      tagger.graph)


def tag_text(bundle: Path, text: str, pretokenized: bool = False, batch_size: int = 32
             ) -> list[tuple[list[Token], list[str]]]:
    """Raw text to (tokens with their character offsets in `text`, tags) per sentence: split and
    tokenised the CoNLL way, or, `pretokenized`, read as CoNLL or one sentence per line."""

    sentences = pretokenized_sentences(text) if pretokenized else document_sentences(text)
    tags = Tagger(bundle).tag([[t.text for t in s] for s in sentences], batch_size)
    return list(zip(sentences, tags, strict=True))


_TAG = re.compile(r"O|[BIES]-\S+")  # a CoNLL line's last column


def pretokenized_sentences(text: str) -> list[list[Token]]:
    """CoNLL (a token's first column; blank lines end sentences; -DOCSTART- skipped) when every
    line ends in a tag column (O, B-X, I-X), else one sentence per line, tokens
    parted by whitespace. Each token keeps its offsets in `text`."""
    lines, start = [], 0
    for line in text.splitlines(keepends=True):
        lines.append((start, line))
        start += len(line)
    filled = [line for _, line in lines if line.strip()]
    conll = "-DOCSTART-" in text or bool(filled) and all(
        len(line.split()) > 1 and _TAG.fullmatch(line.split()[-1]) for line in filled)
    sentences: list[list[Token]] = []
    current: list[Token] = []
    for start, line in lines:
        words = [Token(m.group(), start + m.start(), start + m.end()) for m in re.finditer(r"\S+", line)]
        if conll:
            if words and words[0].text != "-DOCSTART-":
                current.append(words[0])
                continue
            words = []
        if current:
            sentences.append(current)
        current = words if not conll else []
    if current:
        sentences.append(current)
    return sentences


def entities_json(tokens: list[Token], tags: list[str]) -> str:
    """One sentence's entities: token range [start, end) and character range [start_char, end_char)
    in the input text."""
    words = [t.text for t in tokens]
    return json.dumps({"text": " ".join(words), "entities": [
        {"type": kind, "text": " ".join(words[s:e]), "start": s, "end": e,
         "start_char": tokens[s].start, "end_char": tokens[e - 1].end} for s, e, kind in spans(tags)
    ]}, ensure_ascii=False)

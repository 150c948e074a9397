"""ONNX inference without torch: onnxruntime and the `tokenizers` library only.

Sentences are sorted by length and batched, so padding stays small; each word takes the
label of its first piece; sentences longer than the window are split into whole-word
windows and stitched back, never cut (`models.pieces`, shared with training).

An int8 bundle carries its fp32 graph too (`model_fp32.onnx`), and the runtime picks one at load
from the CPU's flags, without writing into the bundle: int8 where the CPU has int8 dot-product
instructions (VNNI, AMX, ARM's dot product), fp32 elsewhere, where int8 ran no faster and cost
F1 (bench/results/int8-variants.md, bench/results/eval.md). NERD_ONNX_GRAPH=int8|fp32 forces one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from common.errors import NerdError
from common.machine import this_cpu
from models.confidence import softmax
from models.pieces import Window, padded, score_windows, tag_windows, word_windows

MODEL_FILE = "model.onnx"
FP32_FILE = "model_fp32.onnx"  # an int8 bundle's fp32 graph, kept beside it
CHECK_FILE = "nerd_export.json"  # what the export measured, `int8` among it
GRAPH_ENV = "NERD_ONNX_GRAPH"
GRAPHS = ("auto", "int8", "fp32")
# Instruction sets with int8 dot products: onnxruntime's int8 kernels only beat fp32 with them.
INT8_DOT = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")


class BundleError(NerdError, ValueError):
    """The ONNX bundle can't be used; the message names the file and what to do."""


def onnx_feed(rows: list[list[int]], pad: int, inputs: set[str]) -> dict[str, np.ndarray]:
    """A session's feed for rows of piece ids: padded ids, the attention mask and, when the
    model takes them (`inputs`), zero token types."""
    ids, mask = (np.array(m, dtype=np.int64) for m in padded(rows, pad))
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {name: value for name, value in feed.items() if name in inputs}


def bundle_is_int8(bundle: Path) -> bool | None:
    """Whether model.onnx is int8, as its export recorded (None: not recorded)."""
    try:
        return bool(json.loads((bundle / CHECK_FILE).read_text()).get("int8"))
    except (OSError, ValueError, AttributeError):
        return None


def choose_graph(bundle: Path, wanted: str | None = None,
                 flags: frozenset[str] | None = None) -> tuple[Path, str]:
    """The graph file to run and why, in words: `wanted` (default $NERD_ONNX_GRAPH, else auto)
    forces int8 or fp32; auto takes int8 only on a CPU with int8 dot products (`flags`, default
    this CPU's)."""
    source = "the caller" if wanted else GRAPH_ENV
    wanted = (wanted or os.environ.get(GRAPH_ENV) or "auto").strip().lower()
    if wanted not in GRAPHS:
        raise BundleError(f"{GRAPH_ENV}={wanted!r}: choose one of {', '.join(GRAPHS)}")
    int8 = bundle_is_int8(bundle)
    model, fp32 = bundle / MODEL_FILE, bundle / FP32_FILE
    if not (int8 and fp32.is_file()):  # one graph
        kind = {True: "int8", False: "fp32", None: "unrecorded"}[int8]
        if wanted not in ("auto", kind) and int8 is not None:
            hint = "export it with --int8" if wanted == "int8" else "export it again"
            raise BundleError(f"{bundle}: {GRAPH_ENV}={wanted} but the bundle has no {wanted} graph; {hint}")
        return model, f"{kind} graph, the bundle's only one"
    if wanted != "auto":
        return (model if wanted == "int8" else fp32), f"{wanted} graph, forced by {source}"
    flags = this_cpu().flags if flags is None else flags
    dot = [flag for flag in INT8_DOT if flag in flags]
    if dot:
        return model, f"int8 graph: this CPU has {', '.join(dot)}"
    return fp32, ("fp32 graph: this CPU has no int8 dot-product instructions (VNNI, AMX), where int8"
                  f" runs no faster and costs F1; {GRAPH_ENV}=int8 forces it")


class Tagger:
    def __init__(self, bundle: str | Path, threads: int | None = None, max_length: int = 128,
                 graph: str | None = None) -> None:
        """`graph`: auto, int8 or fp32 (see `choose_graph`); `self.graph` says which runs and why."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.bundle = Path(bundle)
        model, config_file, tokenizer_file = (self.bundle / n for n in
                                              (MODEL_FILE, "config.json", "tokenizer.json"))
        if model.is_file():
            model, self.graph = choose_graph(self.bundle, graph)
        for path in (model, config_file, tokenizer_file):
            if not path.is_file():
                raise BundleError(f"{path}: missing; export a bundle with `nerd export onnx`")
        try:
            config = json.loads(config_file.read_text())
            self.labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        except (ValueError, KeyError) as exc:
            raise BundleError(f"{config_file}: no usable id2label ({exc})") from exc
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # the Rust library raises its own exception type
            raise BundleError(f"{tokenizer_file}: not a tokenizer file ({exc})") from exc
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BundleError(f"{model}: onnxruntime cannot load it ({str(exc).splitlines()[0]});"
                              " export the bundle again") from exc
        self.inputs = {i.name for i in self.session.get_inputs()}
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(self.labels):
            raise BundleError(f"{config_file}: {len(self.labels)} labels in id2label but the model"
                              f" outputs {width}; the config does not belong to this model")
        vocab = config.get("vocab_size")
        if vocab and self.tokenizer.get_vocab_size() > vocab:
            raise BundleError(f"{tokenizer_file}: {self.tokenizer.get_vocab_size()} pieces but the"
                              f" model knows {vocab}; the tokenizer does not belong to this model")
        self.cls = self.tokenizer.token_to_id("[CLS]")
        self.sep = self.tokenizer.token_to_id("[SEP]")
        self.unk = self.tokenizer.token_to_id("[UNK]")
        self.pad = self.tokenizer.token_to_id("[PAD]") or 0
        if self.cls is None or self.sep is None:
            raise BundleError(f"{tokenizer_file}: no [CLS]/[SEP] pieces; only BERT-style"
                              " tokenizers are supported")
        self.max_length = max_length

    def _encode(self, words: list[str]) -> tuple[list[int], list[int | None]]:
        encoding = self.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
        return encoding.ids, encoding.word_ids

    def _best(self, rows: list[list[int]]) -> np.ndarray:
        return self.session.run(None, onnx_feed(rows, self.pad, self.inputs))[0].argmax(-1)

    def _windows(self, words: list[str]) -> list[Window]:
        return word_windows(words, self._encode, self.cls, self.sep, self.unk, self.max_length)

    def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
        """IOB2 tags for each sentence's words."""
        return tag_windows([self._windows(words) for words in sentences], map(len, sentences),
                           self._best, self.labels, batch_size)

    def probabilities(self, sentences: list[list[str]], batch_size: int = 32) -> list[np.ndarray]:
        """Each sentence's word label probabilities, [words, labels] in `labels`' order
        (`models.confidence.scored` reads tags, entities and their confidence off them)."""

        def scores(rows: list[list[int]]) -> np.ndarray:
            return softmax(self.session.run(None, onnx_feed(rows, self.pad, self.inputs))[0])

        return score_windows([self._windows(words) for words in sentences], map(len, sentences), scores,
                             len(self.labels), batch_size)

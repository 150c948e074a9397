"""Export a token classifier to an ONNX bundle in Optimum's layout, and check it.

The bundle holds `model.onnx`, `config.json` (with id2label) and the tokenizer files, so
both nerd's runtime and `optimum.onnxruntime.ORTModelForTokenClassification` load it.
Every export compares itself with the torch model before anyone ships it.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.encoder import EncoderError, load_classifier, load_tokenizer, windows
from models.runtime import CHECK_FILE, FP32_FILE, MODEL_FILE, Tagger, onnx_feed

SCHEMA_KEY = "label_schema"  # the project's label schema (its JSON) beside the check, when known


@dataclass
class ExportCheck:
    sentences: int
    tokens: int
    max_abs_logit_diff: float
    argmax_agreement: float
    int8: bool = False
    per_channel: bool | None = None
    dev_f1_fp32: float | None = None
    dev_f1_int8: float | None = None
    quantization: str | None = None  # "static": calibrated scales, tags independent of the batch
    batch_agreement: float | None = None  # share of check sentences tagged alike at batch 1 and 32


def export(checkpoint: str | Path, out: str | Path, check: list[list[str]], opset: int = 17,
           schema: dict | None = None) -> ExportCheck:
    """fp32 export with dynamic batch and sequence axes; checked on `check` sentences. `schema`
    (the label schema's JSON) goes into nerd_export.json; id2label is the model's own."""
    import torch

    checkpoint, out = Path(checkpoint), Path(out)
    if not (checkpoint / "config.json").is_file():
        raise EncoderError(f"{checkpoint}: not a checkpoint dir (no config.json)")
    tokenizer = load_tokenizer(checkpoint)
    model = load_classifier(checkpoint).eval()
    out.mkdir(parents=True, exist_ok=True)
    (out / FP32_FILE).unlink(missing_ok=True)  # an earlier int8 export's: not this model's graph
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names:
        names.append("token_type_ids")
    sample = torch.tensor([[tokenizer.cls_token_id, 1000, 1001, tokenizer.sep_token_id]])
    args = tuple([sample, torch.ones_like(sample), torch.zeros_like(sample)][: len(names)])
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in names}
    axes["logits"] = {0: "batch_size", 1: "sequence_length"}
    with warnings.catch_warnings():  # tracer chatter; `compare` below is the real check
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(out / MODEL_FILE), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=opset, dynamo=False)
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    result = compare(model, tokenizer, out / MODEL_FILE, check)
    result.batch_agreement = batch_agreement(out, check)
    write_check(out, result, schema or {})  # {}: a fresh bundle keeps no earlier export's schema
    return result


def checkpoint_labels(checkpoint: str | Path) -> list[str]:
    """A trained checkpoint's labels in id order (its config.json's id2label)."""
    config = json.loads((Path(checkpoint) / "config.json").read_text())
    id2label = config.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))]


def compare(model, tokenizer, onnx_file: Path, sentences: list[list[str]]) -> ExportCheck:
    """max |Δlogit| and argmax agreement on real (unpadded) pieces, ONNX against torch."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    worst, agree, total = 0.0, 0, 0
    rows = [w.input_ids for words in sentences for w in windows(tokenizer, words)]
    for offset in range(0, len(rows), 32):
        chunk = rows[offset : offset + 32]
        feed = onnx_feed(chunk, tokenizer.pad_token_id or 0, inputs)
        ids, mask = feed["input_ids"], feed["attention_mask"]
        with torch.inference_mode():
            expected = model(input_ids=torch.from_numpy(ids),
                             attention_mask=torch.from_numpy(mask)).logits.numpy()
        got = session.run(None, feed)[0]
        real = mask.astype(bool)
        worst = max(worst, float(np.abs(got - expected)[real].max()))
        agree += int((got.argmax(-1) == expected.argmax(-1))[real].sum())
        total += int(real.sum())
    return ExportCheck(len(sentences), total, worst, agree / max(total, 1))


# The dense layers only: an int8 embedding table (Gather) cut test F1 by a further 0.13 point.
QUANTIZED_OPS = ["MatMul"]


class Calibration:
    """onnxruntime's CalibrationDataReader over padded batches of the project's sentences; batches
    of any shape are fine for MinMax calibration."""

    def __init__(self, tagger, sentences: list[list[str]], batch_size: int = 16) -> None:
        rows = sorted((w.input_ids for words in sentences for w in tagger._windows(words)), key=len)
        self.feeds = iter([onnx_feed(rows[i : i + batch_size], tagger.pad, tagger.inputs)
                           for i in range(0, len(rows), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def after_activation(model_file: Path) -> list[str]:
    """MatMuls fed by a GELU (the feed-forward's second dense): their inputs are long-tailed and a
    static int8 scale for them costs F1, so they stay fp32."""
    import onnx

    graph = onnx.load(str(model_file), load_external_data=False).graph
    producer = {output: node for node in graph.node for output in node.output}

    def gelu_above(name: str, depth: int = 4) -> bool:
        node = producer.get(name)
        if node is None or depth == 0:
            return False
        return node.op_type in ("Erf", "Gelu", "FastGelu") or any(gelu_above(i, depth - 1)
                                                                   for i in node.input)

    return [n.name for n in graph.node if n.op_type == "MatMul" and gelu_above(n.input[0])]


def batch_agreement(bundle: Path, sentences: list[list[str]], graph: str | None = None) -> float:
    """Share of sentences tagged the same alone (batch 1) and among others (batch 32)."""

    tagger = Tagger(bundle, graph=graph)
    alone, batched = tagger.tag(sentences, batch_size=1), tagger.tag(sentences, batch_size=32)
    return sum(a == b for a, b in zip(alone, batched, strict=True)) / max(len(sentences), 1)


def quantize(out: str | Path, dev: list[list[str]], score: Callable[[list[list[str]]], float],
             calibration: list[list[str]] | None = None, calibration_limit: int = 300) -> ExportCheck:
    """Static int8 in place of model.onnx: per-channel int8 weights, uint8 activations with
    scales calibrated on `calibration` (default `dev`), so a sentence's tags never depend on
    its batch-mates (dynamic int8 sets each scale over the whole padded batch). `score` rates
    the bundle's tags of the `dev` sentences (the caller's dev F1); batch-1 against batch-32
    agreement is measured on the calibration sentences too."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    out = Path(out)
    fp32 = out / FP32_FILE
    if not fp32.exists():
        shutil.copyfile(out / MODEL_FILE, fp32)
    baseline = score(Tagger(out, graph="fp32").tag(dev)) if dev else None
    sentences = (calibration or dev)[:calibration_limit]
    if not sentences:
        raise EncoderError("static int8 needs sentences to calibrate on; none were given")
    reader = Calibration(Tagger(out, graph="fp32"), sentences)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # "consider pre-processing": not needed here
    try:
        quantize_static(str(fp32), str(out / MODEL_FILE), reader, quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=QUANTIZED_OPS, nodes_to_exclude=after_activation(fp32),
                        extra_options={"MatMulConstBOnly": True})
    finally:
        root.setLevel(level)
    check = read_check(out)
    check.int8, check.per_channel, check.quantization = True, True, "static"
    check.dev_f1_fp32 = baseline
    write_check(out, check)  # model.onnx is int8 from here on: the runtime reads that off the check
    check.dev_f1_int8 = score(Tagger(out, graph="int8").tag(dev)) if dev else None
    check.batch_agreement = batch_agreement(out, dev or sentences, graph="int8")
    write_check(out, check)
    return check


def write_check(out: Path, check: ExportCheck, schema: dict | None = None) -> None:
    """The check, and the label schema (kept from the file when `schema` is None)."""
    if schema is None:
        schema = read_schema(out)
    (out / CHECK_FILE).write_text(json.dumps(asdict(check) | ({SCHEMA_KEY: schema} if schema else {}),
                                             indent=2))


def read_check(out: Path) -> ExportCheck:
    data = json.loads((Path(out) / CHECK_FILE).read_text())
    return ExportCheck(**{k: v for k, v in data.items() if k != SCHEMA_KEY})


def read_schema(out: Path) -> dict | None:
    """The label schema's JSON written into the bundle, or None (older bundles, no project)."""
    file = Path(out) / CHECK_FILE
    return json.loads(file.read_text()).get(SCHEMA_KEY) if file.is_file() else None

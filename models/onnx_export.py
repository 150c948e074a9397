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
from models.runtime import MODEL_FILE, onnx_feed

CHECK_FILE = "nerd_export.json"
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


def quantize(out: str | Path, dev: list[list[str]], score: Callable[[list[list[str]]], float]
             ) -> ExportCheck:
    """Dynamic int8 in place of model.onnx; per-channel or per-tensor, whichever keeps the dev
    score best. `score` rates the bundle's tags of the `dev` sentences (the caller's dev F1)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from models.runtime import Tagger

    out = Path(out)
    fp32 = out / "model_fp32.onnx"
    if not fp32.exists():
        shutil.copyfile(out / MODEL_FILE, fp32)
    baseline = score(Tagger(out).tag(dev)) if dev else None
    best: tuple[float, bool] | None = None
    for per_channel in (True, False):
        target = out / f"model_int8_{'pc' if per_channel else 'pt'}.onnx"
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR  # "consider pre-processing": not needed here
        try:
            quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=per_channel)
        finally:
            root.setLevel(level)
        shutil.copyfile(target, out / MODEL_FILE)
        f1 = score(Tagger(out).tag(dev)) if dev else 0.0
        if best is None or f1 > best[0]:
            best = (f1, per_channel)
    shutil.copyfile(out / f"model_int8_{'pc' if best[1] else 'pt'}.onnx", out / MODEL_FILE)
    for leftover in out.glob("model_int8_*.onnx"):
        leftover.unlink()
    check = read_check(out)
    check.int8, check.per_channel = True, best[1]
    check.dev_f1_fp32, check.dev_f1_int8 = baseline, best[0] if dev else None
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

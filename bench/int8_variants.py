"""`just bench-int8`: which int8 scheme, measured side by side in one run on one machine.

Issue 16 asks for int8 at least 8 times as fast as the transformers pipeline end to end. With the
pipeline about 3.7 times slower than ONNX fp32 (bench/results/eval.md), that needs int8 to run
more than twice as fast as fp32, which only CPUs with int8 dot-product instructions (VNNI, AMX)
can give; on plain AVX2 an int8 multiply-add is at best about twice an fp32 FMA and the
quantise/dequantise steps eat into that. This benchmark measures each candidate end to end (a
fresh `nerd eval` process, load included, like bench/results/eval.md) beside the pipeline, with
its F1 change against fp32 and whether a sentence gets the same tags alone and in a batch of 32.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import checkpoint_arguments, header, int8_flags, write
from bench.eval import nerd_eval, pipeline_eval
from common.paths import data_dir, db_path
from core.data.conll import read_conll
from core.ship import deploy
from core.store import Store


class PackedCalibration:
    """Calibration rows of one length, packed from consecutive sentences' pieces between one
    [CLS] and one [SEP]: onnxruntime's histogram calibrations (Percentile, Entropy) stack every
    batch's activations and refuse ragged shapes, and padding to one length would fill their
    histograms with the activations of padding, which no real text has."""

    def __init__(self, tagger, sentences: list[list[str]], length: int = 64, batch_size: int = 16) -> None:
        from models.runtime import onnx_feed

        stream = [piece for words in sentences for w in tagger._windows(words) for piece in w.input_ids[1:-1]]
        width = length - 2
        rows = [[tagger.cls, *stream[i : i + width], tagger.sep]
                for i in range(0, len(stream) - width + 1, width)]
        self.feeds = iter([onnx_feed(rows[i : i + batch_size], tagger.pad, tagger.inputs)  # full batches
                           for i in range(0, len(rows) - batch_size + 1, batch_size)])

    def get_next(self):
        return next(self.feeds, None)


def gelu_ranges(fp32_bundle: Path, calibration: list[list[str]], percentile: float
                ) -> dict[str, list[dict]]:
    """onnxruntime's TensorQuantOverrides for the GELU outputs (the feed-forward output's input):
    their range from the real words of `calibration` (no padding), the top clipped at
    `percentile`; every other tensor keeps its MinMax range, since BERT's residual stream has
    outlier features that a percentile would cut."""
    import numpy as np

    ranges = {}
    for name, parts in gelu_outputs(fp32_bundle, calibration).items():
        flat = np.concatenate(parts).ravel()
        top = np.percentile(flat, percentile)
        ranges[name] = [{"rmin": np.float32(flat.min()), "rmax": np.float32(top)}]  # numpy: ORT's maths
    return ranges


def gelu_outputs(fp32_bundle: Path, calibration: list[list[str]]) -> dict[str, list]:
    """Each GELU output (a feed-forward output's input) over the real words of `calibration`
    (no padding): a list of arrays of shape (words, channels) by tensor name."""
    import onnx
    import onnxruntime as ort

    from models.onnx_export import Calibration, after_activation
    from models.runtime import Tagger

    fp32 = fp32_bundle / "model.onnx"
    model = onnx.load(str(fp32))
    chosen = set(after_activation(fp32))
    names = [node.input[0] for node in model.graph.node if node.name in chosen]
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in names)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values: dict[str, list] = {name: [] for name in names}
    for feed in Calibration(Tagger(fp32_bundle), calibration).feeds:
        real = feed["attention_mask"].astype(bool)
        for name, found in zip(names, session.run(names, feed), strict=True):
            values[name].append(found[real])
    return values


def smoothed(fp32_bundle: Path, out: Path, calibration: list[list[str]], alpha: float = 0.5) -> None:
    """A copy of the fp32 bundle with SmoothQuant's per-channel scales on every feed-forward output
    (Xiao et al. 2023): GELU output channel j is divided by s_j = max|X_j|^alpha / max|W_j|^(1-alpha)
    (a Mul before the MatMul; a GELU can't absorb it) and weight row j multiplied by it, so the
    product is unchanged and a per-tensor int8 scale no longer has to span a few outlier channels."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from models.onnx_export import after_activation

    shutil.copytree(fp32_bundle, out)
    fp32 = fp32_bundle / "model.onnx"
    model = onnx.load(str(fp32))
    weights = {w.name: w for w in model.graph.initializer}
    peaks = {name: np.abs(np.concatenate(parts)).max(axis=0)
             for name, parts in gelu_outputs(fp32_bundle, calibration).items()}
    chosen = set(after_activation(fp32))
    nodes = []
    for node in [onnx.NodeProto.FromString(n.SerializeToString()) for n in model.graph.node]:
        if node.name in chosen:
            weight = numpy_helper.to_array(weights[node.input[1]])  # (channels in, channels out)
            scale = (np.maximum(peaks[node.input[0]], 1e-5) ** alpha
                     / np.maximum(np.abs(weight).max(axis=1), 1e-5) ** (1 - alpha)).astype(np.float32)
            weights[node.input[1]].CopyFrom(numpy_helper.from_array(weight * scale[:, None], node.input[1]))
            inverse, smooth = f"{node.name}_smooth_inverse", f"{node.input[0]}_smooth"
            model.graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
            nodes.append(helper.make_node("Mul", [node.input[0], inverse], [smooth], f"{node.name}_smooth"))
            node.input[0] = smooth
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(out / "model.onnx"))


def static_variant(fp32_bundle: Path, out: Path, calibration: list[list[str]], *, operator_format: bool,
                   every_matmul: bool, method: str = "MinMax", reduce_range: bool = False,
                   signed: bool = False, gelu_percentile: float | None = None) -> None:
    """A static int8 bundle: QDQ (shipped) or QOperator, with or without the shipped exclusions;
    `method` names onnxruntime's calibration (MinMax, Percentile, Entropy), `reduce_range` keeps
    weights to 7 bits (onnxruntime's advice for u8s8 on AVX2 without VNNI), `signed` makes the
    activations s8 (s8s8) instead of u8; `gelu_percentile` clips the GELU outputs' range alone."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from models.onnx_export import QUANTIZED_OPS, Calibration, after_activation
    from models.runtime import Tagger

    shutil.copytree(fp32_bundle, out)
    fp32 = fp32_bundle / "model.onnx"
    reader = (Calibration if method == "MinMax" else PackedCalibration)(Tagger(fp32_bundle), calibration)
    quantize_static(str(fp32), str(out / "model.onnx"), reader,
                    quant_format=QuantFormat.QOperator if operator_format else QuantFormat.QDQ,
                    per_channel=True, reduce_range=reduce_range,
                    activation_type=QuantType.QInt8 if signed else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS,
                    nodes_to_exclude=[] if every_matmul else after_activation(fp32),
                    calibrate_method=CalibrationMethod[method],
                    extra_options={"MatMulConstBOnly": True, "CalibPercentile": 99.99,
                                   "ActivationSymmetric": signed, "TensorQuantOverrides":
                                   gelu_ranges(fp32_bundle, calibration, gelu_percentile)
                                   if gelu_percentile else {}})


def smoothed_variant(fp32_bundle: Path, out: Path, calibration: list[list[str]], alpha: float,
                     operator_format: bool) -> None:
    """Every dense layer static int8 over the SmoothQuant copy (`smoothed`)."""
    with tempfile.TemporaryDirectory() as tmp:
        smoothed(fp32_bundle, Path(tmp) / "smooth", calibration, alpha)
        static_variant(Path(tmp) / "smooth", out, calibration, operator_format=operator_format,
                       every_matmul=True)


def dynamic_variant(fp32_bundle: Path, out: Path) -> None:
    """The scheme before issue 16: each activation's scale set over the whole padded batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    shutil.copytree(fp32_bundle, out)
    quantize_dynamic(str(fp32_bundle / "model.onnx"), str(out / "model.onnx"), per_channel=True,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])


def main() -> None:
    parser = checkpoint_arguments()
    parser.add_argument("--only", default="", help="measure fp32 and the variants whose name has this")
    parser.add_argument("--out", default="int8-variants.md", help="results file (in bench/results)")
    parser.add_argument("--agreement-sentences", type=int, default=1000,
                        help="test sentences tagged alone and in batches of 32 for each variant")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    folder = data_dir(args.data_dir, "conll2003/test.txt") / "conll2003"
    test, dev = folder / "test.txt", folder / "dev.txt"
    from models.onnx_export import batch_agreement

    calibration = [s.tokens for s in read_conll(dev)[:300]]
    words = [s.tokens for s in read_conll(test)][: args.agreement_sentences]
    with Store(db_path(args.db)) as store, tempfile.TemporaryDirectory() as tmp:
        checkpoint = deploy.checkpoint_dir(store, args.checkpoint)
        fp32 = Path(tmp) / "fp32"
        deploy.export_onnx(store, str(checkpoint), fp32)
        variants: list[tuple[str, Callable[[Path], None] | None]] = [
            ("fp32", None),
            ("static QDQ, dense layers but the FFN output (shipped)",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=False)),
            ("static QDQ, every dense layer",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=True)),
            ("static QOperator, dense layers but the FFN output",
             lambda out: static_variant(fp32, out, calibration, operator_format=True, every_matmul=False)),
            ("static QOperator, every dense layer",
             lambda out: static_variant(fp32, out, calibration, operator_format=True, every_matmul=True)),
            ("static QDQ, every dense layer, percentile 99.99 calibration",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=True,
                                        method="Percentile")),
            ("static QDQ, every dense layer, entropy calibration",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=True,
                                        method="Entropy")),
            ("static QDQ, every dense layer, reduce_range",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=True,
                                        reduce_range=True)),
            ("static QDQ, every dense layer, s8s8",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=True,
                                        signed=True)),
            ("static QDQ, every dense layer, s8s8, percentile 99.99",
             lambda out: static_variant(fp32, out, calibration, operator_format=False, every_matmul=True,
                                        signed=True, method="Percentile")),
            *[(f"static QDQ, every dense layer, GELU output clipped at percentile {p}",
               lambda out, p=p: static_variant(fp32, out, calibration, operator_format=False,
                                               every_matmul=True, gelu_percentile=p))
              for p in (99.9, 99.99, 99.999)],
            ("static QOperator, every dense layer, GELU output clipped at percentile 99.99",
             lambda out: static_variant(fp32, out, calibration, operator_format=True, every_matmul=True,
                                        gelu_percentile=99.99)),
            ("dynamic int8 (before issue 16)", lambda out: dynamic_variant(fp32, out)),
            *[(f"static {form}, every dense layer, SmoothQuant alpha {alpha} on the FFN output",
               lambda out, alpha=alpha, form=form: smoothed_variant(fp32, out, calibration, alpha,
                                                                    form == "QOperator"))
              for alpha in (0.5, 0.8) for form in ("QDQ", "QOperator")],
        ]
        variants = [v for v in variants if v[1] is None or args.only in v[0]]
        wall, _, f1 = pipeline_eval(checkpoint, test)
        pipeline = (wall, f1)
        print(f"pipeline: {wall:.2f} s, F1 {pipeline[1]:.4f}")
        rows = []
        for name, make in variants:
            bundle = fp32 if make is None else Path(tmp) / f"v{len(rows)}"
            if make is not None:
                make(bundle)
            wall, peak, f1 = nerd_eval(bundle, test)
            rows.append((name, wall, peak, f1, batch_agreement(bundle, words)))
            print(rows[-1])
    base_wall, base_f1 = rows[0][1], rows[0][3]
    text = header("int8 schemes side by side on CoNLL-2003 test (3453 sentences), load included")
    text += (f"Checkpoint: `{checkpoint}`. CPU int8-relevant flags: {', '.join(int8_flags()) or 'none'}."
             f" Calibration: the first 300 CoNLL dev sentences. Agreement: the first {len(words)} test"
             " sentences tagged alone against in batches of 32.\n\n")
    text += ("| runner | wall s | ×pipeline | ×fp32 | peak MiB | micro F1 | Δ F1 vs fp32 (points) |"
             " batch-1 = batch-32 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    text += (f"| transformers pipeline (torch) | {pipeline[0]:.2f} | ×1.0 | ×{base_wall / pipeline[0]:.2f}"
             f" | - | {pipeline[1]:.4f} | {(pipeline[1] - base_f1) * 100:+.2f} | - |\n")
    for name, wall, peak, f1, agree in rows:
        text += (f"| {name} | {wall:.2f} | ×{pipeline[0] / wall:.1f} | ×{base_wall / wall:.2f} | {peak:.0f}"
                 f" | {f1:.4f} | {(f1 - base_f1) * 100:+.2f} | {agree:.2%} |\n")
    text += (f"\n×8 over the pipeline means {pipeline[0] / 8:.2f} s end to end here: int8 would have to"
             f" run ×{8 * base_wall / pipeline[0]:.2f} as fast as fp32 ({base_wall:.2f} s).\n")
    write(args.out, text)


if __name__ == "__main__":
    main()

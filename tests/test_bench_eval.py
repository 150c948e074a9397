"""bench/eval.py's table rows (ratios to spaCy and the pipeline, latency percentiles) and
bench/int8_variants.py's packed calibration rows (one length, no padding)."""

from __future__ import annotations

import math
from types import SimpleNamespace

from bench.eval import Row, percentile
from bench.int8_variants import PackedCalibration


def test_a_row_reads_as_speed_ratios_and_latency_percentiles():
    latencies = [i / 1000 for i in range(1, 101)]  # 1 to 100 ms
    row = Row("3 layers, ONNX int8", 2.0, 300.0, 0.75, latencies, 1.0)
    cells = row.cells(pipeline=20.0, spacy=5.0)
    assert cells == ["3 layers, ONNX int8", "2.00", "1726", "×2.50", "×10.0", "300", "0.7500",
                     "51.0", "100.0", "100.00%"]
    plain = Row("pipeline", 20.0, math.nan, 0.7).cells(pipeline=20.0, spacy=None)
    assert plain[3:6] == ["-", "×1.0", "-"] and plain[-3:] == ["-", "-", "-"]


def test_percentile_stays_inside_the_values():
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 3.0


def test_calibration_rows_are_packed_to_one_length_without_padding():
    pieces = iter(range(100, 10_000))

    def windows(words):  # [CLS] one piece a word [SEP]
        return [SimpleNamespace(input_ids=[1, *(next(pieces) for _ in words), 2])]

    tagger = SimpleNamespace(_windows=windows, cls=1, sep=2, pad=0, inputs={"input_ids", "attention_mask"})
    sentences = [["w"] * n for n in (3, 17, 40, 9, 25, 31, 12, 8, 60, 5)] * 4
    feeds = list(iter(PackedCalibration(tagger, sentences, length=16, batch_size=4).get_next, None))
    assert feeds and all(f["input_ids"].shape == (4, 16) for f in feeds)
    assert all(f["attention_mask"].all() for f in feeds)  # no padding anywhere
    ids = feeds[0]["input_ids"]
    assert (ids[:, 0] == 1).all() and (ids[:, -1] == 2).all()
    assert ids[0, 1:-1].tolist() == list(range(100, 114)) and ids[1, 1] == 114  # consecutive text

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from core.student.schedules import (
    PAPER_SCHEDULES,
    Schedule,
    epoch_counts,
    epoch_sample,
    loss_weights,
    parse_schedule,
    plot_png,
    plot_terminal,
)
from tui.cli import main

T = 20
D, O = 1966, 1000  # noqa: E741 (|D| and |O|, the paper's names, of its phase three)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def w0(spec: str, t: int, total: int = T) -> float:
    return parse_schedule(spec).w0(t, total)


def paper_sigmoid(k: float, t: int, total: int) -> float:
    """The paper's formula as printed, independent of the module's overflow-safe form."""
    return 1 - 1 / (1 + math.exp(-k * (t / (total - 1) - 0.5)))


def test_pure_and_all():
    assert [w0("pure-distilled", t) for t in range(T)] == [1.0] * T
    assert [w0("pure-original", t) for t in range(T)] == [0.0] * T
    assert [parse_schedule("pure-original").w1(t, T) for t in range(T)] == [1.0] * T
    everything = parse_schedule("all")
    assert [(everything.w0(t, T), everything.w1(t, T)) for t in range(T)] == [(1.0, 1.0)] * T


def test_simple_mix_switches_at_half():
    assert [w0("simple-mix", t) for t in range(T)] == [1.0] * 10 + [0.0] * 10
    assert [w0("simple-mix", t, 5) for t in range(5)] == [1, 1, 1, 0, 0]  # t < 2.5


@pytest.mark.parametrize("k", [2, 4, 8, 16, 32])
def test_sigmoid_matches_the_paper(k):
    for t in (0, 7, T - 1):
        assert w0(f"sigmoid:{k}", t) == pytest.approx(paper_sigmoid(k, t, T), abs=1e-12)
    assert w0(f"sigmoid:{k}", 10, 21) == 0.5  # x = 10/20 = 0.5 exactly


def test_sigmoid_8_pinned():
    assert w0("sigmoid:8", 0) == pytest.approx(1 - 1 / (1 + math.exp(4)))  # ~0.982, not 1
    assert w0("sigmoid:8", T - 1) == pytest.approx(1 - 1 / (1 + math.exp(-4)))  # ~0.018, not 0
    assert w0("sigmoid:8", 0) == pytest.approx(0.98201379)


def test_steep_sigmoid_does_not_overflow():
    assert w0("sigmoid:5000", 0) == 1.0 and w0("sigmoid:5000", T - 1) == 0.0
    assert w0("sigmoid:1e6", 10, 21) == 0.5


def test_cosine():
    assert w0("cosine", 0) == 1.0 and w0("cosine", T - 1) == 0.0
    assert w0("cosine", 10, 21) == pytest.approx(0.5)  # t = (T - 1) / 2
    assert w0("cosine", 5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 19)))


def test_power():
    assert [w0("power:1", t, 5) for t in range(5)] == pytest.approx([1, 0.75, 0.5, 0.25, 0])
    assert w0("power:0.2", 10, 21) == pytest.approx(1 - 0.5**0.2)
    assert w0("power:10", 10, 21) == pytest.approx(1 - 0.5**10)
    assert w0("power:2", 5) == pytest.approx(1 - (5 / 19) ** 2)


@pytest.mark.parametrize("spec", PAPER_SCHEDULES)
def test_one_epoch_uses_x_0(spec):
    schedule = parse_schedule(spec)
    expected = paper_sigmoid(schedule.param, 0, 2) if schedule.kind == "sigmoid" else float(
        spec != "pure-original")
    assert schedule.w0(0, 1) == pytest.approx(expected)


@pytest.mark.parametrize(("t", "total"), [(-1, T), (T, T), (0, 0)])
def test_epoch_outside_the_run_is_an_error(t, total):
    with pytest.raises(ValueError, match="epoch"):
        parse_schedule("power:2").w0(t, total)


def test_paper_schedules_are_the_17_patterns():
    assert PAPER_SCHEDULES == [
        "pure-distilled", "pure-original", "simple-mix",
        "sigmoid:2", "sigmoid:4", "sigmoid:8", "sigmoid:16", "sigmoid:32", "cosine",
        "power:0.1", "power:0.2", "power:0.5", "power:1", "power:2", "power:5", "power:10", "all",
    ]
    assert [parse_schedule(spec).name for spec in PAPER_SCHEDULES] == PAPER_SCHEDULES


def test_parse_is_case_insensitive_and_canonical():
    assert parse_schedule(" SIGMOID:8.0 ") == parse_schedule("sigmoid:8") == Schedule("sigmoid", 8.0)
    assert parse_schedule("Simple-Mix").name == "simple-mix"
    assert parse_schedule("power:0.20").name == "power:0.2"


@pytest.mark.parametrize("spec", ["sigmoid", "sigmoid:", "power:", "power:-1", "power:0", "sigmoid:nan",
                                  "power:inf", "cosine:2", "all:", "linear", "sigmoid:x", "sigmoid:8:2", ""])
def test_bad_specs_name_the_spec_and_the_forms(spec):
    with pytest.raises(ValueError, match="use one of: pure-distilled, pure-original, simple-mix, "
                                         "sigmoid:K, cosine, power:N, all") as caught:
        parse_schedule(spec)
    assert repr(spec) in str(caught.value)


def counts(spec: str) -> list[tuple[int, int]]:
    return epoch_counts(parse_schedule(spec), T, D, O)


def test_epoch_counts_simple_patterns():
    assert counts("pure-distilled") == [(D, 0)] * T
    assert counts("pure-original") == [(0, O)] * T
    assert counts("all") == [(D, O)] * T
    assert counts("simple-mix") == [(D, 0)] * 10 + [(0, O)] * 10


@pytest.mark.parametrize(("spec", "pinned"), [
    # epochs 0, 5, 9, 10, 19, computed by hand from the paper's formulas with floor(x + 0.5)
    ("sigmoid:8", [(1931, 18), (1709, 131), (1086, 448), (880, 552), (35, 982)]),
    ("sigmoid:32", [(1966, 0), (1965, 1), (1374, 301), (592, 699), (0, 1000)]),
    ("cosine", [(1966, 0), (1649, 161), (1064, 459), (902, 541), (0, 1000)]),
    ("power:0.2", [(1966, 0), (461, 766), (273, 861), (237, 880), (0, 1000)]),
    ("power:2", [(1966, 0), (1830, 69), (1525, 224), (1421, 277), (0, 1000)]),
    ("power:10", [(1966, 0), (1966, 0), (1965, 1), (1963, 2), (0, 1000)]),
])
def test_epoch_counts_pinned(spec, pinned):
    rows = counts(spec)
    assert len(rows) == T and [rows[t] for t in (0, 5, 9, 10, 19)] == pinned


@pytest.mark.parametrize("spec", PAPER_SCHEDULES)
def test_epoch_counts_every_pattern_follows_w0(spec):
    schedule = parse_schedule(spec)
    for t, (d, o) in enumerate(counts(spec)):
        assert abs(d - schedule.w0(t, T) * D) <= 0.5 and abs(o - schedule.w1(t, T) * O) <= 0.5


def test_rounding_is_half_up():
    # power:1 at T = 3, t = 1: w0 = w1 = 0.5, so 2.5 sentences each side; round() would give 2
    assert epoch_counts(parse_schedule("power:1"), 3, 5, 5)[1] == (3, 3)
    assert epoch_counts(parse_schedule("power:1"), 3, 7, 9)[1] == (4, 5)  # 3.5 -> 4, 4.5 -> 5


def test_epoch_counts_needs_an_epoch():
    with pytest.raises(ValueError, match="at least 1"):
        epoch_counts(parse_schedule("cosine"), 0, D, O)


DISTILLED = [f"d{i}" for i in range(120)]
ORIGINAL = [f"o{i}" for i in range(60)]


@pytest.mark.parametrize(("spec", "epoch"), [("cosine", 5), ("sigmoid:8", 0), ("all", 3), ("simple-mix", 12)])
def test_epoch_sample_is_sized_and_unique(spec, epoch):
    schedule = parse_schedule(spec)
    drawn = epoch_sample(schedule, epoch, T, DISTILLED, ORIGINAL, seed=1)
    n_d, n_o = epoch_counts(schedule, T, len(DISTILLED), len(ORIGINAL))[epoch]
    assert [k for k, _ in drawn].count("distilled") == n_d and [k for k, _ in drawn].count("original") == n_o
    assert len(drawn) == len(set(drawn))
    assert all(x in (DISTILLED if k == "distilled" else ORIGINAL) for k, x in drawn)
    assert {k for k, _ in drawn} <= {"distilled", "original"}


def test_epoch_sample_is_seeded():
    schedule = parse_schedule("cosine")
    drawn = epoch_sample(schedule, 5, T, DISTILLED, ORIGINAL, seed=1)
    assert drawn == epoch_sample(schedule, 5, T, list(DISTILLED), list(ORIGINAL), seed=1)
    assert drawn != epoch_sample(schedule, 6, T, DISTILLED, ORIGINAL, seed=1)
    assert drawn != epoch_sample(schedule, 5, T, DISTILLED, ORIGINAL, seed=2)
    everything = parse_schedule("all")  # same counts every epoch: only the seed can tell epochs apart
    first, second = (epoch_sample(everything, e, T, DISTILLED, ORIGINAL, seed=1) for e in (0, 1))
    assert sorted(first) == sorted(second) and first != second


def test_epoch_sample_shuffles_the_two_sides_together():
    kinds = [k for k, _ in epoch_sample(parse_schedule("all"), 0, T, DISTILLED, ORIGINAL, seed=3)]
    assert kinds != sorted(kinds) and kinds != sorted(kinds, reverse=True)


def test_epoch_sample_draws_a_subset_not_a_prefix():
    drawn = epoch_sample(parse_schedule("cosine"), 10, T, DISTILLED, ORIGINAL, seed=0)
    picked = [x for k, x in drawn if k == "distilled"]
    assert sorted(picked, key=DISTILLED.index) != DISTILLED[:len(picked)]


def test_epoch_sample_rejects_an_epoch_outside_the_run():
    with pytest.raises(ValueError, match="epoch -1"):
        epoch_sample(parse_schedule("cosine"), -1, T, DISTILLED, ORIGINAL, seed=0)


def test_loss_weights():
    assert loss_weights(parse_schedule("simple-mix"), 0, T) == (1.0, 0.0)
    assert loss_weights(parse_schedule("simple-mix"), 10, T) == (0.0, 1.0)
    assert loss_weights(parse_schedule("all"), 3, T) == (1.0, 1.0)
    assert loss_weights(parse_schedule("power:1"), 1, 3) == (0.5, 0.5)


@settings(max_examples=150, deadline=None)
@given(spec=st.sampled_from(PAPER_SCHEDULES), total=st.integers(1, 60), data=st.data())
def test_weights_stay_in_range_and_never_rise(spec, total, data):
    schedule = parse_schedule(spec)
    weights = [schedule.w0(t, total) for t in range(total)]
    assert all(0 <= w <= 1 for w in weights)
    assert all(a >= b for a, b in zip(weights, weights[1:], strict=False))
    t = data.draw(st.integers(0, total - 1))
    assert schedule.w1(t, total) == (1.0 if spec == "all" else 1.0 - schedule.w0(t, total))


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["sigmoid", "power"]),
       param=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_name_parses_back_to_the_same_curve(kind, param):
    schedule = parse_schedule(f"{kind}:{param!r}")
    again = parse_schedule(schedule.name)
    assert again.kind == kind and again.param == pytest.approx(param, rel=1e-5)
    assert 0 <= schedule.w0(0, 5) <= 1 and 0 <= schedule.w0(4, 5) <= 1


def test_plot_png(tmp_path):
    path = plot_png(["simple-mix", "sigmoid:8"], T, tmp_path / "new" / "f.png")
    assert path == tmp_path / "new" / "f.png"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000


def test_plot_png_parses_before_writing(tmp_path):
    with pytest.raises(ValueError, match="'wobble'"):
        plot_png(["cosine", "wobble"], T, tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


def test_plot_terminal_legend_and_size():
    text = plot_terminal(["simple-mix", "cosine", "power:0.2"], T, width=70, height=15)
    assert "o simple-mix" in text and "x cosine" in text and "+ power:0.2" in text
    assert "epoch" in text and "1.00" in text and "\x1b" not in text
    assert max(len(line) for line in text.splitlines()) <= 70
    assert len(text.splitlines()) >= 15


def test_plot_terminal_wraps_a_long_legend():
    text = plot_terminal(PAPER_SCHEDULES, T, width=60)
    for spec in PAPER_SCHEDULES:
        assert spec in text
    assert max(len(line) for line in text.splitlines()) <= 60


def test_cli_table_plot_and_png(tmp_path):
    png = tmp_path / "s.png"
    result = CliRunner().invoke(main, ["schedules", "--epochs", "10", "simple-mix", "cosine", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "w0 by epoch (T = 10)" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in row.split("│")[1:4]] for row in rows]
    assert cells[0] == ["1", "1.00", "1.00"] and cells[5] == ["6", "0.00", "0.41"]
    assert cells[-1] == ["10", "0.00", "0.00"] and len(cells) == 10
    assert "o simple-mix" in result.output and f"wrote {png}" in result.output.replace("\n", "")
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_cli_default_selection():
    result = CliRunner().invoke(main, ["schedules", "--epochs", "4"])
    assert result.exit_code == 0, result.output
    for spec in ("simple-mix", "sigmoid:8", "sigmoid:32", "cosine", "power:0.2", "power:2", "all"):
        assert f" {spec}" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["wobble"], "unknown schedule 'wobble'"),
    (["cosine", "sigmoid"], "unknown schedule 'sigmoid'"),
    (["--epochs", "0", "cosine"], "0 is not in the range"),
])
def test_cli_bad_input_exits_2(args, message):
    result = CliRunner().invoke(main, ["schedules", *args])
    assert result.exit_code == 2 and message in result.output.replace("\n", "")
    assert "Traceback" not in result.output and "w0 by epoch" not in result.output

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from core.schedules import (
    PAPER_SCHEDULES,
    epoch_counts,
    epoch_sample,
    loss_weights,
    parse_schedule,
    plot_png,
    plot_terminal,
)
from tui.cli import main

T = 20


def w0(spec: str, t: int, total: int = T) -> float:
    return parse_schedule(spec).w0(t, total)


def test_pure_and_all():
    assert all(w0("pure-distilled", t) == 1 and w0("pure-original", t) == 0 for t in range(T))
    everything = parse_schedule("all")
    assert all(everything.w0(t, T) == everything.w1(t, T) == 1 for t in range(T))


def test_simple_mix_switches_at_half():
    assert [w0("simple-mix", t) for t in range(T)] == [1.0] * 10 + [0.0] * 10
    assert [w0("simple-mix", t, 5) for t in range(5)] == [1, 1, 1, 0, 0]


@pytest.mark.parametrize("k", [2, 4, 8, 16, 32])
def test_sigmoid_matches_the_formula(k):
    for t in (0, 7, T - 1):
        x = t / (T - 1)
        assert w0(f"sigmoid:{k}", t) == pytest.approx(1 - 1 / (1 + math.exp(-k * (x - 0.5))))
    assert parse_schedule(f"sigmoid:{k}").w0(2, 5) == pytest.approx(0.5)  # x = 0.5


def test_cosine_and_power():
    assert w0("cosine", 0) == pytest.approx(1) and w0("cosine", T - 1) == pytest.approx(0)
    assert w0("cosine", 2, 5) == pytest.approx(0.5)
    assert [w0("power:1", t, 5) for t in range(5)] == pytest.approx([1, 0.75, 0.5, 0.25, 0])
    assert w0("power:0.2", 2, 5) == pytest.approx(1 - 0.5**0.2)
    assert w0("power:10", 2, 5) == pytest.approx(1 - 0.5**10)


def test_one_epoch_does_not_divide_by_zero():
    assert w0("cosine", 0, 1) == 1 and w0("power:2", 0, 1) == 1


def test_epoch_counts_for_every_paper_pattern():
    counts = {spec: epoch_counts(parse_schedule(spec), T, 1966, 1000) for spec in PAPER_SCHEDULES}
    assert len(PAPER_SCHEDULES) == 17  # 3 + 5 sigmoid + cosine + 7 power + all
    assert counts["simple-mix"][0] == (1966, 0) and counts["simple-mix"][10] == (0, 1000)
    assert set(counts["all"]) == {(1966, 1000)}
    assert set(counts["pure-original"]) == {(0, 1000)}
    assert counts["power:1"][0] == (1966, 0) and counts["power:1"][-1] == (0, 1000)
    x = 5 / 19
    assert counts["power:0.2"][5] == (math.floor((1 - x**0.2) * 1966 + 0.5),
                                      math.floor(x**0.2 * 1000 + 0.5))
    assert counts["sigmoid:32"][0] == (1966, 0)
    for spec, rows in counts.items():
        assert all(0 <= d <= 1966 and 0 <= o <= 1000 for d, o in rows), spec


def test_rounding_is_half_up():
    assert epoch_counts(parse_schedule("power:1"), 3, 5, 5)[1] == (3, 3)  # 2.5 -> 3; round() gives 2


def test_epoch_sample_is_seeded_and_sized():
    schedule = parse_schedule("cosine")
    distilled, original = list(range(100)), list(range(1000, 1050))
    drawn = epoch_sample(schedule, 5, T, distilled, original, seed=1)
    n_d, n_o = epoch_counts(schedule, T, 100, 50)[5]
    assert sum(k == "distilled" for k, _ in drawn) == n_d and sum(k == "original" for k, _ in drawn) == n_o
    assert len({x for _, x in drawn}) == len(drawn)
    assert all((x < 1000) == (k == "distilled") for k, x in drawn)
    assert drawn == epoch_sample(schedule, 5, T, distilled, original, seed=1)
    assert drawn != epoch_sample(schedule, 6, T, distilled, original, seed=1)


def test_loss_weights():
    assert loss_weights(parse_schedule("simple-mix"), 0, T) == (1.0, 0.0)
    assert loss_weights(parse_schedule("all"), 3, T) == (1.0, 1.0)


@pytest.mark.parametrize("spec", ["sigmoid", "power:", "power:-1", "cosine:2", "linear", "sigmoid:x"])
def test_bad_specs_list_the_forms(spec):
    with pytest.raises(ValueError, match="use one of: pure-distilled"):
        parse_schedule(spec)


def test_plots(tmp_path):
    path = plot_png(["simple-mix", "sigmoid:8"], T, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = plot_terminal(["simple-mix", "cosine"], T)
    assert "simple-mix" in text and "cosine" in text


def test_cli(tmp_path):
    runner = CliRunner()
    png = tmp_path / "s.png"
    result = runner.invoke(main, ["schedules", "--epochs", "10", "simple-mix", "cosine", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "w0 by epoch (T = 10)" in result.output and png.stat().st_size > 1000
    bad = runner.invoke(main, ["schedules", "wobble"])
    assert bad.exit_code == 2 and "unknown schedule 'wobble'" in bad.output

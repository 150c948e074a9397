"""The paper's blend schedules: w0(t, T), the share of distilled data at epoch t of T.

Phase three of Huang et al. (2024): each epoch draws w0·|D| distilled (LLM-labelled) and
w1·|O| original (human-labelled) sentences, t = 0 .. T-1 and x = t / (T - 1) (0 when T = 1).
w1 = 1 - w0, except `all`, which uses both datasets whole every epoch.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from common.errors import NerdError
from common.plots import new_figure, save_png

FORMS = "pure-distilled, pure-original, simple-mix, sigmoid:K, cosine, power:N, all"
PAPER_SCHEDULES = (
    ["pure-distilled", "pure-original", "simple-mix"]
    + [f"sigmoid:{k}" for k in (2, 4, 8, 16, 32)]
    + ["cosine"]
    + [f"power:{n}" for n in (0.1, 0.2, 0.5, 1, 2, 5, 10)]
    + ["all"]
)
_PLAIN = ("pure-distilled", "pure-original", "simple-mix", "cosine", "all")
_MARKERS = "ox+*#@%&=~$^:;?ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # one a line: the terminal plot has no colours


class ScheduleError(NerdError, ValueError):
    """A schedule spec or epoch count nerd can't use; the message lists the valid forms."""


def _check(t: int, total: int) -> None:
    """Outside 0 <= t < T the formulas leave [0, 1] (power) or index from the end (lists)."""
    if total < 1:
        raise ScheduleError(f"{total} epochs: a schedule needs at least 1")
    if not 0 <= t < total:
        raise ScheduleError(f"epoch {t} is outside 0..{total - 1} (T = {total} epochs)")


@dataclass(frozen=True)
class Schedule:
    """A parsed spec; kind and param are kept apart so `sigmoid:8` equals `sigmoid:8.0`."""

    kind: str
    param: float | None = None

    @property
    def name(self) -> str:
        """The canonical spec (`sigmoid:8`, `power:0.2`): run names and table headers use it."""
        return self.kind if self.param is None else f"{self.kind}:{self.param:g}"

    def w0(self, t: int, total: int) -> float:
        """Weight of the distilled data at epoch t (0-based) of `total`, in [0, 1]."""
        _check(t, total)
        x = t / (total - 1) if total > 1 else 0.0
        match self.kind:
            case "pure-distilled" | "all":
                return 1.0
            case "pure-original":
                return 0.0
            case "simple-mix":
                return 1.0 if t < total / 2 else 0.0
            case "sigmoid":
                # 1 - 1/(1 + e^(-z)) = 1/(1 + e^z), z = k(x - 0.5); written so e^z never overflows.
                z = self.param * (x - 0.5)
                if z <= 0:
                    return 1.0 / (1.0 + math.exp(z))
                e = math.exp(-z)
                return e / (1.0 + e)
            case "cosine":
                return 0.5 * (1.0 + math.cos(math.pi * x))
            case "power":
                return 1.0 - x**self.param
        raise AssertionError(self.kind)

    def w1(self, t: int, total: int) -> float:
        """Weight of the original data: 1 - w0, except `all` (both datasets whole)."""
        return 1.0 if self.kind == "all" else 1.0 - self.w0(t, total)


def parse_schedule(spec: str) -> Schedule:
    """`sigmoid:8`, `power:0.2`, `simple-mix`, ... (any case); the parameter is required, since
    the paper names no default, and anything else fails naming the valid forms."""
    kind, colon, value = spec.strip().lower().partition(":")
    if kind in _PLAIN and not colon:
        return Schedule(kind)
    if kind in ("sigmoid", "power") and value:
        try:
            param = float(value)
        except ValueError:
            param = float("nan")
        if math.isfinite(param) and param > 0:
            return Schedule(kind, param)
    raise ScheduleError(f"unknown schedule {spec!r}; use one of: {FORMS} (K and N positive numbers)")


def _round(x: float) -> int:
    """floor(x + 0.5): half rounds up, unlike Python's round (half to even), so 0.5·|D| gives the
    same side of the tie whatever |D| is."""
    return math.floor(x + 0.5)


def epoch_counts(schedule: Schedule, total_epochs: int, n_distilled: int, n_original: int
                 ) -> list[tuple[int, int]]:
    """(distilled, original) sentences drawn at each epoch: (w0·|D|, w1·|O|), rounded half up
    with floor(x + 0.5) rather than Python's banker's round."""
    _check(0, total_epochs)
    return [(_round(schedule.w0(t, total_epochs) * n_distilled),
             _round(schedule.w1(t, total_epochs) * n_original)) for t in range(total_epochs)]


def epoch_sample(schedule: Schedule, epoch: int, total_epochs: int, distilled_ids: list,
                 original_ids: list, seed: int) -> list[tuple[str, object]]:
    """The epoch's draw, without replacement from each side, shuffled together.

    Seeded by (seed, epoch) so a resumed run redraws the same epoch, and epochs differ."""
    _check(epoch, total_epochs)
    n_d, n_o = epoch_counts(schedule, total_epochs, len(distilled_ids), len(original_ids))[epoch]
    rng = random.Random(f"{seed}:{epoch}")  # str seeds hash with SHA-512: stable across processes
    drawn: list[tuple[str, object]] = [("distilled", x) for x in rng.sample(distilled_ids, n_d)]
    drawn += [("original", x) for x in rng.sample(original_ids, n_o)]
    rng.shuffle(drawn)
    return drawn


def loss_weights(schedule: Schedule, epoch: int, total_epochs: int) -> tuple[float, float]:
    """(w0, w1) for `--blend loss`: every sentence is seen, its loss weighted instead of sampled."""
    return schedule.w0(epoch, total_epochs), schedule.w1(epoch, total_epochs)


def _curves(specs: list[str], total_epochs: int) -> list[tuple[str, list[int], list[float]]]:
    """(name, epochs 1..T, w0) per spec; every spec parsed before anything is drawn."""
    _check(0, total_epochs)
    schedules = [parse_schedule(spec) for spec in specs]
    epochs = list(range(1, total_epochs + 1))
    return [(s.name, epochs, [s.w0(t, total_epochs) for t in range(total_epochs)]) for s in schedules]


def _epoch_ticks(total_epochs: int) -> list[int]:
    """About five whole-epoch ticks, first and last included."""
    step = max(1, math.ceil((total_epochs - 1) / 5))
    ticks = list(range(1, total_epochs + 1, step))
    return ticks if ticks[-1] == total_epochs else [*ticks, total_epochs]


def plot_png(specs: list[str], total_epochs: int, path: str | Path) -> Path:
    """Figure 3 of the paper: w0 over the epochs, a line a schedule, written as a PNG."""
    import matplotlib

    curves = _curves(specs, total_epochs)
    figure = new_figure((8, 5))
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["tab20"].colors  # 20 distinct: the paper's 17 patterns fit
    for i, (name, epochs, weights) in enumerate(curves):
        axes.plot(epochs, weights, marker=".", label=name, color=colours[i % len(colours)],
                  linestyle=("-", "--")[i // len(colours) % 2])
    axes.set_xlabel("epoch")
    axes.set_ylabel("w0 (share of distilled data)")
    axes.set_title(f"Blend schedules (T = {total_epochs})")
    axes.set_ylim(-0.03, 1.03)
    axes.set_xticks(_epoch_ticks(total_epochs))
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # off the curves
    axes.grid(alpha=0.3)
    return save_png(figure, path)


def plot_terminal(specs: list[str], total_epochs: int, width: int = 80, height: int = 20) -> str:
    """The same figure as text for the terminal. No colours (they vanish when piped), so each line
    gets its own marker, and the legend goes below: plotext's sits over the top left, where every
    schedule starts at w0 = 1."""
    import plotext

    curves = _curves(specs, total_epochs)
    markers = [_MARKERS[i % len(_MARKERS)] for i in range(len(curves))]
    plotext.clf()
    plotext.theme("clear")
    plotext.plotsize(width, height)
    for (_, epochs, weights), marker in zip(curves, markers, strict=True):
        plotext.plot(epochs, weights, marker=marker)
    plotext.ylim(0, 1)
    plotext.yticks([0, 0.25, 0.5, 0.75, 1])
    plotext.xticks(_epoch_ticks(total_epochs))
    plotext.xlabel("epoch")
    plotext.title("w0 (share of distilled data) by epoch")
    entries = [f"{marker} {name}" for (name, _, _), marker in zip(curves, markers, strict=True)]
    lines = [""]
    for entry in entries:
        if lines[-1] and len(lines[-1]) + 3 + len(entry) > width:
            lines.append("")
        lines[-1] += ("   " if lines[-1] else "") + entry
    plot = re.sub(r"\x1b\[[0-9;]*m", "", plotext.build())  # the "clear" theme still ends lines in resets
    return plot.rstrip("\n") + "\n" + "\n".join(lines)

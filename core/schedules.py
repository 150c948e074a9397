"""The paper's blend schedules: w0(t, T), the share of distilled data at epoch t of T.

Phase three of the paper; x = t / (T - 1). w1 = 1 - w0, except `all`, where both are 1.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

FORMS = "pure-distilled, pure-original, simple-mix, sigmoid:K, cosine, power:N, all"
PAPER_SCHEDULES = (
    ["pure-distilled", "pure-original", "simple-mix"]
    + [f"sigmoid:{k}" for k in (2, 4, 8, 16, 32)]
    + ["cosine"]
    + [f"power:{n}" for n in (0.1, 0.2, 0.5, 1, 2, 5, 10)]
    + ["all"]
)


@dataclass(frozen=True)
class Schedule:
    kind: str
    param: float | None = None

    @property
    def name(self) -> str:
        return self.kind if self.param is None else f"{self.kind}:{self.param:g}"

    def w0(self, t: int, total: int) -> float:
        x = t / (total - 1) if total > 1 else 0.0
        match self.kind:
            case "pure-distilled" | "all":
                return 1.0
            case "pure-original":
                return 0.0
            case "simple-mix":
                return 1.0 if t < total / 2 else 0.0
            case "sigmoid":
                return 1.0 - 1.0 / (1.0 + math.exp(-self.param * (x - 0.5)))
            case "cosine":
                return 0.5 * (1.0 + math.cos(math.pi * x))
            case "power":
                return 1.0 - x**self.param
        raise AssertionError(self.kind)

    def w1(self, t: int, total: int) -> float:
        return 1.0 if self.kind == "all" else 1.0 - self.w0(t, total)


def parse_schedule(spec: str) -> Schedule:
    """`sigmoid:8`, `power:0.2`, `simple-mix`, ...; anything else names the valid forms."""
    kind, _, value = spec.strip().lower().partition(":")
    if kind in ("pure-distilled", "pure-original", "simple-mix", "cosine", "all") and not value:
        return Schedule(kind)
    if kind in ("sigmoid", "power") and value:
        try:
            param = float(value)
        except ValueError:
            param = float("nan")
        if math.isfinite(param) and param > 0:
            return Schedule(kind, param)
    raise ValueError(f"unknown schedule {spec!r}; use one of: {FORMS} (K and N positive numbers)")


def _round(x: float) -> int:
    """Half up, not Python's half-to-even: 0.5·|D| sentences rounds the same at every size."""
    return math.floor(x + 0.5)


def epoch_counts(schedule: Schedule, total: int, n_distilled: int, n_original: int
                 ) -> list[tuple[int, int]]:
    """(distilled, original) sentences drawn at each epoch."""
    return [(_round(schedule.w0(t, total) * n_distilled), _round(schedule.w1(t, total) * n_original))
            for t in range(total)]


def epoch_sample(schedule: Schedule, epoch: int, total: int, distilled: list, original: list,
                 seed: int) -> list[tuple[str, object]]:
    """The epoch's draw, without replacement from each side, shuffled together; seeded."""
    n_d, n_o = epoch_counts(schedule, total, len(distilled), len(original))[epoch]
    rng = random.Random(f"{seed}:{epoch}")
    drawn = [("distilled", x) for x in rng.sample(distilled, n_d)]
    drawn += [("original", x) for x in rng.sample(original, n_o)]
    rng.shuffle(drawn)
    return drawn


def loss_weights(schedule: Schedule, epoch: int, total: int) -> tuple[float, float]:
    """(w0, w1) for `--blend loss`: every sentence seen, its loss weighted instead."""
    return schedule.w0(epoch, total), schedule.w1(epoch, total)


def plot_png(specs: list[str], total: int, path: str | Path) -> Path:
    """Figure 3 of the paper: w0 over the epochs, a line a schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for spec in specs:
        schedule = parse_schedule(spec)
        axes.plot(range(1, total + 1), [schedule.w0(t, total) for t in range(total)],
                  marker=".", label=schedule.name)
    axes.set_xlabel("epoch")
    axes.set_ylabel("w0 (share of distilled data)")
    axes.set_title("Blend schedules")
    axes.legend(fontsize="small", ncol=2)
    axes.grid(alpha=0.3)
    path = Path(path)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_terminal(specs: list[str], total: int, width: int = 80, height: int = 20) -> str:
    import plotext

    plotext.clf()
    plotext.plotsize(width, height)
    for spec in specs:
        schedule = parse_schedule(spec)
        plotext.plot(list(range(1, total + 1)), [schedule.w0(t, total) for t in range(total)],
                     label=schedule.name)
    plotext.title("w0 (share of distilled data) by epoch")
    plotext.theme("clear")
    return plotext.build()

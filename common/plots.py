"""Matplotlib figures drawn on their own Agg canvas, not pyplot, so the caller's backend is
left alone; one way to make and save them."""

from __future__ import annotations

from pathlib import Path


def new_figure(size: tuple[float, float]):
    """A Figure with its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: str | Path) -> Path:
    """Write the figure as a PNG (120 dpi, tight), making the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path

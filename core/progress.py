"""How long work reports progress: a callback the caller passes in (the CLI draws a bar with
it, `tui.render.bar`; a test or the TUI does what it likes), or, for a job that is a generator
of events, `Said` and `Working` events. Core never draws."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# What long jobs accept: advance(done, total=None, info="").
Advance = Callable[..., None]


@dataclass(frozen=True)
class Said:
    """A line for the person watching a job (the demo, the loop)."""

    text: str


@dataclass(frozen=True)
class Working:
    """Progress of a job's step under way (a new `step` starts a new bar)."""

    step: str
    done: int
    total: int | None
    info: str = ""

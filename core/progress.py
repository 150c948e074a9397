"""How long work reports progress: a callback the caller passes in (the CLI draws a bar with
it, `tui.render.bar`; a test or the TUI does what it likes). Core never draws."""

from __future__ import annotations

from collections.abc import Callable

# What long jobs accept: advance(done, total=None, info="").
Advance = Callable[..., None]

"""What every screen of the app shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from tui.app import NerdApp


class NerdScreen(Screen[None]):
    """A screen of `NerdApp`: `self.nerd` is the app, typed (the store, the run in view)."""

    @property
    def nerd(self) -> NerdApp:
        return self.app  # type: ignore[return-value]

"""The help screen: every key of every screen, read from the screens' own bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.labels import CONLL, LabelSchema

KEY_NAMES = {"question_mark": "?", "left": "←", "right": "→", "up": "↑", "down": "↓",
             "shift+left": "shift+←", "shift+right": "shift+→", "left_square_bracket": "[",
             "right_square_bracket": "]", "escape": "esc", "shift+n": ""}


def key_rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do), one row per action: `d, delete` share a row."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in Binding.make_bindings(bindings):
        keys, _ = rows.setdefault(binding.action, ([], binding.tooltip or binding.description))
        name = KEY_NAMES.get(binding.key, binding.key)
        if name and name not in keys:
            keys.append(name)
    return [(", ".join(keys), text) for keys, text in rows.values()]


def key_table(title: str, bindings: list[BindingType]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                  box=None, padding=(0, 1, 0, 0))
    table.add_column("keys", style="bold cyan", no_wrap=True, min_width=9)
    table.add_column("does")
    for keys, text in key_rows(bindings):
        table.add_row(keys, text)
    return table


def sections(schema: LabelSchema) -> tuple[list[tuple[str, list[BindingType]]],
                                           list[tuple[str, list[BindingType]]]]:
    """Two columns: the review screen's keys (1-9 the project's types), and everything else."""
    from tui.app import NerdApp
    from tui.screens.reports import ReportsScreen
    from tui.screens.review import ReviewScreen
    from tui.screens.runs import RunsScreen

    return ([("Review (F2)", ReviewScreen.bindings_for(schema))],
            [("Everywhere", NerdApp.BINDINGS), ("Runs (F3)", RunsScreen.BINDINGS),
             ("Reports (F4)", ReportsScreen.BINDINGS), ("Help", HelpScreen.BINDINGS)])


class HelpScreen(ModalScreen[None]):
    """Scroll with ↑/↓; esc, ? or F1 closes it. `schema`: the project's types, for the label keys."""

    BINDINGS = [Binding("escape,question_mark,f1", "dismiss", "Close help", key_display="esc")]

    def __init__(self, schema: LabelSchema = CONLL) -> None:
        super().__init__()
        self.schema = schema

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(id="help")
        scroll.border_title = "nerd keys · esc closes"
        with scroll, Horizontal(id="help-columns"):
            for column in sections(self.schema):
                with Vertical(classes="help-column"):
                    for title, bindings in column:
                        yield Static(key_table(title, bindings), classes="help-section")

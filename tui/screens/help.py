"""The help screen: every key of every screen, read from the screens' own bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.data.schema import CONLL, LabelSchema
from tui.screens.reports import ReportsScreen
from tui.screens.review import ReviewScreen
from tui.screens.runs import RunsScreen

KEY_NAMES = {"question_mark": "?", "left": "←", "right": "→", "up": "↑", "down": "↓",
             "shift+left": "⇧←", "shift+right": "⇧→", "shift+tab": "⇧tab", "left_square_bracket": "[",
             "right_square_bracket": "]", "escape": "esc", "shift+n": "", "backspace": "⌫",
             "delete": "del", "ctrl+y": "^y", "ctrl+r": "^r", "space": "spc", "pageup": "pg↑",
             "pagedown": "pg↓"}
# Actions bound twice with an argument (left/right, tab/shift+tab, ...) share one row, this text.
PAIRS = {"move": "Token", "entity": "Entity", "name": "Capitalised", "edge": "First, last",
         "extend": "Select", "sentence": "Next, previous", "panel_page": "Scroll panel",
         "other_run": "Other run", "switch_mode": "Screens"}
# The review's first column (moving, labelling); deciding and going on make its second.
MOVE_AND_LABEL = {"move", "entity", "name", "edge", "extend", "clear_selection", "label_key", "delete",
                  "second_type", "undo", "redo"}


def key_rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do), one row per action: `u, backspace` share a row, and so do the two
    directions of a move (`←, →`)."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in Binding.make_bindings(bindings):
        name = binding.action.split("(")[0]
        group = name if name in PAIRS else binding.action
        keys, _ = rows.setdefault(group, ([], PAIRS.get(group) or binding.tooltip or binding.description))
        shown = KEY_NAMES.get(binding.key, binding.key)
        if shown and shown not in keys:
            keys.append(shown)
    return [(" ".join(keys), text) for keys, text in rows.values()]


def key_table(title: str, bindings: list[BindingType]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                  box=None, padding=(0, 1, 0, 0))
    table.add_column("keys", style="bold cyan", no_wrap=True, max_width=9)
    table.add_column("does")
    for keys, text in key_rows(bindings):
        table.add_row(keys, text)
    return table


Column = list[tuple[str, list[BindingType]]]


def sections(schema: LabelSchema, everywhere: list[BindingType]) -> tuple[Column, Column, Column]:
    """Three columns: the review screen's keys to move and label (1-9 the project's types), its
    keys to decide and go on, and everything else (`everywhere`: the app's own bindings, passed
    in so this screen needs no import of the app)."""
    review = ReviewScreen.bindings_for(schema)
    first = [b for b in review if b.action.split("(")[0] in MOVE_AND_LABEL]
    return ([("Review (F2) · 1-9 label", first)],
            [("Decide, go on", [b for b in review if b not in first])],
            [("Everywhere", everywhere), ("Runs (F3)", RunsScreen.BINDINGS),
             ("Reports (F4)", ReportsScreen.BINDINGS)])


class HelpScreen(ModalScreen[None]):
    """Scroll with ↑/↓; esc, ? or F1 closes it. `schema`: the project's types, for the label keys;
    `everywhere`: the app's bindings."""

    BINDINGS = [Binding("escape,question_mark,f1", "dismiss", "Close help", key_display="esc")]

    def __init__(self, schema: LabelSchema = CONLL, everywhere: list[BindingType] | None = None) -> None:
        super().__init__()
        self.schema, self.everywhere = schema, everywhere or []

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(id="help")
        scroll.border_title = "nerd keys · esc closes · a click puts the review's cursor on a token"
        with scroll, Horizontal(id="help-columns"):
            for column in sections(self.schema, self.everywhere):
                with Vertical(classes="help-column"):
                    for title, bindings in column:
                        yield Static(key_table(title, bindings), classes="help-section")

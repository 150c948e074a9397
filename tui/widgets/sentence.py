"""A sentence as the reviewer sees it: entities coloured by type, a cursor and a selection."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from common.tags import spans

COLOURS = {"PER": "#ff9ec4", "LOC": "#8fdc8f", "ORG": "#8ec5ff", "MISC": "#ffd36e"}
OTHER = "#c8c8c8"  # a type outside CoNLL's four, should a run hold one
CURSOR_STYLE = "bold reverse underline"
SELECTION_STYLE = "bold #ffffff on #6a4fc0"
LABEL_KEYS = {"1": "PER", "2": "LOC", "3": "ORG", "4": "MISC"}


def entity_style(kind: str) -> str:
    """Black on a light colour: readable on dark and light themes alike."""
    return f"black on {COLOURS.get(kind, OTHER)}"


def legend() -> Text:
    """The key and colour of each type: `1 PER  2 LOC  3 ORG  4 MISC`."""
    text = Text()
    for key, kind in LABEL_KEYS.items():
        text.append(f"{key}", "bold")
        text.append(f" {kind} ", entity_style(kind))
        text.append("  ")
    return text


def styled(tokens: list[str], tags: list[str], cursor: int | None = None,
           selection: tuple[int, int] | None = None) -> Text:
    """Tokens separated by spaces; each entity a coloured block ending in its type."""
    starts = {start: (end, kind) for start, end, kind in spans(tags)}
    selected = range(*selection) if selection else range(0)
    text = Text()
    end, kind = -1, ""
    for i, token in enumerate(tokens):
        if i in starts:
            end, kind = starts[i]
        inside = i < end
        style = SELECTION_STYLE if i in selected else entity_style(kind) if inside else ""
        if i == cursor:
            style = f"{style} {CURSOR_STYLE}".strip()
        text.append(token, style)
        if inside and i == end - 1:
            text.append(f" {kind}", f"italic #303030 on {COLOURS.get(kind, OTHER)}")
        if i < len(tokens) - 1:
            gap = SELECTION_STYLE if i + 1 in selected and i in selected else (
                entity_style(kind) if inside and i + 1 < end else "")
            text.append(" ", gap)
    return text


class SentenceView(Widget):
    """Renders one sentence; the review screen owns the keys and sets these reactives."""

    DEFAULT_CSS = """
    SentenceView { height: auto; }
    """

    tokens: reactive[list[str]] = reactive(list, always_update=True, layout=True)
    tags: reactive[list[str]] = reactive(list, always_update=True, layout=True)
    cursor: reactive[int] = reactive(0)
    selection: reactive[tuple[int, int] | None] = reactive(None)

    def render(self) -> Text:
        if not self.tokens:
            return Text("(no sentence)", style="dim")
        return styled(self.tokens, self.tags, self.cursor, self.selection)

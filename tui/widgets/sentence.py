"""A sentence as the reviewer sees it: entities coloured by type, a cursor and a selection.

Colours and keys are the project's label schema's (`store.labels.current()`), passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from common.tags import spans
from core.data.schema import CONLL, LabelSchema

OTHER = "#c8c8c8"  # a type the schema lacks, e.g. in a layer made under an older schema
CURSOR_STYLE = "bold reverse underline"
SELECTION_STYLE = "bold #ffffff on #6a4fc0"
# A sentence's review state: its mark and colour in the status line and the decision history.
STATE_MARKS = {"": ("·", "dim"), "edited": ("✎", "bold yellow"), "accepted": ("✓", "bold green"),
               "rejected": ("✗", "bold red"), "flagged": ("⚑", "bold magenta"), "kept": ("≠", "bold cyan"),
               "skipped": ("↷", "dim")}
STATE_WORDS = {"": "unreviewed", "kept": "kept ≠ gold"}


def state(status: str) -> Text:
    """`✓ accepted`, `✎ edited`, `≠ kept ≠ gold`, ...: what the reviewer did to a sentence."""
    mark, style = STATE_MARKS.get(status, ("?", ""))
    return Text(f"{mark} {STATE_WORDS.get(status, status)}", style)


def colour(kind: str, colours: Mapping[str, str]) -> str:
    """The type's colour in the schema (`schema.colours()`), or grey for a type it lacks."""
    return colours.get(kind, OTHER)


def entity_style(kind: str, colours: Mapping[str, str]) -> str:
    """Black on a light colour: readable on dark and light themes alike."""
    return f"black on {colour(kind, colours)}"


def by_key(schema: LabelSchema) -> list[tuple[str, str]]:
    """(key, type) in key order: `[("1", "PER"), ("2", "LOC"), ...]` for CoNLL."""
    return sorted(schema.by_key().items())


def legend(schema: LabelSchema) -> Text:
    """The key and colour of each type: `1 PER  2 LOC  3 ORG  4 MISC`."""
    text, colours = Text(), schema.colours()
    for key, kind in by_key(schema):
        text.append(f"{key}", "bold")
        text.append(f" {kind} ", entity_style(kind, colours))
        text.append("  ")
    return text


def styled(tokens: list[str], tags: list[str], colours: Mapping[str, str], cursor: int | None = None,
           selection: tuple[int, int] | None = None, unsure: Set[int] = frozenset()) -> Text:
    """Tokens separated by spaces; each entity a coloured block (`colours`) ending in its type,
    with a `?` where the labeller was unsure of it (`unsure`: those entities' first tokens)."""
    starts = {start: (end, kind) for start, end, kind in spans(tags)}
    selected = range(*selection) if selection else range(0)
    text = Text()
    end, kind, doubt = -1, "", False
    for i, token in enumerate(tokens):
        if i in starts:
            end, kind = starts[i]
            doubt = i in unsure
        inside = i < end
        style = SELECTION_STYLE if i in selected else entity_style(kind, colours) if inside else ""
        if i == cursor:
            style = f"{style} {CURSOR_STYLE}".strip()
        text.append(token, Style.parse(style or "none") + Style(meta={"token": i}))
        if inside and i == end - 1:
            text.append(f" {kind}", f"italic #303030 on {colour(kind, colours)}")
            if doubt:
                text.append("?", f"bold #b00020 on {colour(kind, colours)}")
        if i < len(tokens) - 1:
            gap = SELECTION_STYLE if i + 1 in selected and i in selected else (
                entity_style(kind, colours) if inside and i + 1 < end else "")
            text.append(" ", gap)
    return text


class SentenceView(Widget):
    """Renders one sentence; the review screen owns the keys and sets these reactives.

    A click on a token posts `Clicked` (shift+click: extend the selection to it).
    """

    class Clicked(Message):
        def __init__(self, token: int, shift: bool) -> None:
            super().__init__()
            self.token, self.shift = token, shift

    DEFAULT_CSS = """
    SentenceView { height: auto; }
    """

    tokens: reactive[list[str]] = reactive(list, always_update=True, layout=True)
    tags: reactive[list[str]] = reactive(list, always_update=True, layout=True)
    cursor: reactive[int] = reactive(0)
    selection: reactive[tuple[int, int] | None] = reactive(None)
    colours: reactive[dict[str, str]] = reactive(CONLL.colours)  # the project's: `schema.colours()`
    unsure: reactive[set[int]] = reactive(set)  # first tokens of entities the labeller was unsure of

    def render(self) -> Text:
        if not self.tokens:
            return Text("(no sentence)", style="dim")
        return styled(self.tokens, self.tags, self.colours, self.cursor, self.selection, self.unsure)

    def on_click(self, event: events.Click) -> None:
        token = event.style.meta.get("token")
        if isinstance(token, int):
            self.post_message(self.Clicked(token, event.shift))

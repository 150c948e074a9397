"""Small modal screens of the review screen: a flag's note, and the last decisions to reopen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class NoteScreen(ModalScreen[str | None]):
    """`f`: the note a flag carries ("ask about ORG vs LOC here"); enter flags, esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without flagging")]

    def __init__(self, sentence: str, note: str = "") -> None:
        super().__init__()
        self.sentence, self.note = sentence, note

    def compose(self) -> ComposeResult:
        with Vertical(id="note-dialog", classes="dialog") as box:
            box.border_title = "flag · enter saves · esc cancels"
            yield Static(Text(self.sentence, overflow="ellipsis", no_wrap=True), classes="dialog-line")
            yield Input(self.note, placeholder="why (optional): a question, a guideline to check…",
                        id="note")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HistoryScreen(ModalScreen[int | None]):
    """`H`: the last decisions, newest first; enter (or a click) reopens one, esc closes.

    `entries`: (sentence id, the line to show), newest first.
    """

    BINDINGS = [Binding("escape,H", "cancel", "Close", key_display="esc", tooltip="Close the history")]

    def __init__(self, entries: list[tuple[int, Text]]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="history-dialog", classes="dialog") as box:
            box.border_title = "last decisions · enter reopens · esc closes"
            if self.entries:
                yield OptionList(*(Option(line, id=str(sid)) for sid, line in self.entries), id="history")
            else:
                yield Static(Text("No decision yet: a accepts, x rejects, f flags, g keeps, s skips.",
                                  "dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)

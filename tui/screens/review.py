"""The review screen: correct a run's labels one sentence at a time, every change saved at once."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Static

from common.tags import spans
from core.labels import CONLL, LabelSchema
from core.review import Item, ReviewSession
from tui.screens.base import NerdScreen
from tui.widgets.sentence import SentenceView, by_key, colour, entity_style, legend

MOVE = Binding.Group("Move", compact=True)
LABEL_KEY = "label_key"  # keys 1-9: the type on that key in the project's label schema


def hint(schema: LabelSchema) -> str:
    """The line under the sentence, with the schema's keys: `... · 1-4 label · ...` for CoNLL."""
    keys = [key for key, _ in by_key(schema)]
    span = f"{keys[0]}-{keys[-1]}" if len(keys) > 1 else keys[0]
    return f"shift+←→ select · {span} label · j/k sentence · ? all keys"


class ReviewScreen(NerdScreen):
    """Keys act on the sentence in view; `a` accepts it and moves on.

    Keys 1-9 are bound once, to `label_key(n)`, which labels with the type on key n in the
    project's label schema (read at load, so `nerd labels load` elsewhere shows on return);
    `bindings_for(schema)` names them after the types for the help screen.
    """

    BINDINGS = [
        Binding("left", "move(-1)", "Move", group=MOVE, key_display="←", tooltip="Cursor to previous token"),
        Binding("right", "move(1)", "Move", group=MOVE, key_display="→", tooltip="Cursor to next token"),
        Binding("shift+left", "extend(-1)", "Select", show=False, tooltip="Extend selection left"),
        Binding("shift+right", "extend(1)", "Select", show=False, tooltip="Extend selection right"),
        Binding("escape", "clear_selection", "Unselect", show=False, tooltip="Clear the selection"),
        *(Binding(key, f"{LABEL_KEY}('{key}')", f"Label {key}", show=False,
                  tooltip=f"Label selection with the type on key {key}") for key in "123456789"),
        Binding("d,delete", "delete", "Delete", key_display="d", tooltip="Delete entity at cursor"),
        Binding("a", "accept", "Accept", tooltip="Accept sentence, go on"),
        Binding("s", "skip", "Skip", show=False, tooltip="Skip to next sentence"),
        Binding("u", "undo", "Undo", tooltip="Undo last change"),
        Binding("r,ctrl+y", "redo", "Redo", key_display="r", tooltip="Redo what was undone"),
        Binding("n", "next_disagreement", "≠gold", tooltip="Next sentence ≠ gold"),
        Binding("N,shift+n", "next_unreviewed", "Unreviewed", key_display="N", show=False,
                tooltip="Next unreviewed sentence"),
        Binding("h", "next_unmatched", "Unmatched", show=False, tooltip="Next with hallucination"),
        Binding("j,down", "sentence(1)", "Next", show=False, tooltip="Next sentence"),
        Binding("k,up", "sentence(-1)", "Previous", show=False, tooltip="Previous sentence"),
    ]

    @classmethod
    def bindings_for(cls, schema: LabelSchema) -> list[Binding]:
        """BINDINGS as a project sees them: one label key a type ("Label selection VESSEL")."""
        names, out = schema.by_key(), []
        for binding in Binding.make_bindings(cls.BINDINGS):
            if binding.action.startswith(f"{LABEL_KEY}("):
                if binding.key not in names:
                    continue
                kind = names[binding.key]
                binding = replace(binding, description=kind, tooltip=f"Label selection {kind}")
            out.append(binding)
        return out

    def __init__(self) -> None:
        super().__init__()
        self.schema: LabelSchema = CONLL
        self.session: ReviewSession | None = None
        self.index = 0
        self.cursor = 0
        self.anchor: int | None = None
        self.message = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="review"):
            yield Static(id="review-status", classes="status")
            with Horizontal(id="review-body"):
                with VerticalScroll(id="sentence-pane", can_focus=False):
                    yield SentenceView(id="sentence")
                    yield Static(id="gold-line")
                    yield Static(id="hint")
                with VerticalScroll(id="llm-pane", can_focus=False):
                    yield Static(id="llm-text")
            yield Static(id="legend")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        stale = self.session is None or self.session.run_id != self.nerd.run_id
        stale = stale or self.nerd.label_schema() != self.schema
        if not stale and self.session is not None:
            stale = self.nerd.store.annotations.count(self.session.run_id) != len(self.session)
        if stale:
            self.load()

    def load(self) -> None:
        """Open the app's run (a new session keeps the saved reviews, not the undo history)."""
        self.schema = self.nerd.label_schema()
        self.query_one(SentenceView).colours = self.schema.colours()
        self.query_one("#hint", Static).update(hint(self.schema))
        self.query_one("#legend", Static).update(legend(self.schema))
        keep = self.current.id if self.current else None
        run = self.nerd.run_id
        self.session = ReviewSession(self.nerd.store, run) if run is not None else None
        self.index = 0
        if keep is not None and self.session and keep in {i.id for i in self.session.items}:
            self.index = self.session.index_of(keep)
        self.cursor, self.anchor = 0, None
        self.show()

    @property
    def current(self) -> Item | None:
        if self.session is None or not self.session.items:
            return None
        return self.session.items[self.index]

    @property
    def selection(self) -> tuple[int, int]:
        """The selected tokens [start, end); the cursor's token when nothing is selected."""
        if self.anchor is None:
            return self.cursor, self.cursor + 1
        return min(self.anchor, self.cursor), max(self.anchor, self.cursor) + 1

    # -- drawing ---------------------------------------------------------------------------

    def show(self) -> None:
        item, view = self.current, self.query_one(SentenceView)
        status = self.query_one("#review-status", Static)
        if item is None or self.session is None:
            view.tokens, view.tags = [], []
            status.update("no annotation run yet" if self.session is None else
                          f"run {self.session.run_id} has no annotated sentence yet")
            self.query_one("#gold-line", Static).update(
                Text("Start a run on the runs screen (F3), or `nerd annotate` / "
                     "`nerd import llm-output`.", style="dim"))
            self.query_one("#llm-text", Static).update("")
            return
        view.tokens, view.tags = item.tokens, item.tags
        view.cursor = self.cursor
        view.selection = self.selection if self.anchor is not None else None
        session = self.session
        line = Text(f"run {session.run_id} {session.name} · sentence {self.index + 1}/{len(session)}"
                    f" · reviewed {session.reviewed}")
        if item.reviewed:
            line.append(" · ✓", "bold green")
        if item.disagrees:
            line.append(" · ≠ gold", "bold red")
        if self.message:
            line.append(f" · {self.message}", "italic")
        status.update(line)
        self.query_one("#gold-line", Static).update(gold_line(item, self.schema.colours()))
        self.query_one("#llm-text", Static).update(llm_panel(item))

    def say(self, message: str) -> None:
        self.message = message
        self.show()

    def go(self, index: int | None, none: str = "") -> None:
        if index is None:
            self.say(none)
            return
        self.index, self.cursor, self.anchor, self.message = index, 0, None, ""
        self.show()

    # -- actions ---------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        if self.current:
            self.anchor = None
            self.cursor = max(0, min(len(self.current.tokens) - 1, self.cursor + step))
            self.show()

    def action_clear_selection(self) -> None:
        self.anchor = None
        self.show()

    def action_extend(self, step: int) -> None:
        if self.current:
            if self.anchor is None:
                self.anchor = self.cursor
            self.cursor = max(0, min(len(self.current.tokens) - 1, self.cursor + step))
            self.show()

    def action_label_key(self, key: str) -> None:
        kind = self.schema.by_key().get(key)
        if kind is None:
            self.say(f"no type on key {key}")
        else:
            self.action_label(kind)

    def action_label(self, kind: str) -> None:
        if self.current and self.session:
            start, end = self.selection
            changed = self.session.label(self.current.id, start, end, kind)
            self.anchor = None
            text = " ".join(self.current.tokens[start:end])
            self.say(f"{text} → {kind}" if changed else "no change")

    def action_delete(self) -> None:
        if self.current and self.session:
            changed = self.session.delete(self.current.id, self.cursor)
            self.anchor = None
            self.say("entity removed" if changed else "no entity here")

    def action_accept(self) -> None:
        if self.current and self.session:
            self.session.accept(self.current.id)
            if self.index + 1 < len(self.session):
                self.go(self.index + 1)
            else:
                self.say("accepted (last sentence)")

    def action_skip(self) -> None:
        self.action_sentence(1)

    def action_undo(self) -> None:
        self._history(self.session.undo() if self.session else None, "undone", "nothing to undo")

    def action_redo(self) -> None:
        self._history(self.session.redo() if self.session else None, "redone", "nothing to redo")

    def _history(self, sentence: int | None, done: str, none: str) -> None:
        if sentence is None or self.session is None:
            self.say(none)
            return
        index = self.session.index_of(sentence)
        if index != self.index:
            self.go(index)
        self.anchor = None
        self.say(done)

    def action_next_disagreement(self) -> None:
        if self.session:
            self.go(self.session.next_disagreement(self.index), "no sentence differs from gold")

    def action_next_unreviewed(self) -> None:
        if self.session:
            self.go(self.session.next_unreviewed(self.index), "every sentence is reviewed")

    def action_next_unmatched(self) -> None:
        if self.session:
            self.go(self.session.next_unmatched(self.index), "no unmatched entities in this run")

    def action_sentence(self, step: int) -> None:
        if self.session and self.session.items:
            index = self.index + step
            if 0 <= index < len(self.session):
                self.go(index)
            else:
                self.say("first sentence" if index < 0 else "last sentence")


def gold_line(item: Item, colours: dict[str, str]) -> Text:
    """Gold's entities beneath the sentence, so a disagreement is plain to see."""
    text = Text("gold: ", style="bold")
    if item.gold is None:
        return text.append("none (raw text)", "dim")
    found = spans(item.gold)
    if not found:
        text.append("no entities", "dim")
    for start, end, kind in found:
        text.append(" ".join(item.tokens[start:end]), entity_style(kind, colours))
        text.append(f" {kind}", f"italic {colour(kind, colours)}")
        text.append("  ")
    return text


def llm_panel(item: Item) -> Text:
    """What the teacher said: parse status, unmatched strings, raw answer, reasoning."""
    text = Text()
    ok = item.parse_status in ("ok", "repaired")
    text.append("parse ", "bold").append(item.parse_status or "?", "green" if ok else "bold red")
    text.append("\nunmatched ", "bold")
    if item.unmatched:
        for kind, value in item.unmatched:
            text.append(f"\n  {kind}: {value}", "bold red")
    else:
        text.append("none", "dim")
    text.append("\n\nanswer\n", "bold").append(item.raw.strip() or "(empty)")
    if item.reasoning.strip():
        text.append("\n\nreasoning\n", "bold").append(item.reasoning.strip())
    return text

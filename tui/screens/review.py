"""The review screen: correct a run's labels one sentence at a time, every change saved at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Footer, Static

from common.errors import NerdError
from core.data.schema import CONLL, LabelSchema
from core.jobs import loop
from core.progress import Working
from core.review import order
from core.review.caret import Caret, extend, extend_to, move, next_capitalised, next_entity, to_edge
from core.review.items import Item
from core.review.session import DECIDED, ReviewSession
from core.store import Store
from core.store.loops import LoopRound
from tui.screens.base import NerdScreen
from tui.screens.dialogs import HistoryScreen, NoteScreen
from tui.screens.review_keys import KEYS, LABEL_KEY
from tui.widgets.review_text import ORDER_TITLES, around, hint, history_line
from tui.widgets.sentence import SentenceView, legend, state

RETRY_SECONDS = 1.0  # while the database is busy, pending rows are retried this often


class ReviewScreen(NerdScreen):
    """Keys act on the sentence in view; a decision (a, x, f, g, s) records it and moves on.

    Keys 1-9 are bound once, to `label_key(n)`, which labels with the type on key n in the
    project's label schema (read at load, so `nerd labels load` elsewhere shows on return);
    `bindings_for(schema)` names them after the types for the help screen. The keys of a
    decision and of undo are Prodigy's (a accept, x reject, space ignore, backspace undo).
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (60, "-normal"), (120, "-wide")]
    BINDINGS = KEYS

    @classmethod
    def bindings_for(cls, schema: LabelSchema) -> list[Binding]:
        """BINDINGS as a project sees them: one label key a type, named after it ("VESSEL")."""
        names, out = schema.by_key(), []
        for binding in Binding.make_bindings(cls.BINDINGS):
            if binding.action.startswith(f"{LABEL_KEY}("):
                if binding.key not in names:
                    continue
                kind = names[binding.key]
                binding = replace(binding, description=kind, tooltip=kind)
            out.append(binding)
        return out

    def __init__(self) -> None:
        super().__init__()
        self.schema: LabelSchema = CONLL
        self.session: ReviewSession | None = None
        self.index = 0
        self.caret = Caret()
        self.message = ""
        self.retry: Timer | None = None
        self.round_ready: int | None = None  # a loop's next batch, ready to open with L
        self.training = False  # the loop's next round is being made in a worker

    def compose(self) -> ComposeResult:
        with Vertical(id="review"):
            with Horizontal(id="review-top", classes="status"):
                yield Static(id="review-status")
                yield Static(id="loop-line")
                yield Static(id="review-pace")
            with Horizontal(id="review-body"):
                with VerticalScroll(id="sentence-pane", can_focus=False):
                    yield SentenceView(id="sentence")
                    yield Static(id="gold-line")
                    yield Static(id="why")
                    yield Static(id="message")
                    yield Static(id="hint")
                with VerticalScroll(id="llm-pane", can_focus=False):
                    yield Static(id="llm-text")
                    yield Static(id="history-text")
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
        """Open the app's run (a new session keeps the saved reviews and the rows not yet
        written, not the undo history)."""
        self.schema = self.nerd.label_schema()
        self.query_one(SentenceView).colours = self.schema.colours()
        self.query_one("#hint", Static).update(hint(self.schema))
        self.query_one("#legend", Static).update(legend(self.schema))
        keep = self.current.id if self.current else None
        run, old = self.nerd.run_id, self.session
        pending = old.pending if old is not None else ()
        self.session = (ReviewSession(self.nerd.store, run, pending, annotator=self.nerd.annotator,
                                      adjudicate=self.nerd.adjudicate)
                        if run is not None else None)
        if self.session is not None and old is not None and old.run_id == run:
            self.session.pace = old.pace  # the same run grew (a run going on): the counts go on
        self.nerd.review = self.session
        self.index = 0
        if keep is not None and self.session and keep in {i.id for i in self.session.items}:
            self.index = self.session.index_of(keep)
        self.caret, self.message = self.opening(), ""
        self.show()

    @property
    def current(self) -> Item | None:
        if self.session is None or not self.session.items:
            return None
        return self.session.items[self.index]

    def opening(self) -> Caret:
        """The cursor a sentence opens with (`Item.opening`: the labeller's least sure word)."""
        return Caret(self.current.opening() if self.current else 0)

    @property
    def selection(self) -> tuple[int, int]:
        """What a label key acts on: the selection, else the entity under the cursor, else its token."""
        return self.caret.target(self.current.tags) if self.current else (0, 1)

    # -- drawing ---------------------------------------------------------------------------

    def show(self) -> None:
        """The sentence in view, its cursor and selection, and the lines around it (`around`)."""
        item, view = self.current, self.query_one(SentenceView)
        self.query_one("#message", Static).update(Text(self.message, "italic") if self.message else "")
        view.tokens, view.tags = (item.tokens, item.tags) if item is not None else ([], [])
        if item is not None:
            view.cursor = self.caret.cursor
            view.selection = self.caret.selection
            view.unsure = {s.start for s in item.scored() if s.unsure}
        for part, text in around(self.session, item, self.index, self.schema.colours()).items():
            self.query_one(f"#{part}", Static).update(text)

    def say(self, message: str) -> None:
        self.message = message
        self.show()

    def go(self, index: int | None, none: str = "") -> None:
        if index is None:
            self.say(none)
            return
        self.index, self.message = index, ""
        self.caret = self.opening()
        self.query_one("#llm-pane", VerticalScroll).scroll_home(animate=False)
        self.show()

    def written(self) -> None:
        """After a change: while rows wait for a busy database, retry them on a timer (only then)."""
        session = self.session
        if session is None or not session.pending:
            return
        if self.retry is None:
            self.notify("Database busy: another program is writing. Your changes are kept and saved"
                        " as soon as it is free.", title="database busy", severity="warning")
            self.retry = self.set_interval(RETRY_SECONDS, self.retry_writes)
        self.show()

    def retry_writes(self) -> None:
        if self.session is None or self.session.flush():
            if self.retry is not None:
                self.retry.stop()
            self.retry = None
            self.notify("All changes saved.", title="database free again")
        self.show()

    # -- moving ----------------------------------------------------------------------------

    def place(self, caret: Caret | None, none: str = "") -> None:
        if caret is None:
            self.say(none)
        elif self.current:
            self.caret = caret
            self.show()

    def action_move(self, step: int) -> None:
        if self.current:
            self.place(move(self.caret, self.current.tokens, step))

    def action_edge(self, end: int) -> None:
        if self.current:
            self.place(to_edge(self.current.tokens, bool(end)))

    def action_entity(self, step: int) -> None:
        if self.current:
            self.place(next_entity(self.caret, self.current.tags, step), "no entity in this sentence")

    def action_name(self, step: int) -> None:
        if self.current:
            self.place(next_capitalised(self.caret, self.current.tokens, step),
                       "no capitalised word further " + ("on" if step > 0 else "back"))

    def action_extend(self, step: int) -> None:
        if self.current:
            self.place(extend(self.caret, self.current.tokens, self.current.tags, step))

    def action_clear_selection(self) -> None:
        self.place(Caret(self.caret.cursor))

    def on_sentence_view_clicked(self, event: SentenceView.Clicked) -> None:
        item = self.current
        if item and 0 <= event.token < len(item.tokens):
            if event.shift:
                self.place(extend_to(self.caret, item.tags, event.token))
            else:
                self.place(Caret(event.token))

    # -- changing the tags -------------------------------------------------------------------

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
            self.caret = Caret(self.caret.cursor)
            text = " ".join(self.current.tokens[start:end])
            self.say(f"{text} → {kind}" if changed else "no change")
            self.written()

    def action_second_type(self) -> None:
        """t: the entity under the cursor takes the student's second-best type."""
        item, session = self.current, self.session
        if item is None or session is None:
            return
        found = item.scored_at(self.caret.cursor)
        kind = session.second_type(item.id, self.caret.cursor)
        if kind is None:
            self.say("no second-best type here: t retypes an entity the student labelled"
                     if found is None else f"the student had no other type for {found.label}")
            return
        self.say(f"{' '.join(item.tokens[found.start:found.end])} → {kind} (the student's second choice)")
        self.written()

    def action_delete(self) -> None:
        if self.current and self.session:
            start, end = self.caret.selection or (self.caret.cursor, self.caret.cursor + 1)
            changed = self.session.delete(self.current.id, start, end)
            self.caret = Caret(self.caret.cursor)
            self.say("entity removed" if changed else "no entity here")
            self.written()

    # -- decisions -------------------------------------------------------------------------

    def action_decide(self, action: str, note: str = "") -> None:
        """Record the decision on the sentence in view and go to the next one not decided."""
        item, session = self.current, self.session
        if item is None or session is None or action not in DECIDED:
            return
        if action == "flag":
            session.flag(item.id, note)
        else:
            getattr(session, action)(item.id)
        self.written()
        following = session.next_unreviewed(self.index)
        if following is None or following == self.index:
            self.say(f"{state(item.status).plain} · every sentence is decided")
        else:
            self.go(following)

    def action_flag(self) -> None:
        item = self.current
        if item is None:
            return

        def flagged(note: str | None) -> None:
            if note is not None and self.current is item:
                self.action_decide("flag", note)

        self.app.push_screen(NoteScreen(" ".join(item.tokens), item.note), flagged)

    def action_undo(self) -> None:
        self._after_undo(self.session.undo() if self.session else None, "undone", "nothing to undo")

    def action_redo(self) -> None:
        self._after_undo(self.session.redo() if self.session else None, "redone", "nothing to redo")

    def _after_undo(self, sentence: int | None, done: str, none: str) -> None:
        if sentence is None or self.session is None:
            self.say(none)
            return
        index = self.session.index_of(sentence)
        if index != self.index:
            self.go(index)
        self.caret = Caret(self.caret.cursor)
        self.say(done)
        self.written()

    def action_history(self) -> None:
        session = self.session
        if session is None:
            return

        def reopen(sentence: int | None) -> None:
            if sentence is not None and self.session is session:
                self.go(session.index_of(sentence))

        self.app.push_screen(HistoryScreen([(sid, history_line(session.item(sid)))
                                            for sid in session.history]), reopen)

    def on_click(self, event: events.Click) -> None:
        """A click on a line of the last decisions (side panel) reopens that sentence."""
        sentence = event.style.meta.get("sentence")
        if self.session is not None and sentence in {i.id for i in self.session.items}:
            self.go(self.session.index_of(sentence))

    # -- going elsewhere ---------------------------------------------------------------------

    def action_next_disagreement(self) -> None:
        if self.session:
            self.go(self.session.next_disagreement(self.index), "no other sentence differs from gold")

    def action_next_unreviewed(self) -> None:
        if self.session:
            self.go(self.session.next_unreviewed(self.index), "every sentence is decided")

    def action_next_unmatched(self) -> None:
        if self.session:
            self.go(self.session.next_unmatched(self.index), "no unmatched entities in this run")

    def action_sentence(self, step: int) -> None:
        if self.session and self.session.items:
            index = self.session.step(self.index, step)
            self.go(index, "first sentence" if step < 0 else "last sentence")

    def action_order(self) -> None:
        """o: document order, then least confident first by the teacher's votes, then by the
        student's token probabilities (in a thread: the model takes a moment to load)."""
        session = self.session
        if session is None or not session.items:
            return
        slot = "votes" if session.order_name == "confidence" else session.order_name
        name = order.ORDERS[(order.ORDERS.index(slot) + 1) % len(order.ORDERS)]
        if name == "student":
            found = order.student_model(self.nerd.store)
            if found is None:
                self.ordered(session, "document", {}, "no trained student yet (nerd train ...)")
            else:
                self.say("ordering by the student's confidence: loading it…")
                self.score_by_student(session, *found)
            return
        scores = {}
        if name == "votes":
            name, scores = order.run_scores(session.items)
        unscored = "" if scores or name == "document" else "no votes in this run (one answer a sentence)"
        self.ordered(session, name, scores, unscored)

    @work(thread=True, exclusive=True, group="order", exit_on_error=False)
    def score_by_student(self, session: ReviewSession, run: int, folder: Path) -> None:
        try:
            scores = order.student_scores(session.items, folder, run)
        except (NerdError, OSError, RuntimeError, ValueError) as exc:
            self.app.call_from_thread(self.say, f"the student could not score the run: {exc}")
            return
        self.app.call_from_thread(self.ordered, session, "student", scores)

    def ordered(self, session: ReviewSession, name: str, scores: order.Scores, note: str = "") -> None:
        """Review in this order from its first sentence; the why line says why each is there."""
        if session is not self.session:
            return
        session.arrange(name, scores)
        self.go(session.order[0])
        self.say(f"order: {ORDER_TITLES[name]}" + (f" · {note}" if note else ""))

    # -- the loop: the next round made in a worker while the person reviews --------------------

    def action_next_round(self) -> None:
        """L: in a loop's batch, make the next round (train, score, choose and label its batch) in
        a worker on one thread, the review going on meanwhile; once it is ready, L opens it."""
        if self.round_ready is not None:
            self.nerd.run_id, self.round_ready = self.round_ready, None
            self.loop_says("")
            self.load()
            self.say(f"the loop's next batch: run {self.nerd.run_id}")
            return
        found = loop.loop_of_run(self.nerd.store, self.session.run_id) if self.session else None
        if found is None:
            self.say("this run is no batch of a loop: nerd loop SUBSET makes them")
        elif self.training:
            self.say("the next round is being made already")
        else:
            self.training = True
            self.loop_says("next round: starting…")
            self.make_round(*found)

    @work(thread=True, exclusive=True, group="loop", exit_on_error=False)
    def make_round(self, name: str, subset: str) -> None:
        """In a thread with its own connection (SQLite connections stay in their thread)."""
        store = Store(self.nerd.db_path)
        try:
            for event in loop.advance(store, subset, name, threads=1):
                if isinstance(event, Working):
                    total = f"/{event.total}" if event.total else ""
                    self.app.call_from_thread(self.loop_says, f"{event.step} {event.done}{total}")
                elif isinstance(event, loop.RoundReady):
                    self.app.call_from_thread(self.ready, event.round)
        except (NerdError, OSError) as exc:
            self.app.call_from_thread(self.loop_failed, str(exc))
        finally:
            store.close()

    def loop_says(self, text: str) -> None:
        line = self.query_one("#loop-line", Static)
        line.update(Text(f" {text} ", "italic"))
        line.display = bool(text)  # no room taken while no round is being made

    def ready(self, found: LoopRound) -> None:
        self.training, self.round_ready = False, found.annotation_run_id
        said = f"round {found.round} ready: run {found.annotation_run_id}, labelled by the {found.labeller}"
        self.loop_says(f"{said} · L opens it")
        self.notify(f"{said}. Press L to open it.", title="the new student is ready")

    def loop_failed(self, message: str) -> None:
        self.training = False
        self.loop_says("")
        self.notify(message, title="the next round could not be made", severity="warning")

    # -- the side panel ---------------------------------------------------------------------

    def action_panel(self) -> None:
        self.toggle_class("-panel-toggled")

    def action_panel_page(self, step: int) -> None:
        pane = self.query_one("#llm-pane", VerticalScroll)
        if step > 0:
            pane.scroll_page_down(animate=False)
        else:
            pane.scroll_page_up(animate=False)

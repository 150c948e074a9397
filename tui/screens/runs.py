"""The runs screen: the annotation runs, and a form that starts one in a background thread.

The run itself is `core.teacher.annotate.annotate_events`, committed sentence by sentence; the
worker posts each event as a message, and cancelling (or quitting) stops the iteration, which
keeps every sentence already annotated and marks the run cancelled.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from common.errors import NerdError
from core.data import corpora
from core.data.corpora import SubsetError
from core.specs import as_spec
from core.store import Store
from core.teacher.annotate import Connection, start
from core.teacher.runs import Ended, Event, Progressed, RunConfig, Started
from tui.screens.base import NerdScreen

COLUMNS = ("id", "name", "subset", "backend", "prompt", "done", "status")


class RunEvent(Message):
    """An event of the annotation run in the worker, handed to the screen."""

    def __init__(self, run: int, event: Event) -> None:
        super().__init__()
        self.run, self.event = run, event


class RunOver(Message):
    """The worker is done: the line to show (the run's status in it: finished, partial,
    cancelled or failed)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


@dataclass
class RunRequest:
    backend: str
    prompt: str
    subset: str
    model: str = ""
    base_url: str | None = None
    limit: int | None = None
    pool: str = ""  # a labelled subset: the small-teacher setting (neighbours, memory)


def validate(store: Store, request: RunRequest) -> None:
    """What can be checked before a run exists, so a bad form never leaves an empty run behind:
    the subset, the limit, the pool's subset (`annotate.open_run` checks the pool's labels)."""
    corpora.resolve_subset(store, request.subset)
    if request.limit is not None and request.limit < 1:
        raise SubsetError(f"limit {request.limit}: give how many sentences (1 or more), or leave it empty")
    pool = as_spec(request.pool).subset if request.pool else ""
    if pool:
        corpora.resolve_subset(store, pool)


def run_rows(store: Store) -> list[tuple[int, str, str, str, str, str, str]]:
    """Every annotation run, newest first, with how many of its sentences are done."""
    return [(r.id, r.name, r.subset, r.backend, r.prompt, f"{r.done}/{r.size}", r.status)
            for r in store.annotations.overview()]


class RunsScreen(NerdScreen):
    """Enter on a run reviews it; the form below starts a new one."""

    BINDINGS = [
        Binding("ctrl+r", "start", "Start run", priority=True),
        Binding("c,escape", "cancel", "Cancel run", key_display="c"),
        Binding("g", "refresh_runs", "Refresh", tooltip="Reload runs"),
        Binding("enter", "review", "Review run", show=False, tooltip="Review the run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.stop = threading.Event()
        self.last_refresh = 0.0
        self.limit: int | None = None  # the run's limit: its progress counts to it
        self.total: int | None = None  # what the bar counts to (set by the run's first event)

    def compose(self) -> ComposeResult:
        with Vertical(id="runs"):
            yield Static("Annotation runs · enter reviews the highlighted run", classes="status")
            table: DataTable = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            table.add_columns(*COLUMNS)
            yield table
            yield Static("New run · ctrl+r starts it (or enter in a field)", classes="status")
            with Horizontal(classes="form-row"):
                yield Label("backend")
                yield Select([(b, b) for b in ("llama-cpp", "openai")], value="llama-cpp",
                             allow_blank=False, compact=True, id="backend")
                yield Label("prompt")
                yield Select([(p, p) for p in ("standard", "cot")], value="standard",
                             allow_blank=False, compact=True, id="prompt")
                yield Label("subset")
                yield Input(placeholder="subset or dataset", compact=True, id="subset")
                yield Label("limit")
                yield Input(placeholder="all", type="integer", compact=True, id="limit")
            with Horizontal(classes="form-row"):
                yield Label("model")
                yield Input(placeholder="GGUF path or model name (default: embedded)", compact=True,
                            id="model")
                yield Label("url")
                yield Input(placeholder="base URL (openai)", compact=True, id="base-url")
                yield Label("pool")
                yield Input(placeholder="labelled subset", compact=True, id="pool",
                            tooltip="A human-labelled subset: nearest-neighbour examples and its"
                                    " entity strings (the small-teacher setting)")
                yield Button("Start", id="start", compact=True, variant="primary")
            yield Static("no run in progress", id="progress")
        yield Footer()

    def on_mount(self) -> None:
        store = self.nerd.store
        self.query_one("#subset", Input).value = (store.annotations.newest_subset_name()
                                                  or next(iter(store.corpora.subset_names()), ""))
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        """Also the first showing: runs started elsewhere (the CLI) appear on each visit."""
        self.refresh_runs()

    def on_unmount(self) -> None:
        self.stop.set()  # a run still going stops after its next sentence

    def refresh_runs(self) -> None:
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        for row in run_rows(self.nerd.store):
            table.add_row(*map(str, row), key=str(row[0]))
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))
        self.last_refresh = time.monotonic()

    def action_refresh_runs(self) -> None:
        self.refresh_runs()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.review(int(event.row_key.value or 0))

    def action_review(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            self.review(int(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value or 0))

    def review(self, run: int) -> None:
        self.nerd.run_id = run
        self.app.switch_mode("review")

    # -- starting, following and cancelling a run ------------------------------------------

    def request(self) -> RunRequest:
        value = {w.id: w.value for w in self.query(Input)}
        limit = value["limit"].strip()
        if not value["subset"].strip():
            raise SubsetError("name the subset (or dataset) to annotate")
        return RunRequest(str(self.query_one("#backend", Select).value),
                          str(self.query_one("#prompt", Select).value), value["subset"].strip(),
                          value["model"].strip(), value["base-url"].strip() or None,
                          int(limit) if limit else None, value["pool"].strip())

    def on_input_submitted(self) -> None:
        self.action_start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self) -> None:
        if self.busy:
            self.say("a run is in progress: c cancels it")
            return
        try:
            request = self.request()
            validate(self.nerd.store, request)
        except (NerdError, ValueError) as exc:
            self.say(f"[red]{escape(str(exc))}[/]")
            return
        self.busy = True
        self.stop.clear()
        self.limit, self.total = request.limit, None
        # the bar exists only while a run goes (an idle bar still ticks)
        self.query_one("#runs").mount(ProgressBar(total=None, show_eta=False, id="progress-bar"),
                                      before=self.query_one("#progress"))
        self.say(f"starting {request.backend} {request.prompt} on {escape(request.subset)}…")
        self.annotate(request)
        self.query_one(DataTable).focus()

    def action_cancel(self) -> None:
        if self.busy:
            self.stop.set()
            self.workers.cancel_group(self, "annotate")
            self.say("cancelling after the sentence in flight…")

    def say(self, markup: str) -> None:
        self.query_one("#progress", Static).update(markup)

    @work(thread=True, group="annotate", exit_on_error=False)
    def annotate(self, request: RunRequest) -> None:
        """Runs in a thread with its own connection (SQLite connections stay in their thread)."""
        worker = get_current_worker()
        store = Store(self.nerd.db_path)
        run, message = None, ""
        config = RunConfig(subset=request.subset, backend=request.backend, model=request.model,
                           prompt=request.prompt, pool=request.pool)
        events = start(store, config, Connection(base_url=request.base_url), bool(request.pool),
                       request.limit)
        try:
            for event in events:
                if isinstance(event, Started):
                    run = event.run
                if worker.is_cancelled or self.stop.is_set():
                    events.close()  # the run is marked cancelled; what is done stays
                    message = f"run {run}: cancelled, {store.annotations.count(run)} sentences kept"
                    break
                if not isinstance(event, Started):
                    self.post_message(RunEvent(run, event))
                if isinstance(event, Ended):
                    message = ended(run, event, request.limit)
        except Exception as exc:  # a missing model, a server gone: say so, stay up
            where = f"run {run} failed" if run is not None else "error"
            message = f"[red]{where}:[/] {escape(str(exc))}"
        finally:
            events.close()
            store.close()
        self.post_message(RunOver(message))

    def on_run_event(self, message: RunEvent) -> None:
        event = message.event
        if isinstance(event, Progressed):
            if self.total is None:  # the first event: what was done before, plus the limit
                self.total = min(event.total, event.done + self.limit) if self.limit else event.total
            self.progressed(message.run, event.done, self.total, event.note if event.asked else "")

    def on_run_over(self, message: RunOver) -> None:
        self.finished(message.text)

    def progressed(self, run: int, done: int, total: int, note: str) -> None:
        for bar in self.query(ProgressBar):
            bar.update(total=max(total, 1), progress=done)
        limit = f" (limit {self.limit})" if self.limit else ""
        self.say(f"run {run}: {done}/{total}{limit} · {note or 'waiting for answers'} · c cancels")
        if time.monotonic() - self.last_refresh > 0.5:
            self.refresh_runs()

    def finished(self, message: str) -> None:
        self.busy = False
        self.query(ProgressBar).remove()
        self.refresh_runs()
        self.say(message)


def ended(run: int, event: Ended, limit: int | None) -> str:
    """The line a run ends on: its status, what is done, what went wrong."""
    summary = event.summary
    failed = f", {summary.failed} failed: {escape(summary.errors[0])}" if summary.failed else ""
    why = f" (limit {limit})" if event.status == "partial" and limit else ""
    return (f"run {run} {event.status}{why}: {summary.done}/{summary.total} done ({summary.asked} asked,"
            f" {summary.parse_failures} parse failures){failed}")

"""The runs screen: the annotation runs, and a form that starts one in a background thread.

The run itself is `core.annotate`, committed sentence by sentence; the worker only reports
progress, so cancelling (or quitting) keeps every sentence already annotated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from core import annotate as annotation
from core.store import Store

if TYPE_CHECKING:
    from tui.app import NerdApp

COLUMNS = ("id", "name", "subset", "backend", "prompt", "done", "status")


class Cancelled(Exception):
    """Raised inside the run's progress callback: the cooperative way to stop it."""


@dataclass
class RunRequest:
    backend: str
    prompt: str
    subset: str
    model: str = ""
    base_url: str | None = None
    limit: int | None = None
    pool: str = ""  # a labelled subset: the small-teacher setting (neighbours, memory)


def run_rows(store: Store) -> list[tuple[int, str, str, str, str, str, str]]:
    """Every annotation run, newest first, with how many of its sentences are done."""
    return [
        (run, name or "", subset, backend, prompt, f"{done}/{size}", status or "")
        for run, name, subset, backend, prompt, done, size, status in store.db.execute(
            "select r.id, r.name, s.name, r.backend, r.prompt,"
            " (select count(*) from annotations a where a.run_id = r.id), s.size, r.status"
            " from annotation_runs r join subsets s on s.id = r.subset_id order by r.id desc")
    ]


class RunsScreen(Screen[None]):
    """Enter on a run reviews it; the form below starts a new one."""

    BINDINGS = [
        Binding("ctrl+r", "start", "Start run", priority=True),
        Binding("c,escape", "cancel", "Cancel run", key_display="c"),
        Binding("g", "refresh_runs", "Refresh", tooltip="Reload the runs table"),
        Binding("enter", "review", "Review run", show=False, tooltip="Review highlighted run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.stop = threading.Event()
        self.last_refresh = 0.0

    @property
    def nerd(self) -> NerdApp:
        return self.app  # type: ignore[return-value]

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
            yield ProgressBar(show_eta=False, id="progress-bar")
            yield Static("no run in progress", id="progress")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False  # shown once a run starts
        rows = self.nerd.store.db.execute(
            "select s.name from annotation_runs r join subsets s on s.id = r.subset_id"
            " order by r.id desc limit 1").fetchone() or self.nerd.store.db.execute(
            "select name from subsets order by id limit 1").fetchone()
        self.query_one("#subset", Input).value = rows[0] if rows else ""
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
            raise ValueError("name the subset (or dataset) to annotate")
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
        except ValueError as exc:
            self.say(f"[red]{escape(str(exc))}[/]")
            return
        self.busy = True
        self.stop.clear()
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
        backend, run, message = None, None, ""
        try:
            prompt = annotation.build_prompt(store, request.prompt)
            backend = annotation.open_backend(request.backend, request.model, request.base_url)
            config = annotation.RunConfig(request.subset, request.backend, backend.model, request.prompt,
                                          pool=request.pool)
            if request.pool:
                config = annotation.small_teacher(config)
            run = annotation.open_run(store, config, prompt)
            todo, total = annotation.pending(store, run)
            self.to_ui(self.progressed, run, total - len(todo), total, "")

            def progress(done: int, total: int, note: str) -> None:
                if worker.is_cancelled or self.stop.is_set():
                    raise Cancelled
                self.to_ui(self.progressed, run, done, total, note)

            summary = annotation.annotate(store, run, backend, prompt, config, progress, request.limit)
            failed = f", {summary.failed} failed: {escape(summary.errors[0])}" if summary.failed else ""
            message = (f"run {run}: {summary.done}/{summary.total} done ({summary.asked} asked,"
                       f" {summary.parse_failures} parse failures){failed}")
        except Cancelled:
            done = store.db.execute("select count(*) from annotations where run_id = ?", [run]).fetchone()[0]
            message = f"run {run}: cancelled, {done} sentences kept"
        except Exception as exc:  # a bad subset, a missing model, a server gone: say so, stay up
            message = f"[red]error:[/] {escape(str(exc))}"
        finally:
            if backend is not None:
                backend.close()
            store.close()
        self.to_ui(self.finished, message)

    def to_ui(self, callback: Callable[..., None], *args: object) -> None:
        """Hand a UI update to the app's thread; a closed app means stop."""
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError as exc:
            raise Cancelled from exc

    def progressed(self, run: int, done: int, total: int, note: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=max(total, 1), progress=done)
        self.say(f"run {run}: {done}/{total} · {note or 'waiting for answers'} · c cancels")
        if time.monotonic() - self.last_refresh > 0.5:
            self.refresh_runs()

    def finished(self, message: str) -> None:
        self.busy = False
        self.refresh_runs()
        self.say(message)

"""nerd's Textual app: review a run's labels, start runs, read the reports.

One project database, three modes (review, runs, reports) switched by F2-F4, and a help
screen (? or F1) that lists the keys of every screen. All domain work is in `core`.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from core.data.corpora import NotFound
from core.data.schema import LabelSchema
from core.review.session import ReviewSession
from core.store import Store
from tui.screens.help import HelpScreen
from tui.screens.reports import ReportsScreen
from tui.screens.review import ReviewScreen
from tui.screens.runs import RunsScreen

BUSY_WAIT = 0.05  # seconds a write waits for another program's lock before the app retries later


class NerdApp(App[None]):
    """`NerdApp(db, run)`: `run` is the annotation run to review (default: the newest with an
    answered sentence). Writes never block the screen for long: a busy database makes the
    review keep its changes in the journal and retry (`core.review.session.ReviewSession.flush`)."""

    CSS_PATH = "app.tcss"
    TITLE = "nerd"
    ENABLE_COMMAND_PALETTE = False
    MODES = {"review": ReviewScreen, "runs": RunsScreen, "reports": ReportsScreen}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("f1,question_mark", "help", "Help", key_display="?"),
        Binding("f2", "switch_mode('review')", "Review", show=False, tooltip="Review screen"),
        Binding("f3", "switch_mode('runs')", "Runs", show=False, tooltip="Runs screen"),
        Binding("f4", "switch_mode('reports')", "Reports", show=False, tooltip="Reports screen"),
    ]

    def __init__(self, db: str | Path, run: int | None = None, annotator: str | None = None,
                 adjudicate: bool = False) -> None:
        super().__init__()
        self.annotator = annotator  # who reviews: their rows and their view of the run
        self.adjudicate = adjudicate  # review only where annotators differ, and settle it
        self.db_path = Path(db)
        self.store = Store(self.db_path, busy_timeout=BUSY_WAIT)
        self.review: ReviewSession | None = None  # the review screen's session (its waiting rows)
        self.sub_title = (self.db_path.name + (f" · {annotator}" if annotator else "")
                          + (" · adjudicating" if adjudicate else ""))
        if run is not None and run not in self.annotation_runs():
            known = ", ".join(map(str, self.annotation_runs())) or "none yet"
            raise NotFound(f"no annotation run {run}; known: {known}")
        self.run_id = run if run is not None else self.latest_run()

    def latest_run(self) -> int | None:
        return self.store.reviews.newest_answered_run() or self.store.annotations.find("latest")

    def annotation_runs(self) -> list[int]:
        return self.store.annotations.ids()

    def label_schema(self) -> LabelSchema:
        """The project's entity types, with the review keys and colours (CoNLL's when none loaded)."""
        return self.store.labels.current()

    def on_mount(self) -> None:
        self.switch_mode("review")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.label_schema(), self.BINDINGS))

    async def action_quit(self) -> None:
        """Quit: rows the busy database has not taken yet stay in the journal, written when the
        project is next opened (`waiting` says how many)."""
        if self.review is not None:
            self.review.flush()
        self.exit()

    @property
    def waiting(self) -> int:
        return len(self.review.pending) if self.review is not None else 0

    def on_unmount(self) -> None:
        if self.review is not None:
            self.review.journal.close()
        self.store.close()

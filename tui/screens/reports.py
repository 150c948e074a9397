"""The reports screen: how good the teacher was (Table 1 plus its instability), and training curves."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.data import evaluate
from core.jobs import loop
from core.jobs.loop_report import COLUMNS as LOOP_COLUMNS
from core.jobs.loop_report import curve, loop_status, status_rows
from core.review.agreement import COLUMNS, AgreementError, agreement, differences, rows, said
from core.ship import deploy
from core.store import Store
from core.teacher import quality
from tui.screens.base import NerdScreen

SHIPPING = "e: export the highlighted run to ONNX int8 and score it on conll-test"


def quality_rows(store: Store, run: int) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """Column labels and rows: the run beside the other prompt's run, against gold, then
    parse failures, unmatched entities, tokens and time (what `nerd report annotations` prints)."""
    runs = [quality.run_quality(store, r) for r in quality.companions(store, str(run))]
    scored = {q.run_id: q.report for q in runs if q.report is not None}
    rows: list[tuple[str, str, list[str]]] = []
    if scored:
        for group, metric, cells in evaluate.table_rows(scored):
            by_run = dict(zip(scored, cells, strict=True))
            rows.append((group, metric, [by_run.get(q.run_id, "-") for q in runs]))
    rows += [("Teacher" if i == 0 else "", name, cells)
             for i, (name, cells) in enumerate(quality.quality_rows(runs))]
    return [q.label for q in runs], rows


def training_rows(store: Store) -> list[tuple[str, ...]]:
    """Training runs, newest first: epochs done, last loss, best dev F1."""
    out = []
    for record in store.training.runs():
        run, name, status = record.id, record.name, record.status
        epochs = store.training.metrics(run)
        schedule = record.config.get("schedule", "")
        last = epochs[-1] if epochs else {}
        f1s = [e["dev_f1"] for e in epochs if e.get("dev_f1") is not None]
        out.append((str(run), name or "", schedule, status or "", str(len(epochs)),
                    f"{last['loss']:.4f}" if last.get("loss") is not None else "-",
                    f"{max(f1s):.3f}" if f1s else "-"))
    return out


class ReportsScreen(NerdScreen):
    """[ and ] pick the annotation run; the highlighted training run is plotted."""

    BINDINGS = [
        Binding("left_square_bracket", "other_run(-1)", "Prev run", key_display="[",
                tooltip="Previous annotation run"),
        Binding("right_square_bracket", "other_run(1)", "Next run", key_display="]",
                tooltip="Next annotation run"),
        Binding("t", "tab('training')", "Training", tooltip="Training"),
        Binding("a", "tab('quality')", "Annotation", tooltip="Teacher quality"),
        Binding("e", "export", "Export+eval", tooltip="Export + score"),
        Binding("g", "tab('agreement')", "Agreement", tooltip="Annotators' agreement"),
        Binding("l", "tab('loop')", "Loop", tooltip="The loop's rounds"),
    ]
    LIVE_SECONDS = 2.0  # a training run in another terminal shows up epoch by epoch

    def __init__(self) -> None:
        super().__init__()
        self.run_id: int | None = None  # the annotation run shown: [ and ] change it, not the review's
        self.review_run: int | None = -1  # the review's run when this screen last showed
        self.follow: Timer | None = None  # only while a training run is running and this screen shows

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="quality"):
            with TabPane("Annotation quality", id="quality"):
                yield Static(id="quality-caption", classes="status")
                yield DataTable(id="quality-table", zebra_stripes=True, cursor_type="row")
            with TabPane("Training", id="training"), Vertical():
                yield Static(id="training-caption", classes="status")
                yield DataTable(id="training-table", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="plots"):
                    yield PlotextPlot(id="w0-plot")
                    yield PlotextPlot(id="loss-plot")
                    yield PlotextPlot(id="f1-plot")
                yield Static(SHIPPING, id="shipping")
            with TabPane("Agreement", id="agreement"), VerticalScroll():
                yield Static(id="agreement-caption", classes="status")
                yield DataTable(id="agreement-table", zebra_stripes=True, cursor_type="row")
                yield Static(id="agreement-notes")
            with TabPane("Loop", id="loop"), VerticalScroll():
                yield Static(id="loop-caption", classes="status")
                yield DataTable(id="loop-table", zebra_stripes=True, cursor_type="row")
                yield PlotextPlot(id="loop-plot")
                yield Static(id="loop-notes")
        yield Footer()

    def follow_training(self) -> None:
        """Redraw the training tab while a run is still going: live loss and F1 curves. The
        timer stops once no run is going (an idle app wakes for nothing)."""
        running = self.nerd.store.training.any_running()
        if self.query_one(TabbedContent).active == "training":
            table = self.query_one("#training-table", DataTable)
            cursor = table.cursor_row
            self.show_training()
            if table.row_count:
                table.move_cursor(row=min(cursor, table.row_count - 1))
        if not running:
            self.stop_following()

    def stop_following(self) -> None:
        if self.follow is not None:
            self.follow.stop()
        self.follow = None

    def on_screen_suspend(self) -> None:
        self.stop_following()

    def highlighted_training_run(self) -> int | None:
        table = self.query_one("#training-table", DataTable)
        if not table.row_count:
            return None
        return int(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value or 0)

    def action_export(self) -> None:
        run = self.highlighted_training_run()
        shipping = self.query_one("#shipping", Static)
        if run is None:
            shipping.update(Text("No training run to export yet.", "dim"))
            return
        self.action_tab("training")
        shipping.update(f"exporting run {run} to ONNX int8 and scoring it on conll-test …")
        self.export_and_score(run)

    @work(thread=True, group="export", exclusive=True, exit_on_error=False)
    def export_and_score(self, run: int) -> None:
        """In a thread with its own connection: SQLite connections stay in their thread."""

        store = Store(self.nerd.db_path)
        shipping = self.query_one("#shipping", Static)
        try:
            bundle = store.path.parent / "artifacts" / f"train-{run}-onnx-int8"
            check = deploy.export_onnx(store, str(run), bundle, int8=True)
            result = deploy.evaluate_bundle(bundle, store=store)
            message = Text(f"{bundle}: int8 test F1 {result.report.micro_f1:.3f},"
                           f" {result.sentences_per_second:.0f} sentences/s;"
                           f" max |Δlogit| fp32 {check.max_abs_logit_diff:.1e}")
        except (OSError, ValueError) as exc:
            message = Text(f"export failed: {exc}", "red")
        finally:
            store.close()
        self.app.call_from_thread(shipping.update, message)

    def on_screen_resume(self) -> None:
        """Also the first showing: the tables are built once per visit, not twice. A run picked
        for review since the last visit is the one shown."""
        if self.nerd.run_id != self.review_run:
            self.run_id = self.review_run = self.nerd.run_id
        self.show_quality()
        self.show_training()
        self.show_agreement()
        self.show_loop()
        if self.follow is None and self.nerd.store.training.any_running():
            self.follow = self.set_interval(self.LIVE_SECONDS, self.follow_training)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one(f"#{tab}-table", DataTable).focus()

    def action_other_run(self, step: int) -> None:
        """[ and ]: another run's quality; the run under review stays as it is."""
        runs = self.nerd.annotation_runs()
        if runs and self.run_id in runs:
            self.run_id = runs[(runs.index(self.run_id) + step) % len(runs)]
        elif runs:
            self.run_id = runs[-1]
        self.show_quality()
        self.show_agreement()

    def show_quality(self) -> None:
        table = self.query_one("#quality-table", DataTable)
        caption = self.query_one("#quality-caption", Static)
        table.clear(columns=True)
        run = self.run_id
        if run is None:
            caption.update(Text("No annotation run yet: start one on the runs screen (F3).", "dim"))
            return
        labels, rows = quality_rows(self.nerd.store, run)
        reviewing = "" if run == self.nerd.run_id else f" · reviewing run {self.nerd.run_id}"
        caption.update(Text(" vs ".join(labels) + " · against gold · [ ] other run" + reviewing))
        table.add_column("", key="group")
        table.add_column("metric", key="metric")
        for label in labels:
            table.add_column(label.split(" (")[0], key=label)
        for group, metric, cells in rows:
            table.add_row(group, metric, *(Text(c, justify="right") for c in cells))

    def show_agreement(self) -> None:
        """The annotators of the run shown ([ ]): pairwise span F1 and kappa, then the notes and
        the sentences they disagree on (`nerd agreement`)."""
        table = self.query_one("#agreement-table", DataTable)
        caption = self.query_one("#agreement-caption", Static)
        notes = self.query_one("#agreement-notes", Static)
        table.clear(columns=True)
        notes.update("")
        if self.run_id is None:
            caption.update(Text("No annotation run yet.", "dim"))
            return
        try:
            found = agreement(self.nerd.store, self.run_id)
        except AgreementError as exc:
            caption.update(Text(str(exc), "dim"))
            return
        caption.update(f"run {found.run}: {', '.join(found.annotators)} · [ ] other run")
        table.add_columns(*COLUMNS)
        for row in rows(found):
            table.add_row(*(Text(c, justify="left" if i < 2 else "right") for i, c in enumerate(row)))
        notes.update(Text("\n".join([*said(found), *differences(found)])))

    def show_loop(self) -> None:
        """The loop whose batch is under review (else the newest): its rounds, held-out F1 against
        sentences reviewed, and where it stands (`nerd loop --status`)."""
        table = self.query_one("#loop-table", DataTable)
        caption = self.query_one("#loop-caption", Static)
        table.clear(columns=True)
        store = self.nerd.store
        names = store.loops.names()
        found = loop.loop_of_run(store, self.nerd.run_id) if self.nerd.run_id is not None else None
        if found is None and names:
            newest = store.loops.find(names[-1])
            found = newest.name, store.corpora.subset(newest.subset_id).name
        plot = self.query_one("#loop-plot", PlotextPlot)
        plot.plt.clear_figure()
        if found is None:
            caption.update(Text("No loop yet: nerd loop SUBSET starts one.", "dim"))
            self.query_one("#loop-notes", Static).update("")
            plot.refresh()
            return
        status = loop_status(store, found[1], found[0])
        caption.update(f"loop {found[0]} over {found[1]}")
        table.add_columns(*LOOP_COLUMNS)
        for row in status_rows(status):
            table.add_row(*(Text(c, justify="left" if i < 2 else "right") for i, c in enumerate(row)))
        plot.plt.title("held-out F1 by sentences reviewed")
        for who, points in curve(status).items():
            if points:
                plot.plt.plot([x for x, _ in points], [y for _, y in points], label=who, marker="braille")
        plot.refresh()
        self.query_one("#loop-notes", Static).update(Text("\n".join(status.notes())))

    def show_training(self) -> None:
        table = self.query_one("#training-table", DataTable)
        table.clear(columns=True)
        table.add_columns("id", "name", "schedule", "status", "epochs", "loss", "best dev F1")
        for row in training_rows(self.nerd.store):
            table.add_row(*row, key=row[0])
        self.query_one("#training-caption", Static).update(
            "training runs · ↑↓ picks the one plotted · e exports it" if table.row_count else
            Text("No training run yet: nerd train --distilled SUBSET@review:N ...", "dim"))
        self.plot(self.highlighted_training_run())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "training-table" and event.row_key.value is not None:
            self.plot(int(event.row_key.value))

    def plot(self, run: int | None) -> None:
        """w0, loss and dev F1 per epoch of a training run (empty plots when there is none)."""
        epochs = self.nerd.store.training.metrics(run) if run is not None else []
        x = [e["epoch"] for e in epochs]
        for plot_id, key, title in (("w0-plot", "w0", "w0"),
                                    ("loss-plot", "loss", "loss"), ("f1-plot", "dev_f1", "dev F1")):
            widget = self.query_one(f"#{plot_id}", PlotextPlot)
            plt = widget.plt
            plt.clear_figure()
            plt.title(title if run is None else f"{title} · run {run}")
            points = [(i, e[key]) for i, e in zip(x, epochs, strict=True) if e.get(key) is not None]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], marker="braille")
                plt.xticks(sorted({p[0] for p in points}))
            widget.refresh()

"""The `nerd` group and what every subcommand shares: options, errors, printing."""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from common import paths
from common.errors import NerdError
from core.data import evaluate
from core.jobs import demo as demo_job
from core.review.session import annotator_name
from core.store import Store
from tui.render import follow, reports_table

out = Console()
err = Console(stderr=True)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, `docker stop`, a scheduler's time limit) stops a command as Ctrl-C
    does: a run is marked cancelled and resumable, not left claiming to be running."""
    raise KeyboardInterrupt


class Nerd(click.Group):
    """A user error (`NerdError`) is one line naming the problem, exit status 2; `--debug`
    adds its traceback. Anything else is a bug: its traceback shows, exit status 1."""

    def invoke(self, ctx: click.Context):
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
        try:
            return super().invoke(ctx)
        except NerdError as exc:
            if ctx.find_root().params.get("debug"):
                click.echo(traceback.format_exc(), err=True, nl=False)
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


class DefaultGroup(Nerd):
    """`nerd report SUBSET ...` scores layers; `nerd report annotations [RUN]` names a view."""

    default = "layers"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


format_option = click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]),
                             default="table", show_default=True)

db_option = click.option(
    "--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Project database (default: $NERD_DB, else nerd.db here).",
)


def open_store(db: Path | None) -> Store:
    return Store(paths.db_path(db))


@click.group(cls=Nerd, invoke_without_command=True)
@click.option("--debug", is_flag=True, help="On an error, show its full traceback too.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """nerd: distil an LLM's knowledge into a small, fast NER model. Alone: the app."""
    if ctx.invoked_subcommand is None:
        launch(paths.db_path(None), None)


def interactive() -> bool:
    return sys.stdin.isatty()


def launch(db: Path, run: int | None, headless: bool = False, annotator: str | None = None,
           adjudicate: bool = False) -> None:
    """The Textual app, imported only here so `nerd --help` stays fast.

    A new project is made only where nothing is yet, and only when the user says so (a
    mistyped path would otherwise become an empty project); a crash in the app exits non-zero.
    """
    from tui.app import NerdApp

    if not db.exists():
        question = f"{db} does not exist. Create a new nerd project there?"
        if not (interactive() and click.confirm(question, default=False, err=True)):
            raise NerdError(f"no project at {db}: give the path of one (nerd tui PATH),"
                            f" or create it with `nerd init --db {db}`")
    app = NerdApp(db, run, annotator, adjudicate)
    app.run(headless=headless)
    if app.waiting:
        err.print(f"{app.waiting} review changes wait in {db}.journal (the database was busy): they are"
                  " written the next time the project is opened (nerd tui)")
    if app.return_code:
        sys.exit(app.return_code)


@main.command(name="tui")
@click.argument("db", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--run", "run", type=int, default=None, help="Annotation run to review (default: newest).")
@click.option("--annotator", default=None,
              help="Who reviews: their rows and their view of each run (default: $NERD_ANNOTATOR, else"
              " your login name); letters, digits, _ . -")
@click.option("--adjudicate", "contested", type=int, default=None, metavar="RUN",
              help="Review only the sentences RUN's annotators differ on, each one's version beside"
              " it; a records the settled answer (what review:RUN trains on).")
def tui_command(db: Path | None, run: int | None, annotator: str | None, contested: int | None) -> None:
    """Open the app (review, runs, reports) on DB (default: $NERD_DB, else nerd.db here)."""
    launch(paths.db_path(db), contested if contested is not None else run, annotator=who(annotator),
           adjudicate=contested is not None)


def who(annotator: str | None) -> str:
    """--annotator, else $NERD_ANNOTATOR, else the login name: checked, the source named."""
    if annotator is not None:
        return annotator_name(annotator)
    if os.environ.get("NERD_ANNOTATOR"):
        return annotator_name(os.environ["NERD_ANNOTATOR"], "$NERD_ANNOTATOR")
    return annotator_name(getpass.getuser(), "your login name (give --annotator NAME)")


@main.command()
@db_option
def init(db: Path | None) -> None:
    """Create (or upgrade) the project database."""
    store = open_store(db)
    out.print(f"project database {store.path} (schema v{store.schema_version})")


@main.group(name="import", cls=Nerd)
def import_group() -> None:
    """Bring corpora into the project."""


def print_reports(reports: dict[str, evaluate.Report], title: str, fmt: str) -> None:
    if fmt == "markdown":
        click.echo(evaluate.to_markdown(reports, title))
    elif fmt == "json":
        click.echo(evaluate.to_json(reports))
    else:
        out.print(reports_table(reports, title))



@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder with conll2003/ and bbc/ (default: $NERD_DATA_DIR, else ../shared/data).")
@click.option("--annotate", "annotate_n", type=int, default=50, show_default=True,
              help="Sentences to label with the embedded teacher (0: stop after the corpus report).")
@click.option("--epochs", type=int, default=5, show_default=True,
              help="Epochs on the human labels, the same for the student with and without the teacher.")
@click.option("--model", default="", help="GGUF for the teacher (default: embedded Gemma 270M).")
@db_option
def demo(data_dir: Path | None, annotate_n: int, epochs: int, model: str, db: Path | None) -> None:
    """The main job on the embedded defaults: import, annotate, train two students (with and
    without the teacher's labels), export the better, evaluate; about 6 minutes on 2 cores."""

    options = demo_job.DemoOptions(annotate_n, epochs, model)
    follow(demo_job.run_demo(open_store(db), paths.data_dir(data_dir, "conll2003"), options), out)


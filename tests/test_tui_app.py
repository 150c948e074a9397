"""The app as a whole (Pilot): start-up and crashes, help, the schema, reports and training."""

from __future__ import annotations

import re
import sqlite3

import pytest
from textual.widgets import DataTable

from core.data import corpora
from core.store import Store
from tests.conftest import MARITIME, SIZE, screen_text
from tui.app import NerdApp
from tui.screens.help import HelpScreen
from tui.screens.reports import ReportsScreen
from tui.screens.review import ReviewScreen


def test_a_crash_in_the_app_exits_non_zero(tui_project, monkeypatch, capsys):
    from tui.shell import launch

    def crash(self) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ReviewScreen, "on_mount", crash)
    with pytest.raises(SystemExit) as exit_:
        launch(tui_project[0], None, headless=True)
    assert exit_.value.code == 1 and "a bug" in capsys.readouterr().err


def test_a_new_project_is_made_only_when_confirmed(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tui import shell
    from tui.cli import main

    made = []
    monkeypatch.setattr(NerdApp, "run", lambda self, **kw: made.append(self.db_path))
    missing = tmp_path / "typo.db"
    result = CliRunner().invoke(main, ["tui", str(missing)])  # not a terminal: no question, an error
    assert result.exit_code == 2 and "no project at" in result.output and not missing.exists()
    monkeypatch.setattr(shell, "interactive", lambda: True)
    result = CliRunner().invoke(main, ["tui", str(missing)], input="n\n")
    assert result.exit_code == 2 and not missing.exists() and not made
    result = CliRunner().invoke(main, ["tui", str(missing)], input="y\n")
    assert result.exit_code == 0 and made == [missing] and missing.exists()


def test_an_sqlite_file_that_is_not_a_project_is_refused_untouched(tmp_path):
    from click.testing import CliRunner

    from tui.cli import main

    other = tmp_path / "notes.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("create table notes (id integer primary key, text text)")
    before = other.read_bytes()
    result = CliRunner().invoke(main, ["tui", str(other)])
    assert result.exit_code == 2 and "not a nerd project (its tables: notes)" in result.output
    assert other.read_bytes() == before
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("select name from sqlite_master")] == ["notes"]
        assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"


@pytest.mark.anyio
async def test_help_lists_every_screens_keys(tui_project):
    app = NerdApp(tui_project[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for words in ("1-9 label", "Next ≠ gold", "Screens", "Cancel run", "Training", "Redo",
                      "Reject: unusable", "Flag + note", "Keep ≠ gold", "Last decisions", "Undo"):
            assert words in text
        await pilot.press("escape")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


@pytest.mark.anyio
async def test_help_names_the_projects_types(maritime):
    app = NerdApp(maritime[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        text = screen_text(app)
        for key, kind in enumerate(MARITIME.names, 1):
            assert re.search(rf"\b{key} {{5,}}{kind}\b", text), kind  # the key column, not the legend
        assert not re.search(r"\b2 {5,}LOC\b", text) and not re.search(r"\b6 {5,}\w", text)


@pytest.mark.anyio
async def test_a_schema_loaded_meanwhile_shows_on_return(tui_project):
    db, _ = tui_project
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        assert "4 MISC" in screen_text(app)
        with Store(db) as store:  # `nerd labels load` in another terminal
            store.labels.save(MARITIME)
        await pilot.press("f3", "f2")
        text = screen_text(app)
        assert "5 CARGO" in text and "4 MISC" not in text and app.screen.schema == MARITIME


@pytest.mark.anyio
async def test_reports_screen_shows_quality_and_training(tui_project):
    app = NerdApp(tui_project[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        assert isinstance(app.screen, ReportsScreen)
        quality = app.screen.query_one("#quality-table", DataTable)
        rows = {str(r[1]): str(r[2]) for r in (quality.get_row_at(i) for i in range(quality.row_count))}
        assert rows["Micro Average F1"] == "0.824" and rows["parse failures"] == "20.0%"
        assert rows["unmatched entities"] == "11.1% of 9"
        await pilot.press("t")
        training = app.screen.query_one("#training-table", DataTable)
        assert training.get_row_at(0)[1:] == ["simple-mix-demo", "simple-mix", "finished", "4", "0.4000",
                                              "0.660"]


@pytest.mark.anyio
async def test_no_run_yet_says_what_to_do(tmp_path):
    app = NerdApp(tmp_path / "empty.db")
    async with app.run_test(size=SIZE) as pilot:
        assert "no annotation run yet" in screen_text(app)
        await pilot.press("right", "2", "a", "u", "n", "f4", "f3", "f2")
        assert isinstance(app.screen, ReviewScreen)


@pytest.mark.anyio
async def test_training_curves_follow_a_running_run(tui_project):
    db, _ = tui_project
    with Store(db) as store:
        store.db.execute("update training_runs set status = 'running'")
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4", "t")
        await pilot.pause()
        table = app.screen.query_one("#training-table", DataTable)
        assert table.get_row_at(0)[4] == "4"
        with Store(db) as store:  # a fifth epoch lands, as `nerd train` in another terminal writes it
            store.db.execute("insert into epoch_metrics(training_run_id, epoch, loss, w0, n_distilled,"
                             " n_original, lr, dev_f1, seconds) values (1, 4, 0.3, 0.0, 0, 5, 1e-4, 0.7, 1)")
        await pilot.pause(ReportsScreen.LIVE_SECONDS + 0.5)
        table = app.screen.query_one("#training-table", DataTable)
        assert table.get_row_at(0)[4] == "5" and table.get_row_at(0)[6] == "0.700"


@pytest.mark.model
@pytest.mark.anyio
async def test_export_and_score_the_highlighted_training_run(tmp_path):
    from core.data.conll import write_conll
    from core.student.config import TrainConfig
    from core.student.training import train
    from tests.conftest import synthetic

    conll = tmp_path / "test.conll"
    with conll.open("w") as fh:
        write_conll(synthetic(40, 3), fh)
    db = tmp_path / "ship.db"
    with Store(db) as store:
        corpora.import_conll(store, conll, "conll-test")
        train(store, TrainConfig(original=["conll-test"], schedule="pure-original", epochs=2, batch_size=8,
                                 lr=5e-4, lr_schedule="constant", dev="", test=""))
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4", "e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shipping = str(app.screen.query_one("#shipping").render())
        assert "int8 test F1" in shipping and "sentences/s" in shipping, shipping
    assert (tmp_path / "artifacts" / "train-1-onnx-int8" / "model.onnx").is_file()


@pytest.mark.anyio
async def test_the_reports_screen_shows_the_annotators_agreement(tui_project):
    db, run = tui_project
    with Store(db) as store:
        app = NerdApp(db)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4", "g")
            assert "agreement needs two annotators" in screen_text(app)
        first = store.reviews.run_sentences(run)[0]
        for name, paris in (("alice", "B-LOC"), ("bob", "B-ORG")):
            store.reviews.add(run, first.id, ["B-PER", "I-PER", "O", paris, "O"], [], "accept",
                              annotator=name, session=name)
    app = NerdApp(db)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4", "g")
        text = screen_text(app)
        assert "run 1: alice, bob" in text and "alice ~ bob" in text and "1 sentences differ" in text

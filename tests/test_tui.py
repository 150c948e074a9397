"""The Textual app driven by keys (Pilot) at 80x24, and one snapshot of each screen."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, ProgressBar, Select

from core import corpora, labels, layers
from core.annotate import import_llm_output
from core.review import ReviewSession
from core.store import Store
from tests.fault_server import FaultServer
from tests.test_review import build_project
from tui.app import NerdApp
from tui.screens.dialogs import HistoryScreen, NoteScreen
from tui.screens.help import HelpScreen
from tui.screens.reports import ReportsScreen
from tui.screens.review import ReviewScreen
from tui.screens.runs import RunsScreen
from tui.widgets.sentence import OTHER, SentenceView, legend, styled

SIZE = (80, 24)


def add_training_run(db: Path) -> None:
    """A finished training run's epochs, as `core.training` writes them."""
    with Store(db) as store:
        run = store.db.execute(
            "insert into training_runs(name, config, status, created) values (?, ?, 'finished', ?)",
            ["simple-mix-demo", json.dumps({"schedule": "simple-mix"}), "2025-01-01T00:00:00+00:00"],
        ).lastrowid
        for epoch, (loss, w0, f1) in enumerate([(1.2, 1.0, 0.41), (0.7, 1.0, 0.55), (0.5, 0.0, 0.63),
                                                (0.4, 0.0, 0.66)]):
            store.db.execute(
                "insert into epoch_metrics(training_run_id, epoch, loss, w0, n_distilled, n_original,"
                " lr, dev_f1, seconds) values (?, ?, ?, ?, 5, 5, 1e-4, ?, 1.0)", [run, epoch, loss, w0, f1])


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, int]:
    db, run = build_project(tmp_path)
    add_training_run(db)
    return db, run


MARITIME = labels.from_data([{"name": name, "description": f"A {name.lower()} named in a shipping report."}
                             for name in ("VESSEL", "PORT", "COMPANY", "PERSON", "CARGO")])
MARITIME_CONLL = """Ever B-VESSEL
Given I-VESSEL
left O
Rotterdam B-PORT
for O
Maersk B-COMPANY
with O
crude B-CARGO
oil I-CARGO
. O

Captain O
Kim B-PERSON
Lee I-PERSON
berthed O
MSC B-VESSEL
Oscar I-VESSEL
at O
Antwerp B-PORT
. O
"""
MARITIME_ANSWERS = [  # the cargo missed, a port made up
    "{'VESSEL': ['Ever Given'], 'PORT': ['Rotterdam'], 'COMPANY': ['Maersk']}",
    "{'PERSON': ['Kim Lee'], 'VESSEL': ['MSC Oscar'], 'PORT': ['Antwerp', 'Hamburg']}",
]


@pytest.fixture
def maritime(tmp_path: Path) -> tuple[Path, int]:
    """A project with its own five types (keys 1-5 in order, CARGO on 5) and one imported run."""
    db, conll, answers = tmp_path / "maritime.db", tmp_path / "maritime.conll", tmp_path / "answers.jsonl"
    conll.write_text(MARITIME_CONLL)
    with Store(db) as store:
        store.labels.save(MARITIME)
        corpora.import_conll(store, conll, "maritime")
        ids = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "maritime"))]
        answers.write_text("".join(json.dumps({"id": i, "answer": a}) + "\n"
                                   for i, a in zip(ids, MARITIME_ANSWERS, strict=True)))
        run, _ = import_llm_output(store, str(answers), "maritime", model="teacher")
    return db, run


CELL = re.compile(r'<text class="terminal-[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>')


def screen_text(app: NerdApp) -> str:
    """What the terminal shows, as plain text, each run of text at its column (from the SVG)."""
    rows: dict[int, list[str]] = {}
    for x, y, text in CELL.findall(app.export_screenshot()):
        row, column = rows.setdefault(round((float(y) - 20) / 24.4), []), round(float(x) / 12.2)
        row.extend(" " * (column - len(row)))
        row[column:column + len(text)] = html.unescape(text).replace("\xa0", " ")
    return "\n".join("".join(rows.get(r, [])).rstrip() for r in range(max(rows, default=-1) + 1))


def reviews(db: Path, run: int) -> list[tuple[int, list[str], str]]:
    with sqlite3.connect(db) as conn:
        return [(sid, json.loads(tags), action) for sid, tags, action in conn.execute(
            "select sentence_id, tags, action from reviews where run_id = ? order by id", [run])]


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


@pytest.mark.anyio
async def test_review_a_full_correction_with_keys(project):
    db, run = project
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.session.run_id == run
        paris = screen.current
        assert paris.tags[3] == "B-ORG" and "sentence 1/5" in screen_text(app)
        await pilot.press("right", "right", "right", "shift+left")  # select "visited Paris"
        assert screen.selection == (2, 4)
        await pilot.press("2")  # a wrong LOC, replacing Paris ORG
        assert paris.tags == ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"]
        await pilot.press("d")  # removes it
        assert paris.tags == ["B-PER", "I-PER", "O", "O", "O"]
        await pilot.press("u", "u")  # back to the run's tags
        assert paris.tags == paris.run_tags and not paris.reviewed
        await pilot.press("right", "2", "a")  # Paris is a LOC; accept moves on
        assert screen.current.id != paris.id and "sentence 2/5" in screen_text(app)
        assert "done 1" in screen_text(app) and "4 left" in screen_text(app)
        await pilot.press("n")
        assert screen.index == 4  # the sentence the teacher could not parse
        await pilot.press("h")
        assert screen.index == 2 and "Hans Fischler" in screen_text(app)
        await pilot.press("N", "k", "up", "j")
        assert screen.index == 2

    assert [(sid, action) for sid, _, action in reviews(db, run)] == [
        (paris.id, "label"), (paris.id, "delete"), (paris.id, "undo"), (paris.id, "revert"),
        (paris.id, "label"), (paris.id, "accept")]
    with Store(db) as store:
        sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, "tiny")))
        assert layers.load(store, f"review:{run}", sentences)[paris.id] == paris.gold


GOLDEN_CONLL = """The O
spokesman O
said O
the O
Golden B-MISC
Four I-MISC
met O
at O
the O
White B-ORG
House I-ORG
in O
Washington B-LOC
. O

Rain O
fell O
. O
"""


@pytest.fixture
def golden(tmp_path: Path) -> tuple[Path, int]:
    """One sentence the teacher got wrong three ways (a type, a missed name, nothing else) and one
    without entities: `Golden Four` as LOC (gold: MISC), `White House` missed."""
    db, conll, answers = tmp_path / "golden.db", tmp_path / "golden.conll", tmp_path / "answers.jsonl"
    conll.write_text(GOLDEN_CONLL)
    with Store(db) as store:
        corpora.import_conll(store, conll, "golden")
        ids = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "golden"))]
        answers.write_text(json.dumps({"id": ids[0], "answer": "{'LOC': ['Golden Four', 'Washington']}"})
                           + "\n" + json.dumps({"id": ids[1], "answer": "{}"}) + "\n")
        run, _ = import_llm_output(store, str(answers), "golden", model="teacher")
    return db, run


@pytest.mark.anyio
async def test_move_by_entity_name_edge_and_click_and_retype_an_entity_whole(golden):
    db, run = golden
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        item = screen.current
        await pilot.press("tab")  # "Golden", the first entity
        assert screen.caret.cursor == 4
        await pilot.press("right", "4")  # on "Four": 4 retypes all of "Golden Four"
        assert item.tags[4:6] == ["B-MISC", "I-MISC"] and "Golden Four → MISC" in screen_text(app)
        await pilot.press("w")  # the next capitalised name: "White"
        assert screen.caret.cursor == 9
        await pilot.press("shift+right", "3")
        assert item.tags == item.gold and item.status == "edited"
        await pilot.press("tab")
        assert screen.caret.cursor == 12
        await pilot.press("shift+tab", "shift+tab")
        assert screen.caret.cursor == 4
        await pilot.press("end")
        assert screen.caret.cursor == 13
        await pilot.press("home", "b")
        assert screen.caret.cursor == 0 and "no capitalised word further back" in screen_text(app)
        await pilot.click(SentenceView, offset=(len("The spokesman "), 0))  # on "said"
        assert screen.caret.cursor == 2
        await pilot.click(SentenceView, offset=(len("The spokesman said the Gol"), 0), shift=True)
        assert screen.caret.selection == (2, 6)  # shift+click extends the selection
        await pilot.press("escape", "a")
        assert item.status == "accepted" and screen.index == 1
    assert [action for _, _, action in reviews(db, run)] == ["label", "label", "accept"]


@pytest.mark.anyio
async def test_decide_reject_flag_keep_skip_and_reopen_from_the_history(project):
    db, run = project
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        first = screen.current
        await pilot.press("a", "x", "f")
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"ask Anna", "enter")
        assert app.screen is screen and screen.index == 3
        await pilot.press("g", "space")  # keep (differs from gold on purpose), then skip
        assert [i.status for i in screen.session.items] == ["accepted", "rejected", "flagged", "kept", "skipped"]
        text = screen_text(app)
        assert "every sentence is decided" in text and "done 5" in text and "0 left" in text
        assert "↷ skipped" in text and "≠ The European Commission" in text  # the history, newest first
        await pilot.press("H")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("down", "down", "enter")  # the third newest: the flagged sentence
        assert app.screen is screen and screen.index == 2
        text = screen_text(app)
        assert "⚑ flagged" in text and "flag: ask Anna" in text
        await pilot.press("delete")  # Prodigy's undo key undoes (the skip), it deletes nothing
        assert screen.session.items[4].status == "" and screen.index == 4
        await pilot.press("n")  # the first sentence differs from gold but was accepted: still shown
        assert screen.index == 0 and screen.current is first
        await pilot.click("#history-text", offset=(4, 3))  # the second newest decision: the kept one
        assert screen.index == 3
    assert [action for _, _, action in reviews(db, run)] == ["accept", "reject", "flag", "keep", "skip",
                                                             "revert"]


@pytest.mark.anyio
async def test_a_busy_database_neither_freezes_nor_crashes_the_review(project):
    """Another program holds the write lock: keys still answer at once, the changes wait (shown),
    q warns instead of dropping them, and they are written, in order, once the lock is gone."""
    db, run = project
    other = sqlite3.connect(db, isolation_level=None)
    app = NerdApp(db)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        other.execute("begin immediate")
        started = time.monotonic()
        await pilot.press("a", "x", "j")  # two decisions and a move, all while locked
        assert time.monotonic() - started < 2 and screen.index == 3
        assert "database busy · 2 unsaved" in screen_text(app) and reviews(db, run) == []
        await pilot.press("q")
        await pilot.pause(0.1)
        text = " ".join(screen_text(app).split())
        assert app.return_code is None and "2 changes are not saved yet" in text, text
        other.execute("commit")
        await wait_for(pilot, lambda: len(reviews(db, run)) == 2)
        await pilot.pause(0.1)
        assert "⚠ database busy" not in screen_text(app) and "done 2" in screen_text(app)
        assert screen.retry is None  # the retry timer stops with the last row written
    assert [action for _, _, action in reviews(db, run)] == ["accept", "reject"]
    other.close()


def test_a_crash_in_the_app_exits_non_zero(project, monkeypatch, capsys):
    from tui.shell import launch

    def crash(self) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ReviewScreen, "on_mount", crash)
    with pytest.raises(SystemExit) as exit_:
        launch(project[0], None, headless=True)
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


def running_timers(app: NerdApp) -> list[str]:
    """The timers that would wake an idle app (paused ones, like an unfocused input's blink, don't)."""
    return [f"{type(node).__name__}:{timer.name}" for node in [app, *app._registry]
            for timer in list(getattr(node, "_timers", ())) if timer._task and not timer._task.done()
            and timer._active.is_set()]


@pytest.mark.anyio
async def test_an_idle_app_runs_no_timer_and_uses_almost_no_cpu(project):
    app = NerdApp(project[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "f4", "t", "a", "f2")
        await pilot.pause(0.3)
        assert running_timers(app) == []
        started, cpu = time.monotonic(), time.process_time()
        await pilot.pause(1.0)
        assert (time.process_time() - cpu) / (time.monotonic() - started) < 0.05


@pytest.mark.anyio
async def test_the_side_panel_collapses_when_narrow_widens_when_wide_and_pages(project):
    app = NerdApp(project[0])
    async with app.run_test(size=(50, 20)) as pilot:
        pane = app.screen.query_one("#llm-pane")
        assert not pane.display and "Peter Blackburn" in screen_text(app)  # the sentence stays
        await pilot.press("p")  # p shows the panel instead
        assert pane.display and not app.screen.query_one("#sentence-pane").display
    app = NerdApp(project[0])
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.screen.query_one("#llm-pane").outer_size.width == 50
    app = NerdApp(project[0])
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.press("a", "a", "a", "h")  # the sentence with an unmatched name; a history
        pane = app.screen.query_one("#llm-pane")
        assert pane.display and pane.max_scroll_y > 0 and pane.scroll_y == 0
        await pilot.press("pagedown")
        assert pane.scroll_y > 0
        await pilot.press("pageup")
        assert pane.scroll_y == 0


@pytest.mark.anyio
async def test_reports_brackets_leave_the_review_alone_and_messages_stay_with_their_run(project, tmp_path):
    db, run = project
    answers = tmp_path / "second.jsonl"
    with Store(db) as store:
        ids = [s.id for s in corpora.subset_sentences(store, corpora.resolve_subset(store, "tiny"))]
        answers.write_text("".join(json.dumps({"id": i, "answer": "{}"}) + "\n" for i in ids))
        second, _ = import_llm_output(store, str(answers), "tiny", model="other")
    app = NerdApp(db, run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        assert "no type on key 7" in screen_text(app)
        await pilot.press("f4", "right_square_bracket")
        assert app.screen.run_id == second and app.run_id == run
        assert f"reviewing run {run}" in screen_text(app)
        await pilot.press("f2")
        assert app.screen.session.run_id == run
        await pilot.press("f3", "enter")  # the newest run, from the runs table
        assert app.screen.session.run_id == second and "no type on key 7" not in screen_text(app)


@pytest.mark.anyio
async def test_o_orders_least_confident_first_and_says_why(project, monkeypatch):
    from core import review

    db, run = project
    with sqlite3.connect(db) as conn:  # three samples a sentence on the third: a split vote
        conn.execute("update annotations set votes = ? where sentence_id = (select sentence_id from"
                     " annotations where run_id = ? order by sentence_id limit 1 offset 2)",
                     [json.dumps([["LOC", "France", 3, 3], ["PER", "Hans Fischler", 1, 3]]), run])
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("o")
        text = screen_text(app)
        assert screen.session.order_name == "votes" and screen.index == 4  # the unparsed answer first
        assert "order: least sure first" in text and "why here: the teacher's answer did" in text
        await pilot.press("j")
        assert screen.index == 2 and "why here: 1 of 3 samples named" in screen_text(app)
        await pilot.press("o")  # the student: none trained with a saved model in this project
        assert screen.session.order_name == "document" and "no trained student yet" in screen_text(app)

        def scores(items, folder, run=None):
            return {item.id: (1 - i / 10, f"training run {run} is sure of {item.tokens[0]!r}")
                    for i, item in enumerate(items)}

        monkeypatch.setattr(review, "student_model", lambda store: (7, Path("model")))
        monkeypatch.setattr(review, "student_scores", scores)
        await pilot.press("o", "o")
        await wait_for(pilot, lambda: screen.session.order_name == "student")
        assert screen.index == 4 and "training run 7 is sure of" in screen_text(app)


@pytest.mark.anyio
async def test_the_benchmarks_corrections_take_four_keys_or_fewer_at_the_median(tmp_path):
    """bench/review.py's 24 corrections, planned with today's keys and pressed in the app."""
    import statistics

    from bench import review as bench

    db, run = bench.build(tmp_path)
    with Store(db) as store:
        items = ReviewSession(store, run).items
    plans = [bench.plan(bench.AFTER, item.tokens, item.run_tags, item.gold) for item in items]
    await bench.play(db, plans)  # each sentence ends as gold and accepted, or it raises
    assert statistics.median(map(len, plans)) <= 4
    assert plans[1] == ["w", "w", "shift+right", "3", "a"]  # "White House", far into the sentence
    before = [bench.plan(bench.BEFORE, item.tokens, item.run_tags, item.gold) for item in items]
    assert all(len(a) <= len(b) for a, b in zip(plans, before, strict=True))


@pytest.mark.anyio
async def test_help_lists_every_screens_keys(project):
    app = NerdApp(project[0])
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
async def test_label_keys_and_colours_come_from_the_projects_schema(maritime):
    db, run = maritime
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.schema == MARITIME and screen.query_one(SentenceView).colours == MARITIME.colours()
        text = screen_text(app)
        assert re.search(r"1 VESSEL +2 PORT +3 COMPANY +4 PERSON +5 CARGO", text) and "1-5 label" in text
        assert "MISC" not in text
        await pilot.press(*["right"] * 7, "shift+right")  # "crude oil", which the teacher missed
        await pilot.press("5")
        assert screen.current.tags[7:9] == ["B-CARGO", "I-CARGO"] and "crude oil → CARGO" in screen_text(app)
        await pilot.press("7")
        assert "no type on key 7" in screen_text(app)
    assert len(reviews(db, run)) == 1
    sid, tags, action = reviews(db, run)[0]
    assert action == "label" and tags[7:9] == ["B-CARGO", "I-CARGO"]


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
async def test_a_schema_loaded_meanwhile_shows_on_return(project):
    db, _ = project
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        assert "4 MISC" in screen_text(app)
        with Store(db) as store:  # `nerd labels load` in another terminal
            store.labels.save(MARITIME)
        await pilot.press("f3", "f2")
        text = screen_text(app)
        assert "5 CARGO" in text and "4 MISC" not in text and app.screen.schema == MARITIME


def test_a_type_the_schema_lacks_is_grey():
    """A layer made under an older schema keeps its tags; they show in the fallback colour."""
    text = styled(["Paris", "port"], ["B-LOC", "B-PORT"], MARITIME.colours())
    styles = {text.plain[span.start:span.end]: str(span.style) for span in text.spans}
    assert styles["Paris"] == f"black on {OTHER}" and styles["port"] == "black on #8fdc8f"
    assert legend(MARITIME).plain.split() == ["1", "VESSEL", "2", "PORT", "3", "COMPANY", "4", "PERSON",
                                              "5", "CARGO"]


@pytest.mark.anyio
async def test_runs_screen_lists_runs_and_enter_reviews_one(project):
    db, run = project
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0) == [str(run), "answers", "tiny", "import", "standard-import", "5/5",
                                       "finished"]
        await pilot.press("enter")
        assert isinstance(app.screen, ReviewScreen)


@pytest.mark.anyio
async def test_reports_screen_shows_quality_and_training(project):
    app = NerdApp(project[0])
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


async def fill_form(pilot, screen: RunsScreen, base_url: str, subset: str) -> None:
    screen.query_one("#backend", Select).value = "openai"
    screen.query_one("#subset", Input).value = subset
    screen.query_one("#model", Input).value = "fake"
    screen.query_one("#base-url", Input).value = base_url
    await pilot.pause()


async def run_to_the_end(pilot, base_url: str, pool: str = "") -> RunsScreen:
    """Start a run on `tiny` from the runs screen's form and wait until it is over."""
    await pilot.press("f3")
    screen = pilot.app.screen
    await fill_form(pilot, screen, base_url, "tiny")
    screen.query_one("#pool", Input).value = pool
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: not screen.busy)
    return screen


@pytest.mark.anyio
@pytest.mark.parametrize("pool", ["", "tiny"])
async def test_runs_screen_starts_a_run_in_a_worker(project, pool):
    """A pool in the form starts the small-teacher setting; without one, the paper's prompt."""
    db, _ = project
    app = NerdApp(db)
    with FaultServer(route=lambda r: "ok", reply="{'PER': ['Peter Blackburn']}") as server:
        async with app.run_test(size=SIZE) as pilot:
            screen = await run_to_the_end(pilot, server.base_url, pool)
            table = screen.query_one(DataTable)
            assert table.row_count == 2 and table.get_row_at(0)[3:] == ["openai", "standard-v1", "5/5",
                                                                         "finished"]
            assert "5/5 done (5 asked, 0 parse failures)" in screen_text(app)
    assert len(server.requests) == 5
    with Store(db) as store:
        params = json.loads(store.db.execute("select params from annotation_runs order by id desc")
                            .fetchone()[0])
    assert params.get("memory", False) == params.get("all_types", False) == bool(pool)
    assert params["neighbours"] == (8 if pool else 0)
    # every type in the example answers, empty or not, only in the small-teacher setting
    assert all(("'LOC': []" in json.dumps(r.body)) == bool(pool) for r in server.requests)


def long_project(folder: Path, n: int = 40) -> Path:
    db = folder / "long.db"
    conll = folder / "long.conll"
    conll.write_text("".join(f"Sentence{i} O\nby O\nPeter B-PER\nBlackburn I-PER\n\n" for i in range(n)))
    with Store(db) as store:
        corpora.import_conll(store, conll, "long")
    return db


def slow_answers():
    """A fake API route: one answer at a time, 50 ms each (about 20 sentences a second)."""
    lock = threading.Lock()

    def slow(_request) -> str:
        with lock:
            time.sleep(0.05)
        return "ok"

    return slow


def counter(db: Path):
    def annotated() -> int:
        with sqlite3.connect(db) as conn:
            return conn.execute("select count(*) from annotations").fetchone()[0]

    return annotated


@pytest.mark.anyio
async def test_cancel_stops_a_run_part_way_and_keeps_what_is_done(tmp_path):
    db = long_project(tmp_path)
    slow, annotated = slow_answers(), counter(db)
    app = NerdApp(db)
    with FaultServer(route=slow, reply="{'PER': ['Peter Blackburn']}") as server:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            screen = app.screen
            await fill_form(pilot, screen, server.base_url, "long")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: annotated() >= 3)
            await pilot.press("c")
            await wait_for(pilot, lambda: not screen.busy)
            kept = annotated()
            assert 3 <= kept < 40
            assert f"cancelled, {kept} sentences kept" in screen_text(app)
            assert screen.query_one(DataTable).get_row_at(0)[5:] == [f"{kept}/40", "cancelled"]
            await pilot.pause()
            assert not screen.query(ProgressBar)  # the bar goes with the run, not left half-way
            await pilot.pause(0.3)
    assert annotated() == kept  # nothing more arrived after the stop


@pytest.mark.anyio
async def test_a_limited_run_counts_to_its_limit_and_ends_partial(tmp_path):
    db = long_project(tmp_path)
    app = NerdApp(db)
    with FaultServer(route=lambda r: "ok", reply="{'PER': ['Peter Blackburn']}") as server:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            screen = app.screen
            await fill_form(pilot, screen, server.base_url, "long")
            screen.query_one("#limit", Input).value = "3"
            seen: list[str] = []
            screen.progressed = lambda run, done, total, note, old=screen.progressed: (
                seen.append(f"{done}/{total}"), old(run, done, total, note))
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not screen.busy)
            assert seen[0] == "0/3" and seen[-1] == "3/3"
            assert "run 1 partial (limit 3): 3/40 done" in screen_text(app)
            assert screen.query_one(DataTable).get_row_at(0)[5:] == ["3/40", "partial"]


@pytest.mark.anyio
async def test_a_bad_form_creates_no_run_and_an_empty_run_is_not_reviewed_by_default(project):
    db, run = project
    app = NerdApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        for field, value, says in (("pool", "nope", "no subset or dataset named 'nope'"),
                                   ("limit", "0", "limit 0: give how many sentences")):
            screen.query_one(f"#{field}", Input).value = value
            await pilot.press("ctrl+r")
            assert not screen.busy and says in screen_text(app)
            screen.query_one(f"#{field}", Input).value = ""
        assert app.annotation_runs() == [run]
    with Store(db) as store:  # a run whose teacher failed at once: nothing to review in it
        subset = corpora.resolve_subset(store, "tiny")
        empty = store.annotations.create(name="gone", subset_id=subset, backend="openai", model="m",
                                         prompt="standard-v1", template_version="1", prefix_hash="x",
                                         params={}, status="failed")
    assert NerdApp(db).run_id == run != empty


@pytest.mark.anyio
async def test_quitting_mid_run_stops_it(tmp_path):
    db = long_project(tmp_path)
    slow, annotated = slow_answers(), counter(db)
    app = NerdApp(db)
    with FaultServer(route=slow, reply="{'PER': ['Peter Blackburn']}") as server:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await fill_form(pilot, app.screen, server.base_url, "long")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: annotated() >= 2)
            await pilot.press("q")
        time.sleep(0.5)  # the sentences in flight may still land, then nothing
        settled = annotated()
        time.sleep(0.5)
        assert annotated() == settled < 40


@pytest.mark.anyio
async def test_a_bad_subset_is_an_error_line_not_a_crash(project):
    app = NerdApp(project[0])
    with FaultServer(route=lambda r: "ok") as server:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await fill_form(pilot, app.screen, server.base_url, "nope")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not app.screen.busy)
            assert "no subset or dataset named 'nope'" in screen_text(app)


@pytest.mark.anyio
async def test_no_run_yet_says_what_to_do(tmp_path):
    app = NerdApp(tmp_path / "empty.db")
    async with app.run_test(size=SIZE) as pilot:
        assert "no annotation run yet" in screen_text(app)
        await pilot.press("right", "2", "a", "u", "n", "f4", "f3", "f2")
        assert isinstance(app.screen, ReviewScreen)


# -- snapshots: `pytest --snapshot-update` rewrites them after a deliberate change ------------


def test_snapshot_review(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["right", "right", "right", "shift+left"])


def test_snapshot_review_unmatched(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["h"])


def test_snapshot_review_custom_schema(maritime, snap_compare):
    """The project's own types: legend, keys 1-5 and colours; "crude oil" labelled CARGO with 5."""
    assert snap_compare(NerdApp(maritime[0]), terminal_size=SIZE,
                        press=[*["right"] * 7, "shift+right", "5"])


def test_snapshot_review_decisions(project, snap_compare):
    """Accepted, rejected, kept: the marks, the history in the side panel, the session's counts."""
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["tab", "2", "a", "x", "g"])


def test_snapshot_review_flag_note(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["f", *"ask Anna"])


def test_snapshot_review_history(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["a", "x", "s", "H"])


def test_snapshot_review_votes_order(project, snap_compare):
    """o: least sure first; the why line under gold."""
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["o"])


def test_snapshot_review_narrow(project, snap_compare):
    """Below 60 columns the side panel folds away and the sentence keeps the width."""
    assert snap_compare(NerdApp(project[0]), terminal_size=(50, 20), press=["tab"])


def test_snapshot_review_wide(project, snap_compare):
    """From 120 columns the side panel is 50 wide."""
    assert snap_compare(NerdApp(project[0]), terminal_size=(120, 40), press=["a", "h"])


def test_snapshot_review_busy(project, snap_compare):
    """Another program holds the write lock: the changes wait, and the status line says so."""
    other = sqlite3.connect(project[0], isolation_level=None)

    async def lock_then_decide(pilot) -> None:
        other.execute("begin immediate")
        await pilot.press("tab", "2", "a")

    try:
        assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, run_before=lock_then_decide)
    finally:
        other.close()


def test_snapshot_help(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["question_mark"])


def test_snapshot_runs(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["f3"])


def test_snapshot_reports_quality(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["f4"])


def test_snapshot_reports_training(project, snap_compare):
    assert snap_compare(NerdApp(project[0]), terminal_size=SIZE, press=["f4", "t"])


@pytest.mark.anyio
async def test_training_curves_follow_a_running_run(project):
    db, _ = project
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


@pytest.mark.anyio
async def test_export_and_score_the_highlighted_training_run(tmp_path):
    from core.conll import write_conll
    from core.training import TrainConfig, train
    from tests.test_training import synthetic

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

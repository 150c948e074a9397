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
from textual.widgets import DataTable, Input, Select

from core import corpora, labels, layers
from core.annotate import import_llm_output
from core.store import Store
from tests.fault_server import FaultServer
from tests.test_review import build_project
from tui.app import NerdApp
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


def screen_text(app: NerdApp) -> str:
    """What the terminal shows, as plain text (from the SVG screenshot)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


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
        assert screen.current.id != paris.id and "sentence 2/5 · reviewed 1" in screen_text(app)
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


@pytest.mark.anyio
async def test_help_lists_every_screens_keys(project):
    app = NerdApp(project[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for words in ("Label selection LOC", "Next sentence ≠ gold", "Runs screen", "Cancel run",
                      "Training tab", "Redo what was undone"):
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
            assert re.search(rf"{key} +Label selection {kind}\b", text), kind
        assert "Label selection LOC" not in text and not re.search(r"\b6 +Label", text)


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
            await pilot.pause(0.3)
    assert annotated() == kept  # nothing more arrived after the stop


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

"""The runs screen: the form, the run in a worker, cancelling, limits and bad input (Pilot)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, ProgressBar, Select

from core.data import corpora
from core.store import Store
from tests.conftest import SIZE, screen_text, wait_for
from tests.fault_server import FaultServer
from tui.app import NerdApp
from tui.screens.review import ReviewScreen
from tui.screens.runs import RunsScreen


@pytest.mark.anyio
async def test_runs_screen_lists_runs_and_enter_reviews_one(tui_project):
    db, run = tui_project
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


@pytest.mark.server
@pytest.mark.anyio
@pytest.mark.parametrize("pool", ["", "tiny"])
async def test_runs_screen_starts_a_run_in_a_worker(tui_project, pool):
    """A pool in the form starts the small-teacher setting; without one, the paper's prompt."""
    db, _ = tui_project
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


@pytest.mark.server
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


@pytest.mark.server
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
async def test_a_bad_form_creates_no_run_and_an_empty_run_is_not_reviewed_by_default(tui_project):
    db, run = tui_project
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


@pytest.mark.server
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


@pytest.mark.server
@pytest.mark.anyio
async def test_a_bad_subset_is_an_error_line_not_a_crash(tui_project):
    app = NerdApp(tui_project[0])
    with FaultServer(route=lambda r: "ok") as server:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await fill_form(pilot, app.screen, server.base_url, "nope")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not app.screen.busy)
            assert "no subset or dataset named 'nope'" in screen_text(app)

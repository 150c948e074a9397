"""The loop in the app (Pilot, 80x24): L makes the next round in a worker while the person
goes on reviewing, says when the new student is ready and opens its batch; the reports
screen's Loop tab shows the rounds."""

from __future__ import annotations

import pytest

from bench.loop import review_to_gold
from core.jobs import loop
from tests.conftest import SIZE, screen_text, wait_for
from tui.app import NerdApp
from tui.screens.reports import ReportsScreen
from tui.screens.review import ReviewScreen


@pytest.mark.llm
@pytest.mark.model
@pytest.mark.slow
@pytest.mark.anyio
async def test_l_trains_the_next_round_while_reviewing_and_opens_its_batch(project):
    store = project
    first = [e for e in loop.advance(store, "dist", batch=4, holdout=2, epochs=1)
             if isinstance(e, loop.RoundReady)][0].round
    review_to_gold(store, first.annotation_run_id, 3)  # one sentence left to review meanwhile
    app = NerdApp(store.path, first.annotation_run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        await pilot.press("L")
        assert screen.training
        await pilot.press("a")  # the review goes on while the worker trains
        await wait_for(pilot, lambda: screen.round_ready is not None, timeout=300)
        # the status line says so once it has repainted (under load, a frame after the flag)
        await wait_for(pilot, lambda: "L opens it" in screen_text(app), timeout=10)
        second = store.loops.rounds(store.loops.find("loop-dist").id)[-1]
        assert (second.round, second.status) == (1, "ready")
        assert screen.round_ready == second.annotation_run_id
        await pilot.press("L")
        assert screen.session.run_id == second.annotation_run_id and app.run_id == second.annotation_run_id
        await pilot.press("f4", "l")
        reports = app.screen
        assert isinstance(reports, ReportsScreen)
        await pilot.pause()
        text = screen_text(app)
        assert "loop loop-dist over dist" in text and "teacher (" in text
    accepted = store.db.execute("select count(*) from reviews where run_id = ? and action = 'accept'",
                                [first.annotation_run_id]).fetchone()[0]
    assert accepted == 4  # three before, one while the round was made: none lost


@pytest.mark.anyio
async def test_l_outside_a_loop_says_so(tui_project):
    db, run = tui_project
    app = NerdApp(db, run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        assert "this run is no batch of a loop" in screen_text(app)

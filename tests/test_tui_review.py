"""The review screen driven by keys (Pilot) at 80x24: correcting, deciding, moving, ordering."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from core import layers
from core.data import corpora
from core.review.items import opening
from core.review.session import ReviewSession
from core.store import Store
from core.teacher.llm_output import import_llm_output
from tests.conftest import MARITIME, SIZE, add_student_run, reviews, screen_text, wait_for
from tui.app import NerdApp
from tui.screens.dialogs import HistoryScreen, NoteScreen
from tui.screens.review import ReviewScreen
from tui.widgets.sentence import OTHER, SentenceView, legend, styled


@pytest.mark.anyio
async def test_review_a_full_correction_with_keys(tui_project):
    db, run = tui_project
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
async def test_decide_reject_flag_keep_skip_and_reopen_from_the_history(tui_project):
    db, run = tui_project
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
async def test_a_busy_database_neither_freezes_nor_crashes_the_review(tui_project):
    """Another program holds the write lock: keys still answer at once, the changes wait in the
    journal (shown), and they are written, in order, once the lock is gone; quitting meanwhile
    loses nothing: the next session writes them."""
    db, run = tui_project
    other = sqlite3.connect(db, isolation_level=None)
    app = NerdApp(db)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        other.execute("begin immediate")
        started = time.monotonic()
        await pilot.press("a", "x", "j")  # two decisions and a move, all while locked
        assert time.monotonic() - started < 2 and screen.index == 3
        assert "database busy · 2 in the journal" in screen_text(app) and reviews(db, run) == []
        other.execute("commit")
        await wait_for(pilot, lambda: len(reviews(db, run)) == 2)
        await pilot.pause(0.1)
        assert "⚠ database busy" not in screen_text(app) and "done 2" in screen_text(app)
        assert screen.retry is None  # the retry timer stops with the last row written
        other.execute("begin immediate")
        await pilot.press("s", "q")  # a third decision while locked, then quit
    assert app.waiting == 1 and len(reviews(db, run)) == 2
    other.execute("commit")
    again = NerdApp(db)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.waiting == 0
    assert [action for _, _, action in reviews(db, run)] == ["accept", "reject", "skip"]
    other.close()


def running_timers(app: NerdApp) -> list[str]:
    """The timers that would wake an idle app (paused ones, like an unfocused input's blink, don't)."""
    return [f"{type(node).__name__}:{timer.name}" for node in [app, *app._registry]
            for timer in list(getattr(node, "_timers", ())) if timer._task and not timer._task.done()
            and timer._active.is_set()]


@pytest.mark.anyio
async def test_an_idle_app_runs_no_timer_and_uses_almost_no_cpu(tui_project):
    app = NerdApp(tui_project[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "f4", "t", "a", "f2")
        await pilot.pause(0.3)
        assert running_timers(app) == []
        started, cpu = time.monotonic(), time.process_time()
        await pilot.pause(1.0)
        assert (time.process_time() - cpu) / (time.monotonic() - started) < 0.05


@pytest.mark.anyio
async def test_the_side_panel_collapses_when_narrow_widens_when_wide_and_pages(tui_project):
    app = NerdApp(tui_project[0])
    async with app.run_test(size=(50, 20)) as pilot:
        pane = app.screen.query_one("#llm-pane")
        assert not pane.display and "Peter Blackburn" in screen_text(app)  # the sentence stays
        await pilot.press("p")  # p shows the panel instead
        assert pane.display and not app.screen.query_one("#sentence-pane").display
    app = NerdApp(tui_project[0])
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.screen.query_one("#llm-pane").outer_size.width == 50
    app = NerdApp(tui_project[0])
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.press("a", "a", "a", "h")  # the sentence with an unmatched name; a history
        pane = app.screen.query_one("#llm-pane")
        assert pane.display and pane.max_scroll_y > 0 and pane.scroll_y == 0
        await pilot.press("pagedown")
        assert pane.scroll_y > 0
        await pilot.press("pageup")
        assert pane.scroll_y == 0


@pytest.mark.anyio
async def test_reports_brackets_leave_the_review_alone_and_messages_stay_with_their_run(tui_project, tmp_path):
    db, run = tui_project
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
async def test_o_orders_least_confident_first_and_says_why(tui_project, monkeypatch):
    from core.review import order as review

    db, run = tui_project
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


@pytest.mark.slow
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


def test_a_type_the_schema_lacks_is_grey():
    """A layer made under an older schema keeps its tags; they show in the fallback colour."""
    text = styled(["Paris", "port"], ["B-LOC", "B-PORT"], MARITIME.colours())
    styles = {text.plain[span.start:span.end]: str(span.style) for span in text.spans}
    assert styles["Paris"] == f"black on {OTHER}" and styles["port"] == "black on #8fdc8f"
    assert legend(MARITIME).plain.split() == ["1", "VESSEL", "2", "PORT", "3", "COMPANY", "4", "PERSON",
                                              "5", "CARGO"]


@pytest.mark.anyio
async def test_correcting_the_student_marks_its_doubts_and_t_takes_its_second_type(tui_project):
    db, _ = tui_project
    run = add_student_run(db)
    app = NerdApp(db, run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        text = screen_text(app)
        assert "Paris ORG?" in text and "Blackburn PER?" not in text  # only the unsure one is marked
        assert "the student is 55% sure of this sentence" in text and "? Paris ORG 55% · 2nd LOC 41%" in text
        await pilot.press("tab", "t")  # the next entity, Paris: its second type
        assert screen.current.tags[3] == "B-LOC" and "Paris → LOC (the student's second choice)" in screen_text(app)
        await pilot.press("t")
        assert "t retypes an entity the student labelled" in screen_text(app)
        await pilot.press("o")
        text = screen_text(app)
        assert "order: least sure first, by the labeller's probabilities" in text
        assert "why here: the labeller is 55% sure 'Paris' is ORG" not in text  # Paris is LOC now
    assert [action for _, _, action in reviews(db, run)] == ["label"]



@pytest.mark.anyio
async def test_the_cursor_opens_on_the_word_the_student_was_least_sure_of(tui_project):
    db, _ = tui_project
    run = add_student_run(db, words=[3, 2, 5, 0, 1])  # Paris; then an O word: a name it may have missed
    app = NerdApp(db, run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, view = app.screen, app.screen.query_one(SentenceView)
        assert screen.caret.cursor == view.cursor == 3
        await pilot.press("t")  # no move: Paris takes its second type at once
        assert screen.current.tags[3] == "B-LOC"
        await pilot.press("a")
        assert screen.caret.cursor == 2 and view.cursor == 2  # the next sentence opens on its word


def test_a_sentence_opens_on_its_least_sure_word_else_the_first():
    tags = ["B-PER", "O", "O"]
    assert opening(tags, {"sentence": 0.4, "word": 2, "entities": []}) == 2
    assert opening(tags, {"sentence": 0.4, "entities": [[0, 1, "PER", 0.4, "ORG", 0.3]]}) == 0  # stored before
    assert opening(tags, None) == 0  # a teacher's answer has no probabilities
    assert opening(tags, {"sentence": 0.4, "word": 9, "entities": []}) == 2  # never past the sentence

@pytest.mark.anyio
async def test_adjudicating_walks_the_contested_sentences_with_each_version_beside(tui_project):
    db, run = tui_project
    with Store(db) as store:
        first, second = store.reviews.run_sentences(run)[:2]
        for name, paris in (("alice", "B-LOC"), ("bob", "B-ORG")):
            store.reviews.add(run, first.id, ["B-PER", "I-PER", "O", paris, "O"], [], "accept",
                              annotator=name, session=name)
            store.reviews.add(run, second.id, second.tags, [], "accept", annotator=name, session=name)
    app = NerdApp(db, run, annotator="judge", adjudicate=True)
    async with app.run_test(size=(120, 30)) as pilot:
        text = screen_text(app)
        assert "contested sentence 1/1" in text and "annotators differ" in text
        assert "alice: PER Peter Blackburn · LOC Paris" in text and "bob: PER Peter Blackburn · ORG Paris" in text
        await pilot.press("tab", "2", "a")  # Paris: LOC, then the settled answer
    with Store(db) as store:
        assert {sid: r.action for sid, r in store.reviews.latest(run).items()} == {
            first.id: "adjudicated", second.id: "accept"}  # the second: both said the same

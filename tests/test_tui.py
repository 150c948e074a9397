"""One snapshot of each screen at 80x24 (`pytest --snapshot-update` rewrites them after a
deliberate change)."""

from __future__ import annotations

import sqlite3

from tests.conftest import SIZE
from tui.app import NerdApp


def test_snapshot_review(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["right", "right", "right", "shift+left"])


def test_snapshot_review_unmatched(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["h"])


def test_snapshot_review_custom_schema(maritime, snap_compare):
    """The project's own types: legend, keys 1-5 and colours; "crude oil" labelled CARGO with 5."""
    assert snap_compare(NerdApp(maritime[0]), terminal_size=SIZE,
                        press=[*["right"] * 7, "shift+right", "5"])


def test_snapshot_review_decisions(tui_project, snap_compare):
    """Accepted, rejected, kept: the marks, the history in the side panel, the session's counts."""
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["tab", "2", "a", "x", "g"])


def test_snapshot_review_flag_note(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["f", *"ask Anna"])


def test_snapshot_review_history(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["a", "x", "s", "H"])


def test_snapshot_review_votes_order(tui_project, snap_compare):
    """o: least sure first; the why line under gold."""
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["o"])


def test_snapshot_review_narrow(tui_project, snap_compare):
    """Below 60 columns the side panel folds away and the sentence keeps the width."""
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=(50, 20), press=["tab"])


def test_snapshot_review_wide(tui_project, snap_compare):
    """From 120 columns the side panel is 50 wide."""
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=(120, 40), press=["a", "h"])


def test_snapshot_review_busy(tui_project, snap_compare):
    """Another program holds the write lock: the changes wait, and the status line says so."""
    other = sqlite3.connect(tui_project[0], isolation_level=None)

    async def lock_then_decide(pilot) -> None:
        other.execute("begin immediate")
        await pilot.press("tab", "2", "a")

    try:
        assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, run_before=lock_then_decide)
    finally:
        other.close()


def test_snapshot_help(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["question_mark"])


def test_snapshot_runs(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["f3"])


def test_snapshot_reports_quality(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["f4"])


def test_snapshot_reports_training(tui_project, snap_compare):
    assert snap_compare(NerdApp(tui_project[0]), terminal_size=SIZE, press=["f4", "t"])

"""Issue 33, step 1: no review edit is lost when the app dies while the database is busy, and
none is stored twice when the journal is replayed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.review.journal import Journal, Row
from core.review.session import ReviewSession
from core.store import Store
from tests.conftest import reviews

ROOT = Path(__file__).resolve().parents[1]


def child(db: Path, marker: Path, keys: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.review_child", str(db), str(marker), keys, *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the app never got its keys done"
        time.sleep(0.1)
    return path.read_text()


def edit_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [e for (e,) in conn.execute("select edit_id from reviews order by id")]


def journal_lines(db: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(Path(f"{db}.journal").glob("*.jsonl"))
            for line in path.read_text().splitlines()]


def test_edits_made_while_locked_survive_a_sigkill_and_are_stored_once(tui_project, tmp_path):
    db, run = tui_project
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("begin exclusive")
    proc = child(db, tmp_path / "done", "a x s")  # accept, reject, skip: three rows, all journaled
    try:
        assert wait_for_file(tmp_path / "done", proc) == "3"
        assert [row["action"] for row in journal_lines(db)] == ["accept", "reject", "skip"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    other.execute("commit")
    other.close()
    assert reviews(db, run) == []  # nothing reached the database before the kill
    with Store(db) as store:
        session = ReviewSession(store, run)  # what opening the app does: the journal is taken over
        assert not session.pending
    assert [action for _, _, action in reviews(db, run)] == ["accept", "reject", "skip"]
    assert len(set(edit_ids(db))) == 3 and journal_lines(db) == []


def test_a_kill_after_the_commit_and_before_the_journal_is_emptied_stores_each_edit_once(tui_project,
                                                                                        tmp_path):
    db, run = tui_project
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("begin exclusive")
    proc = child(db, tmp_path / "done", "a x", "--die-on-clear")
    try:
        assert wait_for_file(tmp_path / "done", proc) == "2"
        other.execute("commit")  # the app's retry writes both rows, then dies emptying the journal
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    other.close()
    assert proc.returncode == -signal.SIGKILL
    assert [action for _, _, action in reviews(db, run)] == ["accept", "reject"]
    assert [row["action"] for row in journal_lines(db)] == ["accept", "reject"]  # committed, still there
    with Store(db) as store:
        ReviewSession(store, run)  # replays both: the database has them already
    assert [action for _, _, action in reviews(db, run)] == ["accept", "reject"]
    assert journal_lines(db) == []


def test_a_live_processs_journal_is_left_alone_and_a_torn_last_line_is_no_edit(tmp_path):
    db = tmp_path / "p.db"
    folder = Path(f"{db}.journal")
    folder.mkdir()
    row = Row(1, 2, ["O"], [], "accept", "accepted", "", "e1")
    dead = folder / "123-dead.jsonl"
    dead.write_text(json.dumps(row.__dict__) + "\n" + '{"run_id": 1, "sent')  # cut off mid-write
    live = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
        " print('locked', flush=True); time.sleep(60)"), str(folder / "456-live.jsonl")],
        stdout=subprocess.PIPE)
    try:
        assert live.stdout.readline() == b"locked\n"
        journal = Journal(db)
        assert journal.take_over() == 1 and list(journal.rows) == [row]
        assert not dead.exists() and (folder / "456-live.jsonl").exists()
    finally:
        live.kill()
        live.wait()


def test_an_edit_written_twice_is_stored_once(review_project):
    store, run = review_project
    for _ in range(2):
        store.reviews.add(run, 1, ["O"] * 5, [], "accept", edit_id="same")
    store.reviews.add(run, 1, ["O"] * 5, [], "accept")  # no id (older callers): always a new row
    store.reviews.add(run, 1, ["O"] * 5, [], "accept")
    assert [e for e in edit_ids(store.path)] == ["same", None, None]


@pytest.fixture(autouse=True)
def _fresh_journals():
    """Each test starts with this process holding no journal (they are cached per project)."""
    Journal._open.clear()

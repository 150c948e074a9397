"""Issue 33: a team works with one project file each, merges them, measures its agreement and
settles the differences; the settled layer is what training and the exports take."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from core.review.agreement import agreement
from core.store import Store
from core.student.examples import layer_examples
from tests.conftest import SIZE, build_project, screen_text
from tui.app import NerdApp
from tui.cli import main


def nerd(db, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(db)])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


async def review(db, annotator: str, *keys: str) -> None:
    """An annotator at the real review screen, keys and all."""
    app = NerdApp(db, 1, annotator=annotator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*keys)


@pytest.mark.anyio
async def test_two_annotators_two_files_merged_agreed_and_settled(tmp_path):
    base, run = build_project(tmp_path, "team.db")
    alice, bob = tmp_path / "alice.db", tmp_path / "bob.db"
    for copy in (alice, bob):  # each begins from a copy of the project
        shutil.copy(base, copy)
    await review(alice, "alice", "tab", "2", "a", "a", "a")  # Paris LOC; accept the next two
    await review(bob, "bob", "a", "a", "x")  # Paris stays ORG; rejects the third

    said = nerd(base, "merge", "--reviews", str(alice), str(bob))
    assert f"{alice}: run 1: 4 rows added, 0 already here (alice)" in said
    assert f"{bob}: run 1: 3 rows added, 0 already here (bob)" in said
    assert "0 rows added, 4 already here" in nerd(base, "merge", "--reviews", str(alice))  # once only

    with Store(base) as store:
        found = agreement(store, run)
        (pair,) = found.pairs
        assert (found.annotators, pair.sentences, pair.overall.f1) == (["alice", "bob"], 2, 0.75)
        assert [d.sentence_id for d in found.disagreements] == [1]  # Paris; bob's rejection is no labels

    judge = NerdApp(base, run, annotator="judge", adjudicate=True)
    async with judge.run_test(size=(120, 30)) as pilot:
        text = screen_text(judge)
        assert "contested sentence 1/2" in text and "alice: PER Peter Blackburn · LOC Paris" in text
        await pilot.press("tab", "2", "a", "a")  # Paris LOC, settled; the third accepted as the run has it

    with Store(base) as store:
        settled = {e.sentence_id: e.tags for e in layer_examples(store, "tiny@review:1", "original")}
    assert settled == {1: ["B-PER", "I-PER", "O", "B-LOC", "O"], 2: ["B-ORG", "O", "B-MISC", "O", "O"],
                       3: ["O", "B-LOC", "O", "B-LOC", "O", "B-PER", "O"]}  # what training takes

    out = tmp_path / "settled.jsonl"
    nerd(base, "export", "prodigy", "tiny", "--layer", "review:1", "--out", str(out))
    tasks = [json.loads(line) for line in out.read_text().splitlines()]
    assert [t["_annotator_id"] for t in tasks] == ["judge", "bob", "judge"]  # who settled each
    assert all(t["_session_id"] for t in tasks)
    labelstudio = tmp_path / "ls.json"
    nerd(base, "export", "labelstudio", "tiny", "--layer", "review:1/alice", "--out", str(labelstudio))
    (first, *_) = json.loads(labelstudio.read_text())
    assert first["annotations"][0]["completed_by"] == "alice"


def test_a_file_of_other_data_or_another_run_is_refused_and_nothing_is_written(tmp_path):
    base, _ = build_project(tmp_path, "team.db")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other, _ = build_project(other_dir, "other.db")
    with Store(other) as store:
        store.reviews.add(1, 1, ["O"] * 5, [], "accept", annotator="eve")
        store.db.execute("update datasets set content_hash = 'not the same data'")
    said = nerd(base, "merge", "--reviews", str(other), code=2)
    assert "1 reviewed sentences of run 1 are not in this project (its data differs)" in said, said
    lonely = tmp_path / "lonely.db"
    shutil.copy(base, lonely)
    with Store(lonely) as store:
        run = store.annotations.create(name="elsewhere", subset_id=1, backend="openai", model="gpt-x",
                                       prompt="standard-v1", template_version="v1", prefix_hash="abc",
                                       params={})
        store.reviews.add(1, 1, ["O"] * 5, [], "accept", annotator="eve")
        store.reviews.add(run, 1, ["O"] * 5, [], "accept", annotator="eve")
    said = nerd(base, "merge", "--reviews", str(lonely), code=2)
    assert f"run {run} (elsewhere) has no counterpart here: no run asked openai gpt-x" in said, said
    with Store(base) as store:
        assert store.reviews.log(1) == []  # the good run of that file was not written either
    assert "this is the project itself" in nerd(base, "merge", "--reviews", str(base), code=2)

from __future__ import annotations

from click.testing import CliRunner

from core.experiments import Sources, jobs, results, run_queue, to_csv, to_markdown
from tests.test_training import project  # noqa: F401  (fixture)
from tui.cli import main


def test_phase2_is_groups_a_to_e_with_and_without_decay():
    queue = jobs("phase2", Sources(), preset="paper", seeds=5)
    assert len(queue) == 5 * 2 * 5
    by_group = {j.group: j.config for j in queue if j.seed == 1 and j.decay}
    assert by_group["A"].schedule == "pure-original" and by_group["A"].distilled == []
    assert by_group["C"].distilled == ["distill-1000@run:latest", "bbc-long-966@run:latest"]
    assert by_group["E"].schedule == "simple-mix" and by_group["E"].original == ["original-1000"]
    paper = by_group["D"]
    assert (paper.batch_size, paper.lr, paper.epochs, paper.lr_schedule) == (4, 1e-5, 20, "decay")
    no_decay = next(j for j in queue if j.group == "D" and not j.decay)
    assert no_decay.config.lr_schedule == "constant"
    assert len({j.name for j in queue}) == len(queue)


def test_phase3_covers_every_pattern_and_only_filters():
    queue = jobs("phase3", Sources(), seeds=1, decays=(True,))
    assert {j.group for j in queue} >= {"simple-mix", "sigmoid:32", "power:0.2", "cosine", "all"}
    assert len(queue) == 17
    only = jobs("phase3", Sources(), seeds=2, only=["sigmoid:8"], decays=(False,))
    assert [j.name for j in only] == ["phase3/sigmoid:8/no-decay/seed1", "phase3/sigmoid:8/no-decay/seed2"]


def test_queue_runs_resumes_and_tabulates(project):  # noqa: F811
    sources = Sources("dist@lexicon:orig", "dist@roundtrip", "orig")
    base = {"dev": "", "test": "held", "epochs": 2}
    queue = jobs("phase2", sources, preset="cpu", seeds=2, only=["A", "D"], decays=(False,), base=base)
    assert all(job.config.epochs == 2 and job.config.test == "held" for job in queue)  # base wins
    first = run_queue(project, queue)
    again = run_queue(project, queue)  # finished jobs are found, not trained again
    assert [run for _, run in first] == [run for _, run in again]
    rows = results(project, queue, test="held")
    assert {(r.group, r.runs) for r in rows} == {("A", 2), ("D", 2)}
    markdown = to_markdown(rows, "t")
    assert "| A | no | 2 |" in markdown and " ± " in markdown
    assert to_csv(rows).splitlines()[0].startswith("group,decay,runs,precision_mean")


def test_cli_dry_run_lists_the_queue(tmp_path):
    result = CliRunner().invoke(main, ["experiment", "phase2", "--seeds", "1", "--only", "B",
                                       "--dry-run", "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["todo", "phase2/B/decay/seed1", "todo", "phase2/B/no-decay/seed1"]
    bad = CliRunner().invoke(main, ["experiment", "phase2", "--only", "Z", "--dry-run",
                                    "--db", str(tmp_path / "e.db")])
    assert bad.exit_code == 2 and "not in phase2" in bad.output

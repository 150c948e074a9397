from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from core.data import corpora
from core.jobs.experiments import Sources, jobs, prepare, run_queue
from core.jobs.results import Row, curve_markdown, default_pairs, paired, report
from core.student.config import TrainingError
from tui.cli import main

pytestmark = pytest.mark.model  # queues of real training runs


def test_phase2_is_groups_a_to_e_with_and_without_decay():
    queue = jobs("phase2", Sources(), preset="paper", seeds=5)
    assert len(queue) == 5 * 2 * 5
    by_group = {j.group: j.config for j in queue if j.seed == 1 and j.setting == "paper"}
    assert by_group["A"].schedule == "pure-original" and by_group["A"].distilled == []
    assert by_group["C"].distilled == ["distill-1000@run:distill-1000-pool1000",
                                       "bbc-long-966@run:bbc-long-966-pool1000"]
    assert by_group["E"].schedule == "simple-mix" and by_group["E"].original == ["original-1000"]
    paper = by_group["D"]
    assert (paper.batch_size, paper.lr, paper.epochs, paper.lr_schedule) == (4, 1e-5, 20, "decay")
    no_decay = next(j for j in queue if j.group == "D" and j.setting == "paper-constant")
    assert no_decay.config.lr_schedule == "constant"
    assert len({j.name for j in queue}) == len(queue)


def test_a_preset_without_decay_is_not_run_twice_and_departures_name_the_setting():
    queue = jobs("phase2", Sources(), preset="cpu", seeds=3)
    assert len(queue) == 5 * 3 and {j.setting for j in queue} == {"cpu"}
    frozen = jobs("phase2", Sources(), preset="cpu", seeds=1, only=["A"],
                  base={"freeze_embeddings": True, "epochs": 10})
    assert [j.name for j in frozen] == ["phase2/cpu-10ep+frozen/A/seed1"]


def test_phase3_covers_every_pattern_and_only_filters():
    queue = jobs("phase3", Sources(), seeds=1, decays=(True,))
    assert {j.group for j in queue} >= {"simple-mix", "sigmoid:32", "power:0.2", "cosine", "all"}
    assert len(queue) == 17
    only = jobs("phase3", Sources(), seeds=2, only=["sigmoid:8"], decays=(False,))
    assert [j.name for j in only] == ["phase3/paper-constant/sigmoid:8/seed1",
                                      "phase3/paper-constant/sigmoid:8/seed2"]


def test_curve_pairs_each_size_with_a_teacher_whose_pool_is_those_sentences():
    queue = jobs("curve", Sources(), preset="cpu", seeds=1, sizes=(100, 1000),
                 recipes=("human", "two-stage"))
    by_group = {j.group: j.config for j in queue}
    assert list(by_group) == ["100/human", "100/two-stage", "1000/human", "1000/two-stage"]
    assert by_group["100/human"].distilled == [] and by_group["100/human"].pretrain_epochs == 0
    two = by_group["100/two-stage"]
    assert two.original == ["original-1000-first-100"] and two.pretrain_epochs == 10
    assert two.distilled == ["distill-1000@run:distill-1000-pool100"]
    assert two.schedule == "pure-original"



def test_self_training_recipes_start_from_the_human_run_of_their_size_and_label_the_unlabelled_text():
    queue = jobs("curve", Sources(unlabelled="spare", wide="rest"), preset="cpu", seeds=2, sizes=(250,),
                 recipes=("human", "self-train", "self-train-all", "self-train-wide"))
    by_name = {j.name: j for j in queue}
    sure, every = by_name["curve/cpu/250/self-train/seed2"], by_name["curve/cpu/250/self-train-all/seed2"]
    wide = by_name["curve/cpu/250/self-train-wide/seed2"]
    assert (sure.unlabelled, sure.threshold, every.threshold) == ("spare", 0.9, None)
    assert (wide.unlabelled, wide.threshold, wide.config.pretrain_epochs) == ("rest", None, 3)
    assert sure.first == every.first == wide.first == "curve/cpu/250/human/seed2" and sure.first in by_name
    assert sure.config == by_name[sure.first].config  # so round 0 is that very run, trained once
    assert replace(wide.config, pretrain_epochs=0) == by_name[sure.first].config
    assert by_name["curve/cpu/250/human/seed1"].unlabelled == ""


def test_prepare_names_the_sample_each_self_training_text_needs(project):  # noqa: F811
    sources = Sources(original="orig", unlabelled="spare", wide="rest")
    queue = jobs("curve", sources, preset="cpu", seeds=1, sizes=(4,), recipes=("self-train", "self-train-wide"))
    assert prepare(project, "curve", queue, sources, (4,)) == [
        f"nerd sample synth --name {name} --size {size} --exclude orig  # the text self-training labels:"
        " never the dev or test sentences" for name, size in (("rest", 32), ("spare", 32))]  # 48 less 16

def test_prepare_makes_nested_subsets_and_names_the_missing_annotation_runs(project):  # noqa: F811
    sources = Sources(original="orig", curve_distilled="dist@run:dist-pool{size}")
    queue = jobs("curve", sources, preset="cpu", seeds=1, sizes=(4, 8))
    needed = prepare(project, "curve", queue, sources, (4, 8))
    assert needed == [f"nerd annotate dist --small-teacher --pool orig-first-{n} --name dist-pool{n}"
                      for n in (4, 8)]
    small, large = (set(project.corpora.subset_sentence_ids(corpora.resolve_subset(project, f"orig-first-{n}")))
                    for n in (4, 8))
    assert len(small) == 4 and len(large) == 8 and small < large
    human_only = [j for j in queue if j.group.endswith("/human")]
    assert prepare(project, "curve", human_only, sources, (4, 8)) == []
    # A teacher run still labelling (or stopped part-way) is not ready: training would take its
    # part-labelled layer without a word.
    subset = corpora.resolve_subset(project, "dist")
    run = project.annotations.create(name="dist-pool4", subset_id=subset, backend="llama-cpp", model="m",
                                     prompt="standard", template_version="1", prefix_hash=None, params={})
    assert prepare(project, "curve", queue, sources, (4, 8))[0].endswith("--name dist-pool4  # running, 0 done")
    project.annotations.set_status(run, "finished")
    assert len(prepare(project, "curve", queue, sources, (4, 8))) == 1


def test_without_bbc_phase3_says_so_in_its_setting_and_groups_c_and_e_ask_for_it():
    no_bbc = Sources(bbc_distilled="")
    queue = jobs("phase3", no_bbc, preset="cpu", seeds=1, only=["simple-mix"])
    assert [j.name for j in queue] == ["phase3/cpu-no-bbc/simple-mix/seed1"]
    assert queue[0].config.distilled == ["distill-1000@run:distill-1000-pool1000"]
    assert {j.group for j in jobs("phase2", no_bbc, preset="cpu", seeds=1)} == {"A", "B", "D"}
    with pytest.raises(TrainingError, match="groups C and E train on the BBC distilled data"):
        jobs("phase2", no_bbc, preset="cpu", seeds=1, only=["E"])


def test_paired_differences_say_whether_they_exceed_seed_noise():
    def row(group: str, f1: dict[int, float]) -> Row:
        return Row(group, "cpu", sorted(f1), {}, f1)

    a = row("A", {1: 0.80, 2: 0.79, 3: 0.81})
    clear = row("D", {1: 0.79, 2: 0.778, 3: 0.799})  # ~1.1 points lower every seed
    noisy = row("E", {1: 0.81, 2: 0.78, 3: 0.815})
    single = row("B", {1: 0.70})
    pairs = [((g, "cpu"), ("A", "cpu")) for g in ("D", "E", "B")]
    found = {p.group: p for p in paired([a, clear, noisy, single], pairs)}
    assert found["D"].verdict == "differs (95 %)" and round(found["D"].mean, 3) == -0.011
    assert found["E"].verdict == "within seed noise"
    assert found["B"].verdict == "one seed: cannot tell"


def test_curve_recipes_meet_their_epochs_control_and_variants_their_base_setting():
    def row(group: str, setting: str, f1: float) -> Row:
        return Row(group, setting, [1], {"micro_f1": (f1, 0.0)}, {1: f1})

    rows = [row("100/human", "cpu", 0.54), row("100/two-stage", "cpu", 0.62),
            row("100/human", "cpu-30ep", 0.61), row("1000/human", "cpu", 0.80)]
    pairs = default_pairs("curve", rows)
    assert pairs == [(("100/two-stage", "cpu"), ("100/human", "cpu")),  # same setting
                     (("100/two-stage", "cpu"), ("100/human", "cpu-30ep")),  # the epochs control
                     (("100/human", "cpu-30ep"), ("100/human", "cpu"))]  # a variant with its base
    control = paired(rows, pairs)[1]
    assert control.reference_setting == "cpu-30ep" and round(control.mean, 3) == 0.01
    table = curve_markdown(rows, "curve")
    assert "| human sentences | human (cpu) | human (cpu-30ep) | two-stage (cpu) |" in table
    assert "| 100 | 0.540 (1) | 0.610 (1) | 0.620 (1) |" in table
    assert "| 1000 | 0.800 (1) | - | - |" in table
    frozen = default_pairs("phase2", [row("A", "cpu", 0.8), row("D", "cpu", 0.78), row("A", "cpu+frozen", 0.79)])
    assert frozen == [(("D", "cpu"), ("A", "cpu")), (("A", "cpu+frozen"), ("A", "cpu"))]


def test_queue_runs_resumes_and_tabulates(project):  # noqa: F811
    sources = Sources("dist@lexicon:orig", "dist@roundtrip", "orig")
    base = {"dev": "", "test": "held", "epochs": 2}
    queue = jobs("phase2", sources, preset="cpu", seeds=2, only=["A", "D"], base=base)
    assert all(job.config.epochs == 2 and job.config.test == "held" for job in queue)  # base wins
    written = []
    first = run_queue(project, queue, on_done=lambda job, run: written.append(job.name))
    assert written == [job.name for job in queue]  # tables can be rewritten after every run
    again = run_queue(project, queue)  # finished jobs are found, not trained again
    assert [run for _, run in first] == [run for _, run in again]
    markdown, table = report(project, "phase2", test="held")
    assert "| A | cpu-2ep | 1,2 |" in markdown and "| D | cpu-2ep | 1,2 |" in markdown
    assert "| D | A | cpu-2ep | 1,2 |" in markdown  # paired by seed
    assert table.splitlines()[0].startswith("group,setting,runs,seeds,precision_mean")


def test_cli_dry_run_lists_the_queue(tmp_path):
    result = CliRunner().invoke(main, ["experiment", "phase2", "--seeds", "1", "--only", "B",
                                       "--preset", "paper", "--dry-run", "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        "todo", "phase2/paper/B/seed1", "todo", "phase2/paper-constant/B/seed1",
        "needs", "nerd", "annotate", "distill-1000", "--small-teacher", "--pool", "original-1000",
        "--name", "distill-1000-pool1000"]
    bad = CliRunner().invoke(main, ["experiment", "phase2", "--only", "Z", "--dry-run",
                                    "--db", str(tmp_path / "e.db")])
    assert bad.exit_code == 2 and "not in phase2" in bad.output


def test_cli_curve_on_a_project_of_its_own_trains_two_stages_and_tabulates(project, tmp_path):  # noqa: F811
    """No CoNLL here: the curve's human subsets are made, two stages run, `--test` is scored."""
    args = ["experiment", "curve", "--original", "orig", "--curve-distilled", "dist@lexicon:orig",
            "--sizes", "4,8", "--seeds", "1", "--epochs", "1", "--test", "held",
            "--out", str(tmp_path / "out"), "--db", str(project.path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    two_stage = project.training.run(project.training.finished_named("curve/cpu-1ep/4/two-stage/seed1"))
    assert two_stage.config["pretrain_epochs"] == 10 and two_stage.config["original"] == ["orig-first-4"]
    rows = project.training.metrics(two_stage.id)
    assert [(r["n_distilled"], r["n_original"]) for r in rows] == [(16, 0)] * 10 + [(0, 4)]
    table = (tmp_path / "out" / "curve.md").read_text()
    assert "| human sentences | human (cpu-1ep) | two-stage (cpu-1ep) |" in table  # recipes across
    assert "\n| 4 | " in table and "\n| 8 | " in table  # sizes down
    assert "![the learning curve](curve.png)" in table  # the plot beside the table
    assert (tmp_path / "out" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 8/two-stage | 8/human | cpu-1ep | 1 |" in table  # paired with human-only at its size
    runs = len(project.training.finished_names())
    (tmp_path / "out" / "curve.md").unlink()
    tables = CliRunner().invoke(main, [*args, "--seeds", "2", "--tables-only"])  # seed 2 is not trained
    assert tables.exit_code == 0, tables.output
    assert len(project.training.finished_names()) == runs
    assert "| 8/two-stage | 8/human | cpu-1ep | 1 |" in (tmp_path / "out" / "curve.md").read_text()
    silent = CliRunner().invoke(main, [*args[:-4], "--test", "", "--db", str(project.path)])
    assert silent.exit_code == 0 and "nothing to tabulate" in silent.output



def test_cli_curve_self_trains_from_the_human_runs_and_chooses_on_dev(project, tmp_path):  # noqa: F811
    args = ["experiment", "curve", "--original", "orig", "--recipes", "human,self-train-all",
            "--unlabelled", "spare", "--sizes", "4", "--seeds", "1", "--epochs", "1", "--dev", "held",
            "--test", "held", "--out", str(tmp_path / "out"), "--db", str(project.path)]
    missing = CliRunner().invoke(main, args)
    assert missing.exit_code == 1 and "nerd sample " in missing.output and "--name spare" in missing.output
    corpora.sample(project, project.corpora.datasets()[0].name, "spare", 6, seed=3, exclude=["held"])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    names = sorted(project.training.finished_names())
    assert names == ["curve/cpu-1ep/4/human/seed1", "curve/cpu-1ep/4/self-train-all/seed1"]  # one round 0
    every = project.training.finished_named("curve/cpu-1ep/4/self-train-all/seed1")
    assert project.training.run(every).config["distilled_filter"] == "all"
    assert project.training.metrics(every)[0]["n_distilled"] == 6  # every labelled sentence first
    table = (tmp_path / "out" / "curve.md").read_text()
    assert "| human sentences | recipe | seeds | dev F1 | dev Δ, paired with human | test F1 |" in table
    assert "(one seed: cannot tell) |" in table  # self-training against human-only, on dev
    assert table.count("| chosen |") == 1  # one recipe a size, by dev F1
    assert "| 4/self-train-all | 4/human | cpu-1ep | 1 |" in table  # paired with its round 0
    args[5] = "human,self-train"  # a one-epoch student is 0.9 sure of nothing: said, not trained on
    unsure = CliRunner().invoke(main, args)
    assert unsure.exit_code == 2 and "round 1: the student was 0.9 sure of none of spare's 6" in unsure.output

def test_a_job_another_process_is_training_is_left_to_it(project, tmp_path):  # noqa: F811
    """Workers sharing a queue: the run's lock is held by another process, so this one refuses
    to train it (`nerd train` says so) and a queue goes on to its next job; once that process
    is gone the run trains here."""
    import subprocess
    import sys

    from core.student.config import TrainingBusy
    from core.student.training import find_or_create, train

    base = {"dev": "", "test": "held", "epochs": 1}
    queue = jobs("phase2", Sources("dist@lexicon:orig", "", "orig"), preset="cpu", seeds=1,
                 only=["A", "B"], base=base)
    busy = queue[0]
    run = find_or_create(project, busy.config, busy.name, project.path.parent / "runs")
    lock = tmp_path / "runs" / f"train-{run}" / "train.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w');"
         " fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)", str(lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TrainingBusy, match=f"{busy.name!r} is being trained by another process"):
            train(project, busy.config, busy.name)
        cli = CliRunner().invoke(main, [
            "experiment", "phase2", "--only", "A", "--seeds", "1", "--epochs", "1", "--original", "orig",
            "--conll-distilled", "dist@lexicon:orig", "--bbc-distilled", "", "--test", "held",
            "--out", str(tmp_path / "out"), "--db", str(project.path)])
        assert cli.exit_code == 0 and f"another process is training {busy.name}" in cli.output, cli.output
        left = []
        done = run_queue(project, queue, on_busy=left.append)
        assert left == [busy] and [job for job, _ in done] == [queue[1]]
        assert project.training.run(run).status != "finished"
    finally:
        holder.kill()
        holder.wait()
    assert train(project, busy.config, busy.name) == run  # the same run, now trained here
    assert project.training.run(run).status == "finished"

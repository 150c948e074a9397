"""The main job end to end on a data dir the test writes: real teacher, real training, ONNX."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.data.conll import write_conll
from tests.conftest import shared_data, synthetic
from tui.cli import main


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data" / "conll2003"
    folder.mkdir(parents=True)
    for split, n, seed in (("train", 2050, 1), ("dev", 60, 2), ("test", 80, 3)):
        with (folder / f"{split}.txt").open("w") as fh:
            write_conll(synthetic(n, seed), fh)
    return folder.parent


@pytest.mark.llm
@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_resumes(data_dir, tmp_path):
    db = str(tmp_path / "demo.db")
    args = ["demo", "--data-dir", str(data_dir), "--annotate", "4", "--epochs", "2", "--db", db]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    output = result.output
    for expected in ("Corpora", "original-1000", "Teacher behaviour", "nerd demo: CoNLL-2003 test",
                     "student, human only", "student + teacher", "ONNX int8",
                     "teacher (Gemma 270M", "The full setting"):
        assert expected in output, expected
    assert (tmp_path / "artifacts" / "nerd-onnx-int8" / "model.onnx").is_file()
    again = CliRunner().invoke(main, args)  # everything is found done: no new run of anything
    assert again.exit_code == 0, again.output
    assert "annotation run 1: 4 sentences, 0 asked" in again.output
    from core.store import Store

    with Store(db) as store:
        assert store.db["annotation_runs"].count == 1 and store.db["training_runs"].count == 2
        human, taught = store.training.runs()[::-1]  # newest first
        assert human.config["distilled"] == [] and taught.config["distilled"] == ["distill-first-4@run:1"]
        assert human.config["epochs"] == taught.config["epochs"] == 2  # the same human budget
        assert taught.config["pretrain_epochs"] == 10


@pytest.mark.data
@pytest.mark.skipif(shared_data() is None, reason="CoNLL-2003 not found (set NERD_DATA_DIR)")
def test_demo_report_on_the_real_data(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(shared_data()), "--annotate", "0",
                                       "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 0, result.output
    assert "23499" in result.output and "5648" in result.output
    assert "lexicon:original-1000" in result.output and "roundtrip" in result.output

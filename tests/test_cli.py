from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.conftest import write_bad
from tui.cli import main


def test_import_sample_stats_export_report(nerd, conll_file, tmp_path):
    assert "imported tiny: 5 sentences" in nerd("import", "conll", str(conll_file), "--name", "tiny")
    assert "nothing added" in nerd("import", "conll", str(conll_file), "--name", "tiny")
    nerd("sample", "tiny", "--name", "pick", "--size", "3", "--seed", "5")
    stats = nerd("stats")
    assert "tiny" in stats and "pick" in stats
    target = tmp_path / "out.conll"
    nerd("export", "conll", "tiny", "--out", str(target))
    assert target.read_text().splitlines()[:2] == ["EU B-ORG", "rejects O"]
    lines = nerd("export", "jsonl", "pick").strip().splitlines()
    assert len(lines) == 3 and "tokens" in json.loads(lines[0])
    markdown = nerd("report", "tiny", "--pred", "roundtrip", "--pred", "lexicon:pick",
                    "--format", "markdown")
    assert "| Overall | Precision | 1.000 |" in markdown
    data = json.loads(nerd("report", "tiny", "--pred", "roundtrip", "--format", "json"))
    assert data["roundtrip"]["support"] == 10


def test_import_text(nerd, articles):
    assert "1 duplicate documents dropped" in nerd("import", "text", str(articles), "--name", "news")


def test_bad_file_is_one_line_error(nerd, tmp_path):
    path = write_bad(tmp_path, "EU B-ORG\nsaid B-FOO\n")
    output = nerd("import", "conll", str(path), "--name", "bad", code=2)
    assert f"{path}:2: unknown tag 'B-FOO'" in output.replace("\n", "")
    assert "Traceback" not in output


def test_unknown_layer_and_subset(nerd, conll_file):
    nerd("import", "conll", str(conll_file), "--name", "tiny")
    assert "unknown layer 'silver'" in nerd("report", "tiny", "--pred", "silver", code=2)
    assert "no subset or dataset named 'nope'" in nerd("report", "nope", "--pred", "gold", code=2)


@pytest.mark.parametrize("command", [[], ["init"], ["import", "conll"], ["import", "text"],
                                     ["sample"], ["stats"], ["export"], ["report"], ["demo"]])
def test_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_real_process_reports_missing_data_dir(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "demo", "--data-dir", str(tmp_path / "none"),
         "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "data not found; looked in" in result.stderr and "--data-dir" in result.stderr
    assert "Traceback" not in result.stderr

"""A user error is one line and exit status 2; `--debug` adds its traceback; a bug is never
swallowed into an `error:` line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from common.errors import NerdError
from common.paths import DataDirError
from core.data.conll import CorpusError
from core.data.corpora import NotFound, SubsetError
from core.data.evaluate import ScoringError
from core.layers import LayerError
from core.ship.deploy import DeployError
from core.store import StoreError
from core.student.config import TrainingError
from core.student.schedules import ScheduleError
from core.teacher.prompts import PromptError
from models.encoder import EncoderError
from models.llama_backend import LlamaCrashed
from models.llm import BackendError
from models.runtime import BundleError
from tui.cli import main

USER_ERRORS = [CorpusError, NotFound, SubsetError, StoreError, DataDirError, LayerError, TrainingError,
               PromptError, BackendError, LlamaCrashed, EncoderError, BundleError, ScoringError,
               ScheduleError, DeployError]


@pytest.mark.parametrize("error", USER_ERRORS, ids=lambda e: e.__name__)
def test_user_errors_are_nerd_errors_and_keep_their_old_base(error):
    assert issubclass(error, NerdError)
    assert issubclass(error, (ValueError, LookupError, RuntimeError, OSError))


def test_a_user_error_is_one_line_with_exit_status_2():
    result = CliRunner().invoke(main, ["schedules", "wobble"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1
    assert lines[0].startswith("error: unknown schedule 'wobble'")


def test_debug_shows_the_traceback_of_a_user_error_too():
    result = CliRunner().invoke(main, ["--debug", "schedules", "wobble"])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.output and "ScheduleError" in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: unknown schedule 'wobble'")


def test_a_bug_is_not_swallowed_into_an_error_line(monkeypatch):
    from core.student import schedules

    def broken(spec):
        raise ValueError("an internal bug")  # a ValueError, but not a NerdError

    monkeypatch.setattr(schedules, "parse_schedule", broken)
    result = CliRunner().invoke(main, ["schedules", "cosine"])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)
    assert "error:" not in result.output


def test_a_bug_shows_its_traceback_in_a_real_process():
    code = ("import sys; from core.student import schedules; from tui.cli import main\n"
            "def broken(spec): raise KeyError('an internal bug')\n"
            "schedules.parse_schedule = broken\n"
            "main(['schedules', 'cosine'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "KeyError" in result.stderr
    assert "error:" not in result.stderr

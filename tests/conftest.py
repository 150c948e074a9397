"""Fixtures the project writes itself: no test reads the licensed corpora unless marked `data`."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import Store

# Three documents, five sentences, IOB2, four columns: the shape of CoNLL-2003.
CONLL_IOB2 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP B-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O

The DT B-NP O
European NNP I-NP B-ORG
Commission NNP I-NP I-ORG
said VBD B-VP O
on IN B-PP O
Thursday NNP B-NP O
it PRP B-NP O
disagreed VBD B-VP O
with IN B-PP O
German JJ B-NP B-MISC
advice NN I-NP O
. . O O

-DOCSTART- -X- -X- O

Only RB B-NP O
France NNP I-NP B-LOC
and CC I-NP O
Britain NNP I-NP B-LOC
backed VBD B-VP O
Fischler NNP B-NP B-PER
's POS B-NP O
proposal NN I-NP O
. . O O
"""

ARTICLE = """Ad sales boost Time Warner profit

Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (\u00a3600m) for the three months to December, from $639m year-earlier. Mr. Smith said it's Germany's best quarter.

The firm, which is now one of the biggest investors in Google, benefited from sales of high-speed internet connections.
"""


@pytest.fixture
def conll_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.conll"
    path.write_text(CONLL_IOB2)
    return path


def write_bad(tmp_path: Path, text: str, name: str = "bad.conll") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    (folder / "business").mkdir(parents=True)
    (folder / "tech").mkdir()
    (folder / "business" / "001.txt").write_text(ARTICLE)
    (folder / "business" / "002.txt").write_text(ARTICLE)  # an exact duplicate, as in BBC
    (folder / "tech" / "001.txt").write_bytes(
        "Games maker hits \xa3 target\n\nThe firm said sales rose. Profits fell.\n".encode("latin-1")
    )
    return folder


@pytest.fixture
def nerd(tmp_path: Path):
    """`nerd(*args, code=0) -> output`: the CLI on a project in tmp_path, exit code checked."""
    from click.testing import CliRunner

    from tui.cli import main

    runner = CliRunner()
    db = str(tmp_path / "cli.db")

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, [*args, "--db", db])
        assert result.exit_code == code, result.output
        return result.output

    return run


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "project.db") as opened:
        yield opened


def shared_data() -> Path | None:
    """The licensed corpora, when this machine has them (never copied into the repo)."""
    candidates = [os.environ.get("NERD_DATA_DIR"), Path(__file__).parents[2] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "conll2003" / "test.txt").is_file():
            return Path(candidate)
    return None


# -- a real OpenAI-compatible server: llama.cpp serving the embedded Gemma 270M -------------


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The embedded Gemma 270M, written once into the user's cache like `nerd annotate` does."""
    from models.llama_backend import embedded_gguf

    return embedded_gguf()


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` on 127.0.0.1; yields its base URL; always stopped."""
    pytest.importorskip("llama_cpp.server")
    from bench.endpoints import llama_servers

    threads = max((os.cpu_count() or 2) // 2, 1)  # llama_cpp.server's own default
    with llama_servers(1, gguf, tmp_path_factory.mktemp("llama"), n_ctx=2048, threads=threads) as (server,):
        yield server.url


def kill_when(command: list[str], db: str, count_sql: str, at_least: int, timeout: float = 300) -> None:
    """Start `command`, SIGKILL it once `count_sql` on the database reaches `at_least`."""
    import signal
    import sqlite3

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline, done = time.monotonic() + timeout, 0
    while done < at_least and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with sqlite3.connect(db) as conn:
            done = conn.execute(count_sql).fetchone()[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()

"""`just bench-endpoints`: sentences/s annotating CoNLL train sentences through 1, 2 and 3 local
`python -m llama_cpp.server` processes (the embedded Gemma 270M), scheduled by
`models.endpoints.Endpoints`, beside one server asked by a plain `OpenAIBackend`.

Every server runs on the same machine, so more servers add no compute: with each server using
every core, the numbers are a ceiling test of the scheduler's overhead (does spreading the work
cost throughput?), not of scaling out, which needs servers on machines of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import conll_train_sample, header, write
from core.store import Store
from core.teacher.annotate import annotate
from core.teacher.prompts import build
from core.teacher.runs import RunConfig, open_run
from models.endpoints import Endpoints
from models.llm import Backend
from models.openai_backend import OpenAIBackend
from tui.render import bar


@dataclass
class LocalServer:
    """A `python -m llama_cpp.server` process on 127.0.0.1 and its API root."""

    url: str
    process: subprocess.Popen
    log: Path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_servers(count: int, gguf: Path, logs: Path, n_ctx: int = 1024, threads: int = 1,
                  ready_s: float = 120) -> Iterator[list[LocalServer]]:
    """`count` llama.cpp servers of one GGUF, started together, up when yielded, always stopped."""
    servers = []
    try:
        for i in range(count):
            port, log = free_port(), logs / f"server-{i}.log"
            command = [sys.executable, "-m", "llama_cpp.server", "--host", "127.0.0.1", "--port", str(port),
                       "--model", str(gguf), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
                       "--n_threads_batch", str(threads)]
            with log.open("wb") as out:
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            servers.append(LocalServer(f"http://127.0.0.1:{port}/v1", process, log))
        for server in servers:
            _wait_up(server, time.monotonic() + ready_s)
        yield servers
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def _wait_up(server: LocalServer, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited:\n{server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/models", timeout=2) as response:
                json.load(response)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server not up:\n{server.log.read_text()[-2000:]}") from None
            time.sleep(0.25)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--servers", default="1,2,3", help="server counts to measure, e.g. 1,2,3")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight a server")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads a server")
    parser.add_argument("--model", default=None, help="GGUF path (default: embedded Gemma 270M)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="endpoints.md", help="file name under bench/results/ (or a path)")
    return parser.parse_args()


def measure(db: Path, backend: Backend, label: str) -> tuple[float, dict[str, int]]:
    """Sentences/s of a full standard-prompt run on a fresh copy of the store, and who answered."""
    prompt = build("standard")
    with Store(db) as store:
        config = RunConfig(subset="bench", backend="openai", model=backend.model)
        run = open_run(store, config, prompt)
        with bar(label) as advance:
            summary = annotate(store, run, backend, prompt, config, progress=advance)
        assert summary.asked == summary.total, f"{label}: {summary.failed} failed, {summary.errors[:1]}"
        return summary.asked / summary.seconds, store.annotations.per_endpoint(run)


def warm(servers: list[LocalServer]) -> None:
    """One request each, so no measurement pays a server's first evaluation of the prefix."""
    prompt = build("standard")
    for server in servers:
        OpenAIBackend("gemma", base_url=server.url, timeout=300).complete(prompt.request("Warm up ."))


def main() -> None:
    args = arguments()
    from models.llama_backend import embedded_gguf

    gguf = Path(args.model) if args.model else embedded_gguf()
    counts = [int(n) for n in args.servers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        with Store(template) as store:
            conll_train_sample(store, args.data_dir, args.sentences)
        for count in counts:
            with llama_servers(count, gguf, Path(tmp), threads=args.threads) as servers:
                warm(servers)
                setups = [("plain OpenAIBackend", [servers[0].url])] if count == 1 else []
                setups.append(("Endpoints", [s.url for s in servers]))
                for kind, urls in setups:
                    db = Path(tmp) / f"run-{count}-{len(rows)}.db"
                    shutil.copy(template, db)
                    clients = [OpenAIBackend("gemma", base_url=u, concurrency=args.concurrency, timeout=300)
                               for u in urls]
                    backend = clients[0] if kind != "Endpoints" else Endpoints(
                        clients, [args.concurrency] * len(clients))
                    rate, answered = measure(db, backend, f"{count} server(s), {kind}")
                    share = " / ".join(str(answered.get(u, 0)) for u in urls)
                    rows.append((count, kind, rate, share))
    write(args.out, report(args, rows))


def report(args: argparse.Namespace, rows: list[tuple[int, str, float, str]]) -> str:
    text = header(f"Annotation across local llama.cpp servers, {args.sentences} CoNLL train sentences")
    text += (f"Standard prompt, embedded Gemma 270M; each server `python -m llama_cpp.server` with"
             f" {args.threads} threads, {args.concurrency} requests in flight a server.\n\n"
             "| servers | client | sentences/s | answers a server |\n| ---: | --- | ---: | --- |\n")
    for count, kind, rate, share in rows:
        text += f"| {count} | {kind} | {rate:.3f} | {share} |\n"
    text += (f"\nEvery server runs on this machine ({os.cpu_count()} cores), so more local servers"
             " cannot add compute: they share the same cores. This is a ceiling test of the"
             " scheduler's overhead: with one server, `Endpoints` should match the plain backend, and"
             " with two or three it should keep the throughput of one (less what the servers lose to"
             " contending for the cores), never fall far below it. Scaling out needs servers on"
             " machines, or GPUs, of their own.\n")
    return text


if __name__ == "__main__":
    main()

"""`just bench-serve`: `nerd serve` under load on 127.0.0.1: throughput and p50/p99 latency of
POST /tag with 1, 8 and 64 concurrent clients, then 2,000 requests from 200 concurrent
connections, which must all succeed. One CoNLL-2003 test sentence a request (the single-sentence
latency an application sees); every loop is bounded in requests and in time.

The server runs in a process of its own, started and stopped here; the clients are threads
with keep-alive connections, on the same 2 cores as the server, so the numbers are a floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import header, write
from common.paths import data_dir, db_path
from common.tables import markdown_table
from core.data.conll import read_conll

LIMIT_S = 120  # no load step runs longer than this


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="ONNX bundle (default: artifacts/nerd-onnx-int8"
                        " beside nerd.db, as `just demo` writes it)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--requests", type=int, default=400, help="requests a concurrency level")
    args = parser.parse_args()
    bundle = Path(args.model) if args.model else db_path(None).parent / "artifacts" / "nerd-onnx-int8"
    if not (bundle / "model.onnx").is_file():
        sys.exit(f"error: {bundle}: no ONNX bundle; run `just demo` or give --model BUNDLE")
    test = data_dir(args.data_dir, "conll2003") / "conll2003" / "test.txt"
    texts = [" ".join(s.tokens) for s in read_conll(test)]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--model", str(bundle),
                               "--port", str(port)], stderr=subprocess.PIPE)
    try:
        _wait(port, server)
        rows = []
        for clients in (1, 8, 64):
            rows.append(_row(f"{clients} clients", *_load(port, texts, clients, args.requests)))
        total, failed, seconds, latencies = _load(port, texts, 200, 2000)
        rows.append(_row("200 connections", total, failed, seconds, latencies))
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = header("nerd serve under load (POST /tag, one CoNLL-2003 test sentence a request)")
    text += markdown_table(["load", "requests", "failed", "requests/s", "p50 ms", "p99 ms"], rows, "lrrrrr")
    text += (f"\nModel: `{bundle}` (one worker, threads = cores). Clients and server share the"
             " machine's cores.\n")
    if failed:
        text += f"\n**{failed} of 2000 requests from 200 connections failed.**\n"
    write("serve.md", text)


def _row(name: str, total: int, failed: int, seconds: float, latencies: list[float]) -> list[str]:
    latencies = sorted(latencies) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return [name, str(total), str(failed), f"{total / seconds:.0f}",
            f"{statistics.median(latencies) * 1e3:.1f}", f"{p99 * 1e3:.1f}"]


def _load(port: int, texts: list[str], clients: int, requests: int) -> tuple[int, int, float, list[float]]:
    """`requests` POST /tag spread over `clients` threads, each on its own keep-alive connection."""
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + LIMIT_S
    counter = iter(range(requests))

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in counter:
            if time.monotonic() > deadline:
                break
            body = json.dumps({"text": texts[i % len(texts)]})
            began = time.perf_counter()
            try:
                connection.request("POST", "/tag", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                latencies.append(time.perf_counter() - began)
                failed[0] += not ok
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), failed[0], time.perf_counter() - began, latencies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: nerd serve exited: {server.stderr.read().decode()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("error: nerd serve did not answer /health in 60 s")


if __name__ == "__main__":
    main()

"""A scripted OpenAI-compatible server that misbehaves on cue, so retries are tested for real.

Each request consumes the next behaviour of the script (then "ok" forever):
  "ok"          200 with a valid completions / chat completions body and usage
  "echo"        like "ok", but the text is the request's prompt (to match answers to asks)
  "slow"        like "echo", after `slow_s` seconds (to observe concurrency)
  "429", "429:N" too many requests, optionally with `Retry-After: N`
  "500", "503", "401", "403", "404", "400"   that status with an OpenAI-style error body
  "echo400"     400 whose error message echoes the request's Authorization header
  "garbage"     200 whose body is not JSON
  "drop"        close the connection without a response
  "reset"       abort the connection (TCP RST)
  "partial"     promise more body than is sent, then close
  "hang"        answer nothing for `hang_s` seconds (bounded; cut short on shutdown)
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class FaultServer:
    """`with FaultServer(["429", "ok"]) as server:` then talk to `server.base_url`."""

    def __init__(self, script: list[str] | None = None, hang_s: float = 3.0,
                 reply: str = "PER: Ada", slow_s: float = 0.2,
                 route: Callable[[Received], str | None] | None = None) -> None:
        self.script = list(script or [])
        self.route = route  # picks a behaviour from the request itself; None defers to script
        self.slow_s = slow_s
        self.active = self.peak = 0  # requests in flight now / at most
        self.hang_s = min(hang_s, 3.0)
        self.reply = reply
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # releases any "hang" at once
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self, received: Received) -> str:
        with self._lock:
            self.requests.append(received)
            chosen = self.route(received) if self.route else None
            if chosen is None:
                chosen = self.script.pop(0) if self.script else "ok"
            return chosen

    def _ok_body(self, path: str, body: Any, reply: str) -> dict[str, Any]:
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        model = body.get("model", "fake") if isinstance(body, dict) else "fake"
        if path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": reply},
                      "finish_reason": "stop"}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": reply, "finish_reason": "stop"}
            kind = "text_completion"
        return {"id": "x", "object": kind, "model": model, "choices": [choice], "usage": usage}


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            """Silent on purpose: keep pytest output clean."""

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            received = Received(self.path, dict(self.headers.items()), body)
            action, _, arg = server._next(received).partition(":")
            with server._lock:
                server.active += 1
                server.peak = max(server.peak, server.active)
            self._in_flight = True
            try:
                self._act(action, arg, body)
            finally:
                self._done()

        def _done(self) -> None:
            """No longer in flight: before the answer leaves, since the client may send its next
            request the moment it has read this one (counting after that overstated the peak)."""
            if getattr(self, "_in_flight", False):
                self._in_flight = False
                with server._lock:
                    server.active -= 1

        def _act(self, action: str, arg: str, body: Any) -> None:
            if action in ("ok", "echo", "slow"):
                if action == "slow":
                    server._stop.wait(server.slow_s)
                prompt = body.get("prompt", "") if isinstance(body, dict) else ""
                reply = server.reply if action == "ok" else prompt
                self._send(200, server._ok_body(self.path, body, reply))
            elif action == "garbage":
                self._send(200, b"<html>502 Bad Gateway</html>")
            elif action == "drop":
                self.close_connection = True
            elif action == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # before socketserver's graceful shutdown(SHUT_WR)
                self.close_connection = True
            elif action == "partial":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"choices": [')
                self.close_connection = True
            elif action == "hang":
                server._stop.wait(server.hang_s)
                self.close_connection = True
            elif action == "echo400":
                key = self.headers.get("Authorization", "")
                self._send(400, {"error": {"message": f"bad request with {key}"}})
            else:
                status = int(action)
                headers = {"Retry-After": arg} if arg else {}
                self._send(status, {"error": {"message": f"fault {status}"}}, headers)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self._done()
            self.wfile.write(data)

    return Handler

"""`nerd serve`: the student over HTTP, a REST API and Label Studio's ML-backend protocol.

Starlette on uvicorn: a small, maintained ASGI stack that llama-cpp-python's server already
brings, and no request models to declare (each field is checked here, and a bad one is named in
the 422). The routes only parse and answer; `core.ship.service` does the work. Safe by default:
127.0.0.1, a body limit (413), malformed JSON (400), a wrong field (422, naming it), an unknown
route (404), never a traceback to the client, optional basic auth (`BASIC_AUTH_USER` and
`BASIC_AUTH_PASS`, as Label Studio's reference server reads them). The model runs in a thread
pool so one request's tagging does not hold up the others' I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.ship.service import MODEL_CLASS, Service, ServiceError, machine_line

MAX_BODY = 16 * 1024 * 1024  # bytes; 10,000 sentences of news fit in about 1.5 MB
MAX_ITEMS = 100_000  # texts or tasks in one request
log = logging.getLogger("nerd.serve")


class BadRequest(Exception):
    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def app(bundle: Path, threads: int | None = None, db: Path | None = None) -> Starlette:
    """The ASGI app over one bundle (the CLI's; also `uvicorn --factory` with `NERD_SERVE_*`)."""
    service = Service(bundle, threads, db)
    about = machine_line(service, threads)
    log.info("nerd serve: %s", json.dumps(about))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "UP", "model_class": MODEL_CLASS})

    async def metrics(request: Request) -> JSONResponse:
        return JSONResponse({**about, "torch_loaded": "torch" in sys.modules})

    async def tag(request: Request) -> JSONResponse:
        body = await _json(request)
        if "tokens" in body:
            tokens = _list(body, "tokens", _words, "a list of sentences, each a list of words")
            found = await run_in_threadpool(service.tag, (), tokens)
        elif "texts" in body:
            texts = _list(body, "texts", lambda v: isinstance(v, str), "a list of strings")
            found = await run_in_threadpool(service.tag, texts)
        elif isinstance(body.get("text"), str):
            found = await run_in_threadpool(service.tag, [body["text"]])
            return JSONResponse({"entities": found[0], "model_version": service.version})
        else:
            raise BadRequest(422, "give 'text' (a string), 'texts' (strings) or 'tokens' (lists of words)",
                             "text")
        return JSONResponse({"results": [{"entities": e} for e in found], "model_version": service.version})

    async def setup(request: Request) -> JSONResponse:
        body = await _json(request)
        if not isinstance(body.get("schema"), str):
            raise BadRequest(422, "'schema' (the labelling config XML) is missing", "schema")
        return JSONResponse(service.setup(body["schema"]))

    async def predict(request: Request) -> JSONResponse:
        body = await _json(request)
        tasks = _list(body, "tasks", lambda v: isinstance(v, dict), "a list of task objects")
        config = body.get("label_config") or (body.get("params") or {}).get("label_config")
        if not isinstance(config, str):
            raise BadRequest(422, "'label_config' (the labelling config XML) is missing", "label_config")
        return JSONResponse({"results": await run_in_threadpool(service.predict, tasks, config)})

    async def webhook(request: Request) -> JSONResponse:
        body = await _json(request)
        status, answer = await run_in_threadpool(service.webhook, body)
        return JSONResponse(answer, status_code=status)

    routes = [Route("/", health), Route("/health", health), Route("/metrics", metrics),
              Route("/tag", tag, methods=["POST"]), Route("/setup", setup, methods=["POST"]),
              Route("/predict", predict, methods=["POST"]), Route("/webhook", webhook, methods=["POST"])]
    handlers = {BadRequest: _bad, ServiceError: _refused, HTTPException: _http, Exception: _crash}
    application = Starlette(routes=routes, exception_handlers=handlers)
    application.add_middleware(_Guard)
    return application


def factory() -> Starlette:
    """For uvicorn's workers (`--workers N`): the app from the environment `nerd serve` sets."""
    db = os.environ.get("NERD_SERVE_DB")
    threads = int(os.environ.get("NERD_SERVE_THREADS", "0")) or None
    return app(Path(os.environ["NERD_SERVE_BUNDLE"]), threads, Path(db) if db else None)


class _Guard:
    """Basic auth when configured, and the body limit before any of it is read."""

    def __init__(self, app) -> None:
        self.inner = app
        user, password = os.environ.get("BASIC_AUTH_USER"), os.environ.get("BASIC_AUTH_PASS")
        self.expected = f"{user}:{password}" if user and password else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        headers = dict(scope["headers"])
        if self.expected and not _authorised(headers.get(b"authorization", b""), self.expected):
            response = JSONResponse({"error": "unauthorised: give the basic-auth user and password"},
                                    status_code=401, headers={"WWW-Authenticate": 'Basic realm="nerd"'})
            return await response(scope, receive, send)
        length = headers.get(b"content-length")
        if length is None and scope["method"] == "POST":
            response = JSONResponse({"error": "Content-Length is required"}, status_code=411)
            return await response(scope, receive, send)
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            response = JSONResponse({"error": f"body over {MAX_BODY} bytes: send fewer texts a request"},
                                    status_code=413)
            return await response(scope, receive, send)
        return await self.inner(scope, receive, send)


def _authorised(header: bytes, expected: str) -> bool:
    scheme, _, value = header.decode(errors="replace").partition(" ")
    try:
        given = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return scheme.lower() == "basic" and secrets.compare_digest(given, expected)


async def _json(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest(422, "the body must be a JSON object")
    return body


def _list(body: dict, name: str, ok, what: str) -> list:
    value = body.get(name)
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise BadRequest(422, f"'{name}' must be {what} (at most {MAX_ITEMS})", name)
    for i, item in enumerate(value):
        if not ok(item):
            raise BadRequest(422, f"'{name}[{i}]' must be {what[2:] if what.startswith('a ') else what}",
                             f"{name}[{i}]")
    return value


def _words(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(word, str) for word in value)


async def _bad(request: Request, exc: BadRequest) -> JSONResponse:
    return JSONResponse({"error": exc.message, **({"field": exc.field} if exc.field else {})},
                        status_code=exc.status)


async def _refused(request: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse({"error": str(exc), **({"field": exc.field} if exc.field else {})}, status_code=422)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("nerd serve: %s %s failed", request.method, request.url.path)  # the log has it
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has the details"},
                        status_code=500)

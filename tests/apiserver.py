"""A real HTTP server for API-client tests: scripted responses, recorded requests.

Usage (the ``api_server`` fixture wraps :class:`ApiServer` as a context manager)::

    api_server.route("/repos/o/r/pulls/1", Reply(500), Reply(200, {"id": 1}))
    api_server.url  # "http://127.0.0.1:PORT"

A route's replies are served in order and the last one repeats forever; a reply
may also be a callable taking the :class:`Seen` request (e.g. endless pagination).
Routes match ``path?query`` exactly first, then the bare path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes or str (sent as is)
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to stall before answering (bounded; ends on shutdown)


@dataclass(frozen=True)
class Seen:
    path: str  # with the query string
    headers: dict[str, str]  # lowercase names

    @property
    def query(self) -> str:
        return urlsplit(self.path).query


Script = Reply | Callable[[Seen], Reply]


class ApiServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Script]] = {}
        self.requests: list[Seen] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a hanging handler must not block teardown
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, *replies: Script) -> None:
        with self._lock:
            self.routes[path] = list(replies)
            self._served[path] = 0

    def hits(self, path: str) -> list[Seen]:
        """Requests whose path (query ignored) is ``path``."""
        return [r for r in self.requests if urlsplit(r.path).path == path]

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            key = seen.path if seen.path in self.routes else urlsplit(seen.path).path
            script = self.routes.get(key)
            if not script:
                return Reply(404, {"message": "Not Found"})
            i = self._served[key]
            self._served[key] = i + 1
            step = script[min(i, len(script) - 1)]
        return step(seen) if callable(step) else step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
                reply = server._next(seen)
                if reply.hang and server._stop.wait(reply.hang):
                    return
                if isinstance(reply.body, bytes):
                    body = reply.body
                elif isinstance(reply.body, str):
                    body = reply.body.encode()
                else:
                    body = json.dumps(reply.body).encode()
                headers = {"Content-Type": "application/json", **reply.headers}
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server

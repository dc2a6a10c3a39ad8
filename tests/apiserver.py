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
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

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


class ApiHandler(BaseHTTPRequestHandler):
    """Answers GET from the script of ``api``, the server it is bound to
    (:meth:`ApiServer._handler` makes one subclass per server)."""

    api: ClassVar[ApiServer]

    def do_GET(self) -> None:
        server = self.api
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

    def _handler(self) -> type[ApiHandler]:
        server = self

        class Handler(ApiHandler):
            api = server

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


# --- Payloads in the shapes of the platforms' REST API docs (issue #14 class 2) ------


def gh_actor(login: str, uid: int, kind: str = "User") -> dict[str, Any]:
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"https://github.com/images/{login}.gif",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


def gh_run(
    run_id: int,
    sha: str,
    actor: str,
    *,
    event: str = "pull_request",
    branch: str = "feature",
    repo: str = "acme/train",
    workflow_id: int = 161335,
    uid: int = 9,
    triggering_actor: str | None = None,
    run_attempt: int = 1,
    kind: str = "User",
) -> dict[str, Any]:
    """One entry of ``GET /repos/{owner}/{repo}/actions/runs`` ("List workflow runs
    for a repository", docs.github.com/rest/actions/workflow-runs)."""
    api = f"https://api.github.com/repos/{repo}"
    return {
        "id": run_id,
        "name": "traingate",
        "node_id": f"WFR_{run_id}",
        "check_suite_id": 42000 + run_id,
        "check_suite_node_id": f"CS_{run_id}",
        "head_branch": branch,
        "head_sha": sha,
        "path": ".github/workflows/traingate.yml",
        "display_title": "tweak",
        "run_number": run_id,
        "event": event,
        "status": "completed",
        "conclusion": "success",
        "workflow_id": workflow_id,
        "url": f"{api}/actions/runs/{run_id}",
        "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
        "pull_requests": [],
        "created_at": f"2026-11-20T09:{run_id % 60:02d}:00Z",
        "updated_at": f"2026-11-20T09:{run_id % 60:02d}:30Z",
        "actor": gh_actor(actor, uid, kind),
        "run_attempt": run_attempt,
        "run_started_at": f"2026-11-20T09:{run_id % 60:02d}:00Z",
        "triggering_actor": gh_actor(triggering_actor or actor, uid + 1000),
        "jobs_url": f"{api}/actions/runs/{run_id}/jobs",
        "logs_url": f"{api}/actions/runs/{run_id}/logs",
        "head_commit": {
            "id": sha,
            "tree_id": "e" * 40,
            "message": "tweak",
            "timestamp": "2026-11-20T09:00:00Z",
            "author": {"name": "mallory", "email": "mallory@example.com"},
            "committer": {"name": "mallory", "email": "mallory@example.com"},
        },
        "repository": {"id": 1296269, "full_name": "acme/train"},
        "head_repository": {"id": 1296269 if repo == "acme/train" else 7, "full_name": repo},
    }


def serve_runs(server: ApiServer, repo: str, runs: list[dict[str, Any]]) -> None:
    """The workflow-runs listing, filtered by its ``head_sha`` query as GitHub does."""

    def reply(seen: Seen) -> Reply:
        sha = parse_qs(seen.query).get("head_sha", [""])[0]
        hits = [r for r in runs if r["head_sha"] == sha]
        return Reply(200, {"total_count": len(hits), "workflow_runs": hits})

    server.route(f"/repos/{repo}/actions/runs", reply)


def gh_force_push(event_id: int, actor: str, uid: int) -> dict[str, Any]:
    """A ``head_ref_force_pushed`` entry of ``GET /repos/{owner}/{repo}/issues/{n}/timeline``
    (the issue event object's common properties, docs.github.com "Issue event types")."""
    return {
        "id": event_id,
        "node_id": f"HRFPE_{event_id}",
        "url": f"https://api.github.com/repos/acme/train/issues/events/{event_id}",
        "actor": gh_actor(actor, uid),
        "event": "head_ref_force_pushed",
        "commit_id": None,
        "commit_url": None,
        "created_at": "2026-11-20T09:30:00Z",
        "performed_via_github_app": None,
    }


def gl_push_event(
    event_id: int,
    username: str,
    uid: int,
    commit_to: str | None,
    *,
    ref: str | None = "feature",
    commit_from: str | None = None,
    created_at: str = "2026-11-20T09:00:00.000Z",
    project_id: int = 42,
) -> dict[str, Any]:
    """One entry of ``GET /projects/:id/events?action=pushed`` (docs.gitlab.com/api/events)."""
    return {
        "id": event_id,
        "project_id": project_id,
        "action_name": "pushed to",
        "target_id": None,
        "target_iid": None,
        "target_type": None,
        "author_id": uid,
        "target_title": None,
        "created_at": created_at,
        "author": {
            "id": uid,
            "name": username.title(),
            "username": username,
            "state": "active",
            "avatar_url": None,
            "web_url": f"https://gitlab.example/{username}",
        },
        "push_data": {
            "commit_count": 1,
            "action": "pushed",
            "ref_type": "branch",
            "commit_from": commit_from,
            "commit_to": commit_to,
            "ref": ref,
            "commit_title": "tweak",
            "ref_count": None,
        },
        "author_username": username,
        "imported": False,
        "imported_from": "none",
    }

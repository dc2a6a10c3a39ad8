"""scripts/gitlab_retry_on_approval.py against the 127.0.0.1 API server (issue #19):
GitLab starts no pipeline on approval, so a scheduled job retries the gate job of a
merge request whose approvals changed after the job started, and only then."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .apiserver import Reply
from .test_ci_github_events import WriteServer

SCRIPT = Path(__file__).parents[1] / "scripts/gitlab_retry_on_approval.py"
P = "/api/v4/projects/42"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gitlab_retry_on_approval", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def api_server() -> Iterator[WriteServer]:
    server = WriteServer()
    with server:
        yield server


def job(jid: int, status: str, started: str = "2026-11-20T10:00:00.000Z") -> dict[str, Any]:
    """An entry of `GET /projects/:id/pipelines/:pipeline_id/jobs` (GitLab's Jobs API)."""
    return {
        "id": jid,
        "name": "traingate",
        "stage": "test",
        "status": status,
        "ref": "refs/merge-requests/5/head",
        "created_at": "2026-11-20T09:59:00.000Z",
        "started_at": started,
        "finished_at": "2026-11-20T10:01:00.000Z",
        "allow_failure": False,
        "pipeline": {"id": 77, "project_id": 42, "sha": "a" * 40, "status": status},
        "web_url": f"https://gitlab.example/acme/train/-/jobs/{jid}",
    }


def note(nid: int, body: str, at: str, system: bool = True) -> dict[str, Any]:
    """An entry of `GET /projects/:id/merge_requests/:iid/notes` (GitLab's Notes API)."""
    return {
        "id": nid,
        "type": None,
        "body": body,
        "author": {"id": 2, "username": "bob", "name": "Bob", "state": "active"},
        "created_at": at,
        "updated_at": at,
        "system": system,
        "noteable_id": 100,
        "noteable_type": "MergeRequest",
        "noteable_iid": 5,
        "resolvable": False,
    }


def serve(server: WriteServer, notes: list[dict[str, Any]], status: str = "failed") -> None:
    server.route(f"{P}/merge_requests", Reply(200, [{"id": 100, "iid": 5, "state": "opened"}]))
    server.route(
        f"{P}/merge_requests/5/pipelines",
        Reply(
            200,
            [
                {
                    "id": 77,
                    "iid": 12,
                    "sha": "a" * 40,
                    "status": status,
                    "source": "merge_request_event",
                },
                {
                    "id": 70,
                    "iid": 11,
                    "sha": "b" * 40,
                    "status": "failed",
                    "source": "merge_request_event",
                },
            ],
        ),
    )
    server.route(f"{P}/pipelines/77/jobs", Reply(200, [job(900, status)]))
    server.route(f"{P}/merge_requests/5/notes", Reply(200, notes))
    server.route(f"/POST{P}/jobs/900/retry", Reply(201, job(901, "pending")))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, api_server: WriteServer) -> None:
    monkeypatch.setenv("CI_API_V4_URL", api_server.url + "/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("TRAINGATE_RETRY_TOKEN", "glpat-retry")
    monkeypatch.setenv("TRAINGATE_HTTP_BACKOFF", "0.01")


@pytest.mark.parametrize(
    ("body", "status"),
    [("approved this merge request", "failed"), ("unapproved this merge request", "success")],
)
def test_a_newer_approval_or_unapproval_retries_the_latest_job(
    env: None, api_server: WriteServer, capsys: pytest.CaptureFixture[str], body: str, status: str
) -> None:
    """An approval after a red run turns it green; an unapproval after a green run
    must not leave it green."""
    serve(api_server, [note(3, body, "2026-11-20T11:00:00.000Z")], status)
    assert load().main([]) == 0
    assert api_server.writes == [("POST", f"{P}/jobs/900/retry", {})]
    assert "retried job 900 of merge request !5" in capsys.readouterr().out
    assert api_server.hits(f"{P}/merge_requests")[0].headers["private-token"] == "glpat-retry"


def test_nothing_new_means_no_retry(
    env: None, api_server: WriteServer, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(
        api_server,
        [
            note(1, "approved this merge request", "2026-11-20T09:00:00.000Z"),  # before the job
            note(
                2, "approved this merge request", "2026-11-20T12:00:00.000Z", system=False
            ),  # a user's text
            note(3, "added 1 commit", "2026-11-20T12:00:00.000Z"),
        ],
    )
    assert load().main([]) == 0
    assert api_server.writes == []
    assert "no traingate job needed a retry" in capsys.readouterr().out


def test_running_job_is_left_alone_and_dry_run_writes_nothing(
    env: None, api_server: WriteServer
) -> None:
    serve(
        api_server, [note(3, "approved this merge request", "2026-11-20T11:00:00.000Z")], "running"
    )
    assert load().main([]) == 0 and api_server.writes == []
    serve(api_server, [note(3, "approved this merge request", "2026-11-20T11:00:00.000Z")])
    assert load().main(["--dry-run"]) == 0 and api_server.writes == []


def test_missing_settings_and_api_errors(
    env: None,
    api_server: WriteServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api_server.route(f"{P}/merge_requests", Reply(401, {"message": "401 Unauthorized"}))
    assert load().main([]) == 3
    assert "401" in capsys.readouterr().err
    monkeypatch.delenv("TRAINGATE_RETRY_TOKEN")
    assert load().main([]) == 2

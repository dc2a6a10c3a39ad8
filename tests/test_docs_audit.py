"""docs/audit.md#history-audit-traingate-audit-history: "An API failure is an
error (exit 3), never 'no evidence'" (issue #18). The attack it defends: make
the API fail (rate limit, outage) so that the audit quietly reports commits as
merely unapproved, or worse, skips them."""

from __future__ import annotations

import pytest

from traingate.cli import main

from .apiserver import ApiServer, Reply
from .conftest import Repo
from .test_audit_cli import api_server as api_server  # the fixture
from .test_audit_cli import squash_merged_pr


def test_history_api_failure_is_an_error_not_no_evidence(
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    api_server: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, squash = squash_merged_pr(repo, "feat", "feat (#12)")
    monkeypatch.setenv("GITHUB_API_URL", api_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("TRAINGATE_HTTP_BACKOFF", "0.01")
    api_server.route(f"/repos/acme/train/commits/{squash}/pulls", Reply(500))
    code = main(["audit", "history", "--repo", str(repo.path), "--github", "acme/train"])
    captured = capsys.readouterr()
    assert code == 3, captured.out + captured.err
    assert "500" in captured.err

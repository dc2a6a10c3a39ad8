"""`traingate check` end to end in real repos: decisions, exit codes, formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from traingate.cli import main

from .conftest import Repo

DATA = Path(__file__).parent / "data"


def check(repo: Repo, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["check", "--repo", str(repo.path), "--base", "main", "--head", "feature", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_benign_change_outside_sensitive_paths_passes(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.write("README.md", "# project\n\nMore words.\n")
    policy_repo.commit("docs", who="mallory")
    code, out, _ = check(policy_repo, capsys)
    assert code == 0, out
    assert out.endswith("PASSED (exit 0)\n")


def test_sensitive_change_without_approval_blocks(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.write(
        "train.py", "import torch\n\n\ndef step(model):\n    model.train()\n    return 1\n"
    )
    policy_repo.commit("tweak", who="mallory")
    code, out, _ = check(policy_repo, capsys)
    assert code == 1
    assert "[MISSING] training-code: needs 1 approval from ml-reviewers, security (0/1)" in out
    assert "eligible approvers: alice, bob, sam" in out
    assert "approvals missing (block now): training-code: 1 from alice, bob or sam" in out
    assert out.endswith("BLOCKED: 1 approval missing (exit 1)\n")  # issue #18 vocabulary


def test_json_report_fields(policy_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    policy_repo.write("train.py", "x = 1\n")
    policy_repo.commit("tweak", who="mallory")
    code, out, _ = check(policy_repo, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["decision"] == "block" and doc["exit_code"] == 1
    assert doc["schema_version"] == 1
    req = doc["requirements"][0]
    assert {
        k: req[k] for k in ("name", "paths", "required", "eligible", "approved_by", "satisfied")
    } == {
        "name": "training-code",
        "paths": ["train.py"],
        "required": 1,
        "eligible": ["alice", "bob", "sam"],
        "approved_by": [],
        "satisfied": False,
    }
    assert doc["policy"]["source"].startswith(".traingate.yaml@")
    jsonschema.validate(
        doc,
        json.loads(
            (DATA.parent.parent / "docs" / "reference" / "json-report.schema.json").read_text()
        ),
    )


def test_rename_out_of_sensitive_path_is_caught(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.git("mv", "train.py", "notes.py")
    policy_repo.commit("move", who="mallory")
    code, out, _ = check(policy_repo, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [(r["name"], r["paths"]) for r in doc["requirements"]] == [
        ("training-code", ["train.py"])
    ]


def test_deleting_a_sensitive_file_is_caught(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    (policy_repo.path / ".traingate.yaml").unlink()
    policy_repo.commit("drop the policy", who="mallory")
    code, out, _ = check(policy_repo, capsys)
    assert code == 1
    assert "[MISSING] gate-configuration: needs 1 approval from security (0/1)" in out
    assert "paths: .traingate.yaml" in out


def test_policy_comes_from_the_base_not_the_change(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The change removes every sensitive path from the policy and edits train.py.
    policy_repo.write(".traingate.yaml", "version: 1\n")
    policy_repo.write("train.py", "y = 2\n")
    policy_repo.commit("loosen", who="mallory")
    code, out, _ = check(policy_repo, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert sorted(r["name"] for r in doc["requirements"]) == ["gate-configuration", "training-code"]


def test_malformed_policy_exits_2_with_location(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.checkout("main")
    policy_repo.write(
        ".traingate.yaml",
        "version: 1\nsensitive_paths:\n  - name: x\n    paths: [a]\n    approvals: zero\n    approvers: [u]\n",
    )
    policy_repo.commit("bad policy")
    policy_repo.checkout("feature")
    policy_repo.git("merge", "-q", "main")
    code, _out, err = check(policy_repo, capsys)
    assert code == 2
    assert (
        "error: .traingate.yaml:5:16: sensitive_paths[0].approvals: Input should be a valid integer"
        in err
    )


def test_machine_formats_still_block_on_policy_error(
    policy_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 7\n")
    code, out, _ = check(policy_repo, capsys, "--policy", str(bad), "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["decision"] == "block" and "version" in doc["errors"][0]


def test_sarif_validates_against_the_official_schema(
    policy_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.write("train.py", "x = 1\n")
    os.symlink("/etc/passwd", policy_repo.path / "data_link")
    policy_repo.commit("tweak", who="mallory")
    out_file = tmp_path / "r.sarif"
    code, _, _ = check(policy_repo, capsys, "--format", "sarif", "--output", str(out_file))
    assert code == 1
    sarif = json.loads(out_file.read_text())
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {
        "traingate/repo-symlink-outside",
        "traingate/approval-required",
    }
    link = next(r for r in results if r["ruleId"] == "traingate/repo-symlink-outside")
    assert link["level"] == "error" and link["properties"]["rule"] == "repo-symlink-outside"
    assert link["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "data_link"
    # Descriptors come from the catalog (issue #15), never from a finding's text;
    # every rule links its own page; %SRCROOT% is defined (issue #19).
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    desc = rules["traingate/repo-symlink-outside"]
    assert desc["shortDescription"]["text"].startswith("an added or changed symlink points")
    assert desc["helpUri"].endswith("docs/checks/repository.md#repo-symlink-outside")
    assert rules["traingate/approval-required"]["helpUri"].endswith("docs/approvals.md#semantics")
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file:///")
    reqs = [r for r in results if r["ruleId"] == "traingate/approval-required"]
    assert all(len(r["locations"]) == 1 for r in reqs)  # one result per requirement
    assert "training-code" in {r["properties"]["requirement"] for r in reqs}


def test_markdown_report(policy_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    policy_repo.write("train.py", "x = 1\n")
    policy_repo.commit("tweak", who="mallory")
    code, out, _ = check(policy_repo, capsys, "--format", "markdown")
    assert code == 1
    assert out.startswith("## ⛔ traingate: block\n")
    assert (
        "| ❌ | training-code | `train.py` | 1 from ml-reviewers, security | — | alice, bob, sam |"
        in out
    )


def test_staged_mode_advisory_approvals(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_repo.write("train.py", "x = 1\n")
    policy_repo.git("add", "train.py")
    code = main(["check", "--repo", str(policy_repo.path), "--staged", "--approvals-advisory"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Approvals this change will need at merge:" in out


def test_head_without_base_is_usage_error(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--repo", str(policy_repo.path), "--head", "feature"]) == 2
    assert "--head needs --base" in capsys.readouterr().err


def test_not_a_repo_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--repo", str(tmp_path)]) == 2
    assert "is not inside a git work tree" in capsys.readouterr().err


def test_console_script_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "traingate", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("check", "scan", "demo", "policy"):
        assert cmd in out
    version = subprocess.run(
        [sys.executable, "-m", "traingate", "--version"], capture_output=True, text=True
    ).stdout
    assert version.startswith("traingate ")


def test_version_names_semgrep_and_the_rule_pack_digest() -> None:
    """Issue #18: what a bug report needs, without starting semgrep."""
    from importlib import metadata

    from traingate import __version__
    from traingate.record import rules_sha256

    proc = subprocess.run(
        [sys.executable, "-m", "traingate", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == (
        f"traingate {__version__}\nsemgrep {metadata.version('semgrep')}\n"
        f"rule pack sha256:{rules_sha256()}\n"
    )


def test_pre_push_mode(
    policy_repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = policy_repo.git("rev-parse", "main").strip()
    policy_repo.write("train.py", "x = 1\n")
    head = policy_repo.commit("tweak", who="mallory")
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", base)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", head)
    code = main(
        [
            "check",
            "--repo",
            str(policy_repo.path),
            "--pre-push",
            "--approvals-advisory",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["base"] == base and doc["head"] == head
    assert [r["name"] for r in doc["requirements"]] == ["training-code"]
    # a new branch: the all-zero from-ref means "what no remote has yet"
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "0" * 40)
    code = main(
        [
            "check",
            "--repo",
            str(policy_repo.path),
            "--pre-push",
            "--approvals-advisory",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and [f["path"] for f in doc["changed_files"]] == [
        ".traingate.yaml",
        "README.md",
        "train.py",
    ]


def test_case_and_unicode_twins_with_case_insensitive_paths(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        ".traingate.yaml",
        "version: 1\ncase_insensitive_paths: true\ngroups:\n  leads: [alice]\n"
        "sensitive_paths:\n  - {name: trainer, paths: ['/train/', '/café/'], approvals: 1, approvers: [leads]}\n"
        "checks:\n  semgrep: {enabled: false}\n",
    )
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("Train/loop.py", "x = 1\n")  # case twin of train/
    repo.write("cafe\u0301/notes.py", "y = 1\n")  # NFD twin of café/
    repo.commit("twins", who="mallory")
    code, out, _ = check(repo, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert doc["requirements"][0]["paths"] == ["Train/loop.py", "cafe\u0301/notes.py"]


def test_a_policy_cannot_make_its_own_file_non_sensitive(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        ".traingate.yaml", "version: 1\nchecks:\n  semgrep: {enabled: false}\n"
    )  # protects nothing
    repo.commit("base")
    repo.branch("feature")
    repo.write(
        ".traingate.yaml",
        "version: 1\nchecks:\n  semgrep: {enabled: false}\n  repository: {enabled: false}\n",
    )
    repo.commit("turn off more", who="mallory")
    code, out, _ = check(repo, capsys, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [(r["name"], r["paths"], r["error"]) for r in doc["requirements"]] == [
        (
            "gate-self-protection",
            [".traingate.yaml"],
            "the policy does not protect its own files and names no security_group",
        )
    ]

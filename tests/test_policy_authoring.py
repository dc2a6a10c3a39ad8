"""Issue #18, the security team's side: every policy mistake that used to pass
`policy validate` (and silently weaken the policy) is now a located error
(exit 2) or a warning with a reason; explain and policy test say what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traingate.cli import main

from .conftest import Repo

HEAD = "version: 1\nextends: builtin:default\n"


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    p = tmp_path / ".traingate.yaml"
    p.write_text(text)
    capsys.readouterr()
    code = main(["policy", "validate", str(p)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_glob_that_cannot_match_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD
        + "sensitive_paths:\n  - name: evals\n    paths: ['/eval/[a-.py']\n    approvers: [security]\n"
    )
    code, out = validate(tmp_path, capsys, text)
    assert code == 2
    assert (
        ".traingate.yaml:5:13: sensitive_paths[0].paths[0]: invalid pattern '/eval/[a-.py'" in out
    )
    assert "never closed" in out


def test_a_glob_that_matches_nothing_at_head_is_a_warning(
    repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write("evals/run.py", "x = 1\n")
    repo.write(
        ".traingate.yaml",
        HEAD + "sensitive_paths:\n  - name: evals\n    paths: ['/eval/**', '/evals/**']\n"
        "    approvers: [security]\n",
    )
    repo.commit("policy")
    monkeypatch.chdir(repo.path / "evals")  # discovered from a subdirectory, like `check`
    capsys.readouterr()
    assert main(["policy", "validate"]) == 0
    out = capsys.readouterr().out
    assert "sensitive path 'evals': pattern '/eval/**' matches no file at HEAD" in out
    assert "'/evals/**' matches no file" not in out
    assert "../.traingate.yaml: valid" in out


def test_an_unknown_user_in_a_group_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD
        + "users:\n  alice: {emails: [a@x]}\n  bob: {emails: [b@x]}\ngroups:\n  ml: [alice, bobb]\n"
    )
    code, out = validate(tmp_path, capsys, text)
    assert code == 2
    assert (
        ".traingate.yaml:7:15: groups.ml[1]: 'bobb' is not a user in `users:`; did you mean 'bob'?"
        in out
    )


def test_an_expired_exemption_is_warned_at_validate_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HEAD + (
        "exemptions:\n  - {check: unicode, rule: '*', paths: ['docs/**'], reason: emoji,"
        " expires: 2020-03-01, approved_by: sam}\n"
    )
    code, out = validate(tmp_path, capsys, text)
    assert code == 0
    assert "exemptions[0] (unicode/* for docs/**) expired on 2020-03-01" in out


def test_an_impossible_date_is_a_located_error_not_an_internal_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HEAD + (
        "exemptions:\n  - check: unicode\n    rule: '*'\n    paths: ['docs/**']\n"
        "    reason: emoji\n    expires: 2027-31-03\n    approved_by: sam\n"
    )
    code, out = validate(tmp_path, capsys, text)
    assert code == 2
    assert ".traingate.yaml:8:14: invalid value '2027-31-03': month must be in 1..12" in out


def test_enum_errors_speak_the_policy_not_pydantic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEAD
        + "checks:\n  semgrep:\n    actions:\n      ERROR: blok\n  repository:\n    enabeld: true\n"
    )
    code, out = validate(tmp_path, capsys, text)
    assert code == 2
    assert (
        "checks.semgrep.actions.ERROR: must be block, warn, ignore or {require_approval: GROUP}, "
        "not 'blok'; did you mean 'block'?"
    ) in out
    assert (
        "checks.repository.enabeld: unknown key (not part of the policy schema); did you mean 'enabled'?"
        in out
    )
    assert "literal[" not in out and "RequireApproval" not in out
    assert "help: see https://" in out  # a page that exists wherever traingate is installed


def test_a_duplicate_sensitive_path_name_points_at_the_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HEAD + (
        "sensitive_paths:\n"
        "  - {name: evals, paths: ['/evals/**'], approvers: [security]}\n"
        "  - {name: evals, paths: ['/bench/**'], approvers: [security]}\n"
    )
    code, out = validate(tmp_path, capsys, text)
    assert code == 2
    assert (
        ".traingate.yaml:5:12: sensitive_paths[1].name: duplicate name 'evals' (first used by sensitive_paths[0])"
        in out
    )


def test_explain_resolves_every_path_form_and_shows_config_rules(
    repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write(".traingate.yaml", HEAD)
    repo.write("configs/lr.yaml", "optimizer: {lr: 0.1}\n")
    repo.write(".traingate/tests/cases.yaml", "cases: []\n")
    repo.commit("base")
    monkeypatch.chdir(repo.path / "configs")
    capsys.readouterr()
    assert (
        main(
            [
                "policy",
                "explain",
                "lr.yaml",
                str(repo.path / "configs" / "lr.yaml"),
                "../.traingate/tests/cases.yaml",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    blocks = out.split("\n\n")[1:]
    assert [b.splitlines()[0] for b in blocks] == [
        "configs/lr.yaml:",
        "configs/lr.yaml:",
        ".traingate/tests/cases.yaml:",
    ]
    for b in blocks[:2]:
        assert "sensitive: training-configs" in b
        assert "config rule training-hyperparameters: changes to" in b
    assert "gate configuration" in blocks[2]
    # each check says what it is for (its DESCRIPTION), not only that it runs
    assert "  check suppression: runs (Added nosemgrep/nosec comments" in blocks[0]


CASES = """\
policy: |
  version: 1
  extends: builtin:default
  groups: {security: [sam], ml-reviewers: [bob]}
cases:
  - name: a training change needs an ML reviewer
    author: mallory
    files: {train.py: {before: "x = 1\\n", after: "x = 2\\n"}}
    approvals: [{user: bob}]
    expect:
      decison: block
"""


def test_policy_test_rejects_a_misspelled_expect_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "cases.yaml"
    f.write_text(CASES)
    capsys.readouterr()
    assert main(["policy", "test", str(f)]) == 2
    err = capsys.readouterr().err
    assert "cases.yaml:11:7: cases[0].expect.decison: unknown key; did you mean 'decision'?" in err


def test_a_failing_policy_case_says_why_the_gate_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "cases.yaml"
    f.write_text(
        CASES.replace("decison: block", "decision: pass").replace(
            "approvals: [{user: bob}]", "approvals: [{user: mallory}]"
        )
    )
    capsys.readouterr()
    assert main(["policy", "test", str(f)]) == 1
    out = capsys.readouterr().out
    assert "decision: expected 'pass', got 'block'" in out
    assert (
        "requirement training-code: 1 approval(s) needed from ml-reviewers, security, approved by nobody"
        in out
    )
    assert "mallory's approval did not count: is the change's author" in out


def test_scan_reads_the_repository_policy_at_head(
    repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exemption in the repository's policy applies to `scan` as it does to `check`.
    repo.write(
        ".traingate.yaml",
        HEAD + "exemptions:\n  - {check: unicode, rule: unicode-invisible, paths: ['docs/**'],"
        " reason: zero-width joiner in an emoji, expires: 2099-01-01, approved_by: sam}\n",
    )
    repo.write("docs/a.md", "hi \u200d there\n")
    repo.commit("docs")
    monkeypatch.chdir(repo.path)
    capsys.readouterr()
    code = main(["scan", "docs/a.md", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["policy"]["source"].startswith(".traingate.yaml@")
    (f,) = [f for f in doc["findings"] if f["rule_id"] == "unicode-invisible"]
    assert f["exempted"] and code == 0

"""docs/policy.md#testing-a-policy: the expectations the page names, its
default directory and `--policy` (issue #18). Each case runs the real gate in a
temp repository (traingate.policytest); semgrep is off to keep them fast,
except where a finding is the point."""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.cli import main

POLICY = """\
version: 1
groups:
  leads: [alice, bob]
sensitive_paths:
  - {name: training, paths: [train.py], approvals: 1, approvers: [leads]}
checks:
  semgrep: {enabled: false}
"""

CASES = """\
cases:
  - name: bob approves alice's change
    author: alice
    files: {train.py: {before: "x = 1\\n", after: "x = 2\\n"}, README.md: {before: null, after: "r\\n"}}
    approvals: [{user: bob}]
    expect:
      decision: pass
      requirements_exactly: [training]
      no_findings: true
  - name: a Trojan Source character is found
    author: alice
    files: {notes.py: {before: null, after: "x = 1  # \\u202e\\n"}}
    expect:
      decision: block
      requirements_exactly: []
      findings: [{rule_id: unicode-bidi-control, path: notes.py}]
"""


def _write(tmp: Path, cases: str, policy: str = POLICY) -> Path:
    (tmp / "policy.yaml").write_text(policy)
    (tmp / "cases.yaml").write_text("policy: policy.yaml\n" + cases)
    return tmp / "cases.yaml"


def test_every_documented_expectation_passes_when_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "test", str(_write(tmp_path, CASES))]) == 0, capsys.readouterr()
    assert capsys.readouterr().out.endswith("2 passed, 0 failed\n")


def test_each_expectation_fails_when_it_does_not_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong `requirements_exactly`, `findings` or `no_findings` fails the
    case (exit 1) and says which; nothing is silently accepted."""
    wrong = (
        CASES.replace("requirements_exactly: [training]", "requirements_exactly: [other]")
        .replace("no_findings: true", "findings: [{rule_id: exec-os-command, path: train.py}]")
        .replace("requirements_exactly: []", "no_findings: true")
    )
    assert main(["policy", "test", str(_write(tmp_path, wrong))]) == 1
    out = capsys.readouterr().out
    assert "requirements: expected exactly ['other'], got ['training']" in out
    assert "finding exec-os-command at train.py: expected, got none" in out
    assert "findings: expected none, got [('unicode-bidi-control', 'notes.py')]" in out
    assert out.endswith("0 passed, 2 failed\n")


def test_default_directory_and_policy_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`traingate policy test` reads `.traingate/tests/` by default; `--policy
    FILE` replaces the cases' own `policy:`."""
    cases = tmp_path / ".traingate" / "tests"
    cases.mkdir(parents=True)
    (tmp_path / ".traingate.yaml").write_text(POLICY)
    # The page's layout: a path relative to the case file.
    (cases / "cases.yaml").write_text("policy: ../../.traingate.yaml\n" + CASES)
    monkeypatch.chdir(tmp_path)
    assert main(["policy", "test"]) == 0
    assert capsys.readouterr().out.endswith("2 passed, 0 failed\n")
    # Under a policy where nobody leads, bob's approval no longer counts.
    strict = tmp_path / "strict.yaml"
    strict.write_text(POLICY.replace("leads: [alice, bob]", "leads: [alice, carol]"))
    assert main(["policy", "test", "--policy", str(strict)]) == 1
    assert "decision: expected 'pass', got 'block'" in capsys.readouterr().out

"""`traingate policy test`: the default policy's own cases pass; a broken expectation
fails with a readable diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_default_policy_cases_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["policy", "test", str(ROOT / "policy" / "tests")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.endswith("8 passed, 0 failed\n")


def test_failing_case_prints_a_readable_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policy.yaml").write_text(
        "version: 1\ngroups:\n  leads: [alice, bob]\nsensitive_paths:\n"
        "  - {name: training, paths: [train.py], approvals: 1, approvers: [leads]}\n"
        "checks:\n  semgrep: {enabled: false}\n"
    )
    (tmp_path / "cases.yaml").write_text(
        "policy: policy.yaml\ncases:\n"
        "  - name: someone thinks the author can approve\n"
        "    author: alice\n"
        "    files: {train.py: {before: 'x = 1\\n', after: 'x = 2\\n'}}\n"
        "    approvals: [{user: alice}]\n"
        "    expect:\n"
        "      decision: pass\n"
        "      requirements: [{name: training, satisfied: true, approved_by: [alice]}]\n"
    )
    assert main(["policy", "test", str(tmp_path / "cases.yaml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL cases.yaml: someone thinks the author can approve\n" in out
    assert "    decision: expected 'pass', got 'block'\n" in out
    assert "    requirement 'training'.satisfied: expected True, got False\n" in out
    assert "    requirement 'training'.approved_by: expected ['alice'], got []\n" in out
    assert out.endswith("0 passed, 1 failed\n")


def test_bad_case_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("cases: [{name: x}]\n")
    assert (
        main(["policy", "test", str(tmp_path / "c.yaml"), "--policy", str(tmp_path / "c.yaml")])
        == 2
    )
    assert "cases[0] needs `files:` and `expect:`" in capsys.readouterr().err

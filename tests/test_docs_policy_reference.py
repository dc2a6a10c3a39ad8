"""docs/policy.md's tables are the policy model (issue #18): every key the
model accepts is documented, every documented key exists, the documented
defaults and required keys are the model's, and the action table is what
traingate.engine.resolve_action does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from traingate.checks import REGISTRY
from traingate.engine import resolve_action
from traingate.findings import Finding
from traingate.policy.model import (
    Checks,
    CheckSettings,
    Exemption,
    Policy,
    RequireApproval,
    SemgrepSettings,
    SensitivePath,
    Severity,
)

PAGE = (Path(__file__).resolve().parents[1] / "docs" / "policy.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return PAGE.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table(text: str) -> dict[str, list[str]]:
    """{`key`: [the other cells]} of the first table in ``text``."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"\| `(\w+)` \|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
        elif rows and not line.startswith("|"):
            break
    return rows


def _keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_top_level_table_is_the_policy_model() -> None:
    table = _table(_section("Top level"))
    assert set(table) == _keys(Policy)
    required = {k for k, cells in table.items() if cells[1] == "required"}
    assert required == {k for k, f in Policy.model_fields.items() if f.is_required()}
    assert Policy.model_fields["case_insensitive_paths"].default is False


def test_sensitive_paths_table_and_default_approvals() -> None:
    table = _table(_section("`sensitive_paths[]`"))
    assert set(table) == _keys(SensitivePath)
    assert "(default 1)" in table["approvals"][0]
    assert SensitivePath.model_fields["approvals"].default == 1


def test_check_ids_and_settings_are_the_model() -> None:
    text = _section("`checks.<id>`")
    listed = re.findall(r"`([a-z]+)`", text.split("Each takes:", 1)[0])
    assert sorted(listed) == sorted(REGISTRY) == sorted(_keys(Checks))
    table = _table(text)
    assert set(table) == _keys(CheckSettings)
    assert CheckSettings().paths == ["**"] and table["paths"][1] == '`["**"]`'
    # The semgrep settings the paragraph names, with their documented defaults.
    extra = _keys(SemgrepSettings) - _keys(CheckSettings)
    assert extra == {"rule_dirs", "timeout", "max_file_bytes", "builtin_rules", "engine"}
    assert all(f"`{k}`" in text for k in extra)
    s = SemgrepSettings()
    assert (s.timeout, s.max_file_bytes, s.builtin_rules, s.engine) == (
        300,
        4_000_000,
        True,
        "osemgrep",
    )
    assert "default 300" in text and "default 4,000,000" in text
    assert "`builtin_rules` (default `true`)" in text and "`osemgrep`, the default" in text


def test_exemption_table_says_which_keys_are_required() -> None:
    table = _table(_section("`exemptions[]`"))
    assert set(table) == _keys(Exemption)
    documented = {k for k, cells in table.items() if "required" in cells[0]}
    assert documented == {k for k, f in Exemption.model_fields.items() if f.is_required()}


def _finding(severity: Severity, rule: str = "r", category: str | None = "c") -> Finding:
    return Finding("a.py", 1, 1, "semgrep", rule, severity, "m", category=category)


@pytest.mark.parametrize(
    ("security_group", "severity", "want"),
    [
        ("security", Severity.ERROR, RequireApproval(require_approval="security")),
        (None, Severity.ERROR, "block"),
        ("security", Severity.WARNING, "warn"),
        ("security", Severity.INFO, "ignore"),
    ],
)
def test_default_actions(security_group: str | None, severity: Severity, want: object) -> None:
    """ "Without an entry: ERROR → {require_approval: <security_group>} (or
    block when no security group is set), WARNING → warn, INFO → ignore."""
    groups = {"security": ["sam"]}
    policy = Policy.model_validate(
        {"version": 1, "groups": groups, "security_group": security_group}
    )
    assert resolve_action(policy, None, _finding(severity)) == want


def test_action_precedence() -> None:
    """rules[<rule id>], then rules[category:<name>], then actions[<severity>],
    then the default."""
    policy = Policy.model_validate({"version": 1})
    settings = CheckSettings.model_validate(
        {"actions": {"ERROR": "warn"}, "rules": {"r": "ignore", "category:c": "block"}}
    )
    assert resolve_action(policy, settings, _finding(Severity.ERROR)) == "ignore"
    assert resolve_action(policy, settings, _finding(Severity.ERROR, rule="s")) == "block"
    other = _finding(Severity.ERROR, rule="s", category="d")
    assert resolve_action(policy, settings, other) == "warn"
    assert resolve_action(policy, None, other) == "block"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("base: &b {approvals: 1}\nsensitive_paths:\n  - <<: *b\n", "merge key"),
        ("groups:\n  a: [x]\n  a: [y]\n", "duplicate"),
    ],
)
def test_merge_keys_and_duplicates_are_policy_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, what: str
) -> None:
    """ "duplicate keys, Python tags (`!!python/...`), merge keys and alias
    bombs are errors" (tests/test_policy.py holds the tags and the bombs)."""
    from traingate.cli import main

    p = tmp_path / "p.yaml"
    p.write_text("version: 1\n" + body)
    assert main(["policy", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:" in err and what in err.lower(), err

"""The rule catalog (issue #15): one declaration per rule that the policy,
reports, docs and tests all read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from traingate import catalog
from traingate.checks import CATALOGS, REGISTRY
from traingate.cli import main

from .conftest import Repo

ROOT = Path(__file__).resolve().parents[1]


def _rows(check: str) -> dict[str, str]:
    """rule id -> severity, from the rules table of docs/checks/<check>.md."""
    text = (ROOT / "docs" / "checks" / f"{check}.md").read_text(encoding="utf-8")
    rows = re.findall(r'^\| <a id="([a-z0-9-]+)"></a>`\1` \| ([A-Z]+)', text, re.M)
    return dict(rows)


@pytest.mark.parametrize("check", list(REGISTRY))
def test_every_rule_has_an_anchored_docs_row_with_its_severity(check: str) -> None:
    rows = _rows(check)
    declared = {r.id: r.severity.value for r in CATALOGS[check]}
    assert rows == declared


def test_every_pack_rule_has_its_page_and_ids_are_unique() -> None:
    ids = [r.id for r in catalog.semgrep_pack()]
    assert len(ids) == len(set(ids)) >= 50
    for rid in ids:
        assert (ROOT / "docs" / "rules" / f"{rid}.md").is_file(), rid
    every = [r.id for c in CATALOGS.values() for r in c] + ids
    assert len(every) == len(set(every)), "a rule id is declared twice"


def test_rule_urls_point_at_pages_that_exist() -> None:
    for rule in catalog.all_rules().values():
        page = rule.page.split("#")[0]
        assert (ROOT / "docs" / page).is_file(), rule.page


def test_undeclared_rule_id_cannot_be_made() -> None:
    with pytest.raises(KeyError, match="declares no rule"):
        CATALOGS["repository"].finding("repo-nope", path="x", message="m")


POLICY = """\
version: 1
extends: builtin:default
checks:
  semgrep:
    rules:
      exec-os-comand: block
exemptions:
  - check: unicode
    rule: unicode-invisble
    paths: ["docs/**"]
    reason: emoji in docs
    expires: 2099-01-01
    approved_by: sam
"""


def test_policy_validate_rejects_unknown_rule_ids_with_location_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / ".traingate.yaml"
    p.write_text(POLICY)
    assert main(["policy", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{p.name}:6:7: checks.semgrep.rules.exec-os-comand: unknown rule 'exec-os-comand' "
        "for check 'semgrep'; did you mean 'exec-os-command'?"
    ) in err
    assert (
        f"{p.name}:9:11: exemptions[0].rule: unknown rule 'unicode-invisble' for check "
        "'unicode'; did you mean 'unicode-invisible'?"
    ) in err


def test_policy_validate_rejects_an_unknown_category(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / ".traingate.yaml"
    p.write_text(
        "version: 1\nextends: builtin:default\n"
        "checks:\n  semgrep:\n    rules:\n      category:code-exec: block\n"
    )
    assert main(["policy", "validate", str(p)]) == 2
    assert "did you mean 'code-execution'?" in capsys.readouterr().err


def test_known_ids_and_categories_validate(tmp_path: Path) -> None:
    p = tmp_path / ".traingate.yaml"
    p.write_text(
        "version: 1\nextends: builtin:default\n"
        "checks:\n  semgrep:\n    rules:\n      exec-os-command: block\n"
        "      category:code-execution: block\n"
        "  repository:\n    rules:\n      repo-symlink: ignore\n"
    )
    assert main(["policy", "validate", str(p)]) == 0


def test_a_check_with_an_unknown_rule_id_fails_closed(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The repository's own policy names a rule that does not exist: the gate
    # does not run with a policy it cannot trust to mean what it says.
    repo.write(".traingate.yaml", "version: 1\nextends: builtin:default\n")
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.write(
        ".traingate.yaml",
        "version: 1\nextends: builtin:default\nchecks:\n  semgrep:\n    rules:\n"
        "      exec-os-comand: block\n",
    )
    repo.commit("policy typo")
    assert main(["check", "--repo", str(repo.path), "--base", "HEAD", "--head", "HEAD"]) == 2


def test_rule_and_rules_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "unicode-encoding-cookie"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("unicode-encoding-cookie (unicode, ERROR")
    assert "docs/checks/unicode.md#unicode-encoding-cookie" in out
    assert "## What it does" in out  # the page itself, offline
    assert main(["rule", "exec-os-comand"]) == 2
    assert "did you mean 'exec-os-command'" in capsys.readouterr().err
    assert main(["rules", "list", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ids = {r["id"] for r in doc}
    assert {"exec-os-command", "repo-symlink", "approval-required"} <= ids
    assert main(["rules", "list", "--check", "suppression"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()] == [
        "suppress-ignore-file",
        "suppress-nosec",
        "suppress-nosemgrep",
    ]


def test_engine_rule_constants_are_declared_rules() -> None:
    """The artifacts engine names its rules by constants (it runs without the
    check); each must be a rule the check declares, and every declared rule must
    have one, so the engine cannot emit an id the catalog does not know."""
    from traingate.checks.artifacts import common

    constants = {v for k, v in vars(common).items() if k.startswith("RULE_")}
    assert constants == {r.id for r in CATALOGS["artifacts"]}

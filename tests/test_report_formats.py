"""Whole-report snapshots of every machine format (issue #15): JSON, SARIF,
markdown and GitLab Code Quality, for one change with a blocking finding, a
finding that needs an approval through a per-rule override, a finding a
`category:` override turns into a warning, and an exempted finding.

The engine's policy application (overrides, exemptions) and each reporter run
for real on a real repository with real semgrep; temp paths and object ids are
scrubbed. Accept an intended change with TRAINGATE_UPDATE_SNAPSHOTS=1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from traingate.cli import main

from . import outcomes
from .conftest import Repo
from .snapshot import assert_snapshot, scrub

DATA = Path(__file__).parent / "data"
OVERRIDES = """\
checks:
  semgrep:
    rules:
      exec-os-command: {require_approval: security}
      category:network-egress: warn
"""


@pytest.fixture
def change(repo: Repo) -> Repo:
    for rel, text in outcomes.BASE.items():
        repo.write(rel, text)
    repo.write(".traingate.yaml", outcomes.POLICY + OVERRIDES)
    repo.commit("base")
    repo.branch("feature")
    outcomes.write(repo, outcomes.EVERYTHING)
    repo.commit("change", who="mallory")
    return repo


def _report(repo: Repo, capsys: pytest.CaptureFixture[str], fmt: str) -> tuple[int, str]:
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature", "--format", fmt]
    )
    out = scrub(capsys.readouterr().out, repo.path)
    out = re.sub(r"\b[0-9a-f]{40}\b|\b[0-9a-f]{64}\b", "<oid>", out)
    out = re.sub(r"(head|base) `[0-9a-f]{12}`", r"\1 `<oid>`", out)
    return code, out.replace(repo.path.as_uri(), "file://<tmp>")


def test_the_policy_is_applied_as_written(change: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _report(change, capsys, "json")
    doc = json.loads(out)
    by_rule = {f["rule_id"]: f for f in doc["findings"]}
    assert by_rule["unicode-bidi-control"]["outcome"] == "block"
    run = by_rule["exec-os-command"]
    assert (run["path"], run["outcome"], run["approval_group"]) == (
        "tools/run.py",
        "require_approval",
        "security",
    )
    fetch = [f for f in doc["findings"] if f["path"] == "tools/fetch.py"]
    assert fetch and all(f["outcome"] == "warn" for f in fetch)  # category override
    legacy = [f for f in doc["findings"] if f["path"] == "tools/legacy_launch.py"]
    assert legacy and all(f["exempted"] for f in legacy)
    assert code == 1 and doc["decision"] == "block"


@pytest.mark.parametrize("fmt", ["json", "sarif", "markdown", "gitlab-codequality"])
def test_whole_report_snapshot(change: Repo, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out = _report(change, capsys, fmt)
    assert code == 1
    if fmt == "json":
        doc = json.loads(out)
        doc["tool"]["version"] = "<version>"
        out = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "sarif":
        doc = json.loads(out)
        schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
        jsonschema.Draft4Validator(schema).validate(doc)
        driver = doc["runs"][0]["tool"]["driver"]
        driver["version"] = driver["semanticVersion"] = "<version>"
        for rule in driver["rules"]:
            rule.pop("help", None)  # the docs pages themselves; their tests hold them
        out = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "gitlab-codequality":
        doc = json.loads(out)
        schema = json.loads((DATA / "gitlab-codequality.schema.json").read_text())
        jsonschema.validate(doc, schema)
    assert_snapshot(f"report-{fmt}", out)

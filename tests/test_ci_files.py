"""action.yml, the example workflow and the GitLab template: structure and safety.

zizmor (auditor persona, offline) audits action.yml and every example workflow and
check-jsonschema validates all three against its vendored SchemaStore schemas (#19);
actionlint also runs when an `actionlint` binary is on PATH (its PyPI package
downloads the Go binary at build time, which this project's CI cannot do).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load(rel: str) -> dict[Any, Any]:
    """A YAML mapping; YAML 1.1 keys are not always strings (``on`` reads as true)."""
    return cast("dict[Any, Any]", yaml.safe_load((ROOT / rel).read_text()))


def test_action_installs_from_its_own_ref_and_sets_outputs() -> None:
    action = load("action.yml")
    assert action["runs"]["using"] == "composite"
    assert set(action["outputs"]) >= {"decision", "sarif-file"}
    scripts = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    # Dependencies by hash from the action's own lock, then traingate without deps.
    assert '--require-hashes -r "$GITHUB_ACTION_PATH/requirements/runtime.lock"' in scripts
    assert '--no-deps --no-build-isolation "$GITHUB_ACTION_PATH"' in scripts
    assert 'traingate" ci' in scripts
    assert "pip install ." not in scripts and "GITHUB_WORKSPACE" not in scripts


def test_example_workflow_is_least_privilege() -> None:
    wf = load("docs/ci/github-workflow.yml")
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads `on` as true
    # edited: a retargeted PR is judged against its new base (issue #14 class 12)
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened", "edited"]
    assert on["merge_group"]["types"] == ["checks_requested"]
    assert on["pull_request_review"]["types"] == ["submitted", "dismissed"]
    assert "pull_request_target" not in on
    # actions: read lets the gate see who pushed each head (issue #14 class 2)
    assert wf["permissions"] == {"contents": "read", "pull-requests": "read", "actions": "read"}
    checkout = wf["jobs"]["gate"]["steps"][0]
    assert checkout["with"]["persist-credentials"] is False and checkout["with"]["fetch-depth"] == 0


def test_example_workflow_runs_on_the_protected_branch_and_never_filters_paths() -> None:
    """A required check must always report (issue #19): no path or branch-ignore
    filters; a push run on the protected branch makes `gate` selectable."""
    wf = load("docs/ci/github-workflow.yml")
    on = wf[True] if True in wf else wf["on"]
    assert on["push"] == {"branches": ["main"]}
    for event, spec in on.items():
        assert not {"paths", "paths-ignore", "branches-ignore"} & set(spec or {}), event
    assert wf["jobs"]["gate"]["name"] == "gate"  # the required check's exact name


def test_action_upload_is_skipped_on_forks_and_comment_is_opt_in() -> None:
    action = load("action.yml")
    [upload] = [s for s in action["runs"]["steps"] if s.get("name") == "Upload SARIF"]
    cond = " ".join(upload["if"].split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in cond
    assert "github.event.pull_request == null" in cond  # pushes and merge groups upload
    assert "continue-on-error" not in upload
    assert action["inputs"]["comment"]["default"] == "false"
    [gate] = [s for s in action["runs"]["steps"] if s.get("id") == "gate"]
    assert gate["env"]["TRAINGATE_PR_COMMENT"] == "${{ inputs.comment }}"


def test_gitlab_template_publishes_code_quality() -> None:
    tpl = load("templates/traingate.gitlab-ci.yml")["traingate"]
    # every merge request pipeline, merge trains included; never `changes:` (issue #19)
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


WORKFLOWS = ["docs/ci/github-workflow.yml"]


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(name)
    assert exe is not None, f"{name} is a test dependency (pyproject [test])"
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.mark.parametrize("rel", ["action.yml", *WORKFLOWS])
def test_zizmor_finds_nothing(rel: str) -> None:
    proc = _tool("zizmor", "--offline", "--persona", "auditor", "--no-progress", rel)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("schema", "rel"),
    [
        ("vendor.github-actions", "action.yml"),
        *[("vendor.github-workflows", w) for w in WORKFLOWS],
        ("vendor.gitlab-ci", "templates/traingate.gitlab-ci.yml"),
    ],
)
def test_check_jsonschema_validates(schema: str, rel: str) -> None:
    proc = _tool("check-jsonschema", "--builtin-schema", schema, rel)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nothing_installs_by_floating_name() -> None:
    tpl = (ROOT / "templates/traingate.gitlab-ci.yml").read_text()
    action = (ROOT / "action.yml").read_text()
    for text in (tpl, action):
        for line in text.splitlines():
            if "pip install" in line:
                assert "--require-hashes -r" in line or "--no-deps" in line, line
    assert "traingate==" not in tpl


def _fetch_block(tmp: Path) -> str:
    """The template's fetch-and-verify shell, with its paths moved under ``tmp`` and
    the two pip lines left out (they need the registry, not what is tested here)."""
    tpl = load("templates/traingate.gitlab-ci.yml")["traingate"]
    block = next(s for s in tpl["before_script"] if "TRAINGATE_COMMIT" in s)
    lines = [ln for ln in block.splitlines() if "pip install" not in ln and "venv" not in ln]
    return "\n".join(lines).replace("/opt/", f"{tmp}/")


@pytest.mark.parametrize("pin", ["main", "v0.1.0", "abc123", "head", "0" * 40])
def test_gitlab_template_refuses_anything_but_an_existing_full_sha(
    tmp_path: Path, pin: str
) -> None:
    src = tmp_path / "mirror"
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(src),
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    head = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TRAINGATE_REPO": f"file://{src}"}
    script = _fetch_block(tmp_path)
    ok = subprocess.run(
        ["bash", "-c", script],
        env={**env, "TRAINGATE_COMMIT": head},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(
        ["bash", "-c", script], env={**env, "TRAINGATE_COMMIT": pin}, capture_output=True, text=True
    )
    assert bad.returncode != 0

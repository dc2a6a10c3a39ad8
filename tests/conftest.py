"""Shared fixtures: real git repositories built in temp dirs, run with real git."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

# The rule pack's nine categories, one directory each under policy/rules.
CATEGORIES = (
    "code-execution",
    "unsafe-deserialization",
    "remote-code",
    "network-egress",
    "framework-tampering",
    "triggered-sabotage",
    "training-sabotage",
    "persistence-antiforensics",
    "obfuscation",
)

# Issue #16 class 1: executable surfaces that were not scanned at all. Evasion
# categories only (tests/fixtures/evasion/<surface>/): their findings come from
# rules of the categories above and from the autorun check.
SURFACES = (
    "shell-launchers",
    "build-recipes",
    "templates",
    "notebooks",
    "interpreter-hooks",
)
EVASION_CATEGORIES = CATEGORIES + SURFACES

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
"""


class Repo:
    """A throwaway git repository driven through the real git CLI."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, who: str = "alice", check: bool = True) -> str:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            "GIT_AUTHOR_NAME": who,
            "GIT_AUTHOR_EMAIL": f"{who}@example.com",
            "GIT_COMMITTER_NAME": who,
            "GIT_COMMITTER_EMAIL": f"{who}@example.com",
        }
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def write(self, rel: str, content: str | bytes, mode: int | None = None) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        if mode is not None:
            p.chmod(mode)
        return p

    def commit(self, message: str = "change", who: str = "alice") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "--allow-empty", "-m", message, who=who)
        return self.git("rev-parse", "HEAD").strip()

    def branch(self, name: str) -> None:
        self.git("checkout", "-q", "-b", name)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)


def feature_repo(
    root: Path, base: Mapping[str, str | bytes], head: Mapping[str, str | bytes]
) -> Repo:
    """``main`` holds the policy and ``base``; branch ``feature`` adds ``head``
    as one commit by mallory (the insider the module-scoped report tests)."""
    repo = Repo(root / "repo")
    repo.write(".traingate.yaml", POLICY)
    for rel, content in (base or {"README.md": "# project\n"}).items():
        repo.write(rel, content)
    repo.commit("base")
    repo.branch("feature")
    for rel, content in head.items():
        repo.write(rel, content)
    repo.commit("change", who="mallory")
    return repo


def gate_report(repo: Repo, out: Path) -> dict[str, Any]:
    """``traingate check main..feature`` through the real CLI, its JSON report;
    a run error (not a finding) fails the test."""
    from traingate.cli import main

    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    argv += ["--format", "json", "--output", str(out)]
    with contextlib.redirect_stdout(io.StringIO()):
        main(argv)
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert doc["errors"] == []
    return doc


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture
def policy_repo(repo: Repo) -> Repo:
    """A repo whose main branch holds a policy extending the default, plus a benign train.py."""
    repo.write(".traingate.yaml", POLICY)
    repo.write("train.py", "import torch\n\n\ndef step(model):\n    model.train()\n")
    repo.write("README.md", "# project\n")
    repo.commit("initial")
    repo.branch("feature")
    return repo


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Results are keyed by (rule pack, semgrep version, blob id): sharing them
    # across tests is safe and saves a semgrep start per repeated blob.
    return tmp_path_factory.mktemp("traingate-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(_session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(_session_cache))
    yield


# Issue #15: `python -m pytest -m "not slow"` is the fast inner loop; CI runs
# everything. Marked here, by module or by test, from `--durations=0` of the
# whole suite (docs/development.md, "Tests"): what runs semgrep over more than
# a few files, fuzzes, builds venvs or big repositories, or drives real
# pre-commit and release builds. A new test that does any of that belongs here.
SLOW = (
    "checks/test_",  # the whole gate (semgrep included) on each check's fixtures
    "test_behaviour_snapshot.py",  # the gate over every legit/injected example
    "test_cli_misc.py::test_rules_test_passes_and_fails",  # semgrep --test on the pack
    "test_diff_fuzz.py",
    "test_env_verify.py",  # builds real venvs (pip and uv)
    "test_evasion.py",  # every evasion variant through the gate
    "test_injected_examples.py",
    "test_lint.py",  # ruff and mypy over the repository
    "test_policytest.py::test_default_policy_cases_pass",
    "test_precommit.py",  # the real pre-commit framework
    "test_process_faults.py",  # semgrep timeouts, concurrent runs
    "test_reach_prefill.py::test_a_scan_",  # scans with semgrep, and without, of ~40 files
    "test_release.py",  # cuts a release and rebuilds it twice
    # semgrep --test and --validate on the pack (the per-rule tests read the
    # one --test run: whichever of them runs first pays for it)
    "test_rules_pack.py::test_semgrep_",
    "test_rules_pack.py::test_rule_semgrep_test_passes",
    "test_rules_progress.py",
    "test_scale.py",  # a 100,000-file change, a 50 MB file
    "test_semgrep_check.py",
    "test_semgrep_engines.py",  # both semgrep engines over every fixture
    "test_semgrep_regions.py",
    "test_surfaces.py",
    "test_text_report.py::test_plain_output_never_imports_rich",  # a fresh interpreter
)
# Fast tests inside a slow prefix (they only read fixtures or the catalog).
FAST = (
    "checks/test_catalog_fixtures.py",
    "checks/test_harness.py::test_markers",
    "checks/test_harness.py::test_orphan",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        rel = Path(item.path).relative_to(tests).as_posix()
        node = rel + "::" + item.nodeid.partition("::")[2]
        if node.startswith(SLOW) and not node.startswith(FAST):
            item.add_marker(pytest.mark.slow)

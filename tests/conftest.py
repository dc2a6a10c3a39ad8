"""Shared fixtures: real git repositories built in temp dirs, run with real git."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

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

"""The repository check: links, submodules, modes, .gitattributes, odd paths."""

from __future__ import annotations

import json
import os

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo


@pytest.fixture
def rrepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("policy/rules.yaml", "x: 1\n")
    repo.write("tools/run.sh", "echo hi\n")
    repo.write("notes.txt", "n\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def findings(repo: Repo, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, int | None]]:
    main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return [
        (f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["check"] == "repository"
    ]


def test_symlinks(rrepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    os.symlink("../policy/rules.yaml", rrepo.path / "tools" / "cfg.yaml")
    os.symlink("/home/x/.ssh/id_rsa", rrepo.path / "key")
    os.symlink("notes.txt", rrepo.path / "plain_link")
    (rrepo.path / "tools" / "run.sh").unlink()
    os.symlink("../notes.txt", rrepo.path / "tools" / "run.sh")
    rrepo.commit("links", who="mallory")
    assert findings(rrepo, capsys) == [
        ("repo-symlink-outside", "key", None),
        ("repo-symlink", "plain_link", None),
        ("repo-symlink-into-sensitive", "tools/cfg.yaml", None),
        ("repo-file-replaced-by-symlink", "tools/run.sh", None),
    ]


def test_submodule_mode_and_gitattributes(rrepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    base = rrepo.git("rev-parse", "HEAD").strip()
    rrepo.git("update-index", "--add", "--cacheinfo", f"160000,{base},train/vendor")
    (rrepo.path / "tools" / "run.sh").chmod(0o755)
    rrepo.write(
        ".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n# ok comment\n*.md text\n"
    )
    rrepo.git("add", "tools/run.sh", ".gitattributes")
    rrepo.git("commit", "-q", "-m", "misc")
    got = findings(rrepo, capsys)
    assert got == [
        ("repo-gitattributes", ".gitattributes", 1),
        ("repo-gitattributes", ".gitattributes", 3),
        ("repo-made-executable", "tools/run.sh", None),
        ("repo-submodule", "train/vendor", None),
    ]


def test_odd_paths(rrepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    rrepo.write("-rf.py", "x = 1\n")
    rrepo.write("line\nbreak.py", "x = 1\n")
    rrepo.write("plain name.py", "x = 1\n")
    rrepo.git("add", "--", "-rf.py", "line\nbreak.py", "plain name.py")
    rrepo.git("commit", "-q", "-m", "odd")
    assert findings(rrepo, capsys) == [
        ("repo-odd-path", "-rf.py", None),
        ("repo-odd-path", "line\nbreak.py", None),
    ]

"""scripts/release.py end to end, in temporary clones of this repository (issue #19).

The release runs in a clone of the repository this file lives in (HEAD, on a
`main` branch made there), never in the checkout itself. It proves: the
annotated tag on the release commit, the CHANGELOG section and the version
bump; two independent builds of the tag byte-identical and `twine check`
clean; and the real `pre-commit autoupdate` moving a consumer's older rev to
the new tag (a local path repo, offline).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "release.py"
ENTRY = "- A test entry (tests/test_release.py).\n"


if not SCRIPT.is_file():  # an sdist carries no scripts/
    pytest.skip("scripts/release.py is not in this tree", allow_module_level=True)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("traingate_release_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


release = _load_script()


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No GIT_* from outside, no system or user config: an identity, no signing."""
    cfg = tmp_path_factory.mktemp("gitconfig") / "config"
    cfg.write_text(
        "[user]\n\tname = Rel Ease\n\temail = release@example.com\n"
        "[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update({"GIT_CONFIG_GLOBAL": str(cfg), "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sums(stdout: str) -> dict[str, str]:
    """The script's stdout: `sha256sum` lines."""
    found = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", stdout, re.M)
    )
    assert len(found) == 2, stdout
    return found


def _clone(dest: Path, env: dict[str, str]) -> Path:
    """A clone of this repository's HEAD on a branch `main`, with a CHANGELOG entry."""
    if (ROOT / ".git").exists():
        _git(dest.parent, env, "clone", "-q", "--no-hardlinks", str(ROOT), str(dest))
        # CI checkouts may be detached; the release needs to be on main.
        _git(dest, env, "checkout", "-q", "-B", "main", "HEAD")
    else:  # an unpacked sdist: a committed snapshot
        shutil.copytree(
            ROOT,
            dest,
            ignore=shutil.ignore_patterns(
                "venv",
                ".venv",
                ".ci-venv",
                "dist",
                "build",
                "*.egg-info",
                "__pycache__",
                ".*_cache",
            ),
        )
        _git(dest, env, "init", "-q", "-b", "main")
    log = dest / "CHANGELOG.md"
    text = log.read_text(encoding="utf-8")
    # [Unreleased] may be empty right after a real release: give it an entry.
    text = text.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Added\n" + ENTRY, 1)
    log.write_text(text, encoding="utf-8")
    _git(dest, env, "add", "-A")
    _git(dest, env, "commit", "-q", "--no-verify", "-m", "test: a change to release")
    return dest


def _next_version(repo: Path, env: dict[str, str]) -> str:
    current = release.read_version((repo / "src/traingate/__init__.py").read_text())
    tags = release.release_tags(repo)
    base = max([release.parse_version(current), *tags])
    return f"{base[0]}.{base[1]}.{base[2] + 1}"


@dataclass(frozen=True)
class Released:
    repo: Path
    version: str
    base: str  # the commit before the release
    earlier_tag: str  # a tag on `base`
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, git_env: dict[str, str]) -> Released:
    repo = _clone(tmp_path_factory.mktemp("release") / "traingate", git_env)
    base = _git(repo, git_env, "rev-parse", "HEAD").strip()
    _git(repo, git_env, "tag", "-a", "-m", "an earlier tag", "test-earlier", base)
    version = _next_version(repo, git_env)
    proc = _script(git_env, version, "--repo", str(repo))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Released(repo, version, base, "test-earlier", proc)


def test_release_commits_tags_and_moves_the_changelog(
    released: Released, git_env: dict[str, str]
) -> None:
    repo, version, env = released.repo, released.version, git_env
    tag = f"v{version}"
    head = _git(repo, env, "rev-parse", "HEAD").strip()
    # An annotated tag on the release commit, which sits on main right after the base.
    assert _git(repo, env, "cat-file", "-t", tag).strip() == "tag"
    assert _git(repo, env, "rev-parse", f"{tag}^{{commit}}").strip() == head
    assert _git(repo, env, "rev-parse", "main").strip() == head
    assert _git(repo, env, "rev-parse", "HEAD~1").strip() == released.base
    assert _git(repo, env, "log", "-1", "--format=%s").strip() == f"Release {version}"
    changed = _git(repo, env, "diff", "--name-only", "HEAD~1", "HEAD").split()
    assert sorted(changed) == ["CHANGELOG.md", "src/traingate/__init__.py"]
    assert ENTRY.strip() in _git(repo, env, "tag", "-l", "--format=%(contents)", tag)
    # The version, bumped in the clone only.
    init = (repo / "src/traingate/__init__.py").read_text()
    assert release.read_version(init) == version
    assert release.read_version((ROOT / "src/traingate/__init__.py").read_text()) != version
    # The CHANGELOG: [Unreleased] emptied, its entries under the release, dated
    # with the release commit's UTC date.
    ct = int(_git(repo, env, "log", "-1", "--format=%ct").strip())
    date = datetime.fromtimestamp(ct, timezone.utc).date().isoformat()
    log = (repo / "CHANGELOG.md").read_text()
    assert f"## [Unreleased]\n\n## [{version}] - {date}\n\n### Added\n{ENTRY}" in log
    assert log.count(ENTRY) == 1
    assert f"[Unreleased]: {release.REPO_URL}/compare/v{version}...HEAD\n" in log
    assert _git(repo, env, "status", "--porcelain").strip() == ""  # dist/ is ignored
    # The push is left to a person.
    assert f"git push origin refs/tags/{tag}" in released.proc.stderr
    assert f"traingate/traingate@{head} # {tag}" in released.proc.stderr


def test_artifacts_are_checked_and_a_rebuild_is_byte_identical(
    released: Released, git_env: dict[str, str], tmp_path: Path
) -> None:
    repo, version = released.repo, released.version
    sums = _sums(released.proc.stdout)
    dist = repo / "dist"
    sdist, wheel = release.artifact_names(version)
    assert sorted(sums) == sorted([sdist, wheel]) == sorted(p.name for p in dist.iterdir())
    for name, digest in sums.items():
        assert _sha256(dist / name) == digest
    with zipfile.ZipFile(dist / wheel) as zf:
        meta = zf.read(f"traingate-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in meta
    # twine check, run here too rather than trusting the script's exit code.
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist / sdist), str(dist / wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert twine.returncode == 0 and twine.stdout.count("PASSED") == 2, twine.stdout + twine.stderr
    # A second, independent build of the tag (another clone, process and time):
    # byte for byte the same, and --compare agrees.
    again = _script(
        git_env, "--rebuild", version, "--repo", str(repo), "--out", str(tmp_path / "rebuilt"),
        "--compare", str(dist),
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert _sums(again.stdout) == sums
    assert {p.name: _sha256(p) for p in (tmp_path / "rebuilt").iterdir()} == sums
    # --compare notices a different artifact.
    tampered = tmp_path / "tampered"
    shutil.copytree(dist, tampered)
    with (tampered / wheel).open("ab") as f:
        f.write(b"\0")
    proc = _script(git_env, "--rebuild", version, "--repo", str(repo), "--compare", str(tampered))
    assert proc.returncode == 1 and wheel in proc.stderr and sdist not in proc.stderr.split(":")[-1]


@pytest.mark.parametrize("older", ["sha", "tag"])
def test_pre_commit_autoupdate_moves_to_the_release_tag(
    older: str, released: Released, git_env: dict[str, str], tmp_path: Path
) -> None:
    """The real framework: `rev:` pinned to the commit before the release (a sha
    or an earlier tag) becomes `vX.Y.Z`; with --freeze, a full sha that peels to it."""
    tag = f"v{released.version}"
    rev = released.base if older == "sha" else released.earlier_tag
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    _git(consumer, git_env, "init", "-q", "-b", "main")
    config = consumer / ".pre-commit-config.yaml"
    hooks = "    hooks:\n      - id: traingate\n      - id: traingate-push\n"
    config.write_text(f"repos:\n  - repo: {released.repo}\n    rev: {rev}\n{hooks}")
    env = {**git_env, "PRE_COMMIT_HOME": str(tmp_path / "home"), "PRE_COMMIT_COLOR": "never"}
    exe = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "pre_commit"]
    proc = subprocess.run(
        [*cmd, "autoupdate"], cwd=consumer, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"updating {rev} -> {tag}" in proc.stdout
    assert f"    rev: {tag}\n" in config.read_text()
    # --freeze: the full commit sha of the tag, the tag in a comment.
    config.write_text(f"repos:\n  - repo: {released.repo}\n    rev: {rev}\n{hooks}")
    proc = subprocess.run(
        [*cmd, "autoupdate", "--freeze"],
        cwd=consumer,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # pre-commit freezes an annotated tag to the tag object's id (immutable as
    # well: it names the commit by hash), which peels to the release commit.
    frozen = re.search(r"^    rev: ([0-9a-f]{40})  # frozen: (\S+)$", config.read_text(), re.M)
    assert frozen is not None and frozen.group(2) == tag, config.read_text()
    assert frozen.group(1) == _git(released.repo, git_env, "rev-parse", tag).strip()
    assert _git(released.repo, git_env, "rev-parse", f"{frozen.group(1)}^{{commit}}") == _git(
        released.repo, git_env, "rev-parse", f"{tag}^{{commit}}"
    )


def test_dry_run_changes_nothing(git_env: dict[str, str], tmp_path: Path) -> None:
    repo = _clone(tmp_path / "traingate", git_env)
    version = _next_version(repo, git_env)
    before = (
        _git(repo, git_env, "rev-parse", "HEAD"),
        _git(repo, git_env, "tag", "-l"),
        (repo / "CHANGELOG.md").read_bytes(),
    )
    proc = _script(git_env, version, "--dry-run", "--repo", str(repo), "--date", "2030-01-02")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(_sums(proc.stdout)) == sorted(release.artifact_names(version))
    assert f"Release {version}" in proc.stderr and "nothing changed" in proc.stderr
    after = (
        _git(repo, git_env, "rev-parse", "HEAD"),
        _git(repo, git_env, "tag", "-l"),
        (repo / "CHANGELOG.md").read_bytes(),
    )
    assert after == before
    assert _git(repo, git_env, "status", "--porcelain", "--ignored").strip() == ""


def test_refusals(git_env: dict[str, str], tmp_path: Path) -> None:
    """Each precondition stops the release before anything is written."""
    repo = _clone(tmp_path / "traingate", git_env)
    version = _next_version(repo, git_env)
    head = _git(repo, git_env, "rev-parse", "HEAD")

    def refused(*args: str) -> str:
        proc = _script(git_env, *args, "--repo", str(repo))
        assert proc.returncode != 0, proc.stdout + proc.stderr
        assert _git(repo, git_env, "rev-parse", "HEAD") == head
        assert not (repo / "dist").exists()
        return proc.stderr

    (repo / "stray.txt").write_text("x\n")
    assert "not clean" in refused(version) and "stray.txt" in refused(version)
    (repo / "stray.txt").unlink()
    _git(repo, git_env, "checkout", "-q", "-b", "feature")
    assert "releases are cut from main; " in refused(version)
    _git(repo, git_env, "checkout", "-q", "main")
    _git(repo, git_env, "tag", "-a", "-m", "x", f"v{version}")
    assert f"tag v{version} already exists" in refused(version)
    assert "is not newer than the release tag" in refused("0.0.1")
    assert "not a release version" in refused("1.0")
    assert "not a YYYY-MM-DD date" in refused("9.9.9", "--date", "2030-13-01")
    assert _git(repo, git_env, "status", "--porcelain").strip() == ""


def test_changelog_second_release_links_and_refusals() -> None:
    text = (
        "# Changelog\n\n## [Unreleased]\n\n### Fixed\n- b\n\n"
        "## [1.0.0] - 2030-01-01\n\n### Added\n- a\n\n"
        "[Unreleased]: https://x.example/r/compare/v1.0.0...HEAD\n"
        "[1.0.0]: https://x.example/r/releases/tag/v1.0.0\n"
    )
    new, body = release.release_changelog(text, "1.1.0", "2030-02-03", "https://x.example/r")
    assert body == "### Fixed\n- b"
    assert new == (
        "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2030-02-03\n\n### Fixed\n- b\n\n"
        "## [1.0.0] - 2030-01-01\n\n### Added\n- a\n\n"
        "[Unreleased]: https://x.example/r/compare/v1.1.0...HEAD\n"
        "[1.1.0]: https://x.example/r/compare/v1.0.0...v1.1.0\n"
        "[1.0.0]: https://x.example/r/releases/tag/v1.0.0\n"
    )
    with pytest.raises(release.ReleaseError, match="is empty"):
        release.release_changelog(new, "1.2.0", "2030-03-01")
    with pytest.raises(release.ReleaseError, match="already has"):
        release.release_changelog(text, "1.0.0", "2030-03-01")

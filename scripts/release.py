#!/usr/bin/env python3
"""Cut a traingate release: version, CHANGELOG, commit, annotated tag, sdist and wheel.

    python scripts/release.py X.Y.Z [--date YYYY-MM-DD] [--sign] [--dry-run]
    python scripts/release.py --rebuild X.Y.Z [--compare DIR]

A release (docs/development.md#releasing):

1. checks the work tree is clean (no changes, no untracked files) and on
   `main`, that `vX.Y.Z` is not a tag yet and that X.Y.Z is newer than every
   release tag and not older than `__version__`;
2. sets `__version__` in src/traingate/__init__.py, moves the CHANGELOG's
   [Unreleased] section under `## [X.Y.Z] - YYYY-MM-DD` (the UTC date of the
   commit it creates, or `--date`) and updates the link references;
3. commits ("Release X.Y.Z") and tags `vX.Y.Z` (annotated; the tag message is
   the release's CHANGELOG section; `--sign` signs both);
4. builds the sdist and the wheel twice, each time from a fresh clone of the
   tag, with `SOURCE_DATE_EPOCH` set to the tagged commit's committer time and
   the locked build backend (`python -m build --no-isolation`), the second time
   under another umask and time zone, and fails unless both builds are byte
   for byte the same;
5. runs `twine check --strict` on both artifacts, writes them to dist/ and
   prints their sha256 in `sha256sum` format on stdout.

It never pushes: it prints the `git push` commands. `--dry-run` runs every step
in a temporary clone and leaves the repository (and dist/) untouched.
`--rebuild X.Y.Z` rebuilds an existing tag the same way and prints the sha256
of the result (`--compare DIR` checks them against published artifacts), which
is how anyone verifies a release.

Standard library only; `build` and `twine` (the `[dev]` extra, pinned in
requirements/ci.lock) run as subprocesses of this interpreter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT = "traingate"
REPO_URL = "https://github.com/traingate/traingate"
VERSION_FILE = Path("src/traingate/__init__.py")
CHANGELOG = Path("CHANGELOG.md")

_VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_VERSION_LINE = re.compile(r'^__version__ = "([^"]*)"$', re.M)
_RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\]", re.M)
# Variables that would point git at another repository or index than `cwd`.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


class ReleaseError(Exception):
    """A precondition or a step failed; the message says which and what to do."""


# --------------------------------------------------------------------------- git


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    env.update(extra or {})
    return env


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=_env(env), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed in {repo}:\n{proc.stderr.strip()}")
    return proc.stdout


def git_ok(repo: Path, *args: str) -> bool:
    return (
        subprocess.run(
            ["git", *args], cwd=repo, env=_env(), capture_output=True, check=False
        ).returncode
        == 0
    )


def run(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, umask: int = -1
) -> None:
    """Run a tool, its output to stderr (stdout is for the sha256 lines)."""
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        umask=umask,
    )
    if proc.returncode != 0:
        raise ReleaseError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}")


# ---------------------------------------------------------------- text changes


def parse_version(text: str) -> tuple[int, int, int]:
    m = _VERSION_RE.match(text)
    if not m:
        raise ReleaseError(f"{text!r} is not a release version X.Y.Z (digits, no leading zeros)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def read_version(init_text: str) -> str:
    found = _VERSION_LINE.findall(init_text)
    if len(found) != 1:
        raise ReleaseError(f'{VERSION_FILE} must have exactly one `__version__ = "..."` line')
    return str(found[0])


def set_version(init_text: str, version: str) -> str:
    read_version(init_text)
    return _VERSION_LINE.sub(f'__version__ = "{version}"', init_text)


def release_changelog(
    text: str, version: str, date: str, repo_url: str = REPO_URL
) -> tuple[str, str]:
    """Move [Unreleased] under `## [version] - date`; return (new text, section body).

    Keep a Changelog 1.1.0: an empty [Unreleased] stays on top, the release
    follows it, and the link references at the bottom compare each release
    with the one before it.
    """
    lines = text.splitlines(keepends=True)
    heads = [i for i, line in enumerate(lines) if line.rstrip("\n").strip() == "## [Unreleased]"]
    if len(heads) != 1:
        raise ReleaseError(f"{CHANGELOG} must have exactly one `## [Unreleased]` heading")
    start = heads[0] + 1
    end = start
    while end < len(lines) and not (
        lines[end].startswith("## ") or re.match(r"^\[[^\]]+\]: ", lines[end])
    ):
        end += 1
    body = "".join(lines[start:end]).strip("\n")
    if not body.strip():
        raise ReleaseError(
            f"{CHANGELOG}: [Unreleased] is empty; say what this release changes first"
        )
    if re.search(rf"^## \[{re.escape(version)}\]", text, re.M):
        raise ReleaseError(f"{CHANGELOG} already has a `## [{version}]` section")
    previous = _RELEASE_HEADING.findall("".join(lines[end:]))
    out = [
        *lines[:start],
        "\n",
        f"## [{version}] - {date}\n",
        "\n",
        body + "\n",
        "\n",
        *lines[end:],
    ]
    new = "".join(out).rstrip("\n") + "\n"
    # Link references.
    unreleased_link = f"[Unreleased]: {repo_url}/compare/v{version}...HEAD\n"
    version_link = (
        f"[{version}]: {repo_url}/compare/v{previous[0]}...v{version}\n"
        if previous
        else f"[{version}]: {repo_url}/releases/tag/v{version}\n"
    )
    ref = re.compile(r"^\[Unreleased\]: .*\n", re.M | re.I)
    if ref.search(new):
        new = ref.sub(lambda _m: unreleased_link + version_link, new, count=1)
    else:
        new += "\n" + unreleased_link + version_link
    return new, body


# ------------------------------------------------------------------ the checks


@dataclass(frozen=True)
class Plan:
    repo: Path
    version: str
    tag: str
    current: str


def release_tags(repo: Path) -> list[tuple[int, int, int]]:
    out = git(repo, "tag", "--list", "v*")
    return [parse_version(t[1:]) for t in out.split() if _VERSION_RE.match(t[1:])]


def check_repo(repo: Path, version: str, branch: str) -> Plan:
    parse_version(version)
    top = Path(git(repo, "rev-parse", "--show-toplevel").strip())
    on = "a detached HEAD"
    if git_ok(top, "symbolic-ref", "-q", "HEAD"):
        on = git(top, "symbolic-ref", "-q", "--short", "HEAD").strip()
    if on != branch:
        raise ReleaseError(f"releases are cut from {branch}; {top} is on {on}")
    dirty = git(top, "status", "--porcelain=v1", "--untracked-files=normal")
    if dirty.strip():
        raise ReleaseError(
            f"the work tree of {top} is not clean (commit, or remove, these first):\n{dirty}"
        )
    if git_ok(top, "rev-parse", "-q", "--verify", "@{upstream}"):
        behind = git(top, "rev-list", "--count", "HEAD..@{upstream}").strip()
        if behind != "0":
            raise ReleaseError(f"{branch} is {behind} commit(s) behind its upstream: pull first")
    tag = f"v{version}"
    if git_ok(top, "rev-parse", "-q", "--verify", f"refs/tags/{tag}"):
        raise ReleaseError(f"tag {tag} already exists")
    newer = [t for t in release_tags(top) if t >= parse_version(version)]
    if newer:
        last = ".".join(map(str, max(newer)))
        raise ReleaseError(f"{version} is not newer than the release tag v{last}")
    current = read_version((top / VERSION_FILE).read_text(encoding="utf-8"))
    if _VERSION_RE.match(current) and parse_version(current) > parse_version(version):
        raise ReleaseError(f"{version} is older than __version__ = {current!r}")
    return Plan(repo=top, version=version, tag=tag, current=current)


# ------------------------------------------------------------ commit and tag


def commit_and_tag(plan: Plan, date: str | None, sign: bool, repo_url: str) -> str:
    repo = plan.repo
    env: dict[str, str] = {}
    if date is None:
        # The CHANGELOG's date is the commit's: fix the commit's time first.
        now = int(time.time())
        date = dt.datetime.fromtimestamp(now, dt.timezone.utc).date().isoformat()
        env = {"GIT_AUTHOR_DATE": f"@{now} +0000", "GIT_COMMITTER_DATE": f"@{now} +0000"}
    init = repo / VERSION_FILE
    log = repo / CHANGELOG
    # Both new texts first: a refusal leaves the work tree as it was.
    new_init = set_version(init.read_text(encoding="utf-8"), plan.version)
    new_log, body = release_changelog(log.read_text(encoding="utf-8"), plan.version, date, repo_url)
    init.write_text(new_init, encoding="utf-8")
    log.write_text(new_log, encoding="utf-8")
    git(repo, "add", "--", str(VERSION_FILE), str(CHANGELOG))
    sign_commit = ["-S"] if sign else []
    git(repo, "commit", "-q", *sign_commit, "-m", f"Release {plan.version}", env=env)
    tag_kind = "-s" if sign else "-a"
    git(
        repo,
        "tag",
        tag_kind,
        "--cleanup=verbatim",
        "-m",
        f"{PROJECT} {plan.version}\n\n{body}\n",
        plan.tag,
        "HEAD",
        env=env,
    )
    commit = git(repo, "rev-parse", f"{plan.tag}^{{commit}}").strip()
    if git(repo, "cat-file", "-t", plan.tag).strip() != "tag":
        raise ReleaseError(f"{plan.tag} is not an annotated tag")
    return commit


# ----------------------------------------------------------------------- build


def source_date_epoch(repo: Path, tag: str) -> str:
    return git(repo, "log", "-1", "--format=%ct", f"{tag}^{{commit}}").strip()


def artifact_names(version: str) -> tuple[str, str]:
    return f"{PROJECT}-{version}.tar.gz", f"{PROJECT}-{version}-py3-none-any.whl"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_tag(repo: Path, tag: str, version: str, workdir: Path, umask: int, tz: str) -> list[Path]:
    """Build sdist and wheel (the wheel from the sdist) from a fresh clone of the tag."""
    src = workdir / "src"
    out = workdir / "dist"
    git(repo, "clone", "-q", "--no-hardlinks", "--branch", tag, str(repo), str(src))
    want = git(repo, "rev-parse", f"{tag}^{{commit}}").strip()
    if git(src, "rev-parse", "HEAD").strip() != want:
        raise ReleaseError(f"the clone of {tag} is not at {want}")
    env = {
        "SOURCE_DATE_EPOCH": source_date_epoch(repo, tag),
        "TZ": tz,
        "PYTHONHASHSEED": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    # --no-isolation: the backend is the locked hatchling (requirements/ci.lock),
    # so a rebuild elsewhere uses the same backend, and nothing is downloaded.
    run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        cwd=workdir,
        env=env,
        umask=umask,
    )
    built = sorted(p.name for p in out.iterdir())
    if built != sorted(artifact_names(version)):
        raise ReleaseError(f"expected {sorted(artifact_names(version))} from {tag}, got {built}")
    return [out / name for name in artifact_names(version)]


def build_reproducibly(repo: Path, tag: str, version: str, out: Path) -> list[Path]:
    """Two independent builds of the tag; they must be byte-identical. Copy to `out`."""
    with tempfile.TemporaryDirectory(prefix="traingate-build-") as tmp:
        first = build_tag(repo, tag, version, Path(tmp) / "a", umask=0o022, tz="UTC")
        second = build_tag(repo, tag, version, Path(tmp) / "b", umask=0o077, tz="Pacific/Chatham")
        for a, b in zip(first, second, strict=True):
            if sha256(a) != sha256(b):
                raise ReleaseError(
                    f"{a.name} is not reproducible: two builds of {tag} differ "
                    f"({sha256(a)} != {sha256(b)})"
                )
        out.mkdir(parents=True, exist_ok=True)
        final = []
        for a in first:
            dest = out / a.name
            shutil.copyfile(a, dest)
            final.append(dest)
    run([sys.executable, "-m", "twine", "check", "--strict", *map(str, final)], cwd=out)
    return final


def print_sums(paths: Sequence[Path]) -> None:
    for p in paths:
        print(f"{sha256(p)}  {p.name}", flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------- commands


def cmd_release(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    plan = check_repo(repo, args.version, args.branch)
    if not args.dry_run:
        commit = commit_and_tag(plan, args.date, args.sign, args.repo_url)
        out = Path(args.out).resolve() if args.out else plan.repo / "dist"
        say(f"committed and tagged {plan.tag} at {commit}; building...")
        artifacts = build_reproducibly(plan.repo, plan.tag, plan.version, out)
        say(f"twine check passed; two builds byte-identical; artifacts in {out}:")
        print_sums(artifacts)
        say(
            "\nNothing was pushed. Review `git show "
            f"{plan.tag}`, then push the commit and the tag:\n"
            f"  git push origin {args.branch} && git push origin refs/tags/{plan.tag}\n"
            "Users pin it as:\n"
            f"  pre-commit:     rev: {plan.tag}\n"
            f"  GitHub Action:  uses: traingate/traingate@{commit} # {plan.tag}"
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="traingate-release-dry-run-") as tmp:
        clone = Path(tmp) / "clone"
        head = git(plan.repo, "rev-parse", "HEAD").strip()
        git(plan.repo, "clone", "-q", "--no-hardlinks", str(plan.repo), str(clone))
        git(clone, "checkout", "-q", "-B", args.branch, head)
        for key in ("user.name", "user.email", "user.signingkey", "gpg.format"):
            if git_ok(plan.repo, "config", key):
                git(clone, "config", key, git(plan.repo, "config", key).strip())
        if not args.sign:
            git(clone, "config", "commit.gpgsign", "false")
            git(clone, "config", "tag.gpgsign", "false")
        dry = Plan(repo=clone, version=plan.version, tag=plan.tag, current=plan.current)
        commit = commit_and_tag(dry, args.date, args.sign, args.repo_url)
        out = Path(args.out).resolve() if args.out else Path(tmp) / "dist"
        artifacts = build_reproducibly(clone, dry.tag, dry.version, out)
        say(f"dry run: {dry.tag} would tag a commit like {commit[:12]} (in a temporary clone):")
        say(git(clone, "show", "--stat", "--format=%H%n%s%n%cI", "HEAD").rstrip())
        say("twine check passed; two builds byte-identical:")
        print_sums(artifacts)
        say(f"dry run: nothing changed in {plan.repo}")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    repo = Path(git(Path(args.repo).resolve(), "rev-parse", "--show-toplevel").strip())
    parse_version(args.version)
    tag = f"v{args.version}"
    if not git_ok(repo, "rev-parse", "-q", "--verify", f"refs/tags/{tag}"):
        raise ReleaseError(f"no tag {tag} in {repo} (git fetch --tags?)")
    with tempfile.TemporaryDirectory(prefix="traingate-rebuild-") as tmp:
        out = Path(args.out).resolve() if args.out else Path(tmp) / "dist"
        artifacts = build_reproducibly(repo, tag, args.version, out)
        print_sums(artifacts)
        if args.compare:
            mismatched = []
            for a in artifacts:
                theirs = Path(args.compare) / a.name
                if not theirs.is_file() or sha256(theirs) != sha256(a):
                    mismatched.append(a.name)
            if mismatched:
                raise ReleaseError(
                    f"rebuild of {tag} differs from (or is missing in) {args.compare}: "
                    + ", ".join(mismatched)
                )
            say(f"{args.compare}: both artifacts match the rebuild of {tag} byte for byte")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="release.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("version", help="the release version, X.Y.Z (the tag is vX.Y.Z)")
    p.add_argument("--date", help="the CHANGELOG date, YYYY-MM-DD (default: the commit's UTC date)")
    p.add_argument("--dry-run", action="store_true", help="do everything in a temporary clone")
    p.add_argument("--sign", action="store_true", help="sign the commit (-S) and the tag (-s)")
    p.add_argument("--branch", default="main", help="the release branch (default: main)")
    p.add_argument("--repo", default=".", help="the repository (default: the current directory)")
    p.add_argument("--out", help="where the artifacts go (default: dist/; a temp dir for dry runs)")
    p.add_argument("--repo-url", default=REPO_URL, help="for the CHANGELOG's link references")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild the existing tag vX.Y.Z and print the sha256 of the artifacts",
    )
    p.add_argument("--compare", help="with --rebuild: a directory of published artifacts to check")
    args = p.parse_args(argv)
    if args.date is not None:
        try:
            dt.date.fromisoformat(args.date)
        except ValueError:
            p.error(f"--date {args.date!r}: not a YYYY-MM-DD date")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
            p.error(f"--date {args.date!r}: not a YYYY-MM-DD date")
    if args.compare and not args.rebuild:
        p.error("--compare goes with --rebuild")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return cmd_rebuild(args) if args.rebuild else cmd_release(args)
    except ReleaseError as e:
        say(f"release.py: error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())

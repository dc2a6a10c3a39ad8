"""git is read in one fixed output dialect (issue #14, class 7).

Every reader in traingate.git must give exactly the same answer in a plain
repository and in one whose repository, global or environment config asks git
for another encoding, colours, signatures, prefixes, hunk shapes, file order or
trailer syntax. Where a command shows it, each hostile setting is also shown to
be live (raw git output changes), so a test cannot pass because git ignored it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from traingate import git
from traingate.cli import main
from traingate.errors import GitError

from .conftest import Repo

NOTES_REF = "traingate-approvals"
ODD_PATH = "données/é.py"

# Myers and histogram disagree on this pair (found by search); patience too.
ALG_OLD = "b\n}\na\nc\na\n{\n{\n{\n"
ALG_NEW = "{\nb\na\n{\na\n{\n{\n}\n"


@pytest.fixture(autouse=True)
def _clean_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty global config for the baseline; tests add hostile ones to it."""
    home = tmp_path / "home"
    (home / "xdg").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    return home


class World:
    """A repository with every shape of change the readers parse."""

    def __init__(self, tmp_path: Path) -> None:
        self.repo = Repo(tmp_path / "repo")
        self.tmp = tmp_path
        r = self.repo
        key = tmp_path / "signing_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        self.signers = tmp_path / "allowed_signers"
        self.signers.write_text(f"* {(tmp_path / 'signing_key.pub').read_text()}")
        lines = [f"line {i}" if i % 7 else "" for i in range(1, 41)]
        r.write("train.py", "\n".join(lines) + "\n")
        r.write("alg.txt", ALG_OLD)
        r.write("old_name.py", "".join(f"value_{i} = {i}\n" for i in range(30)))
        r.write("a.py", "a = 1\n")
        r.write("z.py", "z = 1\n")
        base = r.commit("base")
        (r.path / "sub").mkdir()  # an unpopulated submodule: add -A keeps the gitlink
        r.git("update-index", "--add", "--cacheinfo", f"160000,{base},sub")
        r.commit("submodule")
        r.git("branch", "feature")
        r.git("mv", "a.py", "a_renamed.py")  # main moves on: a rename to merge across
        r.commit("rename on main")
        r.checkout("feature")
        lines[4], lines[8], lines[14] = "five", "nine", "fifteen"
        r.write("train.py", "\n".join(lines) + "\n")
        r.write("alg.txt", ALG_NEW)
        r.git("mv", "old_name.py", "new_name.py")
        r.write("new_name.py", "".join(f"value_{i} = {i}\n" for i in range(30)) + "extra = 1\n")
        r.write("a.py", "a = 2\n")
        r.write("z.py", "z = 2\n")
        r.write(ODD_PATH, "x = 'é'\n")
        r.commit("Zoë's change\n\nBody.\n\nCo-authored-by: Bob <bob@example.com>", who="mallory")
        r.git("update-index", "--cacheinfo", f"160000,{r.git('rev-parse', 'HEAD~1').strip()},sub")
        r.git("add", "-A")
        r.git(
            "-c",
            "gpg.format=ssh",
            "-c",
            f"user.signingkey={key}",
            "commit",
            "-q",
            "-S",
            "-m",
            "signed\n\nco-authored-by:   Carol\n  Continued <carol@example.com>",
            who="mallory",
        )
        self.signed = r.git("rev-parse", "HEAD").strip()
        r.git("notes", f"--ref={NOTES_REF}", "add", "-m", '{"statement": {"x": "é"}}', "HEAD")
        r.write("staged.py", "s = 1\n")
        r.git("add", "staged.py")
        r.write("a.py", "a = 3\n")
        r.write("untracked_é.py", "u = 1\n")
        self.base = r.git("rev-parse", "main").strip()
        self.head = self.signed

    def config_file(self) -> Path:
        return self.repo.path / ".git" / "config"

    def snapshot(self) -> dict[str, Any]:
        root = self.repo.path
        mb = git.merge_base(root, self.base, self.head)
        rng = f"{mb}..{self.head}"
        diff = git.diff(root, mb, self.head)
        return {
            "toplevel": git.toplevel(root),
            "object_format": git.object_format(root),
            "resolve": git.resolve_commit(root, "feature"),
            "merge_base": mb,
            "identities": git.commit_identities(root, rng),
            "coauthors": git.coauthors(root, rng),
            "rev_list": git.rev_list(root, rng),
            "rev_list_reverse": git.rev_list(root, "--reverse", self.head, "--not", self.base),
            "diff": diff,
            "cached": git.diff(root, "HEAD", cached=True),
            "worktree": git.diff(root, "HEAD"),
            "untracked": git.untracked(root),
            "patch_id": git.patch_id(root, mb, self.head),
            "notes": git.notes(root, NOTES_REF, self.head),
            "no_notes": git.notes(root, NOTES_REF, mb),
            "tree_entry": git.tree_entry(root, self.head, ODD_PATH),
            "blobs": git.BlobReader(root).read_many(
                raw.new_oid for raw, _ in diff if raw.new_mode.startswith("100")
            ),
            "is_ancestor": git.is_ancestor(root, mb, self.head),
            "merge_tree": git.run(
                root,
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                "-z",
                self.base,
                self.head,
                check=False,
            ),
            "commit_tree": self._commit_headers(mb),
        }

    def _commit_headers(self, parent: str) -> list[str]:
        """A commit written the way the approvals replay writes one, minus timestamps."""
        root = self.repo.path
        tree = git.run(root, "rev-parse", f"{self.head}^{{tree}}").decode().strip()
        ident = ("-c", "user.name=Replay", "-c", "user.email=replay@example.com")
        sha = git.run(root, *ident, "commit-tree", tree, "-p", parent, "-m", "replay")
        body = git.run(root, "cat-file", "commit", sha.decode().strip()).decode()
        return [ln for ln in body.split("\n") if not ln.startswith(("author ", "committer "))]

    def raw(self, *args: str) -> bytes:
        """Plain git, unpinned: what a reader without the fixed dialect would get."""
        return subprocess.run(
            ["git", *(a.format(base=self.base, head=self.head) for a in args)],
            cwd=self.repo.path,
            capture_output=True,
            check=False,
        ).stdout


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_the_baseline_is_what_we_expect(world: World) -> None:
    snap = world.snapshot()
    mallory = ("mallory", "mallory@example.com", "mallory", "mallory@example.com")
    assert [row[1:] for row in snap["identities"]] == [mallory, mallory]
    assert [(c.name, c.email) for c in snap["coauthors"]] == [
        ("Carol Continued", "carol@example.com"),
        ("Bob", "bob@example.com"),
    ]
    paths = [(raw.status, raw.new_path) for raw, _ in snap["diff"]]
    assert paths == [
        ("M", "a.py"),
        ("M", "alg.txt"),
        ("A", ODD_PATH),
        ("R", "new_name.py"),
        ("M", "sub"),
        ("M", "train.py"),
        ("M", "z.py"),
    ]
    sections = {raw.new_path: section for raw, section in snap["diff"]}
    assert sections["train.py"].added == (5, 9, 15)
    assert sections["new_name.py"].added == (31,)
    assert not sections["train.py"].binary
    assert snap["notes"] == '{"statement": {"x": "é"}}\n'.encode()
    assert snap["untracked"] == ["untracked_é.py"]


# Each hostile setting, and a raw git command whose output it visibly changes.
HOSTILE: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "logOutputEncoding UTF-16": (
        {"i18n.logOutputEncoding": "UTF-16"},
        ("log", "-1", "--format=%an", "{head}"),
    ),
    "logOutputEncoding latin-1": (
        {"i18n.logOutputEncoding": "ISO-8859-1"},
        ("log", "-2", "--format=%s", "{head}"),
    ),
    "showSignature": (
        {"log.showSignature": "true", "gpg.format": "ssh"},
        ("log", "-1", "--format=%H", "{head}"),
    ),
    "colour always": (
        {"color.ui": "always", "color.diff": "always"},
        ("diff", "{base}", "{head}"),
    ),
    # git's default: the baseline already shows the path read raw, not "donn\303\251es".
    "quotePath on": ({"core.quotePath": "true"}, ()),
    "abbrevCommit": ({"log.abbrevCommit": "true"}, ("log", "-1", "{head}")),
    "core.abbrev": ({"core.abbrev": "12"}, ("log", "-1", "--format=%h", "{head}")),
    "format.pretty and decorate": (
        {"format.pretty": "format:%h %d %s", "log.decorate": "full"},
        ("log", "-1", "{head}"),
    ),
    "notes displayed": (
        {"notes.displayRef": "refs/notes/*", "core.notesRef": "refs/notes/other"},
        ("log", "-1", "{head}"),
    ),
    "mailmap": (
        {"mailmap.file": "MAILMAP", "log.mailmap": "true"},
        ("log", "-1", "--format=%aN", "{head}"),
    ),
    "noprefix": ({"diff.noprefix": "true"}, ("diff", "{base}", "{head}")),
    "mnemonicPrefix": ({"diff.mnemonicPrefix": "true"}, ("diff", "HEAD")),
    "renames off": ({"diff.renames": "false"}, ("diff", "--name-status", "{base}", "{head}")),
    "interHunkContext": ({"diff.interHunkContext": "10"}, ("diff", "-U0", "{base}", "{head}")),
    "context": ({"diff.context": "8"}, ("diff", "{base}", "{head}")),
    "algorithm": ({"diff.algorithm": "histogram"}, ("diff", "-U0", "{base}", "{head}")),
    "indentHeuristic off": ({"diff.indentHeuristic": "false"}, ()),
    "suppressBlankEmpty": ({"diff.suppressBlankEmpty": "true"}, ("diff", "{base}", "{head}")),
    "orderFile": ({"diff.orderFile": "ORDER"}, ("diff", "--name-only", "{base}", "{head}")),
    "submodule log": ({"diff.submodule": "log"}, ("diff", "{base}", "{head}")),
    "bigFileThreshold": ({"core.bigFileThreshold": "10"}, ("diff", "--stat", "{base}", "{head}")),
    "external diff": ({"diff.external": "EXTDIFF"}, ("diff", "{base}", "{head}")),
    # git 2.39's merge-tree ignores merge.* config; pinned for the gits that do not.
    "merge renames off": ({"merge.renames": "false"}, ()),
    "merge directoryRenames": ({"merge.directoryRenames": "true"}, ()),
    "commit encoding": ({"i18n.commitEncoding": "ISO-8859-1"}, ()),
    "commentChar": ({"core.commentChar": "c"}, ("log", "-1", "--format=%(trailers)", "{head}")),
    "trailer separators": (
        {"trailer.separators": "="},
        ("log", "-1", "--format=%(trailers)", "{head}"),
    ),
    "trailer alias": (
        {"trailer.co-authored-by-x.key": "Helped-by"},
        ("log", "-2", "--format=%(trailers:key=Co-authored-by)", "{head}"),
    ),
}


def _set(world: World, settings: dict[str, str], scope: list[str]) -> None:
    for key, value in settings.items():
        value = value.replace("ORDER", str(world.tmp / "order"))
        value = value.replace("EXTDIFF", str(world.tmp / "extdiff"))
        value = value.replace("MAILMAP", str(world.tmp / "mailmap"))
        world.repo.git("config", *scope, key, value)
    if "gpg.format" in settings:
        world.repo.git("config", *scope, "gpg.ssh.allowedSignersFile", str(world.signers))


def _prepare(world: World) -> None:
    (world.tmp / "order").write_text("z.py\nsub\n*\n")
    (world.tmp / "mailmap").write_text("Bob <bob@example.com> <mallory@example.com>\n")
    ext = world.tmp / "extdiff"
    ext.write_text("#!/bin/sh\necho EXTERNAL DIFF\n")
    ext.chmod(0o755)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_repository_config_does_not_change_what_git_readers_return(world: World, name: str) -> None:
    settings, probe = HOSTILE[name]
    _prepare(world)
    plain = world.snapshot()
    before = world.raw(*probe) if probe else b""
    _set(world, settings, [])
    if probe:  # the setting is live in this git: raw output changes
        assert world.raw(*probe) != before, name
    assert world.snapshot() == plain


def _all_hostile() -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, (settings, _) in HOSTILE.items():
        if name != "logOutputEncoding latin-1":
            merged.update(settings)
    return merged


def _write_config(world: World, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    _set(world, _all_hostile(), ["--file", str(path)])


@pytest.mark.parametrize("where", ["home", "xdg", "include"])
def test_global_and_included_config_do_not_change_results(
    world: World, where: str, _clean_home: Path
) -> None:
    _prepare(world)
    plain = world.snapshot()
    before = world.raw("log", "-1", "--format=%an", "{head}")
    if where == "home":
        _write_config(world, _clean_home / ".gitconfig")
    elif where == "xdg":
        _write_config(world, _clean_home / "xdg" / "git" / "config")
    else:
        _write_config(world, world.tmp / "included.cfg")
        world.repo.git("config", "include.path", str(world.tmp / "included.cfg"))
    assert world.raw("log", "-1", "--format=%an", "{head}") != before
    assert world.snapshot() == plain


def test_config_from_the_environment_is_ignored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIT_CONFIG_GLOBAL, GIT_CONFIG_COUNT/KEY/VALUE and GIT_CONFIG_PARAMETERS are
    scrubbed from git's environment, so they cannot select another dialect."""
    _prepare(world)
    plain = world.snapshot()
    cfg = world.tmp / "global.cfg"
    _write_config(world, cfg)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "i18n.logOutputEncoding")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "UTF-16")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'log.showsignature'='true'")
    assert world.snapshot() == plain


# --- strict decoding -----------------------------------------------------------------


def _raw_commit(repo: Repo, author: bytes, extra_header: bytes = b"", msg: bytes = b"m\n") -> str:
    tree = repo.git("rev-parse", "HEAD^{tree}").strip()
    parent = repo.git("rev-parse", "HEAD").strip()
    body = (
        f"tree {tree}\nparent {parent}\n".encode()
        + b"author "
        + author
        + b" 1700000000 +0000\ncommitter "
        + author
        + b" 1700000000 +0000\n"
        + extra_header
        + b"\n"
        + msg
    )
    proc = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=repo.path,
        input=body,
        capture_output=True,
        check=True,
    )
    return proc.stdout.decode().strip()


def test_an_identity_that_is_not_utf8_blocks_and_names_the_range(repo: Repo) -> None:
    repo.write("f", "1\n")
    base = repo.commit("base")
    bad = _raw_commit(repo, b"Mall\xf6ry <mallory@example.com>")
    with pytest.raises(GitError, match=rf"git log {base}\.\.{bad}.*not UTF-8"):
        git.commit_identities(repo.path, f"{base}..{bad}")
    assert git.coauthors(repo.path, f"{base}..{bad}") == []  # the message itself is ASCII
    bad = _raw_commit(repo, b"m <m@x>", msg=b"m\n\nCo-authored-by: B\xf6b <bob@example.com>\n")
    with pytest.raises(GitError, match=rf"git log {base}\.\.{bad}.*not UTF-8"):
        git.coauthors(repo.path, f"{base}..{bad}")


def test_a_declared_commit_encoding_is_converted_not_guessed(repo: Repo) -> None:
    """A commit with an ``encoding`` header is re-encoded by git into the pinned
    UTF-8, even when the repository asks for UTF-16 output."""
    repo.write("f", "1\n")
    base = repo.commit("base")
    latin = _raw_commit(
        repo,
        "Zoë <zoe@example.com>".encode("latin-1"),
        b"encoding ISO-8859-1\n",
        "m\n\nCo-authored-by: Renée <renee@example.com>\n".encode("latin-1"),
    )
    repo.git("config", "i18n.logOutputEncoding", "UTF-16")
    rows = git.commit_identities(repo.path, f"{base}..{latin}")
    assert rows == [(latin, "Zoë", "zoe@example.com", "Zoë", "zoe@example.com")]
    assert git.coauthors(repo.path, f"{base}..{latin}") == [(latin, "Renée", "renee@example.com")]


def test_a_range_that_looks_like_an_option_is_not_one(repo: Repo) -> None:
    repo.write("f", "1\n")
    repo.commit("base")
    with pytest.raises(GitError):
        git.commit_identities(repo.path, "--output=/tmp/traingate-pwned")
    assert not Path("/tmp/traingate-pwned").exists()


# --- end to end: the author's own approval ---------------------------------------------

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [bob, mallory]
users:
  bob: {emails: [bob@example.com]}
  sam: {emails: [sam@example.com]}
  mallory: {emails: [mallory@example.com]}
sensitive_paths:
  - name: training-code
    paths: ["train.py"]
    approvals: 1
    approvers: [ml-reviewers]
checks:
  semgrep: {enabled: false}
"""


@pytest.mark.parametrize(
    "settings",
    [
        {"i18n.logOutputEncoding": "UTF-16"},
        {"i18n.logOutputEncoding": "UTF-16LE", "log.showSignature": "true"},
    ],
)
def test_own_approval_does_not_count_whatever_the_log_encoding(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, str],
    _clean_home: Path,
) -> None:
    """mallory writes the change and approves it; the approvals file does not say
    who the author is, so only git's identities can exclude her."""
    repo.write(".traingate.yaml", POLICY)
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train.py", "x = 2\n")
    head = repo.commit("change", who="mallory")
    for key, value in settings.items():
        repo.git("config", "--file", str(_clean_home / ".gitconfig"), key, value)
        repo.git("config", key, value)
    f = tmp_path / "reviews.json"
    review = {
        "user": "mallory",
        "state": "approved",
        "commit": head,
        "submitted_at": "2026-11-20T10:00:00Z",
    }
    f.write_text(json.dumps({"reviews": [review]}))
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--approvals",
            str(f),
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    req = next(r for r in doc["requirements"] if r["name"] == "training-code")
    assert code == 1
    assert req["approved_by"] == [] and not req["satisfied"]
    assert {"user": "mallory", "reason": f"authored commit {head[:12]}"} in req["rejected"]

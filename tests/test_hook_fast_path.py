"""Issue #17: the pre-commit hook with nothing relevant to check, under 0.3 s.

What made it fast must not make it weaker. The validated policy and a commit's
symlinks are kept in the signed cache (traingate.cache.Signed): every attacker
case below (an entry hand-edited to disable a check or drop a sensitive path,
one planted for a changed policy, one copied from another cache, one naming a
foreign class) must end exactly as a run without any cache.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from traingate import cache, git
from traingate.cli import main
from traingate.errors import GitError, UsageError
from traingate.policy import cache as policy_cache
from traingate.policy import load as policy_load
from traingate.policy.load import LoadedPolicy, load_text

from .conftest import Repo
from .test_symlink_aliases import POLICY  # /train/ sensitive, semgrep off

# A bidi control (Trojan Source): the unicode check blocks it.
BIDI = "def step(model):\n    lr = 0.1  # \u202e set lr\n    return lr\n"


@pytest.fixture
def hook_repo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY)
    repo.write("train/loop.py", "def loop():\n    pass\n")
    repo.write("contrib/plugins/hook.py", "def hook(model):\n    return model\n")
    os.symlink("../contrib/plugins", repo.path / "train/plugins")
    repo.write("README.md", "# project\n")
    repo.commit("base")
    return repo


def hook(repo: Repo, cache_dir: Path | None) -> tuple[int, dict[str, Any]]:
    """The pre-commit hook's command, in-process; ``None``: an empty cache,
    thrown away after the run (everything computed, nothing reused)."""
    with tempfile.TemporaryDirectory() as empty:
        argv = ["check", "--repo", str(repo.path), "--staged", "--approvals-advisory"]
        argv += ["--format", "json", "--cache-dir", str(cache_dir or empty)]
        out = io.StringIO()
        with redirect_stdout(out):
            code = main(argv)
    return code, json.loads(out.getvalue())


def stage(repo: Repo, rel: str, text: str) -> None:
    repo.write(rel, text)
    repo.git("add", rel)


def entries(cache_dir: Path, namespace: str) -> list[Path]:
    return sorted((cache_dir / namespace).glob("*.json"))


def rewrite(entry: Path, edit: Callable[[Any], Any], mac: str | None = None) -> None:
    """Edit an entry's payload; keep its MAC unless given another one."""
    outer = json.loads(entry.read_text())
    payload = json.dumps(edit(json.loads(outer["payload"])), sort_keys=True)
    entry.write_text(json.dumps({"payload": payload, "mac": mac or outer["mac"]}))


def remac(secret: bytes, namespace: str, key: str, payload: str) -> str:
    msg = f"{namespace}\0{key}\0{payload}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def disable_unicode(value: Any) -> Any:
    value = copy.deepcopy(value)
    value["policy"]["f"]["checks"]["f"]["unicode"]["f"]["enabled"] = False
    return value


def drop_training_code(value: Any) -> Any:
    value = copy.deepcopy(value)
    sp = value["policy"]["f"]["sensitive_paths"]
    sp["l"] = [s for s in sp["l"] if s["f"]["name"] != "training-code"]
    return value


def loosen(value: Any) -> Any:
    return drop_training_code(disable_unicode(value))


def decision(doc: dict[str, Any]) -> tuple[Any, ...]:
    return (
        doc["decision"],
        doc["exit_code"],
        sorted((f["check"], f["rule_id"], f["path"]) for f in doc["findings"]),
        sorted((r["name"], tuple(r["paths"])) for r in doc["requirements"]),
        doc["policy"],
        doc["errors"],
    )


def attacked_change(repo: Repo) -> None:
    """A staged change both loosenings would let through: a bidi control in a
    file under the sensitive /train/, reached through its symlinked name."""
    stage(repo, "contrib/plugins/hook.py", BIDI)


def test_second_run_hits_both_caches_and_decides_the_same(hook_repo: Repo, tmp_path: Path) -> None:
    attacked_change(hook_repo)
    cold = hook(hook_repo, None)
    first = hook(hook_repo, tmp_path / "c")
    assert entries(tmp_path / "c", "policy-v1") and entries(tmp_path / "c", "links-v1")
    second = hook(hook_repo, tmp_path / "c")
    assert cold == first == second
    code, doc = cold
    assert code == 0  # advisory: both needs are reported, not enforced (the hook)
    assert ("unicode", "unicode-bidi-control", "contrib/plugins/hook.py") in decision(doc)[2]
    assert ("training-code", ("contrib/plugins/hook.py",)) in decision(doc)[3]


@pytest.mark.parametrize("edit", [disable_unicode, drop_training_code, loosen])
def test_a_hand_edited_policy_entry_has_no_effect(
    hook_repo: Repo, tmp_path: Path, edit: Callable[[Any], Any]
) -> None:
    attacked_change(hook_repo)
    cold = hook(hook_repo, None)
    hook(hook_repo, tmp_path / "c")
    (entry,) = entries(tmp_path / "c", "policy-v1")
    rewrite(entry, edit)  # the policy file is unchanged: same key, old MAC
    assert hook(hook_repo, tmp_path / "c") == cold
    # Re-signed with a key of the attacker's own: still not the cache's secret.
    key = entry.stem
    payload = json.dumps(edit(json.loads(json.loads(entry.read_text())["payload"])), sort_keys=True)
    rewrite(entry, edit, mac=remac(b"\x01" * 32, "policy-v1", key, payload))
    assert hook(hook_repo, tmp_path / "c") == cold


def test_an_entry_planted_for_a_changed_policy_has_no_effect(
    hook_repo: Repo, tmp_path: Path
) -> None:
    hook(hook_repo, tmp_path / "c")
    (old,) = entries(tmp_path / "c", "policy-v1")
    # The trusted policy changes: one more sensitive path.
    stricter = POLICY.replace(
        "checks:",
        "  - name: readme\n    paths: [/README.md]\n    approvers: [security]\nchecks:",
    )
    hook_repo.write(".traingate.yaml", stricter)
    hook_repo.commit("stricter policy")
    # The attacker plants a loosened entry under the new policy's key (all its
    # parts are public), signed with a key of their own.
    sha = hashlib.sha256(stricter.encode()).hexdigest()
    key = policy_cache._key(".traingate.yaml", sha)
    payload = json.dumps(loosen(json.loads(json.loads(old.read_text())["payload"])), sort_keys=True)
    mac = remac(b"\x02" * 32, "policy-v1", key, payload)
    (tmp_path / "c" / "policy-v1" / f"{key}.json").write_text(
        json.dumps({"payload": payload, "mac": mac})
    )
    attacked_change(hook_repo)
    stage(hook_repo, "README.md", "# project, edited\n")
    cold = hook(hook_repo, None)
    assert ("readme", ("README.md",)) in decision(cold[1])[3]
    assert hook(hook_repo, tmp_path / "c") == cold


def test_entries_copied_from_another_cache_are_misses(hook_repo: Repo, tmp_path: Path) -> None:
    attacked_change(hook_repo)
    cold = hook(hook_repo, None)
    hook(hook_repo, tmp_path / "a")
    for ns in ("policy-v1", "links-v1"):
        for e in entries(tmp_path / "a", ns):
            rewrite(e, loosen if ns == "policy-v1" else lambda v: {})
    # Into a cache with a secret of its own, and into one with none yet.
    hook(hook_repo, tmp_path / "b")
    for target in (tmp_path / "b", tmp_path / "fresh"):
        for ns in ("policy-v1", "links-v1"):
            shutil.copytree(tmp_path / "a" / ns, target / ns, dirs_exist_ok=True)
        assert hook(hook_repo, target) == cold


def test_a_hand_edited_links_entry_still_finds_the_alias(hook_repo: Repo, tmp_path: Path) -> None:
    stage(hook_repo, "contrib/plugins/hook.py", "def hook(model):\n    return None\n")
    cold = hook(hook_repo, None)
    assert ("training-code", ("contrib/plugins/hook.py",)) in decision(cold[1])[3]
    hook(hook_repo, tmp_path / "c")
    (entry,) = entries(tmp_path / "c", "links-v1")
    assert json.loads(json.loads(entry.read_text())["payload"]) == {
        "train/plugins": "../contrib/plugins"
    }
    rewrite(entry, lambda links: {})  # the link dropped: the alias would vanish
    assert hook(hook_repo, tmp_path / "c") == cold


class Spy:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str, name: str) -> LoadedPolicy:
        self.calls += 1
        return load_text(text, name)


def test_policy_cache_hits_and_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    first = policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    again = policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    assert spy.calls == 1 and policy_cache._same_loaded(first, again)
    # Another name, other bytes, another day: misses.
    policy_cache.load(POLICY, "other.yaml", tmp_path, spy)
    policy_cache.load(POLICY + "# edited\n", ".traingate.yaml", tmp_path, spy)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    monkeypatch.setattr(policy_load, "_today", lambda: tomorrow)
    policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    assert spy.calls == 4


@pytest.mark.parametrize(
    "damage", ["group-readable", "symlink", "short", "garbage-entry", "deep-entry"]
)
def test_an_untrustworthy_secret_or_entry_means_validation(tmp_path: Path, damage: str) -> None:
    spy = Spy()
    policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    secret = tmp_path / "secret"
    if damage == "group-readable":
        secret.chmod(0o640)
    elif damage == "symlink":
        real = tmp_path / "elsewhere"
        secret.rename(real)
        secret.symlink_to(real)
    elif damage == "short":
        secret.write_bytes(secret.read_bytes()[:16])
    else:
        (entry,) = entries(tmp_path, "policy-v1")
        entry.write_text("{not json" if damage == "garbage-entry" else "[" * 100_000)
    loaded = policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    assert spy.calls == 2
    assert policy_cache._same_loaded(loaded, load_text(POLICY, ".traingate.yaml"))


def test_a_signed_entry_naming_a_foreign_class_is_a_miss(tmp_path: Path) -> None:
    """Even signed with the real secret, an entry can name only classes of the
    policy schema, with exactly their fields."""
    spy = Spy()
    policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    (entry,) = entries(tmp_path, "policy-v1")
    secret = (tmp_path / "secret").read_bytes()

    def foreign(value: Any) -> Any:
        value = copy.deepcopy(value)
        value["policy"]["f"]["checks"]["m"] = "subprocess:Popen"
        return value

    def missing_field(value: Any) -> Any:
        value = copy.deepcopy(value)
        del value["policy"]["f"]["checks"]["f"]["unicode"]
        return value

    original = json.loads(json.loads(entry.read_text())["payload"])
    for edit in (foreign, missing_field):
        payload = json.dumps(edit(original), sort_keys=True)
        rewrite(entry, edit, mac=remac(secret, "policy-v1", entry.stem, payload))
        policy_cache.load(POLICY, ".traingate.yaml", tmp_path, spy)
    assert spy.calls == 3


def test_a_bad_policy_is_never_cached(hook_repo: Repo, tmp_path: Path) -> None:
    hook_repo.write(".traingate.yaml", POLICY.replace("security_group:", "security_grup:"))
    hook_repo.commit("typo")
    stage(hook_repo, "README.md", "# edited\n")
    for _ in range(2):
        code, doc = hook(hook_repo, tmp_path / "c")
        assert code == 2 and "security_grup" in doc["errors"][0]
    assert not entries(tmp_path / "c", "policy-v1")


def test_the_no_relevant_file_hook_starts_three_git_processes(
    hook_repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rev-parse (top level and HEAD), diff --cached, one cat-file for the policy
    and the staged blobs; the commit's symlinks come from the cache."""
    real = shutil.which("git")
    assert real
    log = tmp_path / "git.log"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    stage(hook_repo, "README.md", "# edited\n")
    hook(hook_repo, tmp_path / "c")  # fills the caches
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    code, _ = hook(hook_repo, tmp_path / "c")
    assert code == 0
    calls = [line.split(" -c ")[-1] for line in log.read_text().splitlines()]
    subcommands = [
        next(w for w in c.split() if not w.startswith("-") and "=" not in w) for c in calls
    ]
    assert subcommands == ["rev-parse", "diff", "cat-file"], calls


def test_toplevel_and_head(repo: Repo, tmp_path: Path) -> None:
    unborn = git.toplevel_and_head(repo.path)
    assert unborn == (git.toplevel(repo.path), None)
    repo.write("sub/dir/f.txt", "x\n")
    head = repo.commit("first")
    assert git.toplevel_and_head(repo.path / "sub" / "dir") == (git.toplevel(repo.path), head)
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(UsageError, match="not inside a git work tree"):
        git.toplevel_and_head(outside)


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_tree_entry_at_agrees_with_ls_tree(tmp_path: Path, object_format: str) -> None:
    repo = Repo(tmp_path / "r")
    if object_format == "sha256":
        shutil.rmtree(repo.path / ".git")
        repo.git("init", "-q", "--object-format=sha256", "-b", "main")
    repo.write("plain", "a\n")
    repo.write("tool", "#!/bin/sh\n", mode=0o755)
    repo.write("dir/inner", "b\n")
    os.symlink("plain", repo.path / "link")
    repo.git("add", "-A")
    blob = repo.git("hash-object", "-w", "plain").strip()
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{blob},module")  # any id will do
    head = repo.commit("tree")
    reader = git.BlobReader(repo.path)
    for name in ("plain", "tool", "dir", "link", "module", "absent", "plai", "plainx"):
        assert git.tree_entry_at(reader, head, name) == git.tree_entry(repo.path, head, name), name
    with pytest.raises(ValueError):
        git.tree_entry_at(reader, head, "dir/inner")


def test_tree_entry_at_reads_odd_modes_as_git_does(repo: Repo) -> None:
    """Old trees may hold a file as 100664; ls-tree (and so the policy check
    for a regular file) reads it as 100644."""
    repo.write(".traingate.yaml", POLICY)
    repo.commit("base")
    blob = repo.git("rev-parse", "HEAD:.traingate.yaml").strip()
    raw = b"100664 .traingate.yaml\0" + bytes.fromhex(blob)
    tree_file = repo.path / "tree.bin"
    tree_file.write_bytes(raw)
    tree = repo.git("hash-object", "-t", "tree", "-w", "--literally", str(tree_file)).strip()
    commit = repo.git("commit-tree", tree, "-m", "odd mode").strip()
    reader = git.BlobReader(repo.path)
    got = git.tree_entry_at(reader, commit, ".traingate.yaml")
    assert got == git.tree_entry(repo.path, commit, ".traingate.yaml")
    assert got is not None and got.mode == "100644"


def test_policy_models_use_no_builtin_default_factories() -> None:
    """pydantic reads each default factory's signature while it builds the
    validators; for ``list``/``dict`` inspect compiles their text signature
    (issue #17). ``traingate.policy.base.empty_list``/``empty_dict`` instead."""
    slow = {
        (name, field)
        for name, cls in policy_cache._classes().items()
        for field, info in getattr(cls, "model_fields", {}).items()
        if info.default_factory in (list, dict, set, tuple)
    }
    # checks/semgrep/settings.py belongs to another change in flight.
    assert slow <= {("traingate.checks.semgrep.settings:SemgrepSettings", "rule_dirs")}


def test_the_signed_store_refuses_bad_keys_and_namespaces(tmp_path: Path) -> None:
    a = cache.Signed(tmp_path, "one")
    a.put("ab12", {"x": 1})
    assert a.get("ab12") == {"x": 1}
    assert a.get("../secret") is None
    # The same file moved to another namespace or key does not verify.
    (tmp_path / "two").mkdir()
    shutil.copy(tmp_path / "one" / "ab12.json", tmp_path / "two" / "ab12.json")
    shutil.copy(tmp_path / "one" / "ab12.json", tmp_path / "one" / "cd34.json")
    assert cache.Signed(tmp_path, "two").get("ab12") is None
    assert a.get("cd34") is None
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_a_malformed_tree_is_a_git_error(repo: Repo) -> None:
    repo.commit("base")
    bad = repo.path / "bad.bin"
    bad.write_bytes(b"100644 .traingate.yaml")  # no NUL, no object id
    tree = repo.git("hash-object", "-t", "tree", "-w", "--literally", str(bad)).strip()
    commit = repo.git("commit-tree", tree, "-m", "bad tree").strip()
    with pytest.raises(GitError, match="malformed"):
        git.tree_entry_at(git.BlobReader(repo.path), commit, ".traingate.yaml")

"""Issue #14 class 9: a path is sensitive under every name it has through symlinks.

With ``train/plugins -> ../contrib/plugins`` in the tree, an edit to
``contrib/plugins/hook.py`` changes training code. Each attacker case below
must raise the sensitive requirement, name the alias that matched, and block
without approval; the positive controls pass with an eligible approval.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from traingate import aliases
from traingate.cli import main
from traingate.errors import GitError

from .conftest import Repo

POLICY = """\
version: 1
security_group: security
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
sensitive_paths:
  - name: training-code
    paths: ["/train/"]
    approvers: [ml-reviewers]
checks:
  semgrep: {enabled: false}
"""

HOOK = "def hook(model):\n    return model\n"
EVIL = "def hook(model):\n    model.lr = 10.0\n    return model\n"


def link(repo: Repo, rel: str, target: str) -> None:
    p = repo.path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


def base(repo: Repo, links: dict[str, str], policy: str = POLICY) -> Repo:
    repo.write(".traingate.yaml", policy)
    repo.write("train/loop.py", "def loop():\n    pass\n")
    repo.write("contrib/hook.py", HOOK)
    repo.write("contrib/plugins/hook.py", HOOK)
    for rel, target in links.items():
        link(repo, rel, target)
    repo.commit("base")
    repo.branch("feature")
    return repo


def check(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], approvers: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    head = repo.git("rev-parse", "feature").strip()
    reviews = [
        {"user": u, "state": "approved", "commit": head, "submitted_at": "2026-11-20T10:00:00Z"}
        for u in approvers
    ]
    f = tmp_path / "reviews.json"
    f.write_text(json.dumps({"author": "mallory", "reviews": reviews}))
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--approvals", str(f), "--format", "json"])
    out, err = capsys.readouterr()
    assert out, err
    return code, json.loads(out)


def training(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["requirements"] if r["name"] == "training-code")


@pytest.mark.parametrize(
    ("links", "edited", "alias"),
    [
        pytest.param(
            {"train/plugins": "../contrib/plugins"},
            "contrib/plugins/hook.py",
            "train/plugins/hook.py",
            id="directory-link",
        ),
        pytest.param(
            {"train/hook.py": "../contrib/hook.py"},
            "contrib/hook.py",
            "train/hook.py",
            id="file-link",
        ),
        pytest.param(
            {"train/hook.py": "../lib/hook.py", "lib/hook.py": "../contrib/hook.py"},
            "contrib/hook.py",
            "train/hook.py",
            id="chain-of-file-links",
        ),
        pytest.param(
            {"train/ext": "../vendor", "vendor/plugins": "../contrib/plugins"},
            "contrib/plugins/hook.py",
            "train/ext/plugins/hook.py",
            id="chain-of-directory-links",
        ),
        pytest.param(
            # `..` after a linked directory climbs from where the link leads
            # (deep/er/), not lexically: train/h resolves to deep/contrib/hook.py.
            {"train/h.py": "../lib/../contrib/hook.py", "lib": "deep/er"},
            "deep/contrib/hook.py",
            "train/h.py",
            id="dotdot-after-a-linked-directory",
        ),
    ],
)
def test_an_edit_through_a_base_symlink_is_sensitive(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    links: dict[str, str],
    edited: str,
    alias: str,
) -> None:
    repo.write("deep/contrib/hook.py", HOOK)
    base(repo, links)
    repo.write(edited, EVIL)
    repo.commit("speed up", who="mallory")

    code, doc = check(repo, tmp_path, capsys)
    req = training(doc)
    assert code == 1 and not req["satisfied"]
    assert (req["paths"], req["reasons"]) == ([edited], [f"{edited} (as {alias})"])

    code, doc = check(repo, tmp_path, capsys, ("bob",))
    assert code == 0, doc["requirements"]
    assert training(doc)["approved_by"] == ["bob"]


def test_a_symlink_added_by_the_change_itself(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, {})
    link(repo, "train/hook.py", "../contrib/hook.py")
    repo.write("contrib/hook.py", EVIL)
    repo.commit("plug in", who="mallory")
    code, doc = check(repo, tmp_path, capsys)
    req = training(doc)
    assert code == 1
    assert (req["paths"], req["reasons"]) == (
        ["contrib/hook.py", "train/hook.py"],
        ["contrib/hook.py (as train/hook.py)"],
    )


def test_a_symlink_the_trusted_base_gained_after_the_branch_point(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # main links the plugins in after feature branched: once merged, the
    # feature's edit runs as training code though neither side of its diff says so.
    base(repo, {})
    repo.write("contrib/plugins/hook.py", EVIL)
    repo.commit("speed up", who="mallory")
    repo.checkout("main")
    link(repo, "train/plugins", "../contrib/plugins")
    repo.commit("load plugins")
    repo.checkout("feature")
    code, doc = check(repo, tmp_path, capsys)
    assert code == 1
    assert training(doc)["reasons"] == ["contrib/plugins/hook.py (as train/plugins/hook.py)"]


def test_a_cycle_terminates_and_still_finds_the_sensitive_name(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = {
        "contrib/loop": ".",  # contrib/loop/loop/... is contrib
        "contrib/up": "..",  # the repository root, from inside it
        "a": "b",  # a and b lead to each other: neither names anything
        "b": "a",
        "train/plugins": "../contrib/plugins",
    }
    base(repo, links)
    repo.write("contrib/plugins/hook.py", EVIL)
    repo.commit("speed up", who="mallory")
    code, doc = check(repo, tmp_path, capsys)
    assert code == 1
    assert "contrib/plugins/hook.py (as train/plugins/hook.py)" in training(doc)["reasons"]


def test_absolute_and_escaping_links_are_not_aliases(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = {
        "train/abs": str(repo.path / "contrib"),  # absolute: names no repository path
        "train/out": "../../outside",  # leaves the repository
        "train/deep": "../contrib/../../repo/contrib",  # leaves it, then comes back by name
    }
    base(repo, links)
    repo.write("contrib/hook.py", EVIL)
    repo.commit("tweak", who="mallory")
    code, doc = check(repo, tmp_path, capsys)
    assert code == 0, doc["requirements"]
    assert doc["requirements"] == []


def test_the_staged_pre_commit_path_sees_aliases(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, {"train/plugins": "../contrib/plugins"})
    repo.write("contrib/plugins/hook.py", EVIL)
    repo.git("add", "contrib/plugins/hook.py")
    code = main(["check", "--repo", str(repo.path), "--staged", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert training(doc)["reasons"] == ["contrib/plugins/hook.py (as train/plugins/hook.py)"]


def test_aliases_respect_case_insensitive_paths(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # On a macOS checkout ../Contrib/plugins is contrib/plugins.
    base(repo, {"train/plugins": "../Contrib/Plugins"}, POLICY + "case_insensitive_paths: true\n")
    repo.write("contrib/plugins/hook.py", EVIL)
    repo.commit("speed up", who="mallory")
    code, doc = check(repo, tmp_path, capsys)
    assert code == 1
    assert training(doc)["reasons"] == ["contrib/plugins/hook.py (as train/plugins/hook.py)"]


def test_a_link_into_a_gate_directory_makes_its_target_gate_configuration(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("qa/policy-tests/case.yaml", "cases: []\n")
    base(repo, {".traingate/tests": "../qa/policy-tests"})
    repo.write("qa/policy-tests/case.yaml", "cases: [] # nothing to prove\n")
    repo.commit("trim", who="mallory")
    code, doc = check(repo, tmp_path, capsys)
    gate = next(r for r in doc["requirements"] if r["name"] == "gate-self-protection")
    assert code == 1
    assert gate["reasons"] == [
        "qa/policy-tests/case.yaml (as .traingate/tests/case.yaml): "
        "the gate's directory .traingate/"
    ]
    code, doc = check(repo, tmp_path, capsys, ("sam",))
    assert code == 0, doc["requirements"]


def test_codeowners_own_a_file_under_every_name(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("CODEOWNERS", "/train/ @carol\n")
    policy = POLICY.replace("[alice, bob]", "[alice, bob]\n  carol-team: [carol]")
    base(repo, {"train/plugins": "../contrib/plugins"}, policy + "codeowners: CODEOWNERS\n")
    repo.write("contrib/plugins/hook.py", EVIL)
    repo.commit("speed up", who="mallory")
    code, doc = check(repo, tmp_path, capsys, ("bob",))
    owners = next(r for r in doc["requirements"] if r["name"] == "codeowners:/train/")
    assert code == 1
    assert (owners["paths"], owners["reasons"], owners["satisfied"]) == (
        ["contrib/plugins/hook.py"],
        ["contrib/plugins/hook.py (as train/plugins/hook.py)"],
        False,
    )
    code, doc = check(repo, tmp_path, capsys, ("bob", "carol"))
    assert code == 0, doc["requirements"]


# --- the resolver on its own --------------------------------------------------


def test_resolve_follows_links_component_by_component() -> None:
    links = {"lib": "deep/er", "train/h": "../lib/../x", "a": "b", "b": "a", "up": ".."}
    assert aliases.resolve(links, "train/h") == "deep/x"
    assert aliases.resolve(links, "lib/y") == "deep/er/y"
    assert aliases.resolve(links, "a") is None  # a loop
    assert aliases.resolve(links, "up") is None  # leaves the repository
    assert aliases.resolve({"r": "."}, "r/r/r") == ""  # the root


def test_names_are_bounded_and_refuse_to_judge_past_the_bound() -> None:
    tree = aliases.Tree({"x": ".", "train/p": "../contrib"})
    # Each link at most once per name: x/x/contrib/h.py adds nothing.
    assert tree.names("contrib/h.py") == {"train/p/h.py", "x/contrib/h.py", "x/train/p/h.py"}
    # Eight links to the root make more names than the gate will enumerate,
    # and ten directories linked one into the next stack past MAX_DEPTH:
    # both block rather than risk dropping the sensitive name.
    roots = aliases.Tree({f"r{i}": "." for i in range(8)})
    with pytest.raises(GitError, match="too many names through symlinks"):
        roots.names("contrib/h.py")
    stacked = aliases.Tree({f"d{i + 1}/n": f"../d{i}" for i in range(10)})
    assert "d2/n/n/h.py" in aliases.Tree({"d1/n": "../d0", "d2/n": "../d1"}).names("d0/h.py")
    with pytest.raises(GitError, match="stacked directory links"):
        stacked.names("d0/h.py")


def test_policy_explain_shows_and_judges_every_name(repo: Repo) -> None:
    from traingate.policy.explain import explain
    from traingate.policy.load import load_from_git

    base(repo, {"train/plugins": "../contrib/plugins"})
    head = repo.git("rev-parse", "HEAD").strip()
    names = aliases.at_revision(repo.path, head, ["contrib/plugins/hook.py", "contrib/hook.py"])
    assert names == {"contrib/plugins/hook.py": ("train/plugins/hook.py",)}
    out = explain(load_from_git(repo.path, head), ["contrib/plugins/hook.py"], names)
    assert (
        "contrib/plugins/hook.py:\n"
        "  also reachable as (symlinks): train/plugins/hook.py\n"
        "  sensitive: training-code: needs 1 approval(s) from ml-reviewers [alice, bob]; "
        "matched by /train/ (as train/plugins/hook.py)\n"
    ) in out

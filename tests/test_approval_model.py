"""Issue #14, tried as an attacker: approvals bound to exact content (class 1), to
persons rather than accounts (classes 5 and 6), ordered as instants (class 10).

Real git in temp repos, `traingate check --approvals FILE`; each attack must
block, each positive control must pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import Repo

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob, carol]
users:
  alice: {emails: [alice@example.com], github: alice-gh}
  bob: {emails: [bob@example.com], github: [bob-gh, bob-alt], github_ids: [4242]}
  carol: {emails: [carol@example.com], github: carol-gh}
  sam: {emails: [sam@example.com], github: sam-gh}
  mallory: {emails: [mallory@example.com], github: mallory-gh}
sensitive_paths:
  - name: training-code
    paths: ["train.py"]
    approvals: {n}
    approvers: [ml-reviewers]
checks:
  semgrep: {enabled: false}
"""

TRAIN_A = """\
for step, batch in enumerate(loader):
    loss = model(batch)
    loss.backward()
    optimizer.step()
    scheduler.step()
"""
# Whitespace is meaning: the schedule now advances once per 1000 steps.
TRAIN_B = """\
for step, batch in enumerate(loader):
    loss = model(batch)
    loss.backward()
    optimizer.step()
    if step % 1000 == 0:
        scheduler.step()
"""


def make(repo: Repo, train: str = TRAIN_A, n: int = 1) -> str:
    repo.write(".traingate.yaml", POLICY.replace("{n}", str(n)))
    repo.write("train.py", "for step, batch in enumerate(loader):\n    pass\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train.py", train)
    repo.commit("change", who="mallory")
    return head(repo)


def head(repo: Repo, rev: str = "feature") -> str:
    return repo.git("rev-parse", rev).strip()


def review(
    user: str, commit: str, state: str = "approved", at: str = "2026-11-20T10:00:00Z", **kw: Any
) -> dict[str, Any]:
    return {"user": user, "state": state, "commit": commit, "submitted_at": at, **kw}


def check(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    f = tmp_path / "approvals.json"
    f.write_text(json.dumps({"author": "mallory", **data}))
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
    return code, json.loads(capsys.readouterr().out)


def req(doc: dict[str, Any], name: str = "training-code") -> dict[str, Any]:
    return next(r for r in doc["requirements"] if r["name"] == name)


# --- class 1: stale approvals, compared by object ids --------------------------------


def force_push(repo: Repo, train: str) -> str:
    repo.git("reset", "-q", "--hard", "main", who="mallory")
    repo.write("train.py", train)
    repo.commit("change", who="mallory")
    return head(repo)


@pytest.mark.parametrize(
    "variant",
    [
        TRAIN_B,  # indentation moves a statement into an if
        TRAIN_A.replace("    scheduler.step()\n", "scheduler.step()\n"),  # out of the loop
        TRAIN_A + 'TAG = "a  b"\n',  # spaces inside a string literal
        TRAIN_A.replace("\n", "\r\n"),  # line endings only
        TRAIN_A + "\n",  # a blank line only
    ],
    ids=["indent-into-if", "dedent-out-of-loop", "string-spaces", "crlf", "blank-line"],
)
def test_whitespace_only_variant_after_approval_is_stale(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], variant: str
) -> None:
    approved = make(repo)
    landed = force_push(repo, variant)
    assert landed != approved
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 1
    r = req(doc)
    assert r["approved_by"] == []
    assert r["rejected"] == [
        {
            "user": "bob",
            "reason": f"stale: approved {approved[:12]}; the change has changed since, in train.py",
        }
    ]


def test_new_commit_with_the_same_tree_keeps_the_approval(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    repo.git("commit", "-q", "--amend", "-m", "reworded", who="mallory")
    assert head(repo) != approved
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 0 and req(doc)["approved_by"] == ["bob"]


def test_update_merge_without_conflicts_keeps_the_approval(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    repo.checkout("main")
    repo.write("data.py", "SPLIT = 0.9\n")
    repo.commit("main moves")
    repo.checkout("feature")
    repo.git("merge", "-q", "--no-edit", "main", who="mallory")
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 0 and req(doc)["approved_by"] == ["bob"]


def test_conflict_resolution_that_differs_from_the_replay_is_stale(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    repo.checkout("main")
    repo.write("train.py", "for step, batch in enumerate(loader):\n    pass  # main\n")
    repo.commit("main edits the same lines")
    repo.checkout("feature")
    repo.git("merge", "-q", "--no-edit", "main", who="mallory", check=False)
    repo.write("train.py", TRAIN_B)  # the "resolution" smuggles in the variant
    repo.git("add", "train.py")
    repo.git("commit", "-q", "--no-edit", who="mallory")
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 1
    (rej,) = req(doc)["rejected"]
    assert rej["user"] == "bob" and "conflicts with the new base, in train.py" in rej["reason"]


def test_residual_outside_a_requirement_keeps_it_and_inside_breaks_it(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    repo.write("README.md", "notes\n")
    repo.commit("docs", who="mallory")
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 0 and req(doc)["approved_by"] == ["bob"]
    repo.write("train.py", TRAIN_B)
    repo.commit("and the variant", who="mallory")
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 1 and req(doc)["approved_by"] == []


def test_approval_on_a_commit_missing_locally_is_stale(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", "f" * 40)]})
    assert code == 1
    assert req(doc)["rejected"][0]["reason"].startswith("stale: approved ffffffffffff")


# --- classes 5 and 6: persons, not accounts ----------------------------------------


def test_one_person_through_two_accounts_counts_once(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo, n=2)
    data = {
        "platform": "github",
        "author": "mallory-gh",
        "reviews": [review("bob-gh", approved), review("bob-alt", approved)],
    }
    code, doc = check(repo, tmp_path, capsys, data)
    assert code == 1
    assert req(doc)["approved_by"] == ["bob"]


def test_an_account_is_not_a_person_by_name(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # bob's GitHub accounts are bob-gh and bob-alt: a login "bob" is someone else.
    approved = make(repo)
    data = {"platform": "github", "author": "mallory-gh", "reviews": [review("bob", approved)]}
    code, doc = check(repo, tmp_path, capsys, data)
    assert code == 1
    r = req(doc)
    assert r["approved_by"] == []
    assert {"user": "bob", "reason": "account 'bob' maps to no person in the policy's users:"} in r[
        "rejected"
    ]


def test_a_person_approves_through_any_mapped_account_or_numeric_id(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    for rev in (review("bob-alt", approved), review("renamed-login", approved, user_id=4242)):
        data = {"platform": "github", "author": "mallory-gh", "reviews": [rev]}
        code, doc = check(repo, tmp_path, capsys, data)
        assert code == 0, doc
        assert req(doc)["approved_by"] == ["bob"]


def test_a_second_account_as_author_blocks(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # bob opens the PR from a second account the policy does not know and then
    # approves as bob-gh: an unknown author could be any approver, so it blocks.
    approved = make(repo)
    data = {"platform": "github", "author": "bob-sock", "reviews": [review("bob-gh", approved)]}
    code, doc = check(repo, tmp_path, capsys, data)
    assert code == 1
    assert "'bob-sock' (github) is the change's author but maps to no person" in req(doc)["error"]


def test_an_unmapped_git_identity_in_the_change_blocks(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    repo.write("train.py", TRAIN_A + "# tweak\n")
    repo.git("add", "train.py")
    repo.git(
        "commit", "-q", "-m", "sock", "--author", "Sock <sock@elsewhere.example>", who="mallory"
    )
    data = {"reviews": [review("bob", head(repo))]}
    assert approved != head(repo)
    code, doc = check(repo, tmp_path, capsys, data)
    assert code == 1
    assert "identity <sock@elsewhere.example>" in req(doc)["error"]


def test_every_pusher_is_excluded_and_unmapped_pushers_block(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approved = make(repo)
    data = {
        "platform": "github",
        "author": "mallory-gh",
        "pushers": ["bob-alt"],
        "reviews": [review("bob-gh", approved)],
    }
    code, doc = check(repo, tmp_path, capsys, data)
    assert code == 1
    assert {"user": "bob", "reason": "pushed to the change"} in req(doc)["rejected"]
    data = {
        "platform": "github",
        "author": "mallory-gh",
        "pushers": ["who-is-this"],
        "reviews": [review("bob-gh", approved)],
    }
    code, doc = check(repo, tmp_path, capsys, data)
    assert code == 1
    assert "'who-is-this' (github) pushed to the change but maps to no person" in req(doc)["error"]


# --- class 10: review order as instants ---------------------------------------------


@pytest.mark.parametrize(
    ("approved_at", "requested_at"),
    [
        ("2026-11-20T12:30:00+02:00", "2026-11-20T11:00:00Z"),  # 10:30Z < 11:00Z
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.500Z"),  # '.' sorts before 'Z'
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"),  # a tie: the stricter state
    ],
)
def test_changes_requested_after_approval_by_instant(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    approved_at: str,
    requested_at: str,
) -> None:
    h = make(repo)
    reviews = [
        review("bob", h, "approved", approved_at),
        review("bob", h, "changes_requested", requested_at),
        review("carol", h, "approved", approved_at),
    ]
    code, doc = check(repo, tmp_path, capsys, {"reviews": reviews})
    assert code == 1
    assert req(doc)["error"] == "changes requested by bob"


def test_an_unreadable_review_time_blocks(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = make(repo)
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", h, at="yesterday")]})
    assert code == 1
    assert "has no RFC 3339 time ('yesterday')" in req(doc)["error"]


def test_a_co_author_cannot_approve(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    repo.write("train.py", TRAIN_B)
    repo.git("add", "train.py")
    repo.git(
        "commit", "-q", "-m", "pair work\n\nCo-authored-by: Bob <bob@example.com>\n", who="mallory"
    )
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", head(repo))]})
    assert code == 1
    (rej,) = req(doc)["rejected"]
    assert rej["user"] == "bob" and rej["reason"].startswith("co-authored commit ")


def test_merge_attributes_in_the_change_cannot_make_a_conflicting_replay_clean(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The change declares `train.py merge=union`: git would then "resolve" the
    # replay's conflict by concatenating both sides, and a head built that way
    # would match it. The replay must be git's plain merge, so it conflicts.
    repo.write(".traingate.yaml", POLICY.replace("{n}", "1"))
    repo.write("train.py", "lr = 0.1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write(".gitattributes", "train.py merge=union\n")
    repo.write("train.py", "lr = 0.01\n")
    approved = repo.commit("lower lr", who="mallory")
    repo.checkout("main")
    repo.write("train.py", "lr = 0.2\n")
    repo.commit("main raises lr")
    repo.checkout("feature")
    # The head: main plus the union "resolution" (both lines: the later one wins).
    tree = repo.git("merge-tree", "--write-tree", "main", "feature").split()[0]
    assert "lr = 0.01" in repo.git("cat-file", "-p", f"{tree}:train.py")
    landed = repo.git("commit-tree", tree, "-p", "main", "-m", "rebased", who="mallory").strip()
    repo.git("reset", "-q", "--hard", landed)
    code, doc = check(repo, tmp_path, capsys, {"reviews": [review("bob", approved)]})
    assert code == 1, doc
    (rej,) = req(doc)["rejected"]
    assert "conflicts with the new base, in train.py" in rej["reason"]

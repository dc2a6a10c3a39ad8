"""Approval semantics end to end: `check --approvals FILE` and signed notes, real git
and real ssh-keygen. Each case names who may still approve."""

from __future__ import annotations

import json
import subprocess
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
  bob: {emails: [bob@example.com]}
  carol: {emails: [carol@example.com]}
  sam: {emails: [sam@example.com]}
  mallory: {emails: [mallory@example.com]}
sensitive_paths:
  - name: training-code
    paths: ["train.py"]
    approvals: {n}
    approvers: [ml-reviewers]
checks:
  semgrep: {enabled: false}
"""


def make(repo: Repo, n: int = 1, extra: str = "") -> Repo:
    repo.write(".traingate.yaml", POLICY.replace("{n}", str(n)) + extra)
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train.py", "x = 2\n")
    repo.commit("change", who="mallory")
    return repo


def head(repo: Repo) -> str:
    return repo.git("rev-parse", "feature").strip()


def review(user: str, state: str, commit: str, at: str = "2026-11-20T10:00:00Z") -> dict[str, str]:
    return {"user": user, "state": state, "commit": commit, "submitted_at": at}


def run(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reviews: list[dict[str, str]],
    **extra: object,
) -> tuple[int, dict[str, Any]]:
    f = tmp_path / "approvals.json"
    f.write_text(json.dumps({"author": "mallory", "reviews": reviews, **extra}))
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
    return code, doc


def req(doc: dict[str, Any], name: str = "training-code") -> dict[str, Any]:
    return next(r for r in doc["requirements"] if r["name"] == name)


def test_one_eligible_approval_passes(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    code, doc = run(repo, tmp_path, capsys, [review("bob", "approved", head(repo))])
    assert code == 0 and req(doc)["approved_by"] == ["bob"] and req(doc)["satisfied"]


def test_author_self_approval_does_not_count(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    repo.git("config", "user.name", "x")
    code, doc = run(repo, tmp_path, capsys, [review("mallory", "approved", head(repo))])
    assert code == 1
    r = req(doc)
    assert r["approved_by"] == [] and r["eligible"] == ["alice", "bob", "carol"]


def test_approver_who_pushed_a_commit_does_not_count(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    repo.write("train.py", "x = 3\n")
    repo.commit("bob helps", who="bob")
    code, doc = run(repo, tmp_path, capsys, [review("bob", "approved", head(repo))])
    assert code == 1
    r = req(doc)
    assert r["rejected"] == [{"user": "bob", "reason": f"authored commit {head(repo)[:12]}"}]
    assert r["eligible"] == ["alice", "carol"]


def test_last_pusher_does_not_count(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    code, doc = run(
        repo, tmp_path, capsys, [review("carol", "approved", head(repo))], pusher="carol"
    )
    assert code == 1 and req(doc)["rejected"] == [
        {"user": "carol", "reason": "pushed to the change"}
    ]


def test_stale_approval_after_new_push(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    old = head(repo)
    repo.write("train.py", "x = 666\n")
    repo.commit("sneak", who="mallory")
    code, doc = run(repo, tmp_path, capsys, [review("bob", "approved", old)])
    assert code == 1
    assert req(doc)["rejected"] == [
        {
            "user": "bob",
            "reason": f"stale: approved {old[:12]}; the change has changed since, in train.py",
        }
    ]


def test_patch_identical_force_push_keeps_the_approval(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    old = head(repo)
    repo.git("commit", "--amend", "-q", "-m", "reworded", who="mallory")  # same patch, same base
    assert head(repo) != old
    code, doc = run(repo, tmp_path, capsys, [review("bob", "approved", old)])
    assert code == 0 and req(doc)["approved_by"] == ["bob"]


def test_clean_rebase_onto_a_moved_base_keeps_the_approval(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue #14: replaying the approved change onto the new base yields exactly
    # the head's tree, so the approval carries (stricter on content than
    # patch-id, yet it survives a pure rebase, unlike GitHub's dismiss-stale).
    make(repo)
    old = head(repo)
    repo.checkout("main")
    repo.write("other.py", "y = 1\n")
    repo.commit("main moves")
    repo.checkout("feature")
    repo.git("rebase", "-q", "main", who="mallory")
    assert head(repo) != old
    code, doc = run(repo, tmp_path, capsys, [review("bob", "approved", old)])
    assert code == 0
    assert req(doc)["approved_by"] == ["bob"] and req(doc)["rejected"] == []


def test_changes_requested_after_approval(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    h = head(repo)
    reviews = [
        review("bob", "approved", h, "2026-11-20T10:00:00Z"),
        review("bob", "changes_requested", h, "2026-11-20T11:00:00Z"),
        review("alice", "approved", h, "2026-11-20T10:30:00Z"),
    ]
    code, doc = run(repo, tmp_path, capsys, reviews)
    assert code == 1
    r = req(doc)
    assert r["approved_by"] == ["alice"] and r["error"] == "changes requested by bob"


def test_comment_after_approval_keeps_it_and_dismissal_cancels(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    h = head(repo)
    reviews = [
        review("bob", "approved", h, "2026-11-20T10:00:00Z"),
        review("bob", "commented", h, "2026-11-20T11:00:00Z"),
        review("carol", "approved", h, "2026-11-20T10:00:00Z"),
        review("carol", "dismissed", h, "2026-11-20T12:00:00Z"),
    ]
    _, doc = run(repo, tmp_path, capsys, reviews)
    assert req(doc)["approved_by"] == ["bob"]


def test_bot_approval_does_not_count(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo, extra="excluded_approvers: []\n")
    h = head(repo)
    policy = repo.path / ".traingate.yaml"
    assert policy.exists()
    code, doc = run(repo, tmp_path, capsys, [review("alice", "approved", h)], bots=["alice"])
    assert code == 1 and req(doc)["rejected"] == [{"user": "alice", "reason": "is a bot"}]
    code, doc = run(repo, tmp_path, capsys, [{**review("dependabot[bot]", "approved", h)}])
    assert code == 1 and req(doc)["approved_by"] == []


def test_approver_outside_the_group(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    code, doc = run(repo, tmp_path, capsys, [review("sam", "approved", head(repo))])
    assert code == 1
    assert req(doc)["rejected"] == [{"user": "sam", "reason": "not an approver for training-code"}]


def test_two_required_one_given(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo, n=2)
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
            str(_write(tmp_path, [review("bob", "approved", head(repo))])),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "[MISSING] training-code: needs 2 approvals from ml-reviewers (1/2)" in out
    assert "approved by: bob" in out
    assert "eligible approvers: alice, carol" in out


def test_zero_eligible_approvers_is_an_error(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        ".traingate.yaml", POLICY.replace("{n}", "1").replace("[alice, bob, carol]", "[mallory]")
    )
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train.py", "x = 2\n")
    repo.commit("change", who="mallory")
    code, doc = run(repo, tmp_path, capsys, [])
    assert code == 1
    assert req(doc)["error"] == "no one can approve this: ml-reviewers has no eligible members"


def _write(tmp_path: Path, reviews: list[dict[str, str]]) -> Path:
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"author": "mallory", "reviews": reviews}))
    return f


def test_bad_approvals_file_is_a_usage_error(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(repo)
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"reviews": [{"user": "bob", "state": "lgtm", "submitted_at": "x"}]}))
    assert (
        main(
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
            ]
        )
        == 2
    )
    assert "reviews.0.state" in capsys.readouterr().err


# --- signed offline approvals ------------------------------------------------


def keygen(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / f"{name}_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key, (tmp_path / f"{name}_key.pub").read_text().strip()


def signed_repo(repo: Repo, tmp_path: Path, revoked: bool = False) -> dict[str, Path]:
    keys = {n: keygen(tmp_path, n) for n in ("bob", "carol", "eve", "mallory")}
    signers = "".join(f"{n} {keys[n][1]}\n" for n in ("bob", "carol", "mallory"))
    extra = "approvals:\n  signed:\n    allowed_signers: .traingate/allowed_signers\n"
    if revoked:
        extra += "    revoked_keys: .traingate/revoked\n"
        repo.write(".traingate/revoked", keys["carol"][1] + "\n")
    repo.write(".traingate/allowed_signers", signers)
    # In the signed flow every commit of the change must be SSH-signed by an
    # allowed signer (issue #14 class 3): mallory, the author, signs hers.
    repo.git("config", "gpg.format", "ssh")
    repo.git("config", "user.signingkey", str(keys["mallory"][0]))
    repo.git("config", "commit.gpgsign", "true")
    make(repo, extra=extra)
    return {n: k for n, (k, _) in keys.items()}


def check_text(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"])
    return code, capsys.readouterr().out


def test_signed_approval_counts(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = signed_repo(repo, tmp_path)
    assert (
        main(
            [
                "approve",
                "--repo",
                str(repo.path),
                "--base",
                "main",
                "--head",
                "feature",
                "--key",
                str(keys["bob"]),
                "--approver",
                "bob",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code, out = check_text(repo, capsys)
    assert code == 0, out
    assert "approved by: bob" in out


def test_forged_approver_name_does_not_verify(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = signed_repo(repo, tmp_path)
    # eve's key is not an allowed signer; she claims to be bob
    main(
        [
            "approve",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--key",
            str(keys["eve"]),
            "--approver",
            "bob",
        ]
    )
    capsys.readouterr()
    code, out = check_text(repo, capsys)
    assert code == 1
    assert "signed approval by bob on" in out and "does not verify" in out
    assert "eligible approvers: alice, bob, carol" in out


def test_revoked_key_does_not_verify(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = signed_repo(repo, tmp_path, revoked=True)
    main(
        [
            "approve",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--key",
            str(keys["carol"]),
            "--approver",
            "carol",
        ]
    )
    capsys.readouterr()
    code, out = check_text(repo, capsys)
    assert code == 1 and "signed approval by carol" in out and "does not verify" in out


def test_wrong_namespace_signature_does_not_verify(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from traingate.approvals.signed import NOTES_REF, canonical

    keys = signed_repo(repo, tmp_path)
    h = head(repo)
    mb = repo.git("merge-base", "main", "feature").strip()
    from traingate import git
    from traingate.policy.load import load_from_git

    st = {
        "type": "traingate-approval",
        "version": 1,
        "approver": "bob",
        "merge_base": mb,
        "head": h,
        "patch_id": git.patch_id(repo.path, mb, h),
        "policy_sha256": load_from_git(repo.path, repo.git("rev-parse", "main").strip()).sha256,
        "time": "2026-11-20T10:00:00Z",
    }
    sig = subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(keys["bob"]), "-n", "git"],
        input=canonical(st),
        capture_output=True,
        check=True,
    ).stdout.decode()
    repo.git(
        "notes",
        f"--ref={NOTES_REF}",
        "add",
        "-m",
        json.dumps({"statement": st, "signature": sig}),
        h,
    )
    code, out = check_text(repo, capsys)
    assert code == 1 and "does not verify" in out


def test_signed_approval_goes_stale_after_a_push(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = signed_repo(repo, tmp_path)
    main(
        [
            "approve",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--key",
            str(keys["bob"]),
            "--approver",
            "bob",
        ]
    )
    repo.write("train.py", "x = 999\n")
    repo.commit("after approval", who="mallory")
    capsys.readouterr()
    code, out = check_text(repo, capsys)
    assert code == 1
    assert "not counted: bob: stale" in out


# --- CODEOWNERS ------------------------------------------------------------


def test_codeowners_github_last_match_wins(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        "CODEOWNERS",
        "# owners\n*.py @alice-gh\n/train.py @carol @org/ml-leads\n/docs/ docs@example.com\n",
    )
    make(repo, extra="codeowners: CODEOWNERS\n")
    repo.checkout("main")
    policy = (repo.path / ".traingate.yaml").read_text()
    repo.write(".traingate.yaml", policy.replace("carol]\n", "carol]\n  org/ml-leads: [bob]\n", 1))
    repo.commit("team")
    repo.checkout("feature")
    code, doc = run(repo, tmp_path, capsys, [review("alice", "approved", head(repo))])
    r = req(doc, "codeowners:/train.py")
    assert (r["kind"], r["approvers"], r["eligible"], r["approved_by"]) == (
        "codeowners",
        ["carol", "org/ml-leads"],
        ["carol", "bob"],
        [],
    )
    assert code == 1
    code, doc = run(
        repo,
        tmp_path,
        capsys,
        [review("alice", "approved", head(repo)), review("bob", "approved", head(repo))],
    )
    assert code == 0


def test_codeowners_gitlab_sections(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        "CODEOWNERS",
        "[Training][2] @alice-gh @bob\ntrain.py\n\n^[Docs]\n*.md @carol\n\n[Security]\n*.py @sam\n",
    )
    make(repo, extra="codeowners: CODEOWNERS\n")
    code, doc = run(
        repo,
        tmp_path,
        capsys,
        [review("alice", "approved", head(repo)), review("sam", "approved", head(repo))],
    )
    names = sorted(r["name"] for r in doc["requirements"])
    assert names == ["codeowners[Security]:*.py", "codeowners[Training]:train.py", "training-code"]
    tr = req(doc, "codeowners[Training]:train.py")
    assert (tr["required"], tr["approved_by"], tr["satisfied"]) == (2, ["alice"], False)
    assert req(doc, "codeowners[Security]:*.py")["satisfied"]
    assert code == 1


def test_codeowners_comes_from_the_base(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("CODEOWNERS", "train.py @sam\n")
    make(repo, extra="codeowners: CODEOWNERS\n")
    repo.write("CODEOWNERS", "train.py @mallory\n")
    repo.commit("take ownership", who="mallory")
    _, doc = run(repo, tmp_path, capsys, [])
    assert req(doc, "codeowners:train.py")["approvers"] == ["sam"]

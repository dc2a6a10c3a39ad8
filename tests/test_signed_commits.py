"""Issue #14 class 3: in the signed (offline) flow commit identities are not taken
on trust. Every commit of the change must carry an SSH signature by a key in the
base's allowed signers; its signers may not approve. Real git, real ssh-keygen."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from traingate import change as changes
from traingate.approvals import ReviewData
from traingate.approvals.signed import (
    NOTES_REF,
    CommitSignature,
    collect,
    parse_signature_log,
    principals_by_key,
    verify_commits,
)
from traingate.cli import main
from traingate.policy.load import load_from_git

from .conftest import Repo

POLICY = """\
version: 1
extends: builtin:default
groups:
  ml-reviewers: [alice, bob]
users:
  alice: {emails: [alice@example.com], ssh: alice}
  bob: {emails: [bob@example.com], ssh: bob}
  carol: {emails: [carol@example.com], ssh: carol}
  mallory: {emails: [mallory@example.com], ssh: mallory}
sensitive_paths:
  - name: training-code
    paths: ["train.py"]
    approvals: 1
    approvers: [ml-reviewers]
checks:
  semgrep: {enabled: false}
approvals:
  signed:
    allowed_signers: .traingate/allowed_signers
"""
SIGNERS = ".traingate/allowed_signers"

Keys = dict[str, tuple[Path, str]]  # name -> (private key file, public key line)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    out: Keys = {}
    for name in ("alice", "bob", "mallory"):
        key = d / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
            check=True,
        )
        out[name] = (key, (d / f"{name}.pub").read_text().strip())
    return out


def base(repo: Repo, keys: Keys, signers: str | None = None, revoked: str | None = None) -> Repo:
    """main: the policy, allowed signers (alice, bob unless given) and train.py; then
    the branch feature. Base commits are unsigned: only the change's commits count."""
    policy = POLICY
    if revoked is not None:
        policy += "    revoked_keys: .traingate/revoked\n"
        repo.write(".traingate/revoked", revoked)
    repo.write(".traingate.yaml", policy)
    if signers is None:
        signers = "".join(f"{n} {keys[n][1]}\n" for n in ("alice", "bob"))
    repo.write(SIGNERS, signers)
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def commit(repo: Repo, message: str, who: str, key: Path | None) -> str:
    """Commit as ``who`` (author and committer: free text), signed with ``key``."""
    repo.git("add", "-A")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    flag = "-S" if key else "--no-gpg-sign"
    repo.git(*sign, "commit", "-q", "--no-verify", "--allow-empty", flag, "-m", message, who=who)
    return repo.git("rev-parse", "HEAD").strip()


def approve(repo: Repo, key: Path, approver: str) -> None:
    args = ["approve", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    assert main([*args, "--key", str(key), "--approver", approver]) == 0


def check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
        + ["--format", "json"]
    )
    return code, json.loads(capsys.readouterr().out)


def training(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["requirements"] if r["name"] == "training-code")


def collected(repo: Repo) -> ReviewData:
    ch = changes.revision_range(repo.path, "main", "feature")
    assert ch.base is not None
    data = collect(ch, load_from_git(repo.path, ch.base))
    assert data is not None
    return data


# --- end to end: the attacks of issue #14 class 3 each block --------------------


def test_positive_control_alice_signs_her_commits_and_merge_bob_approves(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys)
    alice = keys["alice"][0]
    repo.write("train.py", "x = 2\n")
    first = commit(repo, "tune", "alice", alice)
    repo.git("checkout", "-q", "-b", "side", "main")
    repo.write("data.py", "y = 1\n")
    commit(repo, "side work", "alice", alice)
    repo.checkout("feature")
    repo.git(
        "-c", "gpg.format=ssh", "-c", f"user.signingkey={alice}", "merge", "-q", "-S",
        "--no-ff", "-m", "merge side", "side", who="alice",
    )  # fmt: skip
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    r = training(doc)
    assert code == 0, doc
    assert r["approved_by"] == ["bob"] and r["error"] is None
    assert r["eligible"] == ["bob"]  # alice wrote and signed it
    data = collected(repo)
    assert data.blockers == ()
    assert {p for p, _ in data.signers} == {"alice"} and len(data.signers) == 3
    assert first in {sha for _, sha in data.signers}


def test_unsigned_commit_under_alices_name_then_bob_approves_blocks(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    # bob writes as "alice <alice@example.com>" (free text) and approves as bob
    base(repo, keys)
    repo.write("train.py", "x = 666\n")
    sha = commit(repo, "harmless", "alice", None)
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    r = training(doc)
    assert code == 1 and r["approved_by"] == ["bob"]  # counted, yet blocked:
    assert f"commit {sha[:12]} has no SSH signature" in r["error"]
    assert f"a key listed for you in {SIGNERS}" in r["error"]


def test_bob_signs_under_alices_name_then_approves_blocks(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys)
    repo.write("train.py", "x = 666\n")
    sha = commit(repo, "harmless", "alice", keys["bob"][0])
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    r = training(doc)
    assert code == 1 and r["approved_by"] == [] and "bob" not in r["eligible"]
    assert any(x["user"] == "bob" and sha[:12] in x["reason"] for x in r["rejected"])
    assert collected(repo).signers == (("bob", sha),)


def test_commit_signed_by_a_key_not_in_the_allowed_signers_blocks(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys)
    repo.write("train.py", "x = 666\n")
    sha = commit(repo, "harmless", "alice", keys["mallory"][0])
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    error = training(doc)["error"]
    assert code == 1
    assert f"commit {sha[:12]} is signed by key SHA256:" in error
    assert f"not listed in {SIGNERS} at the base" in error


def test_key_added_to_allowed_signers_by_the_change_does_not_count(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys)
    signers = (repo.path / SIGNERS).read_text()
    repo.write(SIGNERS, signers + f"alice {keys['mallory'][1]}\n")
    repo.write("train.py", "x = 666\n")
    sha = commit(repo, "harmless", "alice", keys["mallory"][0])
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    assert code == 1
    assert f"commit {sha[:12]} is signed by key" in training(doc)["error"]
    assert "a key added by the change itself does not count" in training(doc)["error"]


def test_commit_signed_by_a_revoked_key_blocks(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys, revoked=keys["alice"][1] + "\n")
    repo.write("train.py", "x = 2\n")
    sha = commit(repo, "tune", "alice", keys["alice"][0])
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    error = training(doc)["error"]
    assert code == 1
    assert f"commit {sha[:12]} has a signature that does not verify against {SIGNERS}" in error
    assert "a key revoked in .traingate/revoked" in error


def test_unsigned_merge_commit_blocks(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys)
    alice = keys["alice"][0]
    repo.write("train.py", "x = 2\n")
    commit(repo, "tune", "alice", alice)
    repo.git("checkout", "-q", "-b", "side", "main")
    repo.write("data.py", "y = 1\n")
    commit(repo, "side work", "alice", alice)
    repo.checkout("feature")
    repo.git("merge", "-q", "--no-ff", "--no-gpg-sign", "-m", "merge", "side", who="alice")
    merge = repo.git("rev-parse", "HEAD").strip()
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    assert code == 1
    assert f"commit {merge[:12]} has no SSH signature" in training(doc)["error"]


@pytest.mark.parametrize("lie", ["allowed_signers", "program"])
def test_repository_config_cannot_substitute_program_or_signers(
    lie: str, repo: Repo, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Local allowed signers that list mallory's key as alice, or a local
    # gpg.ssh.program that answers "good" for anything: git itself believes
    # them; traingate pins both to its own.
    base(repo, keys)
    repo.write("train.py", "x = 666\n")
    sha = commit(repo, "harmless", "alice", keys["mallory"][0])
    if lie == "allowed_signers":
        local = tmp_path / "local_signers"
        local.write_text(f"alice {keys['mallory'][1]}\n")
        repo.git("config", "gpg.ssh.allowedSignersFile", str(local))
    else:
        fake = tmp_path / "fake-ssh-keygen"
        good = f'Good "git" signature for alice with ED25519 key SHA256:{"x" * 43}'
        fake.write_text(
            f"#!/bin/sh\ncase \"$*\" in *find-principals*) echo alice;; *) echo '{good}';; esac\n"
        )
        fake.chmod(0o755)
        repo.git("config", "gpg.ssh.program", str(fake))
        repo.git("config", "gpg.ssh.allowedSignersFile", "/dev/null")
    assert "G alice" in repo.git("log", "-1", "--format=%G? %GS", sha)  # the local lie
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    assert code == 1
    assert f"commit {sha[:12]} is signed by key SHA256:" in training(doc)["error"]


def test_gpg_signature_never_counts_even_if_the_local_gpg_says_good(
    repo: Repo, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base(repo, keys)
    fake = tmp_path / "fake-gpg"
    fake.write_text(
        "#!/bin/sh\necho '[GNUPG:] GOODSIG 1234 alice'\n"
        "echo '[GNUPG:] VALIDSIG 1234 x'\necho '[GNUPG:] TRUST_ULTIMATE'\nexit 0\n"
    )
    fake.chmod(0o755)
    repo.git("config", "gpg.program", str(fake))
    repo.write("train.py", "x = 666\n")
    commit(repo, "harmless", "alice", None)
    tree = repo.git("rev-parse", "HEAD^{tree}").strip()
    parent = repo.git("rev-parse", "HEAD^").strip()
    raw = (
        f"tree {tree}\nparent {parent}\n"
        "author alice <alice@example.com> 1700000000 +0000\n"
        "committer alice <alice@example.com> 1700000000 +0000\n"
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
        "\nharmless\n"
    )
    (tmp_path / "c").write_text(raw)
    sha = repo.git("hash-object", "-t", "commit", "-w", str(tmp_path / "c")).strip()
    repo.git("update-ref", "refs/heads/feature", sha)
    assert "G alice" in repo.git("log", "-1", "--format=%G? %GS", sha)  # the local lie
    approve(repo, keys["bob"][0], "bob")
    code, doc = check(repo, capsys)
    assert code == 1
    assert f"commit {sha[:12]} has no SSH signature" in training(doc)["error"]


# --- collect: signers and the statement's merge base ----------------------------


def test_collect_takes_the_merge_base_from_the_signed_statement(repo: Repo, keys: Keys) -> None:
    base(repo, keys)
    repo.write("train.py", "x = 2\n")
    sha = commit(repo, "tune", "alice", keys["alice"][0])
    approve(repo, keys["bob"][0], "bob")
    mb = repo.git("merge-base", "main", "feature").strip()
    data = collected(repo)
    assert data.platform == "ssh" and data.signers == (("alice", sha),)
    [review] = data.reviews
    assert (review.user, review.platform, review.merge_base, review.commit) == (
        "bob",
        "ssh",
        mb,
        sha,
    )


def test_statement_with_wrong_types_is_ignored(repo: Repo, keys: Keys) -> None:
    base(repo, keys)
    repo.write("train.py", "x = 2\n")
    sha = commit(repo, "tune", "alice", keys["alice"][0])
    st = {
        "type": "traingate-approval",
        "version": 1,
        "approver": "bob",
        "merge_base": 12,
        "head": sha,
        "patch_id": None,
        "policy_sha256": "x",
        "time": "2026-11-20T10:00:00Z",
    }
    repo.git("notes", f"--ref={NOTES_REF}", "add", "-m", json.dumps({"statement": st}), sha)
    data = collected(repo)
    assert data.reviews == ()
    assert any("merge_base is not a commit id" in n for n in data.notes)


# --- verify_commits on real git output ---------------------------------------------


def _verify(
    repo: Repo, signers_text: str, tmp_path: Path
) -> tuple[list[tuple[str, str]], list[str]]:
    signers = tmp_path / "signers"
    signers.write_text(signers_text)
    mb = repo.git("merge-base", "main", "feature").strip()
    head = repo.git("rev-parse", "feature").strip()
    commits = repo.git("rev-list", f"{mb}..{head}").split()
    return verify_commits(repo.path, mb, head, commits, signers, None, SIGNERS, None)


def test_every_principal_of_a_shared_key_is_a_signer(
    repo: Repo, keys: Keys, tmp_path: Path
) -> None:
    # git reports only the first principal; a key listed as "alice,carol" and
    # again as "mallory" may have been used by any of them.
    base(repo, keys)
    sha = commit(repo, "tune", "alice", keys["alice"][0])
    text = f"alice,carol {keys['alice'][1]}\nbob {keys['bob'][1]}\nmallory {keys['alice'][1]}\n"
    signed, blockers = _verify(repo, text, tmp_path)
    assert blockers == []
    assert signed == [("alice", sha), ("carol", sha), ("mallory", sha)]


def test_key_listed_under_a_wildcard_blocks(repo: Repo, keys: Keys, tmp_path: Path) -> None:
    base(repo, keys)
    sha = commit(repo, "tune", "alice", keys["mallory"][0])
    signed, blockers = _verify(repo, f"* {keys['mallory'][1]}\n", tmp_path)
    assert signed == []
    assert len(blockers) == 1 and f"commit {sha[:12]} is signed by key" in blockers[0]
    assert "the pattern(s) *" in blockers[0]


def test_one_blocker_per_bad_commit(repo: Repo, keys: Keys, tmp_path: Path) -> None:
    base(repo, keys)
    good = commit(repo, "good", "alice", keys["alice"][0])
    unsigned = commit(repo, "unsigned", "alice", None)
    unknown = commit(repo, "unknown key", "alice", keys["mallory"][0])
    signed, blockers = _verify(repo, (repo.path / SIGNERS).read_text(), tmp_path)
    assert signed == [("alice", good)]
    assert [b.split(" ")[1] for b in blockers] == [unknown[:12], unsigned[:12]]


def test_unreadable_allowed_signers_line_blocks(repo: Repo, keys: Keys, tmp_path: Path) -> None:
    base(repo, keys)
    commit(repo, "good", "alice", keys["alice"][0])
    text = f"alice {keys['alice'][1]}\nbob ssh-ed25519 not*base64\n"
    _, blockers = _verify(repo, text, tmp_path)
    assert len(blockers) == 1 and blockers[0].startswith("line(s) 2 of .traingate/allowed_signers")


# --- the parsers -----------------------------------------------------------------

A = "a" * 40
B = "b" * 40
FPR = "SHA256:" + "x" * 43


def test_parse_real_git_output(repo: Repo, keys: Keys, tmp_path: Path) -> None:
    base(repo, keys)
    unsigned = commit(repo, "unsigned", "alice", None)
    good = commit(repo, "good", "alice", keys["alice"][0])
    signers = tmp_path / "signers"
    signers.write_text((repo.path / SIGNERS).read_text())
    out = subprocess.run(
        ["git", "-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={signers}"]
        + ["log", "-z", "--format=%H%x00%G?%x00%GS%x00%GK", "main..feature"],
        cwd=repo.path,
        capture_output=True,
        check=True,
    ).stdout
    rows = parse_signature_log(out)
    assert [(r.sha, r.status, r.principal) for r in rows] == [
        (good, "G", "alice"),
        (unsigned, "N", ""),
    ]
    assert rows[0].key.startswith("SHA256:") and rows[1].key == ""


def test_parse_records() -> None:
    out = f"{A}\0G\0alice\0{FPR}\0{B}\0N\0\0\0".encode()
    assert parse_signature_log(out) == [
        CommitSignature(A, "G", "alice", FPR),
        CommitSignature(B, "N", "", ""),
    ]
    assert parse_signature_log(b"") == []


@pytest.mark.parametrize(
    "out",
    [
        f"{A}\0G\0alice\0{FPR}".encode(),  # not NUL-terminated
        f"{A}\0G\0alice\0".encode(),  # a field short
        f"{A}\0G\0alice\0{FPR}\0extra\0".encode(),  # a field over
        f"{A[:39]}\0G\0alice\0{FPR}\0".encode(),  # not a commit id
        f"{A.upper()}\0G\0alice\0{FPR}\0".encode(),
        f"{A}\0GG\0alice\0{FPR}\0".encode(),  # not one status letter
        f"{A}\0Q\0alice\0{FPR}\0".encode(),
        f"{A}\0G\0alice\0{FPR}\0{A}\0G\0alice\0{FPR}\0".encode(),  # a commit twice
        f"{A}\0G\0".encode() + b"\xff\xfe" + f"\0{FPR}\0".encode(),  # not UTF-8
        f"{A}\0G\0ali\nce\0{FPR}\0".encode(),
    ],
)
def test_parse_rejects_anything_unexpected(out: bytes) -> None:
    with pytest.raises(ValueError):
        parse_signature_log(out)


def test_principals_by_key(keys: Keys) -> None:
    a = keys["alice"][1].split()[1]
    text = (
        "# comment\n\n"
        f"alice,carol ssh-ed25519 {a} alice@laptop\n"
        f'bob namespaces="git,traingate-approval",valid-after="20240101" ssh-ed25519 {a}\n'
        f'"dave" cert-authority ssh-ed25519 {a}\n'
        "eve ssh-ed25519\n"
        "frank sk-ssh-ed25519@openssh.com !!!\n"
        'gina namespaces="git ssh-ed25519 AAAA\n'
    )
    by_key, unreadable = principals_by_key(text)
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"],
        input=keys["alice"][1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert by_key == {fingerprint: frozenset({"alice", "carol", "bob", "dave"})}
    assert unreadable == [6, 7, 8]


def test_signed_approval_note_copied_onto_a_whitespace_variant_is_stale(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #14 class 1, signed flow: bob signs version A; alice force-pushes B,
    where only indentation differs, and copies bob's note onto B. The statement
    still names A: the approval is stale for train.py."""
    base(repo, keys)
    alice = keys["alice"][0]
    repo.write("train.py", "for b in loader:\n    step(b)\n    sched.step()\n")
    approved = commit(repo, "A", "alice", alice)
    approve(repo, keys["bob"][0], "bob")
    repo.git("reset", "-q", "--hard", "main")
    repo.write("train.py", "for b in loader:\n    step(b)\nsched.step()\n")
    variant = commit(repo, "B", "alice", alice)
    repo.git("notes", "--ref=refs/notes/traingate-approvals", "copy", approved, variant)
    code, doc = check(repo, capsys)
    assert code == 1
    r = training(doc)
    assert r["approved_by"] == []
    assert any(
        x["user"] == "bob" and x["reason"].startswith(f"stale: approved {approved[:12]}")
        for x in r["rejected"]
    ), r


def test_signed_approval_against_a_weak_base_does_not_carry_to_main(
    repo: Repo, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #14 class 12, signed flow: bob approves feature against `weak`, a
    branch that already holds an unreviewed training change; the same head,
    judged against main, includes that change. The statement names the merge
    base bob saw, so the replay leaves the weak commit's path as residual."""
    base(repo, keys)
    alice = keys["alice"][0]
    repo.git("checkout", "-q", "-b", "weak", "main")
    repo.write("train.py", "x = 666  # nobody reviewed this\n")
    commit(repo, "unreviewed", "alice", alice)
    repo.git("checkout", "-q", "-B", "feature", "weak")
    repo.write("notes.md", "tidy\n")
    commit(repo, "docs", "alice", alice)
    args = ["approve", "--repo", str(repo.path), "--base", "weak", "--head", "feature"]
    assert main([*args, "--key", str(keys["bob"][0]), "--approver", "bob"]) == 0
    code, doc = check(repo, capsys)  # --base main
    assert code == 1
    r = training(doc)
    assert r["approved_by"] == []
    assert any(
        x["user"] == "bob" and x["reason"].startswith("stale:") and "train.py" in x["reason"]
        for x in r["rejected"]
    ), r

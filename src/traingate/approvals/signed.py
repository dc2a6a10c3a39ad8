"""Signed offline approvals: SSH signatures stored in git notes.

``traingate approve`` signs ``{merge_base, head, patch_id, policy_sha256,
approver}`` with ``ssh-keygen -Y sign`` in the namespace ``traingate-approval``
and appends it to ``refs/notes/traingate-approvals`` on the head commit. The
gate verifies each signature with ``ssh-keygen -Y verify`` against the
allowed-signers file named in the trusted policy (read from the base revision),
so someone with push rights alone cannot forge an approval: they would need an
approver's private key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from traingate import git
from traingate.approvals import Review, ReviewData
from traingate.change import Change
from traingate.errors import CheckError, UsageError
from traingate.policy.load import LoadedPolicy

NAMESPACE = "traingate-approval"
NOTES_REF = "refs/notes/traingate-approvals"
_FIELDS = ("approver", "head", "merge_base", "patch_id", "policy_sha256", "time", "type", "version")


def canonical(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def approve(root: Path, base: str, head: str, key: Path, approver: str) -> dict[str, Any]:
    """Sign an approval of merge-base(base, head)..head and store it in git notes."""
    from traingate.policy.load import load_from_git

    base_sha = git.require_commit(root, base, "base")
    head_sha = git.require_commit(root, head, "head")
    mb = git.merge_base(root, base_sha, head_sha)
    statement = {
        "type": "traingate-approval",
        "version": 1,
        "approver": approver,
        "merge_base": mb,
        "head": head_sha,
        "patch_id": git.patch_id(root, mb, head_sha),
        "policy_sha256": load_from_git(root, base_sha).sha256,
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    proc = subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE],
        input=canonical(statement),
        capture_output=True,
        env=git.git_env(),
        check=False,
    )
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        raise UsageError(
            f"ssh-keygen could not sign with {key}: {proc.stderr.decode(errors='replace').strip()}",
            help="pass the private key of an SSH key listed in the policy's allowed-signers file",
        )
    line = json.dumps({"statement": statement, "signature": proc.stdout.decode()})
    git.run(root, "notes", f"--ref={NOTES_REF}", "append", "-m", line, head_sha)
    return statement


def collect(change: Change, policy: LoadedPolicy) -> ReviewData | None:
    """Verified approvals found in notes on the change's commits (None: not configured)."""
    settings = policy.policy.approvals.signed
    if settings is None or change.head is None or change.merge_base is None or change.base is None:
        return None
    with tempfile.TemporaryDirectory(prefix="traingate-signers-") as tmp:
        signers = _trusted_file(change, settings.allowed_signers, Path(tmp) / "allowed_signers")
        revoked = (
            _trusted_file(change, settings.revoked_keys, Path(tmp) / "revoked")
            if settings.revoked_keys
            else None
        )
        reviews: list[Review] = []
        notes: list[str] = []
        for commit in git.rev_list(change.root, f"{change.merge_base}..{change.head}"):
            raw = git.notes(change.root, NOTES_REF, commit)
            for entry in _entries(raw or b"", commit, notes):
                review = _verify(entry, signers, revoked, policy.sha256, Path(tmp), notes)
                if review is not None:
                    reviews.append(review)
    return ReviewData(source="ssh:notes", author=None, reviews=tuple(reviews), notes=tuple(notes))


def _trusted_file(change: Change, rel: str, dest: Path) -> Path:
    assert change.base is not None
    entry = git.tree_entry(change.root, change.base, rel)
    if entry is None or entry.kind != "blob":
        raise CheckError(
            f"{rel} (named by approvals.signed in the policy) is missing at the base {change.base[:12]}",
            help="commit the allowed-signers file to the protected branch",
        )
    dest.write_bytes(git.BlobReader(change.root).read(entry.oid))
    return dest


def _entries(raw: bytes, commit: str, notes: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            notes.append(f"signed approvals: unreadable note line on {commit[:12]}")
            continue
        if isinstance(entry, dict) and isinstance(entry.get("statement"), dict):
            out.append(entry)
        else:
            notes.append(f"signed approvals: malformed note entry on {commit[:12]}")
    return out


def _verify(
    entry: dict[str, Any],
    signers: Path,
    revoked: Path | None,
    policy_sha: str,
    tmp: Path,
    notes: list[str],
) -> Review | None:
    st = entry["statement"]
    who = str(st.get("approver", "?"))
    if sorted(st) != sorted(_FIELDS) or st.get("type") != "traingate-approval":
        notes.append(f"signed approval by {who}: statement has unexpected fields; ignored")
        return None
    sig = tmp / "sig"
    sig.write_text(str(entry.get("signature", "")))
    cmd = [
        "ssh-keygen",
        "-Y",
        "verify",
        "-f",
        str(signers),
        "-I",
        who,
        "-n",
        NAMESPACE,
        "-s",
        str(sig),
    ]
    if revoked is not None:
        cmd += ["-r", str(revoked)]
    proc = subprocess.run(
        cmd,
        input=canonical(st),
        capture_output=True,
        env={**git.git_env(), "LC_ALL": "C"},
        check=False,
    )
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        notes.append(
            f"signed approval by {who} on {str(st['head'])[:12]} does not verify "
            f"(revoked key, wrong namespace or not an allowed signer): {why[-1] if why else ''}"
        )
        return None
    if st["policy_sha256"] != policy_sha:
        notes.append(
            f"signed approval by {who} was given under a different policy; it does not count"
        )
        return None
    return Review(user=who, state="approved", commit=str(st["head"]), submitted_at=str(st["time"]))


def ensure_ssh_keygen() -> None:
    if not any(
        os.access(os.path.join(d, "ssh-keygen"), os.X_OK)
        for d in os.environ.get("PATH", "").split(os.pathsep)
    ):
        raise CheckError("ssh-keygen is not installed; signed approvals cannot be verified")

"""Signed offline approvals: SSH signatures stored in git notes.

``traingate approve`` signs ``{merge_base, head, patch_id, policy_sha256,
approver}`` with ``ssh-keygen -Y sign`` in the namespace ``traingate-approval``
and appends it to ``refs/notes/traingate-approvals`` on the head commit. The
gate verifies each signature with ``ssh-keygen -Y verify`` against the
allowed-signers file named in the trusted policy (read from the base revision),
so someone with push rights alone cannot forge an approval: they would need an
approver's private key.

Commit identities are free text, so in this flow they are not taken on trust
(issue #14 class 3): every commit of the change must carry an SSH signature that
git verifies against the same base allowed-signers file. Each verified commit
names its signers (excluded from approving, like authors); each other commit
is a blocker.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from traingate import git
from traingate.approvals import Review, ReviewData
from traingate.change import Change
from traingate.errors import PolicyError, UsageError
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
    """Verified approvals found in notes on the change's commits (None: not configured),
    with the verified signers of those commits and a blocker per commit without one."""
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
        commits = git.rev_list(change.root, f"{change.merge_base}..{change.head}")
        commit_signers, blockers = verify_commits(
            change.root,
            change.merge_base,
            change.head,
            commits,
            signers,
            revoked,
            settings.allowed_signers,
            settings.revoked_keys,
        )
        reviews: list[Review] = []
        notes: list[str] = []
        for commit in commits:
            raw = git.notes(change.root, NOTES_REF, commit)
            for entry in _entries(raw or b"", commit, notes):
                review = _verify(entry, signers, revoked, policy.sha256, Path(tmp), notes)
                if review is not None:
                    reviews.append(review)
    return ReviewData(
        source="ssh:notes",
        author=None,
        reviews=tuple(reviews),
        notes=tuple(notes),
        signers=tuple(commit_signers),
        blockers=tuple(blockers),
        platform="ssh",
    )


def _trusted_file(change: Change, rel: str, dest: Path) -> Path:
    assert change.base is not None
    entry = git.tree_entry(change.root, change.base, rel)
    if entry is None or entry.kind != "blob":
        # A file the policy names is missing: a policy error, exit 2, like a
        # missing CODEOWNERS file (issue #15: one condition, one exit code).
        raise PolicyError(
            f"approvals.signed: {rel} does not exist at {change.base[:12]}",
            location=".traingate.yaml",
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


def _statement_problem(st: dict[str, Any]) -> str | None:
    """Why a statement is malformed (None: it is well formed). Strict types, so
    that what is verified is exactly what is judged (issue #14)."""
    if sorted(st) != sorted(_FIELDS) or st.get("type") != "traingate-approval":
        return "statement has unexpected fields"
    if type(st["version"]) is not int or st["version"] != 1:
        return "statement has an unknown version"
    if not isinstance(st["approver"], str) or not st["approver"].strip():
        return "statement names no approver"
    if not all(isinstance(st[k], str) and _SHA_RE.fullmatch(st[k]) for k in ("head", "merge_base")):
        return "statement's head or merge_base is not a commit id"
    if not (st["patch_id"] is None or isinstance(st["patch_id"], str)):
        return "statement's patch_id is not a string"
    if not isinstance(st["policy_sha256"], str) or not isinstance(st["time"], str):
        return "statement's policy_sha256 or time is not a string"
    return None


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
    problem = _statement_problem(st)
    if problem is not None:
        notes.append(f"signed approval by {who}: {problem}; ignored")
        return None
    sig = tmp / "sig"
    sig.write_text(str(entry.get("signature", "")))
    # -I who: the signature must verify for the very principal the statement
    # names, so a key cannot approve under another person's name (issue #14).
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
    # The signed merge base is the one the approver saw: staleness is judged
    # against it, not against one recomputed from the head (issue #14).
    return Review(
        user=who,
        state="approved",
        commit=st["head"],
        submitted_at=st["time"],
        platform="ssh",
        merge_base=st["merge_base"],
    )


# --- commit signatures (issue #14 class 3) ----------------------------------

_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FINGERPRINT_RE = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_KEY_TYPE_RE = re.compile(r"(?:ssh|ecdsa|sk)-[A-Za-z0-9@.+-]+")
# %G? (git's verdict), %GS (the principal), %GK (the key's fingerprint): one
# NUL-separated record per commit, NUL-terminated by -z. Not %GT: git 2.39
# aborts on it for a GPG signature whose program fails.
_SIG_FORMAT = "%H%x00%G?%x00%GS%x00%GK"
_SIG_FIELDS = 4
_STATUSES = frozenset("GBUXYREN")


class CommitSignature(NamedTuple):
    sha: str
    status: str  # git's %G?: G good and allowed, U unknown key, B bad/revoked, N none...
    principal: str  # %GS: the allowed-signers principal git verified for (G only)
    key: str  # %GK: "SHA256:..." fingerprint of the signing key, when git read one


def parse_signature_log(out: bytes) -> list[CommitSignature]:
    """Parse ``git log -z --format=_SIG_FORMAT``; ValueError on anything unexpected."""
    if not out:
        return []
    if not out.endswith(b"\0"):
        raise ValueError("the output is not NUL-terminated")
    fields = out[:-1].split(b"\0")
    if len(fields) % _SIG_FIELDS:
        raise ValueError(f"{len(fields)} fields do not make records of {_SIG_FIELDS}")
    rows: list[CommitSignature] = []
    seen: set[str] = set()
    for i in range(0, len(fields), _SIG_FIELDS):
        raw_sha, raw_status, raw_principal, raw_key = fields[i : i + _SIG_FIELDS]
        sha = raw_sha.decode("ascii", "replace")
        if not _SHA_RE.fullmatch(sha) or sha in seen:
            raise ValueError(f"unexpected commit id {raw_sha[:80]!r}")
        seen.add(sha)
        status = raw_status.decode("ascii", "replace")
        if len(status) != 1 or status not in _STATUSES:
            raise ValueError(f"unexpected signature status {raw_status[:20]!r} for {sha[:12]}")
        principal = raw_principal.decode("utf-8")  # UnicodeDecodeError is a ValueError
        key = raw_key.decode("ascii")
        if any(c in principal + key for c in "\n\r"):
            raise ValueError(f"a line break in the signer of {sha[:12]}")
        rows.append(CommitSignature(sha, status, principal, key))
    return rows


def principals_by_key(text: str) -> tuple[dict[str, frozenset[str]], list[int]]:
    """Every principal the allowed-signers file lists for each key fingerprint, and
    the numbers of the lines that could not be read.

    git reports only the first principal that verifies (%GS), but a key listed as
    ``alice,bob`` or on two lines signs as either: all of them wrote the commit.
    """
    by_key: dict[str, set[str]] = {}
    unreadable: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            principals, fingerprint = _signers_line(stripped)
        except ValueError:
            unreadable.append(number)
            continue
        by_key.setdefault(fingerprint, set()).update(principals)
    return {k: frozenset(v) for k, v in by_key.items()}, unreadable


def _signers_line(line: str) -> tuple[list[str], str]:
    """(principals, key fingerprint) of ``principals [options] keytype base64 [comment]``."""
    fields = _quoted_fields(line)
    if len(fields) < 3:
        raise ValueError("too few fields")
    at = 1 if _KEY_TYPE_RE.fullmatch(fields[1]) else 2  # fields[1] is options otherwise
    if len(fields) <= at + 1 or not _KEY_TYPE_RE.fullmatch(fields[at]):
        raise ValueError("no key")
    try:
        blob = base64.b64decode(fields[at + 1], validate=True)
    except binascii.Error as exc:
        raise ValueError("bad key") from exc
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    principals = [p for p in fields[0].strip('"').split(",") if p]
    if not principals:
        raise ValueError("no principal")
    return principals, f"SHA256:{digest}"


def _quoted_fields(line: str) -> list[str]:
    """Whitespace-separated fields, where double quotes group (as ssh-keygen reads them)."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch in " \t" and not quoted:
            if current:
                fields.append("".join(current))
                current = []
        else:
            current.append(ch)
    if quoted:
        raise ValueError("unterminated quote")
    if current:
        fields.append("".join(current))
    return fields


def _signature_config(signers: Path, revoked: Path | None) -> list[str]:
    """``-c`` arguments so that git verifies against the base's files only."""
    return [
        "-c",
        "gpg.format=ssh",
        "-c",
        f"gpg.ssh.allowedSignersFile={signers}",
        # Pinned even when the policy names none: the result must not depend
        # on the local configuration (an empty file revokes nothing).
        "-c",
        f"gpg.ssh.revocationFile={revoked if revoked is not None else '/dev/null'}",
        "-c",
        "gpg.ssh.program=ssh-keygen",
        # GPG and X.509 signatures are not checked against the base's signers:
        # their programs are pinned to one that fails, so they never read as
        # good (a configured program could answer "good" for anything).
        "-c",
        "gpg.program=false",
        "-c",
        "gpg.openpgp.program=false",
        "-c",
        "gpg.x509.program=false",
        "-c",
        "log.showSignature=false",
    ]


def verify_commits(
    root: Path,
    merge_base: str,
    head: str,
    commits: list[str],
    signers: Path,
    revoked: Path | None,
    signers_rel: str,
    revoked_rel: str | None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """(signers as (principal, commit), blockers) for the commits merge_base..head.

    Author and committer are free text (issue #14 class 3): in this flow only
    an SSH signature by a key in the base's allowed signers says who wrote a
    commit. One git call verifies every commit, merges included.
    """
    if not commits:
        return [], []
    out = git.run(
        root,
        *_signature_config(signers, revoked),
        "log",
        "-z",
        "--no-color",
        "--no-show-signature",
        f"--format={_SIG_FORMAT}",
        f"{merge_base}..{head}",
        "--",
    )
    try:
        rows = parse_signature_log(out)
    except ValueError as exc:
        return [], [
            f"the commit signatures of {merge_base[:12]}..{head[:12]} could not be read "
            f"from git ({exc}), so who wrote the change is unknown; rerun, and report "
            "a traingate bug if it persists"
        ]
    if sorted(r.sha for r in rows) != sorted(commits):
        return [], [
            f"git reported signatures for {len(rows)} commits of {merge_base[:12]}..{head[:12]} "
            f"but the change has {len(commits)}, so who wrote the change is unknown; "
            "rerun, and report a traingate bug if it persists"
        ]
    by_key, unreadable = principals_by_key(signers.read_text(encoding="utf-8", errors="replace"))
    return judge_signatures(rows, by_key, unreadable, signers_rel, revoked_rel)


def judge_signatures(
    rows: list[CommitSignature],
    by_key: dict[str, frozenset[str]],
    unreadable: list[int],
    signers_rel: str,
    revoked_rel: str | None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """Signers of the verified commits, and one blocker per commit that is not."""
    fix = (
        f"sign every commit of the change with a key listed for you in {signers_rel} "
        "at the base (`git config gpg.format ssh`, `git config user.signingkey "
        "~/.ssh/id_ed25519.pub`, `git config commit.gpgsign true`), then re-sign the "
        "branch: `git rebase --exec 'git commit --amend --no-edit -S' <merge base>`"
    )
    signed_by: list[tuple[str, str]] = []
    blockers: list[str] = []
    if unreadable and rows:
        lines = ", ".join(str(n) for n in unreadable)
        blockers.append(
            f"line(s) {lines} of {signers_rel} at the base cannot be read, so the "
            "principals of a commit's signing key may be incomplete; fix the file "
            "(`principals [options] keytype base64-key` per line)"
        )
    for row in rows:
        commit = f"commit {row.sha[:12]}"
        if row.status != "G" or not row.principal or not _FINGERPRINT_RE.fullmatch(row.key):
            blockers.append(f"{commit} {_what_is_wrong(row, signers_rel, revoked_rel)}; {fix}")
            continue
        principals = {p for p in row.principal.split(",") if p} | by_key.get(row.key, frozenset())
        patterns = sorted(p for p in principals if p.startswith("!") or any(c in p for c in "*?"))
        if patterns:
            blockers.append(
                f"{commit} is signed by key {row.key}, which {signers_rel} lists under "
                f"the pattern(s) {', '.join(patterns)}: who signed it cannot be told; "
                "list each person's key under their own principal"
            )
            continue
        signed_by.extend((p, row.sha) for p in sorted(principals))
    return signed_by, blockers


def _what_is_wrong(row: CommitSignature, signers_rel: str, revoked_rel: str | None) -> str:
    by = f" by key {row.key}" if row.key else ""  # git names no key for a revoked one
    if row.status == "N":
        return (
            "has no SSH signature (it is unsigned, or signed with GPG or X.509, "
            "which this flow does not accept)"
        )
    if row.status == "U":
        return (
            f"is signed{by or ' by an unknown key'}, which is not listed in {signers_rel} "
            "at the base (a key added by the change itself does not count)"
        )
    if row.status == "B":
        revoked = f", a key revoked in {revoked_rel}" if revoked_rel else ""
        return (
            f"has a signature{by} that does not verify against {signers_rel} "
            f"at the base (a bad signature{revoked}, or a key whose line there does "
            "not allow the `git` namespace or the commit's date)"
        )
    if row.status == "G":
        return f"has a signature{by} that git verified for no principal"
    return f"has a signature{by} that git does not accept (status {row.status})"

"""SLSA Source Track attestations for landed revisions, in git notes (issue #20).

``traingate attest --commit SHA`` runs after a change lands on a protected
branch. It finds the passing decision of the signed decision log that covers
the landed revision (matched by object ids, as ``audit history`` does), and
writes two in-toto Statements v1 about the commit (subject digests
``gitCommit`` and ``gitTree``):

- a SLSA Verification Summary (``https://slsa.dev/verification_summary/v1``)
  whose ``verifiedLevels`` claim only what traingate proves per revision, and
- a traingate source-provenance Statement
  (``https://traingate.dev/attestations/source-provenance/v1``): the approvals
  with the trees they cover, who was excluded (authors, committers, pushers),
  the checks that ran, the rule pack digest and the decision record's hash.

Each Statement is wrapped in a DSSE envelope whose signature is an SSH
signature (``ssh-keygen -Y sign -n traingate-attestation``) of the DSSE
pre-authentication encoding; the envelopes are stored one JSON object per
line in the commit's note under ``refs/notes/commits`` (where SLSA's source
tooling reads). ``traingate verify-source COMMIT`` checks them: any envelope
that does not verify, any line that is not a signed envelope, a subject that
is not the commit and its tree, or no passing VSA, rejects the commit.
See docs/launch.md for the exact format.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import __version__, git, sshsig
from traingate.errors import ExitCode, TraingateError, UsageError

NOTES_REF = "refs/notes/commits"
NAMESPACE = "traingate-attestation"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
VSA_TYPE = "https://slsa.dev/verification_summary/v1"
PROVENANCE_TYPE = "https://traingate.dev/attestations/source-provenance/v1"
VERIFIER_ID = "https://github.com/traingate/traingate"


class AttestError(TraingateError):
    """No passing decision covers the revision: nothing is attested (exit 1)."""

    exit_code = ExitCode.BLOCKED


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def envelope(statement: dict[str, Any], key: Path, signer: str) -> dict[str, Any]:
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    sig = sshsig.sign(pae(PAYLOAD_TYPE, payload), key, NAMESPACE)
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        # DSSE's keyid names the allowed-signers principal; sig is the base64 of
        # the armoured SSH signature (docs/launch.md, issue #20).
        "signatures": [{"keyid": signer, "sig": base64.b64encode(sig.encode()).decode()}],
    }


# --------------------------------------------------------------------------- build


def _landed_change(root: Path, commit: str) -> tuple[str, str]:
    """(base, head) of the change that produced ``commit`` on a first-parent history."""
    parents = git.run(root, "rev-list", "--parents", "-n1", commit).decode().split()[1:]
    if not parents:
        raise UsageError(f"{commit[:12]} is a root commit: there is no change to attest")
    return parents[0], parents[1] if len(parents) > 1 else commit


def _decision(
    root: Path, records: list[dict[str, Any]], lines: list[bytes], ch: Any, policy_sha: str
) -> tuple[dict[str, Any], bytes]:
    """The passing decision record covering the landed change, and its log line."""
    from traingate.approvals.content import coverage
    from traingate.launch import _record_problem

    for r, line in zip(records, lines, strict=True):
        if _record_problem(r) is not None:
            continue
        if (r.get("policy") or {}).get("sha256") != policy_sha:
            continue
        head, mb = r.get("head"), r.get("merge_base")
        if not isinstance(head, str) or not isinstance(mb, str):
            continue
        rh, rmb = git.resolve_commit(root, head), git.resolve_commit(root, mb)
        if rh is None or rmb is None or ch.head is None or ch.merge_base is None:
            continue
        if coverage(root, rmb, rh, ch.merge_base, ch.head).covered:
            return r, line
    raise AttestError(
        f"no passing decision in the log covers {ch.head[:12]} under the policy at "
        f"{ch.base[:12]}; nothing attested",
        help="the change landed without the gate (direct push, bypass), or the log is another one",
    )


def build(
    root: Path,
    commit: str,
    audit_log: Path,
    allowed_signers: Path | None,
    resource_uri: str,
    ref: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(VSA statement, provenance statement) for the landed ``commit``."""
    from traingate import change as changes
    from traingate.history import _load_log
    from traingate.policy.load import load_from_git

    # The whole log must verify; then its exact lines (split on \n only, as
    # audit.verify does) give each record and the bytes its hash covers.
    _load_log(audit_log, str(allowed_signers) if allowed_signers else None)
    lines = [ln for ln in audit_log.read_bytes().split(b"\n") if ln.strip()]
    records = [json.loads(ln) for ln in lines]
    parent, head = _landed_change(root, commit)
    ch = changes.revision_range(root, parent, head)
    policy = load_from_git(root, parent)
    record, line = _decision(root, records, lines, ch, policy.sha256)
    tree = git.run(root, "rev-parse", f"{commit}^{{tree}}").decode().strip()
    record_sha = hashlib.sha256(line).hexdigest()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = _changed_paths(root, ch.merge_base or parent, ch.head or head)
    reqs = [q for q in record.get("requirements") or [] if isinstance(q, dict)]
    two_party = _two_party(reqs, changed)
    levels = ["SLSA_SOURCE_LEVEL_1", "ORG_SOURCE_TRAINGATE_GATE_PASSED"]
    levels.append("ORG_SOURCE_TRAINGATE_CHECKS_PASSED")
    if reqs:
        levels.append("ORG_SOURCE_TRAINGATE_SENSITIVE_PATHS_APPROVED")
    if two_party:
        levels.append("ORG_SOURCE_TRAINGATE_TWO_PARTY_REVIEWED")
    if record.get("sig"):
        levels.append("ORG_SOURCE_TRAINGATE_SIGNED_DECISION")
    subject = [
        {
            "uri": f"{resource_uri}@{commit}",
            "digest": {"gitCommit": commit, "gitTree": tree},
            "annotations": {"source_refs": [ref]},
        }
    ]
    log_uri = f"{audit_log.resolve().as_uri()}#seq={record.get('seq')}"
    vsa = {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": VSA_TYPE,
        "predicate": {
            "verifier": {"id": VERIFIER_ID, "version": {"traingate": __version__}},
            "timeVerified": now,
            "resourceUri": resource_uri,
            "policy": {
                "uri": f"{resource_uri}@{parent}#.traingate.yaml",
                "digest": {"sha256": policy.sha256},
            },
            "inputAttestations": [{"uri": log_uri, "digest": {"sha256": record_sha}}],
            "verificationResult": "PASSED",
            "verifiedLevels": levels,
            "slsaVersion": "1.2",
        },
    }
    checks = policy.policy.checks
    provenance = {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PROVENANCE_TYPE,
        "predicate": {
            "repository": resource_uri,
            "ref": ref,
            "commit": commit,
            "tree": tree,
            "landed_change": {
                "base": ch.base,
                "merge_base": ch.merge_base,
                "head": ch.head,
                "changed_paths": len(changed),
            },
            "decision_record": {
                "uri": log_uri,
                "seq": record.get("seq"),
                "sha256": record_sha,
                "signer": record.get("signer"),
                "time": record.get("time"),
                "reviewed_head": record.get("head"),
                "reviewed_tree": record.get("head_tree"),
            },
            "approvals": [
                {
                    "requirement": q.get("name"),
                    "paths": q.get("paths"),
                    "required": q.get("required"),
                    "approved_by": q.get("approved_by"),
                    # The trees an approval covers: what was reviewed, and what
                    # landed (equal, or the reviewed change replays onto it exactly).
                    "covers_trees": [record.get("head_tree"), tree],
                    "excluded": q.get("rejected"),
                }
                for q in reqs
            ],
            "pushers": sorted(
                {
                    str(x.get("user"))
                    for q in reqs
                    for x in q.get("rejected") or []
                    if isinstance(x, dict) and "push" in str(x.get("reason", ""))
                }
            ),
            "checks_run": sorted(
                name
                for name in (
                    "semgrep",
                    "unicode",
                    "suppression",
                    "config",
                    "artifacts",
                    "repository",
                )
                if getattr(checks, name).enabled
            ),
            "findings": len(record.get("findings") or []),
            "policy": record.get("policy"),
            "rules_sha256": record.get("rules_sha256"),
            "tool": record.get("tool"),
        },
    }
    return vsa, provenance


def _changed_paths(root: Path, a: str, b: str) -> list[str]:
    out = git.run(root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", a, b, "--")
    return sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)


def _two_party(reqs: list[dict[str, Any]], changed: list[str]) -> bool:
    """Every changed path lies under a satisfied requirement with at least one
    approver who is not an author, committer or pusher (the judge excludes them)."""
    covered: set[str] = set()
    for q in reqs:
        if q.get("error") is None and len(q.get("approved_by") or []) >= max(
            1, int(q.get("required") or 0)
        ):
            covered.update(str(p) for p in q.get("paths") or [])
    return bool(changed) and all(p in covered for p in changed)


def store(root: Path, commit: str, envelopes: list[dict[str, Any]]) -> None:
    text = "\n".join(json.dumps(e, sort_keys=True, separators=(",", ":")) for e in envelopes)
    git.run(root, "notes", f"--ref={NOTES_REF}", "append", "-m", text, commit)


# --------------------------------------------------------------------------- verify


@dataclass
class Verified:
    commit: str
    ok: bool = False
    signer: str | None = None
    problems: list[str] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)


def verify_commit(root: Path, commit: str, allowed_signers: Path) -> Verified:
    out = Verified(commit)
    tree = git.run(root, "rev-parse", f"{commit}^{{tree}}").decode().strip()
    raw = git.notes(root, NOTES_REF, commit)
    if raw is None:
        out.problems.append(f"no note in {NOTES_REF} on {commit[:12]}: not attested")
        return out
    lines = [ln for ln in raw.decode("utf-8", "replace").splitlines() if ln.strip()]
    vsa_ok = False
    for n, line in enumerate(lines, 1):
        statement, signer, why = _open(line, allowed_signers)
        if statement is None:
            out.problems.append(f"note line {n}: {why}")
            continue
        subject_problem = _subject_problem(statement, commit, tree)
        if subject_problem:
            out.problems.append(f"note line {n}: {subject_problem}")
            continue
        out.statements.append(statement)
        if statement.get("predicateType") == VSA_TYPE:
            pred = statement.get("predicate") or {}
            if (
                pred.get("verificationResult") == "PASSED"
                and (pred.get("verifier") or {}).get("id") == VERIFIER_ID
            ):
                vsa_ok = True
                out.signer = signer
    if not vsa_ok and not out.problems:
        out.problems.append("no passing verification summary from traingate")
    out.ok = vsa_ok and not out.problems
    return out


def _open(line: str, allowed: Path) -> tuple[dict[str, Any] | None, str | None, str]:
    """(statement, signer, "") when ``line`` is a DSSE envelope that verifies."""
    try:
        env = json.loads(line)
    except ValueError:
        return None, None, "not JSON: not a signed attestation"
    if not isinstance(env, dict) or "payload" not in env:
        return None, None, "not a DSSE envelope: an unsigned or foreign note"
    if env.get("payloadType") != PAYLOAD_TYPE:
        return None, None, f"payloadType {env.get('payloadType')!r} is not in-toto"
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        return None, None, "unsigned envelope"
    try:
        payload = base64.b64decode(str(env["payload"]), validate=True)
    except ValueError:
        return None, None, "payload is not base64"
    message = pae(PAYLOAD_TYPE, payload)
    for s in sigs:
        if not isinstance(s, dict):
            continue
        keyid = str(s.get("keyid", ""))
        try:
            sig = base64.b64decode(str(s.get("sig", "")), validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            continue
        if sshsig.verify(message, sig, keyid, allowed, NAMESPACE):
            try:
                statement = json.loads(payload)
            except ValueError:
                return None, None, "signed payload is not JSON"
            if not isinstance(statement, dict):
                return None, None, "signed payload is not a Statement"
            return statement, keyid, ""
    return None, None, "signature does not verify (edited after signing, or an unknown key)"


def _subject_problem(st: dict[str, Any], commit: str, tree: str) -> str | None:
    if st.get("_type") != STATEMENT_TYPE:
        return f"_type is {st.get('_type')!r}"
    subjects = st.get("subject")
    if not isinstance(subjects, list):
        return "no subject"
    for s in subjects:
        digest = (s or {}).get("digest") or {}
        if digest.get("gitCommit") == commit:
            if digest.get("gitTree") != tree:
                return f"subject gitTree {digest.get('gitTree')} is not the commit's tree {tree}"
            return None
    return f"the statement is about another commit, not {commit[:12]}"


# --------------------------------------------------------------------------- commands


def _resource_uri(root: Path, given: str | None) -> str:
    if given:
        return given
    url = git.run(root, "config", "--get", "remote.origin.url", check=False).decode().strip()
    return f"git+{url}" if url else f"git+{root.resolve().as_uri()}"


def run_attest(args: argparse.Namespace) -> int:
    root = git.toplevel(args.repo)
    commit = git.require_commit(root, args.commit, "commit")
    vsa, provenance = build(
        root,
        commit,
        Path(args.audit_log),
        Path(args.allowed_signers) if args.allowed_signers else None,
        _resource_uri(root, args.resource_uri),
        args.ref,
    )
    envelopes = [envelope(s, Path(args.key), args.signer) for s in (vsa, provenance)]
    if args.output:
        Path(args.output).write_text(
            "".join(json.dumps(e, sort_keys=True) + "\n" for e in envelopes), encoding="utf-8"
        )
    if not args.no_store:
        store(root, commit, envelopes)
    levels = ", ".join(vsa["predicate"]["verifiedLevels"])
    print(f"attested {commit[:12]} (tree {vsa['subject'][0]['digest']['gitTree'][:12]}): {levels}")
    if not args.no_store:
        print(f"  stored in {NOTES_REF}; push it: git push origin {NOTES_REF}")
    return int(ExitCode.PASS)


def run_verify_source(args: argparse.Namespace) -> int:
    root = git.toplevel(args.repo)
    commit = git.require_commit(root, args.commit, "commit")
    result = verify_commit(root, commit, Path(args.allowed_signers))
    if args.format == "json":
        doc = {
            "commit": commit,
            "ok": result.ok,
            "signer": result.signer,
            "problems": result.problems,
            "statements": result.statements,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif result.ok:
        vsa = next(s for s in result.statements if s.get("predicateType") == VSA_TYPE)
        levels = ", ".join(vsa["predicate"].get("verifiedLevels") or [])
        print(f"source attestation of {commit[:12]} verified (signed by {result.signer}): {levels}")
    else:
        for p in result.problems:
            print(f"BLOCKED: {commit[:12]}: {p}")
    return int(ExitCode.PASS if result.ok else ExitCode.BLOCKED)

"""A tamper-evident decision log: JSON Lines, hash-chained, optionally SSH-signed.

Every gate decision is appended as one line. Three mechanisms make tampering
visible (see docs/audit.md):

- records are canonical JSON (sorted keys, no spaces, UTF-8), so hashing and
  signing do not depend on how a line happens to be formatted;
- each record carries ``seq`` (1, 2, 3, ...) and ``prev``, the sha256 of the
  previous line's exact bytes: editing, removing or reordering any earlier
  record breaks the chain at the record after it, and a gap or repeat in
  ``seq`` says which records went missing;
- with a key, each record carries ``sig``, an ``ssh-keygen -Y sign`` signature
  of the record without ``sig``, and ``signer``, the principal to check it
  against in an allowed-signers file: someone who can write the log file cannot
  forge or re-chain records without an approver's private key.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from traingate.errors import ExitCode, TraingateError, UsageError

NAMESPACE = "traingate-audit"
GENESIS = "0" * 64
# Fields the log adds; a caller's record may not set them.
RESERVED = frozenset({"seq", "prev", "sig", "signer"})
KINDS = (
    "malformed",
    "broken-chain",
    "sequence",
    "bad-signature",
    "unsigned",
    "unknown-signer",
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TAIL_CHUNK = 64 * 1024
_SSH_TIMEOUT = 60.0


class AuditError(TraingateError):
    """The decision could not be recorded; the gate fails closed."""

    exit_code = ExitCode.INTERNAL


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding of ``verify``; ``line`` is 1-based, ``seq`` the record's own number."""

    line: int
    seq: int | None
    kind: str
    message: str


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    problems: list[Problem]

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def canonical(obj: dict[str, Any]) -> bytes:
    """The one byte form of a record: what is stored, hashed and signed."""
    # allow_nan=False: NaN/Infinity are not JSON and other readers reject them.
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


# --------------------------------------------------------------------------- append


def append(
    path: Path,
    record: dict[str, Any],
    *,
    key: Path | None = None,
    principal: str | None = None,
) -> dict[str, Any]:
    """Append ``record`` to the log at ``path`` and return the record as stored.

    ``key`` (an SSH private key) signs the record; ``principal`` is stored as
    ``signer`` and is the name the key has in the allowed-signers file.
    Raises AuditError when the record cannot be written: the gate must not
    pass a change it could not record.
    """
    _check_caller_record(record, key, principal)
    created = not path.exists()
    fd = _open_for_append(path)
    try:
        # One writer at a time from reading the last line until the new line is
        # on disk; otherwise two writers could both chain onto the same record.
        fcntl.flock(fd, fcntl.LOCK_EX)
        last = _last_line(fd, path)
        stored = _next_record(record, last, path)
        if key is not None and principal is not None:
            stored["signer"] = principal
            stored["sig"] = _sign(canonical(stored), key)
        _write_all(fd, canonical(stored) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock
    if created:
        _fsync_dir(path.parent)
    return stored


def _check_caller_record(record: dict[str, Any], key: Path | None, principal: str | None) -> None:
    if not isinstance(record, dict) or not all(isinstance(k, str) for k in record):
        raise AuditError("an audit record must be a JSON object with string keys")
    clash = sorted(RESERVED & record.keys())
    if clash:
        raise AuditError(
            f"audit record sets reserved field(s) {', '.join(clash)}",
            help="seq, prev, sig and signer are added by the log itself",
        )
    if (key is None) != (principal is None):
        raise AuditError(
            "signing an audit record needs both a key and a principal",
            help="the principal is the key's name in the allowed-signers file used to verify",
        )
    if principal is not None and (not principal or any(c.isspace() for c in principal)):
        raise AuditError(f"invalid signer principal {principal!r}: empty or contains whitespace")
    try:
        canonical(record)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit record is not JSON-serialisable: {exc}") from exc


def _open_for_append(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise AuditError(f"cannot open audit log {path}: {exc.strerror or exc}") from exc


def _last_line(fd: int, path: Path) -> bytes | None:
    """The last line without its newline (None: empty file), read backwards from the end."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditError(
            f"audit log {path} does not end with a newline: the last write was torn "
            "or the file was edited",
            help=f"run `traingate audit verify {path}` and repair the log before appending",
        )
    end = pos = size - 1
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        nl = os.pread(fd, step, pos).rfind(b"\n")
        if nl >= 0:
            pos += nl + 1
            break
    return os.pread(fd, end - pos, pos)


def _next_record(record: dict[str, Any], last: bytes | None, path: Path) -> dict[str, Any]:
    if last is None:
        return {**record, "seq": 1, "prev": GENESIS}
    parsed, why = _parse(last)
    if parsed is None:
        raise AuditError(
            f"the last line of audit log {path} is not an audit record ({why}); refusing to append",
            help=f"run `traingate audit verify {path}` and repair the log before appending",
        )
    return {**record, "seq": parsed["seq"] + 1, "prev": line_hash(last)}


def _sign(message: bytes, key: Path) -> str:
    proc = _ssh_keygen(["-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE], message)
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        raise AuditError(
            f"ssh-keygen could not sign the audit record with {key}: {_stderr(proc)}",
            help="use an unencrypted key, or one loaded in ssh-agent",
        )
    return proc.stdout.decode("ascii")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise AuditError(f"cannot write the audit log: {exc.strerror or exc}") from exc


def _fsync_dir(directory: Path) -> None:
    # A new file's directory entry must reach the disk too, or a crash loses the log.
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- parse


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """(record, "") for a well-formed canonical record of ours, else (None, why)."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    seq = obj.get("seq")
    if type(seq) is not int or seq < 1:
        return None, "no valid seq"
    if not isinstance(obj.get("prev"), str) or not _HEX64.fullmatch(obj["prev"]):
        return None, "no valid prev hash"
    for field in ("sig", "signer"):
        if field in obj and not isinstance(obj[field], str):
            return None, f"{field} is not a string"
    # Non-canonical bytes (reformatting, duplicate keys) mean the line was not
    # written by us; duplicate keys could also read differently elsewhere.
    try:
        if canonical(obj) != line:
            return None, "not in canonical form (hand-edited?)"
    except ValueError:
        return None, "contains NaN or Infinity"
    return obj, ""


# --------------------------------------------------------------------------- verify


def verify(
    path: Path,
    *,
    allowed_signers: Path | None = None,
    require_signatures: bool = False,
) -> VerifyResult:
    """Check the chain, the sequence and (with ``allowed_signers``) every signature.

    Without ``allowed_signers`` signatures are not checked, only the chain.
    """
    if require_signatures and allowed_signers is None:
        raise UsageError("requiring signatures needs an allowed-signers file to check them")
    if allowed_signers is not None and not allowed_signers.is_file():
        raise UsageError(f"allowed-signers file {allowed_signers} does not exist")
    lines, torn = _read_lines(path)
    with tempfile.TemporaryDirectory(prefix="traingate-audit-") as tmp:
        checker = _Checker(allowed_signers, require_signatures, Path(tmp))
        for number, line in enumerate(lines, 1):
            if torn and number == len(lines):
                checker.torn(number)
            else:
                checker.check(number, line)
            checker.prev_hash = line_hash(line)
    # Problems are in line order, so the first one is the earliest tampering.
    problems = checker.problems
    return VerifyResult(ok=not problems, records=len(lines), problems=problems)


def _read_lines(path: Path) -> tuple[list[bytes], bool]:
    """The lines without newlines, and whether the last one had none (a torn write)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"audit log {path} does not exist") from exc
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc.strerror or exc}") from exc
    # Split on b"\n" only: str.splitlines() would also split on U+2028 and
    # friends, which canonical JSON (ensure_ascii=False) leaves unescaped.
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    if not torn:
        lines.pop()
    return lines, torn


class _Checker:
    """Walks the lines in order, remembering what the next line must chain onto."""

    def __init__(self, allowed_signers: Path | None, require_signatures: bool, tmp: Path) -> None:
        self.allowed_signers = allowed_signers
        self.require_signatures = require_signatures
        self.tmp = tmp  # where signatures are written for ssh-keygen -s
        self.prev_hash = GENESIS
        self.next_seq = 1
        self.problems: list[Problem] = []

    def add(self, line: int, seq: int | None, kind: str, detail: str) -> None:
        where = f"record {seq} (line {line})" if seq is not None else f"line {line}"
        self.problems.append(Problem(line, seq, kind, f"{where}: {detail}"))

    def torn(self, number: int) -> None:
        self.add(number, None, "malformed", "incomplete last line (no newline): a torn write")
        self.next_seq += 1

    def check(self, number: int, line: bytes) -> None:
        record, why = _parse(line)
        if record is None:
            self.add(number, None, "malformed", f"malformed: {why}")
            self.next_seq += 1  # most likely it was one record
            return
        seq: int = record["seq"]
        self._sequence(number, seq)
        self._chain(number, seq, record["prev"])
        self._signature(number, seq, record)

    def _sequence(self, number: int, seq: int) -> None:
        expected = self.next_seq
        if seq > expected:
            gone = f"record {expected}" if seq == expected + 1 else f"records {expected}-{seq - 1}"
            self.add(
                number, seq, "sequence", f"sequence gap: expected record {expected}; {gone} removed"
            )
        elif seq < expected:
            self.add(
                number,
                seq,
                "sequence",
                f"out of sequence: expected record {expected}; records reordered or duplicated",
            )
        # The highest number seen so far sets the next one, so a single
        # out-of-place record is reported once, not at every later line.
        self.next_seq = max(expected, seq + 1)

    def _chain(self, number: int, seq: int, prev: str) -> None:
        if prev == self.prev_hash:
            return
        if number == 1:
            detail = "broken chain: the first line does not start the chain; records removed from the start"
        else:
            detail = (
                f"broken chain: prev is not the sha256 of line {number - 1}; "
                f"line {number - 1} was edited, or records before this one were removed or moved"
            )
        self.add(number, seq, "broken-chain", detail)

    def _signature(self, number: int, seq: int, record: dict[str, Any]) -> None:
        if "sig" not in record:
            if self.require_signatures:
                self.add(number, seq, "unsigned", "unsigned: signatures are required")
            return
        if self.allowed_signers is None:
            return
        signer = record.get("signer")
        if not signer:
            self.add(number, seq, "unknown-signer", "unknown signer: signed but names no signer")
            return
        unsigned = {k: v for k, v in record.items() if k != "sig"}
        if _verify_sig(canonical(unsigned), record["sig"], signer, self.allowed_signers, self.tmp):
            return
        if _is_known(signer, self.allowed_signers):
            detail = (
                f"bad signature: does not verify for signer {signer!r}; the record was "
                f"edited after signing, or signed with a key not allowed for {signer!r}"
            )
            self.add(number, seq, "bad-signature", detail)
        else:
            self.add(
                number,
                seq,
                "unknown-signer",
                f"unknown signer {signer!r}: not in the allowed signers",
            )


def _verify_sig(message: bytes, sig: str, signer: str, allowed: Path, tmp: Path) -> bool:
    sigfile = tmp / "sig"
    sigfile.write_text(sig, encoding="utf-8")
    cmd = ["-Y", "verify", "-f", str(allowed), "-I", signer, "-n", NAMESPACE, "-s", str(sigfile)]
    return _ssh_keygen(cmd, message).returncode == 0


def _is_known(signer: str, allowed: Path) -> bool:
    """Whether the allowed-signers file has an entry for ``signer`` (patterns included)."""
    proc = _ssh_keygen(["-Y", "match-principals", "-I", signer, "-f", str(allowed)], b"")
    # Old ssh-keygen lacks match-principals: call it a bad signature, never "unknown".
    return proc.returncode == 0 or b"No principal matched" not in proc.stderr


def _ssh_keygen(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    from traingate.git import git_env  # the scrubbed environment every tool call uses

    try:
        return subprocess.run(
            ["ssh-keygen", *args],
            input=stdin,
            capture_output=True,
            env=git_env(),
            check=False,
            timeout=_SSH_TIMEOUT,
            # No controlling terminal: a passphrase prompt fails instead of hanging CI.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise AuditError("ssh-keygen is not installed; audit signatures need OpenSSH") from exc
    except subprocess.TimeoutExpired as exc:
        raise AuditError(
            f"ssh-keygen {' '.join(args[:3])} timed out after {_SSH_TIMEOUT:.0f}s"
        ) from exc


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


# --------------------------------------------------------------------------- render


def render(result: VerifyResult) -> str:
    """One line when intact; otherwise the first problem first, then the rest."""
    if result.ok:
        noun = "record" if result.records == 1 else "records"
        return f"audit log intact: {result.records} {noun}"
    lines = [p.message for p in result.problems]
    count = len(result.problems)
    lines.append(
        f"audit log NOT intact: {count} problem{'s' if count != 1 else ''} "
        f"in {result.records} line{'s' if result.records != 1 else ''}"
    )
    return "\n".join(lines)

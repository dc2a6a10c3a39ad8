"""The audit log: hash chain, sequence and SSH signatures, with real ssh-keygen keys."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from traingate import audit
from traingate.audit import AuditError, append, canonical, render, verify
from traingate.errors import ExitCode, UsageError

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


@dataclass(frozen=True)
class Keys:
    gate: Path
    other: Path
    allowed: Path


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    gate, other = _keygen(d / "gate"), _keygen(d / "other")
    allowed = d / "allowed_signers"
    allowed.write_text(f"gate {(d / 'gate.pub').read_text().strip()}\n")
    return Keys(gate, other, allowed)


def _decision(i: int) -> dict[str, Any]:
    return {"decision": "pass", "head": f"{i:040x}", "exit_code": 0, "n": i}


def _signed_log(path: Path, keys: Keys, n: int = 5) -> Path:
    for i in range(1, n + 1):
        append(path, _decision(i), key=keys.gate, principal="gate")
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _summary(result: audit.VerifyResult) -> list[tuple[int, int | None, str]]:
    return [(p.line, p.seq, p.kind) for p in result.problems]


# --------------------------------------------------------------------------- intact


def test_intact_signed_log_verifies(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    result = verify(log, allowed_signers=keys.allowed, require_signatures=True)
    assert result.ok and result.records == 5 and result.problems == []
    assert result.first_problem is None
    assert render(result) == "audit log intact: 5 records"


def test_stored_records_are_canonical_and_chained(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys, n=3)
    lines = _lines(log)
    prev = "0" * 64
    for seq, line in enumerate(lines, 1):
        rec = json.loads(line)
        assert canonical(rec) == line
        assert rec["seq"] == seq and rec["prev"] == prev
        assert rec["signer"] == "gate" and rec["sig"].startswith("-----BEGIN SSH SIGNATURE-----")
        assert rec["n"] == seq
        prev = audit.line_hash(line)


def test_append_returns_the_stored_record(tmp_path: Path) -> None:
    log = tmp_path / "new" / "audit.jsonl"
    log.parent.mkdir()
    stored = append(log, {"decision": "blocked", "exit_code": 1})
    assert stored == {"decision": "blocked", "exit_code": 1, "seq": 1, "prev": "0" * 64}
    assert log.read_bytes() == canonical(stored) + b"\n"
    assert verify(log).ok


def test_unicode_line_separators_do_not_split_records(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, {"message": "a\u2028b\u0085c\nd"})
    append(log, {"message": "é"})
    result = verify(log)
    assert result.ok and result.records == 2


def test_unsigned_log_verifies_without_allowed_signers(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(3):
        append(log, _decision(i))
    assert verify(log).ok
    assert render(verify(tmp_path / "audit.jsonl")) == "audit log intact: 3 records"


# --------------------------------------------------------------------------- tampering


def test_edited_record_is_reported_at_that_record(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    lines = _lines(log)
    rec = json.loads(lines[2])
    rec["decision"] = "fail"
    lines[2] = canonical(rec)
    _write(log, lines)
    result = verify(log, allowed_signers=keys.allowed)
    assert not result.ok
    assert _summary(result) == [(3, 3, "bad-signature"), (4, 4, "broken-chain")]
    first = result.first_problem
    assert first is not None and first.message.startswith("record 3 (line 3): bad signature")
    assert "line 3 was edited" in result.problems[1].message
    assert render(result).splitlines()[0] == first.message


def test_edited_record_without_signatures_is_caught_by_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(1, 6):
        append(log, _decision(i))
    lines = _lines(log)
    rec = json.loads(lines[2])
    rec["exit_code"] = 1
    lines[2] = canonical(rec)
    _write(log, lines)
    result = verify(log)
    assert _summary(result) == [(4, 4, "broken-chain")]
    assert "line 3 was edited" in result.problems[0].message


def test_hand_reformatted_record_is_malformed(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    lines = _lines(log)
    lines[2] = json.dumps(json.loads(lines[2])).encode()  # same content, spaces added
    _write(log, lines)
    result = verify(log, allowed_signers=keys.allowed)
    assert _summary(result) == [(3, None, "malformed"), (4, 4, "broken-chain")]
    assert "canonical" in result.problems[0].message


def test_deleted_record_is_reported_at_the_next_one(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    result = verify(log, allowed_signers=keys.allowed, require_signatures=True)
    assert result.records == 4
    assert _summary(result) == [(2, 3, "sequence"), (2, 3, "broken-chain")]
    assert result.problems[0].message == (
        "record 3 (line 2): sequence gap: expected record 2; record 2 removed"
    )


def test_several_deleted_records_are_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(1, 7):
        append(log, _decision(i))
    lines = _lines(log)
    del lines[1:4]
    _write(log, lines)
    result = verify(log)
    assert _summary(result) == [(2, 5, "sequence"), (2, 5, "broken-chain")]
    assert "records 2-4 removed" in result.problems[0].message


def test_deleted_first_record(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(1, 4):
        append(log, _decision(i))
    _write(log, _lines(log)[1:])
    assert _summary(verify(log)) == [(1, 2, "sequence"), (1, 2, "broken-chain")]


def test_swapped_records_are_reported_at_line_2(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    result = verify(log, allowed_signers=keys.allowed)
    assert _summary(result) == [
        (2, 3, "sequence"),
        (2, 3, "broken-chain"),
        (3, 2, "sequence"),
        (3, 2, "broken-chain"),
        (4, 4, "broken-chain"),
    ]
    first = result.first_problem
    assert first is not None and first.line == 2
    assert "reordered" in result.problems[2].message


def test_duplicated_record_is_reported_once(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(1, 4):
        append(log, _decision(i))
    lines = _lines(log)
    _write(log, [*lines, lines[1]])
    assert _summary(verify(log)) == [(4, 2, "sequence"), (4, 2, "broken-chain")]


def test_record_signed_by_another_key_is_a_bad_signature(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    # Chained correctly (append computes seq/prev), claims "gate", wrong key.
    append(log, _decision(6), key=keys.other, principal="gate")
    result = verify(log, allowed_signers=keys.allowed)
    assert _summary(result) == [(6, 6, "bad-signature")]
    assert "'gate'" in result.problems[0].message
    assert verify(log).ok  # without allowed signers only the chain is checked


def test_record_by_a_signer_not_in_the_allowed_list(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    append(log, _decision(6), key=keys.other, principal="mallory")
    result = verify(log, allowed_signers=keys.allowed)
    assert _summary(result) == [(6, 6, "unknown-signer")]
    assert "mallory" in result.problems[0].message


def test_unsigned_record_when_signatures_are_required(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    append(log, _decision(6))
    result = verify(log, allowed_signers=keys.allowed, require_signatures=True)
    assert _summary(result) == [(6, 6, "unsigned")]
    assert verify(log, allowed_signers=keys.allowed).ok


def test_require_signatures_needs_allowed_signers(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, _decision(1))
    with pytest.raises(UsageError):
        verify(log, require_signatures=True)
    with pytest.raises(UsageError):
        verify(log, allowed_signers=tmp_path / "missing")


def test_torn_last_line_is_malformed(tmp_path: Path, keys: Keys) -> None:
    log = _signed_log(tmp_path / "audit.jsonl", keys)
    line = canonical({**_decision(6), "seq": 6, "prev": audit.line_hash(_lines(log)[-1])})
    with log.open("ab") as f:
        f.write(line[: len(line) // 2])
    result = verify(log, allowed_signers=keys.allowed)
    assert result.records == 6
    assert _summary(result) == [(6, None, "malformed")]
    assert result.problems[0].message.startswith("line 6: incomplete last line")
    with pytest.raises(AuditError, match="does not end with a newline"):
        append(log, _decision(7))


def test_garbage_in_the_middle_is_malformed_and_breaks_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(1, 5):
        append(log, _decision(i))
    lines = _lines(log)
    lines[1] = b"not json"
    _write(log, lines)
    assert _summary(verify(log)) == [(2, None, "malformed"), (3, 3, "broken-chain")]


# --------------------------------------------------------------------------- append


@pytest.mark.parametrize(
    "last", [b"garbage", b'{"decision":"pass"}', b"[1,2]", b'{"seq":0,"prev":"x"}', b""]
)
def test_append_refuses_when_the_last_line_is_not_ours(tmp_path: Path, last: bytes) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, _decision(1))
    before = log.read_bytes() + last + b"\n"
    log.write_bytes(before)
    with pytest.raises(AuditError, match="not an audit record") as info:
        append(log, _decision(2))
    assert info.value.exit_code == ExitCode.INTERNAL
    assert int(info.value.exit_code) == 3  # the documented exit status
    assert log.read_bytes() == before


@pytest.mark.parametrize("field", ["seq", "prev", "sig", "signer"])
def test_append_refuses_reserved_fields(tmp_path: Path, field: str) -> None:
    with pytest.raises(AuditError, match="reserved"):
        append(tmp_path / "audit.jsonl", {field: "x"})
    assert not (tmp_path / "audit.jsonl").exists()


def test_append_refuses_unserialisable_records(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="JSON"):
        append(tmp_path / "audit.jsonl", {"x": float("nan")})
    with pytest.raises(AuditError, match="JSON"):
        append(tmp_path / "audit.jsonl", {"x": object()})


def test_append_needs_key_and_principal_together(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(AuditError, match="both a key and a principal"):
        append(tmp_path / "audit.jsonl", {}, key=keys.gate)
    with pytest.raises(AuditError, match="both a key and a principal"):
        append(tmp_path / "audit.jsonl", {}, principal="gate")


def test_append_fails_closed_when_signing_fails(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, _decision(1))
    before = log.read_bytes()
    with pytest.raises(AuditError, match="could not sign"):
        append(log, _decision(2), key=tmp_path / "no-such-key", principal="gate")
    assert log.read_bytes() == before


# --------------------------------------------------------------------------- concurrency

WRITERS = 8
PER_WRITER = 10


def _writer(path: str, writer: int) -> None:
    for i in range(PER_WRITER):
        append(Path(path), {"writer": writer, "i": i})


def test_concurrent_appends_from_processes_keep_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(log), w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    result = verify(log)
    assert result.ok, render(result)
    assert result.records == WRITERS * PER_WRITER
    recs = [json.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in recs] == list(range(1, WRITERS * PER_WRITER + 1))
    assert sorted((r["writer"], r["i"]) for r in recs) == [
        (w, i) for w in range(WRITERS) for i in range(PER_WRITER)
    ]


def test_concurrent_signed_appends_from_threads(tmp_path: Path, keys: Keys) -> None:
    log = tmp_path / "audit.jsonl"
    errors: list[BaseException] = []

    def work(writer: int) -> None:
        try:
            for i in range(3):
                append(log, {"writer": writer, "i": i}, key=keys.gate, principal="gate")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify(log, allowed_signers=keys.allowed, require_signatures=True)
    assert result.ok, render(result)
    assert result.records == WRITERS * 3


# --------------------------------------------------------------------------- render


def test_render_lists_the_first_problem_first(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(1, 4):
        append(log, _decision(i))
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    text = render(verify(log))
    assert text.splitlines() == [
        "record 3 (line 2): sequence gap: expected record 2; record 2 removed",
        "record 3 (line 2): broken chain: prev is not the sha256 of line 1; line 1 was edited, "
        "or records before this one were removed or moved",
        "audit log NOT intact: 2 problems in 2 lines",
    ]


def test_empty_log_is_intact(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"")
    assert render(verify(log)) == "audit log intact: 0 records"

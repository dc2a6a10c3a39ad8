"""Pickle streams to issues: strict and lenient judging, embedded payloads, legacy torch.save."""

from __future__ import annotations

from typing import Final

from traingate.checks.artifacts.common import (
    _TORCH_LEGACY_MAGIC,
    RULE_PICKLE_MALFORMED,
    RULE_TOO_LARGE,
    _Ctx,
    _loc,
)
from traingate.checks.artifacts.pickle_vm import _Payload, _PickleMachine, _StreamResult

# How a stream is judged:
#   "strict":  the loader definitely unpickles it (a .pkl, data.pkl, an object
#              .npy): every finding is reported, and so is a parse failure.
#   "lenient": it may be a pickle or raw bytes (.bin, data after a STOP,
#              embedded payloads): findings are reported only when the bytes
#              plausibly are a pickle (an identifier-like global, or a clean
#              STOP); parse failures are not reported.
_MAX_FINDINGS_PER_STREAM: Final = 50
_STRICT: Final = "strict"
_LENIENT: Final = "lenient"


def _run_stream(ctx: _Ctx, buf: bytes, start: int, end: int) -> _StreamResult:
    return _PickleMachine(ctx, buf, start, end).run()


def _report_stream(
    ctx: _Ctx,
    result: _StreamResult,
    member: str | None,
    mode: str,
    label: str,
    depth: int,
) -> None:
    loc = _loc(member)
    shown = 0
    for finding in sorted(result.findings, key=lambda f: f.offset):
        if mode == _LENIENT and not (finding.plausible or result.stopped):
            continue
        shown += 1
        if shown > _MAX_FINDINGS_PER_STREAM:
            rest = len(result.findings) - _MAX_FINDINGS_PER_STREAM
            ctx.emit(finding.rule, f"{loc}{label}... and up to {rest} more findings", member)
            break
        times = f", {finding.count} times" if finding.count > 1 else ""
        ctx.emit(
            finding.rule,
            f"{loc}{label}{finding.text} [{finding.opname} at offset {finding.offset}{times}]",
            member,
        )
    if result.too_large is not None:
        ctx.emit(
            RULE_TOO_LARGE,
            f"{loc}{label}pickle not vetted: {result.too_large} (scan limit)",
            member,
        )
    if mode == _STRICT:
        if result.error is not None:
            ctx.emit(
                RULE_PICKLE_MALFORMED,
                f"{loc}{label}pickle cannot be parsed: {result.error}",
                member,
            )
        for soft in result.soft_errors:
            ctx.emit(RULE_PICKLE_MALFORMED, f"{loc}{label}pickle framing error: {soft}", member)
    _scan_payloads(ctx, result.payloads, member, depth)


def _scan_payloads(ctx: _Ctx, payloads: list[_Payload], member: str | None, depth: int) -> None:
    for payload in payloads:
        if ctx.nested_left <= 0:
            ctx.emit(
                RULE_TOO_LARGE,
                f"{_loc(member)}more than {ctx.limits.max_nested_payloads} embedded"
                " pickles/zips; the rest were not vetted",
                member,
            )
            return
        if depth + 1 > ctx.limits.max_container_depth:
            ctx.emit(
                RULE_TOO_LARGE,
                f"{_loc(member)}embedded {payload.kind} in a {payload.opname} payload at offset"
                f" {payload.offset} is nested deeper than {ctx.limits.max_container_depth}"
                " levels; not vetted",
                member,
            )
            continue
        ctx.nested_left -= 1
        label = f"nested {payload.kind} in a {payload.opname} payload at offset {payload.offset}: "
        ctx.nested_depth += 1
        try:
            if payload.kind == "pickle":
                result = _run_stream(ctx, payload.data, payload.start, payload.end)
                _report_stream(ctx, result, member, _LENIENT, label, depth + 1)
            else:
                data = payload.data[payload.start : payload.end]
                ctx.embedded_zip(data, member, depth + 1, label=label)
        finally:
            ctx.nested_depth -= 1


def _scan_pickle_file(
    ctx: _Ctx,
    data: bytes,
    member: str | None,
    depth: int,
    mode: str,
    label: str = "",
    start: int = 0,
) -> None:
    """A file (or member) whose bytes are one or more pickle streams."""
    result = _run_stream(ctx, data, start, len(data))
    _report_stream(ctx, result, member, mode, label, depth)
    if not result.stopped or result.end >= len(data):
        return
    # Legacy (pre-zip) torch.save: five pickles (magic, protocol, sys info,
    # the object, storage keys) followed by raw storage bytes.
    first = data[start : result.end]
    if first in _TORCH_LEGACY_MAGIC:
        pos = result.end
        for index in range(4):
            sub = _run_stream(ctx, data, pos, len(data))
            what = ("protocol version", "system info", "object", "storage keys")[index]
            _report_stream(
                ctx, sub, member, mode, f"{label}legacy torch.save {what} pickle: ", depth
            )
            if not sub.stopped:
                return
            pos = sub.end
        return
    # Anything after STOP is not read by pickle.load, but a loader calling
    # load() repeatedly would run it: scan further streams leniently.
    pos = result.end
    for _ in range(64):
        if pos >= len(data) or ctx.ops_left <= 0:
            return
        sub = _run_stream(ctx, data, pos, len(data))
        _report_stream(ctx, sub, member, _LENIENT, f"{label}pickle after offset {pos}: ", depth)
        if not sub.stopped:
            return
        pos = sub.end

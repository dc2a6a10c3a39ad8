"""``.safetensors`` header validation (the format holds no code, but a bad header
can still crash or confuse readers).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from traingate.checks.artifacts.common import RULE_SAFETENSORS_INVALID, _Ctx, _loc

_SAFETENSORS_DTYPE_BITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "BOOL": 8,
        "U8": 8,
        "I8": 8,
        "F8_E5M2": 8,
        "F8_E4M3": 8,
        "F8_E8M0": 8,
        "I16": 16,
        "U16": 16,
        "F16": 16,
        "BF16": 16,
        "I32": 32,
        "U32": 32,
        "F32": 32,
        "I64": 64,
        "U64": 64,
        "F64": 64,
        "C64": 64,
        "F4": 4,
        "F6_E2M3": 6,
        "F6_E3M2": 6,
    }
)
_U64_MAX: Final = (1 << 64) - 1


class _SafetensorsError(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _SafetensorsError(f"duplicate key {key!r} in the header")
        out[key] = value
    return out


def _reject_constant(name: str) -> object:
    raise _SafetensorsError(f"non-standard JSON constant {name}")


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _U64_MAX


def _validate_safetensors(data: bytes, limit: int) -> None:
    if len(data) < 8:
        raise _SafetensorsError("shorter than the 8-byte header length")
    n = struct.unpack_from("<Q", data, 0)[0]
    if n > limit:
        raise _SafetensorsError(f"header length {n} exceeds the {limit}-byte limit")
    if 8 + n > len(data):
        raise _SafetensorsError(f"header length {n} runs past the end of the file")
    raw = data[8 : 8 + n]
    if not raw.startswith(b"{"):
        raise _SafetensorsError("header does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _SafetensorsError("header is not UTF-8") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _SafetensorsError(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _SafetensorsError("header is not a JSON object")
    data_len = len(data) - 8 - n
    spans: list[tuple[int, int, str]] = []
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in info.items()
            ):
                raise _SafetensorsError("__metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict):
            raise _SafetensorsError(f"tensor {key!r}: entry is not an object")
        missing = {"dtype", "shape", "data_offsets"} - set(info)
        if missing:
            raise _SafetensorsError(f"tensor {key!r}: missing {', '.join(sorted(missing))}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPE_BITS:
            raise _SafetensorsError(f"tensor {key!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise _SafetensorsError(f"tensor {key!r}: shape must be a list of non-negative ints")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_uint(o) for o in offsets)
        ):
            raise _SafetensorsError(f"tensor {key!r}: data_offsets must be [begin, end]")
        begin, stop = offsets[0], offsets[1]
        if begin > stop:
            raise _SafetensorsError(f"tensor {key!r}: data_offsets begin > end")
        if stop > data_len:
            raise _SafetensorsError(
                f"tensor {key!r}: data_offsets end {stop} is past the data region ({data_len} bytes)"
            )
        elements = 1
        for d in shape:
            elements *= d
            if elements > _U64_MAX:
                raise _SafetensorsError(f"tensor {key!r}: element count overflows")
        bits = elements * _SAFETENSORS_DTYPE_BITS[dtype]
        if bits % 8:
            raise _SafetensorsError(f"tensor {key!r}: {dtype} data is not a whole number of bytes")
        if stop - begin != bits // 8:
            raise _SafetensorsError(
                f"tensor {key!r}: {stop - begin} bytes for shape {shape} of {dtype}"
                f" (expected {bits // 8})"
            )
        spans.append((begin, stop, key))
    spans.sort()
    cursor = 0
    for begin, stop, key in spans:
        if begin != cursor:
            what = "overlaps the previous tensor" if begin < cursor else "leaves a gap before it"
            raise _SafetensorsError(
                f"tensor {key!r}: data {what} (offset {begin}, expected {cursor})"
            )
        cursor = stop
    if cursor != data_len:
        raise _SafetensorsError(
            f"tensors cover {cursor} bytes but the data region has {data_len}"
            " (trailing bytes are not allowed)"
        )


def _scan_safetensors(ctx: _Ctx, data: bytes, member: str | None) -> None:
    try:
        _validate_safetensors(data, ctx.limits.max_safetensors_header_bytes)
    except _SafetensorsError as exc:
        ctx.emit(RULE_SAFETENSORS_INVALID, f"{_loc(member)}invalid safetensors: {exc}", member)

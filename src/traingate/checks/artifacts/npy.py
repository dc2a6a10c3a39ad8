"""``.npy`` files: header validation; object arrays carry a pickle."""

from __future__ import annotations

import re
import struct
from typing import Final

from traingate import pyast
from traingate.checks.artifacts.common import RULE_NPY_MALFORMED, RULE_TOO_LARGE, _Ctx, _loc
from traingate.checks.artifacts.pickles import _LENIENT, _STRICT, _scan_pickle_file

_NPY_PLAIN_DESCR: Final = re.compile(
    r"[<>|=]?(?:b1|\?|[iuf]\d{1,2}|c\d{1,2}|[SUVa]\d+|[mM]8(?:\[\d*[A-Za-z]+\])?)\Z"
)


def _npy_descr_kind(descr: object, depth: int = 0) -> str:
    """'plain', 'object' or 'unknown' for a numpy header descr."""
    if depth > 32:
        return "unknown"
    if isinstance(descr, str):
        if _NPY_PLAIN_DESCR.match(descr):
            return "plain"
        core = descr.lstrip("<>|=")
        if core.startswith("O") or core.startswith("object"):
            return "object"
        return "unknown"
    if isinstance(descr, list):
        kinds = set()
        for field_ in descr:
            if not isinstance(field_, tuple) or len(field_) not in (2, 3):
                return "unknown"
            kinds.add(_npy_descr_kind(field_[1], depth + 1))
        if "object" in kinds:
            return "object"
        return "unknown" if "unknown" in kinds else "plain"
    return "unknown"


def _scan_npy(ctx: _Ctx, data: bytes, member: str | None, depth: int) -> None:
    loc = _loc(member)

    def bad(reason: str) -> None:
        ctx.emit(RULE_NPY_MALFORMED, f"{loc}malformed .npy: {reason}; not vetted", member)

    if len(data) < 10:
        bad("truncated header")
        return
    major, minor = data[6], data[7]
    if (major, minor) == (1, 0):
        hlen, hstart, encoding = struct.unpack_from("<H", data, 8)[0], 10, "latin-1"
    elif (major, minor) in ((2, 0), (3, 0)) and len(data) >= 12:
        hlen, hstart = struct.unpack_from("<I", data, 8)[0], 12
        encoding = "latin-1" if major == 2 else "utf-8"
    else:
        bad(f"unsupported format version {major}.{minor}")
        return
    if hlen > ctx.limits.max_npy_header_bytes:
        ctx.emit(RULE_TOO_LARGE, f"{loc}.npy header of {hlen} bytes; not vetted", member)
        return
    if hstart + hlen > len(data):
        bad("header runs past the end of the file")
        return
    try:
        header = data[hstart : hstart + hlen].decode(encoding)
        parsed = pyast.literal_eval(header)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError, TypeError):
        bad("header is not a Python literal")
        return
    if not isinstance(parsed, dict) or set(parsed) != {"descr", "fortran_order", "shape"}:
        bad("header must be a dict with exactly descr, fortran_order and shape")
        return
    shape = parsed["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        bad(f"shape {shape!r} is not a tuple of non-negative ints")
        return
    if not isinstance(parsed["fortran_order"], bool):
        bad("fortran_order is not a bool")
        return
    kind = _npy_descr_kind(parsed["descr"])
    offset = hstart + hlen
    if kind == "plain":
        return
    # numpy.load(allow_pickle=True) unpickles everything after the header for
    # object arrays; for descrs this scanner does not recognise, look anyway.
    label = (
        "object-dtype .npy payload: " if kind == "object" else "unrecognised-dtype .npy payload: "
    )
    _scan_pickle_file(
        ctx, data, member, depth, _STRICT if kind == "object" else _LENIENT, label, start=offset
    )

"""Zip archives (torch.save, .npz, nested): a parser that reports where readers disagree."""

from __future__ import annotations

import lzma
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Final

from traingate.checks.artifacts.common import (
    _NPY_MAGIC,
    _ZIP_EMPTY,
    _ZIP_LOCAL,
    _ZIP_MEMBER_ARTIFACT_EXTS,
    RULE_TOO_LARGE,
    RULE_TORCHSCRIPT,
    RULE_ZIP_MALFORMED,
    ScanLimits,
    _Ctx,
    _ext,
    _has_pickle_header,
    _human,
    _is_lfs_pointer,
    _join_member,
    _loc,
    _report_lfs,
    _TooLarge,
)
from traingate.checks.artifacts.compression import _decompress
from traingate.checks.artifacts.pickles import _LENIENT, _STRICT, _scan_pickle_file

_EOCD: Final = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR: Final = struct.Struct("<4sLQL")
_EOCD64: Final = struct.Struct("<4sQ2H2L4Q")
_CENTRAL: Final = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL: Final = struct.Struct("<4s2B4HL2L2H")
_FLAG_ENCRYPTED: Final = 0x1
_FLAG_DESCRIPTOR: Final = 0x8
_FLAG_PATCHED: Final = 0x20
_FLAG_STRONG_ENCRYPTION: Final = 0x40
_FLAG_UTF8: Final = 0x800
_FLAG_MASKED_HEADERS: Final = 0x2000


class _ZipFatal(Exception):
    pass


@dataclass
class _ZipEntry:
    name: str
    local_name: str
    flags: int
    method: int
    csize: int
    usize: int
    header_offset: int
    data_start: int = -1
    data_end: int = -1


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag != 1:
            continue
        idx = 0
        values = []
        for current in (usize, csize, offset):
            if current == 0xFFFFFFFF:
                if idx + 8 > len(body):
                    raise _ZipFatal("corrupt zip64 extra field")
                values.append(struct.unpack_from("<Q", body, idx)[0])
                idx += 8
            else:
                values.append(current)
        return values[0], values[1], values[2]
    return usize, csize, offset


def _decode_name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8", "replace") if flags & _FLAG_UTF8 else raw.decode("cp437")


def _find_eocd(data: bytes) -> int:
    lo = max(0, len(data) - _EOCD.size - 0xFFFF)
    return data.rfind(_ZIP_EMPTY, lo, max(0, len(data) - _EOCD.size + 4))


def _parse_zip(
    data: bytes, limits: ScanLimits, problems: list[str]
) -> tuple[list[_ZipEntry], int, int]:
    """Return (entries, central directory start, concat offset)."""
    eocd = _find_eocd(data)
    if eocd < 0:
        raise _ZipFatal("no end-of-central-directory record (truncated, or not a zip)")
    (_sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_len) = _EOCD.unpack_from(
        data, eocd
    )
    if disk or cd_disk or n_disk != n_total:
        raise _ZipFatal("multi-disk zip archives are not supported")
    trailing = len(data) - (eocd + _EOCD.size + comment_len)
    if trailing:
        problems.append(
            f"{abs(trailing)} bytes {'after' if trailing > 0 else 'missing from'} the end record"
            " (appended data)"
        )
    cd_end = eocd
    loc = eocd - _EOCD64_LOCATOR.size
    if loc >= 0 and data.startswith(b"PK\x06\x07", loc):
        _s, _d, z64_offset, _n = _EOCD64_LOCATOR.unpack_from(data, loc)
        rec = loc - _EOCD64.size
        if rec < 0 or not data.startswith(b"PK\x06\x06", rec):
            raise _ZipFatal("zip64 locator without a zip64 end record")
        fields = _EOCD64.unpack_from(data, rec)
        n_total, cd_size, cd_offset = fields[7], fields[8], fields[9]
        cd_end = rec
        if z64_offset != rec:
            problems.append(
                f"zip64 locator points at offset {z64_offset} but the record is at {rec}"
                " (readers disagree)"
            )
    concat = cd_end - cd_size - cd_offset
    if concat < 0:
        raise _ZipFatal("central directory offset/size point outside the file")
    if concat:
        problems.append(
            f"{concat} bytes before the archive (prepended data or a misplaced central directory)"
        )
    if n_total > limits.max_zip_members:
        raise _TooLarge(f"{n_total} zip members (limit {limits.max_zip_members})")
    cd_start = cd_offset + concat
    pos = cd_start
    entries: list[_ZipEntry] = []
    while pos + _CENTRAL.size <= cd_end and data.startswith(b"PK\x01\x02", pos):
        f = _CENTRAL.unpack_from(data, pos)
        flags, method, csize, usize = f[5], f[6], f[10], f[11]
        name_len, extra_len, comment_len2, offset = f[12], f[13], f[14], f[18]
        name_start = pos + _CENTRAL.size
        raw_name = data[name_start : name_start + name_len]
        extra = data[name_start + name_len : name_start + name_len + extra_len]
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        entries.append(
            _ZipEntry(
                _decode_name(raw_name, flags), "", flags, method, csize, usize, offset + concat
            )
        )
        pos = name_start + name_len + extra_len + comment_len2
        if len(entries) > limits.max_zip_members:
            raise _TooLarge(f"more than {limits.max_zip_members} zip members")
    if len(entries) != n_total:
        problems.append(
            f"central directory lists {len(entries)} members but the end record says {n_total}"
        )
    elif pos != cd_end:
        problems.append("central directory size does not match its entries")
    return entries, cd_start, concat


def _check_local_headers(data: bytes, entries: list[_ZipEntry], problems: list[str]) -> None:
    for entry in entries:
        off = entry.header_offset
        if off < 0 or off + _LOCAL.size > len(data) or not data.startswith(_ZIP_LOCAL, off):
            problems.append(f"member {entry.name!r}: no local header at offset {off}")
            continue
        f = _LOCAL.unpack_from(data, off)
        lflags, lmethod, lcsize, lusize, lname_len, lextra_len = (
            f[3],
            f[4],
            f[8],
            f[9],
            f[10],
            f[11],
        )
        raw_local = data[off + _LOCAL.size : off + _LOCAL.size + lname_len]
        entry.local_name = _decode_name(raw_local, lflags)
        if entry.local_name != entry.name:
            problems.append(
                f"local header name {entry.local_name!r} differs from central directory name"
                f" {entry.name!r} (readers disagree on which member this is)"
            )
        odd = (lflags | entry.flags) & (
            _FLAG_ENCRYPTED | _FLAG_PATCHED | _FLAG_STRONG_ENCRYPTION | _FLAG_MASKED_HEADERS
        )
        if odd:
            problems.append(
                f"member {entry.name!r}: flag bits 0x{odd:04x} (encryption/patch data) set; its"
                " content cannot be vetted"
            )
        if (lflags ^ entry.flags) & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
            problems.append(f"member {entry.name!r}: local and central encryption flags differ")
        if lmethod != entry.method:
            problems.append(
                f"member {entry.name!r}: compression method {lmethod} in the local header,"
                f" {entry.method} in the central directory"
            )
        if (
            not (lflags & _FLAG_DESCRIPTOR)
            and 0xFFFFFFFF not in (lcsize, lusize)
            and (lcsize, lusize) != (entry.csize, entry.usize)
        ):
            problems.append(
                f"member {entry.name!r}: sizes in the local header ({lcsize}/{lusize}) differ"
                f" from the central directory ({entry.csize}/{entry.usize})"
            )
        entry.data_start = off + _LOCAL.size + lname_len + lextra_len
        entry.data_end = entry.data_start + entry.csize
        if entry.data_end > len(data):
            problems.append(f"member {entry.name!r}: data runs past the end of the file")
            entry.data_end = -1


def _check_layout(
    data: bytes, entries: list[_ZipEntry], cd_start: int, problems: list[str]
) -> list[int]:
    """Duplicates, unsafe paths, overlaps; return offsets of unlisted local headers."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for name in {entry.name, entry.local_name} - {""}:
            folded = name.lower()  # torch's miniz looks names up case-insensitively
            if seen.setdefault(folded, index) != index:
                problems.append(f"duplicate member name {name!r} (readers pick different copies)")
        parts = entry.name.replace("\\", "/").split("/")
        if entry.name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            problems.append(f"member {entry.name!r}: unsafe path (absolute or '..')")
    spans = sorted((e.header_offset, e.data_end, e.name) for e in entries if e.data_end >= 0)
    hidden: list[int] = []
    cursor = 0
    for begin, stop, name in spans:
        if begin < cursor:
            problems.append(f"member {name!r} overlaps another member's data")
        else:
            hidden.extend(_local_headers_in(data, cursor, begin))
        cursor = max(cursor, stop)
    if cursor > cd_start:
        problems.append("member data overlaps the central directory")
    else:
        hidden.extend(_local_headers_in(data, cursor, cd_start))
    return hidden


def _local_headers_in(data: bytes, begin: int, stop: int) -> list[int]:
    found: list[int] = []
    pos = data.find(_ZIP_LOCAL, begin, stop)
    while pos >= 0 and len(found) < 100:
        found.append(pos)
        pos = data.find(_ZIP_LOCAL, pos + 4, stop)
    return found


def _member_bytes(ctx: _Ctx, data: bytes, entry: _ZipEntry, head: int | None = None) -> bytes:
    if head is not None:
        raw = data[entry.data_start : min(entry.data_end, entry.data_start + 64 * 1024)]
    elif entry.data_end - entry.data_start > ctx.limits.max_member_bytes:
        raise _TooLarge(
            f"{_human(entry.data_end - entry.data_start)} member (limit"
            f" {_human(ctx.limits.max_member_bytes)})"
        )
    else:
        raw = data[entry.data_start : entry.data_end]
    if entry.method == 0:
        return raw if head is None else raw[:head]
    if head is not None:
        if entry.method == 8:
            try:
                return zlib.decompressobj(-15).decompress(raw, head)
            except zlib.error:
                return b""
        return b""
    if entry.method == 8:
        return _decompress(ctx, "deflate", raw)
    if entry.method == 12:
        return _decompress(ctx, "bz2", raw)
    if entry.method == 14:
        # zipfile's LZMA: version(2) props_size(2) props, then a raw LZMA1 stream.
        if len(raw) < 9:
            raise ValueError("truncated LZMA member")
        psize = struct.unpack_from("<H", raw, 2)[0]
        props = raw[4 : 4 + psize]
        if len(props) < 5:
            raise ValueError("bad LZMA properties")
        d = props[0]
        lc, lp, pb = d % 9, (d // 9) % 5, d // 45
        dict_size = struct.unpack_from("<I", props, 1)[0]
        filt = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}
        dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
        out = dec.decompress(raw[4 + psize :], ctx.decompressed_left + 1)
        if len(out) > ctx.decompressed_left:
            raise _TooLarge(f"decompresses to more than {_human(ctx.decompressed_left)}")
        ctx.decompressed_left -= len(out)
        return out
    raise ValueError(f"compression method {entry.method}")


def _scan_zip(
    ctx: _Ctx,
    data: bytes,
    member: str | None,
    depth: int,
    *,
    label: str = "",
    speculative: bool = False,
    polyglot: bool = False,
) -> None:
    """Scan a zip archive.  ``speculative``: only report if it really is one."""
    loc = _loc(member) + label
    problems: list[str] = []
    try:
        entries, cd_start, _concat = _parse_zip(data, ctx.limits, problems)
        _check_local_headers(data, entries, problems)
        hidden = _check_layout(data, entries, cd_start, problems)
    except _ZipFatal as exc:
        if not speculative:
            ctx.emit(RULE_ZIP_MALFORMED, f"{loc}malformed zip: {exc}; not vetted", member)
        return
    except _TooLarge as exc:
        ctx.emit(RULE_TOO_LARGE, f"{loc}zip not vetted: {exc}", member)
        return
    except struct.error:
        if not speculative:
            ctx.emit(RULE_ZIP_MALFORMED, f"{loc}malformed zip: truncated structure", member)
        return
    valid = [e for e in entries if e.data_end >= 0]
    if speculative and not valid:
        return
    if polyglot:
        ctx.emit(
            RULE_ZIP_MALFORMED,
            f"{loc}file is both a pickle and a zip archive (polyglot): pickle-based and"
            " zip-based loaders see different content",
            member,
        )
    for problem in problems:
        ctx.emit(RULE_ZIP_MALFORMED, f"{loc}malformed zip: {problem}", member)
    for off in hidden:
        _scan_hidden_local(ctx, data, off, member, depth, loc)
    _scan_zip_members(ctx, data, valid, member, depth, loc)


def _scan_hidden_local(
    ctx: _Ctx, data: bytes, off: int, member: str | None, depth: int, loc: str
) -> None:
    if off + _LOCAL.size > len(data):
        return
    f = _LOCAL.unpack_from(data, off)
    lflags, lmethod, lcsize, lusize, lname_len, lextra_len = f[3], f[4], f[8], f[9], f[10], f[11]
    name = _decode_name(data[off + _LOCAL.size : off + _LOCAL.size + lname_len], lflags)
    ctx.emit(
        RULE_ZIP_MALFORMED,
        f"{loc}malformed zip: local file header for {name!r} at offset {off} is not in the"
        " central directory (hidden member; streaming readers see it)",
        member,
    )
    start = off + _LOCAL.size + lname_len + lextra_len
    if lflags & _FLAG_DESCRIPTOR or lcsize in (0, 0xFFFFFFFF) or start + lcsize > len(data):
        return
    entry = _ZipEntry(name, name, lflags, lmethod, lcsize, lusize, off, start, start + lcsize)
    _scan_zip_members(ctx, data, [entry], member, depth, loc, hidden=True)


_TORCH_DATA_DIR: Final = re.compile(r"(?:^|/)(?:\.data|data)/[^/]+\Z")


def _scan_zip_members(
    ctx: _Ctx,
    data: bytes,
    entries: list[_ZipEntry],
    member: str | None,
    depth: int,
    loc: str,
    hidden: bool = False,
) -> None:
    torchscript: list[str] = []
    for entry in entries:
        names = {entry.name, entry.local_name} - {""}
        lowered = {n.lower() for n in names}
        child = _join_member(member, entry.name if not hidden else f"(hidden) {entry.name}")
        if entry.name.endswith("/") and entry.csize == 0:
            continue
        if any("/code/" in f"/{n}" and n.endswith(".py") for n in lowered):
            torchscript.append(entry.name)
            continue
        is_pickle = any(n.endswith((".pkl", ".pickle")) for n in lowered)
        is_artifact = any(_ext(n) in _ZIP_MEMBER_ARTIFACT_EXTS for n in lowered)
        is_raw_tensor = any(_TORCH_DATA_DIR.search(n) for n in lowered)
        if not (is_pickle or is_artifact):
            if is_raw_tensor:
                continue
            head = _member_bytes(ctx, data, entry, head=8)
            if not (
                _has_pickle_header(head)
                or head.startswith(_ZIP_LOCAL)
                or head.startswith(_NPY_MAGIC)
            ):
                continue
        try:
            content = _member_bytes(ctx, data, entry)
        except _TooLarge as exc:
            ctx.emit(RULE_TOO_LARGE, f"{loc}{entry.name}: not vetted: {exc}", child)
            continue
        except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
            ctx.emit(
                RULE_ZIP_MALFORMED,
                f"{loc}{entry.name}: cannot be read ({exc}); not vetted",
                child,
            )
            continue
        if is_pickle:
            if _is_lfs_pointer(content):
                _report_lfs(ctx, content, child)
            else:
                _scan_pickle_file(ctx, content, child, depth + 1, _STRICT)
        elif is_artifact:
            artifact_name = next(n for n in names if _ext(n) in _ZIP_MEMBER_ARTIFACT_EXTS)
            ctx.nested_blob(artifact_name, content, child, depth + 1)
        elif _has_pickle_header(content):
            _scan_pickle_file(ctx, content, child, depth + 1, _LENIENT)
        else:
            ctx.nested_blob(entry.name, content, child, depth + 1)
    if torchscript:
        shown = ", ".join(torchscript[:3]) + (" ..." if len(torchscript) > 3 else "")
        ctx.emit(
            RULE_TORCHSCRIPT,
            f"{loc}TorchScript archive: serialized code ({shown}) is compiled and run by"
            " torch.jit.load and when the model is called; it cannot be vetted as data",
            member,
        )

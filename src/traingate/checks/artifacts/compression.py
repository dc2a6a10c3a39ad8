"""Bounded decompression of gzip, bz2, xz, lzma and zlib (joblib's codecs)."""

from __future__ import annotations

import bz2
import lzma
import zlib

from traingate.checks.artifacts.common import _Ctx, _human, _TooLarge


def _compression_of(data: bytes) -> str | None:
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh"):
        return "bz2"
    if data.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if data.startswith(b"]\x00\x00"):
        return "lzma"
    if data.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if data.startswith(b"ZF0x"):  # joblib < 0.10: "ZF" + hex length + zlib
        return "joblib-zfile"
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return None


def _decompress_one(
    ctx: _Ctx, kind: str, data: bytes, require_eof: bool = True
) -> tuple[bytes, bytes]:
    """Decompress one stream within the budget; return (output, unused input)."""
    limit = ctx.decompressed_left
    if kind in ("zlib", "gzip", "deflate"):
        z = zlib.decompressobj({"zlib": 15, "gzip": 31, "deflate": -15}[kind])
        out = z.decompress(data, limit + 1)
        eof, unused = z.eof, z.unused_data
    elif kind == "bz2":
        b = bz2.BZ2Decompressor()
        out = b.decompress(data, limit + 1)
        eof, unused = b.eof, b.unused_data
    elif kind in ("xz", "lzma"):
        x = lzma.LZMADecompressor(format=lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)
        out = x.decompress(data, limit + 1)
        eof, unused = x.eof, x.unused_data
    else:
        raise ValueError(f"unsupported compression {kind}")
    if len(out) > limit:
        raise _TooLarge(f"decompresses to more than {_human(limit)}")
    if require_eof and not eof:
        raise ValueError("compressed stream is truncated")
    ctx.decompressed_left -= len(out)
    return out, unused


def _decompress(ctx: _Ctx, kind: str, data: bytes) -> bytes:
    if kind == "joblib-zfile":
        kind, data = "zlib", data[2 + 19 :]
    out, unused = _decompress_one(ctx, kind, data)
    chunks = [out]
    # gzip and bz2 files may hold several concatenated members.
    magic = {"gzip": b"\x1f\x8b", "bz2": b"BZh"}.get(kind)
    while magic is not None and unused.startswith(magic):
        out, unused = _decompress_one(ctx, kind, unused)
        chunks.append(out)
    return b"".join(chunks)

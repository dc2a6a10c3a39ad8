"""Tar archives: torch's legacy checkpoint format, and any tar that may carry one.

``torch.load`` still reads the pre-1.6 ``torch.save`` format, an uncompressed
tar whose ``sys_info``, ``pickle``, ``storages`` and ``tensors`` members are
pickle streams, whatever the file is called (``checkpoint.pth.tar`` is the
usual name). The scanner knew no tar, so such a file passed unvetted (issue
#16, fail closed). A tar ``tarfile`` cannot read is no tar to torch either: it
falls back to reading the bytes as a pickle, and so does the scanner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from traingate.checks.artifacts.common import (
    RULE_TOO_LARGE,
    _Ctx,
    _human,
    _join_member,
    _loc,
)

if TYPE_CHECKING:
    import tarfile

# torch/serialization.py legacy_load: every member it unpickles.
_TORCH_MEMBERS = frozenset({"sys_info", "pickle", "storages", "tensors"})
_TAR_MAGIC_AT = 257


def is_tar(head: bytes) -> bool:
    """A POSIX (ustar) or GNU tar header: "ustar" at offset 257."""
    return head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + 5] == b"ustar"


def _members(ctx: _Ctx, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]] | None:
    """The files (and links) of the tar, or None when ``tarfile`` cannot read it."""
    import io
    import tarfile  # with the first tar: the registry and hook stay light (issue #17)

    out: list[tuple[tarfile.TarInfo, bytes]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for n, info in enumerate(tar):
                if n >= ctx.limits.max_zip_members:
                    raise _Overfull(f"more than {ctx.limits.max_zip_members:,} members")
                if not (info.isfile() or info.issym() or info.islnk()):
                    continue
                if info.size > ctx.limits.max_member_bytes:
                    out.append((info, b""))  # reported by the caller, unread
                    continue
                out.append((info, _content(tar, info)))
    except (tarfile.TarError, EOFError, OSError, ValueError):
        return None
    return out


def _content(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    """A member's bytes; a link is followed inside the archive, as torch's
    ``extractfile("pickle")`` follows it. A link leading out of the archive
    reads as empty: nothing here to vet, and a torch member then is malformed."""
    try:
        got = tar.extractfile(info)
    except KeyError:
        return b""
    return got.read() if got is not None else b""


class _Overfull(Exception):
    pass


def _scan_tar(ctx: _Ctx, data: bytes, member: str | None, depth: int) -> bool:
    """Scan a tar's members; False when it is no tar ``tarfile`` (or torch) reads."""
    from traingate.checks.artifacts.pickles import _STRICT, _scan_pickle_file

    loc = _loc(member)
    try:
        members = _members(ctx, data)
    except _Overfull as exc:
        ctx.emit(RULE_TOO_LARGE, f"{loc}tar archive not vetted: {exc}", member)
        return True
    if members is None:
        return False
    for info, content in members:
        child = _join_member(member, info.name)
        if info.size > ctx.limits.max_member_bytes:
            limit = _human(ctx.limits.max_member_bytes)
            ctx.emit(RULE_TOO_LARGE, f"{loc}{info.name}: larger than {limit}; not vetted", child)
        elif info.name in _TORCH_MEMBERS:
            _scan_pickle_file(ctx, content, child, depth + 1, _STRICT)
        elif content:
            ctx.nested_blob(info.name, content, child, depth + 1)
    return True

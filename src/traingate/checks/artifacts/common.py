"""Shared pieces of the artifact scanner: rule ids, issues, formats, limits and the
per-artifact state that the format modules pass to each other.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol

ERROR: Final = "ERROR"
WARNING: Final = "WARNING"

#: A pickle imports a global that is not on :data:`ALLOWED_GLOBALS` (GLOBAL,
#: STACK_GLOBAL, INST, an EXT* extension-registry code, or a STACK_GLOBAL whose
#: operands cannot be resolved statically).
RULE_PICKLE_GLOBAL: Final = "artifact-pickle-global"
#: The pickle stream cannot be parsed: truncated, unknown opcode, stack or
#: mark underflow, memo misuse, bad protocol number, undecodable text.
RULE_PICKLE_MALFORMED: Final = "artifact-pickle-malformed"
#: Structurally valid but abusive use of allowed globals: calling a computed
#: value, BUILD/SETITEM/APPEND on an imported global itself (monkey-patching),
#: or a framing trick on which CPython's two unpicklers disagree.
RULE_PICKLE_SUSPICIOUS: Final = "artifact-pickle-suspicious"
#: Zip structure that readers may disagree on (or that hides content).
RULE_ZIP_MALFORMED: Final = "artifact-zip-malformed"
#: A pickle (or zip) embedded as a bytes/str payload inside a pickle imports a
#: non-allowed global.
RULE_NESTED_PICKLE: Final = "artifact-nested-pickle"
#: ``.safetensors`` header does not validate.
RULE_SAFETENSORS_INVALID: Final = "artifact-safetensors-invalid"
#: ``.npy`` header does not parse.
RULE_NPY_MALFORMED: Final = "artifact-npy-malformed"
#: Git LFS pointer: the real content is not in the change (WARNING).
RULE_LFS_POINTER: Final = "artifact-lfs-pointer"
#: Over a size/complexity limit; not vetted.
RULE_TOO_LARGE: Final = "artifact-too-large"
#: TorchScript archive: serialized code that runs when the model is used.
RULE_TORCHSCRIPT: Final = "artifact-torchscript"
#: Compressed with a codec the standard library cannot decode (e.g. lz4).
RULE_COMPRESSED_UNSUPPORTED: Final = "artifact-compressed-unsupported"
#: The scanner itself failed (a bug); the artifact is not vetted.
RULE_SCAN_ERROR: Final = "artifact-scan-error"
#: A Keras model whose config runs code when loaded (a Lambda layer, a module
#: outside Keras), or whose config cannot be read.
RULE_KERAS_CODE: Final = "artifact-keras-code"


class ArtifactIssue(NamedTuple):
    """One finding about one artifact."""

    rule_id: str
    message: str
    severity: str
    member: str | None


#: Extensions treated as model artifacts regardless of content.
ARTIFACT_EXTENSIONS: Final = (
    ".pt",
    ".pth",
    ".bin",
    ".ckpt",
    ".pkl",
    ".pickle",
    ".joblib",
    ".dill",
    ".npy",
    ".npz",
    ".safetensors",
)
# Parsed as a pickle (protocol 0/1 included) when the content is nothing else.
_STRICT_PICKLE_EXTS: Final = frozenset(
    {".pkl", ".pickle", ".pt", ".ckpt", ".joblib", ".dill", ".npy", ".npz"}
)
# ``.bin`` is also used for raw weights: parsed as a pickle, but only reported
# when the bytes plausibly are one (see _Stream.plausible).
# ``.pth`` too (issue #16): it is a torch checkpoint *or* a site-packages path file
# (text lines, ``import`` lines run at start-up), decided by content. A zip or a
# pickle header is dispatched strictly; text is reported only when it plausibly is
# a protocol-0 pickle (the semgrep check reads a text .pth as Python source).
_LENIENT_PICKLE_EXTS: Final = frozenset({".bin", ".pth"})
_COMPRESSION_EXTS: Final = (".gz", ".bz2", ".xz", ".lzma", ".z", ".zlib", ".lz4")
_ZIP_MEMBER_ARTIFACT_EXTS: Final = frozenset(ARTIFACT_EXTENSIONS) | {".zip"}

_LFS_PREFIXES: Final = (
    b"version https://git-lfs.github.com/spec/",
    b"version https://hawser.github.com/spec/",
)
_NPY_MAGIC: Final = b"\x93NUMPY"
_ZIP_LOCAL: Final = b"PK\x03\x04"
_ZIP_EMPTY: Final = b"PK\x05\x06"
_PROTO0_SNIFF: Final = re.compile(rb"\(?[ci][A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")
_TORCH_LEGACY_MAGIC: Final = frozenset(
    pickle.dumps(0x1950A86A20F9469CFC6C, protocol=p) for p in (2, 3, 4, 5)
)


@dataclass(frozen=True)
class ScanLimits:
    """Size and complexity limits; going over one yields ``artifact-too-large``."""

    #: Largest zip member extracted for scanning (bytes).  Pickle streams in
    #: a file are parsed in place and bounded by ``max_opcodes`` instead.
    max_member_bytes: int = 1 << 30
    #: Opcodes executed (simulated) per artifact, all streams together.
    max_opcodes: int = 10_000_000
    #: Memo entries per stream.
    max_memo_entries: int = 2_000_000
    #: MARK nesting depth per stream.
    max_mark_depth: int = 100_000
    #: Total bytes produced by decompression per artifact.
    max_decompressed_bytes: int = 1 << 30
    #: Containers within containers (zip in zip, pickle in pickle, ...).
    max_container_depth: int = 4
    #: Members per zip archive.
    max_zip_members: int = 100_000
    #: Embedded payloads (pickles/zips inside pickles) scanned per artifact.
    max_nested_payloads: int = 1_000
    #: ``.npy`` header bytes.
    max_npy_header_bytes: int = 1 << 20
    #: ``.safetensors`` header bytes (the safetensors library's own limit).
    max_safetensors_header_bytes: int = 100_000_000


_DEFAULT_LIMITS: Final = ScanLimits()


class _TooLarge(Exception):
    """A limit was hit; the message says which."""


class BlobScanner(Protocol):
    def __call__(
        self, ctx: _Ctx, name: str, data: bytes, member: str | None, depth: int
    ) -> None: ...


class ZipScanner(Protocol):
    def __call__(
        self,
        ctx: _Ctx,
        data: bytes,
        member: str | None,
        depth: int,
        *,
        label: str = "",
        speculative: bool = False,
        polyglot: bool = False,
    ) -> None: ...


@dataclass
class _Ctx:
    limits: ScanLimits
    allowed: Collection[tuple[str, str]]
    issues: list[ArtifactIssue] = field(default_factory=list)
    seen: set[tuple[str, str | None, str]] = field(default_factory=set)
    ops_left: int = 0
    decompressed_left: int = 0
    nested_left: int = 0
    # >0 while scanning a payload embedded in a pickle: pickle findings are
    # then reported as artifact-nested-pickle.
    nested_depth: int = 0
    # Containers nest both ways (a zip member is a pickle or another artifact, a
    # pickle carries a zip): the dispatcher (scanner.py) sets these two entry
    # points so that the format modules import each other in one direction only.
    scan_blob: BlobScanner | None = None
    scan_zip: ZipScanner | None = None

    def nested_blob(self, name: str, data: bytes, member: str | None, depth: int) -> None:
        assert self.scan_blob is not None, "set by scanner.scan_artifact"
        self.scan_blob(self, name, data, member, depth)

    def embedded_zip(self, data: bytes, member: str | None, depth: int, *, label: str = "") -> None:
        """A zip embedded in a pickle payload: reported only if it really is one."""
        assert self.scan_zip is not None, "set by scanner.scan_artifact"
        self.scan_zip(self, data, member, depth, label=label, speculative=True)

    def emit(self, rule: str, message: str, member: str | None, severity: str = ERROR) -> None:
        if self.nested_depth and rule in (RULE_PICKLE_GLOBAL, RULE_PICKLE_SUSPICIOUS):
            rule = RULE_NESTED_PICKLE
        key = (rule, member, message)
        if key in self.seen:
            return
        self.seen.add(key)
        self.issues.append(ArtifactIssue(rule, message, severity, member))


def _loc(member: str | None) -> str:
    return f"{member}: " if member else ""


def _join_member(parent: str | None, child: str) -> str:
    return f"{parent}!{child}" if parent else child


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _is_dotted_identifier(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _strip_compression_ext(name: str) -> tuple[str, str]:
    lower = name.lower()
    for ext in _COMPRESSION_EXTS:
        if lower.endswith(ext):
            return name[: -len(ext)], ext
    return name, ""


def _ext(name: str) -> str:
    base = name.lower().rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:] if dot > 0 else ""


def _is_lfs_pointer(data: bytes) -> bool:
    return len(data) <= 1024 and data.startswith(_LFS_PREFIXES)


def _has_pickle_header(data: bytes, start: int = 0) -> bool:
    return len(data) >= start + 2 and data[start] == 0x80 and 2 <= data[start + 1] <= 5


def _report_lfs(ctx: _Ctx, data: bytes, member: str | None) -> None:
    text = data.decode("utf-8", "replace")
    oid = re.search(r"^oid (\S+)", text, re.M)
    size = re.search(r"^size (\d+)", text, re.M)
    what = ", ".join(x for x in (oid and oid.group(1), size and f"size {size.group(1)}") if x)
    ctx.emit(
        RULE_LFS_POINTER,
        f"{_loc(member)}Git LFS pointer ({what or 'no oid'}): the artifact's content is not in"
        " this change and was not scanned; scan it where LFS objects are fetched",
        member,
        WARNING,
    )

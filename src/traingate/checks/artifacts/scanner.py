"""Model-artifact scanner that never unpickles.

A checkpoint is code: ``pickle`` (and everything built on it: ``torch.load``,
``joblib.load``, ``numpy.load(allow_pickle=True)``) imports whatever globals the
byte stream names and calls them.  This package vets such artifacts *statically*:
it walks the pickle opcode stream with its own reader, simulates the unpickler's
stack, mark stack and memo just far enough to know every global the real loader
would import, and compares them with a small allow list of tensor/array
rebuilders (:data:`ALLOWED_GLOBALS`).  Nothing is ever imported or executed.

Containers handled: raw pickle streams of every protocol (including protocol
0/1 files with no header), PyTorch zip archives (``torch.save``), legacy
``torch.save`` multi-pickle files, ``.npy``/``.npz`` (object arrays carry a
pickle), joblib files (optionally zlib/gzip/bz2/xz/lzma compressed),
``.safetensors`` (header validated), Git LFS pointers, nested zips and pickles
embedded as bytes inside pickles.

Everything fails closed: input the scanner cannot parse, or cannot parse within
its limits, produces an ERROR rather than silence.

This module is the dispatcher (one blob to the format module that reads it, the
way the loaders decide) and the scanner's public API, re-exported here:
:class:`ArtifactIssue`, :func:`is_artifact_candidate`, :func:`scan_artifact`,
:data:`ALLOWED_GLOBALS`, :data:`EXCLUDED_GLOBALS`, :class:`ScanLimits`, and the
``RULE_*`` ids.  Standard library only.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Collection, Iterable

from traingate.checks.artifacts.allowlist import ALLOWED_GLOBALS, EXCLUDED_GLOBALS
from traingate.checks.artifacts.common import (
    _DEFAULT_LIMITS,
    _LENIENT_PICKLE_EXTS,
    _LFS_PREFIXES,
    _NPY_MAGIC,
    _PROTO0_SNIFF,
    _STRICT_PICKLE_EXTS,
    _ZIP_EMPTY,
    _ZIP_LOCAL,
    ARTIFACT_EXTENSIONS,
    RULE_COMPRESSED_UNSUPPORTED,
    RULE_LFS_POINTER,
    RULE_NESTED_PICKLE,
    RULE_NPY_MALFORMED,
    RULE_PICKLE_GLOBAL,
    RULE_PICKLE_MALFORMED,
    RULE_PICKLE_SUSPICIOUS,
    RULE_SAFETENSORS_INVALID,
    RULE_SCAN_ERROR,
    RULE_TOO_LARGE,
    RULE_TORCHSCRIPT,
    RULE_ZIP_MALFORMED,
    ArtifactIssue,
    ScanLimits,
    _Ctx,
    _ext,
    _has_pickle_header,
    _is_lfs_pointer,
    _loc,
    _report_lfs,
    _strip_compression_ext,
    _TooLarge,
)
from traingate.checks.artifacts.tars import is_tar

# The format readers (the pickle machine, zip, npy, safetensors) load with the
# first blob to scan: the unicode check asks every changed file whether it is an
# artifact (is_artifact_candidate), and a hook run on docs or code never needs
# them (issue #17).

__all__ = [
    "ALLOWED_GLOBALS",
    "ARTIFACT_EXTENSIONS",
    "EXCLUDED_GLOBALS",
    "RULE_COMPRESSED_UNSUPPORTED",
    "RULE_LFS_POINTER",
    "RULE_NESTED_PICKLE",
    "RULE_NPY_MALFORMED",
    "RULE_PICKLE_GLOBAL",
    "RULE_PICKLE_MALFORMED",
    "RULE_PICKLE_SUSPICIOUS",
    "RULE_SAFETENSORS_INVALID",
    "RULE_SCAN_ERROR",
    "RULE_TOO_LARGE",
    "RULE_TORCHSCRIPT",
    "RULE_ZIP_MALFORMED",
    "ArtifactIssue",
    "ScanLimits",
    "is_artifact_candidate",
    "scan_artifact",
]


def _scan_blob(ctx: _Ctx, name: str, data: bytes, member: str | None, depth: int) -> None:
    """Scan one file or archive member, choosing the format like the loaders do."""
    from traingate.checks.artifacts.compression import _compression_of, _decompress
    from traingate.checks.artifacts.keras import (
        hdf5_offset,
        scan_keras_h5,
        scan_keras_zip,
    )
    from traingate.checks.artifacts.npy import _scan_npy
    from traingate.checks.artifacts.pickles import _LENIENT, _STRICT, _scan_pickle_file
    from traingate.checks.artifacts.safetensors import _scan_safetensors
    from traingate.checks.artifacts.tars import _scan_tar
    from traingate.checks.artifacts.zips import _scan_zip

    if depth > ctx.limits.max_container_depth:
        ctx.emit(
            RULE_TOO_LARGE,
            f"{_loc(member)}nested deeper than {ctx.limits.max_container_depth} containers;"
            " not vetted",
            member,
        )
        return
    loc = _loc(member)
    base, comp_ext = _strip_compression_ext(name)
    ext = _ext(base)
    if _is_lfs_pointer(data):
        _report_lfs(ctx, data, member)
        return
    if ext == ".safetensors" and not comp_ext:
        _scan_safetensors(ctx, data, member)
        return
    sb = None if comp_ext else hdf5_offset(data)
    if ext == ".keras" and not comp_ext:
        # Keras' loader picks the format by this extension (session 27)
        if scan_keras_zip(ctx, data, member) and sb is not None:
            scan_keras_h5(ctx, data, member)  # a zip+HDF5 polyglot: both views
        return
    if sb is not None:
        # tf_keras' load_model opens any file h5py.is_hdf5 accepts as a legacy
        # model, whatever its name (session 28: `head.bin` passed unread).
        scan_keras_h5(ctx, data, member)
        if sb == 0:
            return
        # HDF5 behind a user block: the block before it is free bytes that
        # torch.load or pickle.load read, so they are sniffed too.
    # A `.h5` that is no HDF5 file is no Keras model: it is read like a `.bin`,
    # leniently, since joblib.load and torch.load ignore names (session 28: a
    # pickle named `weights.h5`, or a zlib-compressed joblib one, passed unread).
    lenient = ext in _LENIENT_PICKLE_EXTS or (ext in (".h5", ".hdf5") and sb is None)
    if data.startswith(_ZIP_LOCAL) or data.startswith(_ZIP_EMPTY):
        _scan_zip(ctx, data, member, depth)
        return
    if data.startswith(_NPY_MAGIC):
        _scan_npy(ctx, data, member, depth)
        return
    tar = is_tar(data) or (ext == ".tar" and not comp_ext)
    if tar and _scan_tar(ctx, data, member, depth):
        return
    if tar:
        # Not a tar tarfile reads: torch.load then unpickles the bytes.
        _scan_pickle_file(ctx, data, member, depth, _STRICT)
        return
    picklish = ext in _STRICT_PICKLE_EXTS or lenient
    kind = _compression_of(data)
    if kind is not None and (comp_ext or (picklish and not _has_pickle_header(data))):
        if kind == "lz4":
            ctx.emit(
                RULE_COMPRESSED_UNSUPPORTED,
                f"{loc}compressed with lz4, which the standard library cannot decompress;"
                " contents not vetted",
                member,
            )
            return
        try:
            inner = _decompress(ctx, kind, data)
        except _TooLarge as exc:
            ctx.emit(RULE_TOO_LARGE, f"{loc}{kind} data not vetted: {exc}", member)
            return
        except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
            # Not compressed after all?  "BZh" and "]" are also pickle opcodes,
            # so fall through and parse it as the pickle pickle.load would see.
            if comp_ext:
                ctx.emit(
                    RULE_PICKLE_MALFORMED,
                    f"{loc}looks {kind}-compressed but does not decompress ({exc}); not vetted",
                    member,
                )
                return
        else:
            _scan_blob(ctx, base, inner, member, depth + 1)
            return
    if _has_pickle_header(data) or ext in _STRICT_PICKLE_EXTS or _PROTO0_SNIFF.match(data, 0, 512):
        _scan_pickle_file(ctx, data, member, depth, _STRICT)
    elif lenient:
        _scan_pickle_file(ctx, data, member, depth, _LENIENT)
    else:
        return
    # A pickle that is also a zip (EOCD at the end): zipfile-based readers
    # see the archive, pickle-based readers the pickle.
    _scan_zip(ctx, data, member, depth, speculative=True, polyglot=True)


def is_artifact_candidate(path: str, head: bytes) -> bool:
    """Should ``path`` (whose first bytes are ``head``) be scanned as a model artifact?

    True for the model/pickle extensions in :data:`ARTIFACT_EXTENSIONS` (also
    under a ``.gz``/``.bz2``/``.xz``/``.lzma``/``.z`` suffix), and for content
    that sniffs as a pickle (protocol 2-5 header, or a protocol-0 GLOBAL at the
    start), a zip whose first member is a pickle/npy or that mentions ``.pkl``,
    a numpy ``.npy`` file, a safetensors header, or a Git LFS pointer.
    """
    base, _comp = _strip_compression_ext(path)
    if _ext(base) in ARTIFACT_EXTENSIONS:
        return True
    if _has_pickle_header(head) or head.startswith(_NPY_MAGIC) or head.startswith(_LFS_PREFIXES):
        return True
    if _PROTO0_SNIFF.match(head, 0, 512):
        return True
    if _ext(base) in (".keras", ".h5", ".hdf5"):
        return True  # a Keras model (keras.py); an HDF5 data file passes there
    if _ext(base) == ".tar" or is_tar(head):
        return True  # torch.load reads its legacy tar checkpoints (tars.py)
    if head.startswith(_ZIP_LOCAL) and _zip_names_a_pickle(head):
        return True
    if len(head) >= 10 and head[8:9] == b"{":
        n: int = struct.unpack_from("<Q", head, 0)[0]
        return 2 <= n <= 100_000_000
    return False


def _zip_names_a_pickle(head: bytes) -> bool:
    from traingate.checks.artifacts.zips import _LOCAL

    if len(head) < _LOCAL.size:
        return False
    name_len = struct.unpack_from("<H", head, 26)[0]
    first = head[_LOCAL.size : _LOCAL.size + name_len].lower()
    return first.endswith((b".pkl", b".npy", b".pickle")) or b".pkl" in head


def scan_artifact(
    path: str,
    data: bytes,
    *,
    extra_allowed: Iterable[tuple[str, str]] = (),
    limits: ScanLimits | None = None,
) -> list[ArtifactIssue]:
    """Vet one artifact's bytes without unpickling anything.

    ``path`` is used for its extension and in nothing else; ``data`` is the
    whole file.  ``extra_allowed`` adds ``(module, name)`` pairs to
    :data:`ALLOWED_GLOBALS` for this call.  Returns the issues found (empty
    when the artifact is clean).  Never raises for any input: an internal
    failure is reported as ``artifact-scan-error``.
    """
    from traingate.checks.artifacts.zips import _scan_zip

    lim = limits or _DEFAULT_LIMITS
    allowed: Collection[tuple[str, str]] = (
        frozenset(ALLOWED_GLOBALS) | frozenset(extra_allowed)
        if extra_allowed
        else ALLOWED_GLOBALS.keys()
    )
    ctx = _Ctx(
        limits=lim,
        allowed=allowed,
        ops_left=lim.max_opcodes,
        decompressed_left=lim.max_decompressed_bytes,
        nested_left=lim.max_nested_payloads,
        scan_blob=_scan_blob,
        scan_zip=_scan_zip,
    )
    try:
        blob = bytes(data)
        _scan_blob(ctx, path, blob, None, 0)
    except _TooLarge as exc:
        ctx.emit(RULE_TOO_LARGE, f"not vetted: {exc} (scan limit)", None)
    except (RecursionError, MemoryError) as exc:
        ctx.emit(RULE_TOO_LARGE, f"not vetted: scanner ran out of {type(exc).__name__}", None)
    except Exception as exc:  # fail closed on scanner bugs
        ctx.emit(
            RULE_SCAN_ERROR,
            f"internal scanner error ({type(exc).__name__}: {exc}); artifact not vetted",
            None,
        )
    return ctx.issues

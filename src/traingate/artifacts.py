"""Model-artifact scanner that never unpickles.

A checkpoint is code: ``pickle`` (and everything built on it: ``torch.load``,
``joblib.load``, ``numpy.load(allow_pickle=True)``) imports whatever globals the
byte stream names and calls them.  This module vets such artifacts *statically*:
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

Public API: :class:`ArtifactIssue`, :func:`is_artifact_candidate`,
:func:`scan_artifact`, :data:`ALLOWED_GLOBALS`, :data:`EXCLUDED_GLOBALS`,
:class:`ScanLimits`, and the ``RULE_*`` ids.  Standard library only.
"""

from __future__ import annotations

import _compat_pickle
import ast
import bz2
import codecs
import json
import lzma
import pickle
import pickletools
import re
import struct
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, NamedTuple

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

# --------------------------------------------------------------------------
# Rule ids and severities (stable: policies and baselines refer to them).
# --------------------------------------------------------------------------

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


class ArtifactIssue(NamedTuple):
    """One finding about one artifact."""

    rule_id: str
    message: str
    severity: str
    member: str | None


# --------------------------------------------------------------------------
# The allow list.
# --------------------------------------------------------------------------

_TORCH_STORAGES: Final = (
    "DoubleStorage",
    "FloatStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
    "ComplexDoubleStorage",
    "ComplexFloatStorage",
    "QUInt8Storage",
    "QInt8Storage",
    "QInt32Storage",
    "QUInt4x2Storage",
    "QUInt2x4Storage",
    "UntypedStorage",
)

_TORCH_DTYPES: Final = (
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "complex32",
    "complex64",
    "complex128",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
)

_TORCH_LAYOUTS_QSCHEMES: Final = (
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "per_tensor_affine",
    "per_tensor_symmetric",
    "per_channel_affine",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
)

# (module, names, why it is safe to import *and call* with attacker-chosen
# arguments).  The bar: importing it runs no code beyond the library's own
# import, and calling it can only build plain data (no callable taken from the
# stream is invoked, no file/network/process access, no further unpickling).
_ALLOW_GROUPS: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    (
        "collections",
        ("OrderedDict",),
        "the state_dict container; constructing it only builds a dict",
    ),
    (
        "torch._utils",
        (
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
            "_rebuild_qtensor",
            "_rebuild_sparse_tensor",
            "_rebuild_meta_tensor_no_storage",
            "_rebuild_device_tensor_from_numpy",
            "_rebuild_device_tensor_from_cpu_tensor",
        ),
        "torch.save's tensor rebuilders: they view a storage that torch.load's own"
        " persistent_load reads from the archive's data/ records and set shape, stride,"
        " dtype and requires_grad; none calls a callable taken from the stream"
        " (backward hooks are stored, not called; any hook is itself a global and is"
        " vetted separately)",
    ),
    (
        "torch",
        _TORCH_STORAGES,
        "storage classes named in persistent ids; torch.load only reads their dtype",
    ),
    (
        "torch.storage",
        ("UntypedStorage",),
        "the untyped storage class as newer torch.save spells it",
    ),
    ("torch", _TORCH_DTYPES, "dtype constants (attribute lookups, not calls)"),
    (
        "torch",
        _TORCH_LAYOUTS_QSCHEMES,
        "layout and quantization-scheme constants used by sparse/quantized rebuilders",
    ),
    (
        "torch",
        ("Size", "device"),
        "tuple subclass and device descriptor: constructors parse plain values",
    ),
    (
        "torch.serialization",
        ("_get_layout",),
        "maps a layout name to a torch.layout constant (a dict lookup)",
    ),
    (
        "builtins",
        ("set", "frozenset", "bytes", "bytearray", "complex", "slice"),
        "plain-data constructors pickle itself emits for these types (protocols < 4/5)",
    ),
    (
        "_codecs",
        ("encode",),
        "how protocol-2 pickles (torch's default) spell bytes; codec lookup is confined"
        " to the encodings package. Its result is never trusted as a module/name: a"
        " STACK_GLOBAL fed by a computed value fails closed",
    ),
    (
        "numpy.core.multiarray",
        ("_reconstruct", "scalar"),
        "ndarray/scalar reconstruction (numpy < 2): allocates an array or wraps a value",
    ),
    (
        "numpy._core.multiarray",
        ("_reconstruct", "scalar"),
        "the same functions under numpy >= 2 module names",
    ),
    (
        "numpy.core.numeric",
        ("_frombuffer",),
        "protocol-5 ndarray reconstruction: np.frombuffer + reshape (numpy < 2)",
    ),
    (
        "numpy._core.numeric",
        ("_frombuffer",),
        "the same function under numpy >= 2 module names",
    ),
    ("numpy", ("ndarray", "dtype"), "array and dtype classes passed to _reconstruct"),
    # Issue #16: common, safe training objects that blocked real checkpoints. Each is
    # a plain class without __reduce__, __setstate__ or __new__ of its own (checked
    # in the library source), so unpickling only runs object.__new__ / dict.__new__
    # and fills __dict__ or dict items with values that are themselves vetted.
    (
        "collections",
        ("Counter",),
        "a dict subclass (token and label counts); Counter.__reduce__ rebuilds it with"
        " Counter(dict), which only adds counts of already-vetted keys",
    ),
    (
        "argparse",
        ("Namespace",),
        "the hparams of scripts and Lightning checkpoints: NEWOBJ is object.__new__ and"
        " BUILD fills __dict__; it has no __setstate__ or __reduce__",
    ),
    (
        "lightning.fabric.utilities.data",
        ("AttributeDict",),
        "Lightning's hyper_parameters container (lightning >= 2): a dict subclass whose"
        " __getattr__ returns items; unpickling fills dict items and __dict__, and an"
        " item named __setstate__ could only be a vetted value",
    ),
    (
        "lightning_fabric.utilities.data",
        ("AttributeDict",),
        "the same class in the standalone lightning_fabric package",
    ),
    (
        "pytorch_lightning.utilities.parsing",
        ("AttributeDict",),
        "the same container as pytorch_lightning < 2 defined it",
    ),
    (
        "transformers.training_args",
        ("TrainingArguments", "OptimizerNames"),
        "HF Trainer's arguments (training_args.bin): a dataclass rebuilt by"
        " object.__new__ + __dict__ update (no __setstate__, __reduce__ or __post_init__"
        " call on unpickling), and its optimizer-name enum",
    ),
    (
        "transformers.training_args_seq2seq",
        ("Seq2SeqTrainingArguments",),
        "the seq2seq subclass of TrainingArguments; same construction",
    ),
    (
        "transformers.trainer_utils",
        (
            "IntervalStrategy",
            "SaveStrategy",
            "HubStrategy",
            "SchedulerType",
            "FSDPOption",
            "EvaluationStrategy",
        ),
        "str enums held by TrainingArguments: unpickling calls Enum(value), a lookup"
        " among the members whose _missing_ raises for anything else",
    ),
    (
        "transformers.debug_utils",
        ("DebugOption",),
        "the debug-option str enum of TrainingArguments",
    ),
    (
        "transformers.trainer_pt_utils",
        ("AcceleratorConfig",),
        "the accelerator_config dataclass of TrainingArguments: object.__new__ + __dict__",
    ),
)

#: ``(module, name) -> why it is safe``.  Anything else is reported as
#: ``artifact-pickle-global``.
ALLOWED_GLOBALS: Final[Mapping[tuple[str, str], str]] = MappingProxyType(
    {(module, name): why for module, names, why in _ALLOW_GROUPS for name in names}
)

#: Globals a reader might expect on the list, and why they are not.
EXCLUDED_GLOBALS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "torch.storage._load_from_bytes": "calls torch.load on embedded bytes (pickle.dumps"
        " of a tensor); that inner load is not weights-only. Save with torch.save instead",
        "torch._utils._rebuild_wrapper_subclass": "instantiates an arbitrary tensor subclass"
        " named by the stream; plain tensors never need it",
        "torch._utils._rebuild_nested_tensor": "nested tensors only; not plain weights",
        "torch._tensor._rebuild_from_type_v2": "calls a function from the stream and then"
        " __setstate__ of a type from the stream (tensor subclasses / tensors with Python"
        " attributes)",
        "torch.nn.parameter.Parameter / torch.Tensor": "classes only reached through"
        " _rebuild_from_type_v2 or NEWOBJ; _rebuild_parameter covers parameters",
        "builtins.range": "harmless but never emitted for weights; kept off to keep the"
        " list minimal",
        "accelerate.state.PartialState / AcceleratorState": "process-group state that"
        " TrainingArguments caches once devices are set up (a Borg singleton holding"
        " backend handles); not reviewed as plain data. A policy that has reviewed its"
        " training_args.bin adds it with checks.artifacts.allow_globals",
        "copyreg._reconstructor / copyreg.__newobj__": "generic object construction; any"
        " class it would build must itself be allowed, and none here needs it",
        "joblib.numpy_pickle.NumpyArrayWrapper": "makes the unpickler read raw bytes from"
        " the file *and* call pickle.load for object arrays; the stream cannot be vetted"
        " statically",
        "getattr, eval, exec, os.*, subprocess.*, runpy.*, functools.partial, operator.*,"
        " pickle.loads, importlib.*, builtins.__import__": "the usual payloads; listed"
        " only for the reader, the list is an allow list",
    }
)

# --------------------------------------------------------------------------
# Formats and limits.
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Shared per-artifact state.
# --------------------------------------------------------------------------


class _TooLarge(Exception):
    """A limit was hit; the message says which."""


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


# --------------------------------------------------------------------------
# The pickle machine: a symbolic unpickler.
# --------------------------------------------------------------------------


class _Malformed(Exception):
    """The stream stops here (the real unpickler raises at the same opcode)."""


class _Str:
    """A str value pushed by a string opcode (the only valid STACK_GLOBAL operand)."""

    __slots__ = ("exact", "value")

    def __init__(self, value: str, exact: bool = True) -> None:
        self.value = value
        # False when the text depends on the loader's ``encoding=`` argument.
        self.exact = exact


class _Global:
    """An imported object (the result of GLOBAL/STACK_GLOBAL/INST's lookup/EXT)."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname


_OTHER: Final = object()  # any value whose content does not matter


@dataclass
class _Finding:
    rule: str
    key: str
    text: str
    opname: str
    offset: int
    plausible: bool
    count: int = 1


@dataclass
class _Payload:
    data: bytes
    start: int
    end: int
    opname: str
    offset: int
    kind: str  # "pickle" or "zip"


@dataclass
class _StreamResult:
    findings: list[_Finding]
    payloads: list[_Payload]
    error: str | None
    soft_errors: list[str]
    stopped: bool
    end: int
    too_large: str | None


_OPNAMES: Final[dict[int, str]] = {ord(op.code): op.name for op in pickletools.opcodes}


class _PickleMachine:
    """Walks one pickle stream ``buf[start:end]`` the way ``pickle._Unpickler`` does.

    Values are abstract: :class:`_Str` for text (so STACK_GLOBAL operands can be
    resolved, through DUP and the memo), :class:`_Global` for imported objects,
    and :data:`_OTHER` for everything else.  Each opcode pops and pushes exactly
    what CPython's ``Lib/pickle.py`` does and raises :class:`_Malformed` exactly
    where it would raise, so the stack stays aligned with the real loader's.
    """

    def __init__(self, ctx: _Ctx, buf: bytes, start: int, end: int) -> None:
        self.ctx = ctx
        self.buf = buf
        self.start = start
        self.pos = start
        self.end = end
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}
        self.proto = 0
        self.frame_end = -1
        self.op_offset = start
        self.opname = ""
        self.findings: dict[tuple[str, str], _Finding] = {}
        self.payloads: list[_Payload] = []
        self.soft_errors: list[str] = []
        self.plausible_seen = False

    # -- reporting ---------------------------------------------------------

    def _find(self, rule: str, key: str, text: str, plausible: bool) -> None:
        found = self.findings.get((rule, key))
        if found is not None:
            found.count += 1
            return
        self.findings[(rule, key)] = _Finding(
            rule, key, text, self.opname, self.op_offset - self.start, plausible
        )

    def _suspicious(self, key: str, text: str) -> None:
        self._find(RULE_PICKLE_SUSPICIOUS, key, text, self.plausible_seen)

    # -- byte reading --------------------------------------------------------

    def _check_frame(self, begin: int, stop: int) -> None:
        # pickle._Unframer refuses a read that starts inside a frame and ends
        # past it; the C unpickler reading from a file silently drops the
        # in-frame part and re-reads from the file, so the two loaders see
        # different opcodes.  Never legitimate (pickle frames end on opcode
        # boundaries): report it as an evasion and carry on linearly.
        if begin < self.frame_end < stop:
            self.soft_errors.append(
                f"{self.opname} at offset {self.op_offset - self.start} straddles the end of a"
                " protocol-4 frame"
            )
            self._find(
                RULE_PICKLE_SUSPICIOUS,
                "frame-straddle",
                "an opcode straddles a pickle frame boundary: CPython's C unpickler reads"
                " different bytes here than pickle.py and every linear scanner (scanner"
                " evasion)",
                True,
            )

    def _take(self, n: int) -> int:
        p = self.pos
        q = p + n
        if q > self.end:
            raise _Malformed(f"truncated {self.opname} argument")
        self._check_frame(p, q)
        self.pos = q
        return p

    def _u(self, n: int, fmt: str) -> int:
        p = self._take(n)
        value: int = struct.unpack_from(fmt, self.buf, p)[0]
        return value

    def _line(self) -> tuple[bytes, bool]:
        """Return (line without newline, complete) with pickle.py's EOF semantics."""
        p = self.pos
        nl = self.buf.find(b"\n", p, self.end)
        if nl < 0:
            # readline() at EOF returns the partial line and pickle.py chops
            # its last byte as if it were the newline.
            self.pos = self.end
            return self.buf[p : self.end][:-1], False
        self._check_frame(p, nl + 1)
        self.pos = nl + 1
        return self.buf[p:nl], True

    def _full_line(self) -> bytes:
        line, complete = self._line()
        if not complete:
            raise _Malformed(f"truncated {self.opname} argument (no newline)")
        return line

    def _bytes(self, n: int) -> tuple[int, int]:
        if n > self.end - self.pos:
            raise _Malformed(f"truncated {self.opname} payload ({n} bytes declared)")
        p = self._take(n)
        return p, p + n

    # -- stack -------------------------------------------------------------

    def _push(self, value: object) -> None:
        self.stack.append(value)

    def _pop(self) -> object:
        if not self.stack:
            raise _Malformed(f"{self.opname} on an empty stack")
        return self.stack.pop()

    def _top(self) -> object:
        if not self.stack:
            raise _Malformed(f"{self.opname} on an empty stack")
        return self.stack[-1]

    def _pop_mark(self) -> list[object]:
        if not self.metastack:
            raise _Malformed(f"{self.opname} without a MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _memo_put(self, index: int) -> None:
        value = self._top()
        if index not in self.memo and len(self.memo) >= self.ctx.limits.max_memo_entries:
            raise _TooLarge(f"more than {self.ctx.limits.max_memo_entries} memo entries")
        self.memo[index] = value

    def _memo_get(self, index: int) -> None:
        try:
            self._push(self.memo[index])
        except KeyError:
            raise _Malformed(f"{self.opname} of memo index {index} that was never stored") from None

    # -- payloads ----------------------------------------------------------

    def _bytes_payload(self, begin: int, stop: int) -> None:
        buf = self.buf
        if stop - begin < 4:
            return
        if buf[begin] == 0x80 and 2 <= buf[begin + 1] <= 5:
            kind = "pickle"
        elif buf.startswith(_ZIP_LOCAL, begin, stop):
            kind = "zip"
        else:
            return
        self.payloads.append(
            _Payload(buf, begin, stop, self.opname, self.op_offset - self.start, kind)
        )

    def _str_payload(self, text: str) -> None:
        if len(text) < 4 or not (
            (text[0] == "\x80" and "\x02" <= text[1] <= "\x05") or text.startswith("PK\x03\x04")
        ):
            return
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            return
        self._bytes_payload_from(raw)

    def _bytes_payload_from(self, raw: bytes) -> None:
        kind = "zip" if raw.startswith(_ZIP_LOCAL) else "pickle"
        self.payloads.append(
            _Payload(raw, 0, len(raw), self.opname, self.op_offset - self.start, kind)
        )

    # -- imports -----------------------------------------------------------

    def _import(self, module: str, name: str, note: str = "") -> _Global:
        written = f"{module}.{name}"
        if self.proto < 3:  # Unpickler(fix_imports=True), the default everywhere
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        identifier_like = _is_dotted_identifier(module) and _is_dotted_identifier(name)
        if (module, name) not in self.ctx.allowed:
            extra = f" (written as {written})" if written != qualname else ""
            self._find(
                RULE_PICKLE_GLOBAL,
                qualname,
                f"pickle imports {qualname} (not on the allow list){extra}{note}",
                identifier_like or self.plausible_seen,
            )
        if identifier_like:
            self.plausible_seen = True
        return _Global(qualname)

    @staticmethod
    def _describe(value: object) -> str:
        if isinstance(value, _Str):
            return repr(value.value) + ("" if value.exact else " (encoding-dependent)")
        if isinstance(value, _Global):
            return f"the object {value.qualname}"
        return "a computed value"

    def _require_global(self, value: object, what: str) -> None:
        if not isinstance(value, _Global):
            self._suspicious(
                f"call:{self.opname}",
                f"{self.opname} {what} a value that is not an imported global (a computed"
                " callable cannot be vetted)",
            )

    def _mutates(self, target: object) -> None:
        if isinstance(target, _Global):
            self._suspicious(
                f"mutate:{self.opname}:{target.qualname}",
                f"{self.opname} modifies the imported object {target.qualname} itself"
                " (monkey-patching a library object)",
            )

    # -- opcode handlers -----------------------------------------------------

    def op_mark(self) -> None:
        if len(self.metastack) >= self.ctx.limits.max_mark_depth:
            raise _TooLarge(f"MARK nesting deeper than {self.ctx.limits.max_mark_depth}")
        self.metastack.append(self.stack)
        self.stack = []

    def op_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def op_pop_mark(self) -> None:
        self._pop_mark()

    def op_dup(self) -> None:
        self._push(self._top())

    def op_proto(self) -> None:
        proto = self.buf[self._take(1)]
        if proto > pickle.HIGHEST_PROTOCOL:
            raise _Malformed(f"unsupported pickle protocol {proto}")
        self.proto = proto

    def op_frame(self) -> None:
        size = self._u(8, "<Q")
        if size > (1 << 63) - 1:
            raise _Malformed("FRAME size larger than sys.maxsize")
        if self.pos < self.frame_end:
            self.soft_errors.append("FRAME begins before the previous frame ends")
        if size > self.end - self.pos:
            # The C unpickler refuses this; pickle.py runs the short frame.
            self.soft_errors.append(f"FRAME declares {size} bytes but only {self.end - self.pos}")
        self.frame_end = self.pos + size

    def op_none(self) -> None:
        self._push(_OTHER)

    def op_int_line(self) -> None:  # INT, LONG, FLOAT: value irrelevant
        self._line()
        self._push(_OTHER)

    def op_fixed(self, n: int) -> None:
        self._take(n)
        self._push(_OTHER)

    def op_long1(self) -> None:
        n = self.buf[self._take(1)]
        self._bytes(n)
        self._push(_OTHER)

    def op_long4(self) -> None:
        n = self._u(4, "<i")
        if n < 0:
            raise _Malformed("LONG4 with a negative byte count")
        self._bytes(n)
        self._push(_OTHER)

    def _push_string_bytes(self, begin: int, stop: int) -> None:
        # STRING/BINSTRING/SHORT_BINSTRING decode with the loader's encoding=
        # (ASCII by default, utf-8 for torch.load, latin-1 for numpy's py2 mode).
        raw = self.buf[begin:stop]
        if raw.isascii():
            self._push(_Str(raw.decode("ascii")))
        else:
            self._push(_Str(raw.decode("latin-1"), exact=False))
        self._bytes_payload(begin, stop)

    def op_string(self) -> None:
        data = self._full_line()
        if len(data) >= 2 and data[0] == data[-1] and data[0] in b"\"'":
            data = data[1:-1]
        else:
            raise _Malformed("the STRING opcode argument must be quoted")
        try:
            decoded: bytes = codecs.escape_decode(data)[0]
        except ValueError as exc:
            raise _Malformed(f"STRING escape error: {exc}") from None
        if decoded.isascii():
            self._push(_Str(decoded.decode("ascii")))
        else:
            self._push(_Str(decoded.decode("latin-1"), exact=False))
        if len(decoded) >= 4 and (
            (decoded[0] == 0x80 and 2 <= decoded[1] <= 5) or decoded.startswith(_ZIP_LOCAL)
        ):
            self._bytes_payload_from(decoded)

    def op_binstring(self) -> None:
        n = self._u(4, "<i")
        if n < 0:
            raise _Malformed("BINSTRING with a negative byte count")
        self._push_string_bytes(*self._bytes(n))

    def op_short_binstring(self) -> None:
        n = self.buf[self._take(1)]
        self._push_string_bytes(*self._bytes(n))

    def _push_unicode(self, begin: int, stop: int) -> None:
        try:
            text = str(self.buf[begin:stop], "utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise _Malformed(f"{self.opname} payload is not valid UTF-8") from None
        self._push(_Str(text))
        self._str_payload(text)

    def op_unicode(self) -> None:
        line = self._full_line()
        try:
            text = str(line, "raw-unicode-escape")
        except UnicodeDecodeError:
            raise _Malformed("UNICODE argument does not decode") from None
        self._push(_Str(text))
        self._str_payload(text)

    def op_binunicode(self) -> None:
        self._push_unicode(*self._bytes(self._u(4, "<I")))

    def op_short_binunicode(self) -> None:
        self._push_unicode(*self._bytes(self.buf[self._take(1)]))

    def op_binunicode8(self) -> None:
        self._push_unicode(*self._bytes(self._u(8, "<Q")))

    def _push_bytes(self, begin: int, stop: int) -> None:
        self._push(_OTHER)
        self._bytes_payload(begin, stop)

    def op_binbytes(self) -> None:
        self._push_bytes(*self._bytes(self._u(4, "<I")))

    def op_short_binbytes(self) -> None:
        self._push_bytes(*self._bytes(self.buf[self._take(1)]))

    def op_binbytes8(self) -> None:
        self._push_bytes(*self._bytes(self._u(8, "<Q")))

    def op_next_buffer(self) -> None:
        self._push(_OTHER)

    def op_readonly_buffer(self) -> None:
        self._top()
        self.stack[-1] = _OTHER

    def op_tuple(self) -> None:
        self._pop_mark()
        self._push(_OTHER)

    def op_tuple_n(self, n: int) -> None:
        if len(self.stack) < n:
            raise _Malformed(f"{self.opname} on a stack with fewer than {n} items")
        del self.stack[len(self.stack) - n :]
        self._push(_OTHER)

    def op_list_from_mark(self) -> None:  # LIST, FROZENSET
        self._pop_mark()
        self._push(_OTHER)

    def op_dict(self) -> None:
        items = self._pop_mark()
        if len(items) % 2:
            raise _Malformed("DICT with an odd number of items")
        self._push(_OTHER)

    def op_persid(self) -> None:
        line = self._full_line()
        if not line.isascii():
            raise _Malformed("PERSID argument is not ASCII")
        self._push(_OTHER)

    def op_binpersid(self) -> None:
        self._pop()
        self._push(_OTHER)

    def op_reduce(self) -> None:
        self._pop()
        func = self._top()
        self._require_global(func, "calls")
        self.stack[-1] = _OTHER

    def op_build(self) -> None:
        self._pop()
        self._mutates(self._top())

    def op_global(self) -> None:
        module_raw, complete = self._line()
        name_raw, complete2 = self._line() if complete else (b"", False)
        try:
            module = module_raw.decode("utf-8")
            name = name_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed("GLOBAL module/name is not UTF-8") from None
        note = "" if complete and complete2 else " (truncated at end of data)"
        self._push(self._import(module, name, note))
        if not (complete and complete2):
            raise _Malformed("truncated GLOBAL argument")

    def op_stack_global(self) -> None:
        name = self._pop()
        module = self._pop()
        if isinstance(module, _Str) and isinstance(name, _Str) and module.exact and name.exact:
            self._push(self._import(module.value, name.value))
            return
        self._find(
            RULE_PICKLE_GLOBAL,
            "unresolved-stack-global",
            "STACK_GLOBAL operands cannot be resolved statically (module "
            f"{self._describe(module)}, name {self._describe(name)}): the import cannot be"
            " vetted",
            self.plausible_seen or isinstance(module, _Str) or isinstance(name, _Str),
        )
        self._push(_Global("<unresolved>"))

    def op_inst(self) -> None:
        module_raw, complete = self._line()
        name_raw, complete2 = self._line() if complete else (b"", False)
        if not (module_raw.isascii() and name_raw.isascii()):
            raise _Malformed("INST module/name is not ASCII")
        note = "" if complete and complete2 else " (truncated at end of data)"
        self._import(module_raw.decode("ascii"), name_raw.decode("ascii"), note)
        if not (complete and complete2):
            raise _Malformed("truncated INST argument")
        self._pop_mark()
        self._push(_OTHER)

    def op_obj(self) -> None:
        args = self._pop_mark()
        if not args:
            raise _Malformed("OBJ without a class")
        self._require_global(args[0], "instantiates")
        self._push(_OTHER)

    def op_newobj(self) -> None:
        self._pop()
        cls = self._pop()
        self._require_global(cls, "instantiates")
        self._push(_OTHER)

    def op_newobj_ex(self) -> None:
        self._pop()
        self._pop()
        cls = self._pop()
        self._require_global(cls, "instantiates")
        self._push(_OTHER)

    def op_ext(self, n: int, fmt: str) -> None:
        code = self._u(n, fmt)
        self._find(
            RULE_PICKLE_GLOBAL,
            f"ext:{code}",
            f"pickle imports extension-registry code {code} via {self.opname} (copyreg"
            " extension codes resolve to arbitrary globals; not on the allow list)",
            self.plausible_seen,
        )
        self._push(_Global(f"<extension {code}>"))

    def _line_index(self) -> int:
        # The C unpickler parses the line with PyLong_FromString on a
        # NUL-terminated copy, so "10\x00junk" means 10 there while pickle.py
        # rejects it: follow C (the superset) so the memo stays aligned.
        line = self._full_line().split(b"\x00", 1)[0]
        try:
            return int(line)
        except ValueError:
            raise _Malformed(f"{self.opname} index is not an integer") from None

    def op_get(self) -> None:
        self._memo_get(self._line_index())

    def op_binget(self) -> None:
        self._memo_get(self.buf[self._take(1)])

    def op_long_binget(self) -> None:
        self._memo_get(self._u(4, "<I"))

    def op_put(self) -> None:
        index = self._line_index()
        if index < 0:
            raise _Malformed("negative PUT index")
        self._memo_put(index)

    def op_binput(self) -> None:
        self._memo_put(self.buf[self._take(1)])

    def op_long_binput(self) -> None:
        self._memo_put(self._u(4, "<I"))

    def op_memoize(self) -> None:
        self._memo_put(len(self.memo))

    def op_append(self) -> None:
        self._pop()
        self._mutates(self._top())

    def op_appends(self) -> None:
        self._pop_mark()
        self._mutates(self._top())

    def op_setitem(self) -> None:
        self._pop()
        self._pop()
        self._mutates(self._top())

    def op_setitems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        self._mutates(target)
        if len(items) % 2:
            raise _Malformed("SETITEMS with an odd number of items")

    def op_additems(self) -> None:
        self._pop_mark()
        self._mutates(self._top())

    # -- driver ------------------------------------------------------------

    def run(self) -> _StreamResult:
        table = _DISPATCH
        buf = self.buf
        ctx = self.ctx
        error: str | None = None
        too_large: str | None = None
        stopped = False
        ops = 0
        budget = ctx.ops_left
        stop_op = pickle.STOP[0]
        try:
            while True:
                pos = self.pos
                if pos >= self.end:
                    raise _Malformed("truncated: the data ends before a STOP opcode")
                op = buf[pos]
                self.op_offset = pos
                self.pos = pos + 1
                ops += 1
                if ops > budget:
                    raise _TooLarge(f"more than {ctx.limits.max_opcodes} pickle opcodes")
                if op == stop_op:
                    self.opname = "STOP"
                    self._pop()
                    stopped = True
                    break
                handler = table[op]
                if handler is None:
                    raise _Malformed(f"unknown opcode 0x{op:02x}")
                self.opname = _OPNAMES[op]
                handler(self)
        except _Malformed as exc:
            error = f"{exc} (offset {self.op_offset - self.start})"
        except _TooLarge as exc:
            too_large = str(exc)
        ctx.ops_left = max(0, budget - ops)
        return _StreamResult(
            findings=list(self.findings.values()),
            payloads=self.payloads,
            error=error,
            soft_errors=self.soft_errors,
            stopped=stopped,
            end=self.pos,
            too_large=too_large,
        )


def _build_dispatch() -> list[Callable[[_PickleMachine], None] | None]:
    m = _PickleMachine
    p = pickle
    table: list[Callable[[_PickleMachine], None] | None] = [None] * 256

    def fixed(n: int) -> Callable[[_PickleMachine], None]:
        return lambda self: self.op_fixed(n)

    def tuple_n(n: int) -> Callable[[_PickleMachine], None]:
        return lambda self: self.op_tuple_n(n)

    def ext(n: int, fmt: str) -> Callable[[_PickleMachine], None]:
        return lambda self: self.op_ext(n, fmt)

    entries: dict[bytes, Callable[[_PickleMachine], None]] = {
        p.MARK: m.op_mark,
        p.POP: m.op_pop,
        p.POP_MARK: m.op_pop_mark,
        p.DUP: m.op_dup,
        p.FLOAT: m.op_int_line,
        p.INT: m.op_int_line,
        p.BININT: fixed(4),
        p.BININT1: fixed(1),
        p.LONG: m.op_int_line,
        p.BININT2: fixed(2),
        p.NONE: m.op_none,
        p.PERSID: m.op_persid,
        p.BINPERSID: m.op_binpersid,
        p.REDUCE: m.op_reduce,
        p.STRING: m.op_string,
        p.BINSTRING: m.op_binstring,
        p.SHORT_BINSTRING: m.op_short_binstring,
        p.UNICODE: m.op_unicode,
        p.BINUNICODE: m.op_binunicode,
        p.APPEND: m.op_append,
        p.BUILD: m.op_build,
        p.GLOBAL: m.op_global,
        p.DICT: m.op_dict,
        p.EMPTY_DICT: m.op_none,
        p.APPENDS: m.op_appends,
        p.GET: m.op_get,
        p.BINGET: m.op_binget,
        p.INST: m.op_inst,
        p.LONG_BINGET: m.op_long_binget,
        p.LIST: m.op_list_from_mark,
        p.EMPTY_LIST: m.op_none,
        p.OBJ: m.op_obj,
        p.PUT: m.op_put,
        p.BINPUT: m.op_binput,
        p.LONG_BINPUT: m.op_long_binput,
        p.SETITEM: m.op_setitem,
        p.TUPLE: m.op_tuple,
        p.EMPTY_TUPLE: m.op_none,
        p.SETITEMS: m.op_setitems,
        p.BINFLOAT: fixed(8),
        p.PROTO: m.op_proto,
        p.NEWOBJ: m.op_newobj,
        p.EXT1: ext(1, "<B"),
        p.EXT2: ext(2, "<H"),
        p.EXT4: ext(4, "<i"),
        p.TUPLE1: tuple_n(1),
        p.TUPLE2: tuple_n(2),
        p.TUPLE3: tuple_n(3),
        p.NEWTRUE: m.op_none,
        p.NEWFALSE: m.op_none,
        p.LONG1: m.op_long1,
        p.LONG4: m.op_long4,
        p.BINBYTES: m.op_binbytes,
        p.SHORT_BINBYTES: m.op_short_binbytes,
        p.SHORT_BINUNICODE: m.op_short_binunicode,
        p.BINUNICODE8: m.op_binunicode8,
        p.BINBYTES8: m.op_binbytes8,
        p.EMPTY_SET: m.op_none,
        p.ADDITEMS: m.op_additems,
        p.FROZENSET: m.op_list_from_mark,
        p.NEWOBJ_EX: m.op_newobj_ex,
        p.STACK_GLOBAL: m.op_stack_global,
        p.MEMOIZE: m.op_memoize,
        p.FRAME: m.op_frame,
        p.BYTEARRAY8: m.op_binbytes8,
        p.NEXT_BUFFER: m.op_next_buffer,
        p.READONLY_BUFFER: m.op_readonly_buffer,
    }
    for code, handler in entries.items():
        table[code[0]] = handler
    return table


_DISPATCH: Final = _build_dispatch()


# --------------------------------------------------------------------------
# Pickle streams -> issues.
# --------------------------------------------------------------------------

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
                _scan_zip(ctx, data, member, depth + 1, label=label, speculative=True)
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


# --------------------------------------------------------------------------
# Decompression (bounded).
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Blob dispatch.
# --------------------------------------------------------------------------


def _is_lfs_pointer(data: bytes) -> bool:
    return len(data) <= 1024 and data.startswith(_LFS_PREFIXES)


def _has_pickle_header(data: bytes, start: int = 0) -> bool:
    return len(data) >= start + 2 and data[start] == 0x80 and 2 <= data[start + 1] <= 5


def _scan_blob(ctx: _Ctx, name: str, data: bytes, member: str | None, depth: int) -> None:
    """Scan one file or archive member, choosing the format like the loaders do."""
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
    if data.startswith(_ZIP_LOCAL) or data.startswith(_ZIP_EMPTY):
        _scan_zip(ctx, data, member, depth)
        return
    if data.startswith(_NPY_MAGIC):
        _scan_npy(ctx, data, member, depth)
        return
    picklish = ext in _STRICT_PICKLE_EXTS or ext in _LENIENT_PICKLE_EXTS
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
    elif ext in _LENIENT_PICKLE_EXTS:
        _scan_pickle_file(ctx, data, member, depth, _LENIENT)
    else:
        return
    # A pickle that is also a zip (EOCD at the end): zipfile-based readers
    # see the archive, pickle-based readers the pickle.
    _scan_zip(ctx, data, member, depth, speculative=True, polyglot=True)


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


# --------------------------------------------------------------------------
# .npy
# --------------------------------------------------------------------------

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
        parsed = ast.literal_eval(header)
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


# --------------------------------------------------------------------------
# .safetensors
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Zip archives (torch.save, .npz, nested).
# --------------------------------------------------------------------------

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
            _scan_blob(ctx, artifact_name, content, child, depth + 1)
        elif _has_pickle_header(content):
            _scan_pickle_file(ctx, content, child, depth + 1, _LENIENT)
        else:
            _scan_blob(ctx, entry.name, content, child, depth + 1)
    if torchscript:
        shown = ", ".join(torchscript[:3]) + (" ..." if len(torchscript) > 3 else "")
        ctx.emit(
            RULE_TORCHSCRIPT,
            f"{loc}TorchScript archive: serialized code ({shown}) is compiled and run by"
            " torch.jit.load and when the model is called; it cannot be vetted as data",
            member,
        )


# --------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------


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
    if head.startswith(_ZIP_LOCAL) and len(head) >= _LOCAL.size:
        name_len = struct.unpack_from("<H", head, 26)[0]
        first = head[_LOCAL.size : _LOCAL.size + name_len].lower()
        if first.endswith((b".pkl", b".npy", b".pickle")) or b".pkl" in head:
            return True
    if len(head) >= 10 and head[8:9] == b"{":
        n: int = struct.unpack_from("<Q", head, 0)[0]
        return 2 <= n <= 100_000_000
    return False


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

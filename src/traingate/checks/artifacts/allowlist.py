"""The pickle allow list: the globals a checkpoint may import, and why each is safe."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

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

"""Keras model files: code in a model's config (session 27 red team).

A ``.keras`` archive (a zip with ``config.json``) and a legacy ``.h5``/``.hdf5``
model (its ``model_config`` attribute is the same JSON) are rebuilt from that
config by ``keras.models.load_model``. Two things there run code: a ``Lambda``
layer, whose function is stored as marshalled Python bytecode
(``__lambda__``, run unless ``safe_mode`` stops it, and Keras 2 has no
safe mode), and a ``module`` outside Keras, which the loader imports and whose
``class_name`` it calls (CVE-2025-1550: ``{"module": "os", "class_name":
"system"}``, even with ``safe_mode=True`` before Keras 3.9). Both are
reported; plain layers of Keras' own modules pass. An HDF5 file without
``model_config`` is data (datasets are stored as ``.h5`` too) and passes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

from traingate.checks.artifacts.common import RULE_KERAS_CODE, _Ctx, _loc

KERAS_EXTS = frozenset({".keras", ".h5", ".hdf5"})
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_MODULES = ("keras", "tensorflow", "tf_keras", "keras_hub", "keras_nlp", "keras_cv")
# Functions inside Keras and TensorFlow that a config may name and that turn
# data into code: Keras' own bytecode loader, TensorFlow's Python-function ops.
_GADGETS = frozenset(["func_load", "py_func", "py_function", "numpy_function", "eager_py_func"])
_CONFIG_START = b'{"class_name"'
_MAX_REASONS = 5


def _reasons(node: object, depth: int = 0) -> Iterator[str]:
    if depth > 200:
        yield "the config nests deeper than 200 levels: not vetted"
        return
    if isinstance(node, dict):
        cls = node.get("class_name")
        module = node.get("module")
        if cls == "Lambda":
            yield "a Lambda layer (its function is Python code stored in the file)"
        elif cls == "__lambda__" or node.get("function_type") == "lambda":
            yield "serialized Python bytecode (__lambda__)"
        if isinstance(module, str) and module.split(".", 1)[0] not in _KERAS_MODULES:
            yield f"module {module!r} (class_name {cls!r}), which the loader imports and calls"
        elif cls in _GADGETS:
            yield f"{module}.{cls}, a function that loads or runs code"
        for v in node.values():
            yield from _reasons(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            yield from _reasons(v, depth + 1)


def _report(ctx: _Ctx, config: object, member: str | None, where: str) -> None:
    found = list(dict.fromkeys(_reasons(config)))
    if found:
        more = f" (+{len(found) - _MAX_REASONS} more)" if len(found) > _MAX_REASONS else ""
        ctx.emit(
            RULE_KERAS_CODE,
            f"{_loc(member)}the Keras model's {where} runs code when loaded: "
            + "; ".join(found[:_MAX_REASONS])
            + more,
            member,
        )


def scan_keras_zip(ctx: _Ctx, data: bytes, member: str | None) -> None:
    """``.keras``: vet ``config.json``; an archive without a readable one is not vetted."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            raw = zf.read("config.json")
        config = json.loads(raw)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, RuntimeError) as exc:
        ctx.emit(
            RULE_KERAS_CODE,
            f"{_loc(member)}a .keras archive whose config.json cannot be read ({exc}): not vetted",
            member,
        )
        return
    _report(ctx, config, member, "config.json")


def is_keras_h5(data: bytes) -> bool:
    return data.startswith(_HDF5_MAGIC) and b"model_config" in data


def scan_keras_h5(ctx: _Ctx, data: bytes, member: str | None) -> None:
    """An HDF5 model: every JSON config the file holds (``model_config``, and
    ``training_config``), read where it starts; none readable is not vetted."""
    decoder = json.JSONDecoder()
    read = 0
    start = data.find(_CONFIG_START)
    while start != -1 and read < 16:
        try:
            config, _ = decoder.raw_decode(data[start:].decode("utf-8", "replace"))
        except ValueError:
            config = None
        if config is not None:
            read += 1
            _report(ctx, config, member, "model_config")
        start = data.find(_CONFIG_START, start + 1)
    if read == 0:
        ctx.emit(
            RULE_KERAS_CODE,
            f"{_loc(member)}an HDF5 Keras model whose model_config cannot be read: not vetted",
            member,
        )

"""Keras model files: code in a model's config (session 27 red team).

A ``.keras`` archive (a zip with ``config.json``) and a legacy ``.h5``/``.hdf5``
model (its ``model_config`` attribute is the same JSON) are rebuilt from that
config by ``keras.models.load_model``. Two things there run code: a ``Lambda``
layer, whose function is stored as marshalled Python bytecode
(``__lambda__``, run unless ``safe_mode`` stops it, and Keras 2 has no
safe mode), and a ``module`` outside Keras, which the loader imports and whose
``class_name`` it calls (CVE-2025-1550: ``{"module": "os", "class_name":
"system"}``, even with ``safe_mode=True`` before Keras 3.9). Both are
reported; plain layers of Keras' own modules pass.

For HDF5 (session 28) the config vetted is the root group's attribute h5py
hands to the loader, read by ``hdf5.py``, not text that looks like one: a
search for ``{"class_name"`` missed ``{ "class_name"``, another key order or
an escaped key, and passed the file on a decoy. An HDF5 file whose root
attributes are read and hold no ``model_config`` is data or weights and
passes; one whose attributes cannot be read is not vetted (fail closed).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

from traingate.checks.artifacts.common import RULE_KERAS_CODE, _Ctx, _loc
from traingate.checks.artifacts.hdf5 import HDF5Error, Root, StringValue, superblock_offset

_KERAS_MODULES = ("keras", "tensorflow", "tf_keras", "keras_hub", "keras_nlp", "keras_cv")
# Functions inside Keras and TensorFlow that a config may name and that turn
# data into code: Keras' own bytecode loader, TensorFlow's Python-function ops.
_GADGETS = frozenset(["func_load", "py_func", "py_function", "numpy_function", "eager_py_func"])
_CONFIG_START = b'{"class_name"'
# The root attributes keras.saving's legacy HDF5 loader decodes as JSON.
_CONFIG_ATTRS = frozenset({b"model_config", b"training_config"})
_MAX_REASONS = 5
# The decoy signal (session 28) decodes a bounded number of bounded windows:
# a weights file can be gigabytes, and the signal never decides a pass.
_DECOY_TRIES = 16
_DECOY_WINDOW = 1 << 20


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


def scan_keras_zip(ctx: _Ctx, data: bytes, member: str | None) -> bool:
    """``.keras``: vet ``config.json``; an archive without a readable one is not vetted
    (returns False).

    Every other member named like it (a duplicate, ``Config.json``,
    ``./config.json``, ``sub/config.json``) is vetted too (session 28): the
    loader's ``zipfile`` takes the last duplicate, another reader the first."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            read = zf.getinfo("config.json")
            config = json.loads(zf.read(read))
            twins = [(i.filename, _twin(zf, i)) for i in zf.infolist() if _is_twin(i, read)]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, RuntimeError) as exc:
        ctx.emit(
            RULE_KERAS_CODE,
            f"{_loc(member)}a .keras archive whose config.json cannot be read ({exc}): not vetted",
            member,
        )
        return False
    _report(ctx, config, member, "config.json")
    for name, twin in twins:
        _report(ctx, twin, member, f"{name!r} (a second config.json)")
    return True


def _is_twin(info: zipfile.ZipInfo, read: zipfile.ZipInfo) -> bool:
    base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
    return info is not read and base.lower() == "config.json"


def _twin(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> object:
    """A look-alike's JSON; one that does not decode is no config any loader reads."""
    try:
        twin: object = json.loads(zf.read(info))
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        return None
    return twin


def hdf5_offset(data: bytes) -> int | None:
    """Where h5py finds the file's superblock (0, 512, 1024, ...), or None: not HDF5."""
    return superblock_offset(data)


def scan_keras_h5(ctx: _Ctx, data: bytes, member: str | None) -> None:
    """An HDF5 file (a ``.h5``/``.hdf5`` name, or HDF5 bytes under another artifact
    name, which tf_keras also loads): vet the root group's ``model_config`` and
    ``training_config`` attributes, the values ``load_model`` reads.

    A file whose root attributes the reader cannot enumerate is not vetted
    (fail closed): the attribute may be there. One without ``model_config``
    is data or weights and passes."""
    try:
        root = Root(data)
        values = _config_values(root)
    except HDF5Error as exc:
        ctx.emit(
            RULE_KERAS_CODE,
            f"{_loc(member)}an HDF5 file (Keras loads it as a model) whose root attributes"
            f" cannot be read ({exc}): not vetted",
            member,
        )
        return
    if b"model_config" not in values:
        return
    for name, value in values.items():
        config = _decode(ctx, value.text, name.decode(), member)
        if config is not None:
            _report(ctx, config, member, name.decode())
    _report_decoys(ctx, data, list(values.values()), member)


def _config_values(root: Root) -> dict[bytes, StringValue]:
    out: dict[bytes, StringValue] = {}
    for attr in root.attributes:
        if attr.name not in _CONFIG_ATTRS:
            continue
        if attr.name in out:
            # h5py opens the first one; a second is there to mislead a reader.
            raise HDF5Error(f"two {attr.name.decode()} attributes")
        out[attr.name] = root.string_value(attr)
    return out


def _decode(ctx: _Ctx, raw: bytes, name: str, member: str | None) -> object | None:
    """The JSON the loader decodes: h5py drops trailing NULs, and a NUL left inside
    (h5py cuts a variable-length string there) is refused rather than guessed at."""
    text = raw.rstrip(b"\0")
    try:
        if b"\0" in text:
            raise ValueError("a NUL byte inside the value")
        config: object = json.loads(text.decode("utf-8"))
    except ValueError as exc:
        ctx.emit(
            RULE_KERAS_CODE,
            f"{_loc(member)}an HDF5 Keras model whose {name} attribute is not JSON"
            f" ({exc}): not vetted",
            member,
        )
        return None
    return config


def _report_decoys(ctx: _Ctx, data: bytes, values: list[StringValue], member: str | None) -> None:
    """A second config-looking JSON outside the attributes the loader reads: a
    decoy for a reader that searches the bytes, or a config another loader
    (a sub-group, a user block) may read. Reported, never a reason to pass."""
    decoder = json.JSONDecoder()
    start, tries = data.find(_CONFIG_START), 0
    while start != -1 and tries < _DECOY_TRIES:
        inside = [v.end for v in values if v.start <= start < v.end]
        if inside:
            # a layer of the vetted config itself: continue after that value
            start = data.find(_CONFIG_START, max(inside))
            continue
        tries += 1
        window = data[start : start + _DECOY_WINDOW].decode("utf-8", "replace")
        try:
            found, _end = decoder.raw_decode(window)
        except ValueError:
            found = None
        if isinstance(found, dict):
            ctx.emit(
                RULE_KERAS_CODE,
                f"{_loc(member)}an HDF5 Keras model with a second model config at byte"
                f" {start}, outside the model_config attribute the loader reads",
                member,
            )
            return
        start = data.find(_CONFIG_START, start + 1)

"""Keras model files (session 27 red team): code in a model's config, read
without Keras. The `.h5` files are real HDF5 written by h5py (kept as fixtures:
h5py is not a dependency); the `.keras` archives are built the way Keras 3
writes them (a zip with metadata.json, config.json and model.weights.h5)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from traingate.checks.artifacts.scanner import is_artifact_candidate, scan_artifact

FIXTURES = Path(__file__).parent / "fixtures" / "checks" / "artifacts"


def _keras(config: object | None, *, raw: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        if raw is not None:
            zf.writestr("config.json", raw)
        elif config is not None:
            zf.writestr("config.json", json.dumps(config))
    return buf.getvalue()


def _layer(module: str | None, cls: str, **config: object) -> dict[str, object]:
    return {"module": module, "class_name": cls, "config": config}


def _rules(path: str, data: bytes) -> list[str]:
    assert is_artifact_candidate(path, data[:4096])
    return [i.rule_id for i in scan_artifact(path, data)]


@pytest.mark.parametrize(
    ("layer", "flagged"),
    [
        (_layer("keras.layers", "Lambda", function={"class_name": "__lambda__"}), True),
        (_layer("os", "system", command="id"), True),
        (_layer("builtins", "exec"), True),
        (_layer("keras_evil.layers", "Dense"), True),
        (_layer("keras.src.utils.python_utils", "func_load", code="4wE"), True),
        (_layer("tensorflow", "numpy_function"), True),
        (_layer("keras.layers", "Dense", units=8), False),
        (_layer("keras_hub.layers", "TransformerEncoder", num_heads=4), False),
        (_layer(None, "MyLayer", units=8), False),  # a registered custom object: no import
    ],
)
def test_keras_archive_layers(layer: dict[str, object], flagged: bool) -> None:
    config = _layer("keras", "Sequential", layers=[layer])
    assert (_rules("model/head.keras", _keras(config)) == ["artifact-keras-code"]) is flagged


@pytest.mark.parametrize("raw", [None, b"{not json", b"\xff\xfe"])
def test_an_archive_without_a_readable_config_is_not_vetted(raw: bytes | None) -> None:
    assert _rules("model/head.keras", _keras(None, raw=raw)) == ["artifact-keras-code"]


def test_a_keras_name_that_is_no_zip_is_not_vetted() -> None:
    assert _rules("model/head.keras", b"\x89HDF\r\n\x1a\n" + b"\0" * 64) == ["artifact-keras-code"]


@pytest.mark.parametrize(
    ("name", "rules"),
    [
        ("models/lambda_head.h5", ["artifact-keras-code"]),
        ("models/dense_head.h5", []),
        ("data/features.h5", []),
    ],
)
def test_real_hdf5_files(name: str, rules: list[str]) -> None:
    data = (FIXTURES / name).read_bytes()
    assert data.startswith(b"\x89HDF\r\n\x1a\n")
    assert _rules(name, data) == rules
    assert _rules(name.replace(".h5", ".hdf5"), data) == rules


def test_an_hdf5_model_config_that_does_not_decode_fails_closed() -> None:
    data = (
        b"\x89HDF\r\n\x1a\n"
        + b"\0" * 32
        + b"model_config"
        + b"\0" * 8
        + b'{"class_name": ['
        + b"\0" * 32
    )
    assert _rules("m.h5", data) == ["artifact-keras-code"]

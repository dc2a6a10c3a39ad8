"""Keras model files (session 27 red team): code in a model's config, read
without Keras. The `.h5` files are real HDF5 written by h5py (kept as fixtures:
h5py is not a dependency; session 28's are written by
tests/fixtures/gen_keras_h5.py); the `.keras` archives are built the way Keras 3
writes them (a zip with metadata.json, config.json and model.weights.h5)."""

from __future__ import annotations

import contextlib
import io
import json
import random
import zipfile
from pathlib import Path

import pytest

from traingate.checks.artifacts import hdf5
from traingate.checks.artifacts.scanner import is_artifact_candidate, scan_artifact
from traingate.cli import main

from .conftest import POLICY, Repo

FIXTURES = Path(__file__).parent / "fixtures" / "checks" / "artifacts"
H5 = FIXTURES / "models" / "h5"
KERAS = "artifact-keras-code"


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


# --------------------------------------------------------------- session 28: HDF5 read as h5py does

# What the gate must say about each session-28 file, by the real CLI in a real repo.
H5_EXPECT = {
    # attackers: the config h5py returns is spelled so that a byte search for
    # {"class_name" misses it, and a benign copy elsewhere is what it finds
    "decoy_space.h5": [KERAS],
    "decoy_keyorder_vlen.h5": [KERAS],  # variable-length string in a heap collection
    "decoy_escaped_latest.h5": [KERAS],  # "class\u005fname", superblock v3, header v2
    "userblock_lambda.h5": [KERAS],  # HDF5 at byte 512 behind a user block
    "userblock_pickle.h5": ["artifact-pickle-global"],  # the user block is a pickle
    # training_config is decoded too (compile=True); Keras 3.8's legacy compile
    # resolved a `module` there by name without importing it: defence in depth
    "training_module.h5": [KERAS],
    "twin_config.h5": [KERAS],  # a second config outside model_config: reported
    "dense_model.h5": [KERAS],  # dense attribute storage (fractal heap, v2 B-tree)
    # benign: the layouts h5py and Keras write
    "clean_fixed.h5": [],
    "clean_vlen.h5": [],
    "clean_latest.h5": [],
    "clean_track_order.h5": [],
    "clean_many_attrs.h5": [],  # continuation blocks in a v1 object header
    "weights_only.h5": [],
    "dataset.h5": [],
    "dense_data.h5": [],  # more than 8 attributes, track_order=True: dense storage
}


def test_h5_fixtures_through_the_cli(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    repo.write("README.md", "r\n")
    repo.commit("base")
    repo.branch("feature")
    for name in H5_EXPECT:
        repo.write(f"models/{name}", (H5 / name).read_bytes())
    repo.write("models/weights.h5", pickle_named())
    repo.commit("heads", who="mallory")
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    got: dict[str, list[str]] = {}
    for f in doc["findings"]:
        assert f["blocking"], f
        got.setdefault(f["path"].removeprefix("models/"), []).append(f["rule_id"])
    want = {k: v for k, v in H5_EXPECT.items() if v} | {"weights.h5": ["artifact-pickle-global"]}
    assert code == 1
    assert {k: sorted(set(v)) for k, v in got.items()} == want


def pickle_named() -> bytes:
    """A pickle called `weights.h5`: torch.load ignores the name (it passed unread)."""
    return b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85R."


def _messages(name: str) -> list[str]:
    return [i.message for i in scan_artifact(name, (H5 / name).read_bytes())]


def test_h5_findings_say_what_the_loader_reads() -> None:
    assert any("model_config runs code" in m for m in _messages("decoy_space.h5"))
    assert any("second model config" in m for m in _messages("decoy_space.h5"))
    assert any("training_config runs code" in m for m in _messages("training_module.h5"))
    assert any("model_config runs code" in m for m in _messages("dense_model.h5"))


@pytest.mark.parametrize(
    ("signature", "at", "value", "why"),
    [
        (b"BTHD", 12, b"\2\0", "more than two levels deep"),  # the name index's depth
        (b"FRHP", 7, b"\x10\0", "filtered fractal heap"),  # I/O filters on the heap
    ],
)
def test_dense_storage_beyond_the_reader_is_not_vetted(
    signature: bytes, at: int, value: bytes, why: str
) -> None:
    """A data file too: the attribute names are in the heap (docs: a known false positive)."""
    data = bytearray((H5 / "dense_data.h5").read_bytes())
    pos = data.find(signature) + at
    assert data[pos : pos + 2] == b"\0\0"
    data[pos : pos + 2] = value
    msgs = [i.message for i in scan_artifact("data/features.h5", bytes(data))]
    assert any(why in m and "not vetted" in m for m in msgs), msgs


def test_reader_returns_the_attribute_h5py_returns() -> None:
    """Values checked against h5py when the fixtures were written (gen_keras_h5.py)."""
    for name, spelling in [
        ("decoy_space.h5", b'{ "class_name"'),
        ("decoy_keyorder_vlen.h5", b'{"module": "keras", "class_name"'),
        ("decoy_escaped_latest.h5", b'{"class\\u005fname"'),
        ("userblock_lambda.h5", b'{"class_name"'),
    ]:
        root = hdf5.Root((H5 / name).read_bytes())
        (attr,) = [a for a in root.attributes if a.name == b"model_config"]
        text = root.string_value(attr).text.rstrip(b"\0")
        assert text.startswith(spelling), (name, text[:40])
        assert b'"system"' in text


def test_two_model_config_attributes_are_not_vetted() -> None:
    data = (H5 / "twin_config.h5").read_bytes().replace(b"model_confiG", b"model_config")
    msgs = [i.message for i in scan_artifact("m.h5", data)]
    assert any("two model_config attributes" in m for m in msgs), msgs


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (b'{"class_name": "Sequential"', b'{"class_name": "Sequential\0', "a NUL byte"),
        (b'{"class_name": "Sequential"', b'["class_name": "Sequential"', "not JSON"),
    ],
)
def test_a_model_config_that_does_not_decode_is_not_vetted(
    old: bytes, new: bytes, why: str
) -> None:
    data = (H5 / "clean_fixed.h5").read_bytes()
    assert data.count(old) == 1
    msgs = [i.message for i in scan_artifact("m.h5", data.replace(old, new))]
    assert any(why in m and "not vetted" in m for m in msgs), msgs


def test_a_continuation_block_that_loops_is_not_vetted() -> None:
    data = bytearray((H5 / "clean_many_attrs.h5").read_bytes())
    r = hdf5._Reader(bytes(data), 0)
    header = hdf5._root_header(r, 0)
    (cont, *_) = [m for m in hdf5._messages(r, header) if m.type == 0x10]
    data[cont.start : cont.start + 8] = (header + 16).to_bytes(8, "little")  # back to chunk 0
    msgs = [i.message for i in scan_artifact("m.h5", bytes(data))]
    assert any("loop" in m for m in msgs), msgs


def test_a_heap_object_index_twice_is_refused() -> None:
    """h5py keeps the last object of an index, a first-match reader the first."""

    def obj(index: int, text: bytes) -> bytes:
        pad = b"\0" * (-len(text) % 8)
        return (
            index.to_bytes(2, "little")
            + b"\1\0"
            + b"\0" * 4
            + len(text).to_bytes(8, "little")
            + text
            + pad
        )

    body = obj(1, b'{"decoy": 1}') + obj(1, b'{"real": 22}')
    gcol = b"GCOL\1\0\0\0" + (16 + len(body) + 16).to_bytes(8, "little") + body + b"\0" * 16
    r = hdf5._Reader(gcol, 0)
    with pytest.raises(hdf5.HDF5Error, match="twice"):
        hdf5._heap_object(r, 0, 1)


@pytest.mark.parametrize(
    "name", ["decoy_keyorder_vlen.h5", "clean_many_attrs.h5", "clean_latest.h5", "dense_model.h5"]
)
def test_hostile_bytes_never_crash_the_reader(name: str) -> None:
    """Truncated or flipped files: a finding or a clean read, never a scanner error."""
    data = (H5 / name).read_bytes()
    rng = random.Random(28)
    cuts = [data[:n] for n in range(0, len(data), 97)]
    flips = []
    for _ in range(150):
        b = bytearray(data)
        b[rng.randrange(len(b))] = rng.randrange(256)
        flips.append(bytes(b))
    for blob in cuts + flips:
        rules = [i.rule_id for i in scan_artifact("m.h5", blob)]
        assert "artifact-scan-error" not in rules


# ------------------------------------------------- session 28: other names, other members

_EVIL = _layer("keras", "Sequential", layers=[_layer("os", "system", command="id")])
_CLEAN = _layer("keras", "Sequential", layers=[_layer("keras.layers", "Dense", units=8)])


def _archive(members: list[tuple[str, object]]) -> bytes:
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w") as zf,
        pytest.warns(UserWarning)
        if len({n for n, _ in members}) < len(members)
        else contextlib.nullcontext(),
    ):
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        for name, config in members:
            zf.writestr(name, config if isinstance(config, str) else json.dumps(config))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("members", "flagged"),
    [
        # zipfile (the loader's) reads the last duplicate; another reader the first
        ([("config.json", _EVIL), ("config.json", _CLEAN)], True),
        ([("config.json", _CLEAN), ("Config.json", _EVIL)], True),
        ([("./config.json", _EVIL), ("config.json", _CLEAN)], True),
        ([("sub/config.json", _EVIL), ("config.json", _CLEAN)], True),
        # a tokenizer's config among the assets, or one that is no JSON: no config
        ([("config.json", _CLEAN), ("assets/tokenizer/config.json", {"vocab_size": 32000})], False),
        ([("config.json", _CLEAN), ("assets/config.json", "vocab_size=32000")], False),
    ],
)
def test_every_config_json_of_an_archive_is_vetted(
    members: list[tuple[str, object]], flagged: bool
) -> None:
    assert (_rules("model/head.keras", _archive(members)) == [KERAS]) is flagged


@pytest.mark.parametrize("name", ["heads/cls.bin", "heads/cls.pth", "heads/cls.hdf5"])
def test_an_hdf5_model_under_another_artifact_name_is_read(name: str) -> None:
    """tf_keras' load_model opens any file h5py.is_hdf5 accepts, whatever its name."""
    assert _rules(name, (FIXTURES / "models" / "lambda_head.h5").read_bytes()) == [KERAS]
    assert _rules(name, (H5 / "clean_fixed.h5").read_bytes()) == []


def test_a_keras_archive_that_is_also_hdf5_is_read_both_ways() -> None:
    data = (H5 / "userblock_lambda.h5").read_bytes() + _archive([("config.json", _CLEAN)])
    msgs = [i.message for i in scan_artifact("model/head.keras", data)]
    assert any("model_config runs code" in m for m in msgs), msgs


def test_a_decoy_after_a_config_of_many_layers_is_still_seen() -> None:
    """The byte search skips the vetted value (a Keras 2 config spells every
    layer `{"class_name"`), so a bound on tries does not end it early."""
    from traingate.checks.artifacts.common import _DEFAULT_LIMITS, _Ctx
    from traingate.checks.artifacts.hdf5 import StringValue
    from traingate.checks.artifacts.keras import _report_decoys

    layers = [{"class_name": "Dense", "config": {"units": i}} for i in range(200)]
    value = json.dumps({"class_name": "Sequential", "config": {"layers": layers}}).encode()
    data = b"\0" * 64 + value + b"\0" * 64 + json.dumps(_CLEAN).encode()
    ctx = _Ctx(limits=_DEFAULT_LIMITS, allowed=())
    _report_decoys(ctx, data, [StringValue(value, 64, 64 + len(value))], None)
    assert [i.message for i in ctx.issues] == []  # _CLEAN starts with "module"
    data += json.dumps(_layer(None, "Sequential")).encode().replace(b'{"module": null, ', b"{")
    _report_decoys(ctx, data, [StringValue(value, 64, 64 + len(value))], None)
    assert len(ctx.issues) == 1 and "second model config" in ctx.issues[0].message


def _joblib_like(kind: str) -> bytes:
    import gzip
    import zlib

    raw = pickle_named()
    return {"zlib": zlib.compress(raw), "gzip": gzip.compress(raw), "plain": raw}[kind]


@pytest.mark.parametrize(
    ("blob", "rules"),
    [
        # joblib.load and torch.load ignore the name: read like a `.bin`
        (_joblib_like("zlib"), ["artifact-pickle-global"]),
        (_joblib_like("gzip"), ["artifact-pickle-global"]),
        (_joblib_like("plain"), ["artifact-pickle-global"]),
        # what else a `.h5` that is no HDF5 holds: nothing a loader runs
        (b"", []),
        (b"placeholder: weights are fetched by scripts/download.sh\n", []),
        (bytes(range(256)) * 4, []),
    ],
)
def test_an_h5_name_without_hdf5_is_read_like_a_bin(blob: bytes, rules: list[str]) -> None:
    assert [i.rule_id for i in scan_artifact("model/clf.h5", blob)] == rules

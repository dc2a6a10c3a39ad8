"""docs/launch.md#traingate-verify, the claims tests/test_launch_verify.py did
not hold (issue #18): `--exclude`, symlink targets, submodules and the
`__pycache__` rule, each with the attack the relaxation must not let through.
A real gated repository (signed decision log, merged change) as there."""

from __future__ import annotations

import os
import py_compile
import sys

import pytest

from .test_launch_verify import Gated, verify
from .test_launch_verify import gated as gated  # the fixture


def test_exclude_leaves_only_that_directory_unverified(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    out = gated.repo.path / "outputs" / "step_100.ckpt.py"
    out.parent.mkdir()
    out.write_text("import os\n")
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1 and doc["differences"][0]["path"] == "outputs/step_100.ckpt.py"
    code, doc = verify(gated, capsys, str(gated.repo.path), "--exclude", "outputs/")
    assert code == 0 and doc["differences"] == [], doc
    # The attack: the exclusion covers that directory, not a file beside it.
    gated.repo.write("outputs_helper.py", "import os\n")
    code, doc = verify(gated, capsys, str(gated.repo.path), "--exclude", "outputs/")
    assert code == 1 and doc["differences"][0]["path"] == "outputs_helper.py"


def test_symlink_targets_count(gated: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    """A symlink on disk where the tree has a file, and a retargeted link."""
    train = gated.repo.path / "train.py"
    train.unlink()
    os.symlink("/tmp/elsewhere.py", train)
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1 and doc["differences"][0]["path"] == "train.py"
    assert doc["differences"][0]["kind"] == "type"
    # A link in the tree (on main after the gated merge), pointed elsewhere on disk.
    train.unlink()
    gated.repo.git("checkout", "-q", "--", "train.py")
    os.symlink("train.py", gated.repo.path / "entry.py")
    gated.repo.commit("link")
    (gated.repo.path / "entry.py").unlink()
    os.symlink("run.sh", gated.repo.path / "entry.py")
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1
    assert doc["differences"][0] == {
        "path": "entry.py",
        "kind": "modified",
        "detail": "symlink target differs",
    }


def test_a_submodule_is_not_verified_and_blocks(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    head = gated.repo.git("rev-parse", "HEAD").strip()
    gated.repo.git("update-index", "--add", "--cacheinfo", f"160000,{head},vendor/lib")
    gated.repo.git("commit", "-q", "--no-verify", "-m", "vendor")
    (gated.repo.path / "vendor" / "lib").mkdir(parents=True)
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1
    assert [d["kind"] for d in doc["differences"]] == ["submodule"], doc


def test_pycache_of_our_python_matching_its_source_is_no_difference(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    train = gated.repo.path / "train.py"
    pyc = gated.repo.path / "__pycache__" / f"train.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(train), cfile=str(pyc), doraise=True)
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 0 and doc["differences"] == [], doc
    # The attack: a pyc with other code under the source's name runs instead of it.
    evil = gated.repo.path.parent / "evil.py"
    evil.write_text("lr = 9.0\nimport os\n")
    py_compile.compile(str(evil), cfile=str(pyc), doraise=True)
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1
    assert doc["differences"][0]["path"] == f"__pycache__/{pyc.name}"
    assert doc["differences"][0]["kind"] == "pyc"
    # Another Python's pyc cannot be checked: it is a difference.
    pyc.unlink()
    other = pyc.with_name("train.cpython-39.pyc")
    py_compile.compile(str(train), cfile=str(other), doraise=True)
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1 and doc["differences"][0]["path"] == f"__pycache__/{other.name}"

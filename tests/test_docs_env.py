"""docs/launch.md#traingate-env-snapshot-and-traingate-env-verify: the claims
tests/test_env_verify.py did not hold (issue #18). A real venv with a real
wheel installed by pip, real ssh-keygen keys, as there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from traingate.cli import main

from . import envkit
from .test_env_verify import errors, pkg, snapshot, verify
from .test_env_verify import keys as keys  # the fixtures
from .test_env_verify import venv as venv
from .test_env_verify import wheel as wheel

# The tiny project's name and version (tests/envkit.py's build backend).
NAME, VERSION = "tinypkg", "1.0"


def _dist_info(venv: Path) -> Path:
    return envkit.site_packages(venv) / f"{NAME}-{VERSION}.dist-info"


def test_without_a_baseline_it_says_record_files_only(
    venv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["env", "verify", "--env", str(venv)]) == 0
    assert "RECORD files only (no baseline)" in capsys.readouterr().out


def test_a_hashless_record_entry_is_unhashed(
    venv: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack: list a planted file in RECORD without a hash, so no hash
    can disagree with it."""
    (pkg(venv) / "extra.py").write_text("import os\n")
    record = _dist_info(venv) / "RECORD"
    record.write_text(record.read_text() + "tinypkg/extra.py,,\n")
    code, doc = verify(venv, keys, None, capsys)
    assert code == 1 and errors(doc) == {"unhashed": {"extra.py"}}, doc


def test_record_problems_outside_paths_and_two_installs(
    venv: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    record = _dist_info(venv) / "RECORD"
    record.write_text(record.read_text() + "../../../../../../../../etc/hostname,,\n")
    code, doc = verify(venv, keys, None, capsys)
    assert code == 1 and "record-problem" in errors(doc), doc
    record.write_text(record.read_text().replace("../../../../../../../../etc/hostname,,\n", ""))
    twin = _dist_info(venv).with_name(f"{NAME}-9.9.dist-info")
    shutil.copytree(_dist_info(venv), twin)
    code, doc = verify(venv, keys, None, capsys)
    assert code == 1 and any(
        f["kind"] == "record-problem" and "two installs of" in f["message"] for f in doc["findings"]
    ), doc


def test_version_changed_and_a_baseline_inside_the_env(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "baseline.json"
    assert snapshot(venv, keys, base) == 0
    meta = _dist_info(venv) / "METADATA"
    meta.write_text(meta.read_text().replace(f"Version: {VERSION}", "Version: 9.9"))
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and "version-changed" in errors(doc), doc
    # Both commands refuse a baseline kept where the environment's writers reach.
    inside = envkit.site_packages(venv) / "baseline.json"
    shutil.copy(base, inside)
    argv = ["env", "verify", "--env", str(venv), "--baseline", str(inside)]
    assert main([*argv, "--allowed-signers", str(keys[1])]) == 2


def test_snapshot_refuses_a_failing_environment_unless_allowed(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """launch.md: snapshot refuses an environment that already fails (exit 1,
    nothing written); `--allow PATH` accepts that file, with its digest, so a
    later change to it is still reported."""
    stray = pkg(venv) / "stray.py"
    stray.write_text("x = 1\n")
    base = tmp_path / "baseline.json"
    assert snapshot(venv, keys, base) == 1
    assert not base.exists()
    assert snapshot(venv, keys, base, "--allow", str(stray)) == 0
    code, doc = verify(venv, keys, base, capsys)
    assert code == 0 and errors(doc) == {}, doc
    stray.write_text("import os\n")
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and "stray.py" in set().union(*errors(doc).values()), doc

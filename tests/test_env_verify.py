"""``traingate env snapshot`` / ``env verify`` on real environments (issue #20).

Every test builds a real venv (``python -m venv``) and installs a real wheel
that ``pip wheel`` built from a tiny project with an in-tree PEP 517 backend,
with a real ``pip install --no-index --no-deps`` (or uv, offline). Baselines
are signed with real ssh-keygen keys. Then the environment is tampered with,
each way issue #20 lists, and the command must name the file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from traingate.cli import main

from . import envkit
from .conftest import Repo

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    project = envkit.write_project(tmp / "project")
    return envkit.build_wheel(project, tmp / "dist")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return envkit.keygen(tmp_path_factory.mktemp("keys"), "ops")


@pytest.fixture
def venv(tmp_path: Path, wheel: Path) -> Path:
    v = envkit.make_venv(tmp_path / "venv")
    envkit.pip_install(v, wheel)
    return v


def snapshot(env: Path, keys: tuple[Path, Path], out: Path, *extra: str) -> int:
    key, _ = keys
    return main(
        [
            "env",
            "snapshot",
            "--env",
            str(env),
            "-o",
            str(out),
            "--key",
            str(key),
            "--signer",
            "ops",
            *extra,
        ]
    )


def verify(
    env: Path,
    keys: tuple[Path, Path],
    baseline: Path | None,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
) -> tuple[int, dict[str, Any]]:
    args = ["env", "verify", "--env", str(env), "--format", "json", *extra]
    if baseline is not None:
        args += ["--baseline", str(baseline), "--allowed-signers", str(keys[1])]
    capsys.readouterr()
    code = main(args)
    return code, json.loads(capsys.readouterr().out)


def errors(doc: dict[str, Any]) -> dict[str, set[str]]:
    """{kind: {file names}} of the blocking findings."""
    out: dict[str, set[str]] = {}
    for f in doc["findings"]:
        if f["severity"] == "error":
            out.setdefault(f["kind"], set()).add(os.path.basename(f["path"]))
    return out


def pkg(venv: Path) -> Path:
    return envkit.site_packages(venv) / "tinypkg"


# --------------------------------------------------------------------------- clean


def test_untouched_pip_and_uv_environments_verify_clean(
    tmp_path: Path, wheel: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pip_env = envkit.make_venv(tmp_path / "pip")
    envkit.pip_install(pip_env, wheel)
    uv_env = envkit.make_venv(tmp_path / "uv")
    envkit.uv_install(uv_env, wheel, tmp_path / "uv-cache")
    # pip compiles pycs and lists them in RECORD without a hash; uv writes none
    # and adds uv_cache.json; both rewrite the scripts' #!python shebang and
    # record the rewritten file's hash: none of it is noise.
    assert (
        list(pkg(pip_env).glob("__pycache__/*.pyc")) and not (pkg(uv_env) / "__pycache__").exists()
    )
    for env in (pip_env, uv_env):
        assert (env / "bin" / "tinypkg-tool").read_text().startswith(f"#!{env}/bin/python")
        code, doc = verify(env, keys, None, capsys)
        assert code == 0 and doc["decision"] == "pass" and doc["findings"] == [], doc
        base = tmp_path / f"{env.name}.baseline.json"
        assert snapshot(env, keys, base) == 0
        code, doc = verify(env, keys, base, capsys)
        assert code == 0 and errors(doc) == {}, doc
        code, doc = verify(env, keys, base, capsys, "--only", "TinyPkg")
        assert code == 0 and doc["mode"] == "only" and doc["only"] == ["tinypkg"]
    # The job imports the package from the uv env: Python writes pycs the
    # baseline never saw. They match their sources, so they are notes, not noise.
    envkit.run_in_venv(uv_env, "import tinypkg; print(tinypkg.main())")
    code, doc = verify(uv_env, keys, tmp_path / "uv.baseline.json", capsys)
    assert code == 0 and {f["kind"] for f in doc["findings"]} == {"pyc-recompiled"}


def test_a_full_venv_with_pip_and_setuptools_verifies_clean(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env = envkit.make_venv(tmp_path / "full", with_pip=True)
    code, doc = verify(env, keys, None, capsys)
    # setuptools' distutils-precedence.pth runs code at every start; it is owned
    # by setuptools' RECORD and matches its hash, so it is listed, not blocked.
    assert code == 0, doc
    notes = {os.path.basename(f["path"]) for f in doc["findings"] if f["severity"] == "note"}
    assert notes <= {"distutils-precedence.pth"}
    base = tmp_path / "full.json"
    assert snapshot(env, keys, base) == 0
    assert verify(env, keys, base, capsys)[0] == 0


# --------------------------------------------------------------------------- tampering


def test_edited_py_is_named(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    core = pkg(venv) / "core.py"
    core.write_text(core.read_text().replace("3e-4", "3e-2"))
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and errors(doc)["changed"] == {"core.py"}
    assert "core.py" in errors(doc)["record-mismatch"]
    code, doc = verify(venv, keys, base, capsys, "--only", "tinypkg")
    assert code == 1 and errors(doc)["changed"] == {"core.py"}
    # Text output names the file too.
    main(
        [
            "env",
            "verify",
            "--env",
            str(venv),
            "--baseline",
            str(base),
            "--allowed-signers",
            str(keys[1]),
        ]
    )
    assert f"ERROR changed: {core}" in capsys.readouterr().out


def _tamper_pyc(source: Path, evil: str, tmp: Path) -> Path:
    """Replace the pyc of ``source`` by one compiled from ``evil`` that keeps the
    header CPython checks (the source's mtime and size): it loads as current."""
    pyc = Path(importlib.util.cache_from_source(str(source)))
    header = pyc.read_bytes()[:16]
    fake = tmp / "evil.py"
    fake.write_text(evil)
    compiled = py_compile.compile(str(fake), cfile=str(tmp / "evil.pyc"), doraise=True)
    assert compiled is not None  # doraise: a failure raises instead of returning None
    pyc.write_bytes(header + Path(compiled).read_bytes()[16:])
    return pyc


def test_edited_pyc_only_is_named(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    core = pkg(venv) / "core.py"
    before = core.read_bytes()
    pyc = _tamper_pyc(core, "def main():\n    return 'lr=3e-2'\n", tmp_path)
    # The attack is real: the source hashes clean, yet the interpreter runs the pyc.
    out = envkit.run_in_venv(venv, "import tinypkg; print(tinypkg.main())")
    assert out.strip() == "lr=3e-2" and core.read_bytes() == before
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and errors(doc) == {"pyc-mismatch": {pyc.name}}
    code, doc = verify(venv, keys, base, capsys, "--only", "tinypkg")
    assert code == 1 and pyc.name in errors(doc)["pyc-mismatch"]
    # Without a baseline, pip's hashless RECORD line is checked by recompiling.
    code, doc = verify(venv, keys, None, capsys)
    assert code == 1 and errors(doc) == {"pyc-mismatch": {pyc.name}}


def test_new_pth_with_an_import_line_is_named(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    pth = envkit.site_packages(venv) / "zz_speedup.pth"
    pth.write_text("import os; os.environ.setdefault('LR_SCALE', '10')\n")
    for extra in ((), ("--only", "tinypkg")):
        code, doc = verify(venv, keys, base, capsys, *extra)
        assert code == 1 and errors(doc) == {"pth-exec": {"zz_speedup.pth"}}, doc
    assert verify(venv, keys, None, capsys)[0] == 1


def test_sitecustomize_anywhere_on_the_path_is_named(
    venv: Path,
    tmp_path: Path,
    keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    (envkit.site_packages(venv) / "sitecustomize.py").write_text("import os\n")
    code, doc = verify(venv, keys, base, capsys, "--only", "tinypkg")
    assert code == 1 and errors(doc) == {"customize": {"sitecustomize.py"}}
    (envkit.site_packages(venv) / "sitecustomize.py").unlink()
    assert verify(venv, keys, base, capsys)[0] == 0
    # A directory the job's PYTHONPATH puts first counts as much as site-packages.
    extra = tmp_path / "job-path"
    extra.mkdir()
    (extra / "usercustomize.py").write_text("import os\n")
    monkeypatch.setenv("PYTHONPATH", str(extra))
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and errors(doc) == {"customize": {"usercustomize.py"}}


def test_unowned_modules_are_named(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    (envkit.site_packages(venv) / "torch_patch.py").write_text("x = 1\n")
    (pkg(venv) / "hooks.py").write_text("x = 1\n")
    for extra in ((), ("--only", "tinypkg")):
        code, doc = verify(venv, keys, base, capsys, *extra)
        assert code == 1 and errors(doc) == {"unowned": {"torch_patch.py", "hooks.py"}}, doc
    code, doc = verify(venv, keys, None, capsys)
    assert code == 1 and errors(doc) == {"unowned": {"torch_patch.py", "hooks.py"}}


def test_a_record_rewritten_to_match_a_tampered_file_is_caught_by_the_baseline(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from traingate.env.scan import digest_file

    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    core = pkg(venv) / "core.py"
    core.write_text("def main():\n    return 'lr=3e-2'\n")
    record = next(envkit.site_packages(venv).glob("tinypkg-*.dist-info")) / "RECORD"
    lines = [
        f"tinypkg/core.py,{digest_file(str(core), 'sha256')},{core.stat().st_size}"
        if line.startswith("tinypkg/core.py,")
        else line
        for line in record.read_text().splitlines()
    ]
    record.write_text("\n".join(lines) + "\n")
    # RECORD lives in the same writable directory: alone, it now agrees (the
    # stale pyc is still caught by recompiling it)...
    code, doc = verify(venv, keys, None, capsys)
    assert "core.py" not in errors(doc).get("record-mismatch", set())
    # ...the signed baseline does not.
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1
    assert errors(doc)["changed"] == {"core.py"} and errors(doc)["record-changed"] == {"RECORD"}


def test_editable_install_on_a_dirty_tree_is_named(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, signers = keys
    repo = Repo(tmp_path / "checkout")
    repo.write(".traingate.yaml", envkit.GATE_POLICY)
    repo.write("README.md", "# trainer\n")
    repo.commit("initial")
    log = tmp_path / "decisions.jsonl"
    project = {"backend.py": envkit.BACKEND, "pyproject.toml": envkit.PYPROJECT}
    project.update({f"src/{k}": v for k, v in envkit.SOURCES.items()})
    envkit.gated_change(repo, tmp_path, key, log, project)
    env = envkit.make_venv(tmp_path / "venv")
    envkit.pip_install(env, "--no-build-isolation", "-e", repo.path)
    evidence = ["--audit-log", str(log), "--allowed-signers", str(signers)]
    # No evidence: the checkout's tree is not known to have passed the gate.
    code, doc = verify(env, keys, None, capsys)
    assert code == 1 and "editable-unproven" in errors(doc)
    # The merged tree has no passing record of its own (the record is for the
    # feature head, whose tree is the same here: a clean --no-ff merge).
    code, doc = verify(env, keys, None, capsys, *evidence)
    assert code == 0, doc
    base = tmp_path / "b.json"
    assert snapshot(env, keys, base, *evidence) == 0
    assert verify(env, keys, base, capsys, *evidence)[0] == 0
    # An uncommitted edit in the checkout is what the job would import.
    (repo.path / "src" / "tinypkg" / "core.py").write_text("def main():\n    return 'x'\n")
    code, doc = verify(env, keys, base, capsys, *evidence)
    assert code == 1 and errors(doc) == {"editable-dirty": {"checkout"}}
    msg = next(f["message"] for f in doc["findings"] if f["kind"] == "editable-dirty")
    assert "src/tinypkg/core.py: content differs" in msg
    repo.git("checkout", "--", "src/tinypkg/core.py")
    (repo.path / "src" / "tinypkg" / "extra.py").write_text("x = 1\n")  # untracked counts
    code, doc = verify(env, keys, base, capsys, *evidence)
    assert code == 1 and "src/tinypkg/extra.py" in json.dumps(doc)


# --------------------------------------------------------------------------- baseline trust


def test_a_forged_or_unsigned_baseline_is_refused(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    core = pkg(venv) / "core.py"
    core.write_text("evil = 1\n")
    doc = json.loads(base.read_text())
    doc["baseline"]["distributions"]["tinypkg"]["files"][str(core)] = "0" * 64
    base.write_text(json.dumps(doc))
    capsys.readouterr()
    assert (
        main(
            [
                "env",
                "verify",
                "--env",
                str(venv),
                "--baseline",
                str(base),
                "--allowed-signers",
                str(keys[1]),
            ]
        )
        == 1
    )
    assert "signature does not verify" in capsys.readouterr().err
    del doc["signature"]
    base.write_text(json.dumps(doc))
    assert (
        main(
            [
                "env",
                "verify",
                "--env",
                str(venv),
                "--baseline",
                str(base),
                "--allowed-signers",
                str(keys[1]),
            ]
        )
        == 1
    )
    # A baseline kept inside the environment is refused outright.
    inside = venv / "baseline.json"
    assert snapshot(venv, keys, inside) == 2
    # --baseline without signers, --only without a baseline: usage errors.
    assert main(["env", "verify", "--env", str(venv), "--baseline", str(base)]) == 2
    assert main(["env", "verify", "--env", str(venv), "--only", "tinypkg"]) == 2


def test_sarif_output_validates_and_names_the_file(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (pkg(venv) / "hooks.py").write_text("x = 1\n")
    out = tmp_path / "env.sarif"
    assert main(["env", "verify", "--env", str(venv), "--format", "sarif", "-o", str(out)]) == 1
    sarif = json.loads(out.read_text())
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "env/unowned" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
        "/tinypkg/hooks.py"
    )
    assert "NOT verified" in capsys.readouterr().out


def test_no_environment_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    assert main(["env", "verify"]) == 2
    assert main(["env", "verify", "--env", str(tmp_path)]) == 2
    assert "neither a venv" in capsys.readouterr().err


def test_the_checker_never_runs_the_environments_interpreter(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Replace the venv's python with a script that leaves a mark if run: verify
    # must hash it (interpreter-changed), never execute it.
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    mark = tmp_path / "ran"
    exe = venv / "bin" / "python"
    real = os.path.realpath(exe)
    exe.unlink()
    exe.write_text(f'#!/bin/sh\ntouch {mark}\nexec {real} "$@"\n')
    exe.chmod(0o755)
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and "interpreter-changed" in errors(doc) and not mark.exists()
    subprocess.run([str(exe), "-c", "pass"], check=True)  # the stand-in does leave a mark
    assert mark.exists()


def test_a_distribution_installed_after_the_baseline_is_named(
    venv: Path, tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert snapshot(venv, keys, base) == 0
    project = envkit.write_project(tmp_path / "other")
    (project / "backend.py").write_text(envkit.BACKEND.replace("tinypkg", "otherpkg"))
    (project / "src" / "tinypkg").rename(project / "src" / "otherpkg")
    (project / "pyproject.toml").write_text(envkit.PYPROJECT.replace("tinypkg", "otherpkg"))
    wheel = envkit.build_wheel_named(project, tmp_path / "dist", "otherpkg")
    envkit.pip_install(venv, wheel)
    code, doc = verify(venv, keys, base, capsys)
    assert code == 1 and "distribution-added" in errors(doc)
    assert "core.py" in errors(doc)["added"]
    # Fast mode for tinypkg alone still sees the new package directory by name.
    code, doc = verify(venv, keys, base, capsys, "--only", "tinypkg")
    assert code == 1 and "otherpkg" in errors(doc)["added"]

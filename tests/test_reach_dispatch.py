"""Three more ways to hide a sink from ``reach`` (issue #16 "across functions
and files"; docs/checks/reach.md, facts version 10).

1. Dict dispatch: a dict display whose values name functions (``HANDLERS =
   {"json": json.loads, "pickle": load_blob}``; at module level, filled by
   ``HANDLERS[k] = f`` / ``update`` / ``setdefault``, or in the function),
   called by element: ``HANDLERS[fmt](data)``, ``HANDLERS.get(fmt)(data)``,
   ``fn = HANDLERS.get(fmt); fn(data)``, ``HANDLERS.get(fmt, fallback)``.
2. ``__call__``: an instance called (``Restore()(data)``, ``r = Restore();
   r(data)``, a module-level ``restore = Restore()`` imported and called).
3. A factory's result called: ``make_loader()(data)`` where ``make_loader``
   returns a nested def, a class, an instance, or ``pickle.loads`` itself.

Each is written as an insider would: the sink sits in an unchanged helper
file, and the change adds only the call. Each must block at the added call
with ``reach-dangerous-call``. The look-alikes are real training idioms that
must stay quiet: dispatch dicts of harmless functions (a literal key picking
the harmless entry of a mixed dict too), an ``nn.Module`` instance called
(``model(x)`` runs ``forward``), a transform's ``__call__``, a tokenizer
factory, an activation table of torch classes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

PKG = {"utils/__init__.py": ""}
HELPER = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
# utils/registry.py: a dispatch table of a harmless codec and the helper
REGISTRY = (
    "import json\n\nfrom utils.io import load_blob\n\n"
    'HANDLERS = {"json": json.loads, "pickle": load_blob}\n'
)
RESTORE = (
    "import pickle\n\n\nclass Restore:\n    def __call__(self, b):\n"
    "        return pickle.loads(b)\n"
)
FACTORY = (
    "import pickle\n\n\ndef make_loader():\n    def _load(b):\n"
    "        return pickle.loads(b)\n\n    return _load\n"
)


def _main(imports: str, body: str) -> str:
    """A train.py whose ``main(fmt, data)`` runs ``body`` (one or more lines)."""
    lines = "".join(f"    {x}\n" for x in body.splitlines())
    return f"{imports}\n\n\ndef main(fmt, data):\n{lines}"


FROM_REG = "from utils.registry import HANDLERS"
BASE_REG = {**PKG, "utils/io.py": HELPER, "utils/registry.py": REGISTRY}
CHAIN = "utils.io.load_blob -> pickle.loads (utils/io.py:5)"

# name: (base files, new train.py, line of the call, message part)
ATTACKS: dict[str, tuple[dict[str, str], str, int, str]] = {
    # 1. dict dispatch
    "HANDLERS[fmt](data), the dict in another file": (
        BASE_REG,
        _main(FROM_REG, "return HANDLERS[fmt](data)"),
        5,
        f"train.py:5 calls {CHAIN}",
    ),
    "HANDLERS.get(fmt)(data)": (
        BASE_REG,
        _main(FROM_REG, "return HANDLERS.get(fmt)(data)"),
        5,
        CHAIN,
    ),
    "fn = HANDLERS.get(fmt); fn(data)": (
        BASE_REG,
        _main(FROM_REG, "fn = HANDLERS.get(fmt)\nreturn fn(data)"),
        6,
        CHAIN,
    ),
    "the literal key of the unsafe entry": (
        BASE_REG,
        _main(FROM_REG, 'return HANDLERS["pickle"](data)'),
        5,
        CHAIN,
    ),
    "registry.HANDLERS[fmt] through the module": (
        BASE_REG,
        _main("from utils import registry", "return registry.HANDLERS[fmt](data)"),
        5,
        CHAIN,
    ),
    "the dict's value is pickle.loads itself": (
        {
            **PKG,
            "utils/registry.py": 'import json\nimport pickle\n\nHANDLERS = {"json": '
            'json.loads, "pickle": pickle.loads}\n',
        },
        _main(FROM_REG, "return HANDLERS[fmt](data)"),
        5,
        "train.py:5 calls utils.registry.HANDLERS -> pickle.loads (utils/registry.py:4)",
    ),
    "filled by HANDLERS[k] = f, re-exported by the package": (
        {
            "utils/__init__.py": "from utils.registry import HANDLERS\n",
            "utils/io.py": HELPER,
            "utils/registry.py": "from utils.io import load_blob\n\nHANDLERS = {}\n"
            'HANDLERS["pickle"] = load_blob\n',
        },
        _main("from utils import HANDLERS", "return HANDLERS[fmt](data)"),
        5,
        CHAIN,
    ),
    "filled by update() and setdefault()": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": "import json\nfrom utils.io import load_blob\n\n"
            "HANDLERS = dict(json=json.loads)\nHANDLERS.update({'p': json.dumps})\n\n\n"
            "def register():\n    HANDLERS.setdefault('pickle', load_blob)\n",
        },
        _main(FROM_REG, "return HANDLERS[fmt](data)"),
        5,
        CHAIN,
    ),
    "an annotated dict spread into another (**BASE)": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": "import json\nfrom typing import Callable\n\n"
            "from utils.io import load_blob\n\n"
            'BASE: dict[str, Callable] = {"pickle": load_blob}\n'
            'HANDLERS = {"json": json.loads, **BASE}\n',
        },
        _main(FROM_REG, "return HANDLERS[fmt](data)"),
        5,
        CHAIN,
    ),
    "a getter returning the element": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": REGISTRY + "\n\ndef handler(fmt):\n    return HANDLERS[fmt]\n",
        },
        _main("from utils.registry import handler", "return handler(fmt)(data)"),
        5,
        CHAIN,
    ),
    "a harmless dict's fallback is the helper": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": 'import json\n\nHANDLERS = {"json": json.loads}\n',
        },
        _main(
            FROM_REG + "\nfrom utils.io import load_blob",
            "return HANDLERS.get(fmt, load_blob)(data)",
        ),
        6,
        CHAIN,
    ),
    "a dispatch dict added at module level of the changed file": (
        {**PKG, "utils/io.py": HELPER},
        "import json\n\nfrom utils.io import load_blob\n\n"
        'HANDLERS = {"json": json.loads, "pickle": load_blob}\n\n\n'
        "def main(fmt, data):\n    return HANDLERS[fmt](data)\n",
        9,
        CHAIN,
    ),
    "a dispatch dict local to the function": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "import json\n\nfrom utils.io import load_blob",
            'handlers = {"json": json.loads, "pickle": load_blob}\nreturn handlers[fmt](data)',
        ),
        8,
        CHAIN,
    ),
    # 2. __call__
    "Restore()(data)": (
        {**PKG, "utils/io.py": RESTORE},
        _main("from utils.io import Restore", "return Restore()(data)"),
        5,
        "train.py:5 calls utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    "r = Restore(); r(data)": (
        {**PKG, "utils/io.py": RESTORE},
        _main("from utils.io import Restore", "r = Restore()\nreturn r(data)"),
        6,
        "utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    "a module-level instance imported and called": (
        {**PKG, "utils/io.py": RESTORE + "\n\nrestore = Restore()\n"},
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    "a module-level instance's method": (
        {
            **PKG,
            "utils/io.py": "import pickle\n\n\nclass Codec:\n    def decode(self, b):\n"
            "        return pickle.loads(b)\n\n\ncodec = Codec()\n",
        },
        _main("from utils import io", "return io.codec.decode(data)"),
        5,
        "utils.io.Codec.decode -> pickle.loads (utils/io.py:6)",
    ),
    "__call__ inherited from a repository base": (
        {
            **PKG,
            "utils/io.py": RESTORE,
            "utils/fast.py": "from utils.io import Restore\n\n\nclass FastRestore(Restore):\n"
            "    pass\n",
        },
        _main("from utils.fast import FastRestore", "return FastRestore()(data)"),
        5,
        "utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    "an instance kept on self in __init__, called in another method": (
        {**PKG, "utils/io.py": RESTORE},
        "from utils.io import Restore\n\n\nclass Trainer:\n    def __init__(self):\n"
        "        self.restore = Restore()\n\n    def resume(self, data):\n"
        "        return self.restore(data)\n",
        9,
        "utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    "an instance as a class attribute": (
        {**PKG, "utils/io.py": RESTORE},
        "from utils.io import Restore\n\n\nclass Trainer:\n    restore = Restore()\n\n"
        "    def resume(self, data):\n        return self.restore(data)\n",
        8,
        "utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    # 3. factories
    "make_loader()(data), a nested def": (
        {**PKG, "utils/io.py": FACTORY},
        _main("from utils.io import make_loader", "return make_loader()(data)"),
        5,
        "train.py:5 calls utils.io.make_loader._load -> pickle.loads (utils/io.py:6)",
    ),
    "fn = make_loader(); fn(data)": (
        {**PKG, "utils/io.py": FACTORY},
        _main("from utils.io import make_loader", "fn = make_loader()\nreturn fn(data)"),
        6,
        "utils.io.make_loader._load -> pickle.loads (utils/io.py:6)",
    ),
    "a factory returning a class whose __init__ unpickles": (
        {
            **PKG,
            "utils/io.py": "import pickle\n\n\nclass State:\n    def __init__(self, b):\n"
            "        self.s = pickle.loads(b)\n\n\ndef state_cls():\n    return State\n",
        },
        _main("from utils.io import state_cls", "return state_cls()(data)"),
        5,
        "utils.io.State.__init__ -> pickle.loads (utils/io.py:6)",
    ),
    "a factory returning an instance": (
        {**PKG, "utils/io.py": RESTORE + "\n\ndef restorer():\n    return Restore()\n"},
        _main("from utils.io import restorer", "return restorer()(data)"),
        5,
        "utils.io.Restore.__call__ -> pickle.loads (utils/io.py:6)",
    ),
    "a factory returning pickle.loads": (
        {**PKG, "utils/io.py": "import pickle\n\n\ndef decoder():\n    return pickle.loads\n"},
        _main("from utils.io import decoder", "return decoder()(data)"),
        5,
        "train.py:5 calls utils.io.decoder -> pickle.loads (utils/io.py:5)",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_dispatched_sink_blocks_at_the_added_call(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, line, part = ATTACKS[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert _rules(found) == [("reach-dangerous-call", "train.py", line)], found
    assert part in found[0]["message"], found
    assert found[0]["severity"] == "ERROR"
    assert code == 1


# -- look-alikes: quiet ---------------------------------------------------------

NET = (
    "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
    "        return x * 2\n\n\nMODEL = Net()\n"
)
LOOKALIKES: dict[str, tuple[dict[str, str], str]] = {
    "a dispatch dict of harmless functions": (
        {
            **PKG,
            "utils/registry.py": "import json\nimport yaml\n\n\ndef _text(b):\n"
            '    return b.decode()\n\n\nHANDLERS = {"json": json.loads, "yaml": '
            'yaml.safe_load, "text": _text}\n',
        },
        _main(
            FROM_REG, "fn = HANDLERS.get(fmt, json.loads)\nreturn HANDLERS[fmt](data) or fn(data)"
        ),
    ),
    "the literal key of the harmless entry of a mixed dict": (
        BASE_REG,
        _main(FROM_REG, 'return HANDLERS["json"](data) or HANDLERS.get("json")(data)'),
    ),
    "an nn.Module instance called (forward, not a sink)": (
        {**PKG, "utils/model.py": NET},
        _main(
            "from utils.model import MODEL, Net",
            "model = Net()\nreturn model(data) + Net()(data) + MODEL(data)",
        ),
    ),
    "modules and a loss kept on self, called in forward": (
        {**PKG, "utils/model.py": NET},
        "import torch.nn as nn\n\nfrom utils.model import Net\n\n\nclass Wrapper(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.net = Net()\n"
        "        self.loss_fn = nn.CrossEntropyLoss()\n\n    def forward(self, x, y):\n"
        "        return self.loss_fn(self.net(x), y)\n",
    ),
    "a transform's harmless __call__": (
        {
            **PKG,
            "utils/tf.py": "class Normalize:\n    def __call__(self, x):\n"
            "        return (x - x.mean()) / x.std()\n\n\nNORM = Normalize()\n",
        },
        _main("from utils.tf import NORM, Normalize", "return Normalize()(data) + NORM(data)"),
    ),
    "a tokenizer factory": (
        {
            **PKG,
            "utils/tok.py": "def make_tokenizer(lower):\n    def _tok(s):\n"
            "        return s.lower().split() if lower else s.split()\n\n    return _tok\n",
        },
        _main("from utils.tok import make_tokenizer", "return make_tokenizer(True)(data)"),
    ),
    "an activation table of torch classes": (
        {
            **PKG,
            "utils/act.py": "import torch.nn as nn\n\n"
            'ACT2CLS = {"gelu": nn.GELU, "relu": nn.ReLU}\n',
        },
        _main(
            "from utils.act import ACT2CLS", 'return ACT2CLS[fmt]()(data) + ACT2CLS["gelu"]()(data)'
        ),
    ),
    "a helper's result called: the model a loader made": (
        # the load itself is the old call; calling its result runs no sink
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/ckpt.py": "from utils.io import load_blob\n\n\n"
            "def load_model(p):\n    return load_blob(open(p, 'rb').read())\n",
            "train.py": "from utils.ckpt import load_model\n\n\ndef main(fmt, data):\n"
            "    model = load_model('m.bin')\n",
        },
        "from utils.ckpt import load_model\n\n\ndef main(fmt, data):\n"
        "    model = load_model('m.bin')\n    return model(data)\n",
    ),
    "a dict of pickle.loads that nothing new calls": (
        BASE_REG,
        _main(FROM_REG, "return sorted(HANDLERS)"),
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_a_harmless_dispatch_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train = LOOKALIKES[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature")
    _code, found, doc = _check(repo, capsys)
    assert (found, doc["errors"]) == ([], [])


def test_factories_returning_each_other_end(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    """Two factories that return each other's result (a cycle) are read to
    an end, and the sink one of them also returns is still found from both."""
    helper = (
        "import pickle\n\n\ndef a(flag):\n    if flag:\n        return pickle.loads\n"
        "    return b(flag)\n\n\ndef b(flag):\n    return a(flag)\n"
    )
    _repo(repo, {**PKG, "utils/io.py": helper})
    repo.write("train.py", _main("from utils.io import a, b", "return b(1)(data) or a(0)(data)"))
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)] * 2, found
    assert sorted(f["column"] for f in found) == [12, 26], found
    for f in found:
        assert "utils.io.a -> pickle.loads (utils/io.py:6)" in f["message"], found
    assert code == 1


def test_a_scan_streamed_finds_what_the_whole_tree_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scan`` streams the tree file by file (tests/test_reach_streaming.py):
    a dispatch dict streamed before the helper its values name, and an
    instance and a factory streamed after their caller, are followed there
    as in the whole-tree path."""
    from .test_reach_streaming import _brief, scan_both_ways

    tree = {
        "aaa/registry.py": "import json\n\nfrom zzz.io import load_blob\n\n"
        'HANDLERS = {"json": json.loads, "pickle": load_blob}\n',
        "mid/dispatch.py": "from aaa.registry import HANDLERS\n\n\ndef main(fmt, data):\n"
        "    return HANDLERS[fmt](data)\n",
        "mid/call.py": "from zzz.io import restore\n\n\ndef main(data):\n    return restore(data)\n",
        "mid/factory.py": "from zzz.fac import make_loader\n\n\ndef main(data):\n"
        "    return make_loader()(data)\n",
        "zzz/io.py": HELPER
        + "\n\n"
        + RESTORE.replace("import pickle\n", "")
        + "\n\nrestore = Restore()\n",
        "zzz/fac.py": FACTORY,
    }
    streamed = scan_both_ways(tmp_path, tree, monkeypatch)
    got = {p: m for _r, p, _n, m in _brief(streamed) if p.startswith("mid/")}
    assert (
        "mid/dispatch.py:5 calls zzz.io.load_blob -> pickle.loads (zzz/io.py:5)"
        in got["mid/dispatch.py"]
    ), got
    assert "zzz.io.Restore.__call__ -> pickle.loads" in got["mid/call.py"], got
    assert "zzz.fac.make_loader._load -> pickle.loads" in got["mid/factory.py"], got

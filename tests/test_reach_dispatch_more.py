"""What facts version 10's dispatch left out, closed by version 11 (issue #16
"across functions and files"; docs/checks/reach.md).

1. A dict value that is a lambda or a ``functools.partial`` of a
   sink-reaching function (``{"pickle": lambda b: load_blob(b)}``,
   ``{"ckpt": partial(torch.load, weights_only=False)}``).
2. A dict that is a class attribute (``class Loader: HANDLERS = {...}``,
   or ``self.handlers = {...}`` in ``__init__``), called as
   ``self.HANDLERS[k](x)``, ``cls.HANDLERS.get(k)(x)`` or
   ``Loader.HANDLERS[k](x)`` from another file, through a base class too.
3. A registry decorator written beside its dict (``@register("pickle")``
   where ``register`` returns a def storing its argument in ``CODECS``, or a
   bare ``@register``), then ``CODECS[fmt](x)`` or ``get_codec(fmt)(x)``.
4. A module chosen at run time and a callable looked up in it by name, in
   two statements (``mod = importlib.import_module(spec); fn = getattr(mod,
   name)``): ``getattr(import_module(spec), name)`` split so that no line
   shows both, a dynamic-code sink as the nested form is.

Each attack is written as an insider would: the sink sits in an unchanged
helper file, and the change adds only the call (the import, where the old
code already reported it, is in the base version). Each must block at the
added call with ``reach-dangerous-call`` and fails on facts version 10. The
look-alikes are real training idioms that stay quiet: activation tables of
lambdas, ``partial(torch.load, weights_only=True)``, torchtune-style class
tables of optimizer classes, ``nn.ModuleList``/``nn.ModuleDict`` indexed and
called, a plugin module's fixed entry point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, assert_blocks_at, train_change

PKG = {"utils/__init__.py": ""}
HELPER = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
CHAIN = "utils.io.load_blob -> pickle.loads (utils/io.py:5)"
# utils/codecs.py: a registry decorator, two codecs registered with it, a getter
CODECS = (
    "import json\nimport pickle\n\nCODECS = {}\n\n\ndef register(name):\n"
    "    def deco(fn):\n        CODECS[name] = fn\n        return fn\n\n    return deco\n\n\n"
    '@register("json")\ndef _json(b):\n    return json.loads(b)\n\n\n'
    '@register("pickle")\ndef _pickle(b):\n    return pickle.loads(b)\n\n\n'
    "def get_codec(name):\n    return CODECS[name]\n"
)
LOADER = (
    "import json\n\nfrom utils.io import load_blob\n\n\nclass Loader:\n"
    '    HANDLERS = {"json": json.loads, "pickle": load_blob}\n\n'
    "    def decode(self, fmt, data):\n        return json.loads(data)\n"
)


def _train(imports: str, old: str, new: str) -> tuple[str, str]:
    """train.py before and after: ``main(fmt, data)`` runs ``old``, then
    ``new`` too (the added lines); the imports are in both."""
    head = f"{imports}\n\n\ndef main(fmt, data):\n"
    body = "".join(f"    {x}\n" for x in old.splitlines())
    added = "".join(f"    {x}\n" for x in new.splitlines())
    return head + body, head + added + body


# name: (base files, (old train.py, new train.py), line of the call, message part)
ATTACKS: dict[str, tuple[dict[str, str], tuple[str, str], int, str]] = {
    # 1. lambdas and partials as dict values
    "a lambda value calling the helper": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": "import json\n\nfrom utils.io import load_blob\n\n"
            'HANDLERS = {"json": json.loads, "pickle": lambda b: load_blob(b)}\n',
        },
        _train(
            "from utils.registry import HANDLERS", "return sorted(HANDLERS)", "HANDLERS[fmt](data)"
        ),
        5,
        "train.py:5 calls utils.registry.HANDLERS.<lambda:5:43> -> " + CHAIN,
    ),
    "a lambda stored by HANDLERS[k] = ..., called through .get": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": "from utils.io import load_blob\n\nHANDLERS = {}\n"
            'HANDLERS["pickle"] = lambda b, **kw: load_blob(b)\n',
        },
        _train(
            "from utils.registry import HANDLERS",
            "return sorted(HANDLERS)",
            "fn = HANDLERS.get(fmt)\nfn(data)",
        ),
        6,
        CHAIN,
    ),
    "a partial of torch.load with weights_only=False": (
        {
            **PKG,
            "utils/registry.py": "from functools import partial\n\nimport torch\n\n"
            'LOADERS = {"state": partial(torch.load, map_location="cpu", weights_only=False)}\n',
        },
        _train(
            "from utils.registry import LOADERS", "return sorted(LOADERS)", "LOADERS[fmt](data)"
        ),
        5,
        "utils.registry.LOADERS.<partial:5:21> -> torch.load (utils/registry.py:5)",
    ),
    "a partial of the helper": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": "import functools\n\nfrom utils.io import load_blob\n\n"
            "HANDLERS = dict(pickle=functools.partial(load_blob))\n",
        },
        _train(
            "from utils.registry import HANDLERS",
            "return sorted(HANDLERS)",
            'HANDLERS["pickle"](data)',
        ),
        5,
        CHAIN,
    ),
    # 2. class-attribute dicts
    "Loader.HANDLERS[fmt](data) from another file": (
        {**PKG, "utils/io.py": HELPER, "utils/loader.py": LOADER},
        _train("from utils.loader import Loader", "return Loader", "Loader.HANDLERS[fmt](data)"),
        5,
        "train.py:5 calls " + CHAIN,
    ),
    "Loader().HANDLERS.get(fmt)(data)": (
        {**PKG, "utils/io.py": HELPER, "utils/loader.py": LOADER},
        _train(
            "from utils.loader import Loader", "return Loader", "Loader().HANDLERS.get(fmt)(data)"
        ),
        5,
        CHAIN,
    ),
    "self.HANDLERS[fmt] in a subclass, the dict in the base's file": (
        {**PKG, "utils/io.py": HELPER, "utils/loader.py": LOADER},
        (
            "from utils.loader import Loader\n\n\nclass Fast(Loader):\n"
            "    def decode(self, fmt, data):\n        return None\n",
            "from utils.loader import Loader\n\n\nclass Fast(Loader):\n"
            "    def decode(self, fmt, data):\n        return self.HANDLERS[fmt](data)\n",
        ),
        6,
        CHAIN,
    ),
    "cls.HANDLERS.get(fmt)(data) in a classmethod": (
        {**PKG, "utils/io.py": HELPER, "utils/loader.py": LOADER},
        (
            "from utils.loader import Loader\n\n\nclass Fast(Loader):\n    @classmethod\n"
            "    def run(cls, fmt, data):\n        return None\n",
            "from utils.loader import Loader\n\n\nclass Fast(Loader):\n    @classmethod\n"
            "    def run(cls, fmt, data):\n        return cls.HANDLERS.get(fmt)(data)\n",
        ),
        7,
        CHAIN,
    ),
    "the dict bound in __init__, a value a method of the class": (
        {
            **PKG,
            "utils/loader.py": "import json\nimport pickle\n\n\nclass Loader:\n"
            "    def __init__(self):\n"
            '        self.handlers = {"json": json.loads, "pickle": self._pickle}\n\n'
            "    def _pickle(self, b):\n        return pickle.loads(b)\n",
        },
        (
            "from utils.loader import Loader\n\n\nclass Fast(Loader):\n"
            "    def decode(self, fmt, data):\n        return None\n",
            "from utils.loader import Loader\n\n\nclass Fast(Loader):\n"
            "    def decode(self, fmt, data):\n        return self.handlers[fmt](data)\n",
        ),
        6,
        "utils.loader.Loader._pickle -> pickle.loads (utils/loader.py:10)",
    ),
    "a class body's dict naming a staticmethod of the class": (
        {
            **PKG,
            "utils/loader.py": "import pickle\n\n\nclass Loader:\n    @staticmethod\n"
            "    def _pickle(b):\n        return pickle.loads(b)\n\n"
            '    HANDLERS = {"pickle": _pickle}\n',
        },
        _train("from utils.loader import Loader", "return Loader", "Loader.HANDLERS[fmt](data)"),
        5,
        "utils.loader.Loader._pickle -> pickle.loads (utils/loader.py:7)",
    ),
    "filled at module level: Loader.HANDLERS[k] = f": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/loader.py": "from utils.io import load_blob\n\n\nclass Loader:\n"
            "    HANDLERS = {}\n\n\nLoader.HANDLERS['pickle'] = load_blob\n",
        },
        _train("from utils.loader import Loader", "return Loader", "Loader.HANDLERS[fmt](data)"),
        5,
        CHAIN,
    ),
    # 3. a registry decorator of the dict's own file
    'get_codec(fmt)(data): @register("pickle") in the registry\'s file': (
        {**PKG, "utils/codecs.py": CODECS},
        _train("from utils.codecs import get_codec", "return None", "get_codec(fmt)(data)"),
        5,
        "train.py:5 calls utils.codecs._pickle -> pickle.loads (utils/codecs.py:22)",
    ),
    'CODECS["pickle"](data), the key the decorator passes': (
        {**PKG, "utils/codecs.py": CODECS},
        _train("from utils.codecs import CODECS", "return None", 'CODECS["pickle"](data)'),
        5,
        "utils.codecs._pickle -> pickle.loads (utils/codecs.py:22)",
    ),
    "a bare @register keyed by fn.__name__, a class registered": (
        {
            **PKG,
            "utils/codecs.py": "import pickle\n\nREGISTRY = {}\n\n\ndef register(fn):\n"
            "    REGISTRY[fn.__name__] = fn\n    return fn\n\n\n@register\nclass Restore:\n"
            "    def __init__(self, b):\n        self.state = pickle.loads(b)\n",
        },
        _train("from utils.codecs import REGISTRY", "return None", "REGISTRY[fmt](data)"),
        5,
        "utils.codecs.Restore.__init__ -> pickle.loads (utils/codecs.py:14)",
    ),
    # 4. a callable chosen by name in a module chosen at run time, in two statements
    "mod = import_module(spec); getattr(mod, name)": (
        {
            **PKG,
            "utils/plugins.py": "import importlib\n\n\ndef call_plugin(spec, *args):\n"
            '    mod_name, fn_name = spec.rsplit(":", 1)\n'
            "    mod = importlib.import_module(mod_name)\n"
            "    fn = getattr(mod, fn_name)\n    return fn(*args)\n",
        },
        _train("from utils.plugins import call_plugin", "return None", "call_plugin(fmt, data)"),
        5,
        "utils.plugins.call_plugin -> builtins.dynattr (utils/plugins.py:8)",
    ),
    "mod = __import__(name, fromlist=...); getattr(mod, attr)(...) in a nested def": (
        {
            **PKG,
            "utils/plugins.py": "def run(path, *args):\n    mod_name, attr = path.rsplit('.', 1)\n"
            "    mod = __import__(mod_name, fromlist=[attr])\n\n    def call():\n"
            "        return getattr(mod, attr)(*args)\n\n    return call()\n",
        },
        _train("from utils.plugins import run", "return None", "run(fmt, data)"),
        5,
        "utils.plugins.run -> utils.plugins.run.call -> builtins.dynattr (utils/plugins.py:6)",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_hidden_dispatch_blocks_at_the_added_call(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, (old, new), line, part = ATTACKS[name]
    assert_blocks_at(train_change(repo, capsys, base, old, new), line, part)


def test_a_lambda_value_added_in_the_changed_file_is_reported_once(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lambda's call is its writer's too (the module body, as before) and
    the def's copy is an edge only: the added line gives one finding."""
    _repo(repo, {**PKG, "utils/io.py": HELPER})
    repo.write(
        "train.py",
        "from utils.io import load_blob\n\n"
        'HANDLERS = {"pickle": lambda b: load_blob(b)}\n\n\n'
        "def main(fmt, data):\n    return HANDLERS[fmt](data)\n",
    )
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert [(f["line"], f["column"]) for f in found] == [(3, 33), (7, 12)], found
    assert all(f["rule_id"] == "reach-dangerous-call" for f in found), found
    assert "train.py:7 calls train.HANDLERS.<lambda:3:23> -> " + CHAIN in found[1]["message"]
    assert code == 1


# -- look-alikes: quiet ---------------------------------------------------------

LOOKALIKES: dict[str, tuple[dict[str, str], tuple[str, str]]] = {
    "an activation table of lambdas": (
        {
            **PKG,
            "utils/act.py": "import torch.nn.functional as F\n\n"
            'ACT = {"relu": lambda x: F.relu(x), "gelu": lambda x: F.gelu(x, approximate="tanh"),'
            ' "id": lambda x: x}\n',
        },
        _train("from utils.act import ACT", "return sorted(ACT)", "ACT[fmt](data)"),
    ),
    "partial(torch.load, weights_only=True) in a table": (
        {
            **PKG,
            "utils/ckpt.py": "from functools import partial\n\nimport torch\nimport safetensors.torch\n\n"
            'LOADERS = {"pt": partial(torch.load, map_location="cpu", weights_only=True),\n'
            '           "st": safetensors.torch.load_file}\n',
        },
        _train("from utils.ckpt import LOADERS", "return sorted(LOADERS)", "LOADERS[fmt](data)"),
    ),
    "the harmless key of a mixed table of lambdas": (
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/registry.py": "import json\n\nfrom utils.io import load_blob\n\n"
            'HANDLERS = {"json": lambda b: json.loads(b), "pickle": lambda b: load_blob(b)}\n',
        },
        _train(
            "from utils.registry import HANDLERS",
            "return sorted(HANDLERS)",
            'HANDLERS["json"](data)',
        ),
    ),
    "a torchtune-style class table of optimizer classes": (
        {
            **PKG,
            "utils/recipe.py": "import torch\n\n\nclass Recipe:\n"
            '    _OPTIMIZERS = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}\n\n'
            "    def optimizer(self, name, params):\n        return None\n",
        },
        (
            "from utils.recipe import Recipe\n\n\nclass Mine(Recipe):\n"
            "    def optimizer(self, name, params):\n        return None\n",
            "from utils.recipe import Recipe\n\n\nclass Mine(Recipe):\n"
            "    def optimizer(self, name, params):\n"
            "        return self._OPTIMIZERS[name](params, lr=1e-3)\n",
        ),
    ),
    "nn.ModuleList and nn.ModuleDict indexed and called": (
        {
            **PKG,
            "utils/model.py": "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n"
            "        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])\n"
            '        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2)})\n',
        },
        (
            "from utils.model import Net\n\n\nclass Mine(Net):\n"
            "    def forward(self, x, task):\n        return x\n",
            "from utils.model import Net\n\n\nclass Mine(Net):\n"
            "    def forward(self, x, task):\n        for i in range(3):\n"
            "            x = self.blocks[i](x)\n        return self.heads[task](x)\n",
        ),
    ),
    "a class table of transforms (lambdas) bound in __init__": (
        {
            **PKG,
            "utils/data.py": "class Data:\n    def __init__(self):\n"
            '        self.tf = {"train": lambda x: x.flip(-1), "val": lambda x: x}\n',
        },
        (
            "from utils.data import Data\n\n\nclass Mine(Data):\n"
            "    def get(self, x, split):\n        return x\n",
            "from utils.data import Data\n\n\nclass Mine(Data):\n"
            "    def get(self, x, split):\n        return self.tf[split](x)\n",
        ),
    ),
    "a plugin's fixed entry point; literal lookups; a device spec's constants; a fixed module's function by name": (
        {
            **PKG,
            "utils/plugins.py": "import importlib\n\n\ndef load_plugin(name):\n"
            '    mod = importlib.import_module(f"plugins.{name}")\n    return mod.setup()\n\n\n'
            "def codec():\n    mod = importlib.import_module('json')\n"
            "    return getattr(mod, 'loads')\n\n\ndef field(obj, name):\n"
            "    return getattr(obj, name)\n\n\ndef device_fns(spec, table):\n"
            "    mod = importlib.import_module(spec)\n"
            '    table["seed"] = getattr(mod, "MANUAL_SEED_FN", None)\n'
            '    if getattr(mod, "SINGLE_PROCESS", False):\n        table["single"] = True\n\n\n'
            "def available(name):\n    flags = importlib.import_module('utils.flags')\n"
            "    check = getattr(flags, f'is_{name}_available', None)\n"
            "    return callable(check) and check()\n",
        },
        _train(
            "from utils.plugins import available, codec, device_fns, field, load_plugin",
            "return None",
            "load_plugin(fmt)\ncodec()(data)\nfield(data, fmt)\ndevice_fns(fmt, {})\n"
            "available(fmt)",
        ),
    ),
}


LOOKALIKES.update(
    {
        "the harmless key of a registry": (
            {**PKG, "utils/codecs.py": CODECS},
            _train(
                "from utils.codecs import CODECS",
                "return None",
                'CODECS["json"](data)',
            ),
        ),
        "a timm-style model registry in one file": (
            {
                **PKG,
                "utils/models.py": "import torch.nn as nn\n\n_model_entrypoints = {}\n\n\n"
                "def register_model(fn):\n    _model_entrypoints[fn.__name__] = fn\n    return fn\n\n\n"
                "@register_model\ndef resnet18(pretrained=False, **kwargs):\n"
                "    return nn.Linear(4, 4)\n\n\n"
                "def create_model(name, **kwargs):\n    return _model_entrypoints[name](**kwargs)\n",
            },
            _train(
                "from utils.models import _model_entrypoints, create_model",
                "return None",
                'create_model(fmt)(data)\n_model_entrypoints["resnet18"]()(data)',
            ),
        ),
    }
)


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_a_harmless_table_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, (old, new) = LOOKALIKES[name]
    _code, found, doc = train_change(repo, capsys, base, old, new, who="alice")
    assert (found, doc["errors"]) == ([], [])


def test_a_scan_streamed_finds_what_the_whole_tree_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scan`` streams the tree file by file (tests/test_reach_streaming.py):
    a lambda table, a base class's dict and a registry streamed after their
    callers (each with a sink of its own: a scan points at a sink once) are
    followed there as in the whole-tree path, and a lambda's copied calls
    (``anon``) are not judged twice."""
    from .test_reach_streaming import _brief, scan_both_ways

    tree = {
        "zzz/table.py": 'import pickle\n\nHANDLERS = {"pickle": lambda b: pickle.loads(b)}\n',
        "mid/table.py": "from zzz.table import HANDLERS\n\n\ndef main(fmt, data):\n"
        "    return HANDLERS[fmt](data)\n",
        "mid/sub.py": "from zzz.loader import Loader\n\n\nclass Fast(Loader):\n"
        "    def run(self, fmt, data):\n        return self.HANDLERS[fmt](data)\n",
        "mid/reg.py": "from zzz.codecs import get_codec\n\n\ndef main(fmt, data):\n"
        "    return get_codec(fmt)(data)\n",
        "zzz/io.py": HELPER,
        "zzz/loader.py": LOADER.replace("utils.io", "zzz.io"),
        "zzz/codecs.py": CODECS,
    }
    streamed = scan_both_ways(tmp_path, tree, monkeypatch)
    got = {p: m for _r, p, _n, m in _brief(streamed) if p.startswith("mid/")}
    # the import runs the table's module body, which writes the lambda (as
    # before): its sink is pointed at there, once
    assert "-> pickle.loads (zzz/table.py:3)" in got["mid/table.py"], got
    assert "zzz.io.load_blob -> pickle.loads" in got["mid/sub.py"], got
    assert "zzz.codecs._pickle -> pickle.loads" in got["mid/reg.py"], got
    lines = [(p, n) for _r, p, n, _m in _brief(streamed)]
    assert len(lines) == len(set(lines)), lines

"""A looked-up callable returned and called elsewhere (issue #16 "across
functions and files"; docs/checks/reach.md, facts version 12).

Facts version 11 made ``mod = import_module(m); getattr(mod, n)(x)``, with
neither name a literal, the dynamic-code sink ``builtins.dynattr`` where the
result is called. A helper that *returns* the lookup instead (hydra's
``_locate``, a recipe's ``"pkg.mod:fn"`` resolver) left the call in another
file, where no lookup is written: ``locate(spec)(state)`` or ``fn =
locate(spec); fn(state)`` ran whatever the spec named without a finding. A
call of such a function's result is now that sink, as a call of a returned
``pickle.loads`` is (the factories of version 10).

Each attack keeps the helper unchanged and adds only the call; each blocks
with ``reach-dangerous-call`` at the added line and fails on facts version
11. The look-alikes stay quiet: a lookup in a literal module
(``getattr(torch.optim, name)``), a class returned by a transformers-style
auto mapping and used through a classmethod, not called, a returned lookup
that is only inspected, and a plugin's fixed entry point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Repo
from .test_reach import assert_blocks_at, train_change

PKG = {"utils/__init__.py": ""}
# The split lookup, returned (the evasion variant's helper).
LOCATE = (
    "import importlib\n\n\ndef locate(spec):\n"
    '    module_name, _, attr = spec.partition(":")\n'
    "    module = importlib.import_module(module_name)\n"
    "    return getattr(module, attr)\n"
)
SINK = "utils.hooks.locate -> builtins.dynattr (utils/hooks.py:7)"


def _train(imports: str, new: str) -> tuple[str, str]:
    """train.py before and after: ``main(cfg, state)`` with ``new`` added."""
    head = f"{imports}\n\n\ndef main(cfg, state):\n"
    added = "".join(f"    {x}\n" for x in new.splitlines())
    return head + "    return None\n", head + added + "    return None\n"


# name: (base files, (old train.py, new train.py), line of the call, message part)
ATTACKS: dict[str, tuple[dict[str, str], tuple[str, str], int, str]] = {
    "locate(spec)(state)": (
        {**PKG, "utils/hooks.py": LOCATE},
        _train("from utils.hooks import locate", "locate(cfg.hook)(state)"),
        5,
        SINK,
    ),
    "fn = locate(spec); fn(state)": (
        {**PKG, "utils/hooks.py": LOCATE},
        _train("from utils.hooks import locate", "fn = locate(cfg.hook)\nfn(state)"),
        6,
        SINK,
    ),
    "hook = locate(spec) if spec else None; hook(state)": (
        {**PKG, "utils/hooks.py": LOCATE},
        _train(
            "from utils.hooks import locate",
            "hook = locate(cfg.hook) if cfg.hook else None\nif hook is not None:\n    hook(state)",
        ),
        7,
        SINK,
    ),
    "the lookup bound to a local, then returned": (
        {
            **PKG,
            "utils/hooks.py": "import importlib\n\n\ndef locate(spec):\n"
            '    module_name, attr = spec.rsplit(".", 1)\n'
            "    module = importlib.import_module(module_name)\n"
            "    fn = getattr(module, attr, None)\n    return fn\n",
        },
        _train("from utils.hooks import locate", "locate(cfg.hook)(state)"),
        5,
        "utils.hooks.locate -> builtins.dynattr (utils/hooks.py:8)",
    ),
    "__import__(m, fromlist=[n]), returned by one side of an if/else": (
        {
            **PKG,
            "utils/hooks.py": "def locate(spec, default=None):\n"
            '    mod_name, attr = spec.rsplit(".", 1)\n'
            "    mod = __import__(mod_name, fromlist=[attr])\n"
            "    return getattr(mod, attr) if attr else default\n",
        },
        _train("from utils.hooks import locate", "locate(cfg.hook)(state)"),
        5,
        "utils.hooks.locate -> builtins.dynattr (utils/hooks.py:4)",
    ),
    "a method returning the lookup, called on an instance": (
        {
            **PKG,
            "utils/hooks.py": "import importlib\n\n\nclass Resolver:\n"
            "    def locate(self, spec):\n"
            '        module_name, _, attr = spec.partition(":")\n'
            "        module = importlib.import_module(module_name)\n"
            "        return getattr(module, attr)\n",
        },
        _train("from utils.hooks import Resolver", "Resolver().locate(cfg.hook)(state)"),
        5,
        "utils.hooks.Resolver.locate -> builtins.dynattr (utils/hooks.py:8)",
    ),
    "a wrapper in a third file returning locate's result, re-exported": (
        {
            "utils/__init__.py": "from utils.recipes import hook_of\n",
            "utils/hooks.py": LOCATE,
            "utils/recipes.py": "from utils.hooks import locate\n\n\n"
            "def hook_of(cfg):\n    return locate(cfg.hook)\n",
        },
        _train("from utils import hook_of", "hook_of(cfg)(state)"),
        5,
        "utils.recipes.hook_of -> " + SINK,
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_call_of_a_returned_lookup_blocks_at_the_added_call(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, (old, new), line, part = ATTACKS[name]
    got = assert_blocks_at(train_change(repo, capsys, base, old, new), line, part)
    assert "chosen by name at run time returned by a repository" in got["message"], got


# -- look-alikes: quiet ---------------------------------------------------------

AUTO = (
    "import importlib\n\n"
    'MAPPING = {"bert": "BertModel", "gpt2": "GPT2Model"}\n\n\n'
    "def model_class(model_type):\n"
    '    module = importlib.import_module(f".{model_type}", "transformers.models")\n'
    "    return getattr(module, MAPPING[model_type])\n"
)
LOOKALIKES: dict[str, tuple[dict[str, str], tuple[str, str]]] = {
    "getattr(torch.optim, name) returned and called": (
        {
            **PKG,
            "utils/optim.py": "import torch\n\n\ndef optimizer_class(name):\n"
            "    return getattr(torch.optim, name)\n",
        },
        _train(
            "from utils.optim import optimizer_class",
            "opt = optimizer_class(cfg.optim)(state.parameters(), lr=cfg.lr)",
        ),
    ),
    "an auto class returned and used through from_pretrained": (
        {**PKG, "utils/auto.py": AUTO},
        _train(
            "from utils.auto import model_class",
            "cls = model_class(cfg.model_type)\nmodel = cls.from_pretrained(cfg.path)\n"
            "model2 = model_class(cfg.model_type).from_config(cfg)",
        ),
    ),
    "a returned lookup only inspected, never called": (
        {**PKG, "utils/hooks.py": LOCATE},
        _train(
            "from utils.hooks import locate",
            "fn = locate(cfg.hook)\nprint(fn.__name__, callable(fn))\n"
            "assert isinstance(state, locate(cfg.state_cls))",
        ),
    ),
    "a plugin's fixed entry point and a fixed module's function by name": (
        {
            **PKG,
            "utils/plugins.py": "import importlib\n\n\ndef entry(name):\n"
            "    mod = importlib.import_module(name)\n    return getattr(mod, 'setup')\n\n\n"
            "def metric(name):\n"
            '    mod = importlib.import_module("utils.metrics")\n    return getattr(mod, name)\n',
            "utils/metrics.py": "def accuracy(p, y):\n    return (p == y).mean()\n",
        },
        _train(
            "from utils.plugins import entry, metric",
            "entry(cfg.plugin)(state)\nmetric(cfg.metric)(state, state)",
        ),
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_a_harmless_returned_lookup_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, (old, new) = LOOKALIKES[name]
    _code, found, doc = train_change(repo, capsys, base, old, new, who="alice")
    assert (found, doc["errors"]) == ([], [])


def test_a_scan_streamed_finds_what_the_whole_tree_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scan`` streams the tree file by file: a helper streamed after its
    caller is followed there as in the whole-tree path."""
    from .test_reach_streaming import _brief, scan_both_ways

    tree = {
        "mid/loop.py": "from zzz.hooks import locate\n\n\ndef main(cfg, state):\n"
        "    fn = locate(cfg.hook)\n    return fn(state)\n",
        "zzz/hooks.py": LOCATE,
    }
    streamed = scan_both_ways(tmp_path, tree, monkeypatch)
    got = [(p, n, m) for _r, p, n, m in _brief(streamed)]
    assert [(p, n) for p, n, _m in got] == [("mid/loop.py", 6)], got
    assert "zzz.hooks.locate -> builtins.dynattr (zzz/hooks.py:7)" in got[0][2], got

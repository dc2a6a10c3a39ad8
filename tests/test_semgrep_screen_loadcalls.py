"""The call-node screen atoms (loadcalls.py, issue #17): deser-torch-load-unsafe
runs only on units whose calls could reach one of its branches, deser-pickle-load
only where a loader is read from a pickle-like module.

Soundness against semgrep itself is test_semgrep_screen.py's oracle (with
tests/fixtures/screen/s24_HA_torch_calls.py: aliases, a getattr, partials, a
handler, writes through an alias; s24_HA_pickle_receivers.py); here: what the
atoms read, and that the benign loads of a training library are screened out.
"""

from __future__ import annotations

from typing import Any

import pytest

from traingate.checks.semgrep import screen

from .test_rules_pack import RULES_DIR

RULE = "deser-torch-load-unsafe"


def _mask(source: str) -> str:
    screens, _ = screen.read([RULES_DIR / "unsafe-deserialization" / f"{RULE}.yaml"])
    return screens.mask(source)


@pytest.mark.parametrize(
    "source",
    [
        'import torch\ndef f(p):\n    return torch.load(p, map_location="cpu")\n',
        "import torch\ndef f(p):\n    return torch.load(p, map_location='cpu', weights_only=True)\n",
        # `load` in module code, and a benign `**` call beside the load
        "import json, torch\nCFG = json.load(open('c.json'))\n"
        "def f(p, **kw):\n    model = torch.load(p)\n    return model(**kw)\n",
        # an except handler around something else
        "import torch\ndef f(p):\n    try:\n        x = torch.load(p)\n    except OSError:\n"
        "        log(p)\n",
        # a safe load in the handler's try body, a partial of another callable
        "import functools, torch\ndef f(p, a, b):\n    g = functools.partial(print, a, b, p)\n"
        "    return torch.load(p), g\n",
        # a write to another object's `load`
        "import torch\nclass Q:\n    def __init__(self):\n        self.load = 0\n"
        "    def f(self, p):\n        return torch.load(p)\n",
        # the result of a load is no loader: `state(**kw)` calls no loader
        "import torch\ndef f(p, kw):\n    state = torch.load(p)\n    return state(**kw)\n",
    ],
)
def test_benign_loads_are_screened_out(source: str) -> None:
    assert _mask(source) == "0"


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ndef f(p):\n    return torch.load(p, weights_only=False)\n",
        "import torch\ndef f(p, w):\n    return torch.load(p, weights_only=w)\n",
        "import torch\ndef f(p, kw):\n    return torch.load(p, **kw)\n",
        "import torch, pickle\ndef f(p):\n    return torch.load(p, pickle_module=pickle)\n",
        "import torch, pickle\ndef f(p):\n    return torch.load(p, None, pickle)\n",
        "import torch\ndef f(p):\n    try:\n        return torch.load(p, weights_only=True)\n"
        "    except Exception:\n        return torch.load(p)\n",
        "import torch\ndef f(p, pk):\n    ld = torch.load\n    return ld(p, pickle_module=pk)\n",
        "import torch\nLD = torch.load\ndef f(p, pk):\n    return LD(p, pickle_module=pk)\n",
        "import torch\ndef f(p, pk, ld=torch.load):\n    return ld(p, pickle_module=pk)\n",
        "from torch import load as L\ndef f(p, kw):\n    return L(p, **kw)\n",
        "import torch\ndef f(p, pk):\n    return getattr(torch, 'load')(p, pickle_module=pk)\n",
        "import torch\ndef f(p, pk):\n    ld = getattr(torch, 'lo' + 'ad')\n    return ld(p, None, pk)\n",
        "import torch\nfrom functools import partial as bind\ndef f(p, pk):\n"
        "    return bind(torch.load, p, None, pk)\n",
        "import torch\ndef f(evil):\n    mod = torch\n    mod.load = evil\n",
        "import torch\ndef f(evil):\n    torch.serialization.load = evil\n",
        "import torch\ndef f(evil):\n    setattr(torch, 'lo' + 'ad', evil)\n",
        "import torch\nclass C:\n    def f(self, p, ckpt):\n"
        "        return ckpt.load_from_checkpoint(p, weights_only=False)\n",
        # module code: every unit
        "import torch, pickle\nLD = torch.load(P, None, pickle)\ndef f():\n    pass\n",
    ],
)
def test_loads_the_rule_can_match_are_screened_in(source: str) -> None:
    assert _mask(source) == "1"


def test_the_unit_is_the_function_holding_the_call() -> None:
    source = (
        "import torch\n"
        "def plain(p):\n    return torch.load(p, map_location='cpu')\n"
        "def risky(p, kw):\n    return torch.load(p, **kw)\n"
        "def other(p):\n    return p\n"
    )
    spec = {"loader-call": {"names": ["load"], "keywords": ["pickle_module"]}}
    test = screen.compile_screen(spec)
    found = screen.facts(source)
    assert found is not None and test(found)
    assert [test(u) for u in found.units()] == [False, True, False]


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        ("import torch\ntorch.load = f\n", True),
        ("import torch as t\nt.load = f\n", True),
        ("import torch\nm = torch\nm.load = f\n", True),
        ("__import__('torch').load = f\n", True),  # no name: any module
        ("from torch import *\nx.load = f\n", True),  # a star import: any name
        ("def f(self, x):\n    self.load = x\n", False),
        ("import torch\ndef f(q, x):\n    q.load = x\n", False),
    ],
)
def test_loader_call_writes_hang_from_a_module(source: str, wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    test = screen.compile_screen({"loader-call": {"names": ["load"], "keywords": []}})
    assert test(found) is wanted


@pytest.mark.parametrize(
    ("spec", "source", "wanted"),
    [
        ({"keyword-not-true": "weights_only"}, "f(x, weights_only=True)\n", False),
        ({"keyword-not-true": "weights_only"}, "f(x, weights_only=False)\n", True),
        ({"keyword-not-true": ["weights_only"]}, "f(x, weights_only=flag)\n", True),
        ({"keyword-not-true": "weights_only"}, "weights_only = False\nf(x)\n", False),
    ],
)
def test_keyword_not_true(spec: Any, source: str, wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    assert screen.compile_screen(spec)(found) is wanted


@pytest.mark.parametrize(
    "spec",
    [
        {"loader-call": {"names": []}},
        {"loader-call": {"names": [], "keywords": []}},
        {"loader-call": {"names": ["not valid"], "keywords": []}},
        {"loader-call": ["load"]},
        {"keyword-not-true": []},
        {"keyword-not-true": "not valid"},
        {"module-attr": {"attrs": ["loads"], "modules": ["pickle"]}},
        {"module-attr": {"attrs": [], "modules": ["pickle"], "calls": [], "tables": []}},
    ],
)
def test_a_bad_atom_is_refused(spec: Any) -> None:
    with pytest.raises(screen.ScreenError):
        screen.compile_screen(spec)


_PICKLE = {
    "module-attr": {
        "attrs": ["load", "loads", "Unpickler"],
        "modules": ["pickle", "joblib"],
        "calls": ["__import__", "import_module"],
        "tables": ["modules"],
    }
}


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        ("import json\nimport pickle\nclass P(pickle.Pickler):\n    pass\njson.load(f)\n", False),
        ("import importlib, json\nm = importlib.import_module(n)\njson.loads(s)\n", False),
        ("import pickle\npickle.loads(b)\n", True),
        ("import pickle as pk\npk.loads(b)\n", True),
        ("import pickle\nm = pickle\nm.loads(b)\n", True),
        ("m = __import__('pickle')\nm.loads(b)\n", True),
        ("import importlib\nimportlib.import_module('joblib').load(f)\n", True),
        ("from importlib import import_module as imp\nimp('joblib').load(f)\n", True),
        ("import sys\nsys.modules[n].loads(b)\n", True),
        ("import sys\nt = sys.modules\nt[n].loads(b)\n", True),
        ("from pickle import loads as restore\nrestore(b)\n", True),
        ("from pickle import *\nloads(b)\n", True),
        ("import pickle\nclass U(pickle.Unpickler):\n    pass\n", True),
        ("import pickle, dill\n(pickle if a else dill).loads(b)\n", True),
        ("x.pickle.loads(b)\n", True),
    ],
)
def test_module_attr_reads_the_receiver(source: str, wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    assert screen.compile_screen(_PICKLE)(found) is wanted


def test_the_pickle_screen_drops_a_json_load_beside_a_pickler() -> None:
    screens, _ = screen.read([RULES_DIR / "unsafe-deserialization" / "deser-pickle-load.yaml"])
    source = (
        "import json\nimport pickle\n\nclass P(pickle.Pickler):\n    pass\n\n"
        "def read(path):\n    with open(path) as f:\n        return json.load(f)\n"
    )
    assert screens.mask(source) == "0"
    assert screens.mask(source + "\ndef undo(b):\n    return pickle.loads(b)\n") == "1"

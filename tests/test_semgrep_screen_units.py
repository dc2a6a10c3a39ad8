"""The ``unit`` screen atom (issue #17, screen.py / facts.py): a sub-screen
that must hold on one function or method, with everything semgrep can carry
into it from outside (module and class code, decorators, defaults, imports).

The attacks that split a guard from its payload across those boundaries are
in tests/fixtures/screen/unit_*.py: the oracle (test_semgrep_screen.py) runs
semgrep on them and requires each match to be screened in. Here: what a unit
holds, and the real training idioms the atom now screens out.
"""

from __future__ import annotations

from typing import Any

import pytest

from traingate.checks.semgrep import screen

from .test_rules_pack import RULES_DIR as _RULES

_DRAW_RAISE = {"unit": {"all": [{"name": "random"}, {"node": "Raise"}]}}


def _holds(spec: Any, source: str) -> bool:
    found = screen.facts(source)
    assert found is not None
    return screen.compile_screen(spec)(found)


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        # guard and payload in one function
        ("import random\ndef f():\n    if random.random() < .1:\n        raise E\n", True),
        # split across two functions: no unit holds both (benign: dropout in
        # one method, argument checks in another)
        (
            "import random\n"
            "def drop(x):\n    return x if random.random() > .1 else 0\n"
            "def check(x):\n    if x is None:\n        raise ValueError(x)\n",
            False,
        ),
        # a nested def belongs to its enclosing function
        ("def f():\n    r = random.random()\n    def g():\n        raise E\n", True),
        # module code is in every unit
        ("import random\nX = random.random()\ndef f():\n    raise E\n", True),
        # class code too (a class-level if around a method)
        (
            "class T:\n    if random.random() < .1:\n        def f(self):\n            raise E\n",
            True,
        ),
        # a method's default and decorator are evaluated outside it
        ("def f(x=random.random()):\n    pass\ndef g():\n    raise E\n", True),
        ("@pick(random.random())\ndef f():\n    pass\ndef g():\n    raise E\n", True),
        # a module with no function is one unit
        ("import random\nif random.random() < .1:\n    raise E\n", True),
        # an aliased import lends its module's names to every unit
        ("import numpy.random as npr\ndef f():\n    pass\ndef g():\n    raise E\n", True),
        ("from numpy import random as nr\ndef g():\n    raise E\n", True),
        ("from numpy import random\ndef g():\n    raise E\n", False),
        # a plain import lends nothing: a unit using it spells the name itself
        ("import random\ndef f():\n    pass\ndef g():\n    raise E\n", False),
        # an import inside a function is every unit's too
        ("def f():\n    import numpy.random as npr\ndef g():\n    raise E\n", True),
        # self.x set in __init__ is not carried into another method by semgrep
        (
            "import random\nclass T:\n"
            "    def __init__(self):\n        self.p = random.random\n"
            "    def step(self):\n        if self.p() < .1:\n            raise E\n",
            False,
        ),
    ],
)
def test_a_unit_is_a_function_with_what_semgrep_carries_into_it(source: str, wanted: bool) -> None:
    assert _holds(_DRAW_RAISE, source) is wanted


def test_the_whole_file_is_a_pre_test_and_units_are_per_file() -> None:
    found = screen.facts("def f():\n    a = 1\ndef g():\n    b = 2\n")
    assert found is not None
    units = found.units()
    assert [sorted(u.names) for u in units] == [["a", "f"], ["b", "g"]]
    assert units[0].units() == ()  # a unit has no units of its own
    assert not screen.compile_screen({"unit": {"all": [{"name": "a"}, {"name": "b"}]}})(found)
    assert screen.compile_screen({"unit": {"all": [{"name": "a"}, {"name": "f"}]}})(found)


def test_a_units_text_leaves_out_the_other_units_lines() -> None:
    # what each unit's text reads: tests/test_semgrep_screen_unit_runs.py
    source = "# rank zero\ndef f():\n    x = 1  # rank\n\ndef g():\n    y = 2\n"
    found = screen.facts(source)
    assert found is not None
    f, g = found.units()
    assert f.contains("# rank") and g.contains("# rank zero") and not g.contains("x = 1")
    spec = {"unit": {"all": [{"text": "#.*rank$"}, {"name": "y"}]}}
    assert not screen.compile_screen(spec)(found)
    assert screen.compile_screen({"unit": {"all": [{"words": "zero"}, {"name": "y"}]}})(found)


@pytest.mark.parametrize(
    ("rule", "source"),
    [
        # dropout in forward, an argument check in __init__ (modeling files)
        (
            "trigger-random-draw-sabotage",
            "import torch\nclass Drop(torch.nn.Module):\n"
            "    def __init__(self, p):\n        if not 0 <= p <= 1:\n"
            "            raise ValueError(p)\n        self.p = p\n"
            "    def forward(self, x):\n        mask = torch.rand(x.shape) > self.p\n"
            "        return x * mask\n",
        ),
        # a loss in one method, noise for data augmentation in another
        (
            "sabotage-random-loss-scaling",
            "import torch\nclass M:\n"
            "    def augment(self, x):\n        return x + torch.randn_like(x) * 0.1\n"
            "    def training_step(self, batch):\n        loss = self.model(batch).loss\n"
            "        loss = loss / self.accum\n        return loss\n",
        ),
        # rank-0 logging in one function, a loss update in another
        (
            "trigger-rank-conditional-sabotage",
            "import torch\n"
            "def log(msg):\n    if torch.distributed.get_rank() == 0:\n        print(msg)\n"
            "def step(loss, n):\n    loss = loss / n\n    return loss\n",
        ),
    ],
)
def test_benign_splits_are_screened_out(rule: str, source: str) -> None:
    screens, _ = screen.read(sorted(_RULES.rglob("*.yaml")))
    assert screens.mask(source)[screens.ids.index(rule)] == "0"


@pytest.mark.parametrize(
    "spec", [{"unit": {"all": []}}, {"node": "Call"}, {"node": []}, {"unit": "x"}]
)
def test_a_bad_unit_or_node_atom_is_refused(spec: Any) -> None:
    with pytest.raises(screen.ScreenError):
        screen.compile_screen(spec)

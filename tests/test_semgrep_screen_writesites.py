"""The node atoms of writesites.py (issue #17): which functions of a file each
admits. That they hold wherever their rules match is test_semgrep_screen.py's
oracle (tests/fixtures/screen/s24_HC_*.py hold the attacks); here, that they
drop what the old screens admitted for nothing, and that a bad spec is refused."""

from __future__ import annotations

import textwrap

import pytest

from traingate.checks.semgrep import screen

FW = ["torch", "numpy", "random"]
LOOKUPS = ["importlib", "import_module", "__import__", "getattr", "sys"]


def _admitted(spec: object, text: str) -> list[str]:
    """The names of the outermost functions whose unit the ``unit:`` screen admits."""
    f = screen.facts(textwrap.dedent(text))
    assert f is not None
    test = screen.compile_screen({"unit": spec})
    if not test(f):
        return []
    out = []
    for u in f.units():
        if screen.compile_screen(spec)(u):
            assert u.run is not None
            line = f.text[u.run[0] : u.run[1]]
            out.append(line.split("def ", 1)[1].split("(", 1)[0])
    return out


ATTR_WRITE = {"attr-write": {"roots": FW, "lookups": LOOKUPS}}


def test_attr_write_needs_a_framework_object() -> None:
    # setattr on self beside `import torch` admitted every such method until session 24
    text = """
        import torch
        from torch import optim as o
        from .modeling import Model

        def own(self, k, v):
            setattr(self, k, v)

        def relative(fn):
            Model.forward = fn

        def aliased(fn):
            o.SGD.step = fn

        def dynamic(fn):
            getattr(torch, "optim").Adam = fn

        def dunder(fn):
            vars(torch.nn)["relu"] = fn
    """
    assert _admitted(ATTR_WRITE, text) == ["aliased", "dynamic", "dunder"]


def test_attr_write_in_module_code_or_renamed_setattr_admits_every_function() -> None:
    module_write = """
        import numpy as np

        def a():
            return 1

        np.float = float

        def b():
            return 2
    """
    assert _admitted(ATTR_WRITE, module_write) == ["a", "b"]
    renamed = """
        from builtins import setattr as put

        def a(x):
            return x

        def b(t):
            put(t, "x", 1)
    """
    assert _admitted(ATTR_WRITE, renamed) == ["a", "b"]


def test_attr_write_lookup_needs_a_call_or_subscript() -> None:
    text = """
        import sys

        def plain(v):
            sys.argv = v

        def lookup(fn):
            sys.modules["torch"].manual_seed = fn
    """
    assert _admitted(ATTR_WRITE, text) == ["lookup"]


def test_helper_def_admits_the_helper_only() -> None:
    text = """
        def patch(target, name, value):
            setattr(target, name, value)

        def caller(fn):
            patch(fn, "x", 1)

        def own(self, v):
            setattr(self, "x", v)
    """
    # `own` calls setattr on its own parameter too: a helper as the pattern sees it
    assert _admitted({"helper-def": "setattr"}, text) == ["patch", "own"]


INITS = ["__init__", "reset_parameters"]


def test_outside_def_drops_init_functions() -> None:
    text = """
        class M:
            def __init__(self, p):
                p.data.normal_()

            def step(self, p):
                p.data.normal_()

        def reset_parameters(p):
            p.data.uniform_()
    """
    assert _admitted({"outside-def": INITS}, text) == ["step"]
    only_inits = """
        import torch

        w = torch.zeros(3)
        w.data.add_(torch.randn(3))

        def __init__(p):
            p.data.normal_()
    """
    # module code may hold the match: a file of init functions only is kept
    assert _admitted({"outside-def": INITS}, only_inits) == ["__init__"]


WRITE_TARGET = {"write-target": {"attrs": ["grad", "data"], "unbound": ["normal_"]}}


def test_write_target_needs_the_attribute_in_a_written_expression() -> None:
    text = """
        from torch.utils.data import DataLoader

        def loader(ds):
            return DataLoader(ds.data)

        def write(p, r):
            p.data.add_(r)

        def unbound(p):
            torch.Tensor.normal_(p.grad)

        def assigned(state, r):
            state["w.data"] = r

        def commented(p, r):
            (
                p  # .grad
            ).add_(r)
    """
    assert _admitted(WRITE_TARGET, text) == ["write", "unbound", "assigned", "commented"]


@pytest.mark.parametrize(
    "spec",
    [
        {"attr-write": {"roots": []}},
        {"attr-write": {"roots": ["torch"], "other": []}},
        {"attr-write": ["torch"]},
        {"helper-def": "not a name"},
        {"outside-def": []},
        {"outside-def": "__init__"},
        {"write-target": {"attrs": ["grad"]}},
        {"write-target": {"attrs": ["grad"], "unbound": ["a b"]}},
    ],
)
def test_bad_specs_are_refused(spec: object) -> None:
    with pytest.raises(screen.ScreenError):
        screen.compile_screen(spec)

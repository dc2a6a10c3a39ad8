"""The reach facts extractor, rewritten for speed (issue #17), finds what it found.

Facts are cached by blob id as JSON under ``facts.VERSION``: a rewrite that
changed them without a bump would mix old and new facts in one cache. So the
rewritten extractor is compared with the one before it (``REFERENCE``, read
with ``git show`` and loaded from a temp file for this test only) on every
Python file under tests/fixtures, on a sample of the large real corpus
(bench/.cache/large/repo, every 50th file, when fetched) and on a source that
holds every construct a scope reader looks at. Equal means equal JSON, key
order included (it is what the cache stores).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from traingate.checks.reach import facts

ROOT = Path(__file__).resolve().parent.parent
# The last commit of facts.py before the rewrite. Repin it (to the commit of
# the change) when the facts change on purpose and VERSION is bumped.
REFERENCE = "08bde4fa8b1a493a5ee0f2ae0595e5a877743cf5"
REF_PATH = "src/traingate/checks/reach/facts.py"
CORPUS = ROOT / "bench" / ".cache" / "large" / "repo"

# One of each construct _own_nodes keeps or cuts, and every kind of fact:
# nonlocal in nested blocks, bound and anonymous lambdas, decorators, class
# keywords, walrus, comprehensions, match patterns, async blocks, global, del,
# except-as, local imports, patches, a .git join through an escape, hooks, a
# forwarded weights_only, sockets, getattr(__import__()).
EVERYTHING = r'''
import os, pickle as pk, socket
from torch import load as tload
from . import sibling
from ..pkg.mod import thing as other
try:
    import ujson as json
except ImportError:
    import json
load = pk.loads
HOOKS = "hooks"

@decorate(arg=os.getcwd())
def outer(path, weights_only=True, *args, flag=False, **kw):
    """doc"""
    import subprocess as sp
    from shutil import rmtree
    x = lambda v=os.getenv("A"): eval(v)
    y = (lambda: exec("1"))()
    count = 0
    def inner(q=os.sep):
        nonlocal count
        for i in range(3):
            with open(q) as fh:
                try:
                    pass
                except OSError as err:
                    nonlocal_hidden = 1
                else:
                    count += 1
                finally:
                    del fh
        return tload(q, weights_only=weights_only)
    class Local(Base, metaclass=Meta, **opts):
        attr = os.path.join("a", "b")
        def m(self):
            nonlocal path
            return self.other()
    if (n := len(path)) > 2:
        sp.run([path], shell=False)
    data = [pk.loads(b) for b in args if b]
    sp.call(path, shell=True)
    git = os.path.join(path, "\x2egit", "hooks")
    tload(path, weights_only=weights_only)
    tload(path, **kw)
    os.makedirs(HOOKS)
    return git

async def fetch(host, sock=None):
    async with connect(host) as conn, other(host) as (a, b):
        async for item in conn:
            await item.send(b"x")
    s = socket.create_connection((host, 80))
    s.sendall(b"data")
    socket.gethostbyname(host + ".example")
    return socket.ssl.wrap_socket(s)

def helper():
    global load
    load = None
    return socket.socket()

def matcher(cmd):
    match cmd:
        case {"op": op, **rest}:
            return rest
        case [first, *others]:
            return others
        case Point(x=0) as p:
            return p
        case _:
            return None

class Unpickler(pk.Unpickler):
    def find_class(self, module, name):
        if module not in {"builtins"}:
            raise pk.UnpicklingError(module)
        return super().find_class(module, name)

class Patch:
    handler = lambda self: os.system("x")
    torch_load = tload

def patcher():
    orig = os.path.exists
    os.path.exists = lambda p: True
    os.path.exists = orig
    setattr(os, "getcwd", lambda: "/")
    delattr(pk, "loads")
    vars(os)["sep"] = "/"
    os.__dict__["name"] = "nt"
    outer.__defaults__ = (False,)

f = getattr(__import__(os.getenv("M")), os.getenv("N"))
outer = wrap(outer)

if __name__ == "__main__":
    import sys
    outer(sys.argv[1])
'''


def _reference(tmp_path: Path) -> ModuleType:
    got = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{REFERENCE}:{REF_PATH}"],
        capture_output=True,
        check=False,
    )
    if got.returncode != 0:
        pytest.skip("the reference commit is not in this checkout (no .git, or shallow)")
    path = tmp_path / "facts_reference.py"
    path.write_bytes(got.stdout)
    spec = importlib.util.spec_from_file_location("_facts_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.VERSION != facts.VERSION:
        pytest.skip("facts.VERSION moved on: repin REFERENCE to its commit")
    return module


def _facts(extract: Any, text: str, name: str) -> str:
    try:
        return json.dumps(extract(text, name))
    except (SyntaxError, ValueError, RecursionError) as exc:
        return f"{type(exc).__name__}"


def _sources() -> list[Path]:
    files = sorted((ROOT / "tests" / "fixtures").rglob("*.py"))
    assert len(files) > 100  # the fixtures are there: the comparison means something
    if CORPUS.is_dir():
        files += sorted(CORPUS.rglob("*.py"))[::50]
    return files


def test_same_facts_as_before_the_rewrite(tmp_path: Path) -> None:
    old = _reference(tmp_path)
    differ = []
    for path in _sources():
        text = path.read_text("utf-8", errors="replace")
        if _facts(old.extract, text, path.name) != _facts(facts.extract, text, path.name):
            differ.append(str(path.relative_to(ROOT)))
    assert differ == []


@pytest.mark.parametrize(
    "source",
    [
        EVERYTHING,
        # the class bodies' own rebinding (_rewrapped) is read only when a
        # True-default parameter is forwarded
        EVERYTHING + "\nclass K:\n    def g(self, w=True):\n        torch.load(x, weights_only=w)"
        "\n    g = deco(g)\n",
        "import torch\ndef f(a=True):\n    def g():\n        nonlocal a\n        a = 0\n"
        "    return torch.load(weights_only=a)\n",
        # a class body's nonlocal rebinds its method's name: its default is unknown
        "import torch\ndef outer():\n    g = 1\n    class C:\n        nonlocal g\n"
        "        def g(self, w=True):\n            return torch.load(x, weights_only=w)\n",
        "x = (\n",  # a SyntaxError either way
    ],
)
def test_same_facts_on_every_construct(tmp_path: Path, source: str) -> None:
    old = _reference(tmp_path)
    assert _facts(old.extract, source, "<t>") == _facts(facts.extract, source, "<t>")


# Each way a scope can rebind a forwarded True-default parameter: rebound, it
# is no longer forwarded (no "wop" flag), so a reader that lost sight of one
# node type would change the facts.
REBINDS = [
    "with open(x) as w:\n        pass",
    "try:\n        pass\n    except OSError as w:\n        pass",
    "import w",
    "from m import w",
    "import w.sub",
    "for w in x:\n        pass",
    "[0 for w in x]",
    "(w := 1)",
    "w += 1",
    "w: int = 1",
    "del w",
    "global w",
    "w, z = x",
    "match x:\n        case {**w}:\n            pass",
    "match x:\n        case [*w]:\n            pass",
    "match x:\n        case P() as w:\n            pass",
    "def g():\n        nonlocal w",
    "def g():\n        try:\n            pass\n        except E:\n            nonlocal w",
    "def g():\n        try:\n            pass\n        finally:\n            nonlocal w",
    "def g():\n        match x:\n            case 1:\n                nonlocal w",
    "def g():\n        while x:\n            pass\n        else:\n            nonlocal w",
    "class C:\n        def g(self):\n            nonlocal w",
    "async def g():\n        async with x:\n            nonlocal w",
    "async def g():\n        async for i in x:\n            nonlocal w",
    "def g():\n        with x:\n            nonlocal w",
    "def g():\n        for i in x:\n            nonlocal w",
    "def g():\n        if x:\n            nonlocal w",
    "def g():\n        async def h():\n            nonlocal w",
    "def g():\n        class D:\n            def h(self):\n                nonlocal w",
]


@pytest.mark.parametrize("rebind", REBINDS)
def test_same_facts_for_every_rebinding(tmp_path: Path, rebind: str) -> None:
    old = _reference(tmp_path)
    source = (
        f"import torch\ndef f(w=True):\n    {rebind}\n    return torch.load(x, weights_only=w)\n"
    )
    got = _facts(facts.extract, source, "<t>")
    assert got == _facts(old.extract, source, "<t>")
    assert '"wop"' not in got  # rebound: not forwarded
    plain = source.replace(rebind, "pass")
    assert '"wop": "w"' in _facts(facts.extract, plain, "<t>")


# Flows a scope reader follows: taint into a DNS lookup (p0), a returned call
# through a local (returns), a socket method on a call's result (rm).
FLOWS = [
    "def f(host):\n    with ctx(host) as h:\n        socket.gethostbyname(h)\n",
    "def f(host):\n    for h in host:\n        socket.gethostbyname(h)\n",
    "async def f(host):\n    async for h in host:\n        socket.gethostbyname(h)\n",
    "def f(host):\n    [socket.gethostbyname(h) for h in host]\n",
    "def f(host):\n    (h := host + 'x')\n    socket.gethostbyname(h)\n",
    "def f(host):\n    h: str = host\n    socket.gethostbyname(h)\n",
    "def f(host):\n    h = ''\n    h += host\n    socket.gethostbyname(h)\n",
    "def f():\n    with socket.create_connection(a) as s:\n        pass\n    return s\n",
    "def f():\n    s: object = socket.socket()\n    return s\n",
    "def f():\n    (s := socket.socket())\n    s.connect(a)\n",
    "def f():\n    s = socket.socket()\n    s.sendall(b'x')\n",
    "def f(p):\n    root = os.path.join(p, '.\\x67it')\n    return root\n",
    # the first .git in breadth-first order gives the line, not the first in the text
    "def f(p):\n    return os.path.join(\n        p, g(\n            '.git'),\n        '.git')\n",
]


@pytest.mark.parametrize("source", FLOWS)
def test_same_facts_for_every_flow(tmp_path: Path, source: str) -> None:
    old = _reference(tmp_path)
    source = "import os, socket\nfrom m import ctx\n" + source
    assert _facts(old.extract, source, "<t>") == _facts(facts.extract, source, "<t>")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* is 3.11 syntax")
def test_same_facts_with_except_star(tmp_path: Path) -> None:
    old = _reference(tmp_path)
    source = (
        "import torch\ndef f(p=True):\n    def g():\n        try:\n            pass\n"
        "        except* OSError as e:\n            nonlocal p\n"
        "    return torch.load(weights_only=p)\n"
    )
    got = _facts(facts.extract, source, "<t>")
    assert got == _facts(old.extract, source, "<t>")
    # the nonlocal under except* rebinds p: it is not forwarded as a parameter
    assert '"wop"' not in got


def test_the_walk_skips_only_leaves() -> None:
    """Every AST class but the leaves is walked: a node type missing from the
    table would hide the calls under it (the attacker's nesting of choice)."""
    import ast

    walked = set(facts._FIELDS)
    for name in ("Call", "Attribute", "Subscript", "JoinedStr", "FormattedValue", "Lambda"):
        assert getattr(ast, name) in walked
    for leaf in (ast.Name, ast.Constant, ast.Load, ast.Add, ast.Eq, ast.And, ast.Not):
        assert leaf not in walked
    # a call hidden under every kind of expression is still found, each in
    # the scope that runs it
    source = (
        "import m\n"
        "async def h(z):\n"
        "    x = [{f'{m.a()!r:>{m.l()}}': (await m.b(z[m.c()]))} async for q in z if not m.d(q)]\n"
        "    y = lambda: m.e()\n"
        "    (lambda: m.f())()\n"
        "    return {**m.g(), 'k': m.i() if m.j() else -m.k()}\n"
    )
    calls = facts.extract(source)["calls"]
    assert sorted((c[0], c[1]) for c in calls if c[1].startswith("I:0:m.")) == [
        ("h", f"I:0:m.{x}") for x in "abcdfgijkl"
    ] + [("h.y", "I:0:m.e")]

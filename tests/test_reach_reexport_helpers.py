"""A sink helper re-exported or aliased by a package (issue #16, class 4; docs/checks/reach.md).

``pkg/io/_impl.py`` defines ``def load(p): return pickle.load(open(p, "rb"))``
and ``pkg/io/__init__.py`` re-exports it: ``from ._impl import load``, a star
import with or without ``__all__``, ``load = _impl.load``, ``from . import
_impl as impl``, relative or absolute, over two packages. The change calls it
however it names it (``from pkg.io import load``, ``import pkg.io as io;
io.load``, ``pkg.io.load``). Each call must give ``reach-dangerous-call``
where it is written. Session 21 found what was still missed and closed it:
a def bound to another name at module level (``load = _load``: facts version
15), a method of an instance made in one expression (``load = Store().load``), a
module ``__getattr__`` (PEP 562) that imports the helper lazily, and
a chain of more than eight re-exports (cut silently before; now followed to
32 and reported past that as ``reach-incomplete``). Cycles of re-exports
end, and a star import of a module that is not in the repository invents no
edge. Each test is one real CLI run on a real repo, many calls per change.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

IMPL = 'import pickle\n\n\ndef load(p):\n    return pickle.load(open(p, "rb"))\n'
PRIV = 'import pickle\n\n\ndef _load(p):\n    return pickle.load(open(p, "rb"))\n'
STORE = "\n\nclass Store:\n    def load(self, p):\n        return load(p)\n"

# How P/io/__init__.py re-exports ``load`` (P: the package's name).
INITS: dict[str, str] = {
    "from ._impl import load": "from ._impl import load\n",
    "from P.io._impl import load": "from P.io._impl import load\n",
    "from ._impl import *": "from ._impl import *\n",
    "from ._impl import *, __all__": 'from ._impl import *\n\n__all__ = ["load"]\n',
    "from P.io._impl import *": "from P.io._impl import *\n",
    "load = _impl.load": "from . import _impl\n\nload = _impl.load\n",
    "import P.io._impl as _impl; load = _impl.load": (
        "import P.io._impl as _impl\n\nload = _impl.load\n"
    ),
    "from ._impl import load as read; load = read": (
        "from ._impl import load as read\n\nload = read\n"
    ),
    "try: from ._fast import load / except: load = _impl.load": (
        "try:\n    from ._fast import load\nexcept ImportError:\n"
        "    from . import _impl\n\n    load = _impl.load\n"
    ),
}
FAST = "import json\n\n\ndef load(p):\n    return json.load(open(p))\n"

# How the change names it: (imports, the call), P the package, N its number.
CALLS: dict[str, tuple[str, str]] = {
    "from P.io import load": ("from P.io import load as load_N", "load_N"),
    "import P.io": ("import P.io", "P.io.load"),
    "import P.io as io": ("import P.io as io_N", "io_N.load"),
    "from P import io": ("from P import io as iob_N", "iob_N.load"),
}


class Change:
    """One ``train.py`` with many added calls; the line of each."""

    def __init__(self) -> None:
        self.imports: list[str] = []
        self.body: list[tuple[str, str]] = []  # (name, statement)

    def call(self, name: str, imports: str, stmt: str) -> None:
        self.imports += [i for i in imports.splitlines() if i not in self.imports]
        self.body.append((name, stmt))

    def text(self) -> tuple[str, dict[int, str]]:
        lines = [*self.imports, ""]
        at: dict[int, str] = {}
        for i, (name, stmt) in enumerate(self.body):
            lines += ["", f"def main_{i}(x):", f"    return {stmt}"]
            at[len(lines)] = name
        return "\n".join(lines) + "\n", at


def _run(
    repo: Repo, capsys: pytest.CaptureFixture[str], base: dict[str, str], change: Change
) -> tuple[int, list[dict[str, Any]], dict[int, str]]:
    _repo(repo, base)
    text, at = change.text()
    repo.write("train.py", text)
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    return code, found, at


def _blocks_each(found: list[dict[str, Any]], at: dict[int, str], sinks: dict[str, str]) -> None:
    got = {f["line"]: f for f in found if f["path"] == "train.py"}
    missed = sorted(name for line, name in at.items() if line not in got)
    assert missed == [], missed
    assert _rules(found) == sorted(("reach-dangerous-call", "train.py", n) for n in at), found
    for line, name in at.items():
        f = got[line]
        assert f["severity"] == "ERROR" and f["approval_group"] == "security", f
        assert sinks[name] in f["message"], (name, f["message"])


def test_every_re_export_by_every_name_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base: dict[str, str] = {}
    change = Change()
    sinks: dict[str, str] = {}
    for n, (init, text) in enumerate(INITS.items()):
        pkg = f"p{n}"
        base[f"{pkg}/__init__.py"] = ""
        base[f"{pkg}/io/__init__.py"] = text.replace("P.", f"{pkg}.")
        base[f"{pkg}/io/_impl.py"] = IMPL
        base[f"{pkg}/io/_fast.py"] = FAST
        for form, (imports, call) in CALLS.items():
            name = f"{init} | {form}"
            fill = {"P": pkg, "N": str(n)}
            imp = imports.replace("P", fill["P"]).replace("_N", f"_{n}")
            change.call(name, imp, f"{call.replace('P', pkg).replace('_N', f'_{n}')}(x)")
            sinks[name] = f"-> pickle.load ({pkg}/io/_impl.py:5)"
    code, found, at = _run(repo, capsys, base, change)
    _blocks_each(found, at, sinks)
    assert code == 1


def test_a_re_exported_helper_called_at_module_level_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"pkg/__init__.py": "", "pkg/io/__init__.py": "from ._impl import *\n"}
    _repo(repo, {**base, "pkg/io/_impl.py": IMPL})
    repo.write("train.py", "import pkg.io as io\n\nstate = io.load('s.bin')\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 3)], found
    assert "pkg.io._impl.load -> pickle.load (pkg/io/_impl.py:5)" in found[0]["message"]
    assert code == 1


# name: (P's files but _impl.py, the imports, the call); P's _impl.py is
# IMPL + STORE unless the files give one.
DEEPER: dict[str, tuple[dict[str, str], str, str]] = {
    "two re-exports": (
        {"__init__.py": "from .io import load\n", "io/__init__.py": "from ._impl import load\n"},
        "from P import load as load_N",
        "load_N",
    ),
    "two star re-exports": (
        {"__init__.py": "from .io import *\n", "io/__init__.py": "from ._impl import *\n"},
        "import P",
        "P.load",
    ),
    "a star over a named re-export": (
        {"__init__.py": "from .io import *\n", "io/__init__.py": "from ._impl import load\n"},
        "import P as pk_N",
        "pk_N.load",
    ),
    "absolute, two hops": (
        {
            "__init__.py": "from P.io import load\n",
            "io/__init__.py": "from P.io._impl import load\n",
        },
        "import P as pk_N",
        "pk_N.load",
    ),
    "from . import _impl as impl": (
        {"__init__.py": "", "io/__init__.py": "from . import _impl as impl\n"},
        "from P.io import impl as impl_N",
        "impl_N.load",
    ),
    "from . import _impl as impl, the dotted name": (
        {"__init__.py": "", "io/__init__.py": "from . import _impl as impl\n"},
        "import P.io",
        "P.io.impl.load",
    ),
    "a module re-exported by the top package": (
        {"__init__.py": "from .io import _impl as codec\n", "io/__init__.py": ""},
        "import P",
        "P.codec.load",
    ),
    "a module bound to another name": (
        {"__init__.py": "", "io/__init__.py": "from . import _impl\n\nimpl = _impl\n"},
        "from P.io import impl as impl_N",
        "impl_N.load",
    ),
    "getattr of the package, a literal name": (
        {"__init__.py": "", "io/__init__.py": "from ._impl import *\n"},
        "import P.io",
        "getattr(P.io, 'load')",
    ),
    "a class re-exported, its method": (
        {"__init__.py": "from .io import *\n", "io/__init__.py": "from ._impl import Store\n"},
        "from P import Store as Store_N",
        "Store_N().load",
    ),
    "the helper in a src/ layout": (
        {"__init__.py": "", "io/__init__.py": "from ._impl import load\n"},
        "from P.io import load as load_N",
        "load_N",
    ),
    # -- missed before session 21 ------------------------------------------
    "a def bound to another name, re-exported": (
        {
            "__init__.py": "",
            "io/__init__.py": "from ._impl import load\n",
            "io/_impl.py": PRIV + "\n\nload = _load\n",
        },
        "from P.io import load as load_N",
        "load_N",
    ),
    "a def bound to another name, imported from its file": (
        {"__init__.py": "", "io/__init__.py": "", "io/_impl.py": PRIV + "\n\nload = _load\n"},
        "from P.io._impl import load as load_N",
        "load_N",
    ),
    "a harmless def rebound to the helper after it": (
        {
            "__init__.py": "from .io import load\n",
            "io/__init__.py": "from ._impl import load\n",
            "io/_impl.py": PRIV + "\n\ndef load(p):\n    return p\n\n\nload = _load\n",
        },
        "from P import load as load_N",
        "load_N",
    ),
    "a class's method bound to a name": (
        {
            "__init__.py": "",
            "io/__init__.py": "from ._impl import load\n",
            "io/_impl.py": PRIV
            + "\n\nclass Codec:\n    @staticmethod\n    def decode(p):\n        return _load(p)\n"
            + "\n\nload = Codec.decode\n",
        },
        "from P.io import load as load_N",
        "load_N",
    ),
    "a method of an instance made in one expression": (
        {"__init__.py": "", "io/__init__.py": "from ._impl import Store\n\nload = Store().load\n"},
        "from P.io import load as load_N",
        "load_N",
    ),
    "a module __getattr__ that imports it lazily (PEP 562)": (
        {
            "__init__.py": "",
            "io/__init__.py": "def __getattr__(name):\n    if name == 'load':\n"
            "        from ._impl import load\n\n        return load\n"
            "    raise AttributeError(name)\n",
        },
        "from P.io import load as load_N",
        "load_N",
    ),
    "a module __getattr__, the dotted name": (
        {
            "__init__.py": "",
            "io/__init__.py": "from . import _impl\n\n\ndef __getattr__(name):\n"
            "    return _impl.load\n",
        },
        "import P.io",
        "P.io.load",
    ),
    "twelve re-exports": (
        {"__init__.py": "from .r1 import load\n", "io/__init__.py": ""}
        | {f"r{i}.py": f"from .r{i + 1} import load\n" for i in range(1, 12)}
        | {"r12.py": "from .io._impl import load\n"},
        "from P import load as load_N",
        "load_N",
    ),
    "a cycle of star re-exports": (
        {
            "__init__.py": "from .io import *\nfrom .a import *\n",
            "a.py": "from P import *\n",
            "io/__init__.py": "from P import *\nfrom ._impl import *\n",
        },
        "from P.a import load as load_N",
        "load_N",
    ),
    "a star of a module not in the repository before the real one": (
        {"__init__.py": "", "io/__init__.py": "from numpy import *\nfrom ._impl import *\n"},
        "from P.io import load as load_N",
        "load_N",
    ),
}


def test_every_deeper_re_export_blocks(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    base: dict[str, str] = {}
    change = Change()
    sinks: dict[str, str] = {}
    for n, (name, (files, imports, call)) in enumerate(DEEPER.items()):
        pkg = f"q{n}"
        root = "src/" if "src/" in name else ""
        for rel, text in {"io/_impl.py": IMPL + STORE, **files}.items():
            base[f"{root}{pkg}/{rel}"] = text.replace("P", pkg)
        change.call(
            name,
            imports.replace("P", pkg).replace("_N", f"_{n}"),
            f"{call.replace('P', pkg).replace('_N', f'_{n}')}(x)",
        )
        sinks[name] = f"-> pickle.load ({root}{pkg}/io/_impl.py:5)"
    code, found, at = _run(repo, capsys, base, change)
    _blocks_each(found, at, sinks)
    assert code == 1


def _hops(n: int, last: str) -> dict[str, str]:
    files = {"pkg/__init__.py": "from .r1 import load\n"}
    files |= {f"pkg/r{i}.py": f"from .r{i + 1} import load\n" for i in range(1, n)}
    files[f"pkg/r{n}.py"] = last
    return files


def test_a_re_exported_external_sink_twelve_hops_away_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """An external sink re-exported (``from pickle import loads as load``)
    was cut after eight hops with no trace."""
    _repo(repo, _hops(12, "from pickle import loads as load\n"))
    repo.write("train.py", "from pkg import load\n\n\ndef main(x):\n    return load(x)\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "pkg.r12.load -> pickle.loads (pkg/r12.py:1)" in found[0]["message"], found
    assert code == 1


def test_an_external_sink_from_a_module_getattr_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    init = "def __getattr__(name):\n    from pickle import loads\n\n    return loads\n"
    _repo(repo, {"pkg/__init__.py": "", "pkg/io/__init__.py": init})
    repo.write("train.py", "from pkg.io import load\n\n\ndef main(x):\n    return load(x)\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "pkg.io.load -> pickle.loads (pkg/io/__init__.py:4)" in found[0]["message"], found
    assert code == 1


@pytest.mark.parametrize(
    "last", ["from ._impl import load\n", "from pickle import loads as load\n"]
)
def test_a_chain_of_re_exports_past_the_limit_is_reported(
    last: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """40 hops, no repeat: not followed to the end, and not dropped either."""
    _repo(repo, {**_hops(40, last), "pkg/_impl.py": IMPL})
    repo.write("train.py", "from pkg import load\n\n\ndef main(x):\n    return load(x)\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert [f["rule_id"] for f in found] == ["reach-incomplete"], found
    assert found[0]["severity"] == "ERROR" and "longer than the depth limit" in found[0]["message"]
    assert code == 1


LOOKALIKES: dict[str, tuple[dict[str, str], str, str]] = {
    "a re-exported helper that loads JSON": (
        {"__init__.py": "", "io/__init__.py": "from ._impl import *\n", "io/_impl.py": FAST},
        "from P.io import load as load_N",
        "load_N",
    ),
    "a harmless def under another name": (
        {
            "__init__.py": "",
            "io/__init__.py": "from ._impl import load\n",
            "io/_impl.py": FAST.replace("def load", "def _load") + "\n\nload = _load\n",
        },
        "from P.io import load as load_N",
        "load_N",
    ),
    "a cycle of star re-exports that never binds the name": (
        {
            "__init__.py": "from .io import *\nfrom .a import *\n",
            "a.py": "from P import *\n",
            "io/__init__.py": "from P import *\nfrom ._impl import *\n",
            "io/_impl.py": FAST,
        },
        "from P.a import load as load_N",
        "load_N",
    ),
    "a star of a module not in the repository, and nothing else": (
        {"__init__.py": "", "io/__init__.py": "from numpy import *\n"},
        "from P.io import load as load_N",
        "load_N",
    ),
    "a module __getattr__ returning a JSON loader": (
        {
            "__init__.py": "",
            "io/__init__.py": "def __getattr__(name):\n    from ._impl import load\n\n"
            "    return load\n",
            "io/_impl.py": FAST,
        },
        "from P.io import load as load_N",
        "load_N",
    ),
    "a module __getattr__ next to a pickle helper it never returns": (
        {
            "__init__.py": "",
            "io/__init__.py": "from ._impl import load as _unused\n\n\n"
            "def __getattr__(name):\n    raise AttributeError(name)\n",
        },
        "from P.io import load as load_N",
        "load_N",
    ),
}


def test_harmless_re_exports_are_quiet(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    base: dict[str, str] = {}
    change = Change()
    for n, (name, (files, imports, call)) in enumerate(LOOKALIKES.items()):
        pkg = f"h{n}"
        for rel, text in {"io/_impl.py": IMPL, **files}.items():
            base[f"{pkg}/{rel}"] = text.replace("P", pkg)
        change.call(
            name,
            imports.replace("P", pkg).replace("_N", f"_{n}"),
            f"{call.replace('P', pkg).replace('_N', f'_{n}')}(x)",
        )
    _code, found, _at = _run(repo, capsys, base, change)
    assert found == []

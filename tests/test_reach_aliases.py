"""Three more ways to hide a sink from ``reach`` (issue #16, class 4; docs/checks/reach.md).

1. A class attribute bound to a sink or a helper (``class IO: load =
   pickle.loads``, ``load = staticmethod(pickle.loads)``, ``load =
   staticmethod(load_blob)``), called as ``IO.load(data)``, ``IO().load(data)``
   or through a subclass.
2. A literal ``importlib.import_module("utils.io")`` (or ``__import__("utils.io",
   fromlist=[...])``) of the repository's own module, its helper called on
   the result, directly, through ``getattr`` or a local.
3. A local name bound to the helper (``fn = getattr(io_mod, "load_blob")``,
   ``fn = io_mod.load_blob``) and called later; a local instance (``io =
   IO()``) whose method is called.

Each must block with the rule a direct call gives (``reach-dangerous-call``)
at the added call. Look-alikes stay quiet: the same shapes around
``json.loads``, a harmless module or function. A non-literal module name stays
as before (quiet here: semgrep's ``getattr(import_module(m), n)`` rule is the
one that judges a callable chosen by name). Every run is the real CLI on a
real repo whose base holds the helper and whose change adds only the call.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

HELPER = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
HARMLESS = "import json\n\n\ndef load_blob(b):\n    return json.loads(b)\n"
PKG = {"utils/__init__.py": ""}


def _main(imports: str, body: str) -> str:
    """A train.py whose ``main(data)`` runs ``body`` (one or more lines)."""
    lines = "".join(f"    {x}\n" for x in body.splitlines())
    return f"{imports}\n\n\ndef main(data):\n{lines}"


CLASS_SINK = "import pickle\n\n\nclass IO:\n    load = pickle.loads\n"
CLASS_STATIC = "import pickle\n\n\nclass IO:\n    load = staticmethod(pickle.loads)\n"
CLASS_HELPER = HELPER + "\n\nclass IO:\n    load = staticmethod(load_blob)\n"
FROM_IO = "from utils.io import IO"
MODEL = "from utils.ckpt import load_model\n\n\ndef main(data):\n    model = load_model('m.bin')\n"

# name: (base files, new train.py, line of the call, message part)
ATTACKS: dict[str, tuple[dict[str, str], str, int, str]] = {
    # 1. class attributes
    "IO.load, load = pickle.loads": (
        {**PKG, "utils/io.py": CLASS_SINK},
        _main(FROM_IO, "return IO.load(data)"),
        5,
        "train.py:5 calls utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "IO().load, load = pickle.loads": (
        {**PKG, "utils/io.py": CLASS_SINK},
        _main(FROM_IO, "return IO().load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "IO.load, load = staticmethod(pickle.loads)": (
        {**PKG, "utils/io.py": CLASS_STATIC},
        _main(FROM_IO, "return IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "IO().load, load = staticmethod(pickle.loads)": (
        {**PKG, "utils/io.py": CLASS_STATIC},
        _main(FROM_IO, "return IO().load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "IO.load, load = staticmethod(load_blob), a helper": (
        {**PKG, "utils/io.py": CLASS_HELPER},
        _main(FROM_IO, "return IO.load(data)"),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "module.IO.load": (
        {**PKG, "utils/io.py": CLASS_SINK},
        _main("from utils import io", "return io.IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "io = IO(); io.load": (
        {**PKG, "utils/io.py": CLASS_STATIC},
        _main(FROM_IO, "io = IO()\nreturn io.load(data)"),
        6,
        "utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "io = IO(); io.restore, a method that reaches the sink": (
        {
            **PKG,
            "utils/io.py": "import pickle\n\n\nclass IO:\n    def restore(self, b):\n"
            "        return pickle.loads(b)\n",
        },
        _main(FROM_IO, "io = IO()\nreturn io.restore(data)"),
        6,
        "utils.io.IO.restore -> pickle.loads (utils/io.py:6)",
    ),
    "a subclass inherits the attribute": (
        {
            **PKG,
            "utils/io.py": CLASS_SINK,
            "utils/fast.py": "from utils.io import IO\n\n\nclass FastIO(IO):\n    pass\n",
        },
        _main("from utils.fast import FastIO", "return FastIO().load(data)"),
        5,
        "-> pickle.loads (utils/io.py:5)",
    ),
    "the attribute in a block of the class body": (
        {
            **PKG,
            "utils/io.py": "import pickle\nimport sys\n\n\nclass IO:\n"
            "    if sys.platform:\n        load = pickle.loads\n",
        },
        _main(FROM_IO, "return IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:7)",
    ),
    "an unchanged method calls self.load": (
        {
            **PKG,
            "utils/io.py": CLASS_SINK + "\n    def restore(self, path):\n"
            "        return self.load(open(path, 'rb').read())\n",
        },
        _main(FROM_IO, "return IO().restore(data)"),
        5,
        "utils.io.IO.restore -> utils.io.IO.load -> pickle.loads (utils/io.py:8)",
    ),
    # 2. import_module / __import__ of a literal repository module
    "importlib.import_module('utils.io').load_blob": (
        {**PKG, "utils/io.py": HELPER},
        _main("import importlib", "return importlib.import_module('utils.io').load_blob(data)"),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "from importlib import import_module": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "from importlib import import_module",
            "return import_module('utils.io').load_blob(data)",
        ),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "getattr(import_module('utils.io'), 'load_blob')": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "import importlib",
            "return getattr(importlib.import_module('utils.io'), 'load_blob')(data)",
        ),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "__import__('utils.io', fromlist=['x']).load_blob": (
        {**PKG, "utils/io.py": HELPER},
        _main("", "return __import__('utils.io', fromlist=['x']).load_blob(data)"),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "__import__('utils.io').io.load_blob (the package is returned)": (
        {**PKG, "utils/io.py": HELPER},
        _main("", "return __import__('utils.io').io.load_blob(data)"),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "import_module of a module that re-exports pickle.loads": (
        {**PKG, "utils/io.py": "from pickle import loads as load_blob\n"},
        _main("import importlib", "return importlib.import_module('utils.io').load_blob(data)"),
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:1)",
    ),
    "import_module of a class attribute": (
        {**PKG, "utils/io.py": CLASS_SINK},
        _main("import importlib", "return importlib.import_module('utils.io').IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:5)",
    ),
    "import_module('.io', __package__) in the package": (
        {**PKG, "utils/io.py": HELPER, "utils/run.py": "def main():\n    pass\n"},
        "",  # replaced below: utils/run.py is the changed file
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "import_module of a module whose body runs a shell": (
        {**PKG, "utils/boot.py": "import os\n\nos.system(os.environ['BOOT'])\n"},
        _main("import importlib", "importlib.import_module('utils.boot')"),
        5,
        "utils.boot (module body) -> os.system (utils/boot.py:3)",
    ),
    "a module-level name bound to import_module": (
        {**PKG, "utils/io.py": HELPER},
        "import importlib\n\nio_mod = importlib.import_module('utils.io')\n\n\n"
        "def main(data):\n    return io_mod.load_blob(data)\n",
        7,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    # 3. local names bound to a helper
    "fn = getattr(io_mod, 'load_blob')": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "from utils import io as io_mod", "fn = getattr(io_mod, 'load_blob')\nreturn fn(data)"
        ),
        6,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "fn = io_mod.load_blob": (
        {**PKG, "utils/io.py": HELPER},
        _main("from utils import io as io_mod", "fn = io_mod.load_blob\nreturn fn(data)"),
        6,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "mod = import_module('utils.io'); mod.load_blob": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "import importlib",
            "mod = importlib.import_module('utils.io')\nreturn mod.load_blob(data)",
        ),
        6,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "fn bound to a re-exported pickle.loads": (
        {**PKG, "utils/io.py": "from pickle import loads as load_blob\n"},
        _main("from utils import io as io_mod", "fn = io_mod.load_blob\nreturn fn(data)"),
        6,
        "utils.io.load_blob -> pickle.loads (utils/io.py:1)",
    ),
    "fn bound twice, the harmless binding first": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "import json\nfrom utils import io as io_mod",
            "fn = json.loads\nif data:\n    fn = io_mod.load_blob\nreturn fn(data)",
        ),
        9,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "fn bound in the enclosing function, called in a nested one": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "from utils import io as io_mod",
            "fn = io_mod.load_blob\n\ndef inner():\n    return fn(data)\n\nreturn inner",
        ),
        8,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "a parameter rebound to the helper": (
        {**PKG, "utils/io.py": HELPER},
        "from utils import io as io_mod\n\n\ndef main(data, fn=None):\n"
        "    fn = io_mod.load_blob\n    return fn(data)\n",
        6,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "fn = json.loads if fast else io_mod.load_blob": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "import json\nfrom utils import io as io_mod",
            "fn = json.loads if data[:1] == b'{' else io_mod.load_blob\nreturn fn(data)",
        ),
        7,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "a cycle of locals (g = fn; fn = g)": (
        {**PKG, "utils/io.py": HELPER},
        _main(
            "from utils import io as io_mod",
            # fn is resolved first (on line 8), while g is met as a cycle
            "fn = io_mod.load_blob\ng = fn\nfn = g\nfn.__doc__.strip()\nreturn g(data)",
        ),
        9,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "a local shadows a harmless module-level name": (
        {**PKG, "utils/io.py": HELPER},
        "from json import loads as fn\n\nfrom utils import io as io_mod\n\n\n"
        "def main(data):\n    fn = io_mod.load_blob\n    return fn(data)\n",
        8,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_aliased_sink_blocks_at_the_added_call(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, line, part = ATTACKS[name]
    path = "train.py"
    if not train:
        path = "utils/run.py"
        train = _main(
            "import importlib", "return importlib.import_module('.io', __package__).load_blob(data)"
        )
    _repo(repo, base)
    repo.write(path, train)
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert _rules(found) == [("reach-dangerous-call", path, line)], found
    assert part in found[0]["message"], found
    assert found[0]["severity"] == "ERROR" and found[0]["approval_group"] == "security"
    assert code == 1


# -- look-alikes: quiet ---------------------------------------------------------

LOOKALIKES: dict[str, tuple[dict[str, str], str]] = {
    "a class attribute bound to json.loads": (
        {**PKG, "utils/io.py": "import json\n\n\nclass IO:\n    load = json.loads\n"},
        _main(FROM_IO, "return IO.load(data) or IO().load(data)"),
    ),
    "a staticmethod of json.loads": (
        {**PKG, "utils/io.py": "import json\n\n\nclass IO:\n    load = staticmethod(json.loads)\n"},
        _main(FROM_IO, "return IO.load(data)"),
    ),
    "a class attribute bound to pickle.loads that nothing new calls": (
        {**PKG, "utils/io.py": CLASS_SINK},
        _main(FROM_IO, "return IO"),
    ),
    "import_module of a harmless module": (
        {**PKG, "utils/io.py": HARMLESS},
        _main("import importlib", "return importlib.import_module('utils.io').load_blob(data)"),
    ),
    "__import__ of a harmless module": (
        {**PKG, "utils/io.py": HARMLESS},
        _main("", "return __import__('utils.io', fromlist=['x']).load_blob(data)"),
    ),
    "getattr of a harmless function": (
        {**PKG, "utils/io.py": HARMLESS},
        _main(
            "from utils import io as io_mod", "fn = getattr(io_mod, 'load_blob')\nreturn fn(data)"
        ),
    ),
    "an instance of a class whose attribute is json.loads": (
        {**PKG, "utils/io.py": "import json\n\n\nclass IO:\n    load = json.loads\n"},
        _main(FROM_IO, "io = IO()\nreturn io.load(data)"),
    ),
    "a local made by a helper that reaches the sink, then called": (
        # `model(x)` calls the object made, not `load_model` again
        {
            **PKG,
            "utils/io.py": HELPER,
            "utils/ckpt.py": "from utils.io import load_blob\n\n\n"
            "def load_model(p):\n    return load_blob(open(p, 'rb').read())\n",
            "train.py": MODEL,
        },
        MODEL + "    return model(data)\n",
    ),
    "an attribute written on a framework object made locally (not a patch)": (
        {**PKG, "utils/compat.py": "import torch.nn as nn\n"},
        _main("from utils.compat import nn", "layer = nn.Linear(2, 2)\nlayer.weight = data"),
    ),
    "a local alias of a harmless function": (
        {**PKG, "utils/io.py": HARMLESS},
        _main("from utils import io as io_mod", "fn = io_mod.load_blob\nreturn fn(data)"),
    ),
    # As before: a module chosen at run time is not resolved here; semgrep's
    # getattr(import_module(m), n) rule judges the changed line itself.
    "import_module of a non-literal module name": (
        {**PKG, "utils/io.py": HELPER},
        _main("import importlib", "return importlib.import_module(data['m']).load_blob(data)"),
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_a_harmless_alias_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train = LOOKALIKES[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature")
    _code, found, doc = _check(repo, capsys)
    assert (found, doc["errors"]) == ([], [])  # train.py is a sensitive path: no exit 0


def test_a_local_rebound_many_times_is_read_in_full(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``x = x.to(d)`` three hundred times (real forward() code rebinds a
    local often): resolving ``x`` must neither recurse without end (the file
    would be left out: reach-incomplete) nor hide the alias bound last."""
    pad = "".join("    x = x.to(d)\n" for _ in range(300))
    helper = (
        "from utils import io as io_mod\n\n\ndef restore(x, d):\n"
        f"{pad}    x = io_mod.load_blob\n    return x(d)\n"
    )
    _repo(repo, {**PKG, "utils/io.py": HELPER, "utils/ckpt.py": helper})
    repo.write("train.py", _main("from utils.ckpt import restore", "return restore(0, data)"))
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.ckpt.restore -> utils.io.load_blob -> pickle.loads" in found[0]["message"]
    assert code == 1

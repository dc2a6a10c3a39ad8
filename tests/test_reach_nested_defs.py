"""reach sees definitions and imports nested in blocks (issue #16, class 4).

A method written under ``if``/``try``/``with``/... in a class body, a function
in a ``try: ... except ImportError:`` at module level, or the sink's import
under a ``with`` block is still ``A.load`` / ``load_blob`` / ``pickle`` to
Python. An attacker who hides the helper there must get the same finding as
with the helper written at top level (the "top" case is the control). Where
two branches bind the same name, the dangerous one is kept: a harmless twin
must not hide it. Every run is the real CLI on a real repo.
"""

from __future__ import annotations

import sys

import pytest

from .conftest import Repo
from .test_reach import _check, _repo, _rules

# How each hiding place wraps a block of code; "@D" stands for the block,
# indented as the marker is.
PLACES: dict[str, str] = {
    "top": "@D",
    "if": "if sys.version_info >= (3, 8):\n    @D",
    "elif": "if sys.version_info < (3, 0):\n    pass\nelif sys.platform:\n    @D",
    "else": "if sys.version_info < (3, 0):\n    pass\nelse:\n    @D",
    "try": "try:\n    @D\nexcept ImportError:\n    pass",
    "except": "try:\n    import ujson\nexcept ImportError:\n    @D",
    "try-else": "try:\n    import sys as _s\nexcept ImportError:\n    pass\nelse:\n    @D",
    "finally": "try:\n    pass\nfinally:\n    @D",
    "with": "with contextlib.suppress(Exception):\n    @D",
    "for": "for _ in range(1):\n    @D",
    "for-else": "for _ in ():\n    pass\nelse:\n    @D",
    "while": "while True:\n    @D\n    break",
    "while-else": "while False:\n    pass\nelse:\n    @D",
    "match": "match sys.platform:\n    case 'win32':\n        pass\n    case _:\n        @D",
    "nested": "with contextlib.suppress(Exception):\n    if sys.platform:\n"
    "        try:\n            @D\n        except Exception:\n            pass",
}
if sys.version_info >= (3, 11):
    PLACES["except*"] = "try:\n    pass\nexcept* ValueError:\n    @D"


def _hide(place: str, block: str, indent: str = "") -> str:
    """``block`` (unindented lines) inside ``place``, the whole indented by ``indent``."""
    out: list[str] = []
    for line in PLACES[place].splitlines():
        if line.strip() == "@D":
            pad = line[: line.index("@D")]
            out += [pad + b if b else b for b in block.splitlines()]
        else:
            out.append(line)
    return "".join(f"{indent}{x}\n" if x else "\n" for x in out)


METHOD = "def load(self, b):\n    return pickle.loads(b)\n"
FUNC = "def load_blob(b):\n    return pickle.loads(b)\n"
SINK = "return pickle.loads(b)\n"
HEAD = "import contextlib\nimport pickle\nimport sys\n\n\n"


def _hidden(place: str) -> str:
    """A helper module: a method, a function and a sink call, each in ``place``."""
    return (
        HEAD
        + "class A:\n"
        + _hide(place, METHOD, "    ")
        + "\n    def fit(self):\n        return 0\n\n\n"
        + _hide(place, FUNC)
        + "\n\ndef deep(b):\n"
        + _hide(place, SINK, "    ")
        + "\n\ndef use():\n    return None\n"
    )


def _imports(place: str) -> str:
    """The sink's module imported in ``place``, called from a top-level helper."""
    return (
        "import contextlib\nimport sys\n\n"
        + _hide(place, "import pickle\n")
        + "\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
    )


TRAIN = (
    "from utils.hidden import A, deep, load_blob\n"
    "from utils.imp import load_blob as imp_load\n\n\n"
    "def main():\n"
    "    A().load(b'x')\n"
    "    load_blob(b'x')\n"
    "    imp_load(b'x')\n"
    "    deep(b'x')\n"
)


def _sink_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if "pickle.loads(" in line]


def _line(text: str, part: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if part in line)


@pytest.mark.parametrize("place", list(PLACES))
def test_a_helper_hidden_in_a_block_is_reached(
    place: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hidden, imp = _hidden(place), _imports(place)
    _repo(repo, {"utils/__init__.py": "", "utils/hidden.py": hidden, "utils/imp.py": imp})
    repo.write("train.py", TRAIN)
    # Calls in the helper's own file: self.load from a method, load_blob from a function.
    changed = hidden.replace("        return 0\n", "        return self.load(b'x')\n")
    changed = changed.replace("    return None\n", "    return load_blob(b'x')\n")
    repo.write("utils/hidden.py", changed)
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    m, f, d = _sink_lines(changed)
    fit, use = _line(changed, "self.load(b'x')"), _line(changed, "return load_blob(b'x')")
    want = {
        ("train.py", 6): f"utils.hidden.A.load -> pickle.loads (utils/hidden.py:{m})",
        ("train.py", 7): f"utils.hidden.load_blob -> pickle.loads (utils/hidden.py:{f})",
        ("train.py", 8): "utils.imp.load_blob -> pickle.loads (utils/imp.py:",
        ("train.py", 9): f"utils.hidden.deep -> pickle.loads (utils/hidden.py:{d})",
        ("utils/hidden.py", fit): f"utils.hidden.A.load -> pickle.loads (utils/hidden.py:{m})",
        ("utils/hidden.py", use): f"utils.hidden.load_blob -> pickle.loads (utils/hidden.py:{f})",
    }
    assert _rules(found) == sorted(("reach-dangerous-call", p, n) for p, n in want), found
    for x in found:
        assert want[(x["path"], x["line"])] in x["message"], x
    assert code == 1


# -- two branches, one name: the dangerous one is kept ------------------------

SAFE_M = "def load(self, b):\n    return json.loads(b)\n"
SAFE_F = "def load_blob(b):\n    return json.loads(b)\n"


def _twins(first: str, second: str, indent: str) -> str:
    return (
        f"{indent}if sys.version_info >= (3, 8):\n"
        + "".join(f"{indent}    {x}\n" for x in first.splitlines())
        + f"{indent}else:\n"
        + "".join(f"{indent}    {x}\n" for x in second.splitlines())
    )


@pytest.mark.parametrize("order", ["dangerous first", "dangerous second"])
def test_a_harmless_twin_does_not_hide_the_dangerous_def(
    order: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = [(METHOD, SAFE_M), (FUNC, SAFE_F)]
    if order == "dangerous second":
        pairs = [(b, a) for a, b in pairs]
    hidden = (
        "import json\nimport pickle\nimport sys\n\n\nclass A:\n"
        + _twins(*pairs[0], "    ")
        + "\n\n"
        + _twins(*pairs[1], "")
    )
    _repo(repo, {"utils/__init__.py": "", "utils/hidden.py": hidden})
    repo.write(
        "train.py",
        "from utils.hidden import A, load_blob\n\n\ndef main():\n"
        "    A().load(b'x')\n    load_blob(b'x')\n",
    )
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [
        ("reach-dangerous-call", "train.py", 5),
        ("reach-dangerous-call", "train.py", 6),
    ], found
    assert "utils.hidden.A.load -> pickle.loads" in found[0]["message"]
    assert "utils.hidden.load_blob -> pickle.loads" in found[1]["message"]
    assert code == 1


@pytest.mark.parametrize("order", ["sink first", "sink second"])
def test_an_import_twin_does_not_hide_the_sink(
    order: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``try: from pickle import loads / except ImportError: from json import loads``:
    pickle always imports, so ``loads`` is pickle's."""
    imports = ["from pickle import loads", "from json import loads"]
    if order == "sink second":
        imports.reverse()
    helper = (
        f"try:\n    {imports[0]}\nexcept ImportError:\n    {imports[1]}\n\n\n"
        "def load_blob(b):\n    return loads(b)\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/io.py": helper})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob(b'x')\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.io.load_blob -> pickle.loads" in found[0]["message"]
    assert code == 1


def test_an_import_in_one_branch_does_not_hide_a_def_in_the_other(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fallback def is called in its own file by the name the import binds."""
    helper = (
        "import pickle\n\ntry:\n    from fastio import load_blob\nexcept ImportError:\n\n"
        "    def load_blob(b):\n        return pickle.loads(b)\n\n\n"
        "def restore(p):\n    return None\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/io.py": helper})
    repo.write("utils/io.py", helper.replace("    return None\n", "    return load_blob(p)\n"))
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "utils/io.py", 12)], found
    assert "utils.io.load_blob -> pickle.loads (utils/io.py:8)" in found[0]["message"]
    assert code == 1


@pytest.mark.parametrize("order", ["restricted first", "restricted second"])
def test_find_class_restricted_in_one_branch_only_is_unrestricted(
    order: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    restricted = (
        "def find_class(self, module, name):\n"
        "    if (module, name) not in SAFE:\n"
        "        raise pickle.UnpicklingError(name)\n"
        "    return super().find_class(module, name)\n"
    )
    loose = "def find_class(self, module, name):\n    return super().find_class(module, name)\n"
    helper = (
        "import io\nimport pickle\nimport sys\n\nSAFE = {('builtins', 'dict')}\n\n\n"
        "class Loader(pickle.Unpickler):\n"
        + _twins(
            *((restricted, loose) if order == "restricted first" else (loose, restricted)), "    "
        )
        + "\n\ndef safe_loads(data):\n    return Loader(io.BytesIO(data)).load()\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/safe.py": helper})
    repo.write(
        "train.py", "from utils.safe import safe_loads\n\n\ndef main(b):\n    safe_loads(b)\n"
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.safe.Loader" in found[0]["message"]


@pytest.mark.parametrize("order", ["unsafe first", "unsafe second"])
def test_a_weights_only_default_true_in_one_branch_only_is_unsafe(
    order: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A conditional load is safe only when every def of the name defaults to True."""
    safe = (
        "def restore(p, weights_only=True):\n    return torch.load(p, weights_only=weights_only)\n"
    )
    unsafe = safe.replace("=True", "=False")
    first, second = (unsafe, safe) if order == "unsafe first" else (safe, unsafe)
    helper = "import sys\n\nimport torch\n\n" + _twins(first, second, "")
    _repo(repo, {"utils/__init__.py": "", "utils/ckpt.py": helper})
    repo.write("train.py", "from utils.ckpt import restore\n\n\ndef main():\n    restore('x')\n")
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.ckpt.restore -> torch.load" in found[0]["message"]


# -- the relaxation's own attacker: a conditional def must not shadow a builtin


def test_a_builtin_sink_shadowed_only_in_a_dead_branch_is_still_a_sink(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``if False: def eval(s): ...`` does not stop ``eval`` being the builtin."""
    helper = (
        "import sys\n\nif sys.version_info < (3, 0):\n\n"
        "    def eval(s):\n        return s\n\n"
        "    def getattr(o, n):\n        return None\n\n\n"
        "def run(s):\n    return eval(s)\n\n\n"
        "def pick(m, n):\n    return getattr(__import__(m), n)\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/dyn.py": helper})
    repo.write(
        "train.py",
        "from utils.dyn import pick, run\n\n\ndef main(s):\n    run(s)\n    pick(s, s)\n",
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [
        ("reach-dangerous-call", "train.py", 5),
        ("reach-dangerous-call", "train.py", 6),
    ], found
    assert "utils.dyn.run -> builtins.eval" in found[0]["message"]
    assert "utils.dyn.pick -> builtins.dynattr" in found[1]["message"]


@pytest.mark.parametrize("place", ["top", "if", "try"])
def test_a_method_of_a_class_nested_in_a_class_is_reached(
    place: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``A.B.load`` is what Python calls it; two ``Config``-style inner classes
    of one name in different outer classes stay apart."""
    inner = "class B:\n" + "".join(f"    {x}\n" for x in METHOD.splitlines())
    helper = (
        "import json\nimport pickle\nimport sys\n\n\nclass A:\n"
        + _hide(place, inner, "    ")
        + "\n\nclass C:\n    class B:\n        def load(self, b):\n            return json.loads(b)\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/hidden.py": helper})
    repo.write(
        "train.py",
        "from utils.hidden import A, C\n\n\ndef main():\n"
        "    A.B().load(b'x')\n    C.B().load(b'x')\n",
    )
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    sink = _sink_lines(helper)[0]
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert f"utils.hidden.A.B.load -> pickle.loads (utils/hidden.py:{sink})" in found[0]["message"]
    assert code == 1


def test_a_restricting_find_class_in_a_dead_branch_restricts_nothing(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """``if False: def find_class`` leaves pickle.Unpickler's own, which loads anything."""
    helper = (
        "import io\nimport pickle\n\nSAFE = {('builtins', 'dict')}\n\n\n"
        "class Loader(pickle.Unpickler):\n"
        "    if False:\n\n"
        "        def find_class(self, module, name):\n"
        "            if (module, name) not in SAFE:\n"
        "                raise pickle.UnpicklingError(name)\n"
        "            return super().find_class(module, name)\n\n\n"
        "def safe_loads(data):\n    return Loader(io.BytesIO(data)).load()\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/safe.py": helper})
    repo.write(
        "train.py", "from utils.safe import safe_loads\n\n\ndef main(b):\n    safe_loads(b)\n"
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.safe.Loader" in found[0]["message"]


def test_a_later_top_level_find_class_replaces_an_earlier_one(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The look-alike: Python keeps the last unconditional def, a restricting one."""
    helper = (
        "import io\nimport pickle\n\nSAFE = {('builtins', 'dict')}\n\n\n"
        "class Loader(pickle.Unpickler):\n"
        "    def find_class(self, module, name):\n"
        "        return super().find_class(module, name)\n\n"
        "    def find_class(self, module, name):\n"
        "        if (module, name) not in SAFE:\n"
        "            raise pickle.UnpicklingError(name)\n"
        "        return super().find_class(module, name)\n\n\n"
        "def safe_loads(data):\n    return Loader(io.BytesIO(data)).load()\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/safe.py": helper})
    repo.write(
        "train.py", "from utils.safe import safe_loads\n\n\ndef main(b):\n    safe_loads(b)\n"
    )
    repo.commit("feature")
    _, found, doc = _check(repo, capsys)
    assert found == [], found
    assert doc["errors"] == []


# -- a def in a block that may not run does not hide what the name is without it


def test_a_harmless_override_in_a_dead_branch_does_not_hide_the_base_method(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = (
        "import json\nimport pickle\nimport sys\n\n\nclass Base:\n"
        "    def load(self, b):\n        return pickle.loads(b)\n\n\n"
        "class A(Base):\n    if sys.version_info < (3, 0):\n\n"
        "        def load(self, b):\n            return json.loads(b)\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/hidden.py": helper})
    repo.write("train.py", "from utils.hidden import A\n\n\ndef main():\n    A().load(b'x')\n")
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.hidden.Base.load -> pickle.loads (utils/hidden.py:8)" in found[0]["message"]


def test_a_harmless_def_in_a_dead_branch_does_not_hide_a_re_export(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_reach import IO_HELPER

    compat = (
        "import json\nimport sys\n\nfrom utils.io import load_blob\n\n"
        "if sys.version_info < (3, 0):\n\n"
        "    def load_blob(path):\n        return json.loads(path)\n"
    )
    _repo(repo, {"utils/__init__.py": "", "utils/io.py": IO_HELPER, "utils/compat.py": compat})
    repo.write(
        "train.py", "from utils.compat import load_blob\n\n\ndef main():\n    load_blob('x')\n"
    )
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.io.load_blob -> pickle.loads (utils/io.py:6)" in found[0]["message"]


@pytest.mark.parametrize("place", [p for p in PLACES if p != "top"])
def test_an_added_call_inside_a_hidden_def_is_judged(
    place: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The call-site side: the new call sits in a method or function in a block."""
    from .test_reach import IO_HELPER

    caller = "def run(self):\n    return load_blob('ckpt.bin')\n"
    train = (
        "import contextlib\nimport sys\n\nfrom utils.io import load_blob\n\n\nclass T:\n"
        + _hide(place, caller, "    ")
        + "\n\n"
        + _hide(place, caller.replace("self", ""))
    )
    _repo(repo, {"utils/__init__.py": "", "utils/io.py": IO_HELPER})
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    lines = [i for i, x in enumerate(train.splitlines(), 1) if "load_blob('ckpt.bin')" in x]
    assert _rules(found) == [("reach-dangerous-call", "train.py", n) for n in lines], found
    assert all("utils.io.load_blob -> pickle.loads" in f["message"] for f in found)

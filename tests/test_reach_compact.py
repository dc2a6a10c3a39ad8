"""Facts compacted as they enter memory (issue #17: a scan holds every file's).

Compacting shares identical small objects between calls and files; it must not
change what the facts say (==) nor what the cache holds (the same JSON bytes),
and a consumer that mutates a shared flags dict must fail, not change every
call that shares it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.reach import summary
from traingate.checks.reach.compact import Compactor

FIXTURES = Path(__file__).parent / "fixtures"
PY_FIXTURES = sorted(FIXTURES.rglob("*.py"))


def _dump(facts: dict[str, Any]) -> str:
    # As _Cache.store writes an entry.
    return json.dumps({"oid": "0" * 40, "facts": facts}, separators=(",", ":"))


def _parsed(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {**summary._parse(data, str(path)), "size": len(data)}


def test_fixtures_are_there() -> None:
    assert len(PY_FIXTURES) > 100


@pytest.mark.parametrize("path", PY_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_compacted_facts_equal_and_dump_the_same(path: Path) -> None:
    compact = Compactor()
    raw = _parsed(path)
    want = _dump(raw)
    got = compact.facts(_parsed(path))
    assert got == raw
    assert _dump(got) == want
    # As from a cache entry, through the same tables as the parsed copy.
    loaded = compact.facts(json.loads(want)["facts"])
    assert loaded == raw
    assert _dump(loaded) == want


def test_flags_are_shared_between_calls_and_files() -> None:
    compact = Compactor()
    a = compact.facts(summary._parse(b"import os\nimport sys\n", "a.py"))
    b = compact.facts(json.loads(json.dumps(summary._parse(b"import json\n", "b.py"))))
    flags = [c[5] for c in [*a["calls"], *b["calls"]]]
    assert flags == [{"imp": 1}] * 3
    assert all(f is flags[0] for f in flags)
    assert a["calls"][0][0] is b["calls"][0][0]  # "<module>", one string


def test_true_and_one_are_not_shared() -> None:
    # {"x": True} == {"x": 1} in Python but not in JSON: one must not stand
    # for the other (at any depth), or the cache entry would change.
    compact = Compactor()
    variants: list[dict[str, Any]] = [
        {"x": 1},
        {"x": True},
        {"x": 1.0},
        {"x": [1]},
        {"x": [True]},
        {"x": {"k": 0}},
        {"x": {"k": False}},
        {"x": "1"},
        {"x": None},
        {"x": 1, "y": 2},
        {"y": 2, "x": 1},  # the same items in another order dump differently
    ]
    rows = [["f", "L:g", n, 0, n, flags] for n, flags in enumerate(variants, 1)]
    want = json.dumps(rows)
    got = compact.facts({"defs": {}, "calls": json.loads(want)})
    assert json.dumps(got["calls"]) == want
    assert len({id(c[5]) for c in got["calls"]}) == len(variants)
    again = compact.facts({"defs": {}, "calls": json.loads(want)})
    assert all(a[5] is b[5] for a, b in zip(got["calls"], again["calls"], strict=True))


def test_mutating_shared_flags_raises() -> None:
    # Attacker's side of sharing: were a consumer to mark one call's flags,
    # every call with the same flags (a sink in another file) would change.
    compact = Compactor()
    src = b"import pickle\npickle.loads(x, *a)\npickle.loads(y, *b)\n"
    facts = compact.facts(summary._parse(src, "m.py"))
    loads = [c for c in facts["calls"] if c[1] == "I:0:pickle.loads"]
    assert len(loads) == 2 and loads[0][5] is loads[1][5]
    flags = loads[0][5]
    before = dict(flags)
    mutations: list[Callable[[], object]] = [
        lambda: flags.__setitem__("imp", 1),
        lambda: flags.__delitem__(next(iter(flags))),
        lambda: flags.update(imp=1),
        lambda: flags.setdefault("imp", 1),
        lambda: flags.pop(next(iter(flags))),
        lambda: flags.popitem(),
        lambda: flags.clear(),
        lambda: flags.__ior__({"imp": 1}),
    ]
    for mutate in mutations:
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert flags == before and loads[1][5] == before
    lists = [v for v in flags.values() if isinstance(v, list)]
    assert lists, flags  # "pa": the positional codes, shared with the dict
    list_mutations: list[Callable[[], object]] = [
        lambda: lists[0].append(0),
        lambda: lists[0].__setitem__(0, 0),
        lambda: lists[0].extend([0]),
        lambda: lists[0].pop(),
        lambda: lists[0].clear(),
        lambda: lists[0].__iadd__([0]),
    ]
    for mutate_list in list_mutations:
        with pytest.raises(TypeError, match="read-only"):
            mutate_list()


def test_errors_pass_through() -> None:
    compact = Compactor()
    err = {"error": "SyntaxError: x (line 1)", "size": 3}
    assert compact.facts(dict(err)) == err

"""The screens' shortcuts answer as the plain searches do (issue #17).

linelocal.py: a line-local regex searched in two parts of a "\\n"-joined list
finds a match exactly when it finds one in the whole (a unit's shared and own
names and literals). prefilter.py: a text holding none of a regex's needs
never matches it. facts.Facts.joinable / foldable: the bisection over sorted
pieces and the character pre-test answer as the sets of every prefix and
suffix did. Each is checked on every shipped screen regex (or word) against
the fixtures and corners built to break it.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from traingate.checks.semgrep import screen
from traingate.checks.semgrep.facts import JOIN_MAX, Facts
from traingate.checks.semgrep.linelocal import line_local
from traingate.checks.semgrep.prefilter import needs

from .test_rules_pack import RULES_DIR

FIXTURES = Path(__file__).parent / "fixtures"


def _atoms(spec: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(spec, list):
        for s in spec:
            _atoms(s, out)
        return
    ((key, value),) = spec.items()
    if key in ("all", "any", "unit"):
        _atoms(value, out)
    else:
        out.append((key, value))


def _shipped(*kinds: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for path in sorted(RULES_DIR.rglob("*.yaml")):
        (rule,) = yaml.safe_load(path.read_text())["rules"]
        spec = rule.get("metadata", {}).get(screen.KEY)
        if spec is not None:
            _atoms(spec, out)
    return sorted({(k, repr(v)): (k, v) for k, v in out if k in kinds}.values(), key=repr)


def _regexes() -> list[re.Pattern[str]]:
    # as screen.compile_screen compiles them
    return [
        re.compile(v, 0 if k == "text" else re.M)
        for k, v in _shipped("text", "string", "name-regex")
    ]


def _sources() -> list[str]:
    return [
        p.read_text(encoding="utf-8", errors="surrogateescape")
        for p in sorted(FIXTURES.rglob("*.py"))
    ]


# Corners: lines that end where a regex reads past them, empty items, items
# holding line ends, non-ASCII look-alikes (K is the Kelvin sign).
_ITEMS = [
    "",
    "\n",
    "a\n",
    "label",
    "LABEL\nx",
    "labels",
    "y",
    "_y",
    "hookspath",
    "path",
    "hooks",
    "import",
    "import os",
    " -i",
    "sh",
    "==",
    "rank",
    "\u212a",
    "ſ",
    "x%y",
    "'",
    '"',
    "]",
    "-",
]


@pytest.mark.parametrize(
    ("pattern", "flags", "local"),
    [
        (r"(?i)(^|_)(labels?|y)$", re.M, True),
        (r"(?i)(^|['\"])(label|target)", re.M, True),
        (r"(?ai)\brank\b", re.M, True),
        (r"(?<![a-z0-9])y(?!\w)", re.M, True),
        (r"^x", 0, False),  # ^ without MULTILINE: the string's start only
        (r"x$", 0, False),
        (r"x\Z", re.M, False),
        (r"\Ax", re.M, False),
        (r"\Bx", re.M, False),  # sre never holds \B in an empty string
        (r"a\sb", re.M, False),
        (r"a[^b]c", re.M, False),
        (r"a.c", re.M | re.S, False),
        (r"(?s:a.c)", re.M, False),
        (r"a.c", re.M, True),
        (r"(?<=\n)x", re.M, False),
        (r"(?!\n)x", re.M, False),
        (r"a\Wb", re.M, False),
        (r"a[\x00-\x7f]b", re.M, False),
        (r"a[^\x00-\x7f]b", re.M, True),
    ],
)
def test_line_local(pattern: str, flags: int, local: bool) -> None:
    assert line_local(re.compile(pattern, flags)) is local


def test_a_line_local_regex_finds_in_two_parts_what_it_finds_in_the_whole() -> None:
    local = [rx for rx in _regexes() if line_local(rx)]
    assert len(local) > 40  # the shipped name and string regexes, nearly all
    for rx in local:
        pairs = list(itertools.combinations(_ITEMS, 2))
        singles = [(item,) for item in _ITEMS]
        for a, b in [*itertools.product(pairs, singles), *itertools.product(singles, pairs)]:
            whole = rx.search("\n".join(a + b)) is not None
            parts = rx.search("\n".join(a)) is not None or rx.search("\n".join(b)) is not None
            assert whole is parts, (rx.pattern, a, b)


@pytest.mark.parametrize(
    ("pattern", "flags", "wanted"),
    [
        (r"(?i)(^|['\"])(label|target)", re.M, {"label", "target"}),
        (r"sys\.modules\[", 0, {"sys.modules["}),
        (r"a(bc)?d", 0, set()),  # "a" and "d": one character is no test
        (r"(?i)[^\x00-\x7f]rank|rank[^\x00-\x7f]", 0, {"\x00non-ascii", "rank"}),
        (r"(?i)[^\x00-\x7f]x", 0, {"\x00non-ascii"}),
        (r"x(?i:abc)", 0, {"abc"}),  # looked for lowered
        (r"x(?i:abc)|defg", 0, set()),  # case-sensitive and not, mixed
        (r"(ab)*cd", 0, {"cd"}),
        (r"(ab)+", 0, {"ab"}),
    ],
)
def test_needs(pattern: str, flags: int, wanted: set[str]) -> None:
    assert needs(re.compile(pattern, flags)).strings == wanted


def test_a_text_without_the_needs_never_matches() -> None:
    texts = _sources() + ["\u212aILL", "import \u212a", "LABEL", "ſys.modules[", "x\u0130d"]
    checked = 0
    for rx in _regexes():
        need = needs(rx)
        if not need.strings:
            continue
        for text in texts:
            if need.absent(text, text.lower):
                assert rx.search(text) is None, (rx.pattern, text[:80])
                checked += 1
    assert checked > 1000


def _joinable_by_sets(f: Facts, word: str) -> bool:
    """The session-17 joinable: every prefix and suffix of every piece in a set."""
    starts = {p[:k] for p in f.pieces for k in range(1, min(len(p), JOIN_MAX) + 1)}
    ends = {p[-k:] for p in f.pieces for k in range(1, min(len(p), JOIN_MAX) + 1)}
    if word in f.strings:
        return True
    reach = [False] * (len(word) + 1)
    for i in range(1, len(word)):
        reach[i] = word[:i] in ends
    for i in range(1, len(word)):
        if reach[i]:
            if word[i:] in starts:
                return True
            for j in range(i + 1, len(word)):
                reach[j] = reach[j] or word[i:j] in f.pieces
    return False


def test_joinable_answers_as_the_sets_of_prefixes_and_suffixes_did() -> None:
    words = sorted({w for _, v in _shipped("joined") for w in ([v] if isinstance(v, str) else v)})
    sources = _sources() + [
        'a = "/dev/tc" + "p/"\nb = "." "s" + "sh"\n',
        'x = f"{1}sh\\t" + " -i"\ny = "id_" + "rsa"\n',
        "z = True\nw = 1e-05\nv = 3j\n",
    ]
    checked = 0
    for source in sources:
        found = screen.facts(source)
        if found is None:
            continue
        for word in words:
            assert found.joinable(word) is _joinable_by_sets(found, word), (word, source[:80])
            checked += 1
    assert checked > 10_000

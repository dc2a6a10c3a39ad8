"""Which shipped rules can match a Python file, read from its syntax tree (issue #17).

semgrep skips a rule on a file only when the rule's literals are absent from the
file's *text*. A large modeling file names "load", "time", "random" or "step"
in its docstrings and comments, so ~60 rules walked every such file to find
nothing: the pack cost ~20x bandit per line on real libraries. As identifiers
those words are rare (on transformers, weighted by lines: "time" 0.45 of the
text against 0.03 of the code, "load" 0.25 against 0.06, "now" 0.17 against
0.00).

A rule's screen (``metadata.traingate-screen`` in its YAML, declared once with
the rule) is a *necessary condition* for the rule to match a file, over what
one ``ast`` walk reads from it:

- ``name: x`` or ``name: [x, y]``: the identifier occurs in the code: a name,
  an attribute, a keyword argument, a def, class, parameter or import name
  (each dotted part of a module path). Comments and string literals do not count;
  semgrep never matches code in them.
- ``name-regex: R``: some identifier matches ``R`` (``re.search``; ``^`` and ``$``
  hold at each identifier's ends).
- ``string: R``: some string or bytes literal (docstrings and the literal
  parts of f-strings included) matches ``R``; ``^`` and ``$`` hold at each
  literal's ends and at its line ends.
- ``joined: w`` or ``joined: [w, ...]``: semgrep could see the word in a string
  it folds from the file's literals (``"." + "s" + "sh"``, f-strings of
  constants): the word is inside one literal, or is a literal's end, then
  whole literals, then another's start (numbers count as their digits).
- ``folded: {chars: C, min: N}``: semgrep could fold a string of ``N`` or
  more characters, each in the regex class ``[C]``, from the file's literals
  (``+`` chains, f-strings, constants reached through names, literals as
  written; folding.py bounds it from above).
- ``lookup: {via: [getattr, ...], name: built|not-literal}``: one of the
  lookups (getattr, __import__, import_module, attrgetter; globals, locals,
  vars, __dict__, __builtins__ subscripted) may take a name that is not a
  plain string literal, or one built at run time (lookups.py).
- ``folds-to: w`` or ``folds-to: [w, ...]``: semgrep could fold a string
  *equal* to the word (or to it and a final newline: a regex's ``$``; ``w*``:
  one starting with ``w``) from whole literals (``"sys" + "tem"``): for a
  ``^(...)$`` string pattern.
- ``stored-root: [x, "<import>", "<call>", "<subscript>"]``: an attribute is
  written to (assigned, augmented, a loop or ``with`` target) on an object
  that hangs from the name ``x``, from any name an import binds, or from a
  call or subscript (``__import__("torch").x = v``).
- ``guard-region: {...}``: guardwords.py (a node atom).
- ``label-op: {...}``: labelnodes.py (a node atom).
- ``loader-call``, ``keyword-not-true``, ``module-attr``: loadcalls.py (node atoms).
- ``attr-write: {...}``, ``helper-def: f``, ``outside-def: [...]``,
  ``write-target: {...}``: writesites.py (node atoms).
- ``words: [w, ...]``: one of the words occurs in the raw text, ignoring case
  (a fast pre-test for a costly ``text`` regex that needs one of them).
- ``text: R``: the raw text matches ``R`` (for regex rules).
- ``node: [Raise]``: the code holds a node of that kind (a ``raise``).
- ``unit: S``: the screen ``S`` holds on one *unit* of the file: an
  outermost function or method with everything semgrep can carry into it
  from outside (module and class statements, decorators, defaults, every
  import; facts.py says what and why). ``text`` and ``words`` inside it read
  each run of lines the unit holds on its own: its function with the lines
  around it that no function holds, and each other such run (facts._Gaps).
  For a rule whose guard and payload must sit in one function.
- ``file: S``: ``S`` holds on the whole file, also inside ``unit:``: a unit
  holds ``unit: {all: [file: {name: setattr}, name: torch]}`` when it names
  torch and the file (any unit of it) names setattr. For a rule whose match
  in one unit reads another unit's code (a helper defined elsewhere).
- ``helper-of: f`` or ``helper-of: [f, ...]``: the code's own calls (a
  unit's, not its shared part's, which a cut never stubs) call by its bare
  name a function of the file whose body calls ``f`` with one of its parameters first
  (``def patch(t, n, v): setattr(t, n, v)``). With ``file:``, for a rule
  that matches a call of such a helper in another unit.
- ``all: [...]`` / ``any: [...]``; a bare list is ``any``.

A screen must hold wherever semgrep can match: import aliases keep the
module's own name in the import, and a screen over a metavariable-regex lists
every identifier the regex allows. ``tests/test_semgrep_screen.py`` checks
that against semgrep itself: every rule runs unscreened over its fixtures, the
evasion and injected corpora and snippets cut from them, and each match's rule
must be screened in.

How semgrep is told (screenpack.py): the runner names each target ``t<i>-<mask><ext>``, one
character per screened rule, and every screened rule gets ``paths.include``
``*-<k ?>1*`` (semgrep matches include globs against the file name). A target
whose mask is all zeros is not given to semgrep at all. A file Python cannot
parse, and any target that is not Python, gets all ones: every rule runs, as
before. Screens apply to the shipped pack; a policy with its own rule
directories runs unscreened.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traingate.checks.semgrep import (
    folding,
    guardwords,
    labelnodes,
    loadcalls,
    lookups,
    prefilter,
    shared,
    units,
    writesites,
)
from traingate.checks.semgrep.facts import JOIN_MAX, NODE_KINDS, Facts
from traingate.checks.semgrep.facts import facts as facts
from traingate.checks.semgrep.linelocal import line_local
from traingate.errors import CheckError

KEY = "traingate-screen"


Test = Callable[[Facts], bool]


class ScreenError(ValueError):
    pass


def compile_screen(spec: Any, repeated: frozenset[str] = frozenset()) -> Test:
    """A screen's YAML as a test; ScreenError says what is wrong with it.
    A sub-screen whose key is in ``repeated`` keeps its answer (shared.py)."""
    test = _compile(spec, repeated)
    k = shared.key(spec) if repeated else None
    return shared.kept(test, k) if k is not None and k in repeated else test


def _compile(spec: Any, repeated: frozenset[str]) -> Test:
    if isinstance(spec, list):
        if not spec:  # would never hold: the rule would silently never run
            raise ScreenError("a screen list must not be empty")
        return _any([compile_screen(s, repeated) for s in _cheap_first(spec)])
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ScreenError(f"a screen is a list or a mapping with one key, not {spec!r}")
    ((key, value),) = spec.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ScreenError(f"{key}: takes a non-empty list")
        parts = [compile_screen(s, repeated) for s in _cheap_first(value)]
        return _all(parts) if key == "all" else _any(parts)
    if key == "name":
        wanted = [value] if isinstance(value, str) else value
        if not isinstance(wanted, list) or not all(
            isinstance(w, str) and w.isidentifier() for w in wanted
        ):
            raise ScreenError(f"name: takes an identifier or a list of them, not {value!r}")
        want = frozenset(wanted)
        # A unit's names are its own and its shared part's (facts.Facts.shared).
        return lambda f: (
            not want.isdisjoint(f.names)
            or (f.shared is not None and not want.isdisjoint(f.shared.names))
        )
    if key == "unit":
        return units.unit(compile_screen(value, repeated))
    if key == "file":
        return units.whole_file(compile_screen(value, repeated))
    if key == "helper-of":
        callees = [value] if isinstance(value, str) else value
        if not isinstance(callees, list) or not all(
            isinstance(c, str) and c.isidentifier() for c in callees
        ):
            raise ScreenError(f"helper-of: takes an identifier or a list of them, not {value!r}")
        return units.helper_of(frozenset(callees))
    if key == "node":
        kinds = [value] if isinstance(value, str) else value
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= NODE_KINDS:
            raise ScreenError(f"node: takes some of {sorted(NODE_KINDS)}, not {value!r}")
        want_kinds = frozenset(kinds)
        return lambda f: (
            not want_kinds.isdisjoint(f.kinds)
            or (f.shared is not None and not want_kinds.isdisjoint(f.shared.kinds))
        )
    if key == "stored-root":
        roots = [value] if isinstance(value, str) else value
        if not isinstance(roots, list) or not all(
            isinstance(r, str) and (r.isidentifier() or r in _ROOT_KINDS) for r in roots
        ):
            raise ScreenError(f"stored-root: takes names or {sorted(_ROOT_KINDS)}, not {value!r}")
        return _stored_root(frozenset(roots))
    if key == "folded":
        return _folded(value)
    if key == "lookup":
        return _lookup(value)
    if key == "guard-region":
        return guardwords.atom(key, value, ScreenError)
    if key in ("loader-call", "keyword-not-true", "module-attr"):
        return loadcalls.atom(key, value, ScreenError)
    if key in labelnodes.KEYS:
        return labelnodes.atom(key, value, ScreenError)
    if key in writesites.KEYS:
        return writesites.atom(key, value, ScreenError)
    if key == "words":
        words = [value] if isinstance(value, str) else value
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise ScreenError(f"words: takes a word or a list of words, not {value!r}")
        folded = [w.casefold() for w in words]
        return lambda f: any(f.contains(w) for w in folded)
    if key in ("joined", "folds-to"):
        words = [value] if isinstance(value, str) else value
        if not isinstance(words, list) or not all(
            isinstance(w, str) and 0 < len(w) <= JOIN_MAX for w in words
        ):
            raise ScreenError(f"{key}: takes a word or a list of words, not {value!r}")
        if key == "folds-to":
            return lambda f: any(f.whole().foldable(w) for w in words)
        return lambda f: any(f.whole().joinable(w) for w in words)
    if key in ("name-regex", "string", "text"):
        if not isinstance(value, str):
            raise ScreenError(f"{key}: takes a regular expression, not {value!r}")
        try:
            # In ``string``, ^ and $ hold at each literal's ends (and its lines').
            rx = re.compile(value, re.M if key == "string" else 0)
        except re.error as exc:
            raise ScreenError(f"{key}: {value!r} is not a regular expression: {exc}") from None
        if key == "name-regex":
            if "\\A" in value or "\\Z" in value:
                raise ScreenError("name-regex: anchor with ^ and $ (each name is one line)")
            return _names(re.compile(value, re.M))
        if key == "string":
            return _strings(rx)
        return _text(rx)
    raise ScreenError(
        f"unknown screen key {key!r} "
        "(name, name-regex, string, joined, folds-to, folded, lookup, stored-root, node, "
        "words, text, unit, file, helper-of, all, any)"
    )


# What an atom costs a file, roughly: set lookups, a search of the names, of
# the literals or the raw text, then the atoms that read the tree again.
_COST = {"name": 0, "node": 0, "stored-root": 0, "name-regex": 1, "string": 2, "words": 2}
_COST |= {"text": 3, "joined": 3, "folds-to": 3, "lookup": 4, "folded": 4, "helper-of": 4}
_COST |= {"loader-call": 5, "keyword-not-true": 4, "module-attr": 5}  # loadcalls.py's node passes
_COST |= {"attr-write": 4}  # a pass over the file's nodes (writesites.py)
_COST |= {"label-op": 4}  # a pass over the file's nodes (labelnodes.py)


def _cheap_first(specs: list[Any]) -> list[Any]:
    """``all``/``any``'s screens, the cheaper first (issue #17): each is a
    test of the facts alone, so the order changes what is read, not what
    holds. (A screen that is not well formed goes last: still an error.)"""
    return sorted(specs, key=_cost)


def _cost(spec: Any) -> float:
    if isinstance(spec, list):
        return max((_cost(s) for s in spec), default=9)
    if not isinstance(spec, dict) or len(spec) != 1:
        return 9
    ((key, value),) = spec.items()
    if key in ("all", "any") and isinstance(value, list) and value:
        costs = [_cost(s) for s in value]
        return min(costs) if key == "all" else max(costs)
    if key in ("unit", "file"):
        return _cost(value) + 0.5
    return 2.5 if key == "text" and prefilter.literal_led(value) else _COST.get(key, 9)  # #17


def _lookup(value: Any) -> Test:
    if not isinstance(value, dict) or set(value) != {"via", "name"}:
        raise ScreenError(f"lookup: takes {{via: [...], name: built|not-literal}}, not {value!r}")
    via, how = value["via"], value["name"]
    if not isinstance(via, list) or not via or not set(via) <= lookups.KINDS:
        raise ScreenError(f"lookup: via lists some of {sorted(lookups.KINDS)}, not {via!r}")
    if how not in ("built", "not-literal"):
        raise ScreenError(f"lookup: name is built or not-literal, not {how!r}")
    kinds, built, key = frozenset(via), how == "built", f"lookup {how} {sorted(via)}"

    def test(f: Facts) -> bool:
        f = f.whole()
        if key not in f._memo:
            if kinds.isdisjoint(f.names):
                f._memo[key] = False
            else:
                if "lookup walk" not in f._memo:
                    f._memo["lookup walk"] = lookups.Walk(f.looks, f.folds, f.names)
                f._memo[key] = lookups.holds(f._memo["lookup walk"], kinds, built)
        found: bool = f._memo[key]
        return found

    return test


def _folded(value: Any) -> Test:
    if not isinstance(value, dict) or set(value) != {"chars", "min"}:
        raise ScreenError(f"folded: takes {{chars: C, min: N}}, not {value!r}")
    chars, least = value["chars"], value["min"]
    if not isinstance(chars, str) or not chars or type(least) is not int or least < 1:
        raise ScreenError(f"folded: chars is a regex class, min a positive int: {value!r}")
    try:
        unclean = re.compile(f"[^{chars}]")
    except re.error as exc:
        raise ScreenError(f"folded: [{chars}] is not a character class: {exc}") from None
    key = f"folded {least} {chars}"

    def test(f: Facts) -> bool:
        f = f.whole()
        if key not in f._memo:
            f._memo[key] = folding.longest(f.text, f.folds, unclean, least) >= least
        found: bool = f._memo[key]
        return found

    return test


_ROOT_KINDS = frozenset({"<import>", "<call>", "<subscript>", "<other>"})


def _stored_root(roots: frozenset[str]) -> Test:
    """Some attribute written to hangs from one of ``roots``; "<import>" is any
    name an import binds (every name, after a star import: semgrep resolves
    those too)."""
    any_import = "<import>" in roots

    def test(f: Facts) -> bool:
        f = f.whole()
        if not roots.isdisjoint(f.stored):
            return True
        if not any_import:
            return False
        if "*" in f.imported:
            return any(r not in _ROOT_KINDS for r in f.stored)
        return not f.imported.isdisjoint(f.stored)

    return test


def _names(rx: re.Pattern[str]) -> Test:
    """``name-regex``: ``rx`` matches in the names, one a line. A unit's are
    its own and its shared part's: searched apart when ``rx`` is line-local
    (linelocal.py), the shared part's once per file."""
    find = prefilter.Finder(rx)
    if not line_local(rx):
        return lambda f: find.search(f.whole().names_text()) is not None
    key = f"name-regex {rx.flags} {rx.pattern}"

    def test(f: Facts) -> bool:
        s = f.shared
        if s is None:
            return find.search(f.names_text()) is not None
        if not f.names and not s.names:
            return rx.search("") is not None  # no names join to one empty line
        if f.names and find.search(f.names_text()) is not None:
            return True
        return bool(s.names) and _once(s, key, lambda: find.search(s.names_text()) is not None)

    return test


def _strings(rx: re.Pattern[str]) -> Test:
    """``string``: ``rx`` matches in the literals, one after another; a
    unit's own and shared ones apart when it is line-local, as ``_names``."""
    need = prefilter.needs(rx)
    find = prefilter.Finder(rx)
    if not line_local(rx):
        return lambda f: _search(find, need, f.whole(), f.whole().strings, "strings")
    key = f"string {rx.flags} {rx.pattern}"

    def test(f: Facts) -> bool:
        s = f.shared
        if s is None:
            return _search(find, need, f, f.strings, "strings")
        if not f.literals and not s.literals:
            return rx.search("") is not None
        if f.literals and _search(find, need, f, f.strings, "strings"):
            return True
        return s.literals > 0 and _once(
            s, key, lambda: _search(find, need, s, s.strings, "strings")
        )

    return test


def _text(rx: re.Pattern[str]) -> Test:
    """``text``: ``rx`` matches in the raw text (a unit's: Facts.search).
    Rules share text atoms (a payload's shape): each is searched once a
    file or unit; and not at all where the file holds none of the literals
    every match holds (prefilter.py; a unit's text is a part of the file's)."""
    need = prefilter.needs(rx)
    find = prefilter.Finder(rx)
    key = f"text {rx.pattern}"
    absent_key = f"text absent {rx.pattern}"

    def test(f: Facts) -> bool:
        file = f.shared or f  # a unit's shared part: the file's memo
        if _once(file, absent_key, lambda: need.absent(f.text, lambda: _lowered(file, f.text))):
            return False
        return _once(f, key, lambda: _unit_search(f, file, find, need))

    return test


def _unit_search(f: Facts, file: Facts, find: prefilter.Finder, need: prefilter.Needs) -> bool:
    """f.search(find); a unit's run is not searched when it holds no need (#17)."""
    if f.run is None or f.gaps is None or f.gaps.search(find):
        return f.search(find)
    lowered = lambda: _lowered(file, f.text)  # noqa: E731
    return not need.absent_between(f.text, *f.run, lowered) and f.search(find)


def _search(find: prefilter.Finder, need: prefilter.Needs, f: Facts, text: str, name: str) -> bool:
    """``find``'s regex matches in ``text`` (``f``'s ``name``), after the pre-test."""
    if need.absent(text, lambda: _lowered(f, text, name)):
        return False
    return find.search(text) is not None


def _lowered(f: Facts, text: str, name: str = "text") -> str:
    """``text`` (``f``'s ``name``) lowered, once."""
    key = f"lowered {name}"
    if key not in f._memo:
        f._memo[key] = text.lower()
    found: str = f._memo[key]
    return found


def _once(f: Facts, key: str, test: Callable[[], bool]) -> bool:
    """``test()`` for ``f``, computed once."""
    if key not in f._memo:
        f._memo[key] = test()
    found: bool = f._memo[key]
    return found


# Plain loops, not all()/any() over a generator: ~150,000 combinator calls
# a corpus scan, each a generator's start-up (issue #17).
def _all(parts: Sequence[Test]) -> Test:
    if len(parts) == 1:
        return parts[0]
    items = tuple(parts)

    def test(f: Facts) -> bool:
        for p in items:
            if not p(f):
                break
        else:
            return True
        return False

    return test


def _any(parts: Sequence[Test]) -> Test:
    if len(parts) == 1:
        return parts[0]
    items = tuple(parts)

    def test(f: Facts) -> bool:
        for p in items:
            if p(f):
                break
        else:
            return False
        return True

    return test


@dataclass(frozen=True)
class Screens:
    """The screened rules of a pack, in mask order."""

    ids: tuple[str, ...]
    tests: tuple[Test, ...]

    def mask(self, text: str | None) -> str:
        """One character per screened rule: "1" where it may match ``text``
        (Python source; None for a target that is not Python)."""
        return self.mask_parsed(text)[0]

    def mask_parsed(self, text: str | None) -> tuple[str, bool]:
        """The mask, and whether Python parsed ``text``."""
        # The cyclic collector paused, as pyast.parse does: a large file's tree
        # holds no cycle, but the walk's allocations made it traverse the whole
        # tree, young once and again when older (~20% of the masks' CPU time).
        was = gc.isenabled()
        gc.disable()
        try:
            f = facts(text) if text is not None else None
            if f is None:
                return "1" * len(self.ids), False
            return "".join("1" if test(f) else "0" for test in self.tests), True
        finally:
            if was:
                gc.enable()

    def include(self, rule_id: str) -> str:
        """The include glob that admits the targets whose mask has ``rule_id``."""
        return "*-" + "?" * self.ids.index(rule_id) + "1*"


# The screen block of a shipped rule file: read without parsing the whole
# file (the hook loads the pack only when semgrep runs, but 74 ms is 74 ms).
_BLOCK = re.compile(r"^( *)traingate-screen:([^\n]*)\n((?:\1  [^\n]*\n|[ \t]*\n)*)", re.M)
_ID = re.compile(r"^  - id: *([\w.\-]+) *$", re.M)


def read(files: Sequence[Path]) -> tuple[Screens, dict[str, tuple[Path, str]]]:
    """Screens of the shipped rule files, and each screened rule's file and text.
    A malformed screen is a CheckError naming its file: the pack is broken."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the shipped pack: trusted
    specs: list[tuple[str, Path, Any]] = []
    sources: dict[str, tuple[Path, str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        block = _BLOCK.search(text)
        if block is None:
            continue
        ids = _ID.findall(text)
        if len(ids) != 1:
            raise CheckError(f"{path}: a screened rule file holds exactly one rule")
        try:
            spec = yaml.load(
                f"screen:{block.group(2)}\n" + re.sub(f"(?m)^{block.group(1)}", "", block.group(3)),
                Loader=loader,
            )
            specs.append((ids[0], path, spec["screen"]))
        except (yaml.YAMLError, TypeError) as exc:
            raise CheckError(f"{path}: bad {KEY}: {exc}") from None
        sources[ids[0]] = (path, text)
    # Sub-screens several rules spell are tested once a file or unit (shared.py),
    # and so is each ``unit:`` screen: a unit cut asks it again of every unit
    # (unitcut.unit_tests, issue #17).
    repeated = shared.repeated(s for _, _, s in specs) | shared.unit_keys(s for _, _, s in specs)
    found: list[tuple[str, Test]] = []
    for rule_id, path, spec in specs:
        try:
            found.append((rule_id, compile_screen(spec, repeated)))
        except (ScreenError, TypeError) as exc:
            raise CheckError(f"{path}: bad {KEY}: {exc}") from None
    found.sort()
    return Screens(tuple(i for i, _ in found), tuple(t for _, t in found)), sources

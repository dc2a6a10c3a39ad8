"""Changed regions of a large Python file (issue #17): scan only what a change can affect.

``regions(head, base, added, removed)`` returns the head and base texts with every
top-level ``def``/``class`` the change cannot affect replaced by a *stub*: its
decorators and header lines stay as written (rules match class bases:
``class $L(yaml.SafeLoader)``, ``class $C(threading.Thread)``), its body becomes
blank lines with ``...`` on the body's first line. Every line keeps its number
and every kept line its columns, so findings need no line map. Module-level
statements are always kept: semgrep resolves import aliases and constants from
them. ``None`` means "scan both versions whole", the answer whenever anything is
unclear (fail closed).

Newness compares (rule, code) counts of the head and the base, so both versions
are cut by the same set of qualified names: a def outside that set is unchanged
and holds the same hits in both, which cancel. A base cut that misses something
only lowers the base count, which makes a head hit *newer* (more findings),
never hides one; a head cut never drops a kept def.

What is kept, and why (argued from the shipped pack's rule shapes; a test pins
the rules these reasons cover, so a rule of a new shape fails it):

- the defs and classes holding a changed line (added lines on the head, removed
  lines on the base mapped to the base def's qualified name); a method's change
  keeps its class's header and class-level statements and that method, other
  methods are stubbed. No shipped rule needs more of a class: the class-spanning
  rules (deser-reduce-payload, sabotage-optimizer-state-tamper,
  deser-yaml-unsafe-load, tamper-import-time-thread, and since session 25
  sabotage-sampler-rank-seed's DistributedSampler subclass) read the class header and
  the one method that holds the match, and semgrep OSS taint (5 rules) does not
  cross functions. deser-pickle-load excuses an Unpickler base class whose
  ``find_class`` checks an allow list: a stubbed ``find_class`` only loses the
  excuse, which adds the same hit to both versions (they cancel), never hides one.
  sabotage-reseed-every-step and its warning twin sabotage-reseed-in-loop
  (session 28) read a class only in a ``not:``: a per-step hook of the class
  that saves the RNG state excuses a restore; a stubbed hook loses the excuse
  (a hit the whole file would not give, on a restore the change added), never
  hides one.
  tamper-framework-monkeypatch's star-import branch (session 25) excuses a name
  the file binds before the write (``class $C``, ``def $C``, a module-level
  assignment or import): headers and module-level statements are kept, so a
  stub excuses as the whole definition did;
- defs that name a changed top-level def or class, or a global a changed def
  assigns (names are read as words of the source, a superset of ast's):
  ``class $L(SafeLoader) ... yaml.load(..., Loader=$L)`` (deser-yaml-unsafe-load)
  binds a definition to a use elsewhere, so a changed definition can make an
  unchanged use fire;
- defs with a ``global``/``nonlocal`` statement: removing a reassignment would
  make a global a constant for semgrep's constant propagation, and a rule's
  ``pattern-not: exec("...")`` would then excuse a call it flags today (kept
  for that alone, they are no use of anything: the helpers they call are not
  kept for them);
- defs whose body shares the header's line (``def noop(): pass``): they
  cannot be stubbed. A short def on lines of its own is stubbed like any
  other unless something keeps it: persist-logging-disable binds
  ``def $V(...): pass`` to a use, and a changed use keeps the def it names
  (_callees), a changed def the uses naming it (_also_keep).

A changed line that is only a comment (not inside a string) changes nothing
semgrep sees, wherever it is: it keeps no def (a comment edited in a 2,500-line
table-building function left that function whole, 20% of a 200-file change's
semgrep time). The pack's regexes read code a metavariable binds, and a
comment inside a bound span could change such a text: the head and base of an
unchanged def then differ only in comments, which no rule is meant to read. Whole file: a change on a module-level statement
(or on lines 1-2, where an encoding cookie lives), a changed def whose qualified
name the head lacks (deleted or renamed), a file ``ast`` cannot parse, line
breaks other than LF and CRLF (see _split), a head cut that does not parse, a file under MIN_LINES lines, or a file calling
``requests.post(f"{self.`` (egress-http-upload reads that call's whole class) or naming
``ServerProxy``, ``TCPStore`` or ``Session`` (egress-secret-exfil follows a client
stored on self into another method) or ``new_group`` (sabotage-grad-allreduce-subset-group
follows a process group stored on self into another method). Only
the shipped pack was analysed: policies with their own rule dirs scan whole files.
"""

from __future__ import annotations

import ast
import bisect
import operator
import re
import unicodedata
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from traingate import pyast

# Below this many lines a file is scanned whole: semgrep's per-file cost is
# then mostly fixed (start-up share, rule prefilters), so a cut saves little.
MIN_LINES = 300
# A def or class this short (decorators included) is never stubbed. One: only
# a body on the header's line, which cannot be stubbed anyway. It was 4 (a
# short def "costs nothing"), but every kept short def also kept whole the
# helpers it names: 3,300 of the 200-file change's 31,400 kept lines.
SMALL_LINES = 1
# A cut that blanks less than this share of the lines is not worth a second key.
MIN_BLANKED_SHARE = 0.1

_MODULE = "<module>"  # owner of a module-level statement's lines: whole file
_INDENT = re.compile(r"[ \t\f]*")
_ODD_BREAK = re.compile("\r(?!\n)|[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_ODD_CHARS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # substring tests: 100x faster than the regex
# Bare identifiers (not after a dot): a superset of the names ast would see.
_WORD = re.compile(r"(?<![.\w])[^\W\d]\w*")
_SCOPE = re.compile(r"\b(?:global|nonlocal)\b")  # prefilter; ast decides
# egress-http-upload excuses a client's call to `f"{self.<attr>}/..."` only after
# reading its whole class as text (no other method re-points <attr>): a stubbed
# method would hide the re-pointing, so such a file is scanned whole.
_READS_CLASS_TEXT = re.compile(
    r"requests\.(?:post|put|patch)[ \t]*\(\s*f[\"']\{self\."
    # egress-secret-exfil: a client stored on self in one method and called in
    # another (issue #16); the constructor's name survives any import alias.
    r"|\b(?:ServerProxy|TCPStore|Session)\b"
    # sabotage-grad-allreduce-subset-group: a group built in __init__ from a
    # literal rank list and reduced over in another method (issue #16).
    r"|\bnew_group\b"
)
_Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass(frozen=True)
class _Item:
    """A top-level def or class, or a method of a top-level class."""

    qualname: str  # "f", "C", "C.m"
    start: int  # first line, decorators included
    end: int
    body: int  # first line of the body; 0 when it shares a line with the header
    indent: str  # the body's indentation, as written
    header: str  # the line of the `def`/`class` keyword, as written
    small: bool
    text: str = field(repr=False)  # its own text (a class: outside its methods)
    scoped: bool  # declares a global or nonlocal (a class: outside its methods)
    node: _Def = field(compare=False)
    methods: tuple[_Item, ...] = ()

    @cached_property
    def words(self) -> frozenset[str]:
        """Bare names in its text; read only for the items a rule may bind
        (most of a large change's 10,000 items never are, issue #17)."""
        return frozenset(_WORD.findall(self.text))


@dataclass(frozen=True)
class _Layout:
    lines: tuple[str, ...]  # with their line ends
    items: tuple[_Item, ...]
    owner: tuple[str | None, ...]  # by line number: qualname, _MODULE, or None (blank/comment)
    module: tuple[ast.stmt, ...]  # module-level statements other than defs and classes
    # Lines inside a multi-line string, by id() of the statement or def walked.
    in_strings: dict[int, frozenset[int]] = field(default_factory=dict, compare=False)


def regions(
    head: str,
    base: str,
    added: Collection[int],
    removed: Collection[int],
    *,
    min_lines: int = MIN_LINES,
    min_share: float = MIN_BLANKED_SHARE,
) -> tuple[str, str] | None:
    """(head cut, base cut), or None to scan both whole. Never raises."""
    try:
        return _regions(head, base, added, removed, min_lines, min_share)
    except Exception:  # fail closed: any surprise means whole files
        return None


def _regions(
    head: str,
    base: str,
    added: Collection[int],
    removed: Collection[int],
    min_lines: int,
    min_share: float,
) -> tuple[str, str] | None:
    if head.count("\n") + 1 < min_lines:
        return None
    if _READS_CLASS_TEXT.search(head) or _READS_CLASS_TEXT.search(base):
        return None
    hl = _layout(head)
    if hl is None:
        return None
    # Lines only added (the common case): the base is the head without them,
    # so its cut is the head's without them, and a second parse is not needed.
    bl = None if not removed and _without(hl.lines, added) == base else _layout(base)
    layouts = (hl,) if bl is None else (hl, bl)
    keep: set[str] = set()
    for lay, lines in zip(layouts, (added, removed), strict=False):
        for n in lines:
            owner = _owner(lay, n)
            if owner == _MODULE:
                return None
            if owner is not None:
                keep.add(owner)
    if not keep <= {i.qualname for i in _walk(hl)}:
        return None  # a def deleted or renamed: what used to be judged is gone
    names = set().union(*(_changed_names(keep, lay) for lay in layouts))
    keep |= set().union(*(_also_keep(lay, names) for lay in layouts))
    keep |= set().union(*(_callees(lay, keep) for lay in layouts))
    # After the callees: a def kept only for its global statement is unchanged
    # code, and so are the helpers it calls (a whole 2,500-line table builder,
    # called by a registry function with a `global`, stayed whole for that).
    keep |= set().union(*(_scoped(lay) for lay in layouts))
    # A kept method keeps its class's header and class-level statements, on
    # both sides (a method new in the head still opens the base's class).
    keep |= {q.split(".")[0] + "." for q in keep if "." in q}
    cut_head = _cut(hl, keep)
    blanked = sum(map(operator.ne, cut_head, hl.lines))
    if blanked == 0 or blanked < min_share * len(hl.lines):
        return None
    out_head = "".join(cut_head)
    if _parse(out_head) is None:
        return None  # would be a (blocking) parse error of our own making
    # The base cut is not re-parsed: if it were broken, semgrep would find
    # fewer base hits, which only makes head hits newer.
    out_base = _without(tuple(cut_head), added) if bl is None else "".join(_cut(bl, keep))
    return out_head, out_base


def _without(lines: tuple[str, ...], drop: Collection[int]) -> str:
    gone = set(drop)
    return "".join(ln for n, ln in enumerate(lines, 1) if n not in gone)


def _owner(lay: _Layout, n: int) -> str | None:
    """Whose change line n is: a qualname, _MODULE (whole file), or None."""
    if not 2 < n <= len(lay.lines):
        return _MODULE  # past the end, or where an encoding cookie lives
    owner = lay.owner[n]
    if owner is not None and _comment_only(lay, n, owner):
        return None
    return owner


def _comment_only(lay: _Layout, n: int, owner: str) -> bool:
    """Line n is only a comment, not string text (the statement or def that
    owns it has no string spanning onto it)."""
    if not lay.lines[n - 1].lstrip(" \t\f").startswith("#"):
        return False
    root: ast.AST
    if owner == _MODULE:
        starts = [s.lineno for s in lay.module]
        root = lay.module[bisect.bisect_right(starts, n) - 1]
    else:
        root = next(i.node for i in _walk(lay) if i.qualname == owner)
    if id(root) not in lay.in_strings:  # many comment lines in one large def: one walk
        lay.in_strings[id(root)] = frozenset(
            line
            for sub in ast.walk(root)
            if isinstance(sub, (ast.Constant, ast.JoinedStr))
            for line in range(sub.lineno + 1, (sub.end_lineno or sub.lineno) + 1)
        )
    return n not in lay.in_strings[id(root)]


def _parse(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pyast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _split(text: str) -> tuple[str, ...] | None:
    """Lines with their ends, split where CPython, git and semgrep all split.

    A lone CR is a line end to CPython but not to git; form feeds, U+2028 and
    the like are line ends to Python's str.splitlines, which numbers the lines
    of a diff git calls binary (change.py). Where tools could number lines
    differently, a changed line could be pinned on the wrong def: whole file."""
    if any(c in text for c in _ODD_CHARS) and _ODD_BREAK.search(text):
        return None
    # With only LF and CRLF left, str.splitlines splits exactly there (in C).
    return tuple(text.splitlines(keepends=True))


def _layout(text: str) -> _Layout | None:
    lines = _split(text)
    tree = _parse(text)
    if lines is None or tree is None:
        return None
    owner: list[str | None] = [None] * (len(lines) + 2)
    items: list[_Item] = []
    module: list[ast.stmt] = []
    # Most files declare no global: one search of the file, not one per item.
    scopes = ("global" in text or "nonlocal" in text) and _SCOPE.search(text) is not None
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.append(node)
            _own(owner, node.lineno, node.end_lineno or node.lineno, _MODULE)
            continue
        item = _item(node, lines, "", scopes)
        items.append(item)
        if not isinstance(node, ast.ClassDef) or item.body == 0:
            _own(owner, item.start, item.end, item.qualname)
            continue
        # In a class: the header and each class-level statement belong to the
        # class, a method to itself, comments between them to nobody.
        _own(owner, item.start, item.body - 1, item.qualname)
        for stmt in node.body:
            _own(owner, _start(stmt), stmt.end_lineno or stmt.lineno, item.qualname)
        for m in item.methods:
            _own(owner, m.start, m.end, m.qualname)
    return _Layout(lines, tuple(items), tuple(owner), tuple(module))


def _own(owner: list[str | None], start: int, end: int, who: str) -> None:
    owner[start : end + 1] = [who] * (end + 1 - start)


def _start(stmt: ast.stmt) -> int:
    """First line of a statement, decorators included."""
    lines = [stmt.lineno]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        lines += [d.lineno for d in stmt.decorator_list]
    return min(lines)


def _item(node: _Def, lines: tuple[str, ...], prefix: str, scopes: bool) -> _Item:
    start = _start(node)
    end = node.end_lineno or node.lineno
    first = node.body[0]
    # A decorated first statement starts at its first decorator, on a line of
    # its own (a compound statement never follows the header's colon).
    first_line = _start(first)
    lead = _INDENT.match(lines[first_line - 1])
    # Otherwise the body starts its own line when only indentation precedes it
    # (col_offset counts UTF-8 bytes); if it shares the header's line: kept whole.
    own_line = lead is not None and (
        first_line < first.lineno or len(lead.group(0).encode()) == first.col_offset
    )
    qualname = prefix + node.name
    methods: list[_Item] = []
    text = "".join(lines[start - 1 : end])
    if isinstance(node, ast.ClassDef) and not prefix:
        own = [True] * (end - start + 1)
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                m = _item(stmt, lines, qualname + ".", scopes)
                methods.append(m)
                own[m.start - start : m.end - start + 1] = [False] * (m.end - m.start + 1)
        # A class's own words are those outside its methods (each is an item).
        text = "".join(ln for ln, mine in zip(lines[start - 1 : end], own, strict=True) if mine)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # as CPython reads identifiers
    return _Item(
        qualname=qualname,
        start=start,
        end=end,
        body=first_line if own_line else 0,
        indent=lead.group(0) if lead is not None else "",
        header=lines[node.lineno - 1],
        small=end - start + 1 <= SMALL_LINES or not own_line,
        text=text,
        scoped=scopes and _SCOPE.search(text) is not None and bool(_declared(node, bool(methods))),
        node=node,
        methods=tuple(methods),
    )


def _declared(node: _Def, skip_methods: bool) -> set[str]:
    """Names a def declares global or nonlocal (a class: outside its methods)."""
    roots: list[ast.AST] = [node]
    if skip_methods and isinstance(node, ast.ClassDef):
        roots = [s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return {
        n
        for root in roots
        for sub in ast.walk(root)
        if isinstance(sub, (ast.Global, ast.Nonlocal))
        for n in sub.names
    }


def _walk(lay: _Layout) -> Iterator[_Item]:
    for item in lay.items:
        yield item
        yield from item.methods


def _changed_names(keep: set[str], lay: _Layout) -> set[str]:
    """Bare names a use elsewhere may bind to a change: changed top-level defs
    and classes (a method is reached through an attribute, which no shipped
    rule binds), the globals changed code declares, and module-level aliases."""
    names: set[str] = set()
    for item in _walk(lay):
        if item.qualname in keep:
            if "." not in item.qualname:
                names.add(item.qualname)
            if item.scoped:
                names |= _declared(item.node, bool(item.methods))
    aliases = [
        (t.id, frozenset(n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)))
        for stmt in lay.module
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None
        for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
        for t in ast.walk(target)
        if isinstance(t, ast.Name)
    ]
    grew = True
    while grew:
        grew = False
        for name, used in aliases:
            if name not in names and used & names:
                names.add(name)
                grew = True
    return names


def _also_keep(lay: _Layout, names: set[str]) -> set[str]:
    """Items kept for what they use or do, whether or not they changed (small
    ones are never stubbed, see _stub)."""
    out: set[str] = set()
    if not names:
        return out  # the usual case: only methods changed
    # One search per item for any of the names as a word (what `words & names`
    # decides), without collecting every item's words.
    named = re.compile(r"(?<![.\w])(?:" + "|".join(map(re.escape, sorted(names))) + r")(?!\w)")
    for item in _walk(lay):
        if any(n in item.text for n in names) and named.search(item.text):
            # A class's own statements stay with its header ("C."); a def or
            # method stays whole.
            out.add(item.qualname + "." if item.methods else item.qualname)
    return out


def _scoped(lay: _Layout) -> set[str]:
    """Items with a global or nonlocal statement, changed or not (see the module doc)."""
    return {
        item.qualname + "." if item.methods else item.qualname for item in _walk(lay) if item.scoped
    }


def _callees(lay: _Layout, keep: set[str]) -> set[str]:
    """Top-level defs and classes a kept item names: rules pair a helper with its
    use in the same file (tamper-framework-monkeypatch: a def that setattr()s its
    parameter, flagged where it is called or used as a decorator on a framework
    object), so a changed use needs its unchanged helper whole. One level: the
    use and the helper are what such a rule binds."""
    used: set[str] = set()
    for item in _walk(lay):
        # Items that cannot be stubbed (_stub) are uses that stay too, and so
        # are the decorators of a stubbed def (`@override(torch.Tensor)`).
        if item.small or item.qualname in keep or item.qualname + "." in keep:
            used |= item.words
        else:
            used |= {
                n.id
                for d in item.node.decorator_list
                for n in ast.walk(d)
                if isinstance(n, ast.Name)
            }
    return {
        item.qualname + "." if item.methods else item.qualname
        for item in lay.items
        if "." not in item.qualname and item.qualname in used
    }


def _cut(lay: _Layout, keep: set[str]) -> list[str]:
    out = list(lay.lines)
    for item in lay.items:
        if item.qualname in keep:
            continue
        if item.qualname + "." in keep:
            for m in item.methods:
                if m.qualname not in keep:
                    _stub(out, m)
        else:
            _stub(out, item)
    return out


def _stub(out: list[str], item: _Item) -> None:
    """Replace ``item``'s body in ``out`` by ``...``, blank lines after it.

    A class keeps its header as written (rules read the bases) and gets ``...``
    on its body's first line. A def keeps its decorators and becomes
    ``def name(): ...`` on its ``def`` line: its parameters, defaults and
    annotations are unchanged code whose hits would cancel between the
    versions, and long signatures are a large share of what a stub would keep.
    A def whose body shares its header's line (``def noop(): pass``) is left
    whole: there is no body line to blank."""
    if item.body == 0 or item.small:
        return
    node = item.node
    first = item.body
    if not isinstance(node, ast.ClassDef):
        first = node.lineno
    for n in range(first, item.end + 1):
        line = out[n - 1]
        out[n - 1] = line[len(line.rstrip("\r\n")) :]
    if isinstance(node, ast.ClassDef):
        out[first - 1] = item.indent + "..." + out[first - 1]
        return
    lead = _INDENT.match(item.header)
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    out[first - 1] = f"{lead.group(0) if lead else ''}{keyword} {node.name}(): ...{out[first - 1]}"

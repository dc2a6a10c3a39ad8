"""A helper module's top-level statements, from its text (issue #16, session 12):
which of its functions can return a draw, and which of its names can hold one,
decided before the module is parsed.

``from .utils import keep``: most helpers spell a draw somewhere (``random`` in
a seed helper, ``normal`` in a docstring), and parsing each one a change's files
import doubled the check's time on a 200-file change. So the text is cut into
its top-level statements by a scan of its strings, comments, brackets and line
continuations (a line at column 0 inside a string or brackets starts nothing),
and a name passes only when a statement it reaches spells a draw: the function's
own ``def`` (or the statements binding the name), then the top-level functions
and the module-level statements binding a name those spell, to a fixed point.
That is a superset of what ``returns.Returns`` can find once the module is
parsed (it reads the same words in the same places), so nothing it would find
is skipped. A text the scan cannot follow (a lone carriage return, an unclosed
string or bracket) passes whenever it spells a draw anywhere.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from traingate.checks.sabotage.lru import ByLength

# A string (any prefix, triple-quoted or not) or a comment: its brackets and line
# ends are neutralised (same length), so what is left is counted with str.count.
_STRCOM = re.compile(
    r"""[rRbBuUfF]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\""""
    r"""|'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*")|\#[^\n]*""",
    re.S,
)
_NEUTRAL = str.maketrans(dict.fromkeys("()[]{}", " ") | {"\n": "\v"})
# A line end followed by code at column 0 (a form feed sets the column to 0):
# a statement starts there when no bracket is open.
_LINE0 = re.compile(r"\n(?=(?:[ \t\f]*\f)?[^\s#])")
_DEF = re.compile(r"(?:async[ \t]+)?def(?:[ \t\f]|\\\r?\n|\\\r)+([^\s!-/:-@\[-^`{-~]+)")
# A ``def`` starts a line (a compound statement cannot follow a colon on its line):
# indented, or at column 0 (also inside a string: then more are counted, which passes).
_INDENTED_DEF = re.compile(r"\n[ \t\f]+" + _DEF.pattern)
_LINE_DEF = re.compile(r"\n" + _DEF.pattern)
_CLASS = re.compile(r"class\b")
# `name =` and `name: T =` (also a keyword argument: a superset of what binds a name).
_ASSIGNED = re.compile(r"(?<![.\w])([^\W\d]\w*)[ \t]*(?::[^=\n]*)?=(?!=)")
# What ``returns`` follows as a call to a function of the module: ``f(``, ``self.f``.
_CALLED = re.compile(
    r"(?<![.\w])([^\W\d]\w*)(?:\s|\\|\))*\(|\b(?:self|cls)[ \t]*\.[ \t]*([^\W\d]\w*)"
)
_IDENT = re.compile(r"(?<![.\w])[^\W\d]\w*")
_RETURN = re.compile(r"(?m)\breturn\b(?![ \t]*(?:$|;|#))")


class Outline:
    def __init__(self, text: str, draw: re.Pattern[str]) -> None:
        self.draw = draw
        self.text = text
        self.exact = "\r" not in text.replace("\r\n", "")
        starts = _starts(text) if self.exact else None
        self.exact = starts is not None
        self.bounds = [*(starts or [0]), len(text)]
        self.defs: dict[str, list[int]] = {}  # top-level function -> its statements
        self.classes: set[int] = set()
        for i in range(len(self.bounds) - 1):
            # a form feed sets the column to 0 (CPython's tokenizer)
            head = text[self.bounds[i] : self.bounds[i] + 200].lstrip(" \t\f")
            m = _DEF.match(head)
            if m is not None:
                self.defs.setdefault(_norm(m.group(1)), []).append(i)
            elif _CLASS.match(head):
                self.classes.add(i)
        self._memo: dict[int, tuple[bool, set[str], set[str]]] = {}
        self._code: dict[int, str] = {}
        self._nested: set[str] | None = None
        self._binders: dict[str, list[int]] | None = None

    def binders(self) -> dict[str, list[int]]:
        """Name -> the module-level statements that may bind it. Not a top-level
        function's body: ``walk_local(tree.body)`` reads one's locals as module names
        too, but a name a function binds without ``global`` is a local at run time
        (reading it elsewhere raises ``NameError``), and with ``global`` it is not held
        (``events.module_table``)."""
        if self._binders is None:
            self._binders = {}
            tops = {i for idx in self.defs.values() for i in idx} | self.classes
            for i in range(len(self.bounds) - 1):
                if i not in tops:
                    for name in set(_ASSIGNED.findall(self.code(i))):
                        self._binders.setdefault(name, []).append(i)
        return self._binders

    def _read(self, i: int) -> str:
        return as_read(self.text[self.bounds[i] : self.bounds[i + 1]])

    def code(self, i: int) -> str:
        got = self._code.get(i)
        if got is None:
            got = self._code[i] = _code(self._read(i))
        return got

    def _facts(self, i: int) -> tuple[bool, set[str], set[str]]:
        """Whether statement ``i`` spells a draw, the names it spells, those it calls."""
        got = self._memo.get(i)
        if got is None:
            got = self._memo[i] = _facts(self.code(i), self.draw)
        return got

    def nested(self) -> set[str]:
        """Functions defined elsewhere than at the top level (methods, a ``def`` in an
        ``if``): their text is not cut out, so calling one passes."""
        if self._nested is None:
            text = self.text
            out = set(map(_norm, _INDENTED_DEF.findall(text)))
            count: dict[str, int] = {}
            for name in map(_norm, _LINE_DEF.findall(text)):
                count[name] = count.get(name, 0) + 1
            m = _DEF.match(text)  # the first line
            if m is not None:
                count[_norm(m.group(1))] = count.get(_norm(m.group(1)), 0) + 1
            self._nested = out | {n for n, k in count.items() if k > len(self.defs.get(n, ()))}
        return self._nested

    def reaches(self, roots: list[int]) -> bool:
        """Whether these functions, or what they reach through the names they spell (a
        top-level function's ``def``, an assignment of a name: ``returns``'s module
        names bound from a draw), spell a draw."""
        if not self.exact:
            return True
        nested, binders = self.nested(), self.binders()
        seen: set[int] = set()
        named: set[str] = set()
        todo: list[tuple[bool, set[str], set[str]]] = []  # (draws, names, called)
        for i in roots:
            seen.add(i)
            todo.append(self._facts(i))
        while todo:
            draws, names, called = todo.pop()
            if draws or not nested.isdisjoint(called):
                return True
            for n in called:  # a function is followed where it is called, as ``events`` does
                for i in self.defs.get(n, ()):
                    if i not in seen:
                        seen.add(i)
                        todo.append(self._facts(i))
            for n in names - named:
                named.add(n)
                for i in binders.get(n, ()):  # each assignment of n, to its statement's end
                    code = self.code(i)
                    for m in _assigning(n).finditer(code):
                        todo.append(_facts(code[m.start() : _end(code, m.end())], self.draw))
        return False

    def may_return(self, name: str) -> bool:
        """Whether ``name()`` can return a draw or an event (``returns.Returns.get``)."""
        if name in self.nested() or not self.exact:
            return True
        own = [i for i in self.defs.get(name, ()) if _RETURN.search(self.code(i))]
        return bool(own) and self.reaches(own)


def _facts(code: str, draw: re.Pattern[str]) -> tuple[bool, set[str], set[str]]:
    called = {a or b for a, b in _CALLED.findall(code)}
    return draw.search(code) is not None, set(_IDENT.findall(code)), called


@functools.lru_cache(maxsize=256)
def _assigning(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![.\w]){re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)")


_BREAK = re.compile(r"[()\[\]{}]|\\\r?\n|\n")


def _end(code: str, pos: int) -> int:
    """Where the logical line holding ``pos`` ends (a superset: at a bracket closing
    one opened before ``pos``, the keyword argument's value ends)."""
    depth = 0
    for m in _BREAK.finditer(code, pos):
        c = m.group()
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return m.start()
        elif c == "\n" and depth == 0:
            return m.start()
    return len(code)


def _code(text: str) -> str:
    """A statement's code: comments and string literals dropped (a docstring's
    "random"), an f-string kept whole (its fields are code)."""
    return _STRCOM.sub(_drop, text)


def _drop(m: re.Match[str]) -> str:
    got = m.group()
    if got.startswith("#"):
        return ""
    quote = min((i for i in (got.find("'"), got.find('"')) if i >= 0), default=0)
    return got.replace("\n", " ") if "f" in got[:quote].lower() else '""'


def _starts(text: str) -> list[int] | None:
    """Where each top-level statement starts; None when the scan cannot tell (a
    bracket closed that was not opened)."""
    neutral = _STRCOM.sub(_neutral, text)
    # a line continuation (CRLF or LF; a lone CR makes the outline inexact)
    neutral = neutral.replace("\\\r\n", "\\\r\v").replace("\\\n", "\\\v")
    out = [0]
    depth = prev = 0
    for m in _LINE0.finditer(neutral):
        seg = neutral[prev : m.end()]
        prev = m.end()
        # six counts, without the generators' frames (issue #17: a helper's every line)
        c = seg.count
        depth += c("(") + c("[") + c("{") - c(")") - c("]") - c("}")
        if depth < 0:
            return None
        if depth == 0:
            out.append(prev)
    return out


def _neutral(m: re.Match[str]) -> str:
    return m.group().translate(_NEUTRAL)


def _norm(name: str) -> str:
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


# An identifier with a character NFKC may change (cut._TOKEN's, holding one).
_ODD_TOKEN = re.compile(r"[A-Za-z0-9_]*[^\x00-\x7f][^\s!-/:-@\[-^`{-~]*")


def as_read(text: str) -> str:
    """``cut.as_read``, normalising only the identifiers that are not ASCII (faster:
    NFKC leaves an ASCII one as it is), and none in a text NFKC leaves as it is
    (issue #17: most non-ASCII files). A token is cut at a space, ASCII punctuation
    or a character no identifier holds, none of which NFKC composes with what
    follows, so a normalised text's tokens are normalised too."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    # The search enters each line at its start as it does in the whole text (issue
    # #17: the pattern's ASCII prefix was retried at every word's every character,
    # ~6 ms a file).
    return nfkc_lines(text, _ODD_TOKEN)


def nfkc_lines(text: str, token: re.Pattern[str]) -> str:
    """``text`` with every match of ``token`` NFKC-normalised, searched only on the
    lines holding a character that is not ASCII: no token crosses a line end, and
    NFKC leaves a run of ASCII as it is (issue #17; cut.as_read's too)."""
    out: list[str] = []
    done, end = 0, len(text)
    odd = _NOT_ASCII.search(text)
    while odd is not None:
        first = text.rfind("\n", 0, odd.start()) + 1
        last = text.find("\n", odd.start())
        last = end if last < 0 else last
        out.append(text[done:first])
        out.append(token.sub(_nfkc, text[first:last]))
        done = last
        odd = _NOT_ASCII.search(text, last)
    out.append(text[done:])
    return "".join(out)


def _nfkc(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group())


def may_define(text: str, name: str) -> bool:
    """Whether a module's text may define ``name`` with ``def``, at any depth: one
    search for the name as spelled (then ``def`` before it), or a spelling NFKC makes
    it (a text that is not ASCII: then it may).

    A name of word characters only is searched only when ``_def_words`` holds it
    (issue #17: a search and a compiled pattern per name a scan asked, 1.5% of it).
    Sound: a ``def`` found before the name is preceded by no word character (the
    lookbehind also reads before the window), so ``_DEF_THEN`` matches at it (a
    match takes only ``def`` and its blanks, none of which is a ``d``: no earlier
    one overlaps it), its blanks end where the name starts, and the word run it reads
    is the name, which no word character follows."""
    if _WORDS.fullmatch(name) and name not in _def_words(text):
        return name in _odd_names(text)
    for m in re.finditer(re.escape(name), text):
        i, j = m.start(), m.end()
        if not _WORD.match(text, j) and _DEF_BEFORE.search(text, max(0, i - 64), i):
            return True
    return name in _odd_names(text)


_DEF_BEFORE = re.compile(r"(?<!\w)def(?:[ \t\f]|\\\r?\n|\\\r)+\Z")
# ``_DEF_BEFORE``'s ``def`` and blanks, then the word run that follows (a lookahead:
# a match never takes the next ``def``, as in ``def def f``). Its lookbehind is
# tested on each match: a pattern starting with a literal is searched 15 times faster.
_DEF_THEN = re.compile(r"def(?:[ \t\f]|\\\r?\n|\\\r)+(?=(\w+))")
_WORDS = re.compile(r"\w+")


@functools.lru_cache(maxsize=1024)  # per helper text: ~600 in a scan (issue #17)
def _def_words(text: str) -> frozenset[str]:
    """Every word run right after a ``def`` (no word character before it) and its
    blanks: a superset of the names of word characters ``may_define`` finds defined."""
    word = _WORD.match
    return frozenset(
        m.group(1)
        for m in _DEF_THEN.finditer(text)
        if not (m.start() and word(text, m.start() - 1))
    )


_WORD = re.compile(r"\w")


_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")
_DELIM = frozenset(" \t\n\r\f\v!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~")


@functools.lru_cache(maxsize=1024)  # per helper text: ~600 in a scan (issue #17)
def _odd_names(text: str) -> frozenset[str]:
    """Identifiers holding a character NFKC may change, as Python reads them."""
    out: set[str] = set()
    if text.isascii():
        return frozenset()
    n = len(text)
    for m in _NOT_ASCII.finditer(text):
        i, j = m.start(), m.end()
        while i > 0 and text[i - 1] not in _DELIM:
            i -= 1
        while j < n and text[j] not in _DELIM:
            j += 1
        out.add(unicodedata.normalize("NFKC", text[i:j]))
    return frozenset(out)


# The helper texts' length whose outlines are kept beyond the 32 (lru.py). An outline
# holds 1-3 times its text (the texts themselves the run's lookup holds anyway), and 32
# held up to 2 MB of text in a corpus scan: the peak stays. There: 684 outlines for 607
# texts, not 720; 8 MB gave 612.
OUTLINE_TEXT = 2 << 20


class _Outlines(ByLength[Outline]):
    def __call__(self, text: str, draw: re.Pattern[str]) -> Outline:
        return self.get((text, draw), len(text), functools.partial(Outline, text, draw))


# A scan asks ~600 helper texts in no order (issue #17): 32 outlines kept made 794
# for 607 texts; bounded by the texts' length instead (lru.py).
outline = _Outlines(budget=OUTLINE_TEXT, least=32)


def release() -> None:
    outline.cache_clear()
    _odd_names.cache_clear()
    _def_words.cache_clear()

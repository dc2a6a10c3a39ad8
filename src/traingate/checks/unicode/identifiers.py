"""Python identifiers: NFKC confusables and mixed scripts, outside strings and comments."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from traingate.checks.unicode.tables import CONFUSABLE, MIXED_SCRIPT, _Hit, _show, describe

_STRING_PREFIXES = frozenset(["", "r", "u", "f", "b", "br", "rb", "fr", "rf", "t", "tr", "rt"])
_CODE_EVENT = re.compile(r"[#'\"]|[^\x00-\x7f]")
# Inside an f-string replacement field brackets matter: ``}``, ``:`` and ``!`` at
# depth 0 end the expression.
_FEXPR_EVENT = re.compile(r"[#'\"()\[\]{}:!]|[^\x00-\x7f]")
_EOL = re.compile(r"[\r\n]")
# Characters Python accepts in identifiers but which are not letters, digits or marks.
_OTHER_ID = frozenset("\u00b7\u0387\u2118\u212e\u309b\u309c")


@lru_cache(maxsize=64)
def _string_event(quote: str, fmt: bool) -> re.Pattern[str]:
    chars = "\\\\" + re.escape(quote[0])
    if len(quote) == 1:
        chars += "\\r\\n"  # a single-quoted string cannot span lines
    if fmt:
        chars += "{}"
    return re.compile(f"[{chars}]")


@lru_cache(maxsize=64)
def _spec_event(quote: str) -> re.Pattern[str]:
    chars = "{}" + re.escape(quote[0]) + ("\\r\\n" if len(quote) == 1 else "")
    return re.compile(f"[{chars}]")


def _is_ident_char(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch == "_"
    cat = unicodedata.category(ch)
    return cat[0] in "LN" or cat in ("Mn", "Mc", "Pc") or ch in _OTHER_ID


def _ident_run(text: str, i: int) -> tuple[int, int]:
    """The identifier-like run around ``i``; empty (end == i) if ``text[i]`` is not in one."""
    if not _is_ident_char(text[i]):
        return i, i
    start, end = i, i
    while start > 0 and _is_ident_char(text[start - 1]):
        start -= 1
    while end < len(text) and _is_ident_char(text[end]):
        end += 1
    return start, end


def _python_identifiers(
    text: str, strings: list[tuple[int, int]] | None = None, stop: int | None = None
) -> Iterator[tuple[int, int]]:
    """Spans of identifier-like runs containing non-ASCII characters, in code.

    ``strings``, when given, collects the span of every string literal's content
    (issue #16: confusable words and colour escapes are judged inside literals).
    ``stop``: the lexer ends once back in plain code at or past it (issue #17:
    past a file's last non-ASCII or ESC character no identifier or literal can
    hold a finding; literals after it are not collected).

    A small lexer instead of :mod:`tokenize`: the code under review need not parse.
    It skips comments and string literals (prefixes, triple quotes, escapes) but
    enters f-string replacement fields, which are code (PEP 701 nesting). A lone CR
    ends a comment, as it does for Python. On malformed input it errs toward
    treating text as code, which can only add findings.
    """
    n = len(text)
    stop = n if stop is None else stop
    # Frames: ("s", quote, raw, fmt) string; ("e", depth) f-string expression;
    # ("p",) format spec. An empty stack is plain code.
    stack: list[tuple[str, str, bool, bool] | tuple[str, int] | tuple[str]] = []
    opened: list[int] = []  # where the content of each open string frame starts
    i = 0

    def close_string(end: int) -> None:
        start = opened.pop()
        if strings is not None:
            strings.append((start, end))

    while i < n:
        top = stack[-1] if stack else None
        if top is None and i >= stop:
            return
        if top is None or top[0] == "e":
            m = (_CODE_EVENT if top is None else _FEXPR_EVENT).search(text, i)
            if m is None:
                return
            j = m.start()
            ch = text[j]
            if ch == "#":
                eol = _EOL.search(text, j)
                i = eol.start() if eol else n
            elif ch in "'\"":
                p = j
                while p > 0 and text[p - 1].isascii() and text[p - 1].isalpha():
                    p -= 1
                prefix = text[p:j].lower()
                if p > 0 and _is_ident_char(text[p - 1]):
                    prefix = ""
                prefix = prefix if prefix in _STRING_PREFIXES else ""
                quote = ch * 3 if text.startswith(ch * 3, j) else ch
                stack.append(("s", quote, "r" in prefix, "f" in prefix or "t" in prefix))
                i = j + len(quote)
                opened.append(i)
            elif not ch.isascii():
                start, end = _ident_run(text, j)
                if end > j:
                    yield start, end
                    i = end
                else:
                    i = j + 1
            else:
                assert top is not None and len(top) == 2
                depth = int(top[1])
                if ch in "([{":
                    stack[-1] = ("e", depth + 1)
                elif ch in ")]":
                    stack[-1] = ("e", max(depth - 1, 0))
                elif ch == "}":
                    if depth:
                        stack[-1] = ("e", depth - 1)
                    else:
                        stack.pop()
                elif depth == 0 and not (ch == "!" and text.startswith("=", j + 1)):
                    stack[-1] = ("p",)  # ":" format spec or "!r" conversion
                i = j + 1
        elif top[0] == "s":
            assert len(top) == 4
            quote, raw, fmt = str(top[1]), bool(top[2]), bool(top[3])
            m = _string_event(quote, fmt).search(text, i)
            if m is None:
                close_string(n)
                return  # unterminated triple-quoted string: Python rejects the file too
            j = m.start()
            ch = text[j]
            if ch == "\\":
                nxt = text[j + 1 : j + 2]
                if fmt and nxt in ("{", "}"):
                    i = j + 1  # the brace still opens/closes a field
                elif not raw and text.startswith("N{", j + 1):
                    close = text.find("}", j + 3)  # \N{...} is an escape, not a field
                    i = close + 1 if close != -1 else n
                elif text.startswith("\r\n", j + 1):
                    i = j + 3
                else:
                    i = j + 2
            elif ch in "\r\n":
                stack.pop()  # unterminated single-quoted string ends at the line
                close_string(j)
                i = j + 1
            elif ch == "{":
                if text.startswith("{{", j):
                    i = j + 2
                else:
                    stack.append(("e", 0))
                    i = j + 1
            elif ch == "}":
                i = j + 2 if text.startswith("}}", j) else j + 1
            elif text.startswith(quote, j):
                stack.pop()
                close_string(j)
                i = j + len(quote)
            else:
                i = j + 1
        else:
            enclosing = next((f for f in reversed(stack) if f[0] == "s"), None)
            assert enclosing is not None and len(enclosing) == 4
            quote = str(enclosing[1])
            m = _spec_event(quote).search(text, i)
            if m is None:
                return
            j = m.start()
            ch = text[j]
            if ch == "{":
                stack.append(("e", 0))
                i = j + 1
            elif ch == "}":
                stack.pop()
                i = j + 1
            elif ch in "\r\n" or text.startswith(quote, j):
                # Malformed field: unwind to the string frame, which ends the string.
                while stack[-1][0] != "s":
                    stack.pop()
                i = j
            else:
                i = j + 1


# Letters of other scripts that are indistinguishable from Latin ones in common
# fonts; a word written only in these is a whole-script homoglyph ("аѕѕ" for "ass").
_LATIN_LOOKALIKES = frozenset(
    "АВЕЅІЈКМНОРСТХУҮԚԜӀаеіјорсухѕԁԛԝһӏүёї"  # Cyrillic
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧονιρυχ"  # Greek
    "օսհոցզ"  # Armenian
)
# Greek letters that pass for Latin ones inside a Latin word (looser than above:
# "dα" could be "da"); other Greek letters mixed with Latin read as math notation.
_GREEK_LOOKALIKES = frozenset("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαγειηκνορτυχω")
# Multi-word script names (unicodedata has no Script property; names stand in).
_TWO_WORD_SCRIPTS = frozenset(
    [
        "OLD",
        "NEW",
        "LINEAR",
        "TAI",
        "CAUCASIAN",
        "INSCRIPTIONAL",
        "PSALTER",
        "CANADIAN",
        "MASARAM",
        "GUNJALA",
        "HANIFI",
        "NYIAKENG",
        "PAU",
        "SORA",
        "ZANABAZAR",
        "MEETEI",
    ]
)
# UTS #39 "highly restrictive": Latin may mix with these CJK combinations.
_CJK_COMBOS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


@lru_cache(maxsize=4096)
def _script(ch: str) -> str | None:
    """The script of a letter (None for digits, marks, punctuation and Common letters)."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else None
    if unicodedata.category(ch)[0] != "L":
        return None
    # Compatibility forms (fullwidth, mathematical, µ) count as what Python sees.
    base = next((c for c in unicodedata.normalize("NFKC", ch) if c.isalpha()), ch)
    if base.isascii():
        return "LATIN"
    words = unicodedata.name(base, "").split(" ")
    first = words[0]
    if first in ("CJK", "KANGXI", "IDEOGRAPHIC"):
        return "HAN"
    if first in _TWO_WORD_SCRIPTS and len(words) > 1:
        return f"{first} {words[1]}"
    if not first or first == "MODIFIER" or "-" in first or unicodedata.category(base) == "Lm":
        # Modifier letters (ˇ CARON, ʰ) are shared by scripts (issue #16: a symbol
        # table in a string mixed "LATIN and CARON").
        return None  # e.g. KATAKANA-HIRAGANA PROLONGED SOUND MARK is shared
    return first


def _mixing_allowed(scripts: set[str]) -> bool:
    return len(scripts) < 2 or any(scripts <= combo for combo in _CJK_COMBOS)


def _segments(ident: str) -> list[list[int]]:
    """Indexes of letters, split into words at ``_``, digits and camelCase humps."""
    segs: list[list[int]] = [[]]
    prev_lower = False
    for k, ch in enumerate(ident):
        cat = unicodedata.category(ch)
        if cat[0] == "M":
            continue  # combining marks belong to the letter before them
        if cat[0] != "L":
            segs.append([])
            prev_lower = False
            continue
        if prev_lower and cat in ("Lu", "Lt"):
            segs.append([])
        segs[-1].append(k)
        prev_lower = cat == "Ll"
    return [s for s in segs if s]


def _mixed_script(ident: str, what: str = "identifier") -> tuple[int, str] | None:
    """(offset in ident, message) when letters of different scripts are mixed.

    Words (see :func:`_segments`) must each be single-script, so ``данные_train``
    or ``σ_max`` pass while ``pаssword`` does not. Latin and Greek may share a word
    when no Greek letter in it looks Latin (``ΔW``, ``dσ``: math notation). A word in
    another script may not consist only of Latin look-alikes when the identifier
    also uses Latin (``is_асе``), except a single lowercase Greek letter (``decay_ρ``).
    """
    scripts = {s for s in map(_script, ident) if s}
    if _mixing_allowed(scripts):
        return None
    shown = _show(ident)
    for seg in _segments(ident):
        seg_scripts = {s for s in (_script(ident[k]) for k in seg) if s}
        if _mixing_allowed(seg_scripts):
            continue
        if seg_scripts == {"LATIN", "GREEK"} and not any(
            ident[k] in _GREEK_LOOKALIKES for k in seg
        ):
            continue  # math notation such as ΔW or dσ
        first = _script(ident[seg[0]])
        odd = next(
            k
            for k in seg
            if (s := _script(ident[k])) and (s != "LATIN" if "LATIN" in seg_scripts else s != first)
        )
        names = " and ".join(sorted(seg_scripts, key=lambda s: (s != "LATIN", s)))
        return odd, f'{what} "{shown}" mixes {names} letters: {describe(ident[odd])}'
    if "LATIN" not in scripts:
        return None
    for seg in _segments(ident):
        script = _script(ident[seg[0]])
        if script in (None, "LATIN") or not all(ident[k] in _LATIN_LOOKALIKES for k in seg):
            continue
        if len(seg) == 1 and script == "GREEK" and ident[seg[0]].islower() and ident[seg[0]] != "ο":
            continue
        word = "".join(ident[k] for k in seg)
        return seg[0], (
            f'{what} "{shown}" mixes LATIN and {script} letters: "{word}" is written '
            f"in {script} letters that look like LATIN ones"
        )
    return None


# What each look-alike above reads as (issue #16, red-team pass): the skeleton of a
# mixed-script name, to find the Latin name it passes for.
_SKELETON = str.maketrans(
    "АВЕЅІЈКМНОРСТХУҮԚԜӀаеіјорсухѕԁԛԝһӏүёїΑΒΕΖΗΙΚΜΝΟΡΤΥΧονιρυχօսհոցզ",
    "ABESIJKMHOPCTXYYQWIaeijopcyxsdqwhlyeiABEZHIKMNOPTYXovipuxouhngq",
)
# The text of a line before a module name of an import statement.
_IMPORT_HEAD = re.compile(
    r"(?:^|[;:])[ \t]*(?:from[ \t]+\.*(?:\w+\.)*|import[ \t]+(?:[\w.]+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*(?:\w+\.)*)$",
    re.MULTILINE,
)


def _passes_for(text: str, start: int, ident: str) -> str | None:
    """Why a mixed-script name is not a slip (issue #16, red-team pass): it is a
    module name in an import (``from tоrchmetrics import ...`` imports a package
    the change can add beside the script), or it reads as another name of the
    file (``verify_сhecksum`` beside ``verify_checksum``: two functions, one
    look). Either blocks; a lone mixed word stays a warning."""
    line_start = text.rfind("\n", 0, start) + 1
    if _IMPORT_HEAD.search(text, line_start, start) is not None:
        return (
            "it is a module name in an import: it imports another module than the one it reads as"
        )
    skeleton = ident.translate(_SKELETON)
    if (
        skeleton != ident
        and skeleton.isascii()
        and re.search(rf"(?<![\w.]){re.escape(skeleton)}(?!\w)", text) is not None
    ):
        return f'it reads as "{skeleton}", another name of this file'
    return None


def _identifier_hits(text: str, spans: list[tuple[int, int]] | None = None) -> Iterator[_Hit]:
    for start, end in spans if spans is not None else _python_identifiers(text):
        ident = text[start:end]
        normalized = unicodedata.normalize("NFKC", ident)
        if normalized != ident:
            off = next((k for k, c in enumerate(ident) if unicodedata.normalize("NFKC", c) != c), 0)
            yield _Hit(
                CONFUSABLE,
                start + off,
                end,
                f'identifier "{_show(ident)}" normalizes to "{_show(normalized)}"; '
                "Python treats them as the same name",
            )
        mixed = _mixed_script(ident)
        if mixed is not None:
            why = _passes_for(text, start, ident)
            if why is None:
                yield _Hit(MIXED_SCRIPT, start + mixed[0], end, mixed[1])
            else:
                yield _Hit(MIXED_SCRIPT, start + mixed[0], end, f"{mixed[1]}: {why}", "ERROR")

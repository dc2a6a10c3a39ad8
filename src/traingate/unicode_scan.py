"""Find Trojan Source characters, invisible characters and deceptive identifiers.

Three kinds of problem, all of which make code read differently from how it runs:

* ``unicode-bidi-control``: bidirectional controls reorder how a line is *displayed*
  (CVE-2021-42574), so a comment can appear to contain code or code a comment.
  Every occurrence is reported, in any text: they have no place in source code and
  legitimate right-to-left text renders correctly without them.
* ``unicode-invisible``: zero-width and other format characters, fillers and stray
  control characters that make two different strings look identical, or hide text.
  A few are legitimate in prose and are allowed *only in that context*:

  - U+FEFF at offset 0 of the text (a byte order mark);
  - a single variation selector (U+FE00-FE0F, U+E0100-E01EF) directly after a
    non-ASCII symbol, e.g. the emoji-style "❤️", or in a keycap sequence "1️⃣";
    after a letter or digit, or in a run (the "emoji smuggling" trick), it is reported;
  - U+200D ZERO WIDTH JOINER between two symbols (emoji sequences such as 👩‍💻);
  - U+200C/U+200D between letters of scripts that need them for shaping
    (Arabic/Persian, Indic, ...);
  - tag characters only as an emoji flag sequence (🏴 + tags + CANCEL TAG); anywhere
    else they are "ASCII smuggling" and the hidden text is decoded into the message.

  Adjacent reported invisible characters are collapsed into one issue.
* With ``python=True``, identifiers outside strings and comments are checked:
  ``unicode-confusable-identifier`` when NFKC normalization changes the identifier
  (Python normalizes identifiers, so ``ｅｘｅｃ`` *is* ``exec`` yet evades a grep or
  semgrep rule for ``exec``), and ``unicode-mixed-script-identifier`` when letters of
  different scripts are mixed in one word (Cyrillic ``а`` in ``pаssword``).

* ``unicode-encoding-cookie`` (:func:`scan_source` on Python source): a PEP 263
  source-encoding declaration naming anything but UTF-8 (or its subset ASCII).
  CPython then decodes the file with that codec while reviewers, diff views,
  semgrep and ``ast`` read UTF-8: with ``utf-7`` the ``+AAo-`` in a comment is a
  newline to Python, so the "comment" after it runs (issue #14, class 11). The
  other rules then read the text as CPython decodes it.

Normal non-ASCII text (accented words, Chinese comments, emoji in strings, Greek
identifiers such as ``α``) is not reported. Lines are counted on ``\\n`` only (as git
does); columns count code points, 1-based.
"""

from __future__ import annotations

import bisect
import codecs
import re
import unicodedata
from collections.abc import Collection, Iterator
from functools import lru_cache
from typing import NamedTuple

__all__ = ["EncodingCookie", "UnicodeIssue", "scan_source", "scan_text", "source_encoding"]

BIDI = "unicode-bidi-control"
INVISIBLE = "unicode-invisible"
CONFUSABLE = "unicode-confusable-identifier"
MIXED_SCRIPT = "unicode-mixed-script-identifier"
COOKIE = "unicode-encoding-cookie"
CONFUSABLE_STRING = "unicode-confusable-string"
TERMINAL_ESCAPE = "unicode-terminal-escape"


class UnicodeIssue(NamedTuple):
    rule_id: str
    line: int  # 1-based
    column: int  # 1-based, in code points
    message: str
    # None: the rule's own severity. Set where one rule has two levels (issue #16:
    # a confusable word in a hostname is an ERROR, the same in prose a WARNING).
    severity: str | None = None


_BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])

# Every character that is reported unless a context rule below allows it. This is
# all of general category Cf (bar the visible "prepended concatenation marks" such
# as U+0600 ARABIC NUMBER SIGN), the bidi controls, blank-looking letters and
# fillers, invisible combining marks, and control characters other than \t \n \f
# (ESC can rewrite what a terminal shows; a lone CR ends a line for Python but not
# for git, and U+0085/U+2028/U+2029 are line breaks for some editors only).
_CANDIDATES = re.compile(
    "["
    "\x00-\x08\x0b\x0d-\x1f\x7f-\x9f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u2800\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff"
    "]"
)

_VARIATION_SELECTORS = frozenset([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
_MONGOLIAN_FVS = frozenset([0x180B, 0x180C, 0x180D, 0x180F])
_KEYCAP_BASES = frozenset("#*0123456789")
_TAG_BASE = "\U0001f3f4"  # WAVING BLACK FLAG, the only base of tag sequences
_CANCEL_TAG = "\U000e007f"

# Scripts whose orthography needs ZWJ/ZWNJ between letters (Persian half-spaces,
# Indic conjuncts); there the joiners are ordinary text.
_JOINER_SCRIPTS = frozenset(
    [
        "ARABIC",
        "SYRIAC",
        "NKO",
        "MONGOLIAN",
        "DEVANAGARI",
        "BENGALI",
        "GURMUKHI",
        "GUJARATI",
        "ORIYA",
        "TAMIL",
        "TELUGU",
        "KANNADA",
        "MALAYALAM",
        "SINHALA",
        "KHMER",
        "MYANMAR",
        "TIBETAN",
    ]
)

_CONTROL_NAMES = {
    0x00: "NULL",
    0x07: "BELL",
    0x08: "BACKSPACE",
    0x0B: "LINE TABULATION",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
    0x85: "NEXT LINE",
}


def describe(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: the code point and its Unicode name."""
    cp = ord(ch)
    name = unicodedata.name(ch, "") or _CONTROL_NAMES.get(cp, "")
    if not name:
        name = "<control>" if unicodedata.category(ch) == "Cc" else "<unassigned>"
    return f"U+{cp:04X} {name}"


def _show(text: str) -> str:
    """Escape bidi/invisible characters so a message cannot itself hide or reorder text."""
    return _CANDIDATES.sub(lambda m: ascii(m.group())[1:-1], text)


def _is_symbol(ch: str) -> bool:
    """A non-ASCII symbol: the kind of character emoji presentation applies to."""
    if not ch or ch.isascii():
        return False
    cat = unicodedata.category(ch)
    return cat[0] == "S" or cat in ("Po", "No")


# Bases of emoji/standardized variation sequences that are not symbols by general
# category (emoji-variation-sequences.txt: U+2139 INFORMATION SOURCE is a letter,
# U+3030 WAVY DASH a dash). Issue #16: "ℹ️" in a docs page blocked outright.
_NON_SYMBOL_VS_BASES = frozenset("\u2139\u3030")
# Scripts with standardized variation sequences on letters (StandardizedVariants.txt:
# VS1/VS2 on Myanmar and Phags-pa letters, CJK compatibility variants VS1-VS3, and
# ideographic variation sequences, VS17-VS256, on Han ideographs).
_VS_LETTER_SCRIPTS = frozenset(["MYANMAR", "PHAGS-PA"])


def _has_variation_sequence(prev: str, cp: int) -> bool:
    """Whether ``prev`` + the selector ``cp`` can be a real variation sequence."""
    if not prev:
        return False
    if prev in _NON_SYMBOL_VS_BASES:
        return cp in (0xFE0E, 0xFE0F)
    name = unicodedata.name(prev, "")
    if name.startswith("CJK UNIFIED IDEOGRAPH") or name.startswith("CJK COMPATIBILITY IDEOGRAPH"):
        return cp in (0xFE00, 0xFE01, 0xFE02) or cp >= 0xE0100
    return cp in (0xFE00, 0xFE01) and name.split(" ", 1)[0] in _VS_LETTER_SCRIPTS


def _is_joiner_letter(ch: str) -> bool:
    if not ch or ch.isascii() or unicodedata.category(ch)[0] not in "LM":
        return False
    return unicodedata.name(ch, "").split(" ", 1)[0] in _JOINER_SCRIPTS


class _Hit(NamedTuple):
    rule: str
    start: int  # offset in the text
    end: int
    message: str
    severity: str | None = None  # None: the rule's own


def _allowed_in_context(text: str, i: int) -> bool:
    """True when the candidate at ``i`` is ordinary text in its context (see module doc)."""
    ch = text[i]
    cp = ord(ch)
    prev = text[i - 1] if i else ""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if cp == 0xFEFF:
        return i == 0
    if ch == "\r":
        return nxt == "\n"
    if cp in _VARIATION_SELECTORS:
        return (
            _is_symbol(prev)
            or (prev in _KEYCAP_BASES and nxt == "\u20e3")
            or _has_variation_sequence(prev, cp)
        )
    if cp in _MONGOLIAN_FVS:
        return bool(prev) and unicodedata.name(prev, "").startswith("MONGOLIAN LETTER")
    if cp in (0x200C, 0x200D):
        if _is_joiner_letter(prev) and _is_joiner_letter(nxt):
            return True
        if cp == 0x200D:
            # Skip the emoji presentation selector: "🏳️‍🌈" is flag, VS16, ZWJ, rainbow.
            j = i - 1
            while j > 0 and ord(text[j]) in _VARIATION_SELECTORS:
                j -= 1
            return j >= 0 and _is_symbol(text[j]) and _is_symbol(nxt)
    return False


def _tag_run(text: str, i: int) -> tuple[int, bool, str]:
    """The tag-character run starting at ``i``: (end, is a flag sequence, hidden text)."""
    j = i
    while j < len(text) and 0xE0000 <= ord(text[j]) <= 0xE007F:
        j += 1
    run = text[i:j]
    hidden = "".join(chr(ord(c) - 0xE0000) for c in run if 0xE0020 <= ord(c) <= 0xE007E)
    is_flag = (
        i > 0
        and text[i - 1] == _TAG_BASE
        and run.endswith(_CANCEL_TAG)
        and len(run) >= 2
        and all(0xE0020 <= ord(c) <= 0xE007E for c in run[:-1])
    )
    return j, is_flag, hidden


# A terminal "Select Graphic Rendition" sequence: colours and styles only. Issue #16:
# a raw ESC in an ANSI colour string ("\x1b[31m" saved as the byte itself) is
# not a hidden character but a visible escape a reviewer should write as \x1b.
_SGR = re.compile(r"\x1b\[([0-9;:]{0,40})m")


def _sgr_conceals(params: str) -> bool:
    """Whether an SGR parameter list turns on "conceal" (8), which hides text in a
    terminal (colour numbers after 38/48 are palette indexes, not attributes)."""
    fields = params.replace(":", ";").split(";")
    k = 0
    while k < len(fields):
        field = fields[k]
        if field in ("38", "48", "58"):
            mode = fields[k + 1] if k + 1 < len(fields) else ""
            k += 3 if mode == "5" else 5 if mode == "2" else 2
            continue
        if field.lstrip("0") == "8":
            return True
        k += 1
    return False


def _in_spans(spans: list[tuple[int, int]], i: int) -> bool:
    k = bisect.bisect_right(spans, (i, 1 << 62)) - 1
    return k >= 0 and spans[k][0] <= i < spans[k][1]


def _invisible_hits(text: str, strings: list[tuple[int, int]] | None = None) -> Iterator[_Hit]:
    """``strings``: spans of string literals (Python), where a raw colour escape is
    only a warning; None: a file without literals, where it is one anywhere."""
    run_start = run_end = -1
    run_chars: list[str] = []
    hidden = ""

    def flush() -> _Hit:
        first = describe(run_chars[0])
        if len(run_chars) == 1:
            msg = f"invisible character {first}"
        else:
            msg = f"{len(run_chars)} invisible characters starting with {first}"
        if hidden:
            shown = _show(hidden[:200]) + ("..." if len(hidden) > 200 else "")
            msg += f"; they hide the text {shown!r}"
        if run_chars[0] == "\x1b":
            msg += " (a raw terminal escape: in a terminal it can hide or overwrite text)"
        if run_chars[0] in "\r\u0085\u2028\u2029":
            msg += " (a line break for some tools but not for others)"
        return _Hit(INVISIBLE, run_start, run_end, msg)

    pos = 0
    while True:
        m = _CANDIDATES.search(text, pos)
        if m is None:
            break
        i = m.start()
        ch = text[i]
        cp = ord(ch)
        pos = i + 1
        if cp in _BIDI_CONTROLS:
            yield _Hit(
                BIDI,
                i,
                i + 1,
                f"bidirectional control {describe(ch)}: the code "
                "can display in a different order than it runs",
            )
            continue
        if cp == 0x1B:
            sgr = _SGR.match(text, i)
            if (
                sgr is not None
                and not _sgr_conceals(sgr.group(1))
                and (strings is None or _in_spans(strings, i))
            ):
                yield _Hit(
                    TERMINAL_ESCAPE,
                    i,
                    sgr.end(),
                    f"raw terminal colour escape {_show(sgr.group())} (U+001B ESCAPE "
                    "written as the character itself): a terminal showing this file "
                    "or its diff recolours the text after it; write it as \\x1b",
                )
                continue
        if 0xE0000 <= cp <= 0xE007F:
            end, is_flag, run_hidden = _tag_run(text, i)
            pos = end
            if is_flag:
                continue
        else:
            end, run_hidden = i + 1, ""
            if _allowed_in_context(text, i):
                continue
        # Collapse adjacent invisible characters: a smuggled payload can be
        # thousands of them and one finding says it all.
        if run_chars and i == run_end:
            run_chars.extend(text[i:end])
            run_end = end
            hidden += run_hidden
            continue
        if run_chars:
            yield flush()
        run_start, run_end, run_chars, hidden = i, end, list(text[i:end]), run_hidden
    if run_chars:
        yield flush()


# --- Python identifiers ------------------------------------------------------------

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
    text: str, strings: list[tuple[int, int]] | None = None
) -> Iterator[tuple[int, int]]:
    """Spans of identifier-like runs containing non-ASCII characters, in code.

    ``strings``, when given, collects the span of every string literal's content
    (issue #16: confusable words and colour escapes are judged inside literals).

    A small lexer instead of :mod:`tokenize`: the code under review need not parse.
    It skips comments and string literals (prefixes, triple quotes, escapes) but
    enters f-string replacement fields, which are code (PEP 701 nesting). A lone CR
    ends a comment, as it does for Python. On malformed input it errs toward
    treating text as code, which can only add findings.
    """
    n = len(text)
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
            yield _Hit(MIXED_SCRIPT, start + mixed[0], end, mixed[1])


# --- confusable words in strings (issue #16, class 5) ---------------------------------

# A token is a run without whitespace, quotes or brackets: a URL, a path, a package
# spec, a dotted name, or a word of prose.
_TOKEN = re.compile(r"[^\s'\"`()\[\]{}<>,;|]+")
# Tokens that locate or name something a program fetches, imports or installs: a
# URL or scheme, a path, user@host, a dotted name (host, module, file) or a pin.
_LOCATOR = re.compile(r"://|[/\\@]|\w\.\w|==|~=|>=")
_NAME_LIKE = re.compile(r"[\w.\-]{3,}")


def _token_hits(text: str, start: int, end: int, *, prose: bool) -> Iterator[_Hit]:
    """Mixed-script words in ``text[start:end]`` (the content of one literal, or a
    whole non-Python file). A token that is a locator, or a literal that is one
    token (a name compared or looked up), is an ERROR: a Cyrillic "а" in
    "huggingfаce.co" or in ``user == "аdmin"`` is a different host or name that
    reads the same. A mixed word in other text is a WARNING when ``prose`` (a
    keyboard-layout slip in a translated message is the usual cause), and not
    reported otherwise. Words in one script, whatever it is, are never reported."""
    chunk = text[start:end]
    if chunk.isascii():
        return
    # A one-word literal is a name (a user, a key, a module) when it reads like one:
    # word characters, dots and dashes, three or more (a table's "kω" is a unit).
    single = prose and _NAME_LIKE.fullmatch(chunk.strip()) is not None
    for m in _TOKEN.finditer(chunk):
        token = m.group()
        if token.isascii():
            continue
        strong = single or _LOCATOR.search(token) is not None
        if not strong and not prose:
            continue
        mixed = _mixed_script(token, "string")
        if mixed is None:
            continue
        offset, message = mixed
        if strong:
            why = (
                "it names or locates something (a host, path, package or key) and "
                "reads the same as a different one"
            )
        else:
            why = "in text this is usually a keyboard-layout slip; spell the word in one script"
        yield _Hit(
            CONFUSABLE_STRING,
            start + m.start() + offset,
            start + m.end(),
            f"{message}: {why}",
            None if strong else "WARNING",
        )


def _hits(text: str, python: bool, confusables: bool = True) -> list[_Hit]:
    strings: list[tuple[int, int]] | None = None
    idents: list[tuple[int, int]] = []
    if python and (not text.isascii() or "\x1b" in text):
        strings = []
        idents = list(_python_identifiers(text, strings))
        strings.sort()
    hits = list(_invisible_hits(text, strings))
    if python:
        if idents:
            hits.extend(_identifier_hits(text, idents))
        for start, end in strings or ():
            # An f-string's replacement fields are code, already judged as identifiers.
            for hit in _token_hits(text, start, end, prose=True):
                if not any(a < hit.end and hit.start < b for a, b in idents):
                    hits.append(hit)
    elif confusables and not text.isascii():
        # No literals to find in YAML, shell or requirements: only locator tokens
        # count there, so comments and docs in any language stay quiet.
        hits.extend(_token_hits(text, 0, len(text), prose=False))
    return hits


def _sorted(issues: list[UnicodeIssue]) -> list[UnicodeIssue]:
    return sorted(issues, key=lambda x: (x.line, x.column, x.rule_id))


def scan_text(
    text: str,
    lines: Collection[int] | None = None,
    *,
    python: bool = False,
    confusables: bool = True,
) -> list[UnicodeIssue]:
    """Report bidi controls and invisible characters in ``text``, sorted by position.

    ``lines``: only report issues on these 1-based line numbers (None: all lines);
    the whole text is still read, since whether a line is code depends on earlier
    lines. ``python``: also check identifiers in code (not in strings or comments).
    ``confusables``: judge locator tokens of a non-Python text (off for data whose
    tokens are not locators, such as a tokenizer vocabulary).
    """
    hits = _hits(text, python, confusables)
    if not hits:
        return []
    line_starts = [0]
    pos = text.find("\n")
    while pos != -1:
        line_starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    wanted = None if lines is None else frozenset(lines)
    issues = []
    for hit in hits:
        line = bisect.bisect_right(line_starts, hit.start)
        if wanted is not None and line not in wanted:
            continue
        column = hit.start - line_starts[line - 1] + 1
        issues.append(UnicodeIssue(hit.rule, line, column, hit.message, hit.severity))
    return _sorted(issues)


# --- PEP 263 source encodings (issue #14, class 11) ---------------------------------

# CPython's cookie: "coding", ":" or "=", a name, in a comment that is the whole of
# line 1, or of line 2 when line 1 is blank or a comment (Parser/tokenizer.c,
# get_coding_spec; the regex is the one in PEP 263 and Lib/tokenize.py).
_COOKIE_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BLANK_OR_COMMENT_RE = re.compile(rb"^[ \t\f]*(?:#|$)")
# CPython turns \r\n and a lone \r into \n before it looks for the cookie, both for
# files it runs and for bytes passed to compile() (what import does).
_UNIVERSAL_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
# Codecs under which the bytes mean what a UTF-8 reader sees. ASCII is allowed: it
# is a strict subset, so a file either decodes to the same text or does not run.
_SAME_AS_UTF8 = frozenset(["utf-8", "ascii"])


class EncodingCookie(NamedTuple):
    declared: str  # the name as written
    codec: str | None  # codecs' name for it; None: unknown, or not a text encoding
    offset: int  # byte offset of the declared name


def _normal_name(name: str) -> str:
    """Lib/tokenize.py _get_normal_name (tokenizer.c get_normal_name): "utf-8-*"
    is UTF-8 whatever follows, "latin-1-*" is ISO-8859-1."""
    enc = name[:12].lower().replace("_", "-")
    if enc == "utf-8" or enc.startswith("utf-8-"):
        return "utf-8"
    if enc in ("latin-1", "iso-8859-1", "iso-latin-1") or enc.startswith(
        ("latin-1-", "iso-8859-1-", "iso-latin-1-")
    ):
        return "iso-8859-1"
    return name


def source_encoding(data: bytes) -> EncodingCookie | None:
    """The source-encoding declaration CPython obeys in ``data``, or None."""
    pos = len(_BOM) if data.startswith(_BOM) else 0
    for _ in range(2):
        eol = _UNIVERSAL_EOL.search(data, pos)
        end = eol.start() if eol else len(data)
        line = data[pos:end]
        m = _COOKIE_RE.match(line)
        if m is not None:
            declared = m[1].decode("ascii")
            try:
                info = codecs.lookup(_normal_name(declared))
            except LookupError:
                return EncodingCookie(declared, None, pos + m.start(1))
            # CPython refuses bytes-to-bytes and str-to-str codecs (rot13, hex...).
            text_codec = getattr(info, "_is_text_encoding", True)
            return EncodingCookie(declared, info.name if text_codec else None, pos + m.start(1))
        if eol is None or not _BLANK_OR_COMMENT_RE.match(line):
            return None
        pos = eol.end()
    return None


def _cookie_issue(data: bytes, cookie: EncodingCookie) -> UnicodeIssue:
    line_start = data.rfind(b"\n", 0, cookie.offset) + 1
    line = data.count(b"\n", 0, cookie.offset) + 1
    column = len(data[line_start : cookie.offset].decode("utf-8", "replace")) + 1
    if cookie.codec is None:
        what = "which Python cannot decode source with (an unknown codec, or not a text encoding)"
    else:
        what = f"so Python decodes this file as {cookie.codec}, not as UTF-8"
    return UnicodeIssue(
        COOKIE,
        line,
        column,
        f"source-encoding declaration {cookie.declared!r}, {what}: reviewers, diff views "
        "and scanners read UTF-8, so the code that runs can differ from the code reviewed "
        "(with utf-7 or unicode_escape, text inside a comment becomes code)",
    )


def _decode_by_line(data: bytes, codec: str) -> tuple[str, list[int]]:
    """``data`` decoded as CPython would, and where each git line (ended by \\n)
    starts in the decoded text. A stateful codec may emit a line's text with the
    next line's; it is then reported on the later line."""
    decoder = codecs.getincrementaldecoder(codec)("replace")
    parts: list[str] = []
    starts: list[int] = []
    total = 0
    chunks = data.split(b"\n")
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        starts.append(total)
        part = decoder.decode(chunk if last else chunk + b"\n", final=last)
        parts.append(part)
        total += len(part)
    return "".join(parts), starts


def decode_python(data: bytes) -> tuple[str, tuple[int, ...]] | None:
    """Python source as CPython reads it when its cookie names another codec:
    (the decoded text, the git line of each decoded line), so that semgrep and
    ``ast`` see the code that runs (issue #14 class 11). None: UTF-8 applies, or
    the codec is unusable (the cookie finding blocks then)."""
    cookie = source_encoding(data)
    if cookie is None or cookie.codec is None or cookie.codec in _SAME_AS_UTF8:
        return None
    try:
        text, starts = _decode_by_line(data, cookie.codec)
    except (UnicodeError, ValueError, TypeError, LookupError):
        return None
    line_map: list[int] = []
    pos = 0
    for line in text.splitlines(keepends=True) or [""]:
        line_map.append(bisect.bisect_right(starts, pos))
        pos += len(line)
    return text, tuple(line_map)


def scan_source(
    data: bytes,
    lines: Collection[int] | None = None,
    *,
    python: bool = False,
    pep263: bool = False,
    confusables: bool = True,
) -> list[UnicodeIssue]:
    """:func:`scan_text` on file content, decoded the way its reader decodes it.

    ``pep263``: the bytes are Python source that CPython compiles, so a
    source-encoding declaration (PEP 263) decides the decoding. One naming
    anything but UTF-8 or ASCII is an ``unicode-encoding-cookie`` issue, reported
    whatever ``lines`` says (it changes the meaning of every line), and the other
    rules read the text as that codec decodes it, so a bidi control written in
    UTF-7 is still found. Lines are git's (\\n-separated byte lines); columns count
    decoded characters. Anything else decodes as UTF-8, as :func:`scan_text` expects.
    """
    cookie = source_encoding(data) if pep263 else None
    if cookie is None or cookie.codec in _SAME_AS_UTF8:
        return scan_text(
            data.decode("utf-8", "replace"), lines, python=python, confusables=confusables
        )
    issues = [_cookie_issue(data, cookie)]
    if cookie.codec is None:  # Python would not run it; read it as everyone else does
        return _sorted(issues + scan_text(data.decode("utf-8", "replace"), lines, python=python))
    try:
        text, starts = _decode_by_line(data, cookie.codec)
    except (UnicodeError, ValueError, TypeError, LookupError):
        # A codec that fails even with errors="replace": the cookie issue blocks,
        # and the rest is read as everyone else reads it.
        return _sorted(issues + scan_text(data.decode("utf-8", "replace"), lines, python=python))
    wanted = None if lines is None else frozenset(lines)
    for hit in _hits(text, python):
        line = bisect.bisect_right(starts, hit.start)
        if wanted is None or line in wanted:
            issues.append(
                UnicodeIssue(
                    hit.rule, line, hit.start - starts[line - 1] + 1, hit.message, hit.severity
                )
            )
    return _sorted(issues)

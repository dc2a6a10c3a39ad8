"""Bidi controls and invisible characters, with the contexts where one is ordinary text."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator

from traingate.checks.unicode.tables import (
    _BIDI_CONTROLS,
    _CANCEL_TAG,
    _CANDIDATES,
    _JOINER_SCRIPTS,
    _KEYCAP_BASES,
    _MONGOLIAN_FVS,
    _TAG_BASE,
    _VARIATION_SELECTORS,
    BIDI,
    INVISIBLE,
    TERMINAL_ESCAPE,
    _Hit,
    _show,
    describe,
)


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


# Issue #17: the regex engine tests the candidate class (it spans all of
# Unicode) at ~3x the cost per character of an ASCII-only class; in ASCII text
# only its ASCII members (controls, CR, ESC) can occur. Derived, so it cannot drift.
_ASCII_CANDIDATES = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in range(128) if _CANDIDATES.fullmatch(chr(c))) + "]"
)


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

    candidates = _ASCII_CANDIDATES if text.isascii() else _CANDIDATES
    pos = 0
    while True:
        m = candidates.search(text, pos)
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

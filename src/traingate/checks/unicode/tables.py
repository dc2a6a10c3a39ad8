"""Rule ids, the issue type and the character tables the scanner shares."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

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


class _Hit(NamedTuple):
    rule: str
    start: int  # offset in the text
    end: int
    message: str
    severity: str | None = None  # None: the rule's own

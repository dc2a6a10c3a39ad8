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

This module runs the scanners over a text (:func:`scan_text`) or over Python
source bytes (:func:`scan_source`) and is the scanner's public API; the pieces
live beside it: ``tables`` (rule ids, the issue type, character tables),
``invisible``, ``identifiers``, ``strings`` and ``cookie``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection
from itertools import chain

from traingate.checks.unicode.cookie import (
    _SAME_AS_UTF8,
    EncodingCookie,
    _cookie_issue,
    _decode_by_line,
    decode_python,
    source_encoding,
)
from traingate.checks.unicode.identifiers import _identifier_hits, _python_identifiers
from traingate.checks.unicode.invisible import _invisible_hits
from traingate.checks.unicode.strings import _token_hits, escaped_hits
from traingate.checks.unicode.tables import UnicodeIssue, _Hit

__all__ = [
    "EncodingCookie",
    "UnicodeIssue",
    "decode_python",
    "scan_source",
    "scan_text",
    "source_encoding",
]


# What a Python identifier or literal needs to hold a finding: a non-ASCII
# character or a raw ESC (a colour escape).
_NOTABLE = re.compile(r"[^\x00-\x1a\x1c-\x7f]")


def _hits(text: str, python: bool, confusables: bool = True) -> list[_Hit]:
    strings: list[tuple[int, int]] | None = None
    idents: list[tuple[int, int]] = []
    # A letter escape (`\u0430`) is judged as the letter it decodes to (issue #16).
    escape_at = max(text.rfind("\\u"), text.rfind("\\U"), text.rfind("\\N{")) if python else -1
    if python and (not text.isascii() or "\x1b" in text or escape_at >= 0):
        strings = []
        # Lex only up to the last such character (searched in C on the reversed
        # text): in large real files it is often in the license header or a
        # docstring near the top (issue #17).
        last = _NOTABLE.search(text[::-1])
        stop = len(text) - last.start() if last is not None else 0
        stop = max(stop, escape_at + 1)
        idents = list(_python_identifiers(text, strings, stop))
        strings.sort()
    hits = list(_invisible_hits(text, strings))
    if python:
        if idents:
            hits.extend(_identifier_hits(text, idents))
        for start, end in strings or ():
            # An f-string's replacement fields are code, already judged as identifiers.
            for hit in chain(
                _token_hits(text, start, end, prose=True), escaped_hits(text, start, end)
            ):
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

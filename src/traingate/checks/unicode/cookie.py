"""PEP 263 source encodings (issue #14, class 11): the declaration and how CPython decodes."""

from __future__ import annotations

import bisect
import codecs
import re
from typing import NamedTuple

from traingate.checks.unicode.tables import COOKIE, UnicodeIssue

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
    # Scanned lines as semgrep numbers them, by \n (a lone \r is not one to it;
    # unicode-invisible blocks that): str.splitlines also ends one at \x0c,
    # \x1c-\x1e, \x85, U+2028/9 and put every later finding on an earlier line.
    line_map = [bisect.bisect_right(starts, 0)]
    pos = text.find("\n")
    while 0 <= pos < len(text) - 1:
        line_map.append(bisect.bisect_right(starts, pos + 1))
        pos = text.find("\n", pos + 1)
    return text, tuple(line_map)

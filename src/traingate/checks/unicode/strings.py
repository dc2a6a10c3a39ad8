"""Confusable words inside strings and prose (issue #16, class 5)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from traingate.checks.unicode.identifiers import _mixed_script, _script, _segments
from traingate.checks.unicode.tables import CONFUSABLE_STRING, _Hit

# A token is a run without whitespace, quotes or brackets: a URL, a path, a package
# spec, a dotted name, or a word of prose.
_TOKEN = re.compile(r"[^\s'\"`()\[\]{}<>,;|]+")
# Tokens that locate or name something a program fetches, imports or installs: a
# URL or scheme, a path, user@host, a dotted name (host, module, file) or a pin.
_LOCATOR = re.compile(r"://|[/\\@]|\w\.\w|==|~=|>=")
_NAME_LIKE = re.compile(r"[\w.\-]{3,}")
# Escape sequences as written in source text: \n, \t, \x41, \u0410, \U0001F600.
_ESCAPE = re.compile(r"\\(?:[abfnrtv]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})")


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
        if not strong and (not prose or _notation(token)):
            continue
        # An escape's letter is not a letter of the word (issue #16: lm-eval's
        # "\nالجواب:" in a task YAML is a newline and an Arabic word). Blanking
        # it only removes Latin letters, and the token keeps its locator status,
        # so a mix of real letters is still a mix.
        mixed = _mixed_script(_ESCAPE.sub(lambda e: " " * len(e.group()), token), "string")
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


def _notation(token: str) -> bool:
    """Scientific notation in prose, not a layout slip (issue #16: transformers'
    "Cα atom", trl's "αₜ"): Latin mixed only with Greek, where no word has more
    than one Latin letter beside Greek ones (Cα, Hβ), sub- and superscripts aside
    (αₜ, xᵢ: indices, not letters of a word). A Greek letter inside a Latin word
    ("pαssword") is still a slip. Only prose is judged so: a locator or a
    one-word literal never is."""
    letters = "".join(
        c for c in token if not unicodedata.decomposition(c).startswith(("<sub>", "<super>"))
    )
    scripts = {s for s in map(_script, token) if s}
    if not scripts <= {"LATIN", "GREEK"}:
        return False
    for seg in _segments(letters):
        latin = sum(_script(letters[k]) == "LATIN" for k in seg)
        if 1 < latin < len(seg):
            return False
    return True


# A letter written as an escape in a str literal: \u0430, \U00000430, \N{...}
# (issue #16, red-team pass: "met\u0430-llama/..." is an ASCII file whose string
# names another organisation). An even run of backslashes before it is text.
_LETTER_ESCAPE = re.compile(
    r"(?<!\\)((?:\\\\)*)\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|N\{([^}\n]{1,80})\})"
)


def _escape_letter(m: re.Match[str]) -> str | None:
    """The non-ASCII letter an escape stands for, or None."""
    try:
        ch = (
            unicodedata.lookup(m.group(4)) if m.group(4) else chr(int(m.group(2) or m.group(3), 16))
        )
    except (KeyError, ValueError):
        return None
    return ch if not ch.isascii() and unicodedata.category(ch)[0] == "L" else None


def _raw_or_bytes(text: str, start: int) -> bool:
    """Whether the literal whose content starts at ``start`` has an r or b prefix."""
    q = start
    while q > 0 and text[q - 1] in "'\"" and start - q < 3:
        q -= 1
    p = q
    while p > 0 and text[p - 1].isascii() and text[p - 1].isalpha():
        p -= 1
    prefix = text[p:q].lower()
    return len(prefix) <= 2 and ("r" in prefix or "b" in prefix)


def escaped_hits(text: str, start: int, end: int) -> Iterator[_Hit]:
    """Confusable words in a str literal as Python decodes its letter escapes: the
    words are judged as :func:`_token_hits` judges written letters, and a hit is
    kept only where an escape made the mix (written letters are judged already)."""
    chunk = text[start:end]
    if "\\" not in chunk or _raw_or_bytes(text, start):
        return
    out: list[str] = []
    where: list[int] = []  # decoded offset -> offset in chunk
    escaped: list[bool] = []
    i = 0
    for m in _LETTER_ESCAPE.finditer(chunk):
        ch = _escape_letter(m)
        if ch is None:
            continue
        j = m.start() + len(m.group(1))
        out.append(chunk[i:j])
        where.extend(range(i, j))
        escaped.extend([False] * (j - i))
        out.append(ch)
        where.append(j)
        escaped.append(True)
        i = m.end()
    if not out:
        return
    out.append(chunk[i:])
    where.extend(range(i, len(chunk)))
    escaped.extend([False] * (len(chunk) - i))
    where.append(len(chunk))
    decoded = "".join(out)
    for hit in _token_hits(decoded, 0, len(decoded), prose=True):
        token_end = hit.end
        token_start = _TOKEN_START.search(decoded[: hit.start][::-1])
        first = hit.start - (token_start.start() if token_start else hit.start)
        if not any(escaped[first:token_end]):
            continue
        yield _Hit(
            hit.rule,
            start + where[hit.start],
            start + where[token_end],
            f"{hit.message} (the letter is written as an escape)",
            hit.severity,
        )


_TOKEN_START = re.compile(r"[\s'\"`()\[\]{}<>,;|]")

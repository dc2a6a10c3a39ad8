"""Confusable words inside strings and prose (issue #16, class 5)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from traingate.checks.unicode.identifiers import _mixed_script
from traingate.checks.unicode.tables import CONFUSABLE_STRING, _Hit

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

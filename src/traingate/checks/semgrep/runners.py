"""Task-runner files whose lines a shell runs (issue #16, session 25 red team).

Each becomes a bash target with the file's own lines (others blank), judged by
the same bash rules as a launcher script, like Makefiles and Dockerfiles
(targets.py):

- ``justfile`` (``Justfile``, ``.justfile``, ``*.just``): a recipe's indented
  body lines go to ``sh`` one by one (``@``/``-`` prefixes dropped), and a
  backtick in an assignment runs when ``just`` reads the file. ``{{expr}}``
  becomes a placeholder of the same length, as in a Jinja template.
- ``tox.ini``: ``commands``, ``commands_pre`` and ``commands_post`` of a
  ``[testenv...]`` section, continuation lines included; tox runs each as an
  argv (``bash -c "..."`` is the common way to reach a shell).
"""

from __future__ import annotations

import re

JUST_NAMES = ("justfile", ".justfile")
TOX_NAMES = ("tox.ini",)

_JUST_RECIPE = re.compile(r"^@?[A-Za-z_][\w-]*(\s[^:]*)?:(?!=)")
_JUST_EXPR = re.compile(r"\{\{.*?\}\}")
_BACKTICK = re.compile(r"`[^`]*`")
_TOX_KEY = re.compile(r"^(commands(?:_pre|_post)?)\s*=(.*)$")
_TOX_SECTION = re.compile(r"^\[(.*)\]\s*$")


def _blank(m: re.Match[str]) -> str:
    return "_" * len(m.group(0))


def justfile(text: str) -> str:
    out: list[str] = []
    in_recipe = False
    for line in text.split("\n"):
        body = ""
        if line[:1] in (" ", "\t") and in_recipe:
            stripped = line.lstrip(" \t")
            lead = len(line) - len(stripped)
            flags = len(stripped) - len(stripped.lstrip("@-"))
            body = " " * (lead + flags) + _JUST_EXPR.sub(_blank, stripped[flags:])
        elif line.strip() and not line.lstrip().startswith("#"):
            in_recipe = bool(_JUST_RECIPE.match(line)) and not line.startswith(("set ", "alias "))
            if not in_recipe and ":=" in line:
                # `x := `cmd``: the command runs when just evaluates the file.
                keep = [" "] * len(line)
                for m in _BACKTICK.finditer(line):
                    keep[m.start() + 1 : m.end() - 1] = line[m.start() + 1 : m.end() - 1]
                body = "".join(keep).rstrip()
        out.append(body)
    return "\n".join(out)


def tox_ini(text: str) -> str:
    out: list[str] = []
    in_env = in_key = False
    for line in text.split("\n"):
        body = ""
        section = _TOX_SECTION.match(line.strip())
        if section:
            in_env, in_key = section.group(1).startswith("testenv"), False
        elif in_env and in_key and line[:1] in (" ", "\t") and line.strip():
            body = line
        else:
            m = _TOX_KEY.match(line)
            in_key = bool(m) and in_env
            if m and in_env:
                body = " " * (len(line) - len(m.group(2))) + m.group(2)
        out.append(body)
    return "\n".join(out)

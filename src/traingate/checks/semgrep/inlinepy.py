"""Python written inside shell: ``python -c "..."`` and ``python - <<EOF``
(issue #16, session 27 red team).

A launcher line ``python -c "import pickle,base64; pickle.loads(...)"`` or a
heredoc fed to ``python -`` runs Python that no Python rule read: the bash
rules see one quoted word. This module lifts that code out of a shell target
(a script, a Dockerfile's RUN/CMD lines, a Makefile recipe, a config's
command strings) onto the lines it is written on, every other line blank,
and the semgrep check scans it as a Python companion of the file, so findings
need no line map. Only code Python can parse is lifted: a snippet built from
shell expansions (``print($X)``) is tried once more with each expansion
replaced by a name of the same length, and left out if it still does not
parse (it is no program until the shell runs).
"""

from __future__ import annotations

import ast
import re
import textwrap

# `python`, `python3`, `python3.11`, `/usr/bin/env python3`, any path to one,
# or the interpreter in a variable (`$PYTHON`, `${PYTHON_BIN:-python3}`);
# within one shell line (a `\` line continuation included).
_SP = r"(?:[ \t]|\\\n)"
_PY = (
    r"(?:^|(?<=[\s;&|(`'\"/=]))"
    r"(?:python[0-9.]*|\$\{?[A-Z_]*PYTHON[A-Z0-9_]*(?::-[^}\s]*)?\}?[\"']?)(?=[ \t\\|;&)]|$)"
)
# Options before the program: `-u`, `-X dev`, `-W ignore`; not a cluster that
# ends in `c` (`-uc`), which takes the program as its argument.
_OPTS = rf"(?:{_SP}+-[XW]{_SP}+[^\s;&|]+|{_SP}+-(?![A-Za-z]*c\b)[A-Za-z][\w=.:-]*)*"
_DASH_C = re.compile(_PY + _OPTS + rf"{_SP}+-[A-Za-z]*c{_SP}*(?=['\"$])", re.M)
# The program from stdin: `python - <<EOF`, `python <<'EOF'`, `python3 - "$a" <<-EOF`.
_HEREDOC = re.compile(
    _PY + _OPTS + rf"(?P<dash>{_SP}+-(?={_SP}))?(?P<args>(?:{_SP}+[^\s<>|;&]+)*?){_SP}*<<"
    r"(?P<strip>-?)[ \t]*(?P<q>['\"]?)(?P<tag>\w+)(?P=q)",
    re.M,
)
# ... or a here-string, or a word piped in: `python3 <<< '...'`, `echo '...' | python -`.
_HERESTRING = re.compile(_PY + _OPTS + rf"(?:{_SP}+-)?{_SP}*<<<{_SP}*(?=['\"$])", re.M)
_ECHO = re.compile(r"(?:^|(?<=[\s;&|(]))(?:echo(?:\s+-[neE]+)*|printf(?:\s+--)?)[ \t]+(?=['\"$])")
_PIPED = re.compile(r"[ \t]*\|[ \t]*" + _PY + _OPTS + r"(?:[ \t]+-)?[ \t]*(?=$|[;&|)\n])", re.M)
_ANSI_C_END = re.compile(r"(?<!\\)'")
_EXPANSION = re.compile(r"\$\{[^}\n]*\}|\$\([^)\n]*\)|\$[A-Za-z_@*#?!0-9][A-Za-z0-9_]*|`[^`\n]*`")


def inline_python(*texts: str) -> str | None:
    """The Python code the shell texts run, on its own lines (the texts' line
    count, other lines blank), or None when there is none."""
    lines: dict[int, str] = {}
    count = 0
    for text in texts:
        count = max(count, text.count("\n") + 1)
        if "python" not in text.lower():
            continue
        for start, code in [*_dash_c(text), *_heredocs(text), *_piped(text)]:
            _place(lines, start, code)
    if not lines:
        return None
    out = [lines.get(i, "") for i in range(count)]
    return "\n".join(out) + "\n"


def _place(lines: dict[int, str], start: int, code: str) -> None:
    program = _parses(code)
    if program is None:
        return
    for i, line in enumerate(program.split("\n")):
        lines.setdefault(start + i, line)


def _parses(code: str) -> str | None:
    code = textwrap.dedent(code)
    for attempt in (code, _EXPANSION.sub(lambda m: "_" * len(m.group(0)), code)):
        try:
            ast.parse(attempt)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        return attempt
    return None


def _piped(text: str) -> list[tuple[int, str]]:
    """`python <<< WORD` and `echo WORD | python`: the word is the program."""
    found = []
    for m in _HERESTRING.finditer(text):
        word = None if _commented(text, m.start()) else _shell_word(text, m.end())
        if word is not None:
            found.append((text.count("\n", 0, m.end()), word))
    for m in _ECHO.finditer(text):
        if _commented(text, m.start()):
            continue
        word, end = _word_and_end(text, m.end())
        if word is not None and _PIPED.match(text, end):
            found.append((text.count("\n", 0, m.end()), word))
    return found


def _word_and_end(text: str, i: int) -> tuple[str | None, int]:
    j = i
    while j < len(text) and text[j] not in _WORD_END:
        if text[j] in "'\"":
            close = text.find(text[j], j + 1)
            if close == -1:
                return None, j
            j = close + 1
        else:
            j += 1
    return _shell_word(text, i), j


def _dash_c(text: str) -> list[tuple[int, str]]:
    found = []
    for m in _DASH_C.finditer(text):
        if _commented(text, m.start()):
            continue
        word = _shell_word(text, m.end())
        if word is not None:
            found.append((text.count("\n", 0, m.end()), word))
    return found


def _commented(text: str, i: int) -> bool:
    """The match sits on a comment line (`# python -c "..."` runs nothing)."""
    return text[text.rfind("\n", 0, i) + 1 : i].lstrip().startswith("#")


def _shell_word(text: str, i: int) -> str | None:
    """The shell word at ``i`` as the shell passes it on: adjacent pieces
    joined ('...' verbatim, "..." with its backslash escapes undone, $'...'
    with C escapes, bare characters), as ``shlex.join`` writes a word with a
    quote in it (``'a'"'"'b'``). None for an unterminated quote."""
    out: list[str] = []
    while i < len(text) and text[i] not in _WORD_END:
        if text.startswith("$'", i):
            piece, i = _ansi_c(text, i + 2)
        elif text[i] == "'":
            end = text.find("'", i + 1)
            piece, i = (None, i) if end == -1 else (text[i + 1 : end], end + 1)
        elif text[i] == '"':
            piece, i = _double(text, i + 1)
        elif text[i] == "\\" and i + 1 < len(text):
            piece, i = text[i + 1], i + 2
        else:
            piece, i = text[i], i + 1
        if piece is None:
            return None
        out.append(piece)
    return "".join(out)


_WORD_END = frozenset(" \t\n;&|<>()")


def _ansi_c(text: str, i: int) -> tuple[str | None, int]:
    close = _ANSI_C_END.search(text, i)
    if close is None:
        return None, i
    try:
        raw = text[i : close.start()].encode("latin-1", "backslashreplace")
        return raw.decode("unicode_escape"), close.end()
    except UnicodeDecodeError:
        return None, i


def _double(text: str, i: int) -> tuple[str | None, int]:
    out = []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`\n':
            out.append("" if text[i + 1] == "\n" else text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return None, i


def _heredocs(text: str) -> list[tuple[int, str]]:
    found = []
    lines = text.split("\n")
    for m in _HEREDOC.finditer(text):
        if _commented(text, m.start()):
            continue
        if m.group("args").strip() and not m.group("dash"):
            continue  # `python train.py <<EOF`: the heredoc is the script's input
        first = text.count("\n", 0, m.end()) + 1
        body = []
        for line in lines[first:]:
            probe = line.lstrip("\t") if m.group("strip") else line
            if probe.strip() == m.group("tag") and probe.rstrip() == probe.strip():
                break
            body.append(probe)
        # No end line: bash warns and feeds the rest of the file to Python, so
        # that rest is the program (skipping it would hide a payload).
        found.append((first, "\n".join(body)))
    return found

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
from collections.abc import Iterator

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
# after the pipe, bash reads on past blanks, continuations and newlines
_PIPED = re.compile(
    r"[ \t]*\|(?:[ \t]|\\?\n)*" + _PY + _OPTS + r"(?:[ \t]+-)?[ \t]*(?=$|[;&|)\n])", re.M
)
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
        for start, code, span in [*_dash_c(text), *_heredocs(text), *_piped(text)]:
            _place(lines, start, code, span, count)
    if not lines:
        return None
    out = [lines.get(i, "") for i in range(max(count, max(lines) + 1))]
    return "\n".join(out) + "\n"


def _place(lines: dict[int, str], start: int, code: str, span: int, count: int) -> None:
    """The program on its shell lines. A program with more lines than its shell
    text (escapes decoded: `printf 'a\\nb' | python`, `-c $'a\\nb'`) that would
    run into another program or past the end is put on one line when its
    statements are simple, else after the last line: every statement is
    judged, at the cost of its line (session 28 red team)."""
    program = _parses(code)
    if program is None:
        return
    rows = program.split("\n")
    if len(rows) > span or _clash(lines, start, len(rows), count):
        rows = _one_line(program) or rows
    if all(lines.get(start + i) == row for i, row in enumerate(rows)):
        return  # the same program, read again from the raw text
    if _clash(lines, start, len(rows), count):
        start = max(count, max(lines, default=0) + 1)
    for i, line in enumerate(rows):
        lines.setdefault(start + i, line)


def _clash(lines: dict[int, str], start: int, n: int, count: int) -> bool:
    return start + n > count or any(start + i in lines for i in range(n))


def _one_line(program: str) -> list[str] | None:
    body = ast.parse(program).body
    if any(isinstance(st, _COMPOUND) for st in body):
        return None
    return ["; ".join(ast.unparse(st) for st in body)]


_COMPOUND = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.Match,
)


def _parses(code: str) -> str | None:
    code = textwrap.dedent(code)
    for attempt in (code, _EXPANSION.sub(lambda m: "_" * len(m.group(0)), code)):
        try:
            ast.parse(attempt)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        return attempt
    return None


def _piped(text: str) -> list[tuple[int, str, int]]:
    """`python <<< WORD` and `echo WORD | python`: the word is the program."""
    found = []
    for m in _HERESTRING.finditer(text):
        word, end = (None, 0) if _commented(text, m.start()) else _word_and_end(text, m.end())
        if word is not None:
            found.append((text.count("\n", 0, m.end()), word, _span(text, m.end(), end)))
    for m in _ECHO.finditer(text):
        if _commented(text, m.start()):
            continue
        words, end, after = _words_to_pipe(text, m.end())
        if not words or not _PIPED.match(text, after):
            continue
        line = text.count("\n", 0, m.end())
        for program in _printed(m.group(0), words):
            found.append((line, program, _span(text, m.end(), end)))
    return found


def _words_to_pipe(text: str, i: int) -> tuple[list[str], int, int]:
    """The shell words from ``i`` up to a pipe or the end of the command: the
    words, where the last one ends, and where the next token starts."""
    words: list[str] = []
    while True:
        word, end = _word_and_end(text, i)
        if word is None:
            return [], end, end
        words.append(word)
        j = _blanks(text, end)
        if j >= len(text) or text[j] in _WORD_END:
            return words, end, j
        i = j


def _blanks(text: str, i: int) -> int:
    """Past spaces, tabs and line continuations (`\\` at a line's end)."""
    while i < len(text):
        if text[i] in " \t":
            i += 1
        elif text.startswith("\\\n", i):
            i += 2
        else:
            break
    return i


def _printed(command: str, words: list[str]) -> list[str]:
    """What ``echo``/``printf`` writes to the pipe, as candidates for the program
    (session 28 red team: `printf '\\x69mport pickle\\n...' | python`). printf
    always reads its format's escapes; `echo -e` does, and so does a POSIX sh's
    plain echo (dash), so plain echo is tried as written and decoded."""
    if command.lstrip().startswith("printf"):
        out = printf_output(words)
        return [] if out is None else [out]
    text = " ".join(words)
    decoded = _escapes(text, echo=True)
    if re.search(r"\s-[a-zA-Z]*e", command):
        return [decoded]
    return [text] if decoded == text else [text, decoded]


_ESCAPE = re.compile(
    r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|0?[0-7]{1,3}|.)", re.S
)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_SIMPLE |= {"e": "\x1b", "E": "\x1b", "\\": "\\"}
_DIRECTIVE = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d*)?([a-zA-Z]))")


def _escapes(text: str, echo: bool = False) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "xuU":
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            digits = e[1:] if echo and e[0] == "0" else e
            if echo and e[0] != "0":
                return "\\" + e  # echo -e reads octal only as \0NNN
            return chr(int(digits or "0", 8) & 0xFF)
        return _SIMPLE.get(e, "\\" + e)

    return _ESCAPE.sub(one, text)


def printf_output(words: list[str]) -> str | None:
    """printf's output for a format of ``%s``/``%b`` directives and its arguments
    (the format reused until they run out, as the shell does); None for any other
    directive, whose output the gate does not compute."""
    fmt, args = _escapes(words[0]), words[1:]
    kinds = [m.group(1) for m in _DIRECTIVE.finditer(fmt) if m.group(1)]
    if any(k not in ("s", "b") for k in kinds):
        return None
    if not kinds:
        return fmt.replace("%%", "%")
    out: list[str] = []
    while True:
        pending = iter(args)
        taken = 0

        def fill(m: re.Match[str], pending: Iterator[str] = pending) -> str:
            nonlocal taken
            if m.group(0) == "%%":
                return "%"
            value = next(pending, "")
            taken += 1
            return _escapes(value, echo=True) if m.group(1) == "b" else value

        out.append(_DIRECTIVE.sub(fill, fmt))
        args = args[taken:]
        if not args:
            return "".join(out)


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


def _dash_c(text: str) -> list[tuple[int, str, int]]:
    found = []
    for m in _DASH_C.finditer(text):
        if _commented(text, m.start()):
            continue
        word, end = _word_and_end(text, m.end())
        if word is not None:
            found.append((text.count("\n", 0, m.end()), word, _span(text, m.end(), end)))
    return found


def _span(text: str, start: int, end: int) -> int:
    """How many lines of the shell text a word occupies."""
    return text.count("\n", start, end) + 1


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


def _heredocs(text: str) -> list[tuple[int, str, int]]:
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
        found.append((first, "\n".join(body), max(len(body), 1)))
    return found

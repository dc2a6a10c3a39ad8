"""When semgrep cannot parse a shell target (issue #16).

semgrep 1.182's bash parser rejects valid bash (``echo >&2 "msg"`` inside a
``{ ...; }`` group: espnet's install scripts), and every such file blocked as
``semgrep-parse-error``. A parse error hides something only from a rule that
reads semgrep's syntax tree: ``pattern-regex`` and ``pattern-not-regex`` run
on the file's text, parsed or not (checked against semgrep 1.182: a bash or
Python file with a parse error still gets every regex hit). So a shell target
semgrep cannot parse keeps blocking when

- an active bash rule (one the policy does not ``ignore``) uses anything but
  regex operators: :func:`ast_rules` reads the loaded rule files, the shipped
  pack and the policy's own rule dirs, so a future AST rule makes parse errors
  block again with no list to update; or
- the text is broken in a way bash itself rejects (:func:`breakage`: an
  unterminated quote, ``$(``, backtick or ``${``, an ``if`` without ``fi``, a
  loop without ``done``, a ``case`` without ``esac``, a closer without its
  opener): the finding then says what and where.

Otherwise the parse error is dropped: every rule that could judge the file did.

Why not ``bash -n``: the gate never hands the change to an interpreter
(threat model, "the change is never executed"); ``-n`` only parses, but which
bash (3.2 on macOS, 5.x elsewhere) would decide the verdict, and a parser
bug of that bash would be the change's to reach. This lexer is a superset
check of gross breakage, not a bash grammar; what it misses bash may still
reject, and what it flags blocks as before (it runs only on files semgrep
already failed on, which all blocked until now).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from traingate.checks.semgrep.hits import Hit, error_hit

BASH_LANGS = frozenset({"bash", "sh"})
# The operators that never need the syntax tree: the rest (pattern, pattern-inside,
# metavariable-*, taint, the `match:` syntax, ...) are AST rules, unknown ones too.
_REGEX_KEYS = frozenset({"patterns", "pattern-either", "pattern-regex", "pattern-not-regex"})
_RULE_KEYS = frozenset(
    {"id", "languages", "severity", "message", "metadata", "paths", "options", "fix", "min-version"}
)
_ERROR = "semgrep-parse-error"


def is_shell(ext: str) -> bool:
    """A target semgrep reads as bash (targets.py gives every shell surface .sh)."""
    return ext.endswith((".sh", ".bash"))


def ast_rules(dirs: Iterable[Path], active: Callable[[str, str, str | None], bool]) -> list[str]:
    """Ids of the bash rules in ``dirs`` that need semgrep's syntax tree and that
    ``active(rule id, severity, category)`` says the policy acts on."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # trusted: pack and base
    out: list[str] = []
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.suffix not in (".yaml", ".yml") or not p.is_file():
                continue
            doc = yaml.load(p.read_text(encoding="utf-8"), Loader=loader)
            for rule in (doc or {}).get("rules", []) if isinstance(doc, dict) else []:
                if not isinstance(rule, dict):
                    continue
                langs = {str(x).lower() for x in rule.get("languages") or []}
                if not langs & BASH_LANGS or _regex_only(rule):
                    continue
                meta = rule.get("metadata") or {}
                category = meta.get("category") if isinstance(meta, dict) else None
                rid = str(rule.get("id", ""))
                if active(rid, str(rule.get("severity", "WARNING")), category):
                    out.append(rid)
    return out


def _regex_only(rule: dict[str, Any]) -> bool:
    return all(k in _RULE_KEYS or k in _REGEX_KEYS for k in rule) and _regex_ops(rule)


def _regex_ops(node: Any) -> bool:
    if isinstance(node, list):
        return all(_regex_ops(x) for x in node)
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        if key in _RULE_KEYS:
            continue
        if key not in _REGEX_KEYS:
            return False
        if key in ("patterns", "pattern-either") and not _regex_ops(value):
            return False
        if key in ("pattern-regex", "pattern-not-regex") and not isinstance(value, str):
            return False
    return True


SYNTAX = "shell-syntax-error"


def syntax(hits: list[Hit], text: str) -> list[Hit]:
    """A shell script's hits, with ``shell-syntax-error`` where bash would reject
    its text and semgrep said nothing (issue #16, fail closed): semgrep parsed
    it, or never read it because no rule's words are in it (the screen). Until
    session 25 such a script passed: only a file semgrep failed on was lexed.
    The lexer agrees with ``bash -n`` on 3,268 real shell files (4 broken)."""
    if any(h.parse_error and h.rule == _ERROR for h in hits):
        return hits
    broken = breakage(text)
    if broken is None:
        return hits
    line, what = broken
    why = f"bash would not parse this script: {what}; a script the gate cannot read is blocked"
    return [*hits, error_hit(SYNTAX, why, line)]


def judge(hits: list[Hit], text: str, need_ast: list[str]) -> list[Hit]:
    """A shell target's hits with its semgrep parse errors judged (module doc)."""
    if not any(h.parse_error and h.rule == _ERROR for h in hits):
        return hits
    if need_ast:
        # Say why it still blocks: which rule could not read the file.
        why = f"; the active bash rule {need_ast[0]} reads semgrep's syntax tree"
        return [
            replace(h, message=h.message + why) if h.parse_error and h.rule == _ERROR else h
            for h in hits
        ]
    broken = breakage(text)
    rest = [h for h in hits if not (h.parse_error and h.rule == _ERROR)]
    if broken is None:
        return rest
    line, what = broken
    return [
        *rest,
        error_hit(
            _ERROR,
            f"semgrep cannot parse this file, and bash would not either: {what}; "
            "unparseable code cannot be checked and is blocked",
            line,
        ),
    ]


_OPENERS = {
    "if": "fi",
    "case": "esac",
    "for": "done",
    "select": "done",
    "while": "done",
    "until": "done",
}
_CLOSERS = {"fi": "`if`", "esac": "`case`", "done": "loop"}
# Words after which a command starts (`for NAME`, `case WORD`: no command).
_CMD_START = frozenset(
    {"then", "do", "else", "elif", "!", "time", "if", "while", "until", "{", "}"}
)
_WORD_END = frozenset(" \t\n;&|()<>")
_NAMES = {'"': "double quote", "`": "backtick", "$(": "`$(`", "${": "`${`", "$((": "`((`"}


class _Frame:
    """An open quote, substitution or command list, and the keywords open in it."""

    def __init__(self, kind: str, line: int) -> None:
        self.kind = kind  # "top", "$(", "`" (command lists), '"', "${", "$(("
        self.line = line
        self.depth = 0  # open parentheses inside a command list or $((
        self.words: list[tuple[str, int]] = []  # open if/case/loops: (keyword, line)
        self.pattern = False  # a case pattern is next (its `)` closes nothing)


_LISTS = ("top", "$(", "`")


def breakage(text: str) -> tuple[int, str] | None:
    """(line, what) of the first gross breakage in a shell text, or None."""
    stack = [_Frame("top", 1)]
    line, i, n = 1, 0, len(text)
    cmd = True  # at the start of a command: a keyword may follow
    heredocs: list[tuple[str, bool]] = []
    while i < n:
        f, c = stack[-1], text[i]
        code = f.kind in _LISTS
        if c == "\n":
            line, i, cmd = line + 1, i + 1, code
            if code and heredocs:
                i, line = _skip_heredocs(text, i, line, heredocs)
                heredocs = []
            continue
        if c == "\\":
            line += text[i + 1 : i + 2] == "\n"
            i += 2
            continue
        if f.kind == "$((":
            i = _arith(stack, f, text, i)
            continue
        if code and c == "#" and (i == 0 or text[i - 1] in " \t\n;&|()"):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if f.kind != '"' and (c == "'" or text.startswith("$'", i)):
            start = line
            i, line = _single(text, i + (c == "$"), line, ansi=c == "$")
            if i > n:
                return start, f"a single quote opened at line {start} is never closed"
            cmd = False
            continue
        if c == f.kind and c in '"`':
            if f.words:
                return _unclosed(f.words[-1])
            stack.pop()
            i += 1
            continue
        opened = _opener(text, i, f.kind)
        if opened:
            stack.append(_Frame(opened, line))
            i += len(opened)
            cmd = opened in _LISTS
            continue
        if f.kind == "${":
            if c == "}":
                stack.pop()
            i += 1
            continue
        if not code:
            i += 1
            continue
        problem, i, cmd, heredoc = _list_char(stack, f, text, i, line, cmd)
        if problem:
            return problem
        if heredoc:
            heredocs.append(heredoc)
    for f in stack[1:]:
        return f.line, f"a {_NAMES.get(f.kind, f.kind)} opened at line {f.line} is never closed"
    if stack[0].words:
        return _unclosed(stack[0].words[-1])
    if stack[0].depth:
        return line, "a `(` is never closed"
    return None


def _single(text: str, i: int, line: int, *, ansi: bool) -> tuple[int, int]:
    """Past the single-quoted string whose quote is at ``i`` (``$'...'``
    honours backslashes); an index past the end when it is never closed."""
    i += 1
    while i < len(text) and text[i] != "'":
        if ansi and text[i] == "\\":
            line += text[i + 1 : i + 2] == "\n"
            i += 1
        line += text[i : i + 1] == "\n"
        i += 1
    return i + 1, line


def _list_char(
    stack: list[_Frame], f: _Frame, text: str, i: int, line: int, cmd: bool
) -> tuple[tuple[int, str] | None, int, bool, tuple[str, bool] | None]:
    """One step in a command list: (problem, next index, at a command start,
    a here-document begun)."""
    c, n = text[i], len(text)
    if text.startswith("<<<", i):
        return None, i + 3, False, None  # a here-string: one word, no body
    if text.startswith("<<", i):
        j, doc = _heredoc_word(text, i + 2)
        return None, j, False, doc
    if c == "(":
        if cmd and text.startswith("((", i):
            stack.append(_Frame("$((", line))  # an arithmetic command: `<<` is a shift
            return None, i + 2, False, None
        if not f.pattern:
            f.depth += 1
        return None, i + 1, True, None
    if c == ")":
        if f.pattern:
            f.pattern = False
        elif f.depth:
            f.depth -= 1
        elif f.kind == "$(":
            if f.words:
                return _unclosed(f.words[-1]), i, cmd, None
            stack.pop()
            return None, i + 1, False, None
        else:
            return (line, f"a `)` at line {line} closes nothing"), i, cmd, None
        return None, i + 1, True, None
    if c in ";&|":
        if text.startswith(";;", i) and f.words and f.words[-1][0] == "case":
            f.pattern = True
        return None, i + 1, True, None
    if c in " \t":
        return None, i + 1, cmd, None
    j = i
    while j < n and text[j] not in _WORD_END and text[j] not in "'\"`$\\":
        j += 1
    if j == i:
        return None, i + 1, False, None
    word = text[i:j]
    in_case = bool(f.words) and f.words[-1][0] == "case"
    if cmd and (j >= n or text[j] in _WORD_END):
        problem = _keyword(f, word, line)
        if problem:
            return problem, j, cmd, None
        if word == "in" and in_case:
            f.pattern = True
        return None, j, word in _CMD_START, None
    if word == "in" and in_case and not f.pattern:
        f.pattern = True  # `case $x in`: the patterns come next
    return None, j, False, None


def _opener(text: str, i: int, kind: str) -> str | None:
    if text.startswith("$((", i):
        return "$(("
    if text.startswith("$(", i):
        return "$("
    if text.startswith("${", i):
        return "${"
    c = text[i]
    if c == "`":
        return "`"
    if c == '"' and kind != '"':
        return '"'
    return None


def _arith(stack: list[_Frame], f: _Frame, text: str, i: int) -> int:
    c = text[i]
    if c == "(":
        f.depth += 1
    elif c == ")":
        if f.depth == 0 and text.startswith("))", i):
            stack.pop()
            return i + 2
        if f.depth == 0:
            # `$((cmd) | x)`: a subshell inside `$(`, as bash falls back to
            # when no `))` closes the arithmetic.
            f.kind = "$("
        f.depth = max(f.depth - 1, 0)
    return i + 1


def _keyword(f: _Frame, word: str, line: int) -> tuple[int, str] | None:
    in_case = bool(f.words) and f.words[-1][0] == "case"
    if in_case and word == "esac":
        f.words.pop()
        f.pattern = False
        return None
    if in_case and f.pattern:
        return None  # a case pattern: any word
    if word in _OPENERS:
        f.words.append((word, line))
        return None
    if word in _CLOSERS:
        if not f.words or _OPENERS[f.words[-1][0]] != word:
            return line, f"`{word}` at line {line} closes no {_CLOSERS[word]}"
        f.words.pop()
        return None
    if word in ("then", "elif", "else") and not (f.words and f.words[-1][0] == "if"):
        return line, f"`{word}` at line {line} is outside any `if`"
    return None


def _unclosed(opened: tuple[str, int]) -> tuple[int, str]:
    word, line = opened
    return line, f"`{word}` at line {line} has no `{_OPENERS[word]}`"


def _heredoc_word(text: str, i: int) -> tuple[int, tuple[str, bool] | None]:
    """Past a here-document's delimiter word, and (the word unquoted, `<<-`)."""
    tabs = text.startswith("-", i)
    i += tabs
    while i < len(text) and text[i] in " \t":
        i += 1
    j = i
    while j < len(text) and text[j] not in " \t\n;&|<>()":
        j += 1
    word = text[i:j].replace("'", "").replace('"', "").replace("\\", "")
    return j, ((word, tabs) if word else None)


def _skip_heredocs(
    text: str, i: int, line: int, heredocs: list[tuple[str, bool]]
) -> tuple[int, int]:
    """Past the bodies of the here-documents started on the line just ended.
    One that reaches the end of the file is one bash accepts (with a warning)."""
    for word, tabs in heredocs:
        while i < len(text):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            body = text[i:end]
            i = end + 1
            line += 1
            if (body.lstrip("\t") if tabs else body) == word:
                break
    return min(i, len(text)), line

"""Every docs claim about a command's behaviour is held by a test (issue #18).

docs/reference/claims.md lists each claim with the test that holds it; this
file fails when a named test is renamed or deleted (read with ``ast``, never
imported), and when a ``traingate ...`` example in the docs uses a subcommand
or a flag the real argument parser rejects.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from traingate.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "docs" / "reference" / "claims.md"
# An example anywhere in the docs must parse, rule pages and security notes too.
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

AUDITED = {
    "README.md",
    "docs/getting-started.md",
    "docs/policy.md",
    "docs/usage/pre-commit.md",
    "docs/reference/json-report.md",
    "docs/approvals.md",
    "docs/audit.md",
    "docs/launch.md",
    "docs/ci/github.md",
    "docs/ci/gitlab.md",
    "docs/ci/hardening.md",
}

_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"(?<!`)`(traingate [^`\n]+)`(?!`)")
_ROW = re.compile(r"^\|(?P<claim>[^|]+)\|(?P<doc>[^|]+)\|(?P<tests>[^|]+)\|\s*$", re.M)
_TEST = re.compile(r"tests/(test_\w+\.py)::(\w+)")
_SHELL = {"", "sh", "bash", "console", "shell", "yaml", "yml"}


def _claim_rows() -> list[tuple[str, str, list[tuple[str, str]]]]:
    text = CLAIMS.read_text(encoding="utf-8")
    rows = []
    for m in _ROW.finditer(text):
        tests = _TEST.findall(m.group("tests"))
        if m.group("claim").strip() in ("claim", "---") or set(m.group("claim").strip()) <= {"-"}:
            continue
        rows.append((m.group("claim").strip(), m.group("doc").strip(), tests))
    return rows


def _functions(file: str) -> set[str]:
    tree = ast.parse((ROOT / "tests" / file).read_text(encoding="utf-8"))
    return {
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")
    }


def test_every_claim_names_a_test_that_exists() -> None:
    rows = _claim_rows()
    assert len(rows) >= 80, "docs/reference/claims.md lost its table"
    # A row the pattern cannot read (a `|` inside a cell) must not drop silently.
    lines = CLAIMS.read_text(encoding="utf-8").splitlines()
    body = [x for x in lines if x.startswith("| ") and not x.startswith("| claim |")]
    assert len(body) == len(rows), "a claims.md row has the wrong number of cells"
    cache: dict[str, set[str]] = {}
    missing = []
    for claim, doc, tests in rows:
        assert tests, f"claim without a test: {claim!r}"
        page = doc.strip("` ").split("#", 1)[0]
        assert (ROOT / page).is_file(), f"{claim!r}: no page {page}"
        for file, func in tests:
            if file not in cache:
                assert (ROOT / "tests" / file).is_file(), f"{claim!r}: no tests/{file}"
                cache[file] = _functions(file)
            if func not in cache[file]:
                missing.append(f"tests/{file}::{func} ({claim})")
    assert not missing, "claims.md names tests that do not exist:\n" + "\n".join(missing)
    # Every page the audit of issue #18 covered has its claims in the table.
    pages = {doc.strip("` ").split("#", 1)[0] for _, doc, _ in rows}
    assert pages >= AUDITED, AUDITED - pages


def _drop_optional(cmd: str) -> str:
    """A synopsis ``[--format text|json]`` reads as its first alternative."""
    while True:  # innermost first: [--env B [--only NAMES]]
        new = re.sub(r"\[([^\[\]]*)\]", lambda m: m.group(1).split("|")[0], cmd)
        if new == cmd:
            return cmd
        cmd = new


def _segments(line: str) -> Iterator[str]:
    line = _drop_optional(line.split(" #", 1)[0])
    for seg in re.split(r"&&|\|\||\s\|\s|\s>\s?\S+", line):
        seg = re.sub(r"^\s*(-\s+|run:\s*|script:\s*)", "", seg).strip()
        seg = re.sub(r"^(\w+=\S*\s+)+", "", seg)  # SKIP=... traingate
        if seg.startswith("traingate ") or seg == "traingate":
            yield seg


def doc_commands() -> Iterator[tuple[str, str, bool]]:
    """(page, command, whole) for each ``traingate`` invocation in a shell or
    YAML code block (whole: a full example), and each inline code span that
    starts with ``traingate `` (a command named in prose may leave out its
    required arguments, never use a wrong one)."""
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        rel = str(page.relative_to(ROOT))
        for m in _FENCE.finditer(text):
            if m.group(1).strip() not in _SHELL:
                continue
            for line in m.group(2).replace("\\\n", " ").splitlines():
                if line.lstrip().startswith("- id:"):
                    continue  # a pre-commit hook id, not a command
                for seg in _segments(line):
                    yield rel, seg, True
        prose = _FENCE.sub("", text)
        for m in _INLINE.finditer(prose):
            for seg in _segments(m.group(1)):
                yield rel, seg, False


# Inline spans that name something other than a command line.
_NOT_COMMANDS = {
    "traingate / gate",  # a GitHub status check name
    "traingate / gate (pull_request)",
    "traingate (staged change)....Passed",  # pre-commit's own output line
    "traingate staged: 1 file, policy .traingate.yaml@<rev>",
}


def _argv(cmd: str) -> list[str]:
    words = shlex.split(cmd)[1:]
    # Placeholders: "..." elides arguments; "check|scan" names two commands.
    return [w.split("|")[0] for w in words if w not in ("...", "…")]


def test_doc_commands_are_found() -> None:
    found = list(doc_commands())
    assert len(found) >= 60, found
    assert ("README.md", "traingate demo", True) in found


@pytest.mark.parametrize(
    ("page", "cmd", "whole"),
    [
        pytest.param(p, c, w, id=f"{p}:{c[:60]}")
        for p, c, w in dict.fromkeys(doc_commands())
        if c not in _NOT_COMMANDS
    ],
)
def test_doc_command_parses(page: str, cmd: str, whole: bool) -> None:
    """The example parses with the real parser: no unknown subcommand or flag,
    and, in a code block, no missing required argument. Parse only: nothing runs."""
    parser = build_parser()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(_argv(cmd))
        except SystemExit as exc:
            named_only = not whole and "the following arguments are required" in err.getvalue()
            # --help and --version exit 0; anything else is a usage error.
            assert exc.code == 0 or named_only, f"{page}: `{cmd}` does not parse:\n{err.getvalue()}"


@pytest.mark.parametrize(
    "cmd",
    [
        "traingate check --no-such-flag",
        "traingate frobnicate",
        "traingate approve --base main",  # --key and --approver are required
        "traingate check --staged --base main",  # mutually exclusive
    ],
)
def test_the_parser_check_rejects_a_wrong_example(cmd: str) -> None:
    """The check above would catch a docs example that drifted from the parser."""
    with (
        contextlib.redirect_stderr(io.StringIO()),
        pytest.raises(SystemExit) as exc,
    ):
        build_parser().parse_args(_argv(cmd))
    assert exc.value.code == 2

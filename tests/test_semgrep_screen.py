"""Rule screens (issue #17, screen.py): a screen must hold wherever its rule matches.

A screen is a necessary condition read from a file's identifiers and literals;
one that is too narrow drops a catch silently. So semgrep itself is the judge:
the pack runs *unscreened* over every rule fixture, the evasion, injected,
legit and check fixtures, the anchor attacks, and snippets cut from all of them
(each top-level statement with the file's imports, each function lifted out,
each statement of a function alone), and for every match of a screened rule
the screen must let that rule run on that exact text. Cutting matters: a rule's
fixture holds every word its patterns name, so a screen missing one alternative
would still pass on the whole file.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from traingate.checks.semgrep import screen, screenpack, targets
from traingate.errors import CheckError

from .test_rule_anchors import ATTACKS
from .test_rules_pack import COMMON, RULES_DIR, run_semgrep

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def _screens() -> screen.Screens:
    found, _ = screen.read(sorted(RULES_DIR.rglob("*.yaml")))
    return found


def _sources() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(RULES_DIR.rglob("*.py")) + sorted(FIXTURES.rglob("*.py")):
        out[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    for name, text in ATTACKS.items():
        out[f"test_rule_anchors:{name}"] = text
    # What semgrep sees of a notebook: its cells and magics as Python.
    for path in sorted(FIXTURES.rglob("*.ipynb")):
        nb = targets._notebook("0" * 40, path.name, path.read_text(encoding="utf-8"))
        out[path.relative_to(ROOT).as_posix()] = nb.text
    return out


def _stmt_alone(fn: ast.FunctionDef | ast.AsyncFunctionDef, stmt: ast.stmt) -> ast.stmt:
    return ast.FunctionDef(
        name=fn.name, args=fn.args, body=[stmt], decorator_list=[], returns=None, lineno=1
    )


def _binds(stmt: ast.stmt) -> set[str]:
    assert isinstance(stmt, (ast.Import, ast.ImportFrom))
    return {(a.asname or a.name).split(".")[0] for a in stmt.names}


def snippets(text: str) -> list[str]:
    """``text`` and the pieces cut from it (each one valid Python)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return [text]
    imports: list[ast.stmt] = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    out = [text]

    def emit(body: list[ast.stmt]) -> None:
        # Only the imports the piece uses, and none: an import of an unused
        # name would lend the piece its words.
        used = {n.id for b in body for n in ast.walk(b) if isinstance(n, ast.Name)}
        for head in ([i for i in imports if _binds(i) & used], []):
            try:
                module = ast.Module(body=[*head, *body], type_ignores=[])
                out.append(ast.unparse(module) + "\n")
            except (ValueError, AttributeError, RecursionError):  # pragma: no cover
                pass

    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        emit([stmt])
        for node in ast.walk(stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not stmt:
                emit([node])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in node.body:
                    emit([_stmt_alone(node, inner)])
    return list(dict.fromkeys(out))


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[Any]]:
    """Every snippet by file name, and the unscreened pack's matches on them."""
    root = tmp_path_factory.mktemp("screen-oracle")
    (root / ".semgrepignore").write_text("")
    texts: dict[str, str] = {}
    for origin, text in _sources().items():
        for piece in snippets(text):
            name = f"s{len(texts)}.py"
            (root / name).write_text(piece, encoding="utf-8")
            texts[name] = origin
    proc = run_semgrep(
        [
            "scan",
            "--experimental",
            "--json",
            "--quiet",
            *COMMON,
            "--disable-nosem",
            "--no-git-ignore",
            "--jobs=2",
            f"--config={RULES_DIR}",
            ".",
        ],
        cwd=root,
    )
    results = json.loads(proc.stdout)["results"]
    return {n: (root / n).read_text(encoding="utf-8") for n in texts}, [
        (r["check_id"], r["path"], texts[r["path"]]) for r in results
    ]


def test_every_match_is_screened_in(oracle: tuple[dict[str, str], list[Any]]) -> None:
    texts, results = oracle
    screens = _screens()
    assert results, "the oracle found nothing: semgrep did not run"
    missed = set()
    masks: dict[str, str] = {}
    for rule, name, origin in results:
        if rule not in screens.ids:
            continue
        mask = masks.setdefault(name, screens.mask(texts[name]))
        if mask[screens.ids.index(rule)] != "1":
            missed.add((rule, origin, name))
    assert not missed, "screens that would drop a match:\n" + "\n".join(
        f"{rule}: {origin} ({name}: {texts[name][:300]!r})" for rule, origin, name in sorted(missed)
    )


def test_the_oracle_covers_every_screened_rule(oracle: tuple[dict[str, str], list[Any]]) -> None:
    """A screened rule with no match in the oracle's corpus is not tested by it."""
    _, results = oracle
    matched = {rule for rule, _, _ in results}
    assert set(_screens().ids) <= matched


def test_every_shipped_screen_reads_and_narrows_its_rule() -> None:
    screens, sources = screen.read(sorted(RULES_DIR.rglob("*.yaml")))
    for rule_id, (path, text) in sources.items():
        full = yaml.safe_load(text)["rules"][0]
        assert screen.KEY in full["metadata"], path
        narrowed = yaml.safe_load(screenpack.with_include(text, rule_id, screens.include(rule_id)))
        rule = narrowed["rules"][0]
        include = rule["paths"]["include"]
        assert include and all("-" + "?" * screens.ids.index(rule_id) + "1" in g for g in include)
        del rule["paths"]
        full.pop("paths", None)
        assert rule == full  # nothing else changed


def test_every_shipped_rule_that_reads_python_is_screened(tmp_path: Path) -> None:
    """While one rule that may run on a Python file has no screen, every
    Python file of a change goes to semgrep (issue #17, session 14)."""
    pack = screenpack.ScreenedPack(RULES_DIR, tmp_path)
    assert pack._open_python == set()


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        ({"name": "system"}, True),
        ({"name": "popen"}, False),
        ({"name": ["popen", "os"]}, True),
        ({"name-regex": "^sys"}, True),
        ({"string": "rm -rf"}, True),
        ({"string": "tem"}, False),  # a comment is not a string
        ({"text": "tem"}, True),
        ({"all": [{"name": "os"}, {"string": "^rm"}]}, True),
        ({"all": [{"name": "os"}, {"name": "popen"}]}, False),
        ([{"name": "popen"}, {"name": "cmd"}], True),
        ({"name": "docstring"}, False),
        ({"string": "docstring"}, True),
        ({"name": "alias_of_os"}, True),
        ({"name": "path"}, True),  # a dotted import's parts
        ({"stored-root": "os"}, False),  # a call on os is not a write to it
        ({"words": "SYSTEM's"}, True),  # raw text, any case, comments too
        ({"words": ["\u017fystem"]}, True),  # a long s folds to s
        ({"words": "popen"}, False),
        ({"joined": "rm -rf"}, True),
        ({"joined": "-rf /"}, False),
    ],
)
def test_screen_atoms(spec: Any, wanted: bool) -> None:
    source = (
        '"""A docstring."""\n'
        "import os.path as alias_of_os\n"
        "def run(cmd):\n"
        "    # the system's own shell\n"
        '    os.system("rm -rf " + cmd)\n'
    )
    found = screen.facts(source)
    assert found is not None
    assert screen.compile_screen(spec)(found) is wanted


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "not an identifier"},
        {"name": 3},
        {"string": "("},
        {"nope": "x"},
        {"all": []},
        {"name": "a", "string": "b"},
        {"joined": ""},
        {"stored-root": ["<nope>"]},
        {"joined": ["x" * 65]},
        {"folds-to": ""},
        {"folded": {"chars": "A-Z"}},
        {"folded": {"chars": "A-Z", "min": 0}},
        {"folded": {"chars": "Z-A", "min": 5}},
        {"lookup": {"via": ["eval"], "name": "built"}},
        {"lookup": {"via": ["getattr"], "name": "any"}},
        "name",
        [],  # holds nowhere: the rule would never run
        {"unit": []},
    ],
)
def test_a_bad_screen_is_refused(spec: Any) -> None:
    with pytest.raises(screen.ScreenError):
        screen.compile_screen(spec)


@pytest.mark.parametrize(
    ("source", "word", "wanted"),
    [
        ('p = "." + "s" + "sh"\n', ".ssh", True),  # semgrep folds the pieces
        ('X = "sh"\np = "." + "s" + X\n', ".ssh", True),  # in any order constants reach
        ('p = f"id_{22}"\n', "id_22", True),  # a number in an f-string
        ('p = "huggingface/" + "tok" + "en"\n', "huggingface/token", True),
        ('p = "the .ssh dir"\n', ".ssh", True),  # inside one literal
        ('p = "." + "s"\n', ".ssh", False),
        ('p = "sh" + "."\n', ".ssh", False),  # "." + "sh" is ".sh": one "s" short
        ("ssh = 1\n# .ssh\n", ".ssh", False),  # names and comments are not literals
        # semgrep reads \x0a as written, so it sees the "a" Python's value loses
        ('p = "~/.ssh/\\x0authorized_keys"\n', "authorized_keys", True),
        ('p = f"~/{d}/\\x0authorized_keys"\n', "authorized_keys", True),
        ('p = """one\n\\x0authorized_keys"""\n', "authorized_keys", True),
    ],
)
def test_joined_words_are_found_across_the_literals_semgrep_folds(
    source: str, word: str, wanted: bool
) -> None:
    found = screen.facts(source)
    assert found is not None and found.joinable(word) is wanted


_B64 = r"A-Za-z0-9+/=_\-\\\r\n'" + '"'  # obfusc-high-entropy-literal's class
_P = "Ab3" * 20  # 60 clean characters


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        (f'X = "{_P * 4}"\n', True),
        (f'X = "{_P * 3}"\n', False),
        (f'X = "{_P * 3} {_P}"\n', False),  # a space is not in the class
        (f'X = "{_P * 2}" + "{_P * 2}"\n', True),  # semgrep folds +
        (f'X = ("{_P * 2}"  # a comment\n     "{_P * 2}")\n', True),  # implicit joins
        (f'A = "{_P * 2}"\nB = A + A\n', True),  # through names
        (f'A = "{_P}"\nB = A + A\nC = B + B\n', True),  # each use counts
        (f'A = "{_P * 2}"\nA += "{_P * 2}"\nprint(A)\n', True),  # +=
        (f'N = 12345\nX = f"{_P * 3}{{N}}{_P[:56]}"\n', True),  # a number's digits
        (f'X = f"{_P * 3}{{name}}{_P * 3}"\n', False),  # a field semgrep cannot fold
        (f'X = "{_P * 3}" % "{_P * 3}"\n', False),  # % is not folded
        ("X = b'" + "\\x41" * 50 + "'\n", True),  # semgrep reads escapes as written
        ("X = ('" + "\\x41" * 25 + "'  # a comment\n  '" + "\\x41" * 25 + "')\n", True),
        ("X = f'" + "\\x41" * 25 + "{name}" + "\\x41" * 25 + "'\n", False),
        ("n = 0\nfor i in range(9):\n    n = n + 1\nX = f'{n}'\n", False),  # a sum is digits
        # a form feed and a line separator are no line ends to Python
        ('"""\f\u2028"""\nX = b\'' + "\\x41" * 50 + "'\n", True),
    ],
)
def test_folded_bounds_what_semgrep_folds(source: str, wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    spec = {"folded": {"chars": _B64, "min": 200}}
    assert screen.compile_screen(spec)(found) is wanted


@pytest.mark.parametrize(
    ("source", "words", "wanted"),
    [
        ('getattr(os, "sys" + "tem")\n', ["system"], True),
        ('getattr(os, "system\\n")\n', ["system"], True),  # $ admits a final newline
        ('getattr(os, "os.system")\n', ["system"], False),  # inside a literal: not equal
        ('getattr(os, "sy" + "stems")\n', ["system"], False),
        ('getattr(os, "spa" + "wnlp")\n', ["spawn*"], True),  # a prefix
        ('getattr(os, "xspawn")\n', ["spawn*"], False),
        ('h = "ev"\ngetattr(b, f"{h}al")\n', ["eval"], True),
    ],
)
def test_folds_to_needs_whole_literals(source: str, words: list[str], wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    assert screen.compile_screen({"folds-to": words})(found) is wanted


_VIA = ["getattr", "__import__", "import_module", "globals", "vars", "__dict__", "attrgetter"]


@pytest.mark.parametrize(
    ("source", "how", "wanted"),
    [
        ('getattr(self, "weight")\n', "not-literal", False),
        ('getattr(self, "wei" "ght")\n', "not-literal", False),  # one literal to semgrep
        ("getattr(self, name)\n", "not-literal", True),
        ('getattr(self, f"{n}_proj")\n', "not-literal", True),
        ("getattr(self, name)\n", "built", False),
        ("getattr(self, name[::-1])\n", "built", True),
        ('getattr(self, "".join(parts))\n', "built", True),
        ("n = s[::-1]\nm = n\ngetattr(o, m)\n", "built", True),  # through names
        ("n = s.strip()\ngetattr(o, n)\n", "built", False),
        ("g = getattr\ng(o, name)\n", "built", True),  # an alias: assume the worst
        ("from builtins import getattr as g\n", "built", True),
        ("ns = globals()\nns[s[::-1]]\n", "built", True),
        ("d = os.__dict__\nd[name]\n", "not-literal", True),
        ('vars(os).get(k + "x")\n', "built", True),
        ('x = cache[key + "_x"]\n', "built", False),  # not a namespace
        ("getattr(o, *args)\n", "built", True),
    ],
)
def test_lookup_reads_the_name_argument(source: str, how: str, wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    assert screen.compile_screen({"lookup": {"via": _VIA, "name": how}})(found) is wanted


@pytest.mark.parametrize(
    ("source", "roots", "wanted"),
    [
        ("import torch as T\nT.load = f\n", ["<import>"], True),
        ("import torch as T\nT.load = f\n", ["torch"], False),  # the alias is the root
        ("from torch import *\nnn.x = f\n", ["<import>"], True),  # star: any name
        ("import torch\nself.x = f\n", ["<import>"], False),
        ('__import__("torch").x = f\n', ["<call>"], True),
        ('sys.modules["torch"].x += 1\n', ["<subscript>"], True),
        ("for torch.x in y:\n    pass\n", ["torch"], True),
        ("(a, torch.nn.x) = f\n", ["torch"], True),
        ("torch.load(x)\n", ["torch"], False),
    ],
)
def test_stored_roots(source: str, roots: list[str], wanted: bool) -> None:
    found = screen.facts(source)
    assert found is not None
    assert screen.compile_screen({"stored-root": roots})(found) is wanted


def test_a_bad_screen_in_a_rule_file_names_the_file(tmp_path: Path) -> None:
    rule = tmp_path / "x.yaml"
    rule.write_text(
        "rules:\n  - id: x\n    languages: [python]\n    metadata:\n"
        "      traingate-screen:\n        - name: [not valid]\n"
    )
    with pytest.raises(CheckError, match=r"x\.yaml: bad traingate-screen"):
        screen.read([rule])


def test_unparseable_python_runs_every_rule() -> None:
    screens = _screens()
    assert screens.mask("def broken(:\n") == "1" * len(screens.ids)
    assert screens.mask(None) == "1" * len(screens.ids)

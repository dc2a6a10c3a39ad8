"""Files Python runs without anyone calling them (issue #16, class 1).

Compiled bytecode, interpreter start-up hooks (``sitecustomize``,
``usercustomize``, ``.pth`` import lines, IPython start-up files and config
``exec_lines``) and packaging hooks (a ``setup.py`` ``cmdclass`` that overrides
install/build/develop/egg_info, an in-tree PEP 517 backend) run at import,
interpreter start or ``pip install``, not where a reviewer reads the training
code. The payload in them may look harmless; the place is what matters, so
adding or changing one is the finding. Session 26 added pdb's ``.pdbrc``, the
hooks a config file declares (autorun_config.py: VS Code's Jupyter start-up
commands, hatch's renamed installs and custom build hooks) and a console
script named like a command the jobs call. Standard library only (``ast``,
``tomllib``): nothing here is imported or executed.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from traingate import pyast
from traingate.catalog import Rule, declare
from traingate.change import ChangedFile, Status, is_binary
from traingate.checks import autorun_config, autorun_lines
from traingate.checks.base import Context
from traingate.checks.config.doc import ConfigError
from traingate.findings import Finding
from traingate.policy.base import CheckSettings, Severity

ID = "autorun"
DESCRIPTION = "Bytecode, interpreter start-up hooks and install-time hooks added or changed."

# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = CheckSettings

RULES = declare(
    ID,
    [
        Rule(
            "autorun-bytecode",
            Severity.ERROR,
            "a compiled .pyc/.pyo file or a __pycache__ entry, a native extension module "
            "(.so/.pyd exporting PyInit_<name>) or a zip application (.pyz) is added or changed",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-site-hook",
            Severity.ERROR,
            "a sitecustomize.py or usercustomize.py is added or changed",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-pth-import",
            Severity.ERROR,
            "an added line of a text .pth file starts with import (site.py executes it), or a hatch table installs a file as a .pth",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-ipython-startup",
            Severity.ERROR,
            "an IPython start-up file is added or changed, or an added line of an IPython/Jupyter config (or VS Code's jupyter.runStartupCommands) sets code to run at start",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-setup-cmdclass",
            Severity.ERROR,
            "setup.py (or pyproject's tool.setuptools) overrides an install/build/develop/egg_info command, or pyproject declares a hatch custom build hook, and the change touches it",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-unreadable",
            Severity.ERROR,
            "a setup.py, IPython/Jupyter config, pyproject.toml or VS Code settings file the check cannot decode or parse (NUL bytes, a syntax error, a broken coding declaration)",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-debugger-rc",
            Severity.ERROR,
            "an added line of a .pdbrc sets a command or Python statement pdb runs when a debugger starts in its directory",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-command-shadow",
            Severity.ERROR,
            "an added console script (pyproject, setup.cfg, setup.py, hatch shared-scripts) is named like a command jobs call: torchrun, pip, python, accelerate, git...",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-build-backend",
            Severity.ERROR,
            "pyproject.toml's build system is loaded from the repository (backend-path), and the change touches it",
            category="autorun",
            since="0.2.0",
        ),
    ],
)

_EOL = re.compile(r"\r\n|\r|\n")  # lines as ast counts them
# site.py imports `sitecustomize` whatever it is: a module, a package or an
# extension module (issue #16: a package or a .so passed as "not the file").
_SITE_HOOK = re.compile(
    r"(?:^|/)(?:site|user)customize(?:\.pyw?|/__init__\.py|(?:\.[\w.-]+)?\.(?:so|pyd)|/?$)",
    re.IGNORECASE,
)
_CONTENT_NAMES = ("setup.py", "pyproject.toml")
_IPY_STARTUP = re.compile(r"(?:^|/)profile_[^/]+/startup/[^/]+\.(?:py|ipy)$")
_IPY_CONFIG = re.compile(r"(?:^|/)(?:ipython|ipython_kernel|jupyter_\w+)_config\.py$")
_IPY_CONFIG_RUN = re.compile(
    r"\b(?:exec_lines|exec_files|exec_PYTHONSTARTUP|code_to_run|file_to_run|extensions|extra_extensions)\b"
)
# setuptools/distutils commands that run while pip installs or builds the package.
_INSTALL_COMMANDS = {
    "install",
    "develop",
    "build",
    "build_py",
    "build_ext",
    "build_clib",
    "build_scripts",
    "egg_info",
    "sdist",
    "bdist_wheel",
    "bdist_egg",
    "editable_wheel",
    "install_lib",
    "install_scripts",
    "install_data",
    "install_egg_info",
    "easy_install",
    "dist_info",
}


def run(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for f in ctx.files:
        if f.status is Status.DELETED or f.new_path is None or f.new_oid is None:
            continue
        # A pure rename is judged too: the place is what makes these files run,
        # and `helper.py` renamed to `sitecustomize.py` is a new place (issue #16).
        out.extend(_judge(ctx, f, f.new_path))
    return out


# Issue #16: compiled code Python runs in place of reviewed source. A native
# extension module is imported before a .py of the same name in its directory
# (the import system tries extension suffixes first), whatever its tag; it is
# told from other shared libraries by the PyInit_<name> it must export. A zip
# application runs its __main__.py with `python tools.pyz`.
_NATIVE = re.compile(r"(?:^|/)([A-Za-z_]\w*)(?:\.[\w.-]+)?\.(?:so|pyd)$", re.IGNORECASE)
_ZIPAPP = (".pyz", ".pyzw")


def _compiled(ctx: Context, f: ChangedFile, path: str, lower: str) -> Finding | None:
    what = ""
    if lower.endswith(_ZIPAPP):
        what = "a zip application (python runs its __main__.py; its code is not in the diff)"
    else:
        m = _NATIVE.search(path)
        data = ctx.change.read(f.new_oid) if m and f.new_oid else None
        if m and data and b"PyInit_" + m.group(1).encode() in data:
            what = (
                f"a native extension module `{m.group(1)}` (imported before a "
                f"{m.group(1)}.py in the same directory; its code is not in the diff)"
            )
    if not what:
        return None
    return RULES.finding(
        "autorun-bytecode",
        path=path,
        message=f"compiled code in the change: {what}",
        help="build extension modules and zip applications in CI from reviewed source; "
        "see docs/checks/autorun.md",
    )


def _judge(ctx: Context, f: ChangedFile, path: str) -> list[Finding]:
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
    compiled = None if _SITE_HOOK.search(path) else _compiled(ctx, f, path, lower)
    if compiled is not None:
        return [compiled]
    if lower.endswith((".pyc", ".pyo")) or "/__pycache__/" in f"/{path}":
        source = _source_of(path)
        paired = source is not None and any(g.new_path == source for g in ctx.change)
        return [
            RULES.finding(
                "autorun-bytecode",
                path=path,
                message="compiled Python bytecode in the change: it cannot be reviewed, and "
                "Python imports it (a .pyc beside no source is imported as the module itself; "
                "a __pycache__ entry is used when its stamp matches the source)"
                + ("" if paired else "; the change carries no source for it"),
                help="remove it and add `*.py[co]` and `__pycache__/` to .gitignore; "
                "see docs/checks/autorun.md",
            )
        ]
    hook = _SITE_HOOK.search(path)
    if hook:
        return [
            RULES.finding(
                "autorun-site-hook",
                path=path,
                line=_first(f.added_lines),
                message=f"{hook.group(0).strip('/')} runs at the start of every Python "
                "process that has its directory on sys.path (site.py imports it), before "
                "any training code",
                help="put start-up configuration in the launcher, explicitly; see docs/checks/autorun.md",
            )
        ]
    if _IPY_STARTUP.search(path):
        return [
            RULES.finding(
                "autorun-ipython-startup",
                path=path,
                line=_first(f.added_lines),
                message="an IPython start-up file: every IPython shell and Jupyter kernel of "
                "this profile runs it before the first cell",
                help="see docs/checks/autorun.md",
            )
        ]
    if not (f.new_mode or "").startswith("100"):
        return _link(f, path, lower)
    added = set(f.added_lines)
    if lower.endswith(".ipynb"):
        return _notebook_writes(path, ctx.change.read(f.new_oid) or b"", added)
    if lower.endswith(".pth"):
        return _hit(path, autorun_lines.pth(ctx.change.read(f.new_oid) or b"", added))
    if lower == ".pdbrc":
        return _hit(path, autorun_lines.pdbrc(ctx.change.read(f.new_oid) or b"", added))
    if lower == "setup.cfg":
        return _setup_cfg(path, ctx.change.read(f.new_oid) or b"", added)
    if autorun_config.VSCODE_SETTINGS.search(path):
        return _declared(path, "jsonc", ctx.change.read(f.new_oid) or b"", added)
    if not (_IPY_CONFIG.search(path) or lower in _CONTENT_NAMES):
        return []
    data = ctx.change.read(f.new_oid) or b""
    if lower == "pyproject.toml":
        return _pyproject(path, data, added) or _declared(path, "toml", data, added)
    # Python files: judged as CPython decodes and parses them (issue #16). One
    # the check cannot read blocks here, whatever the other checks' settings.
    got = _python_source(path, data)
    if isinstance(got, Finding):
        return [got]
    text, tree, line_map = got
    if lower == "setup.py":
        return _setup_py(path, tree, line_map, added) or _setup_scripts(path, tree, line_map, added)
    return _ipython_config(path, text, line_map, added) or _config_code(path, tree, line_map, added)


def _declared(path: str, fmt: str, data: bytes, added: set[int]) -> list[Finding]:
    """Hooks a config file declares (session 26): VS Code's Jupyter start-up
    commands, hatch's renamed installs and custom build hooks. A file that does
    not parse blocks here: its reader may still find the hook in it."""
    doc = autorun_config.parse(fmt, data)
    if isinstance(doc, ConfigError):
        return [
            RULES.finding(
                "autorun-unreadable",
                path=path,
                line=doc.line,
                message=f"{path.rsplit('/', 1)[-1]} declares code that runs without anyone "
                f"calling it, and this check cannot judge it: it does not parse ({doc.message})",
                help="make it valid "
                + ("JSON (comments allowed)" if fmt == "jsonc" else "TOML")
                + "; "
                + _DOCS,
            )
        ]
    judge = autorun_config.vscode_startup if fmt == "jsonc" else autorun_config.hatch_hooks
    return _hit(path, ((rule, line, message, _DOCS) for rule, line, message in judge(doc, added)))


_DOCS = "see docs/checks/autorun.md"


def _setup_cfg(path: str, data: bytes, added: set[int]) -> list[Finding]:
    """setup.cfg's console scripts (session 26). setuptools reads it as UTF-8."""
    text = data.decode("utf-8", "replace")
    every = set(range(1, text.count("\n") + 2)) if is_binary(data) else added
    hits = autorun_config.setup_cfg_scripts(text, every)
    return _hit(path, ((rule, line, message, _SHADOW_HELP) for rule, line, message in hits))


def _setup_scripts(
    path: str, tree: ast.Module, line_map: list[int], added: set[int]
) -> list[Finding]:
    """setup.py's console scripts named like a command the jobs call (session 26)."""
    for start, end, message in autorun_config.setup_py_scripts(tree):
        touched = _first_added(line_map, start, end, added)
        if touched is not None:
            return [
                RULES.finding(
                    "autorun-command-shadow",
                    path=path,
                    line=touched,
                    message=message,
                    help=_SHADOW_HELP,
                )
            ]
    return []


_SHADOW_HELP = "name the project's commands after the project (trainlib-launch); " + _DOCS


def _link(f: ChangedFile, path: str, lower: str) -> list[Finding]:
    """A symlink (or submodule) where Python would read a .pth, setup.py,
    pyproject.toml or IPython config: what runs is the target, which this check
    does not judge as one (the repository check's `repo-symlink` only warns)."""
    if not (lower.endswith(".pth") or lower in _CONTENT_NAMES or _IPY_CONFIG.search(path)):
        return []
    what = "a submodule" if f.is_gitlink else "a symlink"
    return [_unreadable(path, 1, f"it is {what}, so what runs is content outside this file")]


def _unreadable(path: str, line: int, why: str) -> Finding:
    return RULES.finding(
        "autorun-unreadable",
        path=path,
        line=line,
        message=f"{path.rsplit('/', 1)[-1]} runs without anyone calling it, and this check "
        f"cannot judge it: {why}",
        help="make it valid UTF-8 Python without a coding declaration; see docs/checks/autorun.md",
    )


def _python_source(path: str, data: bytes) -> tuple[str, ast.Module, list[int]] | Finding:
    """(the text CPython compiles, its tree, the git line of each text line), or
    the finding that says why there is none. The tree is parsed from the bytes,
    so CPython itself applies the BOM and the PEP 263 cookie and refuses what it
    would refuse to run (invalid UTF-8, an unknown codec)."""
    if b"\0" in data:
        # CPython 3.12 refuses it; older versions cut each line at its NUL.
        return _unreadable(path, 1, "it contains NUL bytes, which Python versions read differently")
    # sabotage's reading of the same bytes, for the lines: a BOM dropped, the
    # cookie obeyed, each line mapped back to git's (with utf-7, "+AGk-nstall"
    # on one line is `install` to CPython).
    from traingate.checks.sabotage.source import _python

    text, line_map = _python(data)
    lines = line_map if line_map is not None else _git_lines(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = pyast.parse(data, filename=path)
    except SyntaxError as exc:
        line = _git_line(lines, exc.lineno or 1)
        return _unreadable(path, line, f"CPython cannot compile it ({exc.msg}, line {line})")
    except (ValueError, RecursionError, MemoryError) as exc:
        return _unreadable(path, 1, f"CPython cannot parse it ({type(exc).__name__})")
    return text, tree, lines


def _git_lines(text: str) -> list[int]:
    """The git line of each line ``ast`` counts in UTF-8 text: a lone \\r ends
    a line for CPython, not for git."""
    out, git = [1], 1
    for m in _EOL.finditer(text):
        git += "\n" in m.group()
        out.append(git)
    return out


def _git_line(line_map: list[int], line: int) -> int:
    if not line_map:
        return line
    return line_map[min(max(line, 1), len(line_map)) - 1]


def _ipython_config(path: str, text: str, line_map: list[int], added: set[int]) -> list[Finding]:
    for i, line in enumerate(_EOL.split(text), 1):
        n = _git_line(line_map, i)
        hit = _IPY_CONFIG_RUN.search(line) if n in added else None
        if hit:
            return [
                RULES.finding(
                    "autorun-ipython-startup",
                    path=path,
                    line=n,
                    message="an IPython/Jupyter config line that runs code at every "
                    f"start ({hit.group(0)})",
                    help="see docs/checks/autorun.md",
                )
            ]
    return []


def _config_code(
    path: str, tree: ast.Module, line_map: list[int], added: set[int]
) -> list[Finding]:
    """An added statement of a Jupyter/IPython config that does more than set
    traits: a call, an import of anything but a few path helpers, a def."""
    from traingate.checks.jupyter_config import code_statements

    for node in code_statements(tree):
        lo = _git_line(line_map, node.lineno)
        hi = _git_line(line_map, node.end_lineno or node.lineno)
        touched = sorted(n for n in added if lo <= n <= hi)
        if touched:
            return [
                RULES.finding(
                    "autorun-ipython-startup",
                    path=path,
                    line=touched[0],
                    message="a Jupyter/IPython config file runs as Python at every start of "
                    "the server or shell that reads it (its directory, the profile or "
                    f"~/.jupyter), and this statement does more than set options "
                    f"({type(node).__name__.lower()} at line {touched[0]})",
                    help="keep the file to `c.App.option = value` settings; start helpers "
                    "from the launcher; see docs/checks/autorun.md",
                )
            ]
    return []


# `%%writefile PATH` (IPython's cell magic, alias `%%file`) in a notebook's JSON:
# the cell's text lands at PATH when the cell runs (issue #16).
_WRITEFILE = re.compile(r"%%?(?:writefile|file)\s+(?:(?:-a|--append)\s+)?([^\s\"\\]+)")


def _notebook_writes(path: str, data: bytes, added: set[int]) -> list[Finding]:
    """A notebook cell that writes one of the files above: running the notebook
    installs a start-up hook that no diff of a .py file shows."""
    text = data.decode("utf-8", "replace")
    for n, line in enumerate(text.split("\n"), 1):
        m = _WRITEFILE.search(line) if n in added else None
        if m is None:
            continue
        dest = m.group(1)
        if _SITE_HOOK.search(dest):
            rule = "autorun-site-hook"
        elif _IPY_STARTUP.search(dest) or _IPY_CONFIG.search(dest):
            rule = "autorun-ipython-startup"
        elif dest.lower().endswith(".pth"):
            rule = "autorun-pth-import"
        else:
            continue
        return [
            RULES.finding(
                rule,
                path=path,
                line=n,
                message=f"a notebook cell writes {dest} (%%writefile): once the cell has run, "
                "that file runs at every interpreter or IPython start",
                help="do not install start-up files from notebooks; see docs/checks/autorun.md",
            )
        ]
    return []


def _hit(path: str, hits: Iterator[tuple[str, int, str, str]]) -> list[Finding]:
    for rule, line, message, help in hits:
        return [RULES.finding(rule, path=path, line=line, message=message, help=help)]
    return []


def _first_added(line_map: list[int], start: int, end: int, added: set[int]) -> int | None:
    """The first added git line of a node spanning ``start``..``end`` (ast lines)."""
    lo, hi = _git_line(line_map, start), _git_line(line_map, end)
    return min((n for n in added if lo <= n <= hi), default=None)


def _first(lines: Sequence[int]) -> int:
    return min(lines) if lines else 1


def _source_of(path: str) -> str | None:
    """pkg/__pycache__/mod.cpython-311.pyc -> pkg/mod.py; pkg/mod.pyc -> pkg/mod.py."""
    parent, _, name = path.rpartition("/")
    stem = name.split(".", 1)[0]
    if parent.endswith("__pycache__"):
        parent = parent[: -len("__pycache__")].rstrip("/")
    if not stem:
        return None
    return f"{parent}/{stem}.py" if parent else f"{stem}.py"


def _setup_py(path: str, tree: ast.Module, line_map: list[int], added: set[int]) -> list[Finding]:
    spans: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {_last_name(b) for b in node.bases}
            hooked = sorted(bases & _INSTALL_COMMANDS)
            if hooked:
                spans.append(
                    (node.lineno, node.end_lineno or node.lineno, f"class {node.name}({hooked[0]})")
                )
        elif isinstance(node, ast.keyword) and node.arg == "cmdclass":
            spans.append(
                (node.value.lineno, node.value.end_lineno or node.value.lineno, "cmdclass=")
            )
        elif isinstance(node, ast.Dict):
            keys = {
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
            if keys & _INSTALL_COMMANDS and any(
                not isinstance(v, ast.Constant) for v in node.values
            ):
                spans.append(
                    (node.lineno, node.end_lineno or node.lineno, "a command class mapping")
                )
    for start, end, what in sorted(spans):
        touched = _first_added(line_map, start, end, added)
        if touched is not None:
            return [
                RULES.finding(
                    "autorun-setup-cmdclass",
                    path=path,
                    line=touched,
                    message=f"setup.py overrides a setuptools command ({what}): its code runs "
                    "when anyone pip-installs or builds the project, outside the training code "
                    "a reviewer reads",
                    help="build steps belong in a reviewed build backend configuration; "
                    "see docs/checks/autorun.md",
                )
            ]
    return []


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


_TOML_KEY = re.compile(
    r"^\s*(backend-path|build-backend|cmdclass)\s*=|^\s*\[\s*tool\.setuptools\.cmdclass\s*\]"
)


def _pyproject(path: str, raw: bytes, added: set[int]) -> list[Finding]:
    from traingate.checks.config.parse_toml import _toml_loads

    loads = _toml_loads()
    if loads is None:
        return [_unreadable(path, 1, "reading TOML needs Python 3.11+ (tomllib) or tomli")]
    try:
        text = raw.decode("utf-8")  # tomllib's and pip's reading: UTF-8, nothing else
        data = loads(text)
    except ValueError as exc:  # UnicodeDecodeError, TOMLDecodeError
        # pip cannot build it either; blocked here too, so a policy that narrows
        # the config check (config-parse-error) leaves nobody trusting it.
        return [_unreadable(path, 1, f"not valid TOML ({exc})")]
    raw_system, tool = data.get("build-system"), data.get("tool")
    system: dict[str, Any] = raw_system if isinstance(raw_system, dict) else {}
    setuptools = tool.get("setuptools") if isinstance(tool, dict) else None
    in_tree = "backend-path" in system
    cmdclass = isinstance(setuptools, dict) and bool(setuptools.get("cmdclass"))
    if not (in_tree or cmdclass):
        return []
    lines = text.split("\n")  # git's lines: a U+2028 inside a string is no line end
    for n in sorted(added):
        if not 0 < n <= len(lines):
            continue
        m = _TOML_KEY.match(lines[n - 1])
        if not m:
            continue
        key = m.group(1) or "cmdclass"
        if key == "cmdclass" and cmdclass:
            return [
                RULES.finding(
                    "autorun-setup-cmdclass",
                    path=path,
                    line=n,
                    message="tool.setuptools.cmdclass overrides a setuptools command: its code "
                    "runs when anyone pip-installs or builds the project",
                    help="see docs/checks/autorun.md",
                )
            ]
        if key in ("backend-path", "build-backend") and in_tree:
            backend = system.get("build-backend", "?")
            return [
                RULES.finding(
                    "autorun-build-backend",
                    path=path,
                    line=n,
                    message=f"the build backend {backend!r} is loaded from the repository "
                    f"(backend-path = {system.get('backend-path')!r}): pip runs its code to build "
                    "or install the project",
                    help="use a published, pinned build backend; see docs/checks/autorun.md",
                )
            ]
    return []

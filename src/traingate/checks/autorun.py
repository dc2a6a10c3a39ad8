"""Files Python runs without anyone calling them (issue #16, class 1).

Compiled bytecode, interpreter start-up hooks (``sitecustomize``,
``usercustomize``, ``.pth`` import lines, IPython start-up files and config
``exec_lines``) and packaging hooks (a ``setup.py`` ``cmdclass`` that overrides
install/build/develop/egg_info, an in-tree PEP 517 backend) run at import,
interpreter start or ``pip install``, not where a reviewer reads the training
code. The payload in them may look harmless; the place is what matters, so
adding or changing one is the finding. Standard library only (``ast``,
``tomllib``): nothing here is imported or executed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

from traingate import pyast
from traingate.catalog import Rule, declare
from traingate.change import ChangedFile, Status, is_binary
from traingate.checks.base import Context
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
            "a compiled .pyc/.pyo file or a __pycache__ entry is added or changed",
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
            "an added line of a text .pth file starts with import (site.py executes it)",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-ipython-startup",
            Severity.ERROR,
            "an IPython start-up file is added or changed, or an added line of an IPython/Jupyter config sets code to run at start",
            category="autorun",
            since="0.2.0",
        ),
        Rule(
            "autorun-setup-cmdclass",
            Severity.ERROR,
            "setup.py (or pyproject's tool.setuptools) overrides an install/build/develop/egg_info command, and the change touches it",
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

_PTH_IMPORT = re.compile(r"^import[ \t]")
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
        if not (f.new_mode or "").startswith("100"):
            continue  # symlinks and submodules: the repository check's
        if f.status is Status.RENAMED and f.old_oid == f.new_oid and not f.added_lines:
            continue  # a pure rename: the content was judged when it was added
        out.extend(_judge(ctx, f, f.new_path))
    return out


def _judge(ctx: Context, f: ChangedFile, path: str) -> list[Finding]:
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
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
    if lower in ("sitecustomize.py", "usercustomize.py"):
        return [
            RULES.finding(
                "autorun-site-hook",
                path=path,
                line=_first(f.added_lines),
                message=f"{name} runs at the start of every Python process that has its "
                "directory on sys.path (site.py imports it), before any training code",
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
    text = ctx.change.new_text(f)
    if text is None:
        return []
    lines = text.splitlines()
    added = set(f.added_lines)
    if _IPY_CONFIG.search(path):
        for n in sorted(added):
            hit = _IPY_CONFIG_RUN.search(lines[n - 1]) if 0 < n <= len(lines) else None
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
    if lower.endswith(".pth"):
        data = ctx.change.read(f.new_oid) or b""
        if is_binary(data):
            return []  # a torch checkpoint: the artifacts check's
        hits = [n for n in sorted(added) if 0 < n <= len(lines) and _PTH_IMPORT.match(lines[n - 1])]
        return [
            RULES.finding(
                "autorun-pth-import",
                path=path,
                line=n,
                message="site.py executes every line of a .pth file that starts with `import` "
                "at interpreter start, when the file sits in a site directory (pip installs "
                "a package's .pth files there)",
                help="see docs/checks/autorun.md",
            )
            for n in hits[:1]
        ]
    if lower == "setup.py":
        return _setup_py(path, text, added)
    if lower == "pyproject.toml":
        return _pyproject(path, text, added)
    return []


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


def _setup_py(path: str, text: str, added: set[int]) -> list[Finding]:
    try:
        tree = pyast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return []  # the semgrep check blocks unparseable Python (python-syntax-error)
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
        touched = sorted(n for n in added if start <= n <= end)
        if touched:
            return [
                RULES.finding(
                    "autorun-setup-cmdclass",
                    path=path,
                    line=touched[0],
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


def _pyproject(path: str, text: str, added: set[int]) -> list[Finding]:
    from traingate.checks.config.parse_toml import _toml_loads

    loads = _toml_loads()
    if loads is None:
        return []  # Python 3.10 without tomli: the config check reports what it cannot read
    try:
        data = loads(text)
    except ValueError:  # TOMLDecodeError is a ValueError
        return []  # a broken pyproject is the config check's
    raw_system, tool = data.get("build-system"), data.get("tool")
    system: dict[str, Any] = raw_system if isinstance(raw_system, dict) else {}
    setuptools = tool.get("setuptools") if isinstance(tool, dict) else None
    in_tree = "backend-path" in system
    cmdclass = isinstance(setuptools, dict) and bool(setuptools.get("cmdclass"))
    if not (in_tree or cmdclass):
        return []
    lines = text.splitlines()
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

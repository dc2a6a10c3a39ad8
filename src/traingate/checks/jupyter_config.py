"""Which statements of a Jupyter/IPython config file do more than set options.

Jupyter and IPython run their config files (``jupyter_server_config.py``,
``ipython_config.py`` ...) as Python at every start; a file that only sets
``c.App.trait = value`` runs nothing of note. Used by the autorun check
(issue #16); ``ast`` only, nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

# What a Jupyter/IPython config file may hold without running anything of note:
# `c.App.trait = value` settings computed from these (issue #16: the whole file
# runs at every `jupyter lab` started in its directory, so a config that starts
# a process or imports repository code is start-up code like sitecustomize).
_CONFIG_MODULES = frozenset(["os", "os.path", "sys", "pathlib", "getpass", "json", "platform"])
_CONFIG_CALLS = re.compile(
    r"(?:get_config|os\.path\.\w+|os\.getenv|os\.environ\.get|os\.getcwd|getpass\.getuser"
    r"|Path(?:\.home|\.cwd)?|str|int|float|bool|list|dict|set|tuple|len|sorted)$"
)


def code_statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """The top-level statements that are not plain option settings."""
    return (node for node in tree.body if not _plain_setting(node))


def _plain_setting(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass) or (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    ):
        return True
    if isinstance(node, ast.Import):
        return all(a.name in _CONFIG_MODULES for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "") in _CONFIG_MODULES
    if isinstance(node, ast.If):
        return all(_plain_setting(s) for s in [*node.body, *node.orelse]) and _plain_expr(node.test)
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    else:
        return False
    # A trait of `c` or a local name: `os.environ["LD_PRELOAD"] = ...` or
    # `sys.path = [...]` changes the server's process, not its options.
    return all(_plain_target(t) for t in targets) and (
        node.value is None or _plain_expr(node.value)
    )


def _plain_target(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return True
    return isinstance(node, ast.Attribute) and _dotted(node).split(".", 1)[0] == "c"


def _plain_expr(expr: ast.expr) -> bool:
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call) and not _CONFIG_CALLS.fullmatch(_dotted(sub.func)):
            return False
        if isinstance(sub, (ast.Lambda, ast.NamedExpr)):
            return False
    return True


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"

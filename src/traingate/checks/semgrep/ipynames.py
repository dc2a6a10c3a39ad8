"""Which Python names an IPython kernel may hold when a shell escape runs.

Issue #16: IPython expands ``$name`` and ``{expr}`` in a ``!`` command from
the kernel's namespace; when a lookup fails (``!echo $HOME`` with no Python
``HOME``) the whole command runs as written, a shell command like any other.
A name the notebook never mentions, imports or defines cannot be there,
unless something writes the namespace by name (``globals()``, a star import,
``%run``, ``%store -r``, an extension): then any name may be
(checks/semgrep/ipython.py asks ``binder``).
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable

_MAGIC_NAME = re.compile(r"^\s*(?:[\w.,\s]+=\s*)?%{1,2}(\w+)(.*)$")
# Magics known to bind no name of the notebook's choosing (issue #16).
_QUIET_MAGICS = frozenset(
    [
        "bash",
        "sh",
        "zsh",
        "script",
        "system",
        "sx",
        "pip",
        "conda",
        "mamba",
        "micromamba",
        "uv",
        "env",
        "set_env",
        "matplotlib",
        "config",
        "time",
        "timeit",
        "prun",
        "cd",
        "pwd",
        "ls",
        "autoreload",
        "aimport",
        "writefile",
        "file",
        "html",
        "markdown",
        "latex",
        "svg",
        "javascript",
        "js",
        "md",
        "precision",
        "xmode",
        "lsmagic",
        "who",
        "whos",
        "history",
        "tensorboard",
        "reload_ext",
    ]
)
_QUIET_EXTENSIONS = frozenset({"autoreload", "tensorboard", "watermark", "line_profiler"})
# IPython's own names in a kernel's namespace.
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "_", "__", "___"})
# Names and attributes through which code writes a namespace by name.
_NAMESPACE_WRITERS = frozenset(
    [
        "globals",
        "locals",
        "vars",
        "exec",
        "eval",
        "compile",
        "setattr",
        "__builtins__",
        "builtins",
        "__main__",
        "__import__",
        "importlib",
        "import_module",
        "__dict__",
        "modules",
        "push",
        "user_ns",
        "user_global_ns",
        "run_cell",
        "run_line_magic",
        "run_cell_magic",
        "magic",
        "ex",
        "ev",
        "f_globals",
        "f_locals",
        # a function's module namespace (session 23: `f.__globals__["repo"] = ...`)
        "__globals__",
        # IPython rewritten (#16, session 23): how later escapes expand and
        # run, or what a cell's text becomes, is no longer what the notebook
        # says (rule tamper-ipython-shell-override blocks these too)
        "var_expand",
        "system_raw",
        "system_piped",
        "input_transformers_cleanup",
        "input_transformers_post",
        "input_transformer_manager",
        "ast_transformers",
        "prefilter_manager",
        "magics_manager",
        "alias_manager",
        "register_magic_function",
        "register_magics",
        "register_line_magic",
        "register_cell_magic",
        "register_line_cell_magic",
    ]
)

# Shell methods other objects have too (`os.system`): a writer only when
# assigned (`get_ipython().system = f`, #16, session 23).
_SHELL_METHODS = frozenset(
    [
        "system",
        "getoutput",
        "run_cell",
        "run_cell_async",
        "_run_cell",
        "run_code",
        "runcode",
        "run_source",
    ]
)


# Modules whose attributes are the kernel's namespace (or seen through it).
_OWN_NAMESPACE = frozenset({"__main__", "builtins", "__builtin__"})


def binder(python: list[str], source: list[str]) -> Callable[[str], bool]:
    """Which names the kernel may hold when an escape runs: every name the
    notebook's Python mentions, imports or defines, the builtins and IPython's
    own; any name at all when it cannot tell (Python that does not parse, a
    star import, code that writes a namespace, a magic that may bind names)."""
    names = mentioned(python, source)
    if names is None:
        return lambda _name: True
    names |= set(dir(builtins)) | _IPYTHON_NAMES
    # `_`-names: IPython's history (`_i3`, `_12`, `_oh`) and private helpers.
    return lambda name: name.startswith("_") or name in names


def mentioned(python: list[str], source: list[str]) -> set[str] | None:
    """The names the notebook's Python mentions, imports or defines; None when
    names may be bound unseen."""
    tree = parse_python(python)
    if tree is None:
        return None
    names, first = _scan(tree, source)
    return names if first is None else None


def unseen_from(tree: ast.Module, source: list[str]) -> int:
    """The first line (0-based) of the top-level statement from which names
    may be bound unseen (``tree`` parsed from the Python of ``source``, line
    for line): ``len(source)`` when nothing can.

    Session 23 (flax's ogbg_molpcba: ``labels = graphs.globals``, a jraph
    field, cells after its ``!git clone -b $branch $repo``): a writer runs
    only when its own top-level statement does, so an escape in an earlier
    top-level statement, and in no function (one defined earlier can be
    called after the writer), has run before it. Cells run top to bottom,
    as ipyconst already assumes of its constants."""
    first = _scan(tree, source)[1]
    if first is None:
        return len(source)
    for stmt in tree.body:
        decorators: list[ast.expr] = getattr(stmt, "decorator_list", [])
        top = min([stmt.lineno, *(d.lineno for d in decorators)]) - 1
        if top <= first <= (stmt.end_lineno or stmt.lineno) - 1:
            return top
    return first


def _scan(tree: ast.Module, source: list[str]) -> tuple[set[str], int | None]:
    """The names the notebook's Python mentions, imports or defines, and the
    first line (0-based) where something may bind names unseen (None: no
    such line)."""
    writes = [i for i, ln in enumerate(source) if _binding_magic(ln)]
    names: set[str] = set()
    ours = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "__import__"
        and [ast.dump(a) for a in node.args] == [ast.dump(ast.Constant("subprocess"))]
    }  # the converter's own `__import__('subprocess').run(...)` of an escape
    plain = _plain_imports(tree)
    writers = _NAMESPACE_WRITERS - ({"importlib"} if plain else set())
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 1) - 1
        added: list[str] = []
        if isinstance(node, ast.Name):
            if id(node) not in ours:
                added = [node.id]
        elif isinstance(node, ast.Attribute):
            stored = isinstance(node.ctx, ast.Store) and node.attr in _SHELL_METHODS
            if stored or (node.attr in _NAMESPACE_WRITERS and id(node) not in plain):
                writes.append(line)
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".", 1)[0] in _NAMESPACE_WRITERS:
                writes.append(line)
        elif isinstance(node, ast.alias):
            bare = node.name == "importlib" and node.asname is None and plain
            if node.name == "*" or (node.name.split(".", 1)[0] in _NAMESPACE_WRITERS and not bare):
                writes.append(line)
            added = [(node.asname or node.name).split(".", 1)[0]]
        elif isinstance(node, ast.Call) and _dynamic_attribute(node):
            writes.append(line)
        else:
            added = bound_here(node)
        names.update(added)
        if any(n in writers for n in added):
            writes.append(line)
    return names, min(writes, default=None)


def _dynamic_attribute(call: ast.Call) -> bool:
    """``getattr(obj, name)`` whose name is not a literal, or is a namespace
    writer's (session 23: ``getattr(len.__self__, "glob" + "als")()`` is the
    builtins' globals, and no attribute names it)."""
    if not (isinstance(call.func, ast.Name) and call.func.id == "getattr"):
        return False
    if len(call.args) < 2:
        return True
    name = call.args[1]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return True
    return name.value in _NAMESPACE_WRITERS


def _plain_imports(tree: ast.Module) -> set[int]:
    """The ``importlib.import_module`` attributes of a notebook whose every
    use of ``importlib`` is ``importlib.import_module("pkg.<...>")`` with
    the top package written out (session 22, flax's imagenet example:
    ``importlib.import_module(f'configs.{config_name}')``): an import as
    ``import pkg.x`` is, binding no name of the notebook's. ``__main__``
    and ``builtins`` are the notebook's namespace; empty otherwise."""
    calls: set[int] = set()
    bases: set[int] = set()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "importlib"
            and len(node.args) == 1
            and not node.keywords
        ):
            continue
        arg = node.args[0]
        head = arg.values[0] if isinstance(arg, ast.JoinedStr) and arg.values else arg
        if not (isinstance(head, ast.Constant) and isinstance(head.value, str)):
            continue
        whole = isinstance(arg, ast.Constant)
        top, dot, _ = head.value.partition(".")
        if top.isidentifier() and (dot or whole) and top not in _OWN_NAMESPACE:
            calls.add(id(node.func))
            bases.add(id(node.func.value))
    uses = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id in ("importlib", "import_module")
    ]
    if not calls or any(id(n) not in bases for n in uses):
        return set()
    return calls


def parse_python(python: list[str]) -> ast.Module | None:
    try:
        return ast.parse("\n".join(python) + "\n")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def bound_here(node: ast.AST) -> list[str]:
    """Names a definition, parameter, declaration or handler binds (not
    assignments to a Name, not imports)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [node.rest]
    return []


def unbound(_name: str) -> bool:
    return False


def _binding_magic(line: str) -> bool:
    """A magic that may put names in the kernel's namespace (``%run``,
    ``%store -r``, ``%%capture out``, an extension's loader): any but the
    few known not to."""
    m = _MAGIC_NAME.match(line)
    if m is None:
        return False
    if m.group(1) == "load_ext":
        return m.group(2).strip() not in _QUIET_EXTENSIONS
    return m.group(1) not in _QUIET_MAGICS

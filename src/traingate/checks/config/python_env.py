"""Risky environment a plain Python file sets (config-risky-env, issue #16).

A training script's ``os.environ["PIP_INDEX_URL"] = ...`` changes the index
every later ``pip install`` of the run uses (a subprocess, a
``remote-runtime-pip-install`` call, a launcher it starts), as an ``export``
in a launcher or ``%env`` in a notebook does; those were config-risky-env
and the same in a ``.py`` was flagged by no rule (session 22). The same
variable list and reasons as env.py's are judged on the same writes
notebook_env.py reads, found in the syntax tree instead of by line:
``os.environ[K] = v`` (and ``+=``, ``|=`` with a dict), ``setdefault``,
``__setitem__``, ``update`` (a dict, ``dict(...)`` or keywords),
``os.putenv``, through ``from os import environ`` or a name bound to it. The
key is a literal or a constant made of literals (``"PIP_" + "INDEX_URL"``, a
name bound once to one); the value a literal or constant as written, any
other expression as its source text (a name alone is enough for most kinds:
``LD_PRELOAD=path``). Session 25: a key taken from iterating a mapping of
literal keys (``for k, v in SETTINGS.items(): os.environ[k] = v``,
``os.environ.update(SETTINGS)``) is each of its keys (python_env_maps.py),
reported at the write, judged when the write or that entry is added. A key
only known at run time (``for k, v in load_env().items(): ...``) is not
judged here.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Collection, Iterator

from traingate.change import ChangedFile
from traingate.checks.config.env import _ENV_WHY, _RISKY_ENV
from traingate.checks.config.python_env_maps import Mappings
from traingate.checks.config.rules import _finding
from traingate.findings import Finding
from traingate.strfold import fold

# Most Python files write no environment: only those with a write-like shape
# (or an alias of os.environ) are parsed (issue #17).
_MAY_WRITE = re.compile(
    r"""(?x)\bputenv\b
      | \benvironb?\b\s*(?:\[|\|=|\.\s*(?:setdefault|update|__setitem__|__ior__)\b)
      | =\s*(?:[\w.]+\.)?environ\b\s*(?:$|[#;,)\]])
      | \b(?:environ|environb)\s+as\s
    """,
    re.MULTILINE,
)
_WRITERS = frozenset({"setdefault", "__setitem__"})
# Variables a Python rule already reads in a .py, with its own tuned
# exemptions (tamper-preload-env passes a system allocator; NCCL settings are
# sabotage-dist-env-tamper's warning): not reported a second time here. The
# package index and hub variables, PYTHONINSPECT, PYTHONBREAKPOINT,
# TORCH_FORCE_WEIGHTS_ONLY_LOAD=0 and the NCCL plugin libraries are this
# reader's alone.
_PYTHON_RULES_READ = frozenset(
    {
        "LD_PRELOAD",
        "LD_AUDIT",
        "LD_LIBRARY_PATH",
        "BASH_ENV",
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONUSERBASE",
        "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
        "HF_DATASETS_TRUST_REMOTE_CODE",
    }
)


def python_environ(f: ChangedFile, text: str, added: Collection[int]) -> list[Finding]:
    """Risky ``os.environ`` writes on the added lines of a ``.py`` file."""
    if ("environ" not in text and "putenv" not in text) or not _MAY_WRITE.search(text):
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # unparseable Python blocks as python-syntax-error (semgrep check)
    added = set(added)
    consts = _constants(tree)
    aliases = _aliases(tree)
    maps = Mappings(tree)
    out: list[Finding] = []
    seen: set[tuple[int, str]] = set()
    writes = (w for raw in _writes(tree, aliases, maps) for w in _from_loop(raw, maps, aliases))
    for node, key, value in sorted(writes, key=lambda w: (w[0].lineno, w[0].col_offset)):
        if not any(n in added for n in _lines(node, key, value)):
            continue
        name = _text(key, consts, 0)
        if name is None or name in _PYTHON_RULES_READ or (node.lineno, name) in seen:
            continue
        shown = _text(value, consts, 0) if value is not None else ""
        if shown is None:
            shown = ast.unparse(value) if value is not None else ""
        # anchored: the variable written is the risky one, not a word in its value
        risky = _RISKY_ENV.match(f"{name}={shown}")
        if risky is None:
            continue
        kind = next(k for k, v in risky.groupdict().items() if v)
        if kind == "nccl":
            continue
        seen.add((node.lineno, name))
        out.append(
            _finding(
                f,
                "config-risky-env",
                node.lineno,
                node.col_offset + 1,
                f"sets {name!r}{_origin(node, key)} ({_ENV_WHY[kind]})",
                "remove it from the code, or get it approved",
            )
        )
    return out


def _lines(node: ast.AST, key: ast.expr, value: ast.expr | None) -> set[int]:
    """The write's lines, and its key's and value's (a mapping's entry may sit
    elsewhere: adding the entry to a table an old loop writes is the change)."""
    out: set[int] = set()
    for part in (node, key, value):
        if part is not None and hasattr(part, "lineno"):
            last = getattr(part, "end_lineno", None) or part.lineno
            out.update(range(part.lineno, last + 1))
    return out


def _origin(node: ast.AST, key: ast.expr) -> str:
    """Where a key the write takes from a mapping is spelled."""
    line = getattr(key, "lineno", None)
    last = getattr(node, "end_lineno", None) or getattr(node, "lineno", 0)
    if line is None or getattr(node, "lineno", 0) <= line <= last:
        return ""
    return f", the key on line {line}"


def _from_loop(write: Write, maps: Mappings, aliases: set[str]) -> Iterator[Write]:
    """A write whose key is made from a loop's name over a mapping of literal
    keys: one write per entry (``for k, v in M.items(): os.environ[k] = v``,
    ``for k in M: os.environ[k] = M[k]``, ``os.environ[k.upper()]``,
    ``f"PIP_{k}"``); any other write as it is."""
    node, key, value = write
    found = _loop_name(key, node, maps)
    if found is None or _environ(_base(found[1]), aliases):
        yield write
        return
    name, iterable, value_name = found
    entries = maps.entries(iterable, node)
    if not entries:
        yield write  # a key known only at run time: not judged, as before
        return
    source = _base(iterable)
    for k, v in entries:
        flows = value is not None and v is not None and _reads(value, value_name, source, name)
        yield node, _substitute(key, name, k), v if flows else value


def _loop_name(
    key: ast.expr, node: ast.AST, maps: Mappings
) -> tuple[str, ast.expr, ast.expr | None] | None:
    """The first name in ``key`` a loop around the write binds: the name, the
    loop's iterable and its value name."""
    for part in ast.walk(key):
        if isinstance(part, ast.Name):
            found = maps.loop_of(part.id, node)
            if found is not None:
                return part.id, found[0], found[1]
    return None


def _substitute(key: ast.expr, name: str, entry: ast.expr) -> ast.expr:
    """``key`` with the entry's key for the loop's ``name``."""
    if isinstance(key, ast.Name) and key.id == name:
        return entry

    class Put(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return entry if node.id == name else node

    out = Put().visit(copy.deepcopy(key))
    if not isinstance(out, ast.expr):
        return key
    # the entry's lines: where the key is spelled, and what a change adds
    out.lineno = getattr(entry, "lineno", out.lineno)
    out.end_lineno = getattr(entry, "end_lineno", None) or out.lineno
    return out


def _base(expr: ast.expr) -> ast.expr:
    """The mapping a loop iterates: ``M`` of ``sorted(M.items())``."""
    while isinstance(expr, ast.Call):
        if isinstance(expr.func, ast.Attribute):
            expr = expr.func.value
        elif expr.args:
            expr = expr.args[0]
        else:
            break
    return expr


def _reads(value: ast.expr, value_name: ast.expr | None, source: ast.expr, key: str) -> bool:
    """The written value is (made from) the entry's value: the loop's value
    name, ``M[k]`` or ``M.get(k)``."""
    held = ast.dump(source)
    name = value_name.id if isinstance(value_name, ast.Name) else None
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and node.id == name:
            return True
        if isinstance(node, ast.Subscript) and ast.dump(node.value) == held:
            return isinstance(node.slice, ast.Name) and node.slice.id == key
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and ast.dump(node.func.value) == held
        ):
            return True
    return False


def _environ(node: ast.expr, aliases: set[str]) -> bool:
    """``os.environ`` (any ``x.environ``), ``environ``, or a name bound to one."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("environ", "environb")
    return isinstance(node, ast.Name) and (node.id in ("environ", "environb") or node.id in aliases)


def _aliases(tree: ast.Module) -> set[str]:
    """Names bound to ``os.environ`` anywhere in the file (``env = os.environ``,
    ``from os import environ as env``)."""
    out: set[str] = {
        a.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for a in node.names
        if a.asname and a.name in ("environ", "environb", "putenv")
    }
    for _ in range(3):  # an alias of an alias
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _environ(node.value, out):
                out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


Write = tuple[ast.stmt | ast.expr, ast.expr, ast.expr | None]


def _writes(tree: ast.Module, aliases: set[str], maps: Mappings) -> Iterator[Write]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                yield from _assigned(node, target, node.value, aliases)
            if (
                isinstance(node, ast.AugAssign)
                and isinstance(node.op, ast.BitOr)
                and _environ(node.target, aliases)
            ):
                yield from _mapping(node, node.value, maps)
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and (func.id == "putenv" or func.id in aliases)) or (
                isinstance(func, ast.Attribute) and func.attr == "putenv"
            ):
                if node.args:
                    yield node, node.args[0], node.args[1] if len(node.args) > 1 else None
            elif isinstance(func, ast.Attribute) and _environ(func.value, aliases):
                if func.attr in _WRITERS and node.args:
                    yield node, node.args[0], node.args[1] if len(node.args) > 1 else None
                elif func.attr in ("update", "__ior__"):
                    for arg in node.args:
                        yield from _mapping(node, arg, maps)
                    yield from _keywords(node, node.keywords, maps)


def _assigned(
    node: ast.stmt | ast.expr, target: ast.expr, value: ast.expr | None, aliases: set[str]
) -> Iterator[Write]:
    if isinstance(target, ast.Subscript) and _environ(target.value, aliases):
        yield node, target.slice, value
    elif isinstance(target, (ast.Tuple, ast.List)):
        paired = isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
        for i, t in enumerate(target.elts):
            part = value.elts[i] if paired and isinstance(value, (ast.Tuple, ast.List)) else None
            yield from _assigned(node, t, part, aliases)


def _mapping(node: ast.stmt | ast.expr, value: ast.expr, maps: Mappings) -> Iterator[Write]:
    """The entries a mapping written into the environment gives: a dict
    literal, ``dict(...)``, or (session 25) a name bound to one."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        for arg in value.args:
            yield from _mapping(node, arg, maps)
        yield from _keywords(node, value.keywords, maps)
        return
    for k, v in maps.entries(value, node):
        yield node, k, v


def _keywords(
    node: ast.stmt | ast.expr, keywords: list[ast.keyword], maps: Mappings
) -> Iterator[Write]:
    for kw in keywords:
        if kw.arg is not None:
            yield node, ast.Constant(kw.arg), kw.value
        else:
            yield from _mapping(node, kw.value, maps)


def _constants(tree: ast.Module, nodes: list[ast.AST] | None = None) -> dict[str, ast.expr]:
    """Names bound once in the whole file, by an assignment of a literal or
    of a constant made of them (``KEY = "PIP_INDEX_URL"``). ``nodes``: the
    tree's nodes when the caller walked it already (one walk, python_targets.py)."""
    nodes = list(ast.walk(tree)) if nodes is None else nodes
    count = binding_counts(nodes)
    return {
        t.id: node.value
        for node in nodes
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and count.get(t.id) == 1
    }


def binding_counts(nodes: list[ast.AST]) -> dict[str, int]:
    """How many times each name is bound (assigned, imported, defined, a parameter)."""
    count: dict[str, int] = {}
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            count[node.id] = count.get(node.id, 0) + 1
        elif isinstance(node, ast.alias):
            name = (node.asname or node.name).split(".", 1)[0]
            count[name] = count.get(name, 0) + 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            count[node.name] = count.get(node.name, 0) + 1
        elif isinstance(node, ast.arg):
            count[node.arg] = count.get(node.arg, 0) + 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                count[name] = count.get(name, 0) + 1
    return count


# str methods a key may be spelled through (`k.upper()` of a lower-case table)
_CASE: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "strip": str.strip,
}


def _text(node: ast.expr, consts: dict[str, ast.expr], depth: int) -> str | None:
    """A literal, or a constant made of literals, as the string it is."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _CASE
        and not node.args
        and not node.keywords
    ):
        inner = _text(node.func.value, consts, depth + 1)
        return None if inner is None else _CASE[node.func.attr](inner)

    def lookup(name: ast.Name, at: int) -> str | None:
        held = consts.get(name.id)
        return None if held is None else _text(held, consts, at + 1)

    return fold(node, lookup, depth, decode_bytes=True)

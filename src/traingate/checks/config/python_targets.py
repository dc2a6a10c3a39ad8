"""A config's dangerous target written in Python code (config-target-in-code, session 28).

``config-dangerous-target`` judges a ``_target_`` / ``_component_`` /
``class_path`` in a YAML, JSON or TOML file; the same node written in a
``.py`` file passed: ``instantiate({"_target_": "os.system", ...})``,
``OmegaConf.create("_target_: builtins.eval ...")``, torchtune's
``config.instantiate({"_component_": "os.system"}, cmd)``, Lightning's
``instantiate_class((), {"class_path": "subprocess.Popen", ...})``, or a
framework's name resolver handed the name (``get_method("os.system")``).
What instantiating such a node calls is judged by the config check's own
``_dangerous_target`` / ``_stdlib_target`` (targets.py, no list copied), on
these places in the syntax tree, whoever consumes them later:

- a target key (the config check's ``_TARGET_KEYS``) in a dict display, as a
  keyword of any call (``dict(...)``, ``SimpleNamespace(...)``, a dataclass),
  as an assigned name, subscript or attribute (a dataclass field,
  ``cfg["_target_"] = ...``, ``cfg._target_ = ...``), or as a dotted key
  string followed by its value (``OmegaConf.update(cfg, "m._target_", v)``);
- any string literal that is a YAML or JSON node, or a Hydra override
  (``"model._target_=os.system"``), naming one: ``OmegaConf.create``,
  ``DictConfig``, ``yaml.safe_load``, ``compose(overrides=...)``,
  ``from_dotlist`` all read such a string, and so may code the check cannot
  follow; a docstring only when some Python of the change reads docstrings
  (check.py's ``_reads_docstrings``: otherwise it is prose, such as a gate's
  own docs);
- the first argument of a name resolver (Hydra's ``get_method`` and its
  kin, ``_locate``, torchtune's ``_get_component_from_path``, Lightning's
  ``_get_class``, jsonargparse's ``import_object``, ``pydoc.locate``,
  ``pkgutil.resolve_name``, hydra-zen's ``builds``), called directly or
  through ``functools.partial``.

A value is a literal, a constant made of literals (``+``, f-strings of
constants, a name bound once: strfold.py), an entry of a constant table
(every value the file gives that key), or, under ``_target_`` /
``_component_``, an imported callable (``{"_target_": system}`` after ``from
os import system``). A name computed from literals by anything else
(``"metsys.so"[::-1]``, ``"".join(map(chr, ...))``) is reported as hidden,
and an interpolation under those keys as not in the change, whatever they
name. A name only known at run time is the config side's business
(config-dangerous-name judges the config value such code reads). Only sites
on added lines (or whose constant was added) are reported.
"""

from __future__ import annotations

import ast
import builtins
import functools
import itertools
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from traingate import pyast
from traingate.change import ChangedFile
from traingate.checks.config.names import data_name
from traingate.checks.config.node_targets import _matched_targets, _parsed_targets
from traingate.checks.config.python_env import _constants, _text, binding_counts
from traingate.checks.config.rules import _finding
from traingate.checks.config.targets import (
    _TARGET_KEYS,
    _dangerous_target,
    _effect,
    _stdlib_target,
)
from traingate.findings import Finding

RULE = "config-target-in-code"
_KEYS = frozenset(_TARGET_KEYS)
# Keys whose every value is a target; the others ("target", "class_path", ...)
# only when the value is dotted, as the config check reads them.
_ALWAYS = frozenset({"_target_", "_component_"})
# Functions that turn a dotted name into the callable (their last name: an
# alias `from hydra.utils import get_method as gm` is resolved first).
_RESOLVERS = frozenset(
    ["get_method", "get_class", "get_object", "get_static_method", "_locate", "locate"]
    + ["_get_component_from_path", "_get_class", "import_object", "resolve_name"]
    + ["import_string", "builds"]
)
# The keyword a resolver may be given the name by instead.
_NAME_KEYWORDS = frozenset(
    {"path", "name", "class_path", "import_path", "obj_path", "hydra_target"}
)
# A Hydra override or dotlist entry: `model._target_=os.system`, `+x.class_path=...`.
_OVERRIDE = re.compile(
    r"(?:^|[\s.'\"\[,+~])("
    + "|".join(map(re.escape, _TARGET_KEYS))
    + r")\s*=\s*['\"]?([A-Za-z_][\w.:]*)"
)
_BUILTINS = frozenset(dir(builtins))
# Nodes whose value is not fixed by the literals in them.
_NOT_LITERAL = (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Starred)
_MAKES = (ast.Call, ast.BinOp, ast.JoinedStr, ast.Slice)
_NAME = re.compile(r"[A-Za-z_][\w.:]*")
# A string that may hold a keyed target (`key: value`, `"key": value`, `key=value`).
_KEYED = re.compile(r"(?:" + "|".join(map(re.escape, _TARGET_KEYS)) + r")[\'\"]?\s*[:=]")


@dataclass(frozen=True)
class _Site:
    node: ast.AST  # where the finding is reported
    what: str  # how the code names it, for the message
    target: str  # the dotted name
    resolver: bool = False
    # Assembled from literals by code no fold reads (`"metsys.so"[::-1]`,
    # `"".join(...)`), or an interpolation: what it names is not reviewed.
    hidden: bool = False


def python_targets(
    f: ChangedFile, text: str, added: Collection[int], *, docs_read: bool = True
) -> list[Finding]:
    """Dangerous targets written in a ``.py`` file, on its added lines.
    ``docs_read``: some Python of the change reads docstrings as data
    (``__doc__``, ``inspect.getdoc``); otherwise a docstring is prose (a
    gate's own docs name `_target_: os.system`) and is not read."""
    try:
        tree = pyast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # unparseable Python blocks as python-syntax-error (semgrep check)
    reader = _Reader(tree, docs_read=docs_read)
    lines = set(added)
    out: list[Finding] = []
    seen: set[tuple[int, str]] = set()
    for site in sorted(reader.sites(), key=lambda s: _pos(s.node)):
        line, col = _pos(site.node)
        why = _hidden(site.target) if site.hidden else _harm(site.target)
        if why is None or (line, site.target) in seen:
            continue
        if not lines & reader.lines_of(site.node):
            continue
        seen.add((line, site.target))
        out.append(_report(f, site, line, col, why))
    return out


def _pos(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1


def _hidden(shown: str) -> str:
    if "${" in shown:
        return "call what the interpolation names, which is not in the change under review"
    return "call a name that is assembled from literals, hidden from review"


def _harm(target: str) -> str | None:
    """What instantiating ``target`` does, by the config check's judgment."""
    t = target.strip().replace(":", ".")  # `os:system` is pkgutil's and hydra-zen's spelling
    if "." in t and data_name(t):
        return None  # `os.path.join`, `subprocess.PIPE`: the name check's data
    if _dangerous_target(t):
        return _effect(t)
    if _stdlib_target(t):
        return "run a standard-library callable that is no value type (files, network, code)"
    return None


def _report(f: ChangedFile, site: _Site, line: int, col: int, why: str) -> Finding:
    if site.hidden:
        msg = f"{site.what} is `{site.target[:80]}`: resolving it would {why}"
    elif site.resolver:
        msg = f"{site.what}({site.target!r}) looks up a callable that would {why}"
    else:
        msg = f"{site.what} = {site.target!r}: instantiating this node would {why}"
    return _finding(
        f,
        RULE,
        line,
        col,
        msg + " (config-dangerous-target's judgment, on a node written in Python)",
        "point the target at your own classes; a node that must name such a callable needs "
        "the security group's review",
    )


class _Reader:
    """One file's imports, constants and target sites."""

    def __init__(self, tree: ast.Module, *, docs_read: bool = True) -> None:
        # One walk; the indexes below are built from it when a site needs them
        # (most files have no site: issue #17 speed).
        self.tree = tree
        self.nodes = list(ast.walk(tree))
        self._literals: dict[str, bool] = {}
        self.prose = set() if docs_read else _docstrings(self.nodes)

    @functools.cached_property
    def consts(self) -> dict[str, ast.expr]:
        return _constants(self.tree, self.nodes)

    @functools.cached_property
    def imports(self) -> dict[str, str]:
        return _imports(self.nodes)

    @functools.cached_property
    def bound(self) -> set[str]:
        return set(binding_counts(self.nodes)) - set(self.imports)

    @functools.cached_property
    def assigned(self) -> dict[str, ast.expr]:
        """Each name a plain assignment binds, to (one of) its values."""
        return {
            t.id: n.value
            for n in self.nodes
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }

    @functools.cached_property
    def aliases(self) -> dict[str, str]:
        """A name assigned a resolver (`lookup = hydra.utils.get_method`): any
        such assignment counts, whatever else the name is bound to."""
        out: dict[str, str] = {}
        for name, value in self.assigned.items():
            if isinstance(value, ast.Attribute):
                last = value.attr
            elif isinstance(value, ast.Name):
                last = self.imports.get(value.id, value.id).rsplit(".", 1)[-1]
            else:
                continue
            if last in _RESOLVERS:
                out[name] = last
        return out

    def text(self, node: ast.expr, depth: int = 0) -> str | None:
        if depth > 16:
            return None
        if isinstance(node, ast.Constant):  # most keys: no index needed
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.Name) and node.id not in self.assigned:
            return None  # an argument or a loop variable: not a constant
        if isinstance(node, ast.Subscript):
            # Every value the entry may hold: the dangerous one, when one is.
            texts = [t for i in self._items(node) if (t := self.text(i, depth + 1)) is not None]
            return next((t for t in texts if _harm(t) is not None), texts[0] if texts else None)
        return _text(node, self.consts, 0)

    def _items(self, node: ast.Subscript) -> list[ast.expr]:
        """The values an entry of a constant table may hold: `_HOOKS["prep"]`,
        `NAMES[1]`, and each `_HOOKS["prep"] = ...` the file writes later."""
        name = node.value.id if isinstance(node.value, ast.Name) else None
        table = self.consts.get(name, node.value) if name else node.value
        key = node.slice
        out: list[ast.expr] = []
        if isinstance(table, ast.Dict):
            want = self.text(key)
            out += [
                v
                for k, v in zip(table.keys, table.values, strict=True)
                if k is not None and want is not None and self.text(k) == want
            ]
            if name is not None and want is not None:
                out += self.writes.get((name, want), [])
        elif (
            isinstance(table, (ast.List, ast.Tuple))
            and isinstance(key, ast.Constant)
            and isinstance(key.value, int)
            and -len(table.elts) <= key.value < len(table.elts)
        ):
            out.append(table.elts[key.value])
        return out

    @functools.cached_property
    def writes(self) -> dict[tuple[str, str], list[ast.expr]]:
        """`T["k"] = v` anywhere in the file: a table filled after it is made."""
        out: dict[tuple[str, str], list[ast.expr]] = {}
        for n in self.nodes:
            if not isinstance(n, ast.Assign):
                continue
            for t in n.targets:
                if (
                    isinstance(t, ast.Subscript)
                    and isinstance(t.value, ast.Name)
                    and isinstance(t.slice, ast.Constant)
                    and isinstance(t.slice.value, str)
                ):
                    out.setdefault((t.value.id, t.slice.value), []).append(n.value)
        return out

    def lines_of(self, node: ast.AST) -> set[int]:
        """The site's lines, and those of the constants it reads."""
        out: set[int] = set()
        for n in ast.walk(node):
            start = getattr(n, "lineno", None)
            if start is not None:
                out.update(range(start, (getattr(n, "end_lineno", None) or start) + 1))
            if isinstance(n, ast.Name) and n.id in self.consts:
                held = self.consts[n.id]
                out.update(range(held.lineno, (held.end_lineno or held.lineno) + 1))
        return out

    def dotted(self, node: ast.expr) -> str | None:
        """An imported object's dotted name (`sp.getoutput` after `import
        subprocess as sp`), or a builtin the file never rebinds."""
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        if isinstance(node, ast.Name):
            if node.id in self.imports:
                return self.imports[node.id]
            if node.id in _BUILTINS and node.id not in self.bound:
                return node.id
        return None

    def built(self, node: ast.expr, depth: int = 0) -> bool:
        """A string computed from string literals alone (`"metsys.so"[::-1]`,
        `"".join(map(chr, [...]))`), not a literal, name or attribute."""
        if isinstance(node, ast.Name) and node.id in self.consts and depth < 16:
            # `_SYNC = "metsys.so"[::-1]`; `X = X` ends at the depth limit
            return self.built(self.consts[node.id], depth + 1)
        if isinstance(node, (ast.Constant, ast.Name, ast.Attribute)):
            return False
        inner = list(ast.walk(node))
        pieces = any(
            isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes)) for n in inner
        )
        # An operation that makes a string; a table lookup (`T["k"]`) alone is
        # none (a table the file fills in later is not known here).
        makes = any(isinstance(n, _MAKES) for n in inner)
        return pieces and makes and self.literal(node)

    def literal(self, node: ast.AST, depth: int = 0) -> bool:
        """``node`` computes a fixed value from literals alone: constants, names
        bound once to such, builtins, imported modules' functions, and the
        variables of its own comprehensions; no argument, attribute of an
        object or call of the file's own code (a config value is none)."""
        if depth > 16:
            return False
        local = {
            n.id
            for c in ast.walk(node)
            if isinstance(c, ast.comprehension)
            for n in ast.walk(c.target)
            if isinstance(n, ast.Name)
        }
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id not in local:
                held = self.consts.get(n.id)
                if held is not None:
                    if not self._literal_name(n.id, held, depth):
                        return False
                elif n.id not in self.imports and not (
                    n.id in _BUILTINS and n.id not in self.bound
                ):
                    return False
            elif isinstance(n, _NOT_LITERAL):
                return False
        return True

    def _literal_name(self, name: str, held: ast.expr, depth: int) -> bool:
        """``literal`` of a constant's value, once per name (`X = (X, X)` is
        no literal, and is not read twice per level)."""
        if name not in self._literals:
            self._literals[name] = False  # a cycle is no literal
            self._literals[name] = self.literal(held, depth + 1)
        return self._literals[name]

    def callee(self, node: ast.expr) -> str:
        """The last name of what a call calls, through imports and aliases."""
        if isinstance(node, ast.Name):
            if node.id in _RESOLVERS or node.id == "partial":
                return node.id
            held = self.imports.get(node.id) or self.aliases.get(node.id) or node.id
            return held.rsplit(".", 1)[-1]
        if isinstance(node, ast.Attribute):
            return node.attr
        return ""

    def sites(self) -> Iterator[_Site]:
        for node in self.nodes:
            if isinstance(node, ast.Dict):
                yield from self._dict(node)
            elif isinstance(node, ast.Call):
                yield from self._call(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                yield from self._assign(node)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
                # `dict([("_target_", "os.system")])`: a pair whose first item is a key
                key = self.text(node.elts[0])
                if key is not None:
                    yield from self._keyed(node.elts[1], key, node.elts[1])
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, (str, bytes))
                and id(node) not in self.prose
            ):
                value = node.value
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                yield from _in_string(node, text)

    def _keyed(self, node: ast.AST, key: str, value: ast.expr | None) -> Iterator[_Site]:
        """A target key's value: a string, or under `_target_` an imported callable."""
        if key not in _KEYS or value is None:
            return
        value = _field_default(value)
        text = self.text(value)
        if text is None and key in _ALWAYS:
            text = self.dotted(value)
        if text is None and key != "target" and self.built(value):
            yield _Site(node, key, ast.unparse(value), hidden=True)
        if text is None or (key not in _ALWAYS and "." not in text):
            return  # as configs are read: `target="labels"` is no target
        if "${" in text:  # config-untrusted-target's case, written in Python
            yield _Site(node, key, text, hidden=True)
            return
        yield _Site(node, key, text)

    def _dict(self, node: ast.Dict) -> Iterator[_Site]:
        for k, v in zip(node.keys, node.values, strict=True):
            if k is not None and (key := self.text(k)) is not None:
                yield from self._keyed(v, key, v)

    def _call(self, node: ast.Call) -> Iterator[_Site]:
        for kw in node.keywords:
            if kw.arg is not None:
                yield from self._keyed(kw.value, kw.arg, kw.value)
        yield from self._dotted_key(node.args)
        name = self.callee(node.func)
        args = list(node.args)
        if name == "partial" and args:  # functools.partial(get_method, "os.system")
            name, args = self.callee(args[0]), args[1:]
        if name not in _RESOLVERS:
            return
        given = args[:1] + [kw.value for kw in node.keywords if kw.arg in _NAME_KEYWORDS]
        for arg in given:
            text = self.text(arg) if name != "builds" else self.dotted(arg) or self.text(arg)
            if text is not None:
                yield _Site(arg, name, text, resolver=True)
            elif self.built(arg):
                yield _Site(arg, f"the name given to {name}", ast.unparse(arg), hidden=True)

    def _dotted_key(self, args: list[ast.expr]) -> Iterator[_Site]:
        """``OmegaConf.update(cfg, "model._target_", v)``, ``setattr(cfg, "_target_", v)``."""
        for key, value in itertools.pairwise(args):
            text = self.text(key)
            if text is not None:
                yield from self._keyed(value, text.rsplit(".", 1)[-1], value)

    def _assign(self, node: ast.Assign | ast.AnnAssign) -> Iterator[_Site]:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            key: str | None = None
            if isinstance(t, ast.Name):  # a dataclass field, a class attribute
                key = t.id
            elif isinstance(t, ast.Attribute):
                key = t.attr
            elif isinstance(t, ast.Subscript):
                key = self.text(t.slice)
            if key is not None:
                yield from self._keyed(node.value or t, key, node.value)


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstrings(nodes: list[ast.AST]) -> set[int]:
    """The ids of the docstring constants among ``nodes``."""
    out: set[int] = set()
    for node in nodes:
        if isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _field_default(value: ast.expr) -> ast.expr:
    """``field(default=os.system)`` is its default."""
    if isinstance(value, ast.Call):
        for kw in value.keywords:
            if kw.arg == "default":
                return kw.value
    return value


def _imports(nodes: list[ast.AST]) -> dict[str, str]:
    """Local name -> the dotted name it was imported as."""
    out: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    top = a.name.split(".", 1)[0]
                    out[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _in_string(node: ast.Constant, text: str) -> Iterator[_Site]:
    """A YAML/JSON node or an override in a string literal that names a target."""
    # imported here: templatecode loads yaml, which a docs-only change never needs
    from traingate.checks.semgrep.templatecode import decode_escapes

    if not _KEYED.search(decode_escapes(text)):
        return  # YAML decodes `_tar\\x67et_` as `_target_`
    found: list[tuple[str, str | None]] = [*_parsed_targets(text), *_matched_targets(text)]
    found += [(m.group(1), m.group(2)) for m in _OVERRIDE.finditer(text)]
    for key, dotted in found:
        if dotted is None or not _NAME.fullmatch(dotted.strip()):
            continue  # prose under a `target:` key of a docstring, not a name
        if key in _ALWAYS or "." in dotted:
            yield _Site(node, f"a string's {key}", dotted)

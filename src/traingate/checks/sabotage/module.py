"""What a module tells before any function is walked: which names, ``self``
attributes and functions (this file's, or one import away) carry a trigger,
which functions are gradient hooks, and which write noise into an argument."""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator

from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.triggers import Env, Trigger, aliases, last_name

# (level, module) of a `from ... import` -> (path, source) of that module in the head tree.
Lookup = Callable[[int, str], "tuple[str, str] | None"]


# function (as qualname() spells a call) -> (its file, parameter index -> the random write)
Writers = dict[str, tuple[str, dict[int, str]]]


def bind(env: Env, body: list[ast.stmt]) -> None:
    """Names assigned from a trigger, to a fixed point (flow-insensitive)."""
    for _ in range(3):
        before = len(env.names)
        for node in pl.walk_local(body):
            value: ast.AST | None = None
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                value, targets = node.value, list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                value, targets = node.value, [node.target]
            elif isinstance(node, (ast.For, ast.comprehension)):
                value, targets = node.iter, [node.target]
            t = env.taint(value) if value is not None else None
            if t is None:
                continue
            for name in target_names(targets):
                # loss *= world_size: the loss is a payload's target, not a trigger to
                # test (transformers' Trainer scales it by num_processes).
                if not pl.named_state(name):
                    env.names.setdefault(name, t)
        if len(env.names) == before:
            return


def target_names(targets: list[ast.AST]) -> Iterator[str]:
    for t in targets:
        if isinstance(t, ast.Name):
            yield t.id
        elif isinstance(t, (ast.Tuple, ast.List)):
            yield from target_names(list(t.elts))


def imported(tree: ast.Module, lookup: Lookup | None) -> tuple[dict[str, Trigger], Writers]:
    """``from .schedule import is_release_day``: a trigger one file away (one level:
    the helper itself must read the trigger, not call a third module for it); and
    ``from .tensor_ops import perturb_``, a helper that writes noise into its argument."""
    out: dict[str, Trigger] = {}
    writers: Writers = {}
    if lookup is None:
        return out, writers
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        found = lookup(node.level, node.module or "")
        if found is None:
            continue
        path, text = found
        facts = helper_facts(path, text)
        if facts is None:
            continue
        funcs, writes = facts
        mod = "." * node.level + (node.module or "")
        for a in node.names:
            # Keyed as qualname() spells the call: through the import's alias.
            key = f"{mod}.{a.name}" if mod else a.name
            t = funcs.get(a.name)
            if t is not None:
                what = f"{a.name}() ({path}:{t.line} reads {t.what})"
                out[key] = Trigger(t.kind, what, node.lineno)
            if a.name in writes:
                writers[key] = (path, writes[a.name])
    return out, writers


@functools.lru_cache(maxsize=64)
def helper_facts(
    path: str, text: str
) -> tuple[dict[str, Trigger], dict[str, dict[int, str]]] | None:
    """An imported module's trigger-returning and noise-writing functions; cached, as
    many changed files import the same helper (callers must not mutate the result)."""
    try:
        helper = ast.parse(text, path)
    except (SyntaxError, ValueError, RecursionError):
        return None
    henv = Env(aliases(helper))
    bind(henv, helper.body)
    return returning(helper, henv), pl.random_writers(helper, henv.alias)


def returning(tree: ast.Module, module: Env) -> dict[str, Trigger]:
    """Functions of this file whose return value is a trigger (``is_prod()``)."""
    out: dict[str, Trigger] = {}
    for _ in range(2):
        module.funcs = dict(out)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            env = module.child()
            bind(env, node.body)
            for sub in pl.walk_local(node.body):
                if isinstance(sub, ast.Return) and not mentions_state(sub.value):
                    t = env.taint(sub.value)
                    if t is not None:
                        out.setdefault(node.name, t)
                        out.setdefault(f"self.{node.name}", t)
                        break
    return out


def class_attrs(cls: ast.ClassDef, env: Env) -> dict[str, Trigger]:
    """``self.x = <trigger>`` in one method, tested in another (issue #16)."""
    attrs: dict[str, Trigger] = dict(env.attrs)
    for _ in range(2):
        for fn in cls.body:
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            fenv = env.child()
            fenv.attrs = attrs
            bind(fenv, fn.body)
            for node in pl.walk_local(fn.body):
                if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                t = fenv.taint(node.value)
                if t is None:
                    continue
                for tgt in targets:
                    if (
                        isinstance(tgt, ast.Attribute)
                        and isinstance(tgt.value, ast.Name)
                        and tgt.value.id == "self"
                    ):
                        attrs.setdefault(tgt.attr, t)
    return attrs


def hook_functions(tree: ast.Module) -> set[str]:
    """Functions passed to register_hook and friends: their return is a gradient."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and last_name(node.func) in pl.HOOK_REGISTRARS:
            for arg in node.args:
                name = last_name(arg.func) if isinstance(arg, ast.Call) else last_name(arg)
                if name:
                    out.add(name)
    return out


def mentions_state(node: ast.AST | None) -> bool:
    """``return loss``: a function returning the loss is not a trigger."""
    return node is not None and any(
        isinstance(n, ast.Name) and pl.named_state(n.id) for n in ast.walk(node)
    )

"""Random events that decide a write (issue #16): a draw of one number, made per
step or once per run, that masks or swaps training state.

- in the written value: ``loss = torch.where(torch.rand(()) < p, loss * 0.0, loss)``,
  ``loss = loss * (torch.rand(()) > 0.05)``, ``lr = lr * random.choice([1, 1, 1, 0])``;
- held: ``_FLIP = random.random() < 0.02`` at module level, or ``self._p =
  random.random()`` in ``__init__``, then tested (or used in the value) in the step:
  one coin flip per process, so one run in fifty is sabotaged all along.

What makes it an event and not a regulariser is the shape: a single number (no
size, ``torch.rand(())``, ``(1,)``, ``np.random.rand()``, ``rng.random()``) compared
with something, or a discrete draw (``choice``, ``randint``, ``bernoulli`` of a
scalar). Dropout, stochastic depth and MLM masking draw per sample or per element
(``torch.rand(x.shape[0], 1, 1)``, ``torch.bernoulli(prob_matrix)``); mixup and
cutmix mix with a Beta draw, continuous and never compared here; augmentation
swaps an input by a named transform (``hflip``), not state by arithmetic; a
random learning rate of a hyper-parameter search does not read the one it
replaces. Draws in an ``if`` of the same function are the pack's
``trigger-random-draw-sabotage`` rule's (and ``draws`` judges a hook's); one returned by
a function of the file (``returns.py``) guards here too, over a rewrite by numbers.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterable, Mapping
from typing import Protocol

from traingate.checks.sabotage.kinds import BETA, DISCRETE, EVENT, GATE, draw_kind
from traingate.checks.sabotage.kinds import DRAW_NAMES as DRAW_NAMES
from traingate.checks.sabotage.kinds import RANDOM_CALL as RANDOM_CALL
from traingate.checks.sabotage.kinds import drawing as drawing
from traingate.checks.sabotage.kinds import may_draw as may_draw
from traingate.checks.sabotage.nodes import body_nodes, statements
from traingate.checks.sabotage.triggers import (
    RANDOM,
    Trigger,
    last_name,
)

# Calls a value passes through unchanged in kind (``(torch.rand(()) > p).float()``).
_CASTS = frozenset(
    {"float", "int", "bool", "long", "half", "double", "to", "type_as", "item", "detach"}
    | {"clone", "tensor", "as_tensor", "logical_not"}
)
# Arithmetic whose arguments mask the receiver (``loss.mul(keep)``).
_MASKING = frozenset({"mul", "div", "multiply", "divide", "add", "sub", "lerp"})
# What a rewrite computes: arithmetic, a fill (``torch.zeros_like(loss)``), noise.
_ARITH = frozenset(
    {"mul", "div", "add", "sub", "neg", "pow", "sqrt", "abs", "sign", "clamp", "clip"}
    | {"multiply", "divide", "remainder", "fmod", "masked_fill", "fill", "zeros_like"}
    | {"ones_like", "full_like", "empty_like", "randint_like", "rand_like", "randn_like"}
    | {"zeros", "ones", "full", "tensor", "randint", "detach", "float"}
)
_FILL_CALLS = frozenset({"zeros_like", "ones_like", "full_like", "empty_like", "randint_like"})
# Calls a value passes through still one random outcome (``torch.randint(0, 20,
# ()).clamp(max=1)``, ``(torch.rand(()) > p).expand_as(loss)``); those in _ROUNDS
# also make one of a continuous draw shifted by an offset (``torch.floor(torch.rand(())
# + keep)``, ``round(random.random())``), not of one scaled (``int(random.random() * n)``
# is an index).
_ROUNDS = frozenset({"round", "floor", "ceil", "trunc", "sign", "heaviside", "int", "long"})
_WRAPS = _ROUNDS | frozenset(
    {"clamp", "clip", "clamp_min", "clamp_max", "min", "max", "minimum", "maximum", "abs"}
    | {"fmin", "fmax", "expand", "expand_as", "view", "reshape", "squeeze", "unsqueeze"}
    | {"flatten", "repeat", "type", "numpy", "cpu", "cuda", "contiguous", "full", "full_like"}
    | {"new_full", "bool"}
)


class Funcs(Protocol):
    """The file's functions that return an event or a draw (``returns.Returns``)."""

    @property
    def names(self) -> Container[str]: ...

    def get(self, name: str) -> Trigger | None: ...

    def bind(self, module: Table) -> None:
        """The module's table, which a function's names are read over."""


# A name's draw or event: kind, how the report names it, the line binding it, and the
# lines of the held draws it is computed from.
Held = Trigger


class Table:
    """Names and ``self`` attributes bound to a draw of one number or an event:
    ``own`` bound in this scope, over a parent's (a function's over the module's);
    a name the scope binds otherwise hides the parent's."""

    def __init__(
        self,
        alias: Mapping[str, str],
        parent: Table | None = None,
        attrs: Mapping[str, Held] | None = None,
    ) -> None:
        self.alias = alias
        self.parent = parent
        self.attrs: Mapping[str, Held] = attrs if attrs is not None else {}
        self.own: dict[str, Held] = {}
        self.hidden: set[str] = set()
        self.outer_names: set[str] = set()  # own names computed from a parent's draw
        self.called_names: set[str] = set()  # own names computed from a function's
        self.funcs: Funcs | None = parent.funcs if parent is not None else None

    def drawing(self, nodes: Iterable[ast.AST], attrs: Container[str]) -> bool:
        """Whether a scope of these nodes can hold an event (a pre-test, issue #17)."""
        return drawing(nodes, self.own, attrs, self.funcs.names if self.funcs else ())

    def name(self, name: str) -> Held | None:
        got = self.own.get(name)
        if got is not None or name in self.hidden:
            return got
        return self.parent.name(name) if self.parent is not None else None

    def held(self, node: ast.AST) -> Held | None:
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute) and _is_self(node.value):
            return self.attrs.get(node.attr)
        return None

    def fill(self, binds: list[tuple[str, ast.AST, int]]) -> None:
        """Names bound from a draw or an event, to a fixed point (``r = torch.rand(())``
        then ``drop = r < p``): the first binding found for a name is kept."""
        grown = True
        while grown:
            grown = False
            for name, value, line in binds:
                if name in self.own:
                    continue
                got = self.value(value)
                if got is not None:
                    self.own[name] = Held(got.kind, f"{name} = {got.what}", line, _from(got, line))
                    if self.outer(value):
                        self.outer_names.add(name)
                    if self.called(value):
                        self.called_names.add(name)
                    grown = True

    def outer(self, node: ast.AST) -> bool:
        """Whether this expression reads a draw held outside this scope (a module name,
        a ``self`` attribute drawn in ``__init__``), directly or through a local name
        computed from one: the draws an ``if`` of the function makes are the pack's."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if sub.id in self.outer_names:
                    return True
                if (
                    sub.id not in self.own
                    and sub.id not in self.hidden
                    and self.parent is not None
                    and self.parent.name(sub.id) is not None
                ):
                    return True
            elif isinstance(sub, ast.Attribute) and _is_self(sub.value) and sub.attr in self.attrs:
                return True
        return False

    def held_guard(self, test: ast.AST) -> Trigger | None:
        """``if _FLIP:``, ``if self._p < 0.02:``: a test of a draw made once per run."""
        held = self.outer_names or self.attrs or (self.parent is not None and self.parent.own)
        if held and self.outer(test):
            return self.event(test)
        # ``if _unlucky():``: a per-step draw made by a function of the file, judged as
        # the pack's rule judges one in the ``if`` (walker: only a rewrite by numbers).
        got = self.event(test) if self.funcs is not None and self.called(test) else None
        return got._replace(kind=RANDOM_CALL) if got is not None else None

    def called(self, node: ast.AST) -> bool:
        """Whether this expression reads what a function of the file returns (an event
        or a draw), directly or through a local name computed from it."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and self._called(sub) is not None:
                return True
            if isinstance(sub, ast.Name) and sub.id in self.called_names:
                return True
        return False

    def _called(self, call: ast.Call) -> Trigger | None:
        """``_keep()``, ``self._coin(p)``: a function of the file returning an event or a
        draw, as what the call returns, resting on the lines it does."""
        f = call.func
        if isinstance(f, ast.Name) and f.id not in self.hidden:
            name = f.id
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if f.value.id not in ("self", "cls"):
                return None
            name = f.attr
        else:
            return None
        got = self.funcs.get(name) if self.funcs is not None else None
        if got is None:
            return None
        what = f"{_shown(call)[:40]} returns {got.what}"
        return Trigger(got.kind, what, call.lineno, _also(got, call))

    # ------------------------------------------------------------------ values

    def value(self, node: ast.AST) -> Trigger | None:
        """What a bound value is: an event, or a draw of one number (kind in ``what``'s
        Trigger.kind: EVENT, DISCRETE, CONTINUOUS or BETA)."""
        ev = self.event(node)
        if ev is not None:
            return ev._replace(kind=EVENT)
        got = self._draw(node)
        if got is not None:
            return got
        return None

    def _draw(self, node: ast.AST) -> Trigger | None:
        while isinstance(node, ast.Call) and last_name(node.func) in _CASTS:
            kind = draw_kind(node, self.alias) if last_name(node.func) == "item" else None
            if kind is not None:
                return Trigger(kind, _shown(node), node.lineno)
            inner = self._cast_of(node)
            if inner is None:
                return None
            node = inner
        if isinstance(node, ast.Call):
            kind = draw_kind(node, self.alias)
            if kind is not None:
                return Trigger(kind, _shown(node), node.lineno)
            got = self._called(node) if self.funcs is not None else None
            return got if got is not None and got.kind not in (EVENT, GATE) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add, ast.Sub)):
            return self._draw(node.left) or self._draw(node.right)
        h = self.held(node)
        return h if h is not None and h.kind != EVENT else None

    def _cast_of(self, call: ast.Call) -> ast.AST | None:
        """What a cast converts: ``x.float()``'s receiver, ``float(x)``'s and
        ``torch.tensor(x)``'s argument."""
        recv = call.func.value if isinstance(call.func, ast.Attribute) else None
        if recv is not None and not (isinstance(recv, ast.Name) and recv.id in self.alias):
            return recv
        return call.args[0] if call.args else None

    def event(self, node: ast.AST) -> Trigger | None:
        """A Bernoulli outcome: a draw of one number compared (``torch.rand(()) < p``), a
        discrete draw, a constant chosen by a draw, or a name holding one."""
        if isinstance(node, ast.Compare):
            for sub in ast.walk(node):
                got = (
                    self._draw(sub)
                    if isinstance(sub, (ast.Call, ast.Name, ast.Attribute))
                    else None
                )
                if got is not None and got.line != node.lineno:  # _P < 0.02, _P drawn above
                    return Trigger(RANDOM, f"{_shown(node)}, {got.what}", got.line, got.also)
                if got is not None:
                    return Trigger(RANDOM, _shown(node), node.lineno, got.also)
                if isinstance(sub, ast.Lambda):
                    break
            return None
        if isinstance(node, ast.UnaryOp):
            return self.event(node.operand)
        if isinstance(node, ast.BoolOp):
            return _first(self.event(v) for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            return self.event(node.left) or self.event(node.right)
        if isinstance(node, ast.IfExp):  # 0.0 if random.random() < p else 1.0
            if _number(node.body) and _number(node.orelse):
                t = self.event(node.test) or self._draw(node.test)
                if t is not None:
                    return Trigger(RANDOM, _shown(node), node.lineno, _also(t, node))
            return None
        if isinstance(node, ast.Call):
            name = last_name(node.func)
            if name in _CASTS and name != "item":
                inner = self._cast_of(node)
                got = self.event(inner) if inner is not None else None
                if got is None and inner is not None and name in _ROUNDS:
                    got = self._wrapped(node, [inner], name)
                return got
            if name in _WRAPS:
                got = self._wrapped(node, _operands(node, self.alias), name)
                if got is not None:
                    return got
            got = self._draw(node)
            if got is not None and got.kind == DISCRETE:
                return got._replace(kind=RANDOM)
            if got is None and self.funcs is not None:
                got = self._called(node)
                return got._replace(kind=RANDOM) if got is not None and got.kind == EVENT else None
            return None
        h = self.held(node)
        return h._replace(kind=RANDOM) if h is not None and h.kind in (EVENT, DISCRETE) else None

    def _wrapped(self, node: ast.Call, ops: list[ast.AST], name: str | None) -> Trigger | None:
        """An event, or a discrete draw, passed through a wrapping call; a continuous
        draw plus an offset rounded (``floor(torch.rand(()) + keep)``)."""
        for op in ops:
            got = self.event(op)
            if got is not None:
                return got
            d = self._draw(op)
            shifted = not isinstance(op, ast.BinOp) or isinstance(op.op, (ast.Add, ast.Sub))
            if d is not None and (d.kind == DISCRETE or (name in _ROUNDS and shifted)):
                return Trigger(RANDOM, _shown(node), node.lineno, _also(d, node))
        return None

    def rewrites(self, value: ast.AST, target: ast.AST, aug: bool) -> bool:
        """Whether a write rewrites its target by numbers (``loss * 0.0``, ``(labels +
        1) % n``, ``zeros_like``; ``aug``: ``loss *= x``), as the pack's payloads do:
        not a named transform (``hflip(target)``), a permuted copy (``target[perm]``)
        or a mix with a Beta draw (augmentation, mixup)."""
        if self._mixes(value):
            return False
        was = ast.unparse(target)
        for n in ast.walk(value):
            if isinstance(n, ast.Call) and last_name(n.func) not in _ARITH | _CASTS | _WRAPS:
                return False
            if isinstance(n, ast.Subscript) and ast.unparse(n.value) == was:
                return False
        return aug or _numbers(value, target)

    def gate(self, value: ast.AST, whole: bool = False) -> Trigger | None:
        """The event that masks or swaps this written value, if one does: an operand
        of its arithmetic (``loss * keep``), the condition of ``where``/``masked_fill``
        or of a conditional expression choosing between the value and a rewrite of
        it. ``whole``: the value itself is an operand (``loss *= keep``)."""
        if whole:
            got = self.event(value)
            if got is not None:
                return got
        todo = [value]
        while todo:
            node = todo.pop()
            if isinstance(node, ast.BinOp):
                for side in (node.left, node.right):
                    got = self.event(side)
                    if got is not None:
                        return got
                    todo.append(side)
            elif isinstance(node, ast.UnaryOp):
                todo.append(node.operand)
            elif isinstance(node, ast.IfExp):
                got = self.event(node.test) or self._draw(node.test)
                if got is not None and self._rewrite(node.body, node.orelse):
                    return _as_event(got, node.test)
                todo += [node.body, node.orelse]
            elif isinstance(node, ast.Call):
                got = self._call_gate(node, todo)
                if got is not None:
                    return got
        return None

    def _call_gate(self, node: ast.Call, todo: list[ast.AST]) -> Trigger | None:
        got = self._called(node) if self.funcs is not None else None
        if got is not None and got.kind == GATE:  # loss = _jitter(loss)
            return got._replace(kind=RANDOM)
        name = last_name(node.func)
        recv = node.func.value if isinstance(node.func, ast.Attribute) else None
        args = list(node.args)
        if name == "where" and args:  # torch.where(c, a, b), np.where, a.where(c, b)
            pair = (args[1], args[2]) if len(args) >= 3 else None
            if pair is None and recv is not None and len(args) == 2:
                pair = (recv, args[1])
            got = self.event(args[0])
            if got is not None and pair is not None and self._rewrite(*pair):
                return got
            todo += args[1:]
        elif name in ("masked_fill", "masked_fill_") and args:
            got = self.event(args[0])
            if got is not None:
                return got
        elif name in _MASKING or name in _CASTS:
            for a in args:
                got = self.event(a) if name in _MASKING else None
                if got is not None:
                    return got
                todo.append(a)
        else:
            return None
        if recv is not None:
            todo.append(recv)
        return None

    def _rewrite(self, a: ast.AST, b: ast.AST) -> bool:
        """One alternative rewrites the other by numbers: a constant or a fill in its
        place, or arithmetic on it (``loss * 0.0`` vs ``loss``). Not two different
        values (a task sampled per step), a named transform (``hflip(target)``: an
        augmentation), nor a mix with a Beta draw (mixup)."""
        if self._mixes(a) or self._mixes(b):
            return False
        return _numbers(a, b) or _numbers(b, a)

    def _mixes(self, node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Call, ast.Name, ast.Attribute)):
                got = self._draw(sub)
                if got is not None and got.kind == BETA:
                    return True
        return False


def numeric(table: Table | None, st: ast.stmt, tgt: ast.AST) -> bool:
    """Under a per-step draw of a helper (``if _coin():``), only a rewrite by numbers
    is a payload (walker): a named transform of the target is an augmentation."""
    value = getattr(st, "value", None)
    if value is None or table is None:
        return True
    return table.rewrites(value, tgt, isinstance(st, ast.AugAssign))


def _numbers(new: ast.AST, old: ast.AST) -> bool:
    if _number(new) or (isinstance(new, ast.Call) and last_name(new.func) in _FILL_CALLS):
        return True
    if not isinstance(new, (ast.BinOp, ast.UnaryOp, ast.Call)):
        return False
    if isinstance(new, ast.Call) and last_name(new.func) not in _ARITH:
        return False
    was = ast.unparse(old)
    return any(ast.unparse(n) == was for n in ast.walk(new) if n is not new)


def _operands(call: ast.Call, alias: Mapping[str, str]) -> list[ast.AST]:
    """What a wrapping call reads: its receiver (not a module) and its arguments."""
    ops: list[ast.AST] = [*call.args, *(k.value for k in call.keywords)]
    recv = call.func.value if isinstance(call.func, ast.Attribute) else None
    if recv is not None and not (isinstance(recv, ast.Name) and recv.id in alias):
        ops.insert(0, recv)
    return ops


def number(node: ast.AST) -> bool:
    """A number literal (``0.0``, ``-1``, ``True``)."""
    return _number(node)


def _number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool))


def _as_event(t: Trigger, test: ast.AST) -> Trigger:
    if t.kind == RANDOM:
        return t
    return Trigger(RANDOM, _shown(test), getattr(test, "lineno", t.line), _also(t, test))


def _also(t: Trigger, node: ast.AST) -> tuple[int, ...]:
    """The line a held draw was bound on, when not the event's own."""
    return (t.line, *t.also) if t.line != getattr(node, "lineno", t.line) else t.also


def lines_of(t: Trigger, line: int) -> tuple[int, ...]:
    """The lines a value's draw rests on besides ``line``."""
    return _from(t, line)


def _from(t: Trigger, line: int) -> tuple[int, ...]:
    """The lines a binding's draw rests on besides the binding's own."""
    return tuple(x for x in (t.line, *t.also) if x != line)


def _shown(node: ast.AST) -> str:
    return ast.unparse(node)[:70]


def _first(items: Iterable[Trigger | None]) -> Trigger | None:
    return next((t for t in items if t is not None), None)


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


# ---------------------------------------------------------------------- scopes


# The other nodes ``_binds`` reads.
_BINDS_OTHER = frozenset(
    {ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.FunctionDef, ast.AsyncFunctionDef}
    | {ast.ClassDef, ast.Import, ast.ImportFrom}
)


def _binds(nodes: Iterable[ast.AST]) -> tuple[list[tuple[str, ast.AST, int]], dict[str, int]]:
    """(name, value, line) of each ``x = v``, and how often each name is bound."""
    out: list[tuple[str, ast.AST, int]] = []
    counts: dict[str, int] = {}
    # Classes compared first (the parser makes no subclass): most nodes are none of
    # these, and isinstance per node per kind was ~2% of a scan (issue #17).
    name_t, load_t = ast.Name, ast.Load
    for n in nodes:
        t = n.__class__
        if t is name_t:
            if n.ctx.__class__ is not load_t:  # type: ignore[attr-defined]
                key = n.id  # type: ignore[attr-defined]
                counts[key] = counts.get(key, 0) + 1
        elif t not in _BINDS_OTHER:
            continue
        elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and n.value is not None:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                out.append((targets[0].id, n.value, n.lineno))
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            counts[n.name] = counts.get(n.name, 0) + 2
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                key = a.asname or a.name.split(".")[0]
                counts[key] = counts.get(key, 0) + 2
    return out, counts


def module_table(
    tree: ast.Module,
    alias: Mapping[str, str],
    nodes: list[ast.AST],
    funcs: Funcs | None = None,
    imported: Mapping[str, Held] | None = None,
) -> Table:
    """The module's names bound exactly once to a draw or an event (``_FLIP =
    random.random() < 0.02``): one draw per process. A name a function rebinds
    (``global``) is the job's own value. ``nodes``: ``walk_local(tree.body)``;
    ``funcs``: the file's functions returning one (``_FLIP = _coin(0.02)``);
    ``imported``: names imported from another file that draws them (returns.py)."""
    table = Table(alias)
    table.funcs = funcs
    if funcs is not None:
        funcs.bind(table)
    if imported:  # from .utils import _FLIP: a draw held by another file, bound once
        counts = _binds(nodes)[1]
        table.own.update({n: h for n, h in imported.items() if counts.get(n) == 2})
    if not table.drawing(nodes, ()):
        return table
    binds, counts = _binds(nodes)
    if not binds:
        return table
    for st in statements(tree):
        if isinstance(st, (ast.Global, ast.Nonlocal)):
            for n in st.names:
                counts[n] = counts.get(n, 0) + 2
    table.fill([b for b in binds if counts.get(b[0]) == 1])
    return table


def local_table(
    nodes: list[ast.AST], parent: Table, params: Iterable[str], attrs: Mapping[str, Held]
) -> Table:
    """A function's names bound to a draw or an event, over the module's."""
    table = Table(parent.alias, parent, attrs)
    binds, counts = _binds(nodes)
    table.hidden = set(counts) | set(params)
    table.fill(binds)
    return table


# Methods that run once per run: a draw there is one coin flip for the whole job.
ONCE = frozenset({"__init__", "__post_init__", "setup", "on_fit_start", "on_train_start"})


def init_attrs(cls: ast.ClassDef, module: Table) -> dict[str, Held]:
    """``self._p = random.random()`` (or an event) in ``__init__`` (or Lightning's
    ``setup``/``on_fit_start``/``on_train_start``): drawn once per run, tested in
    ``training_step``. A draw made in a per-batch method is not followed: a
    per-batch choice of augmentation is made that way."""
    out: dict[str, Held] = {}
    for init in cls.body:
        if isinstance(init, (ast.FunctionDef, ast.AsyncFunctionDef)) and init.name in ONCE:
            _drawn_in(init, module, out)
    return out


def _drawn_in(
    init: ast.FunctionDef | ast.AsyncFunctionDef, module: Table, out: dict[str, Held]
) -> None:
    nodes = body_nodes(init)
    if not module.drawing(nodes, ()):
        return
    args = init.args
    local = local_table(nodes, module, (a.arg for a in [*args.posonlyargs, *args.args]), {})
    for n in nodes:
        if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and _is_self(t.value) and t.attr not in out:
                    got = local.value(n.value)
                    if got is not None:
                        what = f"self.{t.attr} = {got.what}"
                        out[t.attr] = Held(got.kind, what, n.lineno, _from(got, n.lineno))

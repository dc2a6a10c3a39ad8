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
``trigger-random-draw-sabotage`` rule's (and ``draws`` judges a hook's).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Container, Iterable, Mapping

from traingate.checks.sabotage.payloads import walk_local
from traingate.checks.sabotage.triggers import RANDOM, Trigger, last_name, qualname, stmt_walk

# Positional arguments before ``size`` (numpy, a Generator, python's random): within
# that, and with no ``size``/``shape``, the draw is one number.
_ARITY = {
    **dict.fromkeys(("rand", "randn", "random", "random_sample", "ranf", "standard_normal"), 0),
    **dict.fromkeys(("uniform", "normal", "randint", "integers", "binomial", "beta"), 2),
    **dict.fromkeys(("lognormal", "gamma", "gauss", "betavariate", "normalvariate"), 2),
    **dict.fromkeys(("random_integers", "vonmisesvariate", "lognormvariate"), 2),
    **dict.fromkeys(("choice", "poisson", "exponential", "geometric", "expovariate"), 1),
    **dict.fromkeys(("getrandbits", "randbelow", "randbits"), 1),
    **dict.fromkeys(("randrange", "triangular"), 3),
}
# A discrete draw is an event by itself (``lr * random.choice([1, 1, 1, 0])``); a
# continuous one only when compared (``torch.rand(()) < p``).
_DISCRETE = frozenset(
    {"choice", "randint", "integers", "binomial", "randrange", "getrandbits", "randbelow"}
    | {"randbits", "random_integers", "poisson", "geometric", "bernoulli", "randint_like"}
    | {"bernoulli_", "random_"}
)
_BETA = frozenset({"beta", "betavariate"})  # mixup / cutmix: a mixing weight
_MODULES = ("random.", "numpy.random.", "secrets.")
_TORCH_SHAPED = frozenset({"torch.rand", "torch.randn", "torch.randint"})
_TORCH_LIKE = frozenset(
    {"torch.rand_like", "torch.randn_like", "torch.randint_like", "torch.bernoulli"}
    | {"torch.poisson"}
)
_FILLS = frozenset({"bernoulli_", "uniform_", "normal_", "random_", "exponential_", "geometric_"})
_CTORS = frozenset({"torch.empty", "torch.zeros", "torch.ones", "torch.full"})
_NEW = frozenset({"new_empty", "new_zeros", "new_ones", "new_full"})
_VALUE_CTORS = frozenset({"torch.tensor", "torch.as_tensor", "torch.scalar_tensor"})
_RNG = re.compile(r"(?i)(?:rng|random|generator|gen|prng)$")
_RNG_CTORS = frozenset({"default_rng", "Random", "SystemRandom", "RandomState", "Generator"})
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

# A draw's kind: discrete, continuous, a Beta mixing weight.
DISCRETE, CONTINUOUS, BETA = "discrete", "continuous", "beta"
# A value's: one of those, or an event (a Bernoulli outcome).
EVENT = "event"
_DRAWISH = re.compile(
    r"rand|choice|bernoulli|uniform|normal|integers|binomial|getrandbits|urandom|uuid|secrets"
)


def may_draw(source: str) -> bool:
    """Whether a file can hold a draw at all (most of a corpus's files do not)."""
    return _DRAWISH.search(source) is not None


# The last name of every call ``draw_kind`` can accept: a scope with none of them,
# and no name holding a draw from outside, has no event (a pre-test, issue #17).
_DRAW_NAMES = frozenset(
    {*_ARITY, *_FILLS, "rand", "randn", "randint", "rand_like", "randn_like", "randint_like"}
    | {"bernoulli", "poisson", "urandom", "uuid4", "uuid1"}
)


def drawing(nodes: Iterable[ast.AST], names: Container[str], attrs: Container[str]) -> bool:
    """Whether these nodes call a draw or read one of these held names or attributes."""
    for n in nodes:
        t = type(n)
        if t is ast.Call:
            assert isinstance(n, ast.Call)
            if last_name(n.func) in _DRAW_NAMES:
                return True
        elif t is ast.Name:
            assert isinstance(n, ast.Name)
            if n.id in names:
                return True
        elif t is ast.Attribute:
            assert isinstance(n, ast.Attribute)
            if n.attr in attrs:
                return True
    return False


def _shape_ones(args: Iterable[ast.AST]) -> bool:
    """``()``, ``1``, ``(1,)``, ``[1, 1]``: a shape of one element."""
    for a in args:
        if isinstance(a, (ast.Tuple, ast.List)):
            if not _shape_ones(a.elts):
                return False
        elif not (isinstance(a, ast.Constant) and a.value == 1 and not isinstance(a.value, bool)):
            return False
    return True


def _scalar_tensor(node: ast.AST, alias: Mapping[str, str]) -> bool:
    """``torch.empty(())``, ``torch.tensor(p)``, ``x.new_empty(1)``: one element."""
    if not isinstance(node, ast.Call):
        return isinstance(node, ast.Constant)
    q = qualname(node.func, alias) or ""
    if q in _VALUE_CTORS:
        return bool(node.args) and not isinstance(node.args[0], (ast.List, ast.Tuple))
    name = last_name(node.func)
    if q in _CTORS or name in _NEW:
        shape = node.args[:1] if q == "torch.full" or name == "new_full" else node.args
        size = [k.value for k in node.keywords if k.arg == "size"]
        return bool(shape or size) and _shape_ones([*shape, *size])
    return False


def draw_kind(call: ast.Call, alias: Mapping[str, str]) -> str | None:
    """The kind of a draw of one number, if this call is one."""
    func = call.func
    name = last_name(func) or ""
    q = qualname(func, alias) or ""
    sized = any(k.arg in ("size", "shape") for k in call.keywords)
    if q in ("os.urandom", "uuid.uuid4", "uuid.uuid1"):
        return DISCRETE
    if q.startswith(_MODULES) and name in _ARITY:
        return _kind(name) if len(call.args) <= _ARITY[name] and not sized else None
    if q in _TORCH_SHAPED:
        shape = call.args
        if q == "torch.randint":  # (high, size) or (low, high, size)
            shape = [a for a in call.args[-1:] if isinstance(a, (ast.Tuple, ast.List))]
            if not shape and not sized:
                return None
        size = [k.value for k in call.keywords if k.arg == "size"]
        if not (shape or size) or not _shape_ones([*shape, *size]):
            return None
        return DISCRETE if q == "torch.randint" else CONTINUOUS
    if q in _TORCH_LIKE:
        if not call.args or not _scalar_tensor(call.args[0], alias):
            return None
        return DISCRETE if name in _DISCRETE else CONTINUOUS
    if not isinstance(func, ast.Attribute):
        return None
    recv = func.value
    if name == "item" and isinstance(recv, ast.Call):  # torch.rand(1).item()
        return draw_kind(recv, alias) or _any_draw(recv, alias)
    if name in _FILLS:  # torch.empty(()).bernoulli_(p)
        return (
            (DISCRETE if name in _DISCRETE else CONTINUOUS) if _scalar_tensor(recv, alias) else None
        )
    if name in _ARITY and len(call.args) <= _ARITY[name] and not sized and _rng(recv):
        return _kind(name)
    return None


def _kind(name: str) -> str:
    return BETA if name in _BETA else DISCRETE if name in _DISCRETE else CONTINUOUS


def _rng(recv: ast.AST) -> bool:
    """A generator object: ``rng``, ``self.np_random``, ``np.random.default_rng(0)``."""
    if isinstance(recv, ast.Call):
        return last_name(recv.func) in _RNG_CTORS
    return bool(_RNG.search(last_name(recv) or ""))


def _any_draw(call: ast.Call, alias: Mapping[str, str]) -> str | None:
    """``torch.rand(3).item()``: ``item`` makes whatever it is drawn from one number."""
    q = qualname(call.func, alias) or ""
    if q in _TORCH_SHAPED or q in _TORCH_LIKE:
        return DISCRETE if q == "torch.randint" or q == "torch.bernoulli" else CONTINUOUS
    return None


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
        if not held or not self.outer(test):
            return None
        return self.event(test)

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
            return Trigger(kind, _shown(node), node.lineno) if kind is not None else None
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
                return self.event(inner) if inner is not None else None
            got = self._draw(node)
            if got is not None and got.kind == DISCRETE:
                return Trigger(RANDOM, got.what, got.line)
            return None
        h = self.held(node)
        return h._replace(kind=RANDOM) if h is not None and h.kind in (EVENT, DISCRETE) else None

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


def _numbers(new: ast.AST, old: ast.AST) -> bool:
    if _number(new) or (isinstance(new, ast.Call) and last_name(new.func) in _FILL_CALLS):
        return True
    if not isinstance(new, (ast.BinOp, ast.UnaryOp, ast.Call)):
        return False
    if isinstance(new, ast.Call) and last_name(new.func) not in _ARITH:
        return False
    was = ast.unparse(old)
    return any(ast.unparse(n) == was for n in ast.walk(new) if n is not new)


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


def _binds(nodes: Iterable[ast.AST]) -> tuple[list[tuple[str, ast.AST, int]], dict[str, int]]:
    """(name, value, line) of each ``x = v``, and how often each name is bound."""
    out: list[tuple[str, ast.AST, int]] = []
    counts: dict[str, int] = {}
    for n in nodes:
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            counts[n.id] = counts.get(n.id, 0) + 1
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


def module_table(tree: ast.Module, alias: Mapping[str, str], nodes: list[ast.AST]) -> Table:
    """The module's names bound exactly once to a draw or an event (``_FLIP =
    random.random() < 0.02``): one draw per process. A name a function rebinds
    (``global``) is the job's own value. ``nodes``: ``walk_local(tree.body)``."""
    table = Table(alias)
    if not drawing(nodes, (), ()):
        return table
    binds, counts = _binds(nodes)
    if not binds:
        return table
    for st in stmt_walk(tree):
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
_ONCE = frozenset({"__init__", "__post_init__", "setup", "on_fit_start", "on_train_start"})


def init_attrs(cls: ast.ClassDef, module: Table) -> dict[str, Held]:
    """``self._p = random.random()`` (or an event) in ``__init__`` (or Lightning's
    ``setup``/``on_fit_start``/``on_train_start``): drawn once per run, tested in
    ``training_step``. A draw made in a per-batch method is not followed: a
    per-batch choice of augmentation is made that way."""
    out: dict[str, Held] = {}
    for init in cls.body:
        if isinstance(init, (ast.FunctionDef, ast.AsyncFunctionDef)) and init.name in _ONCE:
            _drawn_in(init, module, out)
    return out


def _drawn_in(
    init: ast.FunctionDef | ast.AsyncFunctionDef, module: Table, out: dict[str, Held]
) -> None:
    nodes = walk_local(init.body)
    if not drawing(nodes, module.own, ()):
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

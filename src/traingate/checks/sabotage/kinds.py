"""Random draws of one number and their kinds (issue #16, session 11): what
``events`` counts as a draw, split from it to keep each module small.

A draw is one number when it has no size (``torch.rand(())``, ``(1,)``,
``np.random.rand()``, ``rng.random()``, ``random.*``); a per-sample or per-element
draw (dropout, stochastic depth, MLM masking) is none of these.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from traingate.checks.sabotage.triggers import last_name, qualname

if TYPE_CHECKING:
    from traingate.checks.sabotage.nodes import Local

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

# A per-step draw returned by a function of the file and tested in an ``if``
# (returns.py): judged as the pack's rule judges a draw in the ``if``, only over a
# rewrite by numbers (walker), and named ``[random]`` (verdicts.where).
RANDOM_CALL = "random-call"
# A draw's kind: discrete, continuous, a Beta mixing weight.
DISCRETE, CONTINUOUS, BETA = "discrete", "continuous", "beta"
# A value's: one of those, or an event (a Bernoulli outcome).
EVENT = "event"
# A function's: it returns an argument masked or swapped by an event (returns.py).
GATE = "gate"
_DRAWISH = re.compile(
    r"rand|choice|bernoulli|uniform|normal|integers|binomial|getrandbits|urandom|uuid|secrets"
)


# ``_DRAWISH``'s words: one substring search each finds what the pattern's search
# does, in half its alternation's time (issue #17: every scanned file).
_DRAWISH_WORDS = tuple(_DRAWISH.pattern.split("|"))


def may_draw(source: str) -> bool:
    """Whether a file can hold a draw at all (most of a corpus's files do not)."""
    return any(w in source for w in _DRAWISH_WORDS)


# The last name of every call ``draw_kind`` can accept: a scope with none of them,
# and no name holding a draw from outside, has no event (a pre-test, issue #17).
_DRAW_NAMES = frozenset(
    {*_ARITY, *_FILLS, "rand", "randn", "randint", "rand_like", "randn_like", "randint_like"}
    | {"bernoulli", "poisson", "urandom", "uuid4", "uuid1"}
)


DRAW_NAMES = _DRAW_NAMES


def drawing(
    nodes: Iterable[ast.AST],
    names: Container[str],
    attrs: Container[str],
    calls: Container[str] = (),
) -> bool:
    """Whether these nodes call a draw (or one of these functions) or read one of
    these held names or attributes."""
    # ``last_name`` inlined, and no assert per node (issue #17: a scan's module table
    # and every function with a held draw run this over all their nodes)
    call_t, name_t, attr_t, draws = ast.Call, ast.Name, ast.Attribute, _DRAW_NAMES
    node: Any
    for node in nodes:
        t = node.__class__
        if t is call_t:
            f = node.func
            ft = f.__class__
            name = f.id if ft is name_t else f.attr if ft is attr_t else None
            if name in draws or name in calls:
                return True
        elif (t is name_t and node.id in names) or (t is attr_t and node.attr in attrs):
            return True
    return False


def drawing_local(
    lk: Local, names: Container[str], attrs: Container[str], calls: Container[str] = ()
) -> bool:
    """``drawing(lk.nodes, ...)`` from the index's call names (issue #17: the test ran
    over every node of most of a scan's functions); the nodes are walked only when a
    held name or attribute is to be found (rare: an empty table or class has none)."""
    if names or attrs:
        return drawing(lk.nodes, names, attrs, calls)
    called = lk.called
    return not called.isdisjoint(_DRAW_NAMES) or any(c in calls for c in called)


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

"""Random draws as the guard of a hook's rewrite (issue #16): a forward or
gradient hook that changes what it returns only when a dice roll says so
(``if random.random() < 0.01: return out * 0.9``). The damage is rare, looks
like noise, and no rerun reproduces it.

A draw is judged only as the guard of a hook's write (``walker``): random values
are everywhere else in training code (augmentation, dropout masks, sampling,
stochastic depth in ``forward``), and the pack's ``trigger-random-draw-sabotage``
rule covers a draw guarding the training step. Inside a hook, the randomness of
a real regulariser is in the value (``out * mask``, noise added under a config
flag), or, in a hook that tests ``training``, the draw skips the block
(``return inputs[0]``: LayerDrop as a hook); neither is a rewrite under a draw.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterable, Mapping, Set

from traingate.checks.sabotage.nodes import body_nodes, statements
from traingate.checks.sabotage.triggers import RANDOM, Trigger, last_name, qualname

# Modules (and torch's samplers) whose functions draw: random.random(), numpy.random.rand(),
# torch.rand(1), torch.randint(...), torch.bernoulli(p), secrets.randbelow(n).
_DRAW_PREFIXES = (
    *("random.", "numpy.random.", "secrets.", "torch.rand", "torch.bernoulli"),
    *("torch.multinomial", "torch.normal", "torch.poisson"),
)
_DRAW_CALLS = frozenset({"os.urandom", "uuid.uuid4", "uuid.uuid1"})
# A draw from a generator object, whatever it is called (rng.random(), gen.integers(...),
# torch.empty(1).uniform_()): these method names mean a draw on any receiver.
_DRAW_METHODS = frozenset(
    {"random", "rand", "randn", "uniform", "randint", "integers", "random_sample"}
    | {"standard_normal", "binomial", "getrandbits", "randrange", "randbelow"}
    | {"bernoulli_", "uniform_", "normal_", "random_", "exponential_", "geometric_"}
)


def draw_call(call: ast.Call, alias: Mapping[str, str]) -> bool:
    """Whether this call draws a random value."""
    q = qualname(call.func, alias) or ""
    if q.startswith(_DRAW_PREFIXES) or q in _DRAW_CALLS:
        return True
    return isinstance(call.func, ast.Attribute) and call.func.attr in _DRAW_METHODS


def _draws(node: ast.AST, alias: Mapping[str, str]) -> ast.Call | None:
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and draw_call(n, alias):
            return n
    return None


class Drawing:
    """The functions of a file that return a random draw (``def _coin(p): return
    random.random() < p``), by name, computed on the first lookup: only a hook's
    guard asks."""

    __slots__ = ("_names", "alias", "tree")

    def __init__(self, tree: ast.Module, alias: Mapping[str, str]) -> None:
        self.tree: ast.Module | None = tree
        self.alias = alias
        self._names: set[str] | None = None

    def __contains__(self, name: object) -> bool:
        if self._names is None:
            self._names = set()
            for fn in statements(self.tree) if self.tree is not None else ():
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                    isinstance(r, ast.Return)
                    and r.value is not None
                    and _draws(r.value, self.alias)
                    for r in body_nodes(fn)
                ):
                    self._names.add(fn.name)
            self.tree = None  # the names are all it needs
        return name in self._names


class Draws:
    """Which values of one function are random draws: a draw call, a call of a
    function of the file that returns one, a local name bound from either."""

    def __init__(
        self, nodes: list[ast.AST], alias: Mapping[str, str], drawing: Container[str]
    ) -> None:
        self.alias = alias
        self.drawing = drawing
        self.names: dict[str, tuple[str, int]] = {}
        binds = [n for n in nodes if isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr))]
        grown = bool(binds)
        while grown:  # r = random.random(); drop = r < p
            grown = False
            for b in binds:
                if b.value is None:
                    continue
                got = self.find(b.value)
                if got is None:
                    continue
                targets = b.targets if isinstance(b, ast.Assign) else [b.target]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id not in self.names:
                        self.names[t.id] = (got.what, b.lineno)
                        grown = True

    def find(self, node: ast.AST) -> Trigger | None:
        """The first draw this expression's value depends on (lambdas not entered)."""
        todo = [node]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.Lambda):
                continue
            if isinstance(n, ast.Call):
                if draw_call(n, self.alias):
                    return Trigger(RANDOM, f"{ast.unparse(n.func)[:60]}()", n.lineno)
                name = last_name(n.func)
                if name is not None and name in self.drawing:
                    return Trigger(RANDOM, f"{name}() (returns a random draw)", n.lineno)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in self.names:
                what, line = self.names[n.id]
                return Trigger(RANDOM, f"{n.id} = {what}", line)
            todo.extend(reversed(list(ast.iter_child_nodes(n))))
        return None


def unchanged(node: ast.AST | None, params: Set[str], training: bool) -> bool:
    """The hook hands back what it was given (``return grad``, ``return output``,
    ``return None``): nothing is rewritten. Its input in place of its output
    (``return inputs[0]``: LayerDrop as a hook, the block skipped) only when the
    hook tests ``training`` (``training``), as the idiom does; otherwise a draw that
    skips a module (an activation, a norm) now and then is the payload."""
    return _same(node, params, training)


def reads_training(nodes: Iterable[ast.AST]) -> bool:
    """``module.training``, ``self.training``, ``training``: read anywhere in these nodes."""
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "training")
        or (isinstance(n, ast.Name) and n.id == "training")
        for n in nodes
    )


def _same(node: ast.AST | None, params: Set[str], subscripts: bool) -> bool:
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return True
    if isinstance(node, ast.Name):
        return node.id in params
    if isinstance(node, ast.Subscript) and subscripts:
        return isinstance(node.slice, ast.Constant) and _same(node.value, params, False)
    if isinstance(node, ast.Tuple):
        return all(_same(e, params, subscripts) for e in node.elts)
    return False

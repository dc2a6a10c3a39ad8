"""What one Python file says about calls, read with ``ast`` and never run (issue #16).

(Over 600 lines: one extractor walks each file once for every kind of fact;
split, each would walk the tree again on a cold cache.)

The facts of a file depend on its bytes alone (relative imports are kept as
``level`` + name and resolved against the file's path later), so they are
cached by blob id and shared by every tree that holds the blob.

Facts, as plain JSON:

- ``defs``: ``qualname -> [kind, line]`` for functions, methods
  (``Class.method``), nested functions (``outer.inner``), lambdas bound to a
  name, classes, and ``<module>`` (the code importing the file runs);
- ``classes``: ``name -> [base refs, find_class]``, where ``find_class`` is
  None (not defined), True (defined and it refuses by default: a restricted unpickler)
  or False (defined, restricts nothing);
- ``aliases``: module-level names bound to something importable
  (``import x as y``, ``from m import f as g``, ``load = pickle.loads``),
  ``name -> ref``; a re-export is followed through them;
- ``calls``: ``[caller, ref, line, column, end_line, flags]`` for every call
  and every import statement (an import runs the imported module's body);
  ``flags["rm"]`` lists the socket methods (connect, send, ...) the caller
  invokes on the call's result, ``flags["hk"]`` marks a literal ``"hooks"``
  (or ``"hooks/<name>"``) argument;
- ``returns``: ``qualname -> [[ref, line], ...]``, the calls whose result a
  function returns (directly, through a local, or wrapped by ``wrap_socket``);
- ``git_paths``: ``qualname -> line`` for a function whose return value joins
  a literal ``.git`` with its parameters;
- ``writes``: ``[scope, object ref, attribute or None, line, column, end_line,
  flags]`` for attribute assignments, ``setattr`` and ``delattr`` on a name
  bound through an import (``flags["restore"]``: puts back a saved original).

``rm``, ``hk``, ``returns``, ``git_paths`` and ``writes`` are read by
``returns.py`` (version 2; additive).

Version 3 (additive) lets graph.py follow a ``weights_only`` parameter:

- ``flags["pa"]``: one code per positional argument, ``flags["kn"]``:
  ``keyword -> code`` for keywords not passed a literal True; a code is 1 (a
  literal True), 0 (anything else), ``"*"`` (``*args``) or the name of a
  parameter of the enclosing def passed as is (never rebound in it);
- ``flags["wop"]``: the ``weights_only=`` value is such a parameter (``wo``
  stays 0);
- ``params``: ``qualname -> {param: [index, default, shift]}`` for those
  parameters: positional index (None when keyword-only), default (True /
  False, None when absent, not a bool literal, or the def has a decorator
  that could rewrite its arguments), shift 1 for a method (``self`` is bound).

Version 5 (issue #16: helpers hidden in blocks) reads a module's and a class
body's blocks (``if``/``else``, ``try``/``except``/``finally``, ``with``,
``for``/``while``, ``match``) as the scope they are in: a method under ``if``
is ``Class.method``, a class in a class ``Outer.Inner``, an import under
``with`` an alias. A name bound in several branches (two defs, a def and an
import, two imports) gives one call per ref it may hold. ``cond`` (present
when not empty) lists the defs written only inside such a block: the branch may
not run, so graph.py also follows what the name is without it (the base
class's method, the import it replaces).

Version 6 (issue #16: a re-exported sink): ``alias_at`` (present when not
empty) gives every module-level alias binding, ``name -> [[ref, line], ...]``
in any branch, and ``stars`` (present when not empty) every module-level
``from m import *`` as ``[ref, line]``, so a re-export of ``pickle.loads`` is
followed to it and named where it is bound; ``getattr(mod, "name")(...)`` is the call ``mod.name(...)``;
and a chain of a thousand calls is read without recursion.

Version 7 (issue #16: three more aliases): ``class_attrs`` (present when not
empty) gives ``"Class.attr" -> [[ref, line], ...]`` for a class attribute
bound to a callable by name (``load = pickle.loads``, ``load =
staticmethod(load_blob)``); ``importlib.import_module("m")`` and
``__import__("m", fromlist=[...])`` of a literal name are the module ``m``
(and record an import of it); a function's local bound to a name, a
``getattr(obj, "name")`` or such an import (``fn = io.load_blob``) is what it
is bound to, every binding in any branch (one bound to ``Cls(...)`` is an
instance: its methods only, as for ``Cls(...).method()``); a module-level name
bound by such a call is an alias.

Version 8 (issue #16: five more evasions): a ``functools.partial(f, ...)``
(or ``partialmethod``) bound to a name, a class attribute or ``self.x`` is a
def of kind ``"partial"`` whose one call is ``f(*bound, *<args>, **bound_kw,
**<kwargs>)`` (``<args>``/``<kwargs>``: what its caller passes); one bound to
no name is that call where it is written. ``class_attrs`` also holds
``self.x = f`` / ``cls.x = f`` / ``setattr(self, "x", f)`` in a method and
``Cls.x = f`` for a class of the file (``S:`` refs written ``L:``: followed
with a depth). Annotated and unpacked bindings count as plain ones (aliases,
class attributes, locals, writes). ``p0`` is set whatever the callee's name:
a re-exported DNS lookup has any name.

Version 9 (issue #16: timm's ``*pretrained_loc``): a starred positional
argument is expanded in ``pa`` when its length is known: one code per
element of a tuple or list display (``*(p, "cpu", False)``) or of a tuple
display bound once to a local; ``"*<ref>"`` for a local bound once to a call
of ``ref`` (as many 0 codes as ``tl`` says, or ``"*"``); ``"*"`` otherwise.
``tl`` (present when not empty): ``qualname -> n`` for a module-level def,
undecorated, not async, defined once and not rebound in its file, whose
every ``return`` is a tuple display of n elements and that never yields.

Version 10 (issue #16: dispatch, ``__call__``, factories): a ref may end in a
marker, ``X.()`` (the result of calling ``X``: called, an instance's
``__call__`` or what a factory returns) or ``X.[key]`` / ``X.[]`` (an element
of the dict ``X``, of a literal key or any); ``dicts`` (present when not
empty): ``name -> [[key or None, ref, line], ...]`` for a module-level dict
display (filled by ``X[k] = f``, ``update``, ``setdefault`` too; ``**other``
as ``other.[]``) or one bound in a function (``<function>.<name>``); ``made``:
``name -> [[ref, line], ...]`` for a module-level ``name = ref(...)``; ``rets``:
``qualname -> [[ref, line], ...]`` for the names (and dict elements) a
function returns. Class attributes bound to a call's result are ``X.()``.

Version 11 (issue #16: what v10 left out): a lambda or ``functools.partial``
stored in a dict is a def of its own, ``<dict>.<lambda:line:col>`` (or
``<partial:...>``), the dict's value; its calls are copies of calls its
writer also makes (an anonymous lambda still counts where it is written),
flagged ``anon``: edges, never judged again. A class attribute bound to a
dict display (in the body, or ``self.X = {...}`` in a method; filled by
``self.X[k] = f``, ``update``, ``setdefault``) is the dict ``Class.X``; an
element of ``self.X`` is ``S:Class.X.[key]``. ``getattr(m, n)`` called (``getattr(m,
n)(x)``, or ``fn = getattr(m, n); fn(x)``), where ``m`` is bound to
``import_module``/``__import__`` of a name that is not a literal and ``n``
is not a literal either, records
``B:dynattr`` at the call, as the nested form does where it is written.

Version 12 (issue #16: the lookup returned): a function returning such a
lookup (``return getattr(mod, n)``, ``getattr(import_module(m), n)``, a
local bound to either, a side of an ``if``/``else`` or ``or``), module and
attribute both not literals, has ``B:dynattr`` in ``rets``: a call of its
result (``locate(spec)(x)``, ``fn = locate(spec); fn(x)``) is the sink,
from any file. The result only stored or used for a method is not.

Version 13 (issue #16: registries across files): ``fills`` (present when
not empty): ``qualname -> [[dict, 0, key], ...]`` for a function storing its
first parameter in a module-level dict of its file (``REG[name] = fn``;
key: the literal, the index of the enclosing function's parameter, or
None), and ``regs``: ``[qualname, decorator ref, called, line, literal
args]`` for a module-level def or class under an imported decorator
(``@register_model``, ``@register("pkl")``: called 1). graph.py joins the
two across files. A partial of its own name (``f = partial(f, ...)``) no
longer calls itself.

Version 14 (issue #16: calls not written as calls): a function passed to a
caller that runs it (``handed.py``: ``ex.map(f, xs)``, ``Thread(target=f)``,
builtin ``map``) is a call of ``f`` at that call, ``flags["ho"]``, with
``pa`` ``["*"]`` (unknown positionals; ``star`` when keywords are forwarded).
``getattr(M, name)`` called, ``name`` not a literal and ``M`` an
``import_module``/``__import__`` of a literal name (in place or bound to a
name), is a call of ``<module>.*`` (any top-level def or class of it,
graph.py), ``flags["any"]``.

Version 16 (issue #16: timm 1.0.31's ``_torch_load``; ``woflow.py``): a
``**kw`` of a local bound once to a dict of literal keys whose
``weights_only`` entry nothing else can change is read as its entries
written as keywords (``wo``/``wop``/``kn`` from them, no ``star``); any
other ``**x`` but the def's own parameter is ``star`` 2 (it may hold
``weights_only=False``: graph.py's torch.load counts it off); a call in
the body of ``if not P:`` (``P`` a True-default parameter never rebound)
that does not pass a literal True has ``wo`` 0 and ``wop`` ``P`` (unless it
forwards another such parameter): it runs only when ``P`` was turned off.

Version 17 (session 25 red team: two more calls not written as calls):
``handed.py`` also lists callers that keep the function and run it later
(``atexit.register``, ``weakref.finalize``, ``signal.signal``, an exit
stack's ``callback``/``push``, an event loop's ``call_soon``/``call_later``/
``call_at``/``run_in_executor``/``add_signal_handler``/``add_reader``,
``sched.scheduler().enter``), and a bare ``@atexit.register``
(``@stack.callback``) on a def is a call of the def where the decorator is
written (``ho``). ``props`` (present when not empty): ``"Class.attr" ->
[getter ref]`` for ``@property``, ``cached_property``, ``@x.getter``/
``setter``/``deleter`` and ``attr = property(getter)``; an attribute read
or written, not called, on an instance made in place (``Cls(b).state``), a local or module-level name
bound to ``Cls(...)``, or ``self`` (once per method and name: a property
name of this file, or, for a class with a repository base, a name its body
does not bind, read and not stored on ``self`` by the class, or stored) is
a call of ``<Cls>.attr.@``, ``flags["pr"]`` (1 read, 2 written): graph.py
keeps only a property's getter (one name: the setter too).

Version 18 (session 26 red team: a sink helper reached with no call of it
written): a class statement calls each repository base's
``<base>.__init_subclass__`` (at the base) and its metaclass's
``__prepare__``/``__new__``/``__init__`` (at the keyword); the class itself
calls ``<metaclass>.__call__`` (graph.py links a class to its calls).
``super().m(...)`` in a method of ``C`` is ``<base>.m`` for each base of
``C`` (``super(Other, self)``: ``<Other>.m``); ``type(self).m`` and
``self.__class__.m`` are ``S:C.m``. ``@d.register`` on a def, ``d`` a def
of the file (of the class body), is a call of it by ``d`` (any other
``@x.register`` keeps it, below). ``handed.py`` adds sort keys and default
factories. A function kept for a later call is a call of it there,
``flags["kp"]``: 2 for an ``.append``/``.add``/``.insert`` argument, 1 for a
``.register``/``add_callback``/``register_*_hook`` argument or an element
of a list, tuple or set display assigned, returned or passed to a call; a
call there keeps its result (``X.()``). graph.py follows no property getter
from either, and no class from a ``kp`` 1.

Version 19 (session 27 red team: a helper already merged, reached by a
change that writes no call of it): a module-level list or tuple display of
names is a dict of no literal key (``dicts``; ``LOADERS[0](p)``), and a
``for`` target over a name (a comprehension's too) is its element (``for cls in
LOADERS: cls().load(p)`` records ``LOADERS.[].load``: graph.py's attribute of
an element); ``X[...]`` read, ``X`` a class of the file or an imported name
(not the standard library's, torch's or numpy's), calls
``X.__class_getitem__`` (once per scope and name); ``metaclass=f()`` records
``f.__call__`` &c. (graph.py: the attribute of what ``f`` returns, as for
``get_store().restore(p)``); ``sys.excepthook = f`` (``handed.HOOK_ATTRS``,
or ``setattr``) is a call of ``f`` there (``ho``), and ``handed.py`` adds the
interpreter's trace, profile and audit hooks and torch's ``DataLoader``
``collate_fn``/``worker_init_fn``. The once-per-method reads of ``self.x``
keep their scopes alive (a freed scope's id, reused, dropped a later read).

Version 20 (session 28, issue #16: a callable chosen by name is judged by
where the name comes from; ``names.py``): a ``B:dynattr`` call whose module
and attribute names are all pieces of one parameter records it as
``flags["dn"]``, and ``dnr`` (present when not empty) gives
``qualname -> param`` for a function whose every returned lookup is such;
``flags["nc"]`` gives each argument's name code that is not 0 (1 a harmless
literal, or the caller's parameter a read chain starts from; positions as
"0", "1", ...), and ``flags["ni"]`` on a call of a factory's result
(``X.()``) what each call that made the result passed (``n`` positions, -1
after a starred one, ``k`` keywords, ``s`` a ``**``, ``nc``); ``np`` gives
``qualname -> {param: [index, 1 harmless default or none / 0, shift]}`` for
the parameters those codes name, and ``ne`` a def's decorators other than
the plain ones (graph.py: a config entry point's config is the root).
Calls of the standard library, torch, numpy and builtins record no codes.

Version 21 (session 28): ``flags["nl"]`` gives, by the same keys as ``nc``,
the dotted literals (``a.b.c``) judged harmless there, and an ``np`` entry
a fourth element, its harmless dotted default: graph.py looks them up as
repository functions that may reach a sink (``call_hook("train.x.run", c)``).

A ref is a string: ``I:<level>:<dotted>`` (through an import), ``L:<qualname>``
(defined in this file), ``S:<Class>.<method>`` (``self.method`` in a method of
``Class``) or ``B:<name>`` (a builtin: eval, exec, __import__, or ``B:dynattr``
for ``getattr(__import__(m), n)``).
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections import deque
from typing import Any

from traingate import pyast
from traingate.checks.reach import handed, names, woflow

# Bumped when the shape or meaning of the facts changes: old cache entries are
# then simply not found.
VERSION = 21

_BUILTIN_SINKS = frozenset({"eval", "exec", "__import__"})
_CONST = (ast.Constant,)
# Keywords that stand for the first argument when none is positional.
_FIRST_KEYWORDS = frozenset({"host", "hostname", "command", "args", "source", "cmd"})
# The longest def whose local kwargs dicts are read (version 16): timm's
# _torch_load is 36 lines; a longer def's `**kw` is unknown (sound, #17).
_VOUCH_LINES = 200
# What makes a function of another with some arguments bound (version 8).
_MAX_REG_ARGS = 4  # a registry decorator's literal arguments kept (its key)
_PARTIALS = frozenset({"I:0:functools.partial", "I:0:functools.partialmethod"})
# The arguments a partial's caller passes: parameters of its def, named so
# that no Python name is one.
_ARGS, _KWARGS = "<args>", "<kwargs>"


def extract(text: str, filename: str = "<blob>") -> dict[str, Any]:
    """The facts of one file; raises SyntaxError (or ValueError for NUL bytes)."""
    return extract_tree(parse(text, filename))


def parse(text: str | bytes, filename: str = "<blob>") -> ast.Module:
    """What Python accepts (SyntaxError, ValueError, RecursionError otherwise).
    Bytes are decoded as an import decodes them (BOM, PEP 263 cookie)."""
    return pyast.parse(text, filename=filename, type_comments=False)


def extract_tree(tree: ast.Module) -> dict[str, Any]:
    """The facts of a parsed file. A RecursionError (or MemoryError) here is
    the extractor's, not Python's: summary.py reports the file incomplete."""
    return _Extractor(tree).facts


def refuses_by_default(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether an Unpickler's ``find_class`` refuses every global it does not
    allow, before it loads one: its body only raises; or it opens with
    ``if ... not in <list>: raise``; or it ends in a ``raise`` and loads or
    returns only under ``if ... in <list>:``. Any raise was enough before: a
    find_class that refuses one module and loads the rest then passed as
    restricted (issue #16, attacker's side)."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return False
    first = body[0]
    if (
        isinstance(first, ast.If)
        and _membership(first.test, ast.NotIn)
        and len(first.body) == 1
        and isinstance(first.body[0], ast.Raise)
        and not first.orelse
    ):
        return True
    if not isinstance(body[-1], ast.Raise):
        return False
    allowed: set[int] = set()  # nodes under an `if ... in <list>:` body
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and _membership(node.test, ast.In):
            for inner in node.body:
                allowed.update(id(n) for n in ast.walk(inner))
    for node in ast.walk(fn):
        loads = isinstance(node, ast.Return) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "find_class"
        )
        if loads and id(node) not in allowed:
            return False
    return True


def _membership(test: ast.expr, op: type[ast.cmpop]) -> bool:
    return isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], op)


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None for anything that is not a plain chain."""
    # Exact types (the parser makes no subclasses): ~280k calls on a
    # 200-file change (issue #17).
    t = type(node)
    if t is ast.Name:
        return [node.id]  # type: ignore[attr-defined]
    parts: list[str] = []
    while t is ast.Attribute:
        parts.append(node.attr)  # type: ignore[attr-defined]
        node = node.value  # type: ignore[attr-defined]
        t = type(node)
    if t is ast.Name:
        parts.append(node.id)  # type: ignore[attr-defined]
        return parts[::-1]
    return None


def _signature(a: ast.arguments, plain: bool, shift: int) -> dict[str, list[Any]]:
    """param -> [positional index or None, True/False default or None, shift]."""
    positional = [*a.posonlyargs, *a.args]
    out: dict[str, list[Any]] = {}
    pos_defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
    pos_defaults += list(a.defaults)
    pairs: list[tuple[int | None, ast.arg, ast.expr | None]] = [
        (i, x, d) for i, (x, d) in enumerate(zip(positional, pos_defaults, strict=True))
    ]
    pairs += [(None, x, d) for x, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    for index, arg, default in pairs:
        value = None
        if plain and isinstance(default, ast.Constant) and isinstance(default.value, bool):
            value = default.value
        out[arg.arg] = [index, value, shift]
    return out


def _is_const(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, _CONST):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_const(e) for e in node.elts)
    return False


def _names(node: ast.AST | None) -> set[str]:
    """Every ``Name`` id under ``node`` (as ``ast.walk``, without its generators)."""
    out: set[str] = set()
    stack: list[Any] = [node]
    fields = _FIELDS
    while stack:
        n = stack.pop()
        t = type(n)
        if t is ast.Attribute:
            n = n.value  # `a.b.c`: only its base may be (or hold) a name
            t = type(n)
            while t is ast.Attribute:
                n = n.value
                t = type(n)
        if t is ast.Name:
            out.add(n.id)
            continue
        # _push_children, inlined: the taint search walks every value it asks
        # about (issue #17: a call per node was a tenth of this function)
        for name in fields.get(t, ()):
            v = getattr(n, name, None)
            if type(v) is list:
                stack.extend(v)
            elif v is not None:
                stack.append(v)
    return out


def _push_children(todo: list[Any] | deque[Any], n: ast.AST, t: type) -> None:
    """Append ``n``'s child nodes in field order (``_FIELDS``), as ``ast.walk``
    would visit them, without a generator per node."""
    for name in _FIELDS.get(t, ()):
        v = getattr(n, name, None)
        if type(v) is list:
            todo.extend(v)
        elif v is not None:
            todo.append(v)


def _subclasses(*bases: type[ast.AST]) -> set[type[ast.AST]]:
    out: set[type[ast.AST]] = set()
    todo = list(bases)
    while todo:
        cls = todo.pop()
        if cls not in out:
            out.add(cls)
            todo.extend(cls.__subclasses__())
    return out


# Leaves and operators: never a call, import, definition or assignment, and
# about half of a tree's nodes (every Name carries a Load); not walked.
_LEAVES = (
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
    ast.Constant,
    ast.Name,
)
# Fields that hold a name, a number or leaves only, in every grammar since 3.10.
_SCALAR_FIELDS = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "type_comment",
        "level",
        "is_async",
        "simple",
        "conversion",
        "kind",
        "asname",
        "module",
        "kwd_attrs",
        "rest",
        "tag",
    }
)
# Issue #17: one lookup by exact type replaces an isinstance per field and
# ast.iter_child_nodes' generators (6 M calls over 200 large files). A type in
# _FIELDS is a node that is walked (every AST class but the leaves), mapped to
# the fields that may hold one, in _fields order.
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f for f in cls._fields if f not in _SCALAR_FIELDS)
    for cls in _subclasses(ast.AST) - _subclasses(*_LEAVES)
}


# The node types some reader of a scope's own nodes looks at (``_scope``,
# ``_taint``, ``_bindings``, ``_result_methods``, ``_rebound``): the others are
# walked through but not listed. A reader of another type adds it here.
_OWN_KEPT = frozenset(
    {
        ast.Call,
        ast.Assign,
        ast.AugAssign,
        ast.AnnAssign,
        ast.Return,
        ast.Global,
        ast.Nonlocal,
        ast.Import,
        ast.ImportFrom,
        ast.alias,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.For,
        ast.AsyncFor,
        ast.While,  # names.Flow: a loop around a read and a later binding
        ast.comprehension,
        ast.NamedExpr,
        ast.withitem,
        ast.Delete,
        ast.ExceptHandler,
        ast.MatchAs,
        ast.MatchStar,
        ast.MatchMapping,
        ast.Yield,
        ast.YieldFrom,
    }
)


# _FIELDS with each tuple reversed: ``_own_nodes`` pushes a node's children
# straight onto its stack, last first, and pops them in field order.
_RFIELDS: dict[type, tuple[str, ...]] = {t: f[::-1] for t, f in _FIELDS.items()}


def _own_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of a body (of the types in ``_OWN_KEPT``, in pre-order) except
    those inside nested functions, lambdas and classes (which are their own
    callers); decorators, defaults and bases of nested definitions run here,
    so they are kept."""
    # Issue #17: the walk of every scope's nodes (a fifth of the extraction),
    # so its cost is per node: children go onto the stack reversed (no list
    # to build and reverse per node), leaves never do, and an attribute chain
    # (``self.a.b.c``, never kept) is skipped to its base.
    out: list[ast.AST] = []
    stack: list[Any] = body[::-1]
    walked = _RFIELDS
    kept = _OWN_KEPT
    pop, push, extend, keep = stack.pop, stack.append, stack.extend, out.append
    attribute, call, a_name, delete = ast.Attribute, ast.Call, ast.Name, ast.Del
    subscript = ast.Subscript
    while stack:
        node = pop()
        t = type(node)
        if t is attribute or (t is call and type(node.func) is attribute):
            top = node
            if t is call:
                keep(node)
                # Its children as the loop below pushes them, the method's
                # attribute walked here: a method called is the call's.
                extend([k for k in node.keywords[::-1]])
                extend([a for a in node.args[::-1] if type(a) in walked])
                top = node.func
            inner = top
            v = top.value
            while type(v) is attribute:
                inner, v = v, v.value
            tv = type(v)
            if (tv is a_name or tv is call) and (
                inner is not top or (t is attribute and type(top.ctx) is not delete)
            ):
                # `obj.state`, `Cls(b).state`, `snap.state.items()`: a
                # property's getter may run (version 17, ``_Extractor._attr_read``).
                keep(inner)
            if tv in walked:
                push(v)
            continue
        if t is subscript and (type(node.value) is a_name or type(node.value) is attribute):
            keep(node)  # `Shards[path]`: a class's `__class_getitem__` (session 27)
        elif t in kept:
            keep(node)
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                a = node.args
                extend([d for d in a.kw_defaults[::-1] if d is not None])
                extend(a.defaults[::-1])
                extend(node.decorator_list[::-1])
                continue
            if (
                t is ast.Assign
                and type(node.value) is ast.Lambda
                and all(type(x) is ast.Name for x in node.targets)
            ):
                # A lambda bound to a name is a function of its own (read by
                # _lambda); an anonymous one runs where it is written.
                a = node.value.args
                extend([d for d in a.kw_defaults[::-1] if d is not None])
                extend(a.defaults[::-1])
                continue
            if t is ast.ClassDef:
                extend([k.value for k in node.keywords[::-1]])
                extend(node.bases[::-1])
                extend(node.decorator_list[::-1])
                continue
        for name in walked.get(t, ()):
            v = getattr(node, name, None)
            if type(v) is list:
                for x in reversed(v):  # a loop here: a comprehension is a call
                    if type(x) in walked:
                        push(x)
            elif type(v) in walked:
                push(v)
    return out


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` does not run on import."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    t = node.test
    sides = [t.left, *t.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _flows(own: list[ast.AST]) -> dict[str, list[ast.expr]]:
    """Every name a scope assigns -> the values that flow into it (the
    right-hand side, a loop's iterable, a ``with``'s context manager)."""
    flows: dict[str, list[ast.expr]] = {}
    node: Any
    for node in own:
        t = type(node)
        if t is ast.Assign:
            flow: tuple[set[str], ast.expr] = (
                set().union(*(_names(x) for x in node.targets)),
                node.value,
            )
        elif (t is ast.AugAssign or t is ast.AnnAssign) and node.value is not None:
            flow = (_names(node.target), node.value)
        elif t is ast.For or t is ast.AsyncFor or t is ast.comprehension:
            flow = (_names(node.target), node.iter)
        elif t is ast.NamedExpr:
            flow = ({node.target.id}, node.value)
        elif t is ast.withitem and node.optional_vars is not None:
            flow = (_names(node.optional_vars), node.context_expr)
        else:
            continue
        for name in flow[0]:
            flows.setdefault(name, []).append(flow[1])
    return flows


# Methods that send through a socket the caller got from a helper (``rm``).
_SOCKET_METHODS = frozenset(
    {"connect", "connect_ex", "send", "sendall", "sendto", "sendmsg", "sendfile"}
)
_MAX_RETURNS = 8  # returned calls recorded per function


def _key(node: ast.expr | None) -> str | None:
    """A bindable place as text: ``s`` or ``self.sock``."""
    chain = _dotted(node) if node is not None else None
    return ".".join(chain) if chain else None


def _pairs(target: ast.expr, value: ast.expr | None) -> list[tuple[ast.expr, ast.expr | None]]:
    """``a, (b, c) = x, (y, z)`` as ``a = x``, ``b = y``, ``c = z`` (issue #16:
    a sink bound by unpacking); an element not paired (``a, b = f()``,
    ``*rest``) gets None."""
    t = type(target)
    if t is not ast.Tuple and t is not ast.List:
        if t is ast.Starred:
            return _pairs(target.value, None)  # type: ignore[attr-defined]
        return [(target, value)]
    elts: list[ast.expr] = target.elts  # type: ignore[attr-defined]
    values: list[ast.expr | None] = [None] * len(elts)
    if (
        (type(value) is ast.Tuple or type(value) is ast.List)
        and len(value.elts) == len(elts)
        and not any(type(e) is ast.Starred for e in [*elts, *value.elts])
    ):
        values = list(value.elts)
    return [p for e, v in zip(elts, values, strict=True) for p in _pairs(e, v)]


def _bindings(own: list[ast.AST]) -> dict[str, list[ast.expr]]:
    """name -> every value bound to it in this scope (flow-insensitive)."""
    out: dict[str, list[ast.expr]] = {}
    node: Any  # dispatched on its exact type (every scope asks since version 7)
    for node in own:
        t = type(node)
        if t is ast.Call or t is ast.Attribute:
            continue  # most own nodes
        pairs: list[tuple[ast.expr | None, ast.expr | None]]
        if t is ast.Assign:
            pairs = []
            for x in node.targets:
                if type(x) is ast.Tuple or type(x) is ast.List:
                    # an element unpacked from an unknown value is left as before
                    pairs += [p for p in _pairs(x, node.value) if p[1] is not None]
                else:
                    pairs.append((x, node.value))
        elif t is ast.AnnAssign or t is ast.NamedExpr:
            pairs = [(node.target, node.value)]
        elif t is ast.withitem:
            pairs = [(node.optional_vars, node.context_expr)]
        elif (t is ast.For or t is ast.AsyncFor or t is ast.comprehension) and (
            got := _loop_element(node.target, node.iter)
        ):
            # `for cls in LOADERS:` an element of the container (session 27;
            # read as `LOADERS[i]`: graph.py finds whether it holds callables)
            pairs = [got]  # (`for i, cls in enumerate(X)`: `i` left unbound, as before)
        elif t is ast.For or t is ast.AsyncFor or t is ast.AugAssign:
            pairs = [(node.target, None)]  # re-bound to something else
        else:
            continue
        for target, value in pairs:
            k = _key(target)
            if k is not None:
                out.setdefault(k, []).append(value if value is not None else ast.Constant(None))
    return out


def _result_methods(own: list[ast.AST], binds: dict[str, list[ast.expr]]) -> dict[int, set[str]]:
    """id(call) -> socket methods called on its result in this scope."""
    on: dict[str, set[str]] = {}
    direct: dict[int, set[str]] = {}
    for node in own:
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SOCKET_METHODS
        ):
            continue
        recv = node.func.value
        if isinstance(recv, ast.Call):
            direct.setdefault(id(recv), set()).add(node.func.attr)
        else:
            k = _key(recv)
            if k is not None:
                on.setdefault(k, set()).add(node.func.attr)
    for k, methods in on.items():
        for value in binds.get(k, ()):
            if isinstance(value, ast.Call):
                direct.setdefault(id(value), set()).update(methods)
    return direct


# What ``_Extractor._hooks`` may find "hooks" in: anything else is False there.
_HOOK_TYPES = frozenset({ast.Name, ast.Constant})


def _is_hooks(node: ast.expr) -> bool:
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return False
    parts = [p for p in node.value.replace("\\", "/").split("/") if p not in ("", ".")]
    return bool(parts) and parts[0] == "hooks"


def _git_constant(expr: ast.expr) -> int | None:
    """The line of a literal path component ``.git`` inside ``expr``: the
    first in ``ast.walk``'s breadth-first order, without its generators."""
    todo: deque[Any] = deque([expr])
    while todo:
        n = todo.popleft()
        t = type(n)
        if t is ast.Constant:
            v = n.value
            if isinstance(v, str) and ".git" in v and ".git" in v.replace("\\", "/").split("/"):
                return int(n.lineno)
            continue
        _push_children(todo, n, t)
    return None


# A def under one of these is read as an attribute (version 17): ``obj.state``
# runs it. ``@state.setter`` binds the same name, so the same qual.
_PROPERTY_DECORATORS = frozenset({"B:property", "I:0:functools.cached_property"})
_ACCESSORS = frozenset({"getter", "setter", "deleter"})
# Decorators that leave a function's arguments alone; any other one (the
# repository's own above all) may call it with weights_only=False.
_PLAIN_DECORATORS = frozenset(
    {
        "B:staticmethod",
        "B:classmethod",
        "B:property",
        "I:0:functools.lru_cache",
        "I:0:functools.cache",
        "I:0:torch.no_grad",
        "I:0:torch.inference_mode",
        "I:0:abc.abstractmethod",
    }
)


def _pr(node: ast.Attribute) -> dict[str, Any]:
    """The flags of a property access (version 17): 1 read, 2 written (its
    setter runs; one name holds getter and setter, so one function here)."""
    return {"pr": 2 if type(node.ctx) is ast.Store else 1}


def _looks_property(node: ast.expr | None) -> bool:
    """A decorator or class-body value that may make a property, by its text
    (``property``, ``cached_property``, ``x.setter``, ``property(...)``): the
    names worth recording ``self.x`` reads of (graph.py decides)."""
    if type(node) is ast.Call:
        node = node.func
    if type(node) is ast.Name:
        return node.id in ("property", "cached_property")
    return type(node) is ast.Attribute and (
        node.attr == "cached_property" or node.attr in _ACCESSORS
    )


def _rebound(own: list[ast.AST], nested: bool = True) -> set[str]:
    """Names a scope's own nodes (``_own_nodes``) bind, delete or declare
    global/nonlocal, and names a nested def or class declares ``nonlocal``
    (it can rebind a parameter): such a parameter no longer holds what the
    caller passed. Over-approximates (``x.attr = v`` counts for ``x``).
    ``nested=False`` at module level: ``nonlocal`` never names a global."""
    out: set[str] = set()
    n: Any  # dispatched on its exact type below
    for n in own:
        t = type(n)
        if t is ast.Call or t is ast.Attribute:
            continue  # most own nodes; they bind nothing
        targets: list[ast.expr | None] = []
        if t is ast.Assign or t is ast.Delete:
            targets = list(n.targets)
        elif t in _ONE_TARGET:
            targets = [n.target]
        elif t is ast.withitem:
            targets = [n.optional_vars]
        elif t is ast.Nonlocal or t is ast.Global:
            out.update(n.names)
        elif t is ast.ExceptHandler and n.name:
            out.add(n.name)
        elif t is ast.alias:
            out.add(n.asname or n.name.split(".")[0])
        elif (t is ast.MatchAs or t is ast.MatchStar) and n.name:
            out.add(n.name)
        elif t is ast.MatchMapping and n.rest:
            out.add(n.rest)
        elif nested and t in _DEFS:
            out |= _nonlocals(n.body)
        for x in targets:
            out |= _names(x)
    return out


def _bind_counts(own: list[ast.AST]) -> dict[str, int]:
    """name -> how many of a scope's own nodes bind it in any way (as
    ``_rebound``, plus ``def``/``class``): a local bound once holds one value."""
    out: dict[str, int] = {}
    for n in own:
        t = type(n)
        if t is ast.Call or t is ast.Attribute:
            continue
        names = _rebound([n])
        if t in _DEFS:
            names.add(n.name)  # type: ignore[attr-defined]
        for x in names:
            out[x] = out.get(x, 0) + 1
    return out


def _tuple_len(own: list[ast.AST]) -> int | None:
    """n when every ``return`` of a def returns a tuple display of n elements
    (no starred one) and it never yields; None otherwise (issue #16: a
    starred result then fills exactly n positions)."""
    n: int | None = None
    for x in own:
        t = type(x)
        if t is ast.Yield or t is ast.YieldFrom:
            return None
        if t is ast.Return:
            v = x.value  # type: ignore[attr-defined]
            if type(v) is not ast.Tuple or any(type(e) is ast.Starred for e in v.elts):
                return None
            if n is not None and n != len(v.elts):
                return None
            n = len(v.elts)
    return n


_ONE_TARGET = frozenset(
    {ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension}
)
_DEFS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_DECLS = _DEFS | {ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom}
# Where a statement can hold statements: a ``nonlocal`` is one, and never
# inside an expression (a lambda's body is an expression).
_STMT_LISTS = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})
_BLOCKS: dict[type, tuple[str, ...]] = {
    t: tuple(f for f in fields if f in _STMT_LISTS)
    for t, fields in _FIELDS.items()
    if issubclass(t, (ast.stmt, ast.excepthandler, ast.match_case))
}


def _nonlocals(body: list[ast.stmt]) -> set[str]:
    """Names declared ``nonlocal`` anywhere in ``body``, nested blocks and defs too."""
    out: set[str] = set()
    stack: list[Any] = list(body)
    while stack:
        n = stack.pop()
        t = type(n)
        if t is ast.Nonlocal:
            out.update(n.names)
            continue
        for name in _BLOCKS.get(t, ()):
            stack.extend(getattr(n, name, None) or ())
    return out


def _flat(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of one scope in source order, those inside its compound
    statements (``if``/``else``, ``try``/``except``/``else``/``finally``,
    ``with``, ``for``/``while``/``else``, ``match`` cases) included, those of
    nested defs and classes not: Python binds a def under an ``if`` in the
    same namespace as one at top level (issue #16: a helper hidden in a block
    was never read)."""
    out: list[ast.stmt] = []
    stack: list[Any] = body[::-1]
    while stack:
        n = stack.pop()
        t = type(n)
        if isinstance(n, ast.stmt):
            out.append(n)
        if t in _DEFS:
            continue
        kids: list[Any] = []
        for name in _BLOCKS.get(t, ()):
            kids.extend(getattr(n, name, None) or ())
        stack.extend(kids[::-1])
    return out


def _dunder_import(node: ast.Call, name: str) -> tuple[str, str] | None:
    """``__import__(name, globals, locals, fromlist, level)``: the module
    imported, and what it returns: the top package unless ``fromlist`` may be
    non-empty (then the module itself)."""
    parts = name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    args = {i: a for i, a in enumerate(node.args)}
    args.update({j: k.value for k in node.keywords for j, n in _IMPORT_ARGS if k.arg == n})
    level = args.get(4)
    if level is not None and not (isinstance(level, ast.Constant) and level.value == 0):
        return None
    fromlist = args.get(3)
    empty = (
        fromlist is None
        or (isinstance(fromlist, ast.Constant) and not fromlist.value)
        or (isinstance(fromlist, (ast.List, ast.Tuple)) and not fromlist.elts)
    )
    return f"I:0:{name}", f"I:0:{parts[0] if empty else name}"


def _usable(local: list[str], rest: list[str], calls: bool) -> list[str]:
    """The refs of a local's bindings that ``local.rest`` may be: an instance
    (``x = IO()``, marked ``_MADE``) only for a method called on it (never a
    write: ``layer = nn.Linear(); layer.weight = w`` patches no class); called
    itself, it is ``IO.()``, what calling the result of ``IO()`` runs (its
    ``__call__``; for a function, what the function returns: graph.py), never
    ``build_model`` again."""
    if not local or all(not r.endswith(_MADE) for r in local):
        return local
    if not calls:
        return [r for r in local if not r.endswith(_MADE)]
    if not rest:
        return [r.removesuffix(_MADE) + _CALLED if r.endswith(_MADE) else r for r in local]
    return [r.removesuffix(_MADE) for r in local]


# A ref's last part marking what a value holds rather than names (version 10):
# ``X.()`` the result of calling ``X``, ``X.[key]`` / ``X.[]`` an element of the
# dict ``X`` (one key, or any). Neither is a Python name, so no ref collides.
_CALLED = ".()"
# ``X.*``: any attribute of the module ``X`` (version 14): a name looked up at run time.
_ANY = ".*"
# ``Cls.attr.@``: ``attr`` read (or written) on an instance of ``Cls``, the
# getter run when it is a property (version 17); a plain attribute is nothing.
_PROP = ".@"
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


# Top-level modules whose classes no repository wrote: an instance of one kept
# on ``self`` or at module level (``self.fc = nn.Linear(...)``, ``log =
# logging.getLogger()``: half of all such bindings) is not recorded, to keep
# a scan's facts small (issue #17). graph.py resolves a standard-library name
# only at the repository root, and a repository shadowing torch is no
# training repository this gate reviews.
_FOREIGN = frozenset(sys.stdlib_module_names) | {"torch", "numpy"}


def _foreign(ref: str) -> bool:
    """``I:0:<m>...`` for a module ``m`` in ``_FOREIGN`` (``functools.partial`` too)."""
    return ref[:4] == "I:0:" and ref[4:].partition(".")[0] in _FOREIGN


def _is_dict(node: ast.expr | None) -> bool:
    """A dict display, or ``dict(...)`` with keywords or a display."""
    if type(node) is ast.Dict:
        return True
    return (
        type(node) is ast.Call
        and type(node.func) is ast.Name
        and node.func.id == "dict"
        and (bool(node.keywords) or (len(node.args) == 1 and type(node.args[0]) is ast.Dict))
    )


_NAMED = (ast.Name, ast.Attribute, ast.Starred)


def _is_kept(node: ast.expr | None) -> bool:
    """A list or tuple display holding a name (``[JsonLoader, PickleLoader]``,
    ``(*BASE, PickleLoader)``): callables kept to be picked by index or in a
    loop (session 27). Its other elements (a string beside a class) hide
    nothing; a display of literals only is data."""
    if type(node) is not ast.List and type(node) is not ast.Tuple:
        return False
    return any(type(e) in _NAMED for e in node.elts)


# Calls whose result iterates over their one argument's elements (a loop over
# ``enumerate(X)`` binds its second name to one): ``_loop_element``.
_PASSTHROUGH = frozenset({"reversed", "sorted", "list", "tuple", "iter", "enumerate"})


def _loop_element(target: ast.expr, source: ast.expr) -> tuple[ast.expr, ast.expr] | None:
    """(the name, ``X[i]``) a ``for`` binds to an element of ``X`` (session 27):
    ``for cls in X``, ``X.values()``, ``X[1:]``, ``reversed(X)``, ``sorted(X)``,
    ``for i, cls in enumerate(X)``; None for any other loop."""
    if type(target) is ast.Tuple and len(target.elts) == 2 and type(target.elts[1]) is ast.Name:
        if not (type(source) is ast.Call and type(source.func) is ast.Name):
            return None
        if source.func.id != "enumerate":
            return None
        target = target.elts[1]
    elif type(target) is not ast.Name:
        return None
    while True:
        if type(source) is ast.Call and len(source.args) == 1 and not source.keywords:
            f = source.func
            if type(f) is ast.Name and f.id in _PASSTHROUGH:
                source = source.args[0]
                continue
        elif type(source) is ast.Call and not source.args and not source.keywords:
            f = source.func
            if type(f) is ast.Attribute and f.attr == "values":
                source = f.value
                continue
        elif type(source) is ast.Subscript and type(source.slice) is ast.Slice:
            source = source.value
            continue
        break
    if type(source) not in (ast.Name, ast.Attribute):
        return None
    return target, ast.copy_location(ast.Subscript(source, _ANY_KEY), source)


# The key of an element picked by index or in a loop: no literal string.
_ANY_KEY = ast.Constant(0)


def _dict_items(node: ast.expr) -> list[tuple[ast.expr | None, ast.expr]]:
    """(key, value) of a dict display or ``dict(...)``; the key None for
    ``**other`` (every element of ``other``)."""
    if type(node) is ast.Dict:
        return list(zip(node.keys, node.values, strict=True))
    assert type(node) is ast.Call
    out = _dict_items(node.args[0]) if node.args else []
    return out + [(ast.Constant(k.arg) if k.arg else None, k.value) for k in node.keywords]


def _not_a_key(key: ast.expr) -> bool:
    """A subscript no dict lookup is written with: a slice, a tuple, a number
    (indexing a tensor, a list or an ``nn.ModuleList``: not recorded)."""
    t = type(key)
    return (
        t is ast.Slice or t is ast.Tuple or (t is ast.Constant and type(key.value) is not str)  # type: ignore[attr-defined]
    )


def _key_text(key: ast.expr | None) -> str | None:
    """A literal string key as the facts keep it; None for any other key."""
    if type(key) is ast.Constant and type(key.value) is str:
        text: str = key.value
        if text and len(text) <= 64 and all(c in _KEY_CHARS for c in text):
            return text
    return None


_MADE = "()"
_DISPLAYS = frozenset({ast.List, ast.Tuple, ast.Set})
# A container method, the position of the value it keeps (-1: the last) and
# whether a class kept there is made by what reads it (version 18): a list
# of plugins is; a dispatcher's registry, a trainer's callbacks (which take
# an instance, or make one themselves) and a module's hooks keep functions.
_KEEPERS: dict[str, tuple[int, bool]] = {
    "append": (0, True),
    "appendleft": (0, True),
    "add": (0, True),
    "insert": (1, True),
    "register": (-1, False),  # `decode.register(bytes, _load)`, `codecs.register(f)`
    "add_callback": (0, False),
    "register_callback": (0, False),
    "add_hook": (0, False),
    "register_hook": (0, False),
    **{
        f"register_{h}_hook": (0, False)
        for h in (
            "forward",
            "forward_pre",
            "backward",
            "full_backward",
            "full_backward_pre",
            "step_pre",
            "step_post",
            "state_dict_pre",
            "state_dict_post",
            "load_state_dict_pre",
            "load_state_dict_post",
            "post_accumulate_grad",
        )
    },
    "register_comm_hook": (1, False),
}
_TYPE_TESTS = frozenset({"isinstance", "issubclass"})
_MARK_ENDS = frozenset(")]*@")
_SELVES = frozenset({"self", "cls"})
_DYN_IMPORTS = ("B:__import__", "I:0:importlib.import_module")
_IMPORT_ARGS = ((1, "globals"), (2, "locals"), (3, "fromlist"), (4, "level"))


def _add_alt(alts: dict[str, list[str]], name: str, ref: str) -> None:
    got = alts.setdefault(name, [])
    if ref not in got:
        got.append(ref)


def _merge_find_class(old: bool | None, new: bool | None) -> bool | None:
    """Two ``find_class`` (or two classes of one name) in different branches:
    restricted only when both are (issue #16: a restricted twin must not hide
    a loose one). None (not defined: the base's) wins over a restricting one."""
    if old is False or new is False:
        return False
    if old is None or new is None:
        return None
    return True


# Writing these changes what a caller's omitted argument becomes.
_FUNC_ATTRS = frozenset({"__defaults__", "__kwdefaults__", "__code__"})


class _Scope:
    """A function (or the module body) being read: its local names and imports."""

    def __init__(
        self,
        qualname: str,
        params: set[str],
        parent: _Scope | None,
        cls: str | None,
    ) -> None:
        self.qualname = qualname
        self.params = params
        self.parent = parent
        self.cls = cls  # the class when this is a method (for self.method)
        self.local_defs: dict[str, str] = {}  # nested def/lambda name -> qualname
        self.imports: dict[str, str] = {}  # function-level imports: name -> ref
        # name -> every ref a def, lambda or import of this scope binds it to,
        # in any branch (``_alt_refs``); the last one is ``local_defs``/``imports``.
        self.alts: dict[str, list[str]] = {}
        self._tainted: dict[str, bool] = {}  # ``from_params``, memoised
        self._flows: dict[str, list[ast.expr]] | None = None
        self._sources: dict[int, set[str]] = {}
        self.own: list[ast.AST] = []
        self._binds: dict[str, list[ast.expr]] | None = None
        self._result_methods: dict[int, set[str]] | None = None
        self.hook_names: set[str] = set()  # locals bound to a literal "hooks"
        # param -> [positional index, literal bool default, shift] (facts "params")
        self.sig: dict[str, list[Any]] = {}
        self._rebound: set[str] | None = None
        self.local_refs: dict[str, list[str]] = {}  # ``_local_refs``, memoised
        self.unbound: set[str] = set()  # names ``_local_refs`` found no binding of
        self._counts: dict[str, int] | None = None
        # A lambda or partial stored in a dict (``_anon_defs``): its calls are
        # also its writer's, so they are graph edges only (flag ``anon``).
        self.anon = False
        # A def's statements, for ``woflow`` (version 16); its guards, memoised.
        self.body: list[ast.stmt] | None = None
        self.guards: dict[int, str] | None = None
        self.kw_dicts: dict[str, dict[str, list[ast.expr | None]] | None] = {}
        # Version 20 (names.py): the def's arguments, its decorators other
        # than the plain ones, and its bindings by name, built when asked.
        self.args: ast.arguments | None = None
        self.decos: list[str | None] = []
        self.name_flow: names.Flow | None = None

    def from_params(self, names: set[str]) -> bool:
        """Whether any of ``names`` carries a parameter's value through the
        scope's assignments (flow-insensitive): "a name built by the caller"
        for the DNS sink. Searched backwards from the names asked about, each
        assignment's value walked once (issue #17: a forward fixpoint over
        every assignment of every scope cost a tenth of the extraction)."""
        return bool(names & self.params) or any(self._from_params(n) for n in names)

    def _from_params(self, name: str) -> bool:
        known = self._tainted.get(name)
        if known is not None:
            return known
        if self._flows is None:
            self._flows = _flows(self.own)
        seen, todo, found = {name}, [name], name in self.params
        while todo and not found:
            for value in self._flows.get(todo.pop(), ()):
                got = self._sources.get(id(value))
                if got is None:
                    got = self._sources[id(value)] = _names(value)
                if got & self.params or any(self._tainted.get(n) for n in got):
                    found = True
                    break
                todo += [n for n in got - seen if n in self._flows]
                seen |= got
        if found:
            self._tainted[name] = True
        else:
            # Everything searched from here reaches no parameter either.
            self._tainted.update(dict.fromkeys(seen, False))
        return found

    # Computed when first needed (most scopes return, patch and send nothing):
    # each walks the scope's nodes once more.
    @property
    def binds(self) -> dict[str, list[ast.expr]]:
        if self._binds is None:
            self._binds = _bindings(self.own)
        return self._binds

    @property
    def result_methods(self) -> dict[int, set[str]]:
        if self._result_methods is None:
            self._result_methods = _result_methods(self.own, self.binds) if self.sends else {}
        return self._result_methods

    @property
    def short(self) -> bool:
        """A def of at most ``_VOUCH_LINES`` lines: ``woflow.dict_entries``
        walks it all (issue #17); a longer one's ``**kw`` stays unknown."""
        b = self.body
        if not b:
            return False
        return (b[-1].end_lineno or b[-1].lineno) - b[0].lineno < _VOUCH_LINES

    @property
    def rebound(self) -> set[str]:
        """Names rebound in the def (``_rebound``), walked when first asked:
        only a call passing a True-default parameter on asks."""
        if self._rebound is None:
            self._rebound = _rebound(self.own)
        return self._rebound

    @property
    def counts(self) -> dict[str, int]:
        """``_bind_counts`` of the scope, walked when a starred name asks."""
        if self._counts is None:
            self._counts = _bind_counts(self.own)
        return self._counts

    @property
    def sends(self) -> bool:
        # A loop on exact types: asked by every scope that calls (issue #17).
        for n in self.own:
            if type(n) is ast.Call:
                f = n.func
                if type(f) is ast.Attribute and f.attr in _SOCKET_METHODS:
                    return True
        return False


class _Extractor:
    def __init__(self, tree: ast.Module) -> None:
        self.defs: dict[str, list[Any]] = {"<module>": ["module", 1]}
        self.classes: dict[str, list[Any]] = {}
        # Each class's base refs as its methods are read (version 18: `super()`).
        self._class_bases: dict[str, list[str]] = {}
        self.aliases: dict[str, str] = {}
        # name -> every module-level [ref, line] it is bound to through an
        # import or ``x = mod.attr``, in any branch (version 6): graph.py
        # follows each, and names where a re-export binds an external sink.
        self.alias_at: dict[str, list[list[Any]]] = {}
        self.stars: list[list[Any]] = []  # module-level `from m import *`: [ref, line]
        # "Class.attr" -> [[ref, line], ...]: class attributes bound to a
        # callable by name (version 7)
        self.class_attrs: dict[str, list[list[Any]]] = {}
        self.calls: list[list[Any]] = []
        self.returns: dict[str, list[list[Any]]] = {}
        self.git_paths: dict[str, int] = {}
        self.writes: list[list[Any]] = []
        self.params: dict[str, dict[str, list[Any]]] = {}
        # Version 20 (names.py): a name parameter's [index, 1 harmless default
        # or none / 0, shift]; a def's other decorators; a factory's lookup
        # parameter ("" when a lookup it returns is not one parameter's).
        self.nparams: dict[str, dict[str, list[Any]]] = {}
        self.nentry: dict[str, list[str | None]] = {}
        self.dnr: dict[str, str] = {}
        # For _rewrapped: names declared global, objects whose __defaults__ (or
        # ...) are written, class bodies (name, statements besides defs).
        self.globals: set[str] = set()
        self.func_writes: set[str] = set()
        self.class_bodies: list[tuple[str, list[ast.stmt]]] = []
        # Names bound by top-level statements: they shadow builtins (``def eval``).
        self.module_names: set[str] = set()
        # Names bound only inside a module-level block (``try: ... except
        # ImportError: def helper``): resolved here, but never shadowing a
        # builtin sink (``if False: def eval``).
        self.block_names: set[str] = set()
        # name -> every module-level ref it may hold, in any branch (``_alt_refs``).
        self.alts: dict[str, list[str]] = {}
        # Defs (module level, methods, classes in classes) inside a block: the
        # branch may not run, so what the name would be without it still counts.
        self.cond: set[str] = set()
        self.consts: dict[str, ast.Constant] = {}  # module-level name = literal
        # Version 10 (issue #16: dispatch through a dict, an instance's
        # __call__, a factory's result): see ``dicts``, ``made`` and ``rets``.
        self.dict_names: set[str] = set()  # module-level names bound to a dict display
        self.dicts: dict[str, list[list[Any]]] = {}  # name -> [[key, ref, line], ...]
        self.made: dict[str, list[list[Any]]] = {}  # name -> [[ref, line], ...]
        self.rets: dict[str, list[list[Any]]] = {}  # qualname -> [[ref, line], ...]
        # module-level def -> its returned tuple's length, -1 unknown (version 9)
        self.tuple_lens: dict[str, int] = {}
        # Classes of this file (qualnames, local ones too): ``Codec.decode = f``
        # binds a class attribute (version 8).
        self.class_names: set[str] = set()
        self._class_heads: set[str] = set()  # their last names
        # Partials bound to a name (a def of their own, ``_partial_def``):
        # the others run where they are written.
        self._bound: set[int] = set()
        self._resolving: set[tuple[int, str]] = set()  # locals being resolved
        # Lambdas and partials stored in a dict (version 11), made defs of
        # their own once every scope is read: (writer, qualname, value).
        self._anon: list[tuple[_Scope, str, ast.expr]] = []
        self._anon_seen: set[int] = set()
        # "Class.attr" for a class attribute bound to a dict display (version 11).
        self.class_dicts: set[str] = set()
        # Registry decorators of this file (version 11): function -> (dict, the
        # index of the parameter it stores, the key: text, the index of the
        # enclosing function's parameter, or None); the decorated defs.
        self._fills: dict[str, list[tuple[str, int, str | int | None]]] = {}
        self._decorated: list[tuple[_Scope, str, list[ast.expr], int]] = []
        # [qual, decorator ref, called, line, literal args] for an imported decorator
        self._regs: list[list[Any]] = []
        self._members: dict[str, set[str]] = {}  # class -> names its body defines
        # "Class.attr" -> refs of its getter (version 17): ``@property``,
        # ``cached_property``, ``attr = property(getter)``; and the attribute
        # names among them, for ``self.attr`` read in a method.
        self.props: dict[str, list[str]] = {}
        self._prop_names: set[str] = set()
        # ``self.x`` reads that may be a base class's property, kept until the
        # file is read; the names each class body binds.
        self._self_reads: list[tuple[_Scope, ast.Attribute]] = []
        self._self_seen: set[tuple[int, str]] = set()
        # The scopes keyed in ``_self_seen`` by id, kept alive: a scope freed
        # after its function was read gave its id to a later one, whose first
        # read of the same name was then taken as seen and dropped (session 27:
        # transformers' `num_delay_tokens` lost its property read).
        self._seen_scopes: dict[int, _Scope] = {}
        self._self_stored: set[tuple[str, str]] = set()  # (class, name) stored on self
        self._class_binds: dict[str, set[str]] = {}
        self._cycles = 0  # times one was met again (its partial result is not kept)
        # A module-level class body's own nodes, from ``_collect_module_names``
        # to ``_class`` (``_class_own``).
        self._class_walks: dict[int, list[ast.AST]] = {}
        self._class_read = False
        self._collect_module_names(tree)
        self._class_read = True
        module = _Scope("<module>", set(), None, None)
        body = [s for s in tree.body if not _is_main_guard(s)]
        main = [s for s in tree.body if _is_main_guard(s)]
        self._module_aliases(tree.body)
        self._scope(module, body)
        main_scope: _Scope | None = None
        if main:
            # The __main__ block runs only as a script: its calls are callers of
            # their own (a changed line there still makes a call), never run on import.
            self.defs["<main>"] = ["main", main[0].lineno]
            main_scope = _Scope("<main>", set(), None, None)
            self._scope(main_scope, main)
        self._anon_defs()
        self._registrations()
        if self._self_reads:
            self._inherited_reads()
        if self.params:
            # Only then (a forwarded True-default parameter; rare) is it read.
            for qual in self.params.keys() & self._rewrapped(module, main_scope):
                for sig in self.params[qual].values():
                    sig[1] = None
        if self.nparams:
            for qual in self.nparams.keys() & self._rewrapped(module, main_scope):
                for sig in self.nparams[qual].values():
                    sig[1] = 0  # rebound or patched in this file: its default unknown
        tl = {q: n for q, n in self.tuple_lens.items() if n >= 0 and q not in self.cond}
        if tl:
            for qual in tl.keys() & self._rewrapped(module, main_scope):
                del tl[qual]  # rebound or patched in this file: not the def as written
        self.facts = {
            "defs": self.defs,
            "classes": self.classes,
            "aliases": self.aliases,
            "calls": self.calls,
            "returns": self.returns,
            "git_paths": self.git_paths,
            "writes": self.writes,
            "params": self.params,
        }
        if self.cond:
            self.facts["cond"] = sorted(self.cond)
        if self.alias_at:
            self.facts["alias_at"] = self.alias_at
        if self.stars:
            self.facts["stars"] = self.stars
        if self.class_attrs:
            self.facts["class_attrs"] = self.class_attrs
        if tl:
            self.facts["tl"] = tl
        if self.nparams:
            self.facts["np"] = self.nparams
        if self.nentry:
            self.facts["ne"] = self.nentry
        dnr = {q: p for q, p in self.dnr.items() if p}
        if dnr:
            self.facts["dnr"] = dnr
        dicts = {name: got for name, got in self.dicts.items() if got}
        for key, held in (("dicts", dicts), ("made", self.made), ("rets", self.rets)):
            if held:
                self.facts[key] = held
        # Registries across files (version 13): what another file's decorator
        # is joined with at summary time (graph.Graph._registered), no parse more.
        fills = {q: [[d, 0, k] for d, i, k in got if i == 0] for q, got in self._fills.items()}
        fills = {q: got for q, got in fills.items() if got}
        if fills:
            self.facts["fills"] = fills
        if self._regs:
            self.facts["regs"] = self._regs
        if self.props:
            self.facts["props"] = self.props

    def _rewrapped(self, module: _Scope, main: _Scope | None) -> set[str]:
        """Defs whose callers may not get them as written: rebound at module
        or class level (``f = wrap(f)``, under an ``if``/``try`` too), declared
        ``global`` anywhere, or whose ``__defaults__``/``__kwdefaults__``/
        ``__code__`` the file writes; methods as ``Class.method``."""
        out = self.globals | self.func_writes | _rebound(module.own, nested=False)
        if main is not None:
            out |= _rebound(main.own, nested=False)
        for name, body in self.class_bodies:
            out |= {f"{name}.{x}" for x in _rebound(_own_nodes(body), nested=False)}
        return out

    def _func_write(self, obj: ast.expr) -> None:
        chain = _dotted(obj)
        if chain is not None:
            self.func_writes |= {".".join(chain), ".".join(chain[-2:]), chain[-1]}

    # -- module level -------------------------------------------------------

    def _collect_module_names(self, tree: ast.Module) -> None:
        top = set(map(id, tree.body))
        for node in _flat(tree.body):
            names = self.module_names if id(node) in top else self.block_names
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                if isinstance(node, ast.ClassDef):
                    self.class_names.add(node.name)
                    self._class_heads.add(node.name)
                    # before any `Loader.HANDLERS[k] = f` at module level is read
                    self._note_class_dicts(node.name, self._class_own(node))
                _add_alt(self.alts, node.name, f"L:{node.name}")
                if id(node) not in top:
                    self.cond.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    names.add((a.asname or a.name).split(".")[0])
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                names |= _names(node.target)
                if type(node.target) is ast.Name and _is_dict(node.value):
                    self.dict_names.add(node.target.id)  # `HANDLERS: dict[...] = {...}`
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    names |= _names(t)
                    if isinstance(node.value, ast.Lambda) and isinstance(t, ast.Name):
                        _add_alt(self.alts, t.id, f"L:{t.id}")
                        if id(node) not in top:
                            self.cond.add(t.id)
                    if type(t) is ast.Name and (_is_dict(node.value) or _is_kept(node.value)):
                        self.dict_names.add(t.id)
                    # `HOOKS = "hooks"`: a literal argument passed by name
                    if (
                        id(node) in top
                        and isinstance(t, ast.Name)
                        and isinstance(node.value, ast.Constant)
                    ):
                        self.consts[t.id] = node.value
        self.block_names -= self.module_names

    def _alias(self, name: str, ref: str, line: int) -> None:
        self.aliases[name] = ref  # the last one, as before
        got = self.alias_at.setdefault(name, [])
        if [ref, line] not in got:
            got.append([ref, line])
        _add_alt(self.alts, name, ref)

    def _module_aliases(self, body: list[ast.stmt]) -> None:
        # In any block (`try: import ujson as json / except ImportError: import
        # json`, `with suppress(ImportError): import pickle`), every branch.
        stmts = _flat(body)
        for node in stmts:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self._alias(a.asname, f"I:0:{a.name}", node.lineno)
                    else:
                        head = a.name.split(".")[0]
                        self._alias(head, f"I:0:{head}", node.lineno)
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                for a in node.names:
                    if a.name == "*":
                        self.stars.append([f"I:{node.level}:{mod}", node.lineno])
                        continue
                    name = f"{mod}.{a.name}" if mod else a.name
                    self._alias(a.asname or a.name, f"I:{node.level}:{name}", node.lineno)
        top = set(map(id, body))
        for node in stmts:
            # `load = pickle.loads` (or `load: Loader = pickle.loads`): an alias
            # the rest of the file calls through
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                pairs = _pairs(node.targets[0], node.value)  # `a, b = x, y` too
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                pairs = [(node.target, node.value)]
            else:
                continue
            for target, value in pairs:
                if isinstance(target, ast.Name) and value is not None:
                    self._module_alias(node, target, value, top)

    def _module_alias(
        self, node: ast.stmt, target: ast.Name, value: ast.expr, top: set[int]
    ) -> None:
        """One module-level ``target = value`` (``_module_aliases``)."""
        if _is_dict(value):
            stub = _Scope("<module>", set(), None, None)
            for key, item in _dict_items(value):
                self._dict_entry(stub, target.id, key, item)
            return
        if _is_kept(value):
            # `LOADERS = [JsonLoader, PickleLoader]` (session 27): a dict of
            # no literal key to `LOADERS[0](p)` and `for cls in LOADERS: cls()`
            stub = _Scope("<module>", set(), None, None)
            for item in value.elts:  # type: ignore[attr-defined]
                if type(item) is ast.Starred:
                    self._dict_entry(stub, target.id, None, item.value)  # `*BASE`
                elif type(item) is ast.Name or type(item) is ast.Attribute:
                    self._dict_entry(stub, target.id, _ANY_KEY, item)
            return
        if isinstance(value, (ast.Name, ast.Attribute)):
            chain = _dotted(value)
            # `load = _load`, a def or class of the file under another name
            # (alts: every binding; version 15, issue #16) as an import is
            if chain and (chain[0] in self.aliases or chain[0] in self.alts):
                alts = self.alts.get(chain[0])
                for base in list(alts if alts is not None else [self.aliases[chain[0]]]):
                    self._alias(target.id, ".".join([base, *chain[1:]]), node.lineno)
            elif type(value) is ast.Attribute and type(value.value) is ast.Call:
                # `load = Store().load`: that class's method (version 15)
                made = self._ref(_Scope("<module>", set(), None, None), value.value.func)
                if made is not None and made[0] in "IL" and not _foreign(made):
                    self._alias(target.id, f"{made}.{value.attr}", node.lineno)
        elif type(value) is ast.Call:
            # `io_mod = importlib.import_module("utils.io")`, `load =
            # getattr(io_mod, "load_blob")` (issue #16)
            stub = _Scope("<module>", set(), None, None)
            got = self._ref(stub, value)
            if got is not None and got.startswith("I:"):
                self._alias(target.id, got, node.lineno)
            elif self._partial(stub, value, bind=False) is not None:
                # a def of its own (``_partial_def``), maybe in one branch only
                _add_alt(self.alts, target.id, f"L:{target.id}")
                if id(node) not in top:
                    self.cond.add(target.id)
            else:
                # `LOADER = Loader()`: calling LOADER calls Loader.__call__,
                # LOADER.load is Loader.load (graph.py, issue #16)
                made = self._ref(stub, value.func)
                if made is not None and made[0] in "IL" and not _foreign(made):
                    held = self.made.setdefault(target.id, [])
                    if [made, node.lineno] not in held:
                        held.append([made, node.lineno])

    # -- scopes -------------------------------------------------------------

    def _scope(self, scope: _Scope, body: list[ast.stmt]) -> None:
        own = _own_nodes(body)
        # Definitions, lambdas bound to a name and imports, in order: the rest
        # (calls above all) only needs the second loop.
        decl = [n for n in own if type(n) in _DECLS]
        node: Any  # dispatched on its exact type below
        top = scope.qualname in ("<module>", "<main>")
        # Local definitions and function-level imports first: a call may precede
        # the def in the text (a nested helper used in a loop above it).
        for node in decl:
            t = type(node)
            if t in _DEFS:
                if not top:
                    scope.local_defs[node.name] = f"{scope.qualname}.{node.name}"
                    _add_alt(scope.alts, node.name, f"L:{scope.qualname}.{node.name}")
                    if t is ast.ClassDef:
                        self.class_names.add(f"{scope.qualname}.{node.name}")
                        self._class_heads.add(node.name)
            elif t is ast.Assign:
                if type(node.value) is ast.Lambda and not top:
                    for x in node.targets:
                        if type(x) is ast.Name:
                            scope.local_defs[x.id] = f"{scope.qualname}.{x.id}"
                            _add_alt(scope.alts, x.id, f"L:{scope.qualname}.{x.id}")
            elif scope.qualname == "<module>":
                pass
            elif t is ast.Import:
                for a in node.names:
                    key = a.asname or a.name.split(".")[0]
                    scope.imports[key] = f"I:0:{a.name if a.asname else key}"
                    _add_alt(scope.alts, key, scope.imports[key])
            elif t is ast.ImportFrom:
                mod = node.module or ""
                for a in node.names:
                    if a.name != "*":
                        name = f"{mod}.{a.name}" if mod else a.name
                        scope.imports[a.asname or a.name] = f"I:{node.level}:{name}"
                        _add_alt(scope.alts, a.asname or a.name, f"I:{node.level}:{name}")
        scope.own = own
        partials = self._bind_partials(scope, decl)
        for node in own:
            t = type(node)
            if t is ast.Call:
                self._call(scope, node)
            elif t is ast.Assign or t is ast.AugAssign:
                self._assign(scope, node)
            elif t is ast.AnnAssign:
                if node.value is not None:
                    self._assign(scope, node)
            elif t is ast.Return:
                if node.value is not None:
                    self._return(scope, node.value)
            elif t is ast.Attribute:
                self._attr_read(scope, node)
            elif t is ast.Subscript:
                self._class_item(scope, node)
            elif t is ast.Global:
                self.globals.update(node.names)
            elif t is ast.Import:
                for a in node.names:
                    self._record(scope, f"I:0:{a.name}", node, {"imp": 1})
            elif t is ast.ImportFrom:
                mod = node.module or ""
                for a in node.names:
                    # `from pkg import sub` may import a submodule: both are tried
                    name = f"{mod}.{a.name}" if mod and a.name != "*" else mod
                    self._record(scope, f"I:{node.level}:{name}", node, {"imp": 1})
        for node in decl:
            t = type(node)
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                self._function(scope, node)
            elif t is ast.ClassDef:
                self._class(scope, node)
            elif t is ast.Assign and type(node.value) is ast.Lambda:
                for x in node.targets:
                    if type(x) is ast.Name:
                        self._lambda(scope, x.id, node.value)
        for name, call in partials:
            self._partial_def(scope, name, call)

    def _bind_partials(self, scope: _Scope, decl: list[Any]) -> list[tuple[str, ast.Call]]:
        """The names this scope binds to a ``functools.partial`` (each a def of
        its own, ``_partial_def``), as local defs before any call is read."""
        out: list[tuple[str, ast.Call]] = []
        top = scope.qualname in ("<module>", "<main>")
        for node in decl:
            t = type(node)
            if t is ast.Assign:
                targets = node.targets
            elif t is ast.AnnAssign:
                targets = [node.target]
            else:
                continue
            v = node.value
            if type(v) is not ast.Call and type(v) is not ast.Tuple and type(v) is not ast.List:
                continue  # most assignments: no partial there
            for target, value in [p for x in targets for p in _pairs(x, v)]:
                if type(target) is not ast.Name or type(value) is not ast.Call or not value.args:
                    continue
                call = self._partial(scope, value, bind=True)
                if call is None:
                    continue
                name = target.id
                if not top:
                    scope.local_defs[name] = f"{scope.qualname}.{name}"
                    _add_alt(scope.alts, name, f"L:{scope.qualname}.{name}")
                out.append((name, call))
        return out

    def _partial(self, scope: _Scope, node: ast.expr, bind: bool) -> ast.Call | None:
        """The call ``functools.partial(f, *a, **k)`` (or ``partialmethod``, a
        partial of a partial merged) makes when called: ``f(*a, *<args>, **k,
        **<kwargs>)``, placed at the partial; None for anything else. Issue
        #16: a partial of a sink bound to a name hid the sink. ``bind``: the
        partial is bound to a name (its call is its def's, not this scope's)."""
        if type(node) is not ast.Call:
            return None
        func = node.func
        if type(func) is ast.Attribute and func.attr not in ("partial", "partialmethod"):
            return None  # most calls; `functools.partial` ends so under any alias
        args: list[ast.expr] = []
        keywords: list[ast.keyword] = []
        inner: ast.expr = node
        while (
            type(inner) is ast.Call
            and inner.args
            and type(inner.args[0]) is not ast.Starred
            and self._ref(scope, inner.func) in _PARTIALS
        ):
            if bind or inner is not node:
                self._bound.add(id(inner))  # an inner partial is its outer's
            args[:0] = inner.args[1:]
            keywords += inner.keywords  # the outer's first: they win
            inner = inner.args[0]
        if inner is node:
            return None
        rest = ast.Starred(value=ast.Name(id=_ARGS, ctx=ast.Load()), ctx=ast.Load())
        kwargs = ast.keyword(arg=None, value=ast.Name(id=_KWARGS, ctx=ast.Load()))
        made = ast.Call(func=inner, args=[*args, rest], keywords=[*keywords, kwargs])
        return ast.copy_location(made, node)

    def _partial_def(
        self, parent: _Scope, name: str, call: ast.Call, cls: str | None = None
    ) -> None:
        """A name bound to a partial: a def (kind "partial") whose one call is
        the wrapped function's, with what the partial binds and whatever its
        caller passes (``<args>``/``<kwargs>``: a DNS name from the caller)."""
        qual = f"{cls}.{name}" if cls else self._qual(parent, name)
        self.defs[qual] = ["partial", call.lineno]
        scope = _Scope(qual, {_ARGS, _KWARGS}, parent, cls)
        start = len(self.calls)
        self._call(scope, call)
        # `f = partial(f, ...)` wraps what `f` was before the binding, never the
        # partial itself: that self-call was a second finding at the same line
        # (issue #16: timm's `opt_class = partial(opt_class, ...)`, version 13).
        own = (f"L:{qual}", f"S:{qual}")
        self.calls[start:] = [c for c in self.calls[start:] if c[0] != qual or c[1] not in own]

    def _qual(self, scope: _Scope, name: str) -> str:
        if scope.qualname in ("<module>", "<main>"):
            return name
        return f"{scope.qualname}.{name}"

    def _function(
        self, parent: _Scope, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: str | None = None
    ) -> None:
        qual = f"{cls}.{node.name}" if cls else self._qual(parent, node.name)
        self.defs[qual] = ["func", node.lineno]
        a = node.args
        params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
        scope = _Scope(qual, params, parent, cls)
        decorators = [self._decorator_ref(parent, d) for d in node.decorator_list]
        plain = all(d in _PLAIN_DECORATORS for d in decorators)
        static = "B:staticmethod" in decorators
        scope.sig = _signature(a, plain, 1 if cls is not None and not static else 0)
        scope.args = a
        scope.decos = [d for d in decorators if d not in _PLAIN_DECORATORS]
        if node.decorator_list and cls is None and parent.qualname == "<module>":
            self._decorated.append((parent, qual, node.decorator_list, node.lineno))
        if node.decorator_list:
            self._decorated_call(parent, qual, node.decorator_list)
            self._dispatch_register(parent, qual, cls, node.decorator_list)
            if cls is not None and (
                _PROPERTY_DECORATORS.intersection(decorators)
                or any(
                    type(d) is ast.Attribute and d.attr in _ACCESSORS for d in node.decorator_list
                )
            ):
                # A setter of one name is this qual too; `@Base.state.getter`
                # in a subclass makes its own property.
                self.props[qual] = [f"L:{qual}"]
        scope.body = node.body
        self._scope(scope, node.body)
        if cls is None and parent.qualname == "<module>":
            n = _tuple_len(scope.own) if type(node) is ast.FunctionDef else None
            if n is None or node.decorator_list or qual in self.tuple_lens:
                n = -1  # decorated, async, two defs of one name: not known
            self.tuple_lens[qual] = n

    def _attr_read(self, scope: _Scope, node: ast.Attribute) -> None:
        """``Cls(b).state``, ``c.state`` (``c`` a local bound to ``Cls(...)``,
        or a module-level name so bound) or ``self.state``, read or written and
        not called: if ``Cls.state`` is a property, its getter (or setter) runs
        (version 17, session 25). Recorded as ``<Cls>.state.@`` and kept by
        graph.py only when the class (or a repository base) has that property,
        so a plain attribute or method read is no edge. ``self.x`` once per
        method and name, and beyond a property name of this file only as
        ``_inherited_reads`` keeps it (the commonest read of all)."""
        v = node.value
        attr = node.attr
        if type(v) is ast.Call:
            made = self._ref(scope, v.func)
            classes = [made] if made is not None and made[0] in "IL" else []
        elif v.id == "self":  # type: ignore[attr-defined]
            key = (id(scope), attr)
            if scope.cls is None or key in self._self_seen:
                return
            # Once per method and name: `self` is the same object at every
            # read, so a second read of one getter is no new route (the corpus
            # would otherwise hold ~13,000 more records, `self.config` first).
            self._self_seen.add(key)
            self._seen_scopes[id(scope)] = scope
            if type(node.ctx) is ast.Store:
                self._self_stored.add((scope.cls, attr))
            if attr in self._prop_names:
                self._record(scope, f"S:{scope.cls}.{attr}{_PROP}", node, _pr(node))
            else:
                self._self_reads.append((scope, node))  # ``_inherited_reads``
            return
        else:
            head: str = v.id  # type: ignore[attr-defined]
            local = [] if head in scope.unbound else self._local_refs(scope, head)
            if local:
                classes = [r.removesuffix(_MADE) for r in local if r.endswith(_MADE)]
            elif head in self.made and self._name(scope, head) == f"L:{head}":
                classes = [f"L:{head}"]  # `CKPT = Checkpoint(b)` at module level
            else:
                return
        for ref in classes:
            if not _foreign(ref):
                self._record(scope, f"{ref}.{attr}{_PROP}", node, _pr(node))

    def _class_item(self, scope: _Scope, node: ast.Subscript) -> None:
        """``Shards[path]``: a class subscripted runs its ``__class_getitem__``
        (session 27), a call of ``<Cls>.__class_getitem__`` that graph.py keeps
        only when the class (or a repository base) defines it. Read for a name
        bound to a class of this file or imported from a module that is not the
        standard library's, torch's or numpy's (``Optional[int]``,
        ``Dict[str, Any]``), once per scope and name (one class, one route)."""
        dotted = _key(node.value)
        key = (id(scope), f"[{dotted}")
        if dotted is None or type(node.ctx) is not ast.Load or key in self._self_seen:
            return
        self._self_seen.add(key)
        self._seen_scopes[id(scope)] = scope
        ref = self._ref(scope, node.value)
        if ref is None or ref[-1] in _MARK_ENDS or _foreign(ref):
            return
        if ref[:2] == "I:" or (ref[:2] == "L:" and ref[2:] in self.class_names):
            self._record(scope, f"{ref}.__class_getitem__", node, {"pa": ["*"]})

    def _inherited_reads(self) -> None:
        """``self.state`` where ``state`` may be a property of a base class in
        another file (version 17): the class has a base this file imports or
        defines (not the standard library's, torch's or numpy's), and its body
        does not bind ``state`` (a def or an assignment there shadows the
        base's property). A read of a name the class stores on ``self`` is
        left out (an instance attribute: most reads of all); the store itself
        is kept, because it shadows no property (a data descriptor: its
        setter runs, or the store raises), so a dead ``self.state = None``
        written to excuse the read is itself the call of the property.
        Read once all is known (the class's bases, its stores)."""
        for scope, node in self._self_reads:
            cls, attr = scope.cls, node.attr
            assert cls is not None
            if attr in self._class_binds.get(cls, ()):
                continue
            if type(node.ctx) is ast.Load and (cls, attr) in self._self_stored:
                continue
            bases = self.classes.get(cls, [[]])[0]
            if any(b[0] in "IL" and not _foreign(b) for b in bases):
                self._record(scope, f"S:{cls}.{attr}{_PROP}", node, _pr(node))

    def _decorated_call(self, parent: _Scope, qual: str, decorators: list[ast.expr]) -> None:
        """``@atexit.register`` (``@stack.callback``) bare on a def: the def is
        handed to a caller that runs it later, a call of it where the decorator
        is written (version 17, session 25). A new decoration of an old def is
        then a new call of it on the changed line."""
        for d in decorators:
            bare = type(d) is ast.Name or type(d) is ast.Attribute
            if bare and self._ref(parent, d, calls=True) in handed.DECORATING:
                self._record(parent, f"L:{qual}", d, {"pa": ["*"], "ho": 1})

    def _dispatch_register(
        self, parent: _Scope, qual: str, cls: str | None, decorators: list[ast.expr]
    ) -> None:
        """``@decode.register`` (or ``@decode.register(bytes)``) on a def, where
        ``decode`` is a def of this file (a ``functools.singledispatch``; of the
        class body for ``singledispatchmethod``): a call of ``decode`` may run
        this def, so ``decode`` calls it (version 18, session 26). Any other
        ``@x.register`` keeps the def for a later call where it is written, as
        ``x.register(f)`` does (``_keeps``)."""
        for d in decorators:
            target = d.func if type(d) is ast.Call else d
            if not (
                type(target) is ast.Attribute
                and target.attr == "register"
                and type(target.value) is ast.Name
            ):
                continue
            name = target.value.id
            disp = f"{cls}.{name}" if cls is not None else name
            if disp == qual:
                continue
            if self.defs.get(disp, [None])[0] != "func":
                self._record(parent, f"L:{qual}", d, {"pa": ["*"], "kp": 1})
                continue
            line, col, end = d.lineno, d.col_offset + 1, d.end_lineno or d.lineno
            self.calls.append([disp, f"L:{qual}", line, col, end, {"pa": ["*"]}])

    def _lambda(self, parent: _Scope, name: str, node: ast.Lambda, cls: str | None = None) -> None:
        qual = f"{cls}.{name}" if cls else self._qual(parent, name)
        self.defs[qual] = ["lambda", node.lineno]
        a = node.args
        params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
        body: list[ast.stmt] = [
            ast.Expr(value=node.body, lineno=node.lineno, col_offset=node.col_offset)
        ]
        scope = _Scope(qual, params, parent, cls)
        scope.sig = _signature(a, True, 1 if cls is not None else 0)
        scope.args = a
        self._scope(scope, body)

    def _class(self, parent: _Scope, node: ast.ClassDef, outer: str | None = None) -> None:
        if outer is not None:
            name = f"{outer}.{node.name}"  # a class in a class body: `A.B`, as Python names it
        elif parent.qualname not in ("<module>", "<main>"):
            # Classes inside functions: their methods are rarely called by name
            # from elsewhere; their calls still count for the enclosing function.
            name = f"{parent.qualname}.{node.name}"
        else:
            name = node.name
        self.defs[name] = ["class", node.lineno]
        if node.decorator_list and outer is None and parent.qualname == "<module>":
            self._decorated.append((parent, name, node.decorator_list, node.lineno))
        bases = [r for r in (self._ref(parent, b) for b in node.bases) if r is not None]
        self._class_bases[name] = self._class_bases.get(name, []) + bases
        self._class_statement(parent, name, node)
        # The class body's scope, its blocks included: a method under `if`,
        # `try`, `with`, ... is still `Class.method` (issue #16).
        own = self._class_own(node)
        self._note_class_dicts(name, own)
        find_class: bool | None = None
        top = set(map(id, node.body))
        stmt: Any  # dispatched on its exact type below
        for stmt in own:
            t = type(stmt)
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                if stmt.name == "find_class":
                    # A top-level def replaces what came before; one in a branch
                    # may not run (`if False:`), so what was there (maybe none,
                    # the base's) is kept beside it and the worse wins.
                    got = refuses_by_default(stmt)
                    find_class = got if id(stmt) in top else _merge_find_class(find_class, got)
                if id(stmt) not in top:
                    self.cond.add(f"{name}.{stmt.name}")
                self._function(parent, stmt, cls=name)
            elif t is ast.Assign and type(stmt.value) is ast.Lambda:
                for x in stmt.targets:
                    if type(x) is ast.Name:
                        if id(stmt) not in top:
                            self.cond.add(f"{name}.{x.id}")
                        self._lambda(parent, x.id, stmt.value, cls=name)
            elif t is ast.ClassDef and id(stmt) not in top:
                self.cond.add(f"{name}.{stmt.name}")
            elif t is ast.Assign or (t is ast.AnnAssign and stmt.value is not None):
                for attr in self._class_attr(parent, name, stmt):
                    if id(stmt) not in top:
                        self.cond.add(f"{name}.{attr}")
        old = self.classes.get(name)
        if old is not None:
            # The same name in two branches: either may be the class.
            bases = old[0] + [b for b in bases if b not in old[0]]
            find_class = _merge_find_class(old[1], find_class)
        self.classes[name] = [bases, find_class]
        # Its statements besides top-level defs, for _rewrapped; the calls of
        # the whole body (method decorators and defaults too) run where the
        # class is defined.
        body = [
            s
            for s in node.body
            if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and not (isinstance(s, ast.Assign) and isinstance(s.value, ast.Lambda))
        ]
        if body:
            self.class_bodies.append((name, body))
        self._scope_into(parent, own, name)

    def _class_statement(self, parent: _Scope, name: str, node: ast.ClassDef) -> None:
        """What a class statement runs with no call written (version 18, session
        26): each repository base's ``__init_subclass__`` and the metaclass's
        ``__prepare__``/``__new__``/``__init__``, where the base or the keyword
        is written; the metaclass's ``__call__`` runs at each ``Cls(...)``, a
        call of the class's own (graph.py links a class to its calls)."""
        for b in node.bases:
            ref = self._ref(parent, b)
            if ref is not None and ref[0] in "IL" and not _foreign(ref):
                self._record(parent, f"{ref}.__init_subclass__", b, {"pa": ["*"]})
        for k in node.keywords:
            meta = k.value
            if type(meta) is ast.Call:
                # `metaclass=make_meta()` (session 27): the methods of what the
                # call returns (`make_meta.__call__`, graph.py's returned attribute)
                meta = meta.func
            ref = self._ref(parent, meta) if k.arg == "metaclass" else None
            if ref is None or ref[0] not in "IL" or _foreign(ref):
                continue
            for meth in ("__prepare__", "__new__", "__init__"):
                self._record(parent, f"{ref}.{meth}", k.value, {"pa": ["*"]})
            line, col = k.value.lineno, k.value.col_offset + 1
            end = k.value.end_lineno or line
            self.calls.append([name, f"{ref}.__call__", line, col, end, {"pa": ["*"]}])

    def _class_own(self, node: ast.ClassDef) -> list[ast.AST]:
        """``_own_nodes`` of a class body, walked once: a module-level class is
        read first by ``_collect_module_names``, then by ``_class`` (issue #17).
        Popped on the second read (the list is not changed by either)."""
        got = self._class_walks.pop(id(node), None)
        if got is None:
            got = _own_nodes(node.body)
            if not self._class_read:
                self._class_walks[id(node)] = got
        return got

    def _note_class_dicts(self, cls: str, own: list[ast.AST]) -> None:
        """The class's attributes bound to a dict display (``class_dicts``), and
        the names its body defines (a dict value naming one is the method)."""
        members: set[str] = set()
        binds: set[str] = set()  # every name the body binds (version 17)
        node: Any
        for node in own:
            t = type(node)
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                members.add(node.name)
                if any(_looks_property(d) for d in node.decorator_list):
                    self._prop_names.add(node.name)  # `self.state` read (version 17)
            elif t is ast.Assign or t is ast.AnnAssign:
                targets = node.targets if t is ast.Assign else [node.target]
                binds.update(_names(node.target) if t is ast.AnnAssign else set())
                for x in targets:
                    binds.update(_names(x))
                    if type(x) is ast.Name and _is_dict(node.value):
                        self.class_dicts.add(f"{cls}.{x.id}")
                    elif type(x) is ast.Name and type(node.value) is ast.Lambda:
                        members.add(x.id)
                    elif type(x) is ast.Name and _looks_property(node.value):
                        self._prop_names.add(x.id)
        self._members[cls] = members
        self._class_binds[cls] = binds | members

    def _class_dict(self, parent: _Scope, cls: str, attr: str, value: ast.expr) -> None:
        """``HANDLERS = {"pickle": load_blob}`` in a class body (or bound to
        ``self.HANDLERS`` in a method): the dict ``Cls.HANDLERS`` (version 11,
        issue #16: ``self.HANDLERS[fmt](data)`` reached none of its values).
        A value naming a def of the class body is that method."""
        name = f"{cls}.{attr}"
        self.class_dicts.add(name)
        members = self._members.get(cls, set())
        for key, item in _dict_items(value):
            if type(item) is ast.Name and item.id in members:
                got = self.dicts.setdefault(name, [])
                entry = [_key_text(key), f"L:{cls}.{item.id}", item.lineno]
                if entry not in got:
                    got.append(entry)
            else:
                self._dict_entry(parent, name, key, item)

    def _class_dict_of(self, scope: _Scope, holder: ast.expr) -> str | None:
        """``Cls.X`` when ``holder`` (``self.X``, ``cls.X``, ``Cls.X``) is a dict
        attribute of a class of this file."""
        if type(holder) is not ast.Attribute:
            return None
        cls = self._attr_class(scope, holder.value)
        name = f"{cls}.{holder.attr}"
        return name if cls is not None and name in self.class_dicts else None

    def _class_attr(self, parent: _Scope, cls: str, node: ast.Assign | ast.AnnAssign) -> list[str]:
        """``load = pickle.loads`` / ``load = staticmethod(load_blob)`` in a class
        body (any branch): ``Cls.load(...)`` and ``Cls().load(...)`` call it
        (issue #16: a sink behind a class attribute). A partial is a def of
        its own: the names of those are returned (a block may not bind them)."""
        targets: list[ast.expr] = node.targets if isinstance(node, ast.Assign) else [node.target]
        assert node.value is not None
        paired = [p for x in targets for p in _pairs(x, node.value)]
        if len(paired) > 1:  # `load, dump = pickle.loads, pickle.dumps`
            return [
                name
                for t, v in paired
                if type(t) is ast.Name and v is not None
                for name in self._class_value(parent, cls, [t], v, node.lineno)
            ]
        return self._class_value(parent, cls, targets, node.value, node.lineno)

    def _class_value(
        self, parent: _Scope, cls: str, targets: list[ast.expr], value: ast.expr, line: int
    ) -> list[str]:
        """``_class_attr`` for one value bound to ``targets``."""
        if _is_dict(value):
            for t in targets:
                if type(t) is ast.Name:
                    self._class_dict(parent, cls, t.id, value)
            return []
        if (
            type(value) is ast.Call
            and type(value.func) is ast.Name
            and value.func.id == "staticmethod"
            and "staticmethod" not in self.module_names
            and len(value.args) == 1
            and not value.keywords
        ):
            value = value.args[0]
        if type(value) is ast.Lambda:
            return []
        names = [t.id for t in targets if type(t) is ast.Name]
        if self._property_value(parent, cls, names, value):
            return []
        call = self._partial(parent, value, bind=True) if names else None
        if call is not None:
            for attr in names:
                self._partial_def(parent, attr, call, cls)
            return names
        ref = self._value_ref(parent, value)
        if ref is None:
            return []
        for attr in names:
            got = self.class_attrs.setdefault(f"{cls}.{attr}", [])
            if [ref, line] not in got:
                got.append([ref, line])
        return []

    def _property_value(self, parent: _Scope, cls: str, names: list[str], value: ast.expr) -> bool:
        """``state = property(_get_state)`` (or ``fget=``) in a class body: reading
        ``obj.state`` runs the getter (version 17). A getter named by a def of
        the class body is that method; a lambda runs where it is written."""
        if not (
            type(value) is ast.Call
            and type(value.func) is ast.Name
            and value.func.id == "property"
            and "property" not in self.module_names
        ):
            return False
        fget = value.args[0] if value.args else None
        for k in value.keywords:
            if k.arg == "fget":
                fget = k.value
        ref: str | None = None
        if type(fget) is ast.Name and fget.id in self._members.get(cls, ()):
            ref = f"L:{cls}.{fget.id}"
        elif fget is not None and type(fget) is not ast.Lambda:
            ref = self._ref(parent, fget)
        if ref is not None:
            for attr in names:
                self.props[f"{cls}.{attr}"] = [ref]
        return True

    def _attr_binding(
        self, scope: _Scope, obj: ast.expr, attr: str, value: ast.expr, line: int
    ) -> None:
        """``self.loader = pickle.loads`` in a method (``cls.decode = ...`` in a
        classmethod, ``Codec.decode = ...`` for a class of this file): an
        attribute of the class, as if bound in its body; a partial is a def
        of its own (issue #16: bound in ``__init__``, called in another method)."""
        cls = self._attr_class(scope, obj)
        if cls is None:
            return
        if _is_dict(value):
            self._class_dict(scope, cls, attr, value)  # `self.handlers = {...}`
            return
        call = self._partial(scope, value, bind=True)
        if call is not None:
            self._partial_def(scope, attr, call, cls)
            return
        if type(value) is ast.Lambda:
            return  # an anonymous lambda's calls are this scope's
        ref = self._value_ref(scope, value)
        key = f"{cls}.{attr}"
        got = self.class_attrs.get(key, [])
        for r in [*([ref] if ref is not None else []), *self._alt_refs(scope, value, ref)]:
            # `self.load = self._impl`: as `L:` graph.py follows it with a depth
            # bound (a cycle `self.a = self.b; self.b = self.a` ends). Each ref
            # once, at its first line (a name bound in many methods), none left
            # out: a cap would let eight harmless bindings hide a ninth.
            r = "L:" + r[2:] if r.startswith("S:") else r
            if all(r != old for old, _line in got):
                got.append([r, line])
        if got:
            self.class_attrs[key] = got

    def _value_ref(self, scope: _Scope, value: ast.expr) -> str | None:
        """``_ref`` of a value bound to an attribute; a call's result is
        ``X.()`` (version 10: ``self.restore = Restore()`` in ``__init__``,
        then ``self.restore(data)`` runs ``Restore.__call__``)."""
        ref = self._ref(scope, value)
        if ref is None and type(value) is ast.Call:
            made = self._ref(scope, value.func)
            if made is not None and made[0] in "ILS" and not _foreign(made):
                return made + _CALLED
        return ref

    def _attr_class(self, scope: _Scope, obj: ast.expr) -> str | None:
        """The class of this file whose attribute ``obj.<attr>`` is: ``self``
        and ``cls`` in a method, or a class named here."""
        if type(obj) is not ast.Name:
            return None
        if obj.id in ("self", "cls") and scope.cls is not None:
            return scope.cls
        if obj.id not in self._class_heads:
            return None  # most attribute writes: not a class of this file
        ref = self._ref(scope, obj)
        if ref is not None and ref.startswith("L:") and ref[2:] in self.class_names:
            return ref[2:]
        return None

    def _scope_into(self, scope: _Scope, own: list[ast.AST], cls: str) -> None:
        """A class body's calls (the enclosing scope's) and nested classes."""
        for node in own:
            if isinstance(node, ast.Call):
                self._call(scope, node)
        for node in own:
            if isinstance(node, ast.ClassDef):
                self._class(scope, node, cls)

    # -- names --------------------------------------------------------------

    def _name(self, scope: _Scope, name: str) -> str | None:
        s: _Scope | None = scope
        while s is not None:
            if name in s.params:
                return None  # a parameter: whatever the caller passes
            if name in s.local_defs:
                return f"L:{s.local_defs[name]}"
            if name in s.imports:
                return s.imports[name]
            s = s.parent
        if name in self.aliases:
            return self.aliases[name]
        if name in self.module_names:
            return f"L:{name}"
        if name in _BUILTIN_SINKS and hasattr(builtins, name):
            return f"B:{name}"
        if name in self.block_names:
            return f"L:{name}"
        return None

    def _alt_refs(self, scope: _Scope, func: ast.expr, ref: str | None) -> list[str]:
        """The other refs a called name may hold: a def or import of the same
        name in another branch (``try: from fastio import load / except
        ImportError: def load``). Each is a call of its own (issue #16: the
        harmless twin must not hide the dangerous one)."""
        chain = _dotted(func)
        if chain is None:
            return []
        head, rest = chain[0], chain[1:]
        if head in ("self", "cls") and scope.cls is not None:
            return []
        # ``_local_refs``' first test inline: most heads are bound by no
        # function (issue #17: ~900k calls over the large corpus).
        local = [] if head in scope.unbound else _usable(self._local_refs(scope, head), rest, True)
        if local:
            # Every binding of the local, and the name it shadows (a binding
            # that does not resolve may leave it as it was): over-approximated.
            named = self._name(scope, head)
            heads = [*local, *([named] if named is not None else [])]
            full = [r if not rest else ".".join([r, *rest]) for r in heads]
            full = [r for r in full if not (r.startswith("B:") and rest)]
            return [r for i, r in enumerate(full) if r != ref and r not in full[:i]]
        alts: list[str] = []
        s: _Scope | None = scope
        while s is not None:
            if head in s.params:
                return []
            if head in s.local_defs or head in s.imports:
                alts = s.alts.get(head, [])
                break
            s = s.parent
        else:
            alts = self.alts.get(head, [])
        if len(alts) < 2 and (not alts or ref is not None):
            return []
        out = [".".join([a, *rest]) for a in alts]
        return [r for i, r in enumerate(out) if r != ref and r not in out[:i]]

    def _ref(
        self, scope: _Scope, func: ast.expr, calls: bool = False, elements: bool = False
    ) -> str | None:
        # `Cls(x).method()` is the method of what the inner call makes, and
        # `getattr(mod, "name")(...)` is `mod.name(...)` (issue #16: a helper
        # reached by name). Unwound in a loop: a chain of a thousand calls
        # parses, and a recursion on it did not finish (the file hid its sink).
        attrs: list[str] = []
        if (
            type(func) is ast.Attribute
            and scope.cls is not None
            and self._own_class(scope, func.value)
        ):
            return f"S:{scope.cls}.{func.attr}"  # `type(self).load`: as `self.load` (version 18)
        chain = _dotted(func)
        while chain is None:
            if type(func) is ast.Call and (mod := self._module_call(scope, func)) is not None:
                # `importlib.import_module("utils.io").load_blob`: the module
                # named by a literal is the import (issue #16).
                return ".".join([mod[1], *attrs[::-1]])
            if isinstance(func, ast.Attribute):
                peeled: list[str] = []
                inner: ast.expr = func
                while isinstance(inner, ast.Attribute):
                    peeled.append(inner.attr)
                    inner = inner.value
                if type(inner) is not ast.Call:
                    return None
                if self._module_call(scope, inner) is not None:
                    attrs += peeled  # `__import__("a.b").b.f`: attributes of the module
                    func = inner
                    continue
                if len(peeled) > 1:
                    return None
                attrs.append(func.attr)
                func = inner.func
            elif (got := self._getattr_literal(scope, func)) is not None:
                attrs.append(got[1])
                func = got[0]
            elif attrs:
                return None
            elif (calls or elements) and (item := self._element(scope, func)) is not None:
                return item  # `HANDLERS[name](x)`, `fn = HANDLERS.get(name)` (issue #16)
            elif calls and type(func) is ast.Call:
                # `make_loader()(path)`, `Loader()(path)`: what the result runs
                made = self._ref(scope, func.func)
                ok = made is not None and made[0] in "ILS" and made not in _PARTIALS
                return made + _CALLED if ok and made is not None else None
            else:
                return None
            chain = _dotted(func)
        head, rest = chain[0], chain[1:]
        if head in ("self", "cls") and scope.cls is not None and len(rest) == 1:
            base: str | None = f"S:{scope.cls}.{rest[0]}"
        else:
            local = (  # as in ``_alt_refs``
                [] if head in scope.unbound else _usable(self._local_refs(scope, head), rest, calls)
            )
            base = local[0] if local else self._name(scope, head)
            if base is None:
                return None
            if base.startswith("B:"):
                base = base if not rest else None
            else:
                base = ".".join([base, *rest])
        if not attrs or base is None:
            return base
        return ".".join([base, *attrs[::-1]]) if base[0] in "IL" else None

    def _own_class(self, scope: _Scope, node: ast.expr) -> bool:
        """``type(self)`` or ``self.__class__`` (``cls`` too) in a method: the
        class a ``self.method`` is looked up on (version 18, session 26)."""
        if type(node) is ast.Attribute:
            inner = node.value
            return node.attr == "__class__" and type(inner) is ast.Name and inner.id in _SELVES
        return (
            type(node) is ast.Call
            and type(node.func) is ast.Name
            and node.func.id == "type"
            and len(node.args) == 1
            and not node.keywords
            and type(node.args[0]) is ast.Name
            and node.args[0].id in _SELVES
            and self._name(scope, "type") is None
        )

    def _element(self, scope: _Scope, node: ast.expr) -> str | None:
        """``X[key]`` or ``X.get(key[, default])`` for a dict ``X`` the graph can
        read: a module-level dict display of this file (``L:X.[key]``), a
        name imported from another module (``I:...X.[key]``: graph.py finds
        out whether it is one), or a dict display bound in this function
        (recorded here under ``<function>.<name>``). The key is kept when it
        is a short literal string (``CODECS["json"]`` is not ``CODECS["pickle"]``)."""
        t = type(node)
        if t is ast.Subscript:
            base, key = node.value, node.slice  # type: ignore[attr-defined]
        elif (
            t is ast.Call
            and type(node.func) is ast.Attribute  # type: ignore[attr-defined]
            and node.func.attr == "get"  # type: ignore[attr-defined]
            and len(node.args) in (1, 2)  # type: ignore[attr-defined]
            and not node.keywords  # type: ignore[attr-defined]
        ):
            base, key = node.func.value, node.args[0]  # type: ignore[attr-defined]
        else:
            return None
        text = _key_text(key)
        mark = f".[{text or ''}]"
        if (
            type(base) is ast.Name
            and scope.qualname not in ("<module>", "<main>")
            and base.id not in scope.params
            and any(_is_dict(v) for v in scope.binds.get(base.id, ()))
        ):
            name = f"{scope.qualname}.{base.id}"
            if name not in self.dicts:
                self.dicts[name] = []
                for v in scope.binds[base.id]:
                    for k, item in _dict_items(v) if _is_dict(v) else ():
                        self._dict_entry(scope, name, k, item)
            return f"L:{name}{mark}"
        ref = self._ref(scope, base)
        if ref is None or not (ref[:2] in ("I:", "S:") or self._dict_ref(ref)):
            return None
        if ref[:2] != "I:" and ref[2:] not in self.dict_names and _not_a_key(key):
            return None  # `self.pos_embed[:, 1:]`, `self.blocks[0]`: a tensor, a list
        return ref + mark

    def _dict_ref(self, ref: str) -> bool:
        """A local ref that may be a dict: a module-level one, or an attribute
        of a class of this file (its own, or a base's: graph.py decides)."""
        if ref[:2] != "L:":
            return False
        return ref[2:] in self.dict_names or ref[2:].rpartition(".")[0] in self.class_names

    def _dict_entry(self, scope: _Scope, name: str, key: ast.expr | None, value: ast.expr) -> None:
        """One ``key: value`` of the dict ``name`` (``dicts``): every ref the
        value may be, a function, a class, an instance or an external callable;
        for ``**other`` (``key`` None), every element of ``other``."""
        if key is None:
            ref = self._ref(scope, value)
            if ref is not None and (ref[:2] == "I:" or self._dict_ref(ref)):
                ref += ".[]"
            else:
                ref = None
        else:
            ref = self._anon_ref(scope, name, value) or self._ref(scope, value, calls=True)
        refs = [ref] if ref is not None else []
        refs += self._alt_refs(scope, value, ref)
        # `self.state[n] = torch.zeros_like(p)`: no class of torch's or the
        # standard library's has a __call__ the repository wrote (``_FOREIGN``)
        refs = [r for r in refs if not (r.endswith(_CALLED) and _foreign(r))]
        if not refs:
            return  # a number, a string: nothing to call by name
        got = self.dicts.setdefault(name, [])
        text = _key_text(key)
        for r in refs:
            if [text, r, value.lineno] not in got:
                got.append([text, r, value.lineno])

    def _anon_ref(self, scope: _Scope, name: str, value: ast.expr) -> str | None:
        """A lambda or ``functools.partial`` stored in the dict ``name``: a def
        of its own, ``<name>.<lambda:line:col>`` (or ``<partial:...>``), made by
        ``_anon_defs`` (issue #16: ``{"pickle": lambda b: load_blob(b)}`` hid
        the helper from ``HANDLERS[fmt](data)``). None for any other value."""
        t = type(value)
        if t is ast.Lambda:
            kind = "lambda"
        elif t is ast.Call and self._partial(scope, value, bind=False) is not None:
            kind = "partial"
        else:
            return None
        qual = f"{name}.<{kind}:{value.lineno}:{value.col_offset + 1}>"
        if id(value) not in self._anon_seen:
            self._anon_seen.add(id(value))
            self._anon.append((scope, qual, value))
        return f"L:{qual}"

    def _anon_defs(self) -> None:
        """The defs ``_anon_ref`` named, read once every scope is (the writer's
        names are all known then). The scope that writes one keeps its calls
        too, as before (an anonymous lambda is called where it is written, for
        all this reads); the def's copies are edges only (``anon``), so a
        changed line's call is judged once."""
        while self._anon:
            parent, qual, value = self._anon.pop(0)
            if type(value) is ast.Lambda:
                a = value.args
                params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
                params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
                self.defs[qual] = ["lambda", value.lineno]
                scope = _Scope(qual, params, parent, None)
                scope.anon = True
                scope.sig = _signature(a, True, 0)
                body = ast.Expr(value=value.body, lineno=value.lineno, col_offset=value.col_offset)
                self._scope(scope, [body])
                continue
            call = self._partial(parent, value, bind=False)
            if call is not None:
                self.defs[qual] = ["partial", call.lineno]
                scope = _Scope(qual, {_ARGS, _KWARGS}, parent, None)
                scope.anon = True
                self._call(scope, call)

    def _fill(self, scope: _Scope, name: str, param: str, key: ast.expr) -> None:
        """``REG[key] = fn`` where ``fn`` is a parameter: the function stores
        what it is passed in the dict ``name`` (a registry decorator's body)."""
        index = scope.sig[param][0]
        if index is None:
            return  # keyword-only: no decorator passes it
        k: str | int | None = _key_text(key)
        outer = scope.parent
        if k is None and type(key) is ast.Name and outer is not None:
            got = outer.sig.get(key.id) if key.id not in scope.params else None
            k = got[0] if got is not None else None  # `register(name)`'s `name`
        self._fills.setdefault(scope.qualname, []).append((name, index, k))

    def _registrations(self) -> None:
        """A def (or class) of this file decorated by a registry of this file
        is an entry of its dict (version 11, issue #16): ``@register("pkl")``
        where ``register`` returns a def that stores its first parameter in
        ``REG``, or ``@register`` that does so itself. The key is the literal
        the decorator passes, when the store's key is that parameter."""
        for parent, qual, decorators, line in self._decorated:
            for d in decorators:
                call = d if type(d) is ast.Call else None
                ref = self._ref(parent, call.func if call is not None else d)
                if ref is not None and ref[:2] == "I:":
                    # another file's registry, maybe (version 13): joined there
                    args = [_key_text(a) for a in call.args[:_MAX_REG_ARGS]] if call else []
                    self._regs.append([qual, ref, 1 if call else 0, line, args])
                if ref is None or ref[:2] != "L:":
                    continue
                fillers = [ref[2:]]
                if call is not None:
                    fillers = [r[2:] for r, _ln in self.rets.get(ref[2:], ()) if r[:2] == "L:"]
                for filler in fillers:
                    for name, index, key in self._fills.get(filler, ()):
                        if index != 0:
                            continue
                        if isinstance(key, int):
                            arg = call.args[key] if call and key < len(call.args) else None
                            key = _key_text(arg) if arg is not None else None
                        got = self.dicts.setdefault(name, [])
                        if [key, f"L:{qual}", line] not in got:
                            got.append([key, f"L:{qual}", line])

    def _local_refs(self, scope: _Scope, head: str) -> list[str]:
        """The refs a function's local ``head`` is bound to (``fn = io.load_blob``,
        ``fn = getattr(io, "load_blob")``, ``mod = import_module("utils.io")``),
        every binding of the innermost function that assigns it, in any branch;
        empty when none resolves (then ``_name`` decides, as before). Issue #16:
        a helper called through a local alias. Memoised per scope, and a name
        met again while it is being resolved (``x = x.to(d)``) adds nothing:
        fifty rebindings of ``x`` cost fifty lookups, not fifty to a power."""
        if head in scope.unbound:
            return []
        s: _Scope | None = scope
        while s is not None and s.qualname not in ("<module>", "<main>"):
            # ``binds`` without its property call once computed: ~150k
            # lookups on a 200-file change (issue #17)
            values = (s._binds if s._binds is not None else s.binds).get(head)
            if values:
                return self._bound_refs(s, head, values)
            if head in s.params or head in s.local_defs or head in s.imports:
                break
            s = s.parent
        scope.unbound.add(head)  # no function assigns it: final
        return []

    def _bound_refs(self, s: _Scope, head: str, values: list[ast.expr]) -> list[str]:
        got = s.local_refs.get(head)
        if got is not None:
            return got
        key = (id(s), head)
        if key in self._resolving:
            self._cycles += 1
            return []
        cycles = self._cycles
        self._resolving.add(key)
        try:
            out: list[str] = []
            todo = list(values)
            while todo:
                v = todo.pop(0)
                if type(v) is ast.IfExp:  # `fn = io.load_blob if fast else json.loads`
                    todo += [v.body, v.orelse]
                    continue
                if type(v) is ast.BoolOp:  # `fn = custom or io.load_blob`
                    todo += v.values
                    continue
                if type(v) is ast.Constant or type(v) is ast.Lambda or id(v) in self._bound:
                    continue
                ref = self._ref(s, v, elements=True)
                if ref is None and type(v) is ast.Call:
                    # `io = IO()`: an instance, whose methods `io.load(...)`
                    # calls as `IO().load(...)` does (marked: not callable itself)
                    made = self._ref(s, v.func)
                    ref = made + _MADE if made is not None and made[0] in "IL" else None
                if ref is not None and ref not in out:
                    out.append(ref)
        finally:
            self._resolving.discard(key)
        if cycles == self._cycles or not self._resolving:
            s.local_refs[head] = out  # not cut short by a cycle: final
        return out

    def _module_call(self, scope: _Scope, node: ast.Call) -> tuple[str, str] | None:
        """(the module imported, the object returned) as refs, for
        ``importlib.import_module`` / ``__import__`` of a literal name; a
        relative one against a literal package or ``__package__``. None for
        a name chosen at run time (left as it was)."""
        if not node.args or type(node.func) not in (ast.Name, ast.Attribute):
            return None
        name = node.args[0]
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        kind = self._ref(scope, node.func)
        if kind == "B:__import__":
            return _dunder_import(node, name.value)
        if kind != "I:0:importlib.import_module":
            return None
        text = name.value
        dotted = text.lstrip(".")
        level = len(text) - len(dotted)
        if dotted and not all(p.isidentifier() for p in dotted.split(".")):
            return None
        if level == 0:
            return (f"I:0:{dotted}", f"I:0:{dotted}") if dotted else None
        package = node.args[1] if len(node.args) > 1 else None
        for k in node.keywords:
            package = k.value if k.arg == "package" else package
        if isinstance(package, ast.Name) and package.id == "__package__":
            if "__package__" in self.module_names or "__package__" in self.block_names:
                return None
            ref = f"I:{level}:{dotted}"
            return ref, ref
        if not (isinstance(package, ast.Constant) and isinstance(package.value, str)):
            return None
        parts = package.value.split(".")
        if level - 1 >= len(parts):
            return None
        full = ".".join([*parts[: len(parts) - (level - 1)], *([dotted] if dotted else [])])
        return f"I:0:{full}", f"I:0:{full}"

    def _getattr_literal(self, scope: _Scope, node: ast.expr) -> tuple[ast.expr, str] | None:
        """(obj, name) for the builtin ``getattr(obj, "name")`` (with or without
        a default)."""
        if not (
            type(node) is ast.Call
            and type(node.func) is ast.Name
            and node.func.id == "getattr"
            and len(node.args) in (2, 3)
            and not node.keywords
        ):
            return None
        name = node.args[1]
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        if not name.value.isidentifier() or self._name(scope, "getattr") is not None:
            return None
        return node.args[0], name.value

    # -- calls --------------------------------------------------------------

    def _call(self, scope: _Scope, node: ast.Call) -> None:
        func = node.func
        args = node.args
        ref = self._ref(scope, func, calls=True)
        alts = self._alt_refs(scope, func, ref)
        if ref is None and type(func) is ast.Attribute and type(func.value) is ast.Call:
            sup = self._super_refs(scope, func)  # version 18
            if sup:
                ref, alts = sup[0], [*sup[1:], *alts]
        if type(func) is ast.Name and args and func.id not in self.module_names:
            if func.id == "getattr" and type(args[0]) is ast.Call:
                # getattr(__import__(m), n) / getattr(importlib.import_module(m), n):
                # any callable, chosen by name at run time.
                inner = self._ref(scope, args[0].func)
                if inner in _DYN_IMPORTS:
                    dyn = [*args[0].args[:1], *args[1:2]]
                    if not all(_is_const(a) for a in dyn):
                        self._record(scope, "B:dynattr", node, self._dyn_flags(scope, [node]))
            elif func.id in ("setattr", "delattr"):
                self._setattr(scope, node)
        if type(func) is ast.Name:
            # `fn = getattr(mod, name)` before, `mod` a module chosen at run time
            bound = self._binds_of(scope, func.id)
            looks = [v for v in bound if type(v) is ast.Call and self._dyn_getattr(scope, v)]
            if looks:
                self._record(scope, "B:dynattr", node, self._dyn_flags(scope, looks))
        elif type(func) is ast.Call and self._dyn_getattr(scope, func):
            # `getattr(mod, name)(x)`
            self._record(scope, "B:dynattr", func, self._dyn_flags(scope, [func]))
        # Only a literal first argument names a module (``_module_call``'s own
        # test, first here: issue #17, a call per call of the file).
        mod = self._module_call(scope, node) if args and type(args[0]) is ast.Constant else None
        if mod is not None:
            self._record(scope, mod[0], node, {"imp": 1})  # runs the module, as `import`
        if type(func) is ast.Call and ref is not None and ref.endswith("]") and len(func.args) == 2:
            # `HANDLERS.get(name, fallback)(x)` may call the fallback
            fallback = self._ref(scope, func.args[1], calls=True)
            if fallback is not None and fallback != ref and fallback not in alts:
                alts = [*alts, fallback]
        elif type(func) is ast.Attribute and func.attr in ("update", "setdefault"):
            self._dict_call(scope, node, func)
        if ref is not None:
            if handed.HANDED.get(ref) is not None:  # ``_handed``'s first test
                self._handed(scope, node, ref)
        elif type(func) is ast.Name and func.id in handed.BUILTINS:
            self._handed(scope, node, ref)
        elif type(func) is ast.Attribute and func.attr in handed.KEYED_METHODS:
            self._handed_at(scope, node, None, (None, "key"))  # `blobs.sort(key=f)`
        self._keeps(scope, node, ref)
        anyattr = False
        if (
            ref is None
            and not alts
            and (type(func) is ast.Name or (type(func) is ast.Call and type(func.func) is ast.Name))
        ):
            # `getattr(import_module("train.ckpt_io"), fmt)(raw)`: any function
            # of a module named by a literal (version 14, issue #16). Only a
            # name or a call of one can be that (``_any_attr``; issue #17).
            alts = self._any_attr(scope, func)
            anyattr = bool(alts)
        if ref is None:
            if not alts:
                return
            ref, alts = alts[0], alts[1:]
        # The keywords read below, in one pass (the first of each, as written).
        hooks = star = False
        wo = shell = named_first = None
        keywords = node.keywords
        for k in keywords:
            if k.arg is None:  # `**kw`: what a local dict holds (version 16)
                keywords = self._keywords(scope, node)
                break
        for k in keywords:
            arg = k.arg
            if arg is None:
                star = True
            elif arg == "weights_only":
                wo = k.value if wo is None else wo
            elif arg == "shell":
                shell = k.value if shell is None else shell
            elif arg in _FIRST_KEYWORDS:
                named_first = k.value if named_first is None else named_first
            if not hooks and type(k.value) in _HOOK_TYPES and self._hooks(scope, k.value):
                hooks = True
        if not hooks:
            # Only a literal or a name can be "hooks" (``_hooks``): the others
            # are not asked (issue #17: a generator and a call per argument).
            for a in args:
                if type(a) in _HOOK_TYPES and self._hooks(scope, a):
                    hooks = True
                    break
        # Flags in the order the facts have always held them (cached JSON).
        flags: dict[str, Any] = {}
        rm = scope.result_methods.get(id(node))
        if rm:
            flags["rm"] = sorted(rm)
        if hooks:
            flags["hk"] = 1
        if star:
            # **kwargs: any keyword may be in there. 2: a `**x` other than a
            # parameter of the def, which may hold weights_only=False (version
            # 16; a parameter's is judged as before, the default kind).
            flags["star"] = 1
            for k in keywords:
                v = k.value
                if k.arg is None and not (type(v) is ast.Name and v.id in scope.params):
                    flags["star"] = 2
                    break
        if wo is not None:
            flags["wo"] = 1 if isinstance(wo, ast.Constant) and wo.value is True else 0
            wop = self._arg_code(scope, wo, any_default=True)
            if isinstance(wop, str):
                flags["wop"] = wop
        if flags.get("wo") != 1 and "wop" not in flags:
            guard = self._guard(scope, node)
            if guard is not None:
                # Under `if not P:` it runs only when the caller turned `P`
                # off: flagged there already (issue #16: timm's fallback).
                flags["wo"], flags["wop"] = 0, guard
        self._arg_codes(scope, node, flags, keywords)
        if not all(r[:2] == "B:" or _foreign(r) for r in (ref, *alts)):
            # Only a repository function can take a name on (a missing code
            # is 0: unsafe, so skipping the standard library's, torch's and
            # numpy's calls fails closed; issue #17: they are most calls).
            self._name_codes(scope, node, flags)
        if shell is not None:
            flags["shell"] = 0 if isinstance(shell, ast.Constant) and not shell.value else 1
        first = args[0] if args else named_first
        if first is not None:
            if _is_const(first):
                flags["c0"] = 1
            elif scope.params and scope.from_params(_names(first)):
                # Any callee: a re-exported lookup has any name (issue #16).
                flags["p0"] = 1
        if (
            not star
            and all(_is_const(a) for a in args)
            and all(_is_const(k.value) for k in keywords)
        ):
            flags["ac"] = 1
        if anyattr:
            flags["any"] = 1
        if (ref is not None and ref.endswith(_CALLED)) or any(a.endswith(_CALLED) for a in alts):
            given = self._inner_calls(scope, func)
            if given:
                flags["ni"] = given  # what the factory was passed (names.py)
        self._record(scope, ref, node, flags)
        for alt in alts:
            self._record(scope, alt, node, flags)
        if ref in _PARTIALS and id(node) not in self._bound:
            # `partial(load_blob)(data)`, `submit(partial(load_blob, p))`: as an
            # anonymous lambda, it is called where it is written
            made = self._partial(scope, node, bind=False)
            if made is not None:
                self._call(scope, made)

    def _super_refs(self, scope: _Scope, func: ast.Attribute) -> list[str]:
        """``super().load(x)`` (or ``super(Cls, self)``) in a method of ``Cls``:
        ``load`` of each repository base, looked up through its bases (version
        18, session 26: a subclass reached its base's sink by ``super()``)."""
        call = func.value
        if not (
            type(call) is ast.Call
            and type(call.func) is ast.Name
            and call.func.id == "super"
            and not call.keywords
            and scope.cls is not None
            and self._name(scope, "super") is None
        ):
            return []
        if call.args and len(call.args) != 2:
            return []
        first = call.args[0] if call.args else None
        if first is not None and not (
            type(first) is ast.Name and first.id == scope.cls.rpartition(".")[2]
        ):
            # `super(Other, self)`: after `Other` in the order, read as `Other`'s
            # own or its bases' (a superset: its bases are not known here)
            other = self._ref(scope, first)
            if other is None or other[0] not in "IL" or _foreign(other):
                return []
            return [f"{other}.{func.attr}"]
        bases = self._class_bases.get(scope.cls, ())
        return [f"{b}.{func.attr}" for b in bases if b[0] in "IL" and not _foreign(b)]

    def _keeps(self, scope: _Scope, node: ast.Call, ref: str | None) -> None:
        """The values a call stores for later (version 18, session 26): the
        argument of ``.append``/``.appendleft``/``.add`` (``.insert``'s
        second), of a ``.register`` (the last), a trainer's ``add_callback``
        or a module's ``register_*_hook`` (``_KEEPERS``; not a caller
        ``handed.py`` lists, whose record is its own), and the elements of a
        list, tuple or set display passed to any call but ``isinstance``/
        ``issubclass`` (a trainer's ``callbacks=[f]``, ``.extend([f])``)."""
        func, args = node.func, node.args
        if type(func) is ast.Attribute:
            keeper = _KEEPERS.get(func.attr) if ref not in handed.HANDED else None
            if keeper is not None and len(args) > max(keeper[0], 0):
                value = args[keeper[0]]
                if type(value) is not ast.Starred:
                    self._stored(scope, [value], appended=keeper[1])
        elif type(func) is ast.Name and func.id in _TYPE_TESTS and func.id not in self.module_names:
            return  # a tuple of classes tested against, never called
        for a in [*args, *(k.value for k in node.keywords)]:
            if type(a) in _DISPLAYS:
                self._stored(scope, a.elts)  # type: ignore[attr-defined]

    def _stored(self, scope: _Scope, values: list[ast.expr], appended: bool = False) -> None:
        """A function kept in a container is a call of it here: whatever reads
        the container may call it (``callbacks.append(run_tool)``, then ``for
        cb in callbacks: cb(cmd)``; the last session's doubt). graph.py
        follows only functions from a display (``kp`` 1: a class there, an
        ``isinstance`` tuple or a list of layer types, is not made by being
        kept); a class appended (``kp`` 2: ``PLUGINS.append(Warmup)``) is made
        by what reads the list, as a plugin registry does."""
        for value in values:
            if type(value) is ast.Call:
                # `callbacks.append(Hook())`: what calling the kept result runs
                # (an instance's `__call__`, a factory's function)
                target = self._ref(scope, value, calls=True)
                if target is None or not target.endswith(_CALLED):
                    continue
            elif type(value) is ast.Name or type(value) is ast.Attribute:
                target = self._ref(scope, value)
                if target is None or target[-1] in _MARK_ENDS:
                    continue
            else:
                continue
            if target[0] not in "ILS":
                continue
            if _foreign(target) or target in handed.HANDED:
                continue
            self._record(scope, target, value, {"pa": ["*"], "kp": 2 if appended else 1})

    def _any_attr(self, scope: _Scope, func: ast.expr) -> list[str]:
        """``M.*`` refs for a call of ``getattr(M, name)`` (or of a local bound
        to one) where ``name`` is not a literal and ``M`` is a module named by
        a literal: ``importlib.import_module("m")``/``__import__`` written in
        place or bound to a name (version 14, issue #16). Any function of
        ``m`` may be the one called; graph.py reads the ``*``. A module named
        at run time is ``B:dynattr`` (``_dyn_getattr``); ``getattr(torch.optim,
        name)`` of an imported module stays a lookup among known names."""
        if type(func) is ast.Name:
            values = [v for v in self._binds_of(scope, func.id) if type(v) is ast.Call]
        elif type(func) is ast.Call:
            values = [func]
        else:
            return []
        out: list[str] = []
        for v in values:
            args = v.args
            if not (
                type(v.func) is ast.Name
                and v.func.id == "getattr"
                and len(args) in (2, 3)
                and not v.keywords
                and not _is_const(args[1])
                and self._name(scope, "getattr") is None
            ):
                continue
            mods: list[ast.expr] = [args[0]]
            if type(args[0]) is ast.Name:
                mods = [b for b in self._binds_of(scope, args[0].id) if type(b) is ast.Call]
            for m in mods:
                got = self._module_call(scope, m) if type(m) is ast.Call else None
                if got is not None and got[1] + _ANY not in out:
                    out.append(got[1] + _ANY)
        return out

    def _handed(self, scope: _Scope, node: ast.Call, ref: str | None) -> None:
        """A function passed to a caller that runs it (``handed.py``, version
        14): a call of it here, with unknown positional arguments (issue #16:
        ``ex.map(restore_blob, blobs)`` names the helper but calls nothing)."""
        func = node.func
        if ref is not None:
            spot = handed.HANDED.get(ref)
        elif (
            type(func) is ast.Name
            and func.id in handed.BUILTINS
            and func.id not in self.module_names
            and func.id not in self.block_names
            and self._name(scope, func.id) is None
            and not self._local_refs(scope, func.id)
        ):
            spot = handed.BUILTINS[func.id]
        else:
            return
        if spot is not None:
            self._handed_at(scope, node, ref, spot)
        also = handed.ALSO.get(ref) if ref is not None else None
        if also is not None:
            self._handed_at(scope, node, ref, also)  # `DataLoader(worker_init_fn=f)`

    def _handed_at(
        self, scope: _Scope, node: ast.Call, ref: str | None, spot: tuple[int | None, str | None]
    ) -> None:
        """The call of the function ``node`` passes at ``spot`` (position, keyword)."""
        pos, keyword = spot
        value: ast.expr | None = None
        args = node.args
        if (
            pos is not None
            and len(args) > pos
            and not any(type(a) is ast.Starred for a in args[: pos + 1])
        ):
            value = args[pos]
        for k in node.keywords:
            if keyword is not None and k.arg == keyword:
                value = k.value
        if value is None or type(value) not in (ast.Name, ast.Attribute):
            return  # a lambda or partial is read where it is written
        target = self._ref(scope, value)
        if target is None or target[0] not in "ILS" or target in handed.HANDED:
            return
        flags: dict[str, Any] = {"pa": ["*"], "ho": 1}
        if any(k.arg is None or k.arg in handed.FORWARDS_KEYWORDS for k in node.keywords) or (
            ref in handed.FORWARDS_OWN and any(k.arg != keyword for k in node.keywords)
        ):
            flags["star"] = 1  # keywords reach it too: any may be weights_only=False
        self._record(scope, target, node, flags)

    def _dyn_getattr(self, scope: _Scope, node: ast.Call) -> bool:
        """``getattr(mod, name)`` (the builtin) where ``name`` is not a literal and
        ``mod`` a name bound to a module named at run time (version 11, issue
        #16): ``mod = importlib.import_module(spec); fn = getattr(mod, name);
        fn(x)`` is ``getattr(import_module(spec), name)(x)`` split so that no
        line shows both. Its caller calls the result (``_call``): a value only
        stored, tested or returned is not a call here, and a fixed module's
        attribute by name (``getattr(import_module("..utils"), flag_fn)``) is
        a lookup among what that module defines.
        """
        func, args = node.func, node.args
        if not (
            type(func) is ast.Name
            and func.id == "getattr"
            and len(args) in (2, 3)
            and type(args[0]) is ast.Name
            and not _is_const(args[1])
            and self._name(scope, "getattr") is None
        ):
            return False
        return any(
            type(v) is ast.Call
            and bool(v.args)
            and not _is_const(v.args[0])
            and self._ref(scope, v.func) in _DYN_IMPORTS
            for v in self._binds_of(scope, args[0].id)
        )

    def _dyn_lookup(self, scope: _Scope, value: ast.expr, depth: int) -> bool:
        """``value`` is a callable looked up by name in a module named at run
        time, neither name a literal: ``getattr(import_module(m), n)``,
        ``getattr(mod, n)`` with ``mod`` bound to such an import, a local
        bound to either, or a side of an ``if``/``else`` or ``or`` of one. A
        literal module (``getattr(torch.optim, name)``) or attribute (a
        plugin's fixed entry point) is a lookup among known names."""
        t = type(value)
        if depth > 3:
            return False
        if t is ast.IfExp:
            sides = [value.body, value.orelse]  # type: ignore[attr-defined]
            return any(self._dyn_lookup(scope, v, depth + 1) for v in sides)
        if t is ast.BoolOp:
            return any(self._dyn_lookup(scope, v, depth + 1) for v in value.values)  # type: ignore[attr-defined]
        if t is ast.Name:
            bound = self._binds_of(scope, value.id)  # type: ignore[attr-defined]
            return any(self._dyn_lookup(scope, v, depth + 1) for v in bound)
        if t is not ast.Call:
            return False
        call: ast.Call = value  # type: ignore[assignment]
        if self._dyn_getattr(scope, call):
            return True
        args = call.args
        if not (
            type(call.func) is ast.Name
            and call.func.id == "getattr"
            and len(args) in (2, 3)
            and not call.keywords
            and type(args[0]) is ast.Call
            and not _is_const(args[1])
            and self._name(scope, "getattr") is None
        ):
            return False
        inner: ast.Call = args[0]
        return (
            bool(inner.args)
            and not _is_const(inner.args[0])
            and self._ref(scope, inner.func) in _DYN_IMPORTS
        )

    # -- the names of callables chosen at run time (version 20, names.py) ---

    def _flow(self, scope: _Scope) -> names.Flow:
        if scope.name_flow is None:
            scope.name_flow = names.Flow(scope.own, set(scope.sig), _nonlocals)
        return scope.name_flow

    def _name_param(self, scope: _Scope, param: str) -> None:
        """Record ``param``'s signature for graph.py (``np``, ``ne``)."""
        a, sig = scope.args, scope.sig.get(param)
        if a is None or sig is None:
            return
        default = names.default_of(a, param)
        harmless = default is None or (
            not isinstance(default, ast.AST) and names.safe_literal(default)
        )
        ok = not scope.decos and harmless
        got = [sig[0], 1 if ok else 0, sig[2]]
        if ok and (name := names.dotted(default)) is not None:
            got.append(name)  # version 21: a default that may name a repository function
        self.nparams.setdefault(scope.qualname, {})[param] = got
        if scope.decos:
            self.nentry[scope.qualname] = scope.decos

    def _name_code(self, scope: _Scope, value: ast.expr, lits: list[str]) -> names.Code:
        t = type(value)
        if t is ast.Constant:
            v = value.value  # type: ignore[attr-defined]
            return names.literal_code(v, lits) if v is None or isinstance(v, str) else 0
        if t is ast.Name:
            if value.id not in scope.params and value.id not in scope.counts:  # type: ignore[attr-defined]
                return 0  # a global, a builtin, a closure's name
        elif t is ast.Starred or not scope.params or not scope.from_params(_names(value)):
            return 0  # nothing of a parameter's in it (the taint search is memoised)
        got = names.code(self._flow(scope), value, 0, lits)
        if isinstance(got, str):
            self._name_param(scope, got)
        return got

    def _name_codes(self, scope: _Scope, node: ast.Call, flags: dict[str, Any]) -> None:
        """``nc``: each argument's name code that is not 0, positions as
        "0", "1", ... (none after a starred one: positions unknown)."""
        nc: dict[str, names.Code] = {}
        nl: dict[str, list[str]] = {}  # version 21: the dotted literals among them
        pairs = []
        for i, a in enumerate(node.args):
            if type(a) is ast.Starred:
                break
            pairs.append((str(i), a))
        pairs += [(k.arg, k.value) for k in node.keywords if k.arg is not None]
        for key, value in pairs:
            lits: list[str] = []
            c = self._name_code(scope, value, lits)
            if c != 0:
                nc[key] = c
                if lits:
                    nl[key] = sorted(set(lits))
        if nc:
            flags["nc"] = nc
        if nl:
            flags["nl"] = nl

    def _inner_calls(self, scope: _Scope, func: ast.expr) -> list[dict[str, Any]]:
        """What each call whose result is called here passed (``ni``):
        ``make(x)(y)`` or ``fn = make(x); fn(y)``."""
        if type(func) is ast.Call:
            calls = [func]
        elif type(func) is ast.Name:
            stores = self._flow(scope).stores.get(func.id, ())
            calls = [v for k, _at, v in stores if k == "v" and type(v) is ast.Call]
        else:
            return []
        out: list[dict[str, Any]] = []
        for c in calls:
            got: dict[str, Any] = {}
            starred = any(type(a) is ast.Starred for a in c.args)
            got["n"] = -1 if starred else len(c.args)
            got["k"] = sorted(k.arg for k in c.keywords if k.arg is not None)
            if any(k.arg is None for k in c.keywords):
                got["s"] = 1
            self._name_codes(scope, c, got)
            out.append(got)
        return out

    def _dyn_flags(self, scope: _Scope, looks: list[ast.Call]) -> dict[str, Any]:
        """``dn``: the parameter a lookup's names all come from, if one."""
        param = self._lookup_param(scope, looks)
        return {"dn": param} if param else {}

    def _lookup_param(self, scope: _Scope, looks: list[ast.Call]) -> str | None:
        exprs: list[ast.expr] = []
        for call in looks:
            got = self._lookup_names(scope, call, 0, set())
            if got is None:
                return None
            exprs += got
        param = names.param_of(self._flow(scope), exprs) if exprs and scope.params else None
        if param is not None:
            self._name_param(scope, param)
            if param not in self.nparams.get(scope.qualname, {}):
                return None  # `*args`, `**kwargs`: no signature to judge by
        return param

    def _lookup_names(
        self, scope: _Scope, call: ast.Call, depth: int, busy: set[str]
    ) -> list[ast.expr] | None:
        """The module and attribute names of ``getattr(M, n)``: ``n`` and the
        name each import ``M`` is bound to takes (``M = getattr(M, n2)``
        walking down a dotted path adds ``n2``); None when ``M`` is bound
        to anything else."""
        args = call.args
        if depth > 4 or len(args) < 2:
            return None
        out = [args[1]]
        mod = args[0]
        if type(mod) is ast.Call:
            if self._ref(scope, mod.func) not in _DYN_IMPORTS or not mod.args:
                return None
            return [*out, mod.args[0]]
        if type(mod) is not ast.Name or mod.id in busy:
            return out if type(mod) is ast.Name else None
        busy = busy | {mod.id}
        for kind, _at, v in self._flow(scope).stores.get(mod.id, ()):
            if kind != "v" or type(v) is not ast.Call:
                return None
            if self._ref(scope, v.func) in _DYN_IMPORTS and v.args:
                out.append(v.args[0])
                continue
            f = v.func
            if not (type(f) is ast.Name and f.id == "getattr"):
                return None
            more = self._lookup_names(scope, v, depth + 1, busy)
            if more is None:
                return None
            out += more
        return out

    def _lookups(self, scope: _Scope, value: ast.expr, depth: int) -> list[ast.Call] | None:
        """The ``getattr`` calls ``_dyn_lookup`` found in a returned value."""
        t = type(value)
        if depth > 3:
            return None
        if t is ast.IfExp or t is ast.BoolOp:
            sides = [value.body, value.orelse] if t is ast.IfExp else value.values  # type: ignore[attr-defined]
            sub = [
                self._lookups(scope, v, depth + 1)
                for v in sides
                if self._dyn_lookup(scope, v, depth + 1)
            ]
            return None if any(x is None for x in sub) else [c for x in sub for c in x or ()]
        if t is ast.Name:
            bound = self._binds_of(scope, value.id)  # type: ignore[attr-defined]
            sub = [
                self._lookups(scope, v, depth + 1)
                for v in bound
                if self._dyn_lookup(scope, v, depth + 1)
            ]
            return None if any(x is None for x in sub) else [c for x in sub for c in x or ()]
        return [value] if t is ast.Call else None  # type: ignore[list-item]

    def _binds_of(self, scope: _Scope, name: str) -> list[ast.expr]:
        """The values bound to ``name`` in the innermost scope (from ``scope``
        out) that binds it; none when a parameter or nothing binds it first."""
        s: _Scope | None = scope
        while s is not None:
            if name in s.params:
                return []
            values = s.binds.get(name)
            if values:
                return values
            s = s.parent
        return []

    def _dict_call(self, scope: _Scope, node: ast.Call, func: ast.Attribute) -> None:
        """``HANDLERS.update({...})`` / ``update(k=f)`` / ``setdefault(k, f)`` on a
        module-level dict: more entries (``dicts``)."""
        base = func.value
        name = self._class_dict_of(scope, base)  # `self.HANDLERS.update(...)`
        if name is None:
            if type(base) is not ast.Name or base.id not in self.dict_names:
                return
            if self._ref(scope, base) != f"L:{base.id}":
                return  # a local of the same name
            name = base.id
        if func.attr == "setdefault":
            if len(node.args) == 2:
                self._dict_entry(scope, name, node.args[0], node.args[1])
            return
        items = _dict_items(node.args[0]) if node.args and _is_dict(node.args[0]) else []
        items += [(ast.Constant(k.arg) if k.arg else None, k.value) for k in node.keywords]
        for key, value in items:
            self._dict_entry(scope, name, key, value)

    def _decorator_ref(self, scope: _Scope, node: ast.expr) -> str | None:
        func = node.func if isinstance(node, ast.Call) else node
        if isinstance(func, ast.Name) and func.id in ("staticmethod", "classmethod", "property"):
            return None if func.id in self.module_names else f"B:{func.id}"
        return self._ref(scope, func)

    def _arg_code(self, scope: _Scope, value: ast.expr, any_default: bool = False) -> int | str:
        """1: a literal True; a parameter's name: passed as the caller got it (only
        one that defaults to True unless ``any_default``: any other is unsafe
        anyway); 0: anything else (graph.py: what reaches ``weights_only``)."""
        if isinstance(value, ast.Constant):
            return 1 if value.value is True else 0
        if (
            isinstance(value, ast.Name)
            and value.id in scope.sig
            and value.id not in scope.rebound
            and (any_default or scope.sig[value.id][1] is True)
        ):
            got = self.params.setdefault(scope.qualname, {})
            old, sig = got.get(value.id), scope.sig[value.id]
            if old is not None and old is not sig and old != sig:
                # Two defs of one name (branches) disagree: no default is
                # known, so neither counts as safe (issue #16).
                sig = [old[0], None, old[2]]
            got[value.id] = sig
            return value.id
        return 0

    def _keywords(self, scope: _Scope, node: ast.Call) -> list[ast.keyword]:
        """``node``'s keywords, each ``**kw`` of a dict ``woflow.dict_entries``
        vouches for replaced by its entries (a value not known: a name no
        code can hold, so 0); any other ``**x`` as written."""
        out: list[ast.keyword] = []
        for k in node.keywords:
            entries = None
            v = k.value
            param = type(v) is ast.Name and v.id in scope.params
            if k.arg is not None or param:
                out.append(k)
                continue
            if type(v) is ast.Name and scope.body is not None:
                bound = scope.binds.get(v.id, [])
                if len(bound) == 1 and self._dict_made(scope, bound[0]) and scope.short:
                    if v.id not in scope.kw_dicts:  # one walk per name and def
                        scope.kw_dicts[v.id] = woflow.dict_entries(scope.body, v.id, bound[0])
                    entries = scope.kw_dicts[v.id]
            elif self._dict_made(scope, v):
                entries = woflow.dict_entries([], "", v)  # `**{...}` written in place
            if entries is None:
                out.append(k)
                continue
            for key, values in entries.items():
                one = values[0] if len(values) == 1 else None
                out.append(ast.keyword(arg=key, value=one or ast.Name(id="<unknown>")))
        return out

    def _dict_made(self, scope: _Scope, value: ast.expr) -> bool:
        """A dict display, or a call of the builtin ``dict`` (not shadowed)."""
        if type(value) is ast.Dict:
            return True
        f = value.func if type(value) is ast.Call else None
        if type(f) is not ast.Name or f.id != "dict" or self._name(scope, "dict") is not None:
            return False
        s: _Scope | None = scope
        while s is not None:  # a parameter or local named `dict` is not the builtin
            if "dict" in s.params or "dict" in s.binds:
                return False
            s = s.parent
        return "dict" not in self.module_names and "dict" not in self.block_names

    def _guard(self, scope: _Scope, node: ast.Call) -> str | None:
        """The True-default parameter ``P`` never rebound whose ``if not P:``
        body holds ``node`` (``woflow.not_guards``), if any."""
        if scope.guards is None:
            ps = {p for p, s in scope.sig.items() if s[1] is True}
            scope.guards = woflow.not_guards(scope.body, ps) if ps and scope.body else {}
        p = scope.guards.get(id(node)) if scope.guards else None
        if p is None or p in scope.rebound:
            return None
        got = self._arg_code(scope, ast.Name(id=p))  # records it in ``params``
        return got if isinstance(got, str) else None

    def _arg_codes(
        self,
        scope: _Scope,
        node: ast.Call,
        flags: dict[str, Any],
        keywords: list[ast.keyword] | None = None,
    ) -> None:
        pa: list[int | str] = []
        for a in node.args:
            if type(a) is ast.Starred:
                pa += self._starred(scope, a.value)
            else:
                pa.append(self._arg_code(scope, a))
        if pa:
            flags["pa"] = pa
        kn = {
            k.arg: c
            for k in (node.keywords if keywords is None else keywords)
            if k.arg is not None and (c := self._arg_code(scope, k.value)) != 1
        }
        if kn:
            flags["kn"] = kn

    def _starred(self, scope: _Scope, value: ast.expr) -> list[int | str]:
        """Codes for ``*value`` (issue #16, timm's ``*pretrained_loc``): one per
        element of a tuple or list display, or of a tuple display bound once
        to a local (not a parameter); ``"*<ref>"`` for a local bound once to a
        call of ``ref`` (graph.py: as many unknown positions as every return
        of that function has elements); ``"*"`` (any number) otherwise."""
        t = type(value)
        if t is ast.Name and value.id not in scope.params:  # type: ignore[attr-defined]
            bound = scope.binds.get(value.id, [])  # type: ignore[attr-defined]
            if len(bound) != 1 or scope.counts.get(value.id) != 1:  # type: ignore[attr-defined]
                return ["*"]  # re-bound, unpacked, mutated in place (``+=``) or unknown
            value, t = bound[0], type(bound[0])
            if t is ast.Call:
                ref = self._ref(scope, value.func)  # type: ignore[attr-defined]
                return [f"*{ref}"] if ref is not None and ref[:2] in ("L:", "I:") else ["*"]
            if t is ast.List:
                return ["*"]  # a list can grow between its binding and the call
        if t is not ast.Tuple and t is not ast.List:
            return ["*"]
        elts: list[ast.expr] = value.elts  # type: ignore[attr-defined]
        if any(type(e) is ast.Starred for e in elts):
            return ["*"]
        return [self._arg_code(scope, e) for e in elts]

    # -- what functions return, what assignments patch (returns.py) ---------

    def _return(self, scope: _Scope, value: ast.expr) -> None:
        if scope.qualname in ("<module>", "<main>"):
            return
        if type(value) in _DISPLAYS:
            self._stored(scope, value.elts)  # type: ignore[attr-defined]
        t = type(value)
        if t is ast.Name or t is ast.Attribute or t is ast.Subscript:
            # A factory: `return _load` (a nested def), `return Loader`,
            # `return pickle.loads`, `return HANDLERS[fmt]`; graph.py follows
            # `make()(x)` into it.
            ref = self._ref(scope, value, calls=True)
            refs = [ref] if ref is not None else []
            refs += self._alt_refs(scope, value, ref)
            got = self.rets.setdefault(scope.qualname, [])
            for r in refs:  # no cap: eight harmless returns must not hide a ninth
                if [r, value.lineno] not in got:
                    got.append([r, value.lineno])
            if not got:
                del self.rets[scope.qualname]
        if self._dyn_lookup(scope, value, 0):
            # Version 20: the parameter the name comes from, if one (names.py).
            looks = self._lookups(scope, value, 0)
            param = self._lookup_param(scope, looks) if looks else None
            old = self.dnr.get(scope.qualname)
            self.dnr[scope.qualname] = param if param and old in (None, param) else ""
            # `return getattr(import_module(m), n)`: a caller's `locate(s)(x)`
            # calls a callable chosen by name at run time (version 12, issue
            # #16); only a call of the result reads `rets`, so storing it or
            # `cls.from_pretrained(...)` on it stays quiet.
            got = self.rets.setdefault(scope.qualname, [])
            if ["B:dynattr", value.lineno] not in got:
                got.append(["B:dynattr", value.lineno])
        got = self.returns.setdefault(scope.qualname, [])
        for ref, line in self._returned(scope, value, 0):
            if len(got) < _MAX_RETURNS and [ref, line] not in got:
                got.append([ref, line])
        if not got:
            del self.returns[scope.qualname]
        if scope.qualname not in self.git_paths:
            git = self._git_join(scope, value, 0)
            if git is not None:
                self.git_paths[scope.qualname] = git

    def _returned(self, scope: _Scope, value: ast.expr, depth: int) -> list[tuple[str, int]]:
        """Refs of the calls whose result ``value`` is: a call, a local bound
        to one, or ``wrap_socket`` of either (the wrapped socket is returned)."""
        if depth > 3:
            return []
        if isinstance(value, ast.Call):
            if isinstance(value.func, ast.Attribute) and value.func.attr == "wrap_socket":
                inner = value.args[0] if value.args else None
                return self._returned(scope, inner, depth + 1) if inner is not None else []
            ref = self._ref(scope, value.func)
            return [(ref, value.lineno)] if ref is not None else []
        k = _key(value)
        if k is None or "." in k:
            return []
        out: list[tuple[str, int]] = []
        for bound in scope.binds.get(k, ()):
            out += self._returned(scope, bound, depth + 1)
        return out

    def _git_join(self, scope: _Scope, value: ast.expr, depth: int) -> int | None:
        """Where ``value`` joins a literal ``.git`` with the parameters."""
        if isinstance(value, ast.Name) and depth < 3:
            for bound in scope.binds.get(value.id, ()):
                got = self._git_join(scope, bound, depth + 1)
                if got is not None:
                    return got
            return None
        if not isinstance(value, (ast.Call, ast.BinOp, ast.JoinedStr)):
            return None
        line = _git_constant(value)
        if line is None or not scope.from_params(_names(value)):
            return None
        return line

    def _assign(self, scope: _Scope, node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if isinstance(node, ast.Assign) and _is_hooks(node.value):
            scope.hook_names |= {t.id for t in targets if isinstance(t, ast.Name)}
        assigned = None if isinstance(node, ast.AugAssign) else node.value
        if (
            node.value is not None
            and type(node.value) in _DISPLAYS
            and not any(type(t) is ast.Tuple or type(t) is ast.List for t in targets)
        ):
            # `hooks = [run_tool]` keeps it; `parse, fn = a, b` unpacks (a binding)
            self._stored(scope, node.value.elts)  # type: ignore[attr-defined]
        # `torch.load, x = f, 1` writes as `torch.load = f` does
        pairs: list[tuple[ast.expr, ast.expr | None]] = []
        for x in targets:
            if type(x) is ast.Tuple or type(x) is ast.List:
                pairs += _pairs(x, assigned)
            else:
                pairs.append((x, assigned))
        for t, value in pairs:
            if isinstance(t, ast.Attribute) and t.attr in _FUNC_ATTRS:
                self._func_write(t.value)
            if isinstance(t, ast.Subscript):
                if (
                    value is not None
                    and type(t.value) is ast.Name
                    and t.value.id in self.dict_names
                    and self._ref(scope, t.value) == f"L:{t.value.id}"
                ):
                    # `HANDLERS["pkl"] = _restore`, anywhere in the file
                    self._dict_entry(scope, t.value.id, t.slice, value)
                    if type(value) is ast.Name and value.id in scope.sig:
                        self._fill(scope, t.value.id, value.id, t.slice)
                elif value is not None and (held := self._class_dict_of(scope, t.value)):
                    self._dict_entry(scope, held, t.slice, value)  # `self.HANDLERS[k] = f`
                self._dict_write(scope, t, node)
                continue
            if not isinstance(t, ast.Attribute):
                continue
            if value is not None:
                self._attr_binding(scope, t.value, t.attr, value, node.lineno)
            ref = self._obj_ref(scope, t.value)
            if ref is None:
                continue
            if value is not None:
                self._hook_set(scope, f"{ref}.{t.attr}", value, node)
            flags: dict[str, Any] = {}
            if (
                isinstance(node, ast.Assign)
                and value is not None
                and self._restores(scope, t, value)
            ):
                flags["restore"] = 1
            self._write(scope, ref, t.attr, node, flags)

    def _hook_set(self, scope: _Scope, place: str, value: ast.expr, node: ast.AST) -> None:
        """``sys.excepthook = report_crash`` (or ``setattr(sys, "excepthook",
        f)``): the interpreter calls the function later, with no call of it
        written (session 27), as ``atexit.register(f)`` does (``ho``)."""
        if place not in handed.HOOK_ATTRS or type(value) not in (ast.Name, ast.Attribute):
            return  # a lambda is read where it is written
        target = self._ref(scope, value)
        if target is None or target[0] not in "ILS" or target in handed.HANDED:
            return
        self._record(scope, target, node, {"pa": ["*"], "ho": 1})

    def _dict_write(self, scope: _Scope, t: ast.Subscript, node: ast.stmt) -> None:
        """``obj.__dict__[name] = v`` and ``vars(obj)[name] = v``: the same patch."""
        holder = t.value
        obj: ast.expr | None = None
        if isinstance(holder, ast.Attribute) and holder.attr == "__dict__":
            obj = holder.value
        elif (
            isinstance(holder, ast.Call)
            and isinstance(holder.func, ast.Name)
            and holder.func.id == "vars"
            and len(holder.args) == 1
        ):
            obj = holder.args[0]
        ref = self._obj_ref(scope, obj) if obj is not None else None
        if ref is None:
            return
        key = t.slice
        attr = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
        if attr is not None and isinstance(node, ast.Assign):
            self._hook_set(scope, f"{ref}.{attr}", node.value, node)  # `vars(sys)["excepthook"]`
        self._write(scope, ref, attr, node, {"set": 1})

    def _restores(self, scope: _Scope, target: ast.Attribute, value: ast.expr) -> bool:
        """``obj.attr = orig`` where ``orig = obj.attr`` is the one binding of
        ``orig`` in this scope: the original put back."""
        if not isinstance(value, ast.Name):
            return False
        bound = scope.binds.get(value.id, [])
        return (
            len(bound) == 1
            and isinstance(bound[0], ast.Attribute)
            and _key(bound[0]) is not None
            and _key(bound[0]) == _key(target)
        )

    def _hooks(self, scope: _Scope, node: ast.expr) -> bool:
        """A literal "hooks", or a name bound to one (here, before, or at module level)."""
        if not isinstance(node, ast.Name):
            return _is_hooks(node)
        if node.id in scope.params:
            return False
        if node.id in scope.hook_names:
            return True
        const = self.consts.get(node.id)
        return const is not None and _is_hooks(const)

    def _obj_ref(self, scope: _Scope, obj: ast.expr) -> str | None:
        """The import ref of a written object, also through a local bound once
        to an imported name (``F = compat.functional`` in the function)."""
        ref = self._ref(scope, obj)
        chain = _dotted(obj)
        if ref is None and chain is not None and scope.qualname not in ("<module>", "<main>"):
            bound = scope.binds.get(chain[0], [])
            if len(bound) == 1 and _dotted(bound[0]) is not None:
                inner = self._ref(scope, bound[0])
                ref = ".".join([inner, *chain[1:]]) if inner is not None else None
        return ref if ref is not None and ref.startswith("I:") else None

    def _setattr(self, scope: _Scope, node: ast.Call) -> None:
        name = node.args[1] if len(node.args) > 1 else None
        if not isinstance(name, ast.Constant) or name.value in _FUNC_ATTRS:
            self._func_write(node.args[0])  # setattr(f, "__defaults__", ...)
        if (
            len(node.args) == 3
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and isinstance(name, ast.Constant)
            and isinstance(name.value, str)
        ):
            self._attr_binding(scope, node.args[0], name.value, node.args[2], node.lineno)
        ref = self._obj_ref(scope, node.args[0])
        if ref is None:
            return
        name = node.args[1] if len(node.args) > 1 else None
        if len(node.args) == 3 and isinstance(name, ast.Constant) and isinstance(name.value, str):
            self._hook_set(scope, f"{ref}.{name.value}", node.args[2], node)
        attr = (
            name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None
        )
        flags: dict[str, Any] = (
            {"del": 1}
            if isinstance(node.func, ast.Name) and (node.func.id == "delattr")
            else {"set": 1}
        )
        self._write(scope, ref, attr, node, flags)

    def _write(
        self, scope: _Scope, ref: str, attr: str | None, node: ast.AST, flags: dict[str, Any]
    ) -> None:
        if scope.anon:
            return  # its writer's already (``_anon_defs``)
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        end = getattr(node, "end_lineno", None) or line
        self.writes.append([scope.qualname, ref, attr, line, col, end, flags])

    def _record(self, scope: _Scope, ref: str, node: ast.AST, flags: dict[str, Any]) -> None:
        if scope.anon:
            # A copy of a call its writer makes too: an edge, never judged
            # again (reach._judged) nor read by returns.py (no rm, hk).
            flags = {k: v for k, v in flags.items() if k != "rm" and k != "hk"}
            flags["anon"] = 1
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        end = getattr(node, "end_lineno", None) or line
        self.calls.append([scope.qualname, ref, line, col, end, flags])

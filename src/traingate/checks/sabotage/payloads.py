"""Payloads: what a statement does to training state, named by meaning.

A write to gradients, parameters, ``.data``, weights, the loss, labels,
logits, the learning rate or optimizer state, however it is reached (a loop
variable over ``model.parameters()`` or ``optimizer.param_groups``, a slice, an
in-place method, gradient clipping); new values written into a snapshot of that state which is
then saved, loaded or returned (``sd = {k: v * 0.999 ...}; torch.save(sd, p)``);
a collective; an exit; a skipped optimizer step; a metric clamped before it is
logged; a literal returned in place of a computed result; a logging handler
that sends records off the host.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Set

from traingate.checks.sabotage.nodes import body_nodes
from traingate.checks.sabotage.nodes import children as _children
from traingate.checks.sabotage.nodes import walk_local as _walk_local
from traingate.checks.sabotage.results import FROZEN, freezes
from traingate.checks.sabotage.results import (  # re-exported for analysis
    clamp_context as clamp_context,
)
from traingate.checks.sabotage.results import clamped as clamped
from traingate.checks.sabotage.results import literal_result as literal_result
from traingate.checks.sabotage.results import overwrites as overwrites
from traingate.checks.sabotage.results import stops_lr as stops_lr
from traingate.checks.sabotage.triggers import last_name, qualname

_STATE_NAME = re.compile(
    r"^(?:loss|losses|total_loss|train_loss|\w+_loss|loss_\w+|labels?|targets?|"
    r"logits|lr|learning_rate|grads?|gradients?|main_grad)$"
)
_STATE_ATTR = frozenset(
    {"grad", "data", "weight", "bias", "main_grad", "lr", "learning_rate", "param_groups"}
    | {"loss", "labels", "targets", "logits"}
)
_STATE_KEY = frozenset(
    {"lr", "params", "labels", "label", "targets", "target", "loss", "logits", "exp_avg"}
    | {"exp_avg_sq", "momentum_buffer", "weight_decay", "momentum", "betas"}
)
_LOSSY = re.compile(r"(?i)loss|grad|weight|param|\.data\b")
_CORE = re.compile(r"grad|\.data\b|param_groups|\['lr'\]|\bstate\b|\.weight\b|\.bias\b")
_VIEWS = frozenset({"view", "reshape", "flatten", "narrow", "select", "t", "view_as"})
_INPLACE = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]_$")
_NOT_PAYLOAD = frozenset({"requires_grad_", "share_memory_", "retain_grad_", "pin_memory_"})
_SCALE_METHODS = frozenset({"mul_", "div_", "mul", "div", "neg_", "zero_", "fill_", "copy_"})
_PARAM_ITERS = frozenset(
    {"parameters", "named_parameters", "param_groups", "values", "buffers", "named_buffers"}
)
# zip(ema.parameters(), model.parameters()), enumerate(model.parameters()): the loop
# targets bound to a parameter iterator's elements are parameters (#16, session 25).
_PAIRING = frozenset({"zip", "enumerate"})
# A name bound to a list of parameters: ``params = list(model.parameters())``.
_COPIES = frozenset({"list", "tuple", "filter"})
# Clipping rewrites the gradients of what it is given, in place (#16, session 25):
# torch.nn.utils.clip_grad_norm_(params, max_norm), accelerator.clip_grad_norm_(...),
# FSDP's model.clip_grad_norm_(max_norm), Lightning's self.clip_gradients(opt, ...).
CLIPPED = ", an in-place write to the gradients,"
CLIPS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_gradients"})
EXITS = frozenset(
    {"sys.exit", "os._exit", "os.abort", "os.kill", "os.killpg", "exit", "quit"}
    | {"signal.raise_signal", "signal.pthread_kill"}
)
_EXIT_EXC = frozenset({"SystemExit", "KeyboardInterrupt", "BaseException"})
_COLLECTIVES = frozenset(
    {"barrier", "monitored_barrier", "all_reduce", "all_gather", "all_gather_into_tensor"}
    | {"reduce_scatter", "reduce_scatter_tensor", "broadcast_object_list", "all_gather_object"}
    | {"all_to_all", "all_to_all_single", "wait_for_everyone", "rendezvous"}
)
_DIST_ONLY = frozenset({"broadcast", "reduce", "gather", "scatter", "send", "recv"})
HOOK_REGISTRARS = frozenset(
    {"register_hook", "register_full_backward_hook", "register_backward_hook"}
    | {"register_post_accumulate_grad_hook", "register_forward_hook", "register_comm_hook"}
    | {"register_step_pre_hook", "register_step_post_hook", "register_full_backward_pre_hook"}
    # A forward pre-hook returns the module's new input; the module_* registrars hook
    # every module of the process (torch.nn.modules.module).
    | {"register_forward_pre_hook", "register_module_forward_hook"}
    | {"register_module_forward_pre_hook", "register_module_full_backward_hook"}
)
_STEP_RECEIVER = re.compile(r"(?i)optim|^opt|scaler|^step$")
_LOG_CALLS = frozenset(
    {"log", "log_dict", "log_metrics", "add_scalar", "add_scalars", "log_metric", "log_scalar"}
)
_EGRESS_HANDLERS = frozenset(
    {"HTTPHandler", "SocketHandler", "DatagramHandler", "SMTPHandler", "SysLogHandler"}
)
_LOCAL_SYSLOG = re.compile(r"^(?:/dev/log|/var/run/syslog|localhost|127\.0\.0\.1|::1)$")


# A copy of the model's or optimizer's state as a mapping (issue #16): what is saved
# or loaded. Writing it changes the checkpoint, not the running model.
_SNAPSHOTS = frozenset(
    {"state_dict", "get_model_state_dict", "get_optimizer_state_dict", "get_state_dict"}
    | {"get_peft_model_state_dict", "get_fp32_state_dict_from_zero_checkpoint"}
)
_SNAPSHOT_LOADS = frozenset({"torch.load", "safetensors.torch.load_file", "safetensors.torch.load"})
_LOADS = frozenset({"load", "load_file"})
# Where a snapshot ends up: a checkpoint on disk, the model, the caller.
_SINKS = frozenset(
    {"save", "save_file", "save_checkpoint", "save_model", "save_state_dict", "load_state_dict"}
    | {"set_model_state_dict", "set_optimizer_state_dict", "set_state_dict"}
)
_STATE_SINKS = _SINKS - {"save", "save_checkpoint", "save_model"}  # np.save(path, img): no
_TAKE_OR_SINK = _SNAPSHOTS | _LOADS | _STATE_SINKS | {"save"}
# Calls that copy, move or cast a tensor (or a mapping of them) and keep its values.
_KEEPS = frozenset(
    {"cpu", "cuda", "to", "detach", "clone", "contiguous", "float", "half", "bfloat16"}
    | {"double", "numpy", "tolist", "item", "items", "values", "keys", "get", "copy", "pop"}
    | {"dict", "OrderedDict", "list", "tuple", "deepcopy", "share_memory_", "pin_memory"}
)
# Calls that compute new values from a tensor: arithmetic, fills, noise.
_ARITH = frozenset(
    {"mul", "div", "add", "sub", "neg", "pow", "sqrt", "abs", "sign", "lerp", "clamp", "clip"}
    | {"where", "masked_fill", "roll", "flip", "fill", "zeros_like", "ones_like", "full_like"}
    | {"empty_like", "randn_like", "rand_like", "randint_like", "normal", "multiply", "divide"}
)
SAME, CHANGED = 1, 2
_LOOPS = frozenset({ast.For, ast.comprehension})


class Scope:
    """Names a function binds to training state (loop variables, aliases) and to a
    snapshot of it (``sd = model.state_dict()``, its items, copies of it)."""

    def __init__(
        self,
        alias: Mapping[str, str],
        extra: frozenset[str] = frozenset(),
        params: frozenset[str] = frozenset(),
    ) -> None:
        self.alias = alias
        self.names: set[str] = set(extra)
        self.params = params  # a parameter given to a sink is a snapshot (load_state_dict)
        self.snapshots: set[str] = set()
        self.taken = False
        self._sunk: dict[str, set[int]] | None = None
        self._local: list[ast.AST] = []
        self.lists: set[str] = set()  # names bound to a list of parameters

    def bind(self, body: list[ast.stmt], nodes: list[ast.AST] | None = None) -> None:
        local = self._local = walk_local(body) if nodes is None else nodes
        snaps: list[ast.AST] = []
        loose: list[ast.AST] = []  # loops over a name: bound once its list is known
        taken = False
        # Classes compared (the parser makes no subclass): every node of the module's
        # scope and of each walked function passes here (issue #17).
        call_t, assign_t, loops = ast.Call, ast.Assign, _LOOPS
        for node in local:
            t = node.__class__
            if t is call_t:
                call: ast.Call = node  # type: ignore[assignment]
                if last_name(call.func) in _TAKE_OR_SINK:  # one lookup for most calls
                    taken = self._takes(call) or self._passes(call) or taken
            elif t in loops:
                if not self._loop(node.target, node.iter):  # type: ignore[attr-defined]
                    snaps.append(node)
                    loose.append(node)
            elif t is assign_t:
                if self.state(node.value):  # type: ignore[attr-defined]
                    for tgt in node.targets:  # type: ignore[attr-defined]
                        self._add(tgt)
                else:
                    self._collection(node)  # type: ignore[arg-type]
                    snaps.append(node)
        if self.lists:  # the walk's order is not the source's
            for node in loose:
                self._loop(node.target, node.iter)  # type: ignore[attr-defined]
        self.taken = taken  # a snapshot is taken or loaded here: most functions take none
        if taken:
            self._bind_snapshots(snaps)

    def _passes(self, call: ast.Call) -> bool:
        """``super().load_state_dict(state_dict)`` in an override: the parameter is state."""
        if not self.params or not (
            last_name(call.func) in _STATE_SINKS or qualname(call.func, self.alias) == "torch.save"
        ):
            return False
        got = {a.id for a in call.args if isinstance(a, ast.Name) and a.id in self.params}
        self.snapshots |= got
        return bool(got)

    def _takes(self, call: ast.Call) -> bool:
        if last_name(call.func) in _SNAPSHOTS:
            return True
        return last_name(call.func) in _LOADS and qualname(call.func, self.alias) in _SNAPSHOT_LOADS

    def _bind_snapshots(self, nodes: list[ast.AST]) -> None:
        """To a fixed point: the walk's order is not the source's."""
        grown = True
        while grown:
            grown = False
            for node in nodes:
                if isinstance(node, (ast.For, ast.comprehension)):
                    # zip(ema.state_dict().values(), model.state_dict().values())
                    for target, it in _pairs(node.target, node.iter):
                        if isinstance(it, ast.Call) and last_name(it.func) in ("items", "values"):
                            it = it.func.value if isinstance(it.func, ast.Attribute) else it
                        if self.snapshot(it) and self._snap(target, last_only=True):
                            grown = True
                elif isinstance(node, ast.Assign) and self.derived(node.value) == SAME:
                    for t in node.targets:
                        grown = self._snap(t) or grown

    def _snap(self, target: ast.AST, last_only: bool = False) -> bool:
        before = len(self.snapshots)
        if isinstance(target, ast.Name):
            self.snapshots.add(target.id)
        elif isinstance(target, ast.Tuple) and target.elts:
            for t in target.elts[-1:] if last_only else target.elts:
                self._snap(t)
        return len(self.snapshots) > before

    def snapshot(self, node: ast.AST) -> bool:
        """A snapshot of model or optimizer state, or a value read from one."""
        if isinstance(node, ast.Name):
            return node.id in self.snapshots
        if isinstance(node, (ast.Subscript, ast.Attribute)):
            return self.snapshot(node.value)
        return isinstance(node, ast.Call) and self._takes(node)

    def derived(self, node: ast.AST) -> int:
        """0: not from a snapshot; SAME: its values, copied, moved, cast or renamed
        (``{k: v.cpu() for k, v in sd.items()}``); CHANGED: new values computed from
        them (``{k: v * 0.999 ...}``, ``torch.zeros_like(v)``, ``v.add(noise)``)."""
        if self.snapshot(node):
            return SAME
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            subs = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand]
            return CHANGED if any(self.derived(x) for x in subs) else 0
        if isinstance(node, ast.Call):
            func = node.func
            parts = [*node.args, *(k.value for k in node.keywords)]
            if isinstance(func, ast.Attribute):
                parts.append(func.value)
            got = max((self.derived(x) for x in parts), default=0)
            name = last_name(func)
            if name in _KEEPS:
                return got
            # A named transform (interpolate a position embedding, quantize) is the
            # checkpoint surgery of real code; arithmetic, fills and noise are not.
            return CHANGED if got and name in _ARITH else 0
        if isinstance(node, ast.DictComp):
            return self.derived(node.value)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            return self.derived(node.elt)
        if isinstance(node, (ast.Lambda, ast.Compare, ast.BoolOp)):
            return 0
        return max((self.derived(c) for c in _children(node)), default=0)

    def snapshot_write(self, target: ast.AST, value: ast.AST) -> tuple[str, tuple[int, ...]] | None:
        """``sd = {k: v * 0.999 for k, v in sd.items()}`` or ``sd[k] = v * 0.999``, where
        ``sd`` then reaches ``torch.save``/``load_state_dict`` or is returned: how the
        report names the write, and the lines where it goes, if it is one."""
        head = target
        while isinstance(head, (ast.Subscript, ast.Attribute)):
            head = head.value
        if not isinstance(head, ast.Name) or self.derived(value) != CHANGED:
            return None
        if head.id not in self.snapshots and not (
            isinstance(target, ast.Name) and self._reads_snapshot(value)
        ):
            return None
        lines = self.sunk.get(head.id)
        return (ast.unparse(target), tuple(sorted(lines))) if lines else None

    def _reads_snapshot(self, value: ast.AST) -> bool:
        return any(self.snapshot(n) for n in ast.walk(value) if isinstance(n, ast.Name))

    @property
    def sunk(self) -> dict[str, set[int]]:
        """Names saved, loaded into a model or returned, and names put into those, with
        the lines that do it (an added ``torch.save(sd, path)`` arms an old write)."""
        if self._sunk is None:
            out: dict[str, set[int]] = {}
            binds: list[ast.Assign] = []
            for n in self._local:
                parts: list[ast.AST] = []
                if isinstance(n, ast.Call) and sink(n):
                    parts = [*n.args, *(k.value for k in n.keywords)]
                elif isinstance(n, ast.Return) and n.value is not None:
                    parts = [n.value]
                elif isinstance(n, ast.Assign):
                    binds.append(n)
                for x in (x for p in parts for x in ast.walk(p) if isinstance(x, ast.Name)):
                    out.setdefault(x.id, set()).add(getattr(n, "lineno", 0))
            grown = True
            while grown:
                grown = False
                for b in binds:
                    into = [out[t.id] for t in b.targets if isinstance(t, ast.Name) and t.id in out]
                    if not into:
                        continue
                    lines = set().union(*into) | {b.lineno}
                    for x in (x for x in ast.walk(b.value) if isinstance(x, ast.Name)):
                        had = out.setdefault(x.id, set())
                        if not lines <= had:
                            had |= lines
                            grown = True
            self._sunk = out
        return self._sunk

    def _loop(self, target: ast.AST, it: ast.AST) -> bool:
        """Bind the targets of ``for <target> in <it>`` that are elements of state."""
        got = False
        for tgt, sub in _pairs(target, it):
            if self._iter_is_state(sub):
                self._add(tgt, last_only=True)
                got = True
        return got

    def _collection(self, node: ast.Assign) -> None:
        """``params = list(model.parameters())``, ``[p for p in m.parameters() if
        p.requires_grad]``: a name whose elements are parameters."""
        value: ast.AST = node.value
        if isinstance(value, (ast.ListComp, ast.GeneratorExp)) and len(value.generators) == 1:
            gen = value.generators[0]
            if not (isinstance(value.elt, ast.Name) and ast.unparse(gen.target) == value.elt.id):
                return
            value = gen.iter
        elif (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in _COPIES
            and value.args
        ):
            value = value.args[-1]
        if not (
            isinstance(value, ast.Call)
            and last_name(value.func) in _PARAM_ITERS - {"values", "param_groups"}
        ):
            return
        for tgt in node.targets:
            if isinstance(tgt, ast.Name):
                self.lists.add(tgt.id)

    def _iter_is_state(self, it: ast.AST) -> bool:
        if isinstance(it, ast.Name) and it.id in self.lists:
            return True
        if isinstance(it, ast.Call):
            name = last_name(it.func)
            if name in _PARAM_ITERS and name != "values":
                return True
            if name == "values" and isinstance(it.func, ast.Attribute):
                return self.state(it.func.value) is not None
            return False
        return self.state(it) is not None

    def _add(self, target: ast.AST, last_only: bool = False) -> None:
        if isinstance(target, ast.Name):
            self.names.add(target.id)
        elif isinstance(target, ast.Tuple) and target.elts:
            for t in target.elts[-1:] if last_only else target.elts:
                self._add(t)

    def state(self, node: ast.AST) -> str | None:
        """How the report names the training state this expression is, if any."""
        if isinstance(node, ast.Name):
            if node.id in self.names or _STATE_NAME.match(node.id):
                return node.id
            return None
        if isinstance(node, ast.Attribute):
            if node.attr in _STATE_ATTR or self.state(node.value) is not None:
                return ast.unparse(node)
            if node.attr == "state" and _STEP_RECEIVER.search(last_name(node.value) or ""):
                return ast.unparse(node)
            return None
        if isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in _STATE_KEY:
                return ast.unparse(node)
            return ast.unparse(node) if self.state(node.value) is not None else None
        # p.grad.view(-1)[::7].zero_(): a view of state is state.
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _VIEWS
        ):
            return self.state(node.func.value)
        if isinstance(node, ast.Starred):
            return self.state(node.value)
        return None

    def is_scaling_target(self, desc: str) -> bool:
        # lr: step schedules (epoch > 30: lr *= 0.1) are ordinary.
        return bool(_LOSSY.search(desc)) and not is_lr(desc)

    def core(self, desc: str) -> bool:
        """Gradients, parameters, optimizer state: a rank guard on them counts anywhere.
        Loss, labels and logits are per-rank values outside the training path
        (pipeline stages compute logits on one rank)."""
        head = re.split(r"[.\[(]", desc.removeprefix("a write to "), maxsplit=1)[0]
        return bool(_CORE.search(desc)) or head in self.names

    def inplace(self, call: ast.Call) -> tuple[str, bool] | None:
        """(what, is_scaling) for an in-place write to state by this call."""
        func = call.func
        name = last_name(func)
        if name is None or name in _NOT_PAYLOAD:
            return None
        if isinstance(func, ast.Attribute) and _INPLACE.match(name):
            what = self.state(func.value)
            if what is not None:
                return f"{what}.{name}(...)", name in _SCALE_METHODS
        q = qualname(func, self.alias) or ""
        if q.startswith(("torch._foreach_", "torch.nn.init.")) and _INPLACE.match(name):
            what = self.state(call.args[0]) if call.args else None
            if what is not None or name.startswith("_foreach_"):
                return f"{q}({what or '...'})", True
        if name == "zero_grad" and isinstance(func, ast.Attribute):
            return f"{ast.unparse(func)}()", False
        if freezes(call):
            return f"{ast.unparse(func)}(){FROZEN}", False
        if clips(func, q):
            # No scaling: ``if step > warmup: clip(...)`` is no step-scheduled payload.
            return f"{ast.unparse(func)}(...){CLIPPED}", False
        # for v in sd.values(): v.mul_(...)
        if (
            isinstance(func, ast.Attribute)
            and _INPLACE.match(name)
            and name not in _KEEPS
            and self.taken
            and self.snapshot(func.value)
        ):
            return f"{ast.unparse(func.value)}.{name}(...)", name in _SCALE_METHODS
        return None


def _pairs(target: ast.AST, it: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """``for <target> in <it>`` as (target, iterable) pairs: position by position
    through ``zip``, the second of ``enumerate``'s pair, nested (``for i, (e, p) in
    enumerate(zip(a, b))``); any other loop is one pair."""
    if not (
        isinstance(it, ast.Call)
        and isinstance(it.func, ast.Name)
        and it.func.id in _PAIRING
        and isinstance(target, ast.Tuple)
    ):
        return [(target, it)]
    args = it.args if it.func.id == "zip" else it.args[:1]
    elts = target.elts if it.func.id == "zip" else target.elts[1:]
    if len(args) != len(elts) or any(isinstance(a, ast.Starred) for a in args):
        return []
    return [p for t, a in zip(elts, args, strict=True) for p in _pairs(t, a)]


_RANDOM_FILLS = frozenset(
    {"normal_", "uniform_", "bernoulli_", "random_", "exponential_", "cauchy_", "log_normal_"}
)
_RANDOM_CALLS = ("torch.rand", "torch.normal", "torch.bernoulli", "torch.poisson", "random.")
_RANDOM_LIKE = frozenset({"randn_like", "rand_like", "randint_like", "normal", "uniform"})


def random_writers(
    tree: ast.Module, alias: Mapping[str, str], wanted: Set[str] | None = None
) -> dict[str, dict[int, str]]:
    """Module functions that write one of their parameters in place with a random value:
    ``def perturb_(t, s): t.add_(torch.randn_like(t) * s)`` -> {"perturb_": {0: ...}}.
    ``wanted``: only these names (None: all)."""
    out: dict[str, dict[int, str]] = {}
    for fn in tree.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if wanted is not None and fn.name not in wanted:
            continue
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        for node in body_nodes(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            recv = node.func.value
            if isinstance(recv, ast.Attribute) and recv.attr == "data":
                recv = recv.value
            if not (isinstance(recv, ast.Name) and recv.id in params and _INPLACE.match(name)):
                continue
            if name in _RANDOM_FILLS or any(_random(a, alias) for a in node.args):
                what = f"{ast.unparse(node)[:70]} (line {node.lineno})"
                out.setdefault(fn.name, {}).setdefault(params.index(recv.id), what)
    return out


def _random(node: ast.AST, alias: Mapping[str, str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            q = qualname(sub.func, alias) or ""
            if q.startswith(_RANDOM_CALLS) or q.startswith("numpy.random."):
                return True
            if last_name(sub.func) in _RANDOM_LIKE and q.startswith(("torch.", "numpy.")):
                return True
    return False


def clips(func: ast.AST, q: str) -> bool:
    """A method of that name (accelerator, fabric, FSDP), or torch's under any alias."""
    if q.startswith("torch.nn.utils."):
        return q.rsplit(".", 1)[-1] in CLIPS
    return isinstance(func, ast.Attribute) and func.attr in CLIPS


def named_state(name: str) -> bool:
    """loss, labels, logits, lr ...: a local the training step consumes by that name."""
    return bool(_STATE_NAME.match(name))


def is_lr(desc: str) -> bool:
    return bool(re.search(r"\blr\b|'lr'|learning_rate", desc))


def walk_local(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node of these statements, not entering nested functions, lambdas or
    classes, in a stack's order (``nodes.walk_local``)."""
    return _walk_local(body)


def exit_call(call: ast.Call, alias: Mapping[str, str]) -> str | None:
    q = qualname(call.func, alias)
    return f"{q}()" if q in EXITS else None


def exit_raise(node: ast.Raise) -> str | None:
    exc = node.exc
    target = exc.func if isinstance(exc, ast.Call) else exc
    name = last_name(target) if target is not None else None
    return f"raise {name}" if name in _EXIT_EXC else None


def collective(call: ast.Call, alias: Mapping[str, str]) -> str | None:
    name = last_name(call.func)
    q = qualname(call.func, alias) or ""
    if name in _COLLECTIVES and (isinstance(call.func, ast.Attribute) or "distributed" in q):
        return f"{ast.unparse(call.func)}()"
    if name in _DIST_ONLY and q.startswith(("torch.distributed.", "dist.")):
        return f"{ast.unparse(call.func)}()"
    return None


def step_call(call: ast.Call) -> bool:
    """optimizer.step(), scaler.step(opt), step(...), loss.backward()."""
    func = call.func
    name = last_name(func)
    if name in ("optimizer_step", "backward", "train_step", "training_step"):
        return True
    if name != "step":
        return False
    if isinstance(func, ast.Name):
        return True
    return (
        bool(_STEP_RECEIVER.search(last_name(func.value) or ""))
        if isinstance(func, ast.Attribute)
        else False
    )


def sink(call: ast.Call) -> bool:
    """``torch.save``, ``save_file``, ``model.load_state_dict`` ...: where a snapshot goes."""
    return last_name(call.func) in _SINKS


def log_call(call: ast.Call) -> bool:
    return last_name(call.func) in _LOG_CALLS


def log_egress(node: ast.AST, alias: Mapping[str, str]) -> str | None:
    """A logging handler that ships records to another host."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        cls = node.value.rsplit(".", 1)[-1]
        if node.value.startswith("logging.handlers.") and cls in _EGRESS_HANDLERS - {
            "SysLogHandler"
        }:
            return node.value
        return None
    if not isinstance(node, ast.Call):
        return None
    q = qualname(node.func, alias) or ""
    cls = q.rsplit(".", 1)[-1]
    if not q.startswith("logging.handlers.") or cls not in _EGRESS_HANDLERS:
        return None
    if cls == "SysLogHandler":
        addr = node.args[0] if node.args else None
        addr = next((k.value for k in node.keywords if k.arg == "address"), addr)
        if addr is None or _local_syslog(addr):
            return None
    return f"{q}(...)"


def _local_syslog(addr: ast.AST) -> bool:
    if isinstance(addr, ast.Constant) and isinstance(addr.value, str):
        return bool(_LOCAL_SYSLOG.match(addr.value))
    if isinstance(addr, ast.Tuple) and addr.elts:
        return _local_syslog(addr.elts[0])
    return False

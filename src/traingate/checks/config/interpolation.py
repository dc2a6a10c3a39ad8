"""OmegaConf / Hydra interpolation, resolved before values are judged (issue #16)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from traingate.checks.config.doc import ConfigDoc, ConfigValue, KeyPath
from traingate.checks.config.keypath import format_path

# What a resolver yields is known to the gate only for these. Everything else
# (oc.env, a project's own resolver, oc.dict.*) is decided when the job runs, by
# the environment or by code: an *unknown*, never trusted.
_SELECTING_RESOLVERS = frozenset(["oc.select", "oc.deprecated", "oc.decode", "oc.create"])
# Runtime values Hydra itself supplies (the run directory, the time): opaque but
# not chosen by the change; kept verbatim so a policy can name them.
_VERBATIM_RESOLVERS = frozenset(["hydra", "now"])
# Resolvers that turn their argument's text into a config node (a dict with a
# `_target_` that Hydra then instantiates like any other).
_NODE_RESOLVERS = frozenset(["oc.create", "oc.decode"])
_MAX_INTERPOLATION_DEPTH = 32


class Resolved(NamedTuple):
    """A value with its ``${...}`` interpolations resolved as OmegaConf would.

    ``text``: the value, with every unknown part shown as ``<env:NAME>`` or
    ``<resolver:NAME>``; ``unknown``: why parts are unknown (empty: fully known);
    ``resolvers``: every resolver name used, with its raw argument text.
    """

    value: object
    text: str
    unknown: tuple[str, ...]
    resolvers: tuple[tuple[str, str], ...]


def interpolation_end(s: str, i: int) -> int:
    """Index after the ``}`` closing the ``${`` at ``i``; -1 when unbalanced."""
    depth = 0
    j = i
    quote = ""
    while j < len(s):
        ch = s[j]
        if quote:
            if ch == "\\":
                j += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"" and depth:
            quote = ch
        elif s.startswith("${", j):
            depth += 1
            j += 2
            continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _top_level_colon(body: str) -> int:
    depth = 0
    for k, ch in enumerate(body):
        if body.startswith("${", k):
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ":" and depth == 0:
            return k
    return -1


class _Interpolator:
    def __init__(self, leaves: dict[KeyPath, ConfigValue]) -> None:
        self.leaves = leaves
        self.memo: dict[KeyPath, Resolved] = {}
        self.active: set[KeyPath] = set()

    def lookup(self, segments: Sequence[str], base: KeyPath) -> KeyPath | None:
        """The leaf path ``segments`` names below ``base``: "0" may be a list index."""
        paths: list[KeyPath] = [base]
        for seg in segments:
            nxt: list[KeyPath] = []
            for p in paths:
                nxt.append((*p, seg))
                if seg.isdigit():
                    nxt.append((*p, int(seg)))
            paths = nxt[:64]
        return next((p for p in paths if p in self.leaves), None)

    def reference(self, ref: str, at: KeyPath, depth: int) -> Resolved:
        ref = ref.strip()
        dots = len(ref) - len(ref.lstrip("."))
        body = ref[dots:].replace("[", ".").replace("]", "")
        segments = [seg for seg in body.split(".") if seg]
        if dots:
            # ${.x}: a sibling of the node; each further dot goes up one level.
            base: KeyPath = at[: max(len(at) - dots + 1, 0)]
            found = self.lookup(segments, base)
        else:
            found = self.lookup(segments, ())
            if found is None and at and isinstance(at[0], int):
                found = self.lookup(segments, at[:1])  # within one YAML document
        if found is None:
            return Resolved(None, f"<missing:{ref}>", (f"${{{ref}}} names no value",), ())
        return self.resolve(found, depth + 1)

    def expand(self, s: str, at: KeyPath, depth: int) -> Resolved:
        if depth > _MAX_INTERPOLATION_DEPTH:
            return Resolved(None, "<too deep>", ("interpolation nests too deeply",), ())
        parts: list[str] = []
        unknown: list[str] = []
        resolvers: list[tuple[str, str]] = []
        whole: object = None
        i = 0
        while i < len(s):
            start = s.find("${", i)
            if start == -1:
                parts.append(s[i:])
                break
            if start > 0 and s[start - 1] == "\\":
                parts.append(s[i : start - 1] + "${")
                i = start + 2
                continue
            end = interpolation_end(s, start)
            if end == -1:
                parts.append(s[i:])
                unknown.append(f"unbalanced interpolation in {s[start : start + 40]!r}")
                break
            parts.append(s[i:start])
            body = s[start + 2 : end - 1]
            colon = _top_level_colon(body)
            if colon == -1:
                inner = self.expand(body, at, depth + 1)  # ${a.${b}}: the key is built
                if inner.unknown:
                    r = inner
                else:
                    r = self.reference(inner.text, at, depth)
                    r = r._replace(resolvers=inner.resolvers + r.resolvers)
            else:
                r = self.resolver(body[:colon].strip(), body[colon + 1 :], at, depth)
            parts.append(r.text)
            unknown.extend(r.unknown)
            resolvers.extend(r.resolvers)
            whole = r.value
            i = end
        text = "".join(parts)
        alone = s.startswith("${") and interpolation_end(s, 0) == len(s)
        return Resolved(whole if alone else text, text, tuple(unknown), tuple(resolvers))

    def resolver(self, name: str, arg: str, at: KeyPath, depth: int) -> Resolved:
        inner = self.expand(arg, at, depth + 1)
        used = ((name, arg), *inner.resolvers)
        if name in _NODE_RESOLVERS and inner.text != arg and not inner.unknown:
            # `${oc.create:${spec}}`: the node is built from the text the
            # argument expands to; the target check reads both (session 27).
            used = ((name, inner.text), *used)
        if name in _VERBATIM_RESOLVERS:
            return Resolved(f"${{{name}:{arg}}}", f"${{{name}:{arg}}}", inner.unknown, used)
        if name in _SELECTING_RESOLVERS:
            key, _, default = inner.text.partition(",")
            # decode and create build a value from the text itself; it names no key
            if name in _NODE_RESOLVERS or inner.unknown:
                return Resolved(inner.text, inner.text, inner.unknown, used)
            r = self.reference(key.strip().strip("'\""), at, depth)
            if r.text.startswith("<missing:") and default:
                value = default.strip().strip("'\"")
                return Resolved(value, value, (), used)
            return r._replace(resolvers=used + r.resolvers)
        if name == "oc.env":
            var = inner.text.split(",", 1)[0].strip().strip("'\"")
            why = f"${{oc.env:{var}}} is read from the environment when the job runs"
            return Resolved(None, f"<env:{var}>", (*inner.unknown, why), used)
        why = f"resolver {name!r} computes this value when the job runs"
        return Resolved(None, f"<resolver:{name}>", (*inner.unknown, why), used)

    def resolve(self, path: KeyPath, depth: int = 0) -> Resolved:
        done = self.memo.get(path)
        if done is not None:
            return done
        value = self.leaves[path].value
        if not isinstance(value, str) or "${" not in value:
            return Resolved(value, "" if value is None else str(value), (), ())
        if path in self.active or depth > _MAX_INTERPOLATION_DEPTH:
            return Resolved(None, "<cycle>", (f"{format_path(path)} refers to itself",), ())
        self.active.add(path)
        try:
            out = self.expand(value, path[:-1], depth)
        finally:
            self.active.discard(path)
        if not any("too deeply" in why for why in out.unknown):
            self.memo[path] = out  # a truncated result depends on where the walk began
        return out


def resolve_interpolations(doc: ConfigDoc) -> dict[KeyPath, Resolved]:
    """Every string leaf containing ``${...}``, resolved (OmegaConf semantics:
    absolute keys from the root, ``${.x}`` relative to the node's container,
    ``${a.${b}}`` built keys, ``oc.select``/``oc.decode``; ``oc.env`` and any other
    resolver are unknowns). Leaves without interpolation are left out."""
    interp = _Interpolator(doc.leaves)
    return {
        path: interp.resolve(path)
        for path, leaf in doc.leaves.items()
        if isinstance(leaf.value, str) and "${" in leaf.value
    }

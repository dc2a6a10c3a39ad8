"""Reach facts compact in memory (issue #17): one shared, read-only object per
distinct flags dict, string and int, as facts enter the blob store.
"""

from __future__ import annotations

from typing import Any, NoReturn


class Flags(dict[str, Any]):
    """A call's (or write's) flags, one instance shared by every call with the
    same items (issue #17): read-only, so a consumer that mutates one fails
    loudly instead of changing every other call that shares it."""

    __slots__ = ()

    def _shared(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("reach facts' flags are shared between calls: read-only")

    __setitem__ = __delitem__ = __ior__ = _shared
    clear = pop = popitem = setdefault = update = _shared


class FrozenList(list[Any]):
    """A list inside shared flags (``pa``, ``rm``): read-only, as ``Flags``."""

    __slots__ = ()

    def _shared(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("reach facts' flags are shared between calls: read-only")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _shared
    append = extend = insert = pop = remove = clear = sort = reverse = _shared


class Compactor:
    """Shares the identical small objects of facts as they enter memory (issue
    #17: a scan holds every file's facts; a call was ~370 bytes, most of it
    its own flags dict and its own copies of the strings and line numbers).

    Strings (keys, scopes, refs, kinds) and ints are shared through tables
    that live as long as the blob store (``sys.intern``'d strings would
    outlive it on Pythons where interned strings are immortal); each flags
    dict becomes the one read-only ``Flags`` with its items. Rows stay lists:
    the facts stay ``==`` to, and dump to the same JSON as, what they were.
    """

    def __init__(self) -> None:
        self._strs: dict[str, str] = {}
        self._ints: dict[int, int] = {}
        self._flags: dict[tuple[Any, ...], Flags] = {}

    def facts(self, facts: dict[str, Any], rows: bool = True) -> dict[str, Any]:
        """``facts`` compacted; with ``rows`` False, its calls and writes are
        left as they are (a scan drops them once the file is streamed)."""
        if "error" in facts:
            return facts
        out: dict[str, Any] = {}
        for key, value in facts.items():
            if key in _ROW_KEYS and type(value) is list:
                if rows:
                    for row in value:
                        if type(row) is list:
                            self._row(row)
                out[self._str(key)] = value
            else:
                out[self._str(key)] = self._value(value)
        return out

    def rows(self, facts: dict[str, Any]) -> None:
        """Compact the calls and writes of ``facts`` (as ``facts`` left them), in place."""
        for key in _ROW_KEYS:
            value = facts.get(key)
            if type(value) is list:
                for row in value:
                    if type(row) is list:
                        self._row(row)

    def _str(self, s: str) -> str:
        return self._strs.setdefault(s, s)

    def _row(self, row: list[Any]) -> None:
        """A call or a write, in place: its dict is its flags."""
        strs, ints = self._strs, self._ints
        for i, v in enumerate(row):
            t = type(v)
            if t is str:
                row[i] = strs.setdefault(v, v)
            elif t is int:
                row[i] = ints.setdefault(v, v)
            elif t is dict:
                row[i] = self._shared(v)
            elif t is list:
                row[i] = self._value(v)

    def _shared(self, flags: dict[str, Any]) -> Flags:
        key = self._key(flags)
        got = self._flags.get(key)
        if got is None:
            got = self._flags[key] = self._freeze(flags)
        return got

    def _key(self, v: Any) -> Any:
        """A flat, hashable key made of shared objects (the table holds it),
        with exact types: True == 1 in Python, but it dumps as ``true``."""
        t = type(v)
        if t is str or t is int or v is None:
            return self._scalar(v)
        if t is not dict and t is not list:
            return (t, v)
        # Scalars inline (issue #17: a call's flags, ~40k on a 200-file
        # change; a generator and a call per item were most of the time).
        strs, ints = self._strs, self._ints
        out: list[Any] = [t]
        add = out.append
        k: Any
        for k, val in v.items() if t is dict else enumerate(v):
            if t is dict:
                add(strs.setdefault(k, k))
            tv = type(val)
            if tv is str:
                add(strs.setdefault(val, val))
            elif tv is int:
                add(ints.setdefault(val, val))
            elif val is None:
                add(None)
            else:
                add(self._key(val))
        return tuple(out)

    def _freeze(self, v: Any) -> Any:
        t = type(v)
        if t is dict:
            return Flags({self._str(k): self._freeze(x) for k, x in v.items()})
        if t is list:
            return FrozenList(self._freeze(x) for x in v)
        return self._scalar(v)

    def _scalar(self, v: Any) -> Any:
        t = type(v)  # exact types: True is not the int 1 (it dumps as true)
        if t is str:
            return self._strs.setdefault(v, v)
        if t is int:
            return self._ints.setdefault(v, v)
        return v

    def _value(self, v: Any) -> Any:
        """Anything else (defs, returns, params, ...): lists in place, dicts
        rebuilt with shared keys; nothing shared is mutable."""
        t = type(v)
        if t is list:
            for i, x in enumerate(v):
                v[i] = self._value(x)
            return v
        if t is dict:
            return {self._str(k): self._value(x) for k, x in v.items()}
        return self._scalar(v)


# Facts whose rows carry a flags dict: [scope, ref, ..., flags] (facts.py).
_ROW_KEYS = frozenset({"calls", "writes"})

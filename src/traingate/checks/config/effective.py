"""A changed key as the job will see it: its value after interpolation."""

from __future__ import annotations

from typing import NamedTuple

from traingate.checks.config.doc import ConfigDoc, KeyChange
from traingate.checks.config.interpolation import (
    Resolved,
    resolve_interpolations,
)


class _Eff(NamedTuple):
    """A key as the job will see it: the raw change, and its value after
    OmegaConf interpolation (issue #16). ``through``: only the resolved value
    changed, because a key it interpolates did."""

    change: KeyChange
    value: object
    text: str
    unknown: tuple[str, ...]
    resolvers: tuple[tuple[str, str], ...]
    through: bool


def _effective(changes: list[KeyChange], new: ConfigDoc, old: ConfigDoc | None) -> list[_Eff]:
    res_new = resolve_interpolations(new)
    res_old = resolve_interpolations(old) if old is not None else {}
    by_path = {c.path: c for c in changes if c.kind != "removed"}
    out: list[_Eff] = []
    for path, leaf in new.leaves.items():
        c = by_path.get(path)
        r: Resolved | None = res_new.get(path)
        through = False
        if c is None:
            before = res_old.get(path)
            if r is None or before is None or (before.text, before.unknown) == (r.text, r.unknown):
                continue
            c = KeyChange(path, "changed", before.value, leaf.value, leaf.line, leaf.column)
            through = True
        if r is None:
            text = "" if c.new is None else str(c.new)
            out.append(_Eff(c, c.new, text, (), (), through))
        else:
            out.append(_Eff(c, r.value, r.text, r.unknown, r.resolvers, through))
    out.sort(key=lambda e: (e.change.line, e.change.column))
    return out


def _via(e: _Eff) -> str:
    """How a value was reached, for messages: nothing for a literal."""
    if isinstance(e.change.new, str) and "${" in e.change.new:
        return f" (written {e.change.new!r})"
    return ""

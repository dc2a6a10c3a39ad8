"""Key-by-key diff of two parsed configs."""

from __future__ import annotations

import math

from traingate.checks.config.doc import ConfigDoc, KeyChange


def _same(a: object, b: object) -> bool:
    # Type-strict: 1, 1.0 and True are == in Python but a different config value.
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def diff_configs(old: ConfigDoc | None, new: ConfigDoc) -> list[KeyChange]:
    """Leaf-by-leaf changes from ``old`` (None: a new file) to ``new``.

    "added" and "changed" come first, in the new document's order, then "removed"
    in the old document's order. A value turning into a mapping shows as the old
    leaf removed and the new leaves added.
    """
    old_leaves = old.leaves if old is not None else {}
    changes = []
    for path, leaf in new.leaves.items():
        before = old_leaves.get(path)
        if before is None:
            changes.append(KeyChange(path, "added", None, leaf.value, leaf.line, leaf.column))
        elif not _same(before.value, leaf.value):
            changes.append(
                KeyChange(path, "changed", before.value, leaf.value, leaf.line, leaf.column)
            )
    changes.sort(key=lambda c: (c.line, c.column))
    removed = [
        KeyChange(path, "removed", leaf.value, None, leaf.line, leaf.column)
        for path, leaf in old_leaves.items()
        if path not in new.leaves
    ]
    removed.sort(key=lambda c: (c.line, c.column))
    return changes + removed

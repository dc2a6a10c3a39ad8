"""Gitignore-style path matching (pathspec), with the policy's case option.

We use pathspec's GitIgnoreSpec rather than fnmatch so that patterns mean
exactly what users know from .gitignore and CODEOWNERS: ``/policy/`` anchored
to the root, ``*.py`` at any depth, ``!`` to re-include, ``**`` across dirs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=512)
def _compiled(patterns: tuple[str, ...], fold: bool) -> Any:
    import pathspec

    lines = [_fold(p) if fold else p for p in patterns]
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception as exc:  # pathspec raises several types for bad patterns
        raise ValueError(str(exc)) from None


def compile_patterns(patterns: Sequence[str], *, fold: bool = False) -> Any:
    return _compiled(tuple(patterns), fold)


def _fold(path: str) -> str:
    # Case-insensitive clients (macOS, Windows) also normalize Unicode: NFC
    # then casefold, so "Train/" and "train/" (or NFD twins) are one path.
    return unicodedata.normalize("NFC", path).casefold()


def fold_path(path: str) -> str:
    """The spelling ``fold=True`` compares: NFC, then casefold."""
    return _fold(path)


def matches(patterns: Sequence[str], path: str, *, fold: bool = False) -> bool:
    if not patterns:
        return False
    spec = compile_patterns(patterns, fold=fold)
    return bool(spec.match_file(_fold(path) if fold else path))


def covered(
    include: Sequence[str], exclude: Sequence[str], path: str, *, fold: bool = False
) -> bool:
    """Whether a check whose settings say include/exclude covers ``path``."""
    return matches(include, path, fold=fold) and not matches(exclude, path, fold=fold)


def repo_path(path: str) -> str:
    """A path named in the policy, spelled as git lists it ("" is the root).

    Issue #14: gate files are compared with changed paths by name, so
    "./rules/", "/rules" and "rules" must be one path. A leading "/" is read
    as the repository root (protecting more, never less).
    """
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts:
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def within(path: str, prefix: str, *, fold: bool = False) -> bool:
    """Whether ``path`` is ``prefix`` or lies below it ("" holds everything)."""
    if fold:
        path, prefix = _fold(path), _fold(prefix)
    return prefix == "" or path == prefix or path.startswith(prefix + "/")

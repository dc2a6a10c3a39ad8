"""Compare ``.pyc`` files with their sources; run as a separate process (issue #20).

Usage: ``python -I -S _pycheck.py`` with a JSON list of ``[pyc, source,
optimize]`` on stdin; prints one JSON object per line: ``{"pyc", "result",
"detail"}``, result one of ``match``, ``mismatch``, ``bad-magic``, ``error``.

Why this way: CPython trusts a timestamp pyc whose header carries the source's
mtime and size (and never checks an unchecked-hash pyc at all), so an edited
pyc runs while its ``.py`` still hashes clean. Byte-comparing with a fresh
compile is noisy (marshal's reference flags depend on refcounts), so the pyc's
code objects are compared field by field with ``compile()`` of the source,
ignoring only ``co_filename`` (it records where the file was compiled).
Nothing is executed: ``compile`` and ``marshal.loads`` build code objects but
never run them. ``marshal`` is not hardened against malicious input, which is
why this runs in its own process (isolated, no site): a crash fails closed.
It uses only the standard library and never imports from the environment
being verified.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import sys
import types
from typing import Any

_FIELDS = (
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_nlocals",
    "co_stacksize",
    "co_flags",
    "co_firstlineno",
    "co_code",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
    "co_name",
    "co_qualname",
    "co_linetable",
    "co_exceptiontable",
)


def _const_key(value: Any) -> Any:
    """A comparable form of a constant: type-exact, -0.0 distinct from 0.0."""
    if isinstance(value, types.CodeType):
        return ("code", _code_key(value))
    if isinstance(value, tuple):
        return ("tuple", tuple(_const_key(v) for v in value))
    if isinstance(value, frozenset):
        # marshal's element order can vary; the set's members cannot.
        return ("frozenset", frozenset(_const_key(v) for v in value))
    if isinstance(value, (float, complex)):
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _code_key(code: types.CodeType) -> tuple[Any, ...]:
    fields = tuple(getattr(code, f, None) for f in _FIELDS)
    return (fields, tuple(_const_key(c) for c in code.co_consts))


def _check(pyc: str, source: str, optimize: int) -> tuple[str, str]:
    with open(pyc, "rb") as fh:
        data = fh.read()
    if data[:4] != importlib.util.MAGIC_NUMBER:
        return "bad-magic", "compiled by another Python version"
    if len(data) < 16:
        return "mismatch", "truncated header"
    with open(source, "rb") as fh:
        src = fh.read()
    fresh = compile(src, source, "exec", dont_inherit=True, optimize=optimize)
    try:
        loaded = marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError) as exc:
        return "mismatch", f"not a code object ({exc})"
    if not isinstance(loaded, types.CodeType):
        return "mismatch", "not a code object"
    if _code_key(loaded) != _code_key(fresh):
        return "mismatch", "its code differs from compiling its source"
    return "match", ""


def main() -> int:
    jobs = json.load(sys.stdin)
    for pyc, source, optimize in jobs:
        try:
            result, detail = _check(pyc, source, int(optimize))
        except (OSError, SyntaxError, ValueError) as exc:
            result, detail = "error", f"{type(exc).__name__}: {exc}"
        print(json.dumps({"pyc": pyc, "result": result, "detail": detail}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

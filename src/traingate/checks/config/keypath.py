"""Key paths: how they print, and the glob patterns (``**.seed``) that match them."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache

from traingate.checks.config.parse_json import _JSON_STRING

_UNSAFE_BARE = frozenset(".[]\"'*?")


def format_path(path: Sequence[str | int]) -> str:
    """``optimizer.lr``, ``layers[2].size``; odd keys quoted: ``model["a.b"]``.

    The root is ``(root)``. The output, used as a pattern, matches exactly this path.
    """
    if not path:
        return "(root)"
    out = []
    for seg in path:
        if isinstance(seg, int):
            out.append(f"[{seg}]")
        elif seg and seg.isprintable() and not any(c in _UNSAFE_BARE or c.isspace() for c in seg):
            out.append(f".{seg}" if out else seg)
        else:
            out.append(f"[{json.dumps(seg)}]")  # ASCII-escaped: no bidi tricks in output
    return "".join(out)


_Segment = re.Pattern[str] | None  # None is "**"


@lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> tuple[_Segment, ...]:
    def glob(text: str) -> re.Pattern[str]:
        parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
        return re.compile("".join(parts), re.DOTALL)

    segments: list[_Segment] = []
    i, n = 0, len(pattern)
    want_segment = True
    while i < n:
        ch = pattern[i]
        if ch == "[":
            if pattern.startswith('"', i + 1):
                quoted = _JSON_STRING.match(pattern, i + 1)
                if quoted is None:
                    raise ValueError(f"unterminated quoted key in pattern {pattern!r}")
                try:
                    literal, end = str(json.loads(quoted.group())), quoted.end()
                except ValueError:
                    raise ValueError(f"bad quoted key in pattern {pattern!r}") from None
                if not pattern.startswith("]", end):
                    raise ValueError(f"missing ']' in pattern {pattern!r}")
                segments.append(re.compile(re.escape(literal), re.DOTALL))
                i = end + 1
            else:
                end = pattern.find("]", i)
                if end == -1:
                    raise ValueError(f"missing ']' in pattern {pattern!r}")
                segments.append(glob(pattern[i + 1 : end]))
                i = end + 1
            want_segment = False
        elif ch == ".":
            if want_segment:
                raise ValueError(f"empty segment in pattern {pattern!r}")
            want_segment = True
            i += 1
        else:
            if not want_segment:
                raise ValueError(f"expected '.' or '[' in pattern {pattern!r} at {i}")
            end = min(
                (k for k in (pattern.find(".", i), pattern.find("[", i)) if k != -1), default=n
            )
            text = pattern[i:end]
            segments.append(None if text == "**" else glob(text))
            i = end
            want_segment = False
    if want_segment and pattern:
        raise ValueError(f"pattern {pattern!r} ends with '.'")
    return tuple(segments)


def match_key_pattern(pattern: str, path: Sequence[str | int]) -> bool:
    """Whether a key path matches a dot-separated glob.

    Each segment matches one path segment (list indexes included, as their decimal
    text); ``*`` and ``?`` glob within a segment; a ``**`` segment matches zero or
    more segments. ``[2]``, ``[*]`` and ``["a.b"]`` (a literal key) also work, so
    :func:`format_path` output is a valid pattern. A malformed pattern raises
    :class:`ValueError`. Examples: ``**.trust_remote_code``, ``optimizer.**``,
    ``data.*``, ``layers[*].size``.
    """
    segments = _compile_pattern(pattern)
    keys = [str(seg) for seg in path]
    # reachable[k]: pattern prefix matched so far can be followed by keys[k:].
    reachable = [True] + [False] * len(keys)
    for seg in segments:
        if seg is None:
            for k in range(1, len(keys) + 1):
                reachable[k] = reachable[k] or reachable[k - 1]
        else:
            reachable = [False] + [
                reachable[k] and seg.fullmatch(keys[k]) is not None for k in range(len(keys))
            ]
    return reachable[-1]

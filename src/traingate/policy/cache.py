"""The validated-policy cache (issue #17): the hook's policy without pydantic's schema build.

Validating a policy builds pydantic's validators for every model of the schema
on every run: about a fifth of a pre-commit hook that has nothing relevant to
check. A loaded policy is a pure function of the policy's bytes and of the
installation, so it is kept in the cache dir's signed store
(:class:`traingate.cache.Signed`).

Fail closed, so that nothing written in the cache dir can loosen the policy (a
check disabled, a sensitive path dropped):

- an entry is used only if its HMAC verifies under the cache dir's secret: a
  hand-edited or planted entry, or one copied from another cache, is a miss;
- the key covers the policy's exact bytes (sha256), its name, the installation
  (traingate's and Python's versions, every file of the package and its policy
  data), pydantic's versions and the date (expiry warnings), so an edited
  policy, an upgrade or a source edit is a miss;
- an entry is written only for a policy that loaded without error (a bad one is
  validated and reported on every run), and only after the policy rebuilt from
  it was compared, field by field and type by type, with the one just
  validated; an entry names only classes of the policy schema;
- anything unexpected (unreadable, corrupt, an unknown class) is a miss: full
  validation, exactly as without a cache.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from traingate import cache
from traingate.errors import PolicyError
from traingate.policy.load import LoadedPolicy
from traingate.policy.model import Policy

NAMESPACE = "policy-v1"


class _Invalid(Exception):
    """A value the cache cannot stand behind: not cached, or a miss."""


def load(
    text: str, name: str, cache_dir: Path | None, validate: Callable[[str, str], LoadedPolicy]
) -> LoadedPolicy:
    """``validate(text, name)``, or what it returned before for the same key
    (with no ``cache_dir``, always the former).

    The result carries ``name`` as its source; the caller names the real one.
    """
    if cache_dir is None:
        return validate(text, name)
    sha256 = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    store = cache.Signed(cache_dir, NAMESPACE)
    try:
        key: str | None = _key(name, sha256)
    except (OSError, PolicyError):
        key = None
    if key is not None:
        try:
            got = store.get(key)
            if got is not None:
                return _decode_loaded(got, name, sha256)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, _Invalid):
            pass  # a corrupt entry is a miss
    loaded = validate(text, name)  # a PolicyError propagates; nothing is written
    if key is not None:
        try:
            encoded = _encode_loaded(loaded)
            if _same_loaded(_decode_loaded(encoded, name, sha256), loaded):
                store.put(key, encoded)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, _Invalid):
            pass  # cannot be rebuilt exactly: validated on every run instead
    return loaded


def _key(name: str, sha256: str) -> str:
    import pydantic
    import pydantic_core

    from traingate.policy.load import _today

    return cache.key(
        NAMESPACE,
        cache.installation(),
        f"pydantic {pydantic.VERSION} pydantic-core {pydantic_core.__version__}",
        str(_today()),
        name,
        sha256,
    )


# JSON with a tag per non-JSON value, so that types survive the trip.


def _encode_loaded(loaded: LoadedPolicy) -> dict[str, Any]:
    if loaded.codeowners_text is not None:
        raise _Invalid("codeowners text is read from git on each run, never cached")
    return {
        "policy": _enc(loaded.policy),
        "warnings": list(loaded.warnings),
        "layers": list(loaded.layers),
        "own_sensitive_paths": list(loaded.own_sensitive_paths),
    }


def _decode_loaded(data: dict[str, Any], name: str, sha256: str) -> LoadedPolicy:
    policy = _dec(data["policy"], _classes())
    if type(policy) is not Policy:
        raise _Invalid("not a policy")
    return LoadedPolicy(
        policy=policy,
        source=name,
        sha256=sha256,  # of the bytes just read, never of the entry
        warnings=_strings(data["warnings"]),
        layers=_strings(data["layers"]),
        own_sensitive_paths=_strings(data["own_sensitive_paths"]),
    )


def _strings(value: Any) -> tuple[str, ...]:
    if type(value) is not list or not all(type(v) is str for v in value):
        raise _Invalid("not a list of strings")
    return tuple(value)


def _enc(v: Any) -> Any:
    if isinstance(v, BaseModel):
        if v.__pydantic_extra__ or v.__pydantic_private__:
            raise _Invalid(f"{type(v).__name__} carries extra or private state")
        return {
            "m": _name(type(v)),
            "s": sorted(v.model_fields_set),
            "f": {k: _enc(getattr(v, k)) for k in type(v).model_fields},
        }
    if isinstance(v, enum.Enum):
        return {"e": _name(type(v)), "v": v.value}
    if type(v) is dt.date:
        return {"d": v.isoformat()}
    if type(v) in (list, tuple):
        return {"l" if type(v) is list else "t": [_enc(x) for x in v]}
    if type(v) is dict:
        return {"k": [[_enc(k), _enc(x)] for k, x in v.items()]}
    if v is None or type(v) in (str, int, bool):
        return v
    raise _Invalid(f"cannot cache a {type(v).__name__}")


def _dec(v: Any, classes: dict[str, type]) -> Any:
    if v is None or type(v) in (str, int, bool):
        return v
    if type(v) is not dict:
        raise _Invalid("not an encoded value")
    tags = set(v)
    if tags == {"m", "s", "f"}:
        cls = classes.get(v["m"])
        fields = v["f"]
        if cls is None or not issubclass(cls, BaseModel) or type(fields) is not dict:
            raise _Invalid(f"unknown model {v['m']!r}")
        fields_set = set(_strings(v["s"]))
        if set(fields) != set(cls.model_fields) or not fields_set <= set(fields):
            raise _Invalid(f"the fields of {v['m']} differ")
        values = {k: _dec(x, classes) for k, x in fields.items()}
        return cls.model_construct(_fields_set=fields_set, **values)
    if tags == {"e", "v"}:
        cls = classes.get(v["e"])
        if cls is None or not issubclass(cls, enum.Enum):
            raise _Invalid(f"unknown enum {v['e']!r}")
        return cls(v["v"])
    if tags == {"d"} and type(v["d"]) is str:
        return dt.date.fromisoformat(v["d"])
    if tags in ({"l"}, {"t"}):
        items = v.get("l", v.get("t"))
        if type(items) is not list:
            raise _Invalid("not a list")
        out = [_dec(x, classes) for x in items]
        return out if "l" in tags else tuple(out)
    if tags == {"k"} and type(v["k"]) is list:
        pairs = {}
        for pair in v["k"]:
            if type(pair) is not list or len(pair) != 2:
                raise _Invalid("not a key/value pair")
            pairs[_dec(pair[0], classes)] = _dec(pair[1], classes)
        return pairs
    raise _Invalid("not an encoded value")


def _same_loaded(a: LoadedPolicy, b: LoadedPolicy) -> bool:
    return (
        _same(a.policy, b.policy)
        and a.warnings == b.warnings
        and a.layers == b.layers
        and a.own_sensitive_paths == b.own_sensitive_paths
        and a.source == b.source
        and a.sha256 == b.sha256
        and a.codeowners_text == b.codeowners_text
    )


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (``==`` takes "ERROR" for
    Severity.ERROR, and a tuple for the list it came from)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, BaseModel):
        return a.model_fields_set == b.model_fields_set and all(
            _same(getattr(a, k), getattr(b, k)) for k in type(a).model_fields
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            _same(ka, kb) and _same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    return bool(a == b)


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _classes() -> dict[str, type]:
    """The models and enums the policy schema is made of: the only classes an
    entry may name."""
    found: dict[str, type] = {}
    pending: list[Any] = [Policy]
    while pending:
        tp = pending.pop()
        if isinstance(tp, type) and issubclass(tp, (BaseModel, enum.Enum)):
            if _name(tp) not in found:
                found[_name(tp)] = tp
                if issubclass(tp, BaseModel):
                    pending.extend(f.annotation for f in tp.model_fields.values())
        else:
            pending.extend(typing.get_args(tp))
    return found

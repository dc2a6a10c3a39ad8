"""Hypothesis settings for the property tests, in two profiles.

CI (the default) runs each property with the example count written at the test,
derandomized so a CI run is reproducible. For a long local run:

    TRAINGATE_FUZZ=long pytest -q tests -k "fuzz or never or property or round_trip"

multiplies every count by 25 and draws fresh random examples each run (see
docs/security/threat-model.md, "Fuzzing").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

_PROFILES = {"ci": 1, "long": 25}
_name = os.environ.get("TRAINGATE_FUZZ", "ci")
if _name not in _PROFILES:
    raise RuntimeError(f"TRAINGATE_FUZZ={_name!r}: use one of {', '.join(_PROFILES)}")
SCALE = _PROFILES[_name]

T = TypeVar("T", bound=Callable[..., Any])


def fuzz(examples: int, **extra: Any) -> Callable[[T], T]:
    """``@settings`` with ``examples`` scaled by the profile and no deadline."""
    health = [HealthCheck.too_slow, HealthCheck.data_too_large, *extra.pop("suppress", [])]
    default = settings.default
    assert default is not None  # hypothesis always has a loaded profile
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None if SCALE == 1 else default.database,
        suppress_health_check=health,
        **extra,
    )

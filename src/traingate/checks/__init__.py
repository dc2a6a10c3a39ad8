"""The check registry: one module per check, listed here in run order.

Each module satisfies :class:`traingate.checks.base.Check`: a module-level
``ID`` and ``run(ctx) -> list[Finding]``. Modules are imported only when their
check runs, so a commit that touches nothing relevant imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import cast

from traingate.checks.base import Check

# id -> module. The id is the policy key (checks.<id>), the docs page
# (docs/checks/<id>.md) and the SARIF rule prefix. Never rename or reuse one.
REGISTRY: dict[str, str] = {
    "repository": "traingate.checks.repository",
    "unicode": "traingate.checks.unicode",
    "suppression": "traingate.checks.suppression",
    "config": "traingate.checks.config",
    "artifacts": "traingate.checks.artifacts",
    "semgrep": "traingate.checks.semgrep",
}


def load(check_id: str) -> Check:
    return cast(Check, importlib.import_module(REGISTRY[check_id]))

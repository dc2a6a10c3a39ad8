"""The check registry: one module per check, listed here in run order.

Each module satisfies :class:`traingate.checks.base.Check`: a module-level
``ID``, ``DESCRIPTION``, ``RULES`` (its :class:`traingate.catalog.Catalog`) and
``run(ctx) -> list[Finding]``. The mapping is statically imported, so the type
checker sees every module against the protocol (pre-commit's all_languages.py
is the model). The modules themselves are light: the engines they drive
(semgrep, the pickle machine, the config parsers) are imported inside ``run``
or are standard library only.
"""

from __future__ import annotations

from traingate.catalog import Catalog
from traingate.checks import (
    artifacts,
    autorun,
    config,
    reach,
    repository,
    sabotage,
    semgrep,
    suppression,
    unicode,
    workflows,
)
from traingate.checks.base import Check

# id -> module. The id is the policy key (checks.<id>), the docs page
# (docs/checks/<id>.md) and the SARIF rule prefix. Never rename or reuse one.
REGISTRY: dict[str, Check] = {
    "repository": repository,
    "unicode": unicode,
    "suppression": suppression,
    "config": config,
    "artifacts": artifacts,
    # Issue #16: bytecode, start-up and install hooks, judged by their place.
    "autorun": autorun,
    "semgrep": semgrep,
    "reach": reach,
    # Issue #16 class 3: sabotage recognised by meaning (triggers and payloads).
    "sabotage": sabotage,
    # Session 26: workflows and actions audited by zizmor (template injection &c.).
    "workflows": workflows,
}

CATALOGS: dict[str, Catalog] = {cid: mod.RULES for cid, mod in REGISTRY.items()}


def load(check_id: str) -> Check:
    return REGISTRY[check_id]

"""Config nodes built by a resolver: ``${oc.create:...}`` / ``${oc.decode:...}``.

A node made from text has no ``_target_`` key in the file, yet Hydra
instantiates it like any other: its argument is read for target keys, as
written and as the YAML it decodes to, and a node built from text chosen when
the job runs is untrusted (issue #16, sessions 27-28).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from traingate.change import ChangedFile
from traingate.checks.config.effective import _Eff
from traingate.checks.config.keypath import format_path
from traingate.checks.config.rules import _finding
from traingate.checks.config.targets import (
    _TARGET_KEYS,
    _dangerous_target,
    _effect,
    _stdlib_target,
)
from traingate.findings import Finding

# A target key inside a resolver's argument: `${oc.create:{_target_: os.system}}`
# and `${oc.decode:'{_target_: ...}'}` build a node Hydra instantiates, with no
# `_target_` key in the file (session 27 red team).
_ARG_TARGET = re.compile(
    r"""["']?\b(_target_|_partial_target_|_component_|class_path)["']?\s*:\s*"""
    r"""(\$\{|["']?([A-Za-z_][\w.]*))"""
)


def _matched_targets(arg: str) -> Iterator[tuple[str, str | None]]:
    for m in _ARG_TARGET.finditer(arg):
        yield m.group(1), m.group(3)


def _parsed_targets(arg: str) -> Iterator[tuple[str, str | None]]:
    """The argument read as the YAML ``oc.create`` builds a node from (session
    27 review: `"_tar\\x67et_"` is `_target_` once decoded, which no regex
    over the raw text sees). A string target that is an interpolation is
    reported as None (untrusted)."""
    import yaml

    text = arg.strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    try:
        node = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return
    stack: list[object] = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if str(k) in _TARGET_KEYS and isinstance(v, str):
                    yield str(k), None if "${" in v else v
                stack.append(v)
        elif isinstance(cur, list):
            stack.extend(cur)


def _runtime_node(f: ChangedFile, e: _Eff) -> Iterator[Finding]:
    """``${oc.create:${oc.env:X}}``: a node built from text chosen when the job
    runs. ``oc.create`` only ever makes a node (a dict whose ``_target_`` Hydra
    instantiates), so, unlike ``oc.decode`` (how numbers are read from the
    environment), there is no ordinary reading of it."""
    if not e.unknown:
        return
    for name, arg in e.resolvers:
        if name == "oc.create" and "${" in arg:
            yield _finding(
                f,
                "config-untrusted-target",
                e.change.line,
                e.change.column,
                f"{format_path(e.change.path)}: ${{oc.create:...}} builds a node from "
                f"text that is not in the file ({e.unknown[0]}), so what instantiating it "
                "calls is not in the change under review",
                "write the node in the config, with a literal _target_ of your own",
            )
            return


def _resolver_targets(f: ChangedFile, effs: list[_Eff]) -> Iterator[Finding]:
    for e in effs:
        found = [x for name, arg in e.resolvers for x in _arg_targets(f, e, name, arg)]
        found.extend(_runtime_node(f, e))
        # `{_target_: ${spec}}` is read twice, raw and expanded: the expanded
        # target, when there is one, says more than "read from an interpolation"
        unique = list({x.message: x for x in found}.values())
        dangerous = [x for x in unique if x.rule_id == "config-dangerous-target"]
        yield from dangerous or unique[:1]


def _arg_targets(f: ChangedFile, e: _Eff, name: str, arg: str) -> Iterator[Finding]:
    for key, dotted in [*_parsed_targets(arg), *_matched_targets(arg)]:
        where = f"{format_path(e.change.path)}: ${{{name}:...}} builds a {key}"
        if dotted is None:
            yield _finding(
                f,
                "config-untrusted-target",
                e.change.line,
                e.change.column,
                f"{where} read from an interpolation, so what instantiating this "
                "config calls is not in the change under review",
                "write the target as a literal dotted path to your own class",
            )
        elif _dangerous_target(dotted) or _stdlib_target(dotted):
            yield _finding(
                f,
                "config-dangerous-target",
                e.change.line,
                e.change.column,
                f"{where} = {dotted!r}: instantiating this config would {_effect(dotted)}",
                "point _target_ at your own classes; see checks.config target_allow",
            )

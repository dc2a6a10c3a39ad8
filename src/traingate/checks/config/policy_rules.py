"""The policy's own config rules (``config_rules``): approval keys, forbid, allow lists, bounds."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from traingate.change import ChangedFile
from traingate.checks.config.doc import KeyChange
from traingate.checks.config.effective import _Eff, _via
from traingate.checks.config.keypath import format_path, match_key_pattern
from traingate.checks.config.rules import _finding
from traingate.checks.config.settings import ConfigRule
from traingate.findings import Finding

if TYPE_CHECKING:  # the policy model imports the checks: only a type here
    from traingate.policy.model import Policy

# Keys judged by path_allow unless a rule names its own path_keys (issue #16).
DEFAULT_PATH_KEYS = (
    "**.data_dir",
    "**.data_path",
    "**.data_root",
    "**.dataset_path",
    "**.data_files",
    "**.data_files.**",
    "**.train_file",
    "**.validation_file",
    "**.test_file",
    "**.train_path",
    "**.val_path",
    "**.test_path",
    "**.checkpoint_dir",
    "**.checkpoint_path",
    "**.ckpt_path",
    "**.resume_from_checkpoint",
    "**.load_from_checkpoint",
    "**.pretrained_path",
    "**.output_dir",
    "**.save_dir",
    "**.cache_dir",
)


def _approval_keys(
    f: ChangedFile,
    rule: ConfigRule,
    changes: list[KeyChange],
    effs: list[_Eff],
    group: str | None,
    mode: str,
) -> Iterator[Finding]:
    """config-key-change. ``mode`` "each": every added, changed or removed key of
    an existing file, and every key whose *resolved* value changed because a key
    it interpolates did; "summary": an added file, one finding naming its keys;
    "none": a whole-file scan (issue #16: 1,049 findings on ordinary recipes)."""
    if mode == "none" or not rule.approval_keys:
        return

    def wanted(path: tuple[str | int, ...]) -> bool:
        return any(match_key_pattern(k, path) for k in rule.approval_keys)

    if mode == "summary":
        keys = [e.change for e in effs if wanted(e.change.path)]
        if keys:
            first = keys[0]
            shown = ", ".join(format_path(c.path) for c in keys[:5])
            more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
            yield _finding(
                f,
                "config-key-change",
                first.line,
                first.column,
                f"new config file sets {len(keys)} key(s) matching approval_keys "
                f"({shown}{more}) of rule {rule.name!r}",
                group=group,
            )
        return
    through = {e.change.path: e for e in effs if e.through}
    for c in changes:
        if wanted(c.path):
            yield _finding(
                f,
                "config-key-change",
                c.line,
                c.column,
                f"{format_path(c.path)}: {c.kind} ({_show(c.old)} -> {_show(c.new)}), "
                f"an approval key of rule {rule.name!r}",
                group=group,
            )
    for path, e in through.items():
        if wanted(path):
            yield _finding(
                f,
                "config-key-change",
                e.change.line,
                e.change.column,
                f"{format_path(path)} = {e.change.new!r} now resolves to {e.text!r}: "
                f"a key it interpolates changed; an approval key of rule {rule.name!r}",
                group=group,
            )


def _policy_rule(
    f: ChangedFile,
    rule: ConfigRule,
    changes: list[KeyChange],
    effs: list[_Eff],
    policy: Policy,
    mode: str = "each",
) -> Iterator[Finding]:
    group = rule.approval_group or policy.security_group
    yield from _approval_keys(f, rule, changes, effs, group, mode)
    path_keys = rule.path_keys if rule.path_keys is not None else DEFAULT_PATH_KEYS
    for e in effs:
        c = e.change
        where = format_path(c.path)
        value = e.value
        for fb in rule.forbid:
            if match_key_pattern(fb.key, c.path) and (
                fb.any_value or fb.value is None or value == fb.value or e.unknown
            ):
                why = f": {e.unknown[0]}" if e.unknown else ""
                yield _finding(
                    f,
                    "config-forbidden",
                    c.line,
                    c.column,
                    f"{where} = {_shown(e)}{_via(e)} is forbidden by config rule "
                    f"{rule.name!r}{why}",
                )
        is_target = bool(c.path) and c.path[-1] in ("_target_", "_component_")
        if (
            rule.target_allow is not None
            and is_target
            and isinstance(c.new, str)
            and (
                e.unknown
                or not any(
                    e.text == p or e.text.startswith(p.rstrip(".") + ".") for p in rule.target_allow
                )
            )
        ):
            yield _finding(
                f,
                "config-target-not-allowed",
                c.line,
                c.column,
                f"{where} = {e.text!r}{_via(e)} is outside the allowed modules of rule "
                f"{rule.name!r}",
            )
        if (
            rule.url_hosts is not None
            and isinstance(c.new, str)
            and re.match(r"^[a-z][a-z0-9+.-]*://", e.text)
        ):
            host = (urlsplit(e.text).hostname or "").lower()
            if e.unknown or not any(host == h or host.endswith("." + h) for h in rule.url_hosts):
                yield _finding(
                    f,
                    "config-url-host",
                    c.line,
                    c.column,
                    f"{where} points at host {host!r}{_via(e)}, not in the allowed "
                    f"hosts of rule {rule.name!r}",
                )
        if (
            rule.path_allow is not None
            and isinstance(c.new, str)
            and any(match_key_pattern(k, c.path) for k in path_keys)
            and not _path_allowed(e, rule.path_allow)
        ):
            why = f": {e.unknown[0]}" if e.unknown else ""
            yield _finding(
                f,
                "config-path-not-allowed",
                c.line,
                c.column,
                f"{where} = {e.text!r}{_via(e)} is outside the allowed locations of rule "
                f"{rule.name!r}{why}",
            )
        for pattern, bound in rule.bounds.items():
            if (
                match_key_pattern(pattern, c.path)
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ) and (
                (bound.min is not None and value < bound.min)
                or (bound.max is not None and value > bound.max)
            ):
                yield _finding(
                    f,
                    "config-out-of-bounds",
                    c.line,
                    c.column,
                    f"{where} = {value}{_via(e)} is outside [{bound.min}, {bound.max}] "
                    f"(rule {rule.name!r})",
                )


def _path_allowed(e: _Eff, allow: Iterable[str]) -> bool:
    """A path value under one of the allowed prefixes, after resolving
    interpolation and ``..``; a value decided at run time is never allowed."""
    if e.unknown:
        return False
    text = e.text.strip()
    if not text:
        return True
    if "://" not in text:
        text = posixpath.normpath(text)
    for prefix in allow:
        p = prefix if "://" in prefix else posixpath.normpath(prefix)
        p = p.rstrip("/")
        if text == p or text.startswith(p + "/") or not p:
            return True
    return False


def _shown(e: _Eff) -> str:
    return repr(e.text) if e.unknown or isinstance(e.value, str) else repr(e.value)


def _show(v: object) -> str:
    return "∅" if v is None else repr(v)

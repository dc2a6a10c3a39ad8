"""The rule catalog: every rule id traingate can report, declared once (issue #15).

Users speak to traingate in rule ids: policy overrides and exemptions, SARIF,
docs links, audit records. Each built-in check declares its rules in a
:class:`Catalog` (``RULES`` in its module) and makes findings only through it,
so no finding can carry an undeclared id (the engine also refuses one). The
semgrep pack's rules are declared by their YAML files (id, severity, message,
``metadata.category``) and read from the shipped pack.

Policy validation, SARIF, ``traingate rule ID``, ``traingate rules list`` and
the docs tests all read this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

from traingate.findings import Finding, Severity

# Where rule pages are published; a deployment that mirrors the docs sets
# TRAINGATE_DOCS_URL (the offline text is `traingate rule ID`).
DEFAULT_DOCS_URL = "https://github.com/traingate/traingate/blob/main/docs/"


def docs_base() -> str:
    base = os.environ.get("TRAINGATE_DOCS_URL") or DEFAULT_DOCS_URL
    return base if base.endswith("/") else base + "/"


@dataclass(frozen=True)
class Rule:
    """One rule: the id users write, its default severity and its one-line summary."""

    id: str
    severity: Severity
    summary: str
    help: str = ""  # how to fix, one line
    category: str | None = None
    since: str = "0.1.0"  # the release it appeared in
    check: str = ""  # set by the Catalog that declares it
    pack: bool = False  # a rule of the semgrep pack (declared by its YAML file)

    @property
    def page(self) -> str:
        """The docs page and anchor, relative to the docs root."""
        if self.pack:
            return f"rules/{self.id}.md"
        if self.check == "approvals":
            return "approvals.md#semantics"
        return f"checks/{self.check}.md#{self.id}"

    @property
    def url(self) -> str:
        return docs_base() + self.page


@dataclass(frozen=True)
class Catalog:
    """The rules of one check. Findings are made through :meth:`finding`."""

    check: str
    rules: tuple[Rule, ...]
    _by_id: dict[str, Rule] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for r in self.rules:
            if r.id in self._by_id:
                raise ValueError(f"rule {r.id!r} declared twice in check {self.check!r}")
            self._by_id[r.id] = replace(r, check=self.check)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._by_id.values())

    def __getitem__(self, rule_id: str) -> Rule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            raise KeyError(f"check {self.check!r} declares no rule {rule_id!r}") from None

    def finding(
        self,
        rule_id: str,
        *,
        path: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
        severity: Severity | None = None,
        help: str | None = None,
        category: str | None = None,
        approval_group: str | None = None,
    ) -> Finding:
        rule = self[rule_id]
        return Finding(
            path=path,
            line=line,
            column=column,
            check=self.check,
            rule_id=rule.id,
            severity=severity or rule.severity,
            message=message,
            end_line=end_line,
            end_column=end_column,
            category=category or rule.category,
            help=help or rule.help or None,
            approval_group=approval_group,
        )


def declare(check: str, rules: Iterable[Rule]) -> Catalog:
    return Catalog(check, tuple(rules))


# The requirement results of SARIF and Code Quality: not a finding of a check.
APPROVAL_REQUIRED = Rule(
    "approval-required",
    Severity.ERROR,
    "A change needs approvals it does not have yet",
    help="ask the listed approvers to review the change in the merge request",
    check="approvals",
)


@lru_cache(maxsize=1)
def check_catalogs() -> dict[str, Catalog]:
    """Every built-in check's catalog, in registry order."""
    from traingate.checks import CATALOGS

    return dict(CATALOGS)


@lru_cache(maxsize=1)
def semgrep_pack() -> tuple[Rule, ...]:
    """The shipped pack's rules, as their YAML declares them."""
    import yaml

    from traingate.policy.load import data_dir

    out: list[Rule] = []
    for path in sorted((data_dir() / "rules").rglob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for raw in doc.get("rules") or []:
            message = " ".join(str(raw.get("message", "")).split())
            first = message.split(". ")[0].rstrip(".")
            meta = raw.get("metadata") or {}
            out.append(
                Rule(
                    id=str(raw["id"]),
                    severity=Severity(str(raw.get("severity", "WARNING")).upper()),
                    summary=first,
                    category=meta.get("category"),
                    check="semgrep",
                    pack=True,
                )
            )
    return tuple(out)


def rules_of(check: str) -> dict[str, Rule]:
    """The ids a policy may name for ``check`` (the semgrep pack included)."""
    out = {r.id: r for r in check_catalogs()[check]} if check in check_catalogs() else {}
    if check == "semgrep":
        out.update({r.id: r for r in semgrep_pack()})
    return out


def all_rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for check in check_catalogs():
        out.update(rules_of(check))
    out[APPROVAL_REQUIRED.id] = APPROVAL_REQUIRED
    return out


def categories_of(check: str) -> set[str]:
    return {r.category for r in rules_of(check).values() if r.category}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib  # only on an error: every check imports this module

    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def render_list(check: str | None, fmt: str) -> str:
    """``traingate rules list``: the catalog, one rule a line (or JSON)."""
    from traingate.errors import UsageError

    rules = [r for r in all_rules().values() if check is None or r.check == check]
    if check is not None and not rules:
        raise UsageError(
            f"no check {check!r}" + did_you_mean(check, check_catalogs()),
            help="`traingate rules list` lists every check's rules",
        )
    rules.sort(key=lambda r: (r.check, r.id))
    if fmt == "json":
        import json

        doc = [
            {
                "id": r.id,
                "check": r.check,
                "severity": r.severity.value,
                "category": r.category,
                "summary": r.summary,
                "since": r.since,
                "url": r.url,
            }
            for r in rules
        ]
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    width = max(len(r.id) for r in rules)
    lines = [f"{r.id:<{width}}  {r.check:<11} {r.severity.value:<7}  {r.summary}" for r in rules]
    return "\n".join(lines) + "\n"


def render_rule(rule_id: str) -> str:
    """``traingate rule ID``: the rule's catalog entry and its documentation, offline."""
    from traingate.docs import rule_doc
    from traingate.errors import UsageError

    rules = all_rules()
    rule = rules.get(rule_id)
    if rule is None:
        raise UsageError(
            f"no rule {rule_id!r}" + did_you_mean(rule_id, rules),
            help="`traingate rules list` lists every rule id",
        )
    head = [
        f"{rule.id} ({rule.check}, {rule.severity.value}"
        + (f", category {rule.category}" if rule.category else "")
        + f", since {rule.since})",
        "",
        rule.summary,
    ]
    if rule.help:
        head += ["", f"help: {rule.help}"]
    head += ["", f"docs: {rule.url}"]
    doc = rule_doc(rule.id, rule.check) if rule.check != "approvals" else None
    return "\n".join(head) + "\n" + (f"\n{doc.rstrip()}\n" if doc else "")

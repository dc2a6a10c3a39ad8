"""Loading, layering and validating policies, with errors at file:line:column."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from traingate.errors import PolicyError
from traingate.policy.model import CHECK_IDS, Checks, Policy

if TYPE_CHECKING:  # yamlsafe (PyYAML) loads on a validation, not on a cache hit
    from traingate import git, yamlsafe

POLICY_FILE = ".traingate.yaml"
BUILTIN_DEFAULT = "builtin:default"


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str  # shown in reports: ".traingate.yaml@<sha>", a file path, or builtin:default
    sha256: str  # of the repo's policy text (or of the builtin when none)
    warnings: tuple[str, ...] = ()
    layers: tuple[str, ...] = field(default=())
    codeowners_text: str | None = None  # CODEOWNERS named by the policy, from the same source
    own_sensitive_paths: tuple[str, ...] = ()  # names the repo's own layer defines


def data_dir() -> Path:
    """The shipped ``policy/`` directory (default policy and rule pack).

    Installed wheels carry it as ``traingate/_policy``; a source checkout or an
    editable install reads the top-level ``policy/`` directly.
    """
    # resources.files("traingate") of an installed package, minus zipfile's import (#17)
    packaged = Path(__file__).parent.parent / "_policy"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[3] / "policy"
    if source.is_dir():
        return source
    raise PolicyError("the shipped policy/ directory is missing from this installation")


def builtin_text() -> str:
    return (data_dir() / "default.yaml").read_text(encoding="utf-8")


def load_text(text: str, name: str, *, source: str | None = None) -> LoadedPolicy:
    """Parse, layer (``extends``) and validate one policy text."""
    layer = _parse_layer(text, name)
    layers = [name]
    policy = layer.policy
    if policy.extends == BUILTIN_DEFAULT:
        base = _parse_layer(builtin_text(), BUILTIN_DEFAULT)
        policy = merge(base.policy, policy)
        layers.insert(0, BUILTIN_DEFAULT)
    warnings = _cross_check(policy, layer)
    return LoadedPolicy(
        policy=policy,
        source=source or name,
        sha256=hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(),
        warnings=tuple(warnings),
        layers=tuple(layers),
        own_sensitive_paths=tuple(sp.name for sp in layer.policy.sensitive_paths),
    )


def load_builtin() -> LoadedPolicy:
    return load_text(builtin_text(), BUILTIN_DEFAULT)


def load_file(path: str | Path) -> LoadedPolicy:
    if str(path) == BUILTIN_DEFAULT:
        return load_builtin()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {p}: {exc.strerror}", location=str(p)) from None
    loaded = load_text(decode(data, str(p)), str(p))
    if loaded.policy.codeowners:
        owners = p.parent / loaded.policy.codeowners
        try:
            text = owners.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(
                f"codeowners: cannot read {owners}: {exc.strerror}", location=str(p)
            ) from None
        from dataclasses import replace

        loaded = replace(loaded, codeowners_text=text)
    return loaded


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyError("policy is not valid UTF-8", location=f"{name}:{line}:{col}") from None


def load_from_git(
    root: Path,
    rev: str | None,
    reader: git.BlobReader | None = None,
    cache_dir: Path | None = None,
) -> LoadedPolicy:
    """The trusted policy: ``.traingate.yaml`` as committed at ``rev``.

    Never the working tree or the change's head: a change is judged by the
    policy it is trying to merge into (trusted base). Issue #17: ``reader`` (the
    change's cat-file) spares two git processes, ``cache_dir`` a re-validation."""
    from traingate import git

    if rev is None:
        return _with_source(load_builtin(), f"{BUILTIN_DEFAULT} (no commit yet)")
    if reader is None:
        reader, entry = git.BlobReader(root), git.tree_entry(root, rev, POLICY_FILE)
    else:
        entry = git.tree_entry_at(reader, rev, POLICY_FILE)
    if entry is None:
        return _with_source(load_builtin(), f"{BUILTIN_DEFAULT} (no {POLICY_FILE} at {rev[:12]})")
    if entry.kind != "blob" or entry.mode not in ("100644", "100755"):
        raise PolicyError(
            f"{POLICY_FILE} at {rev[:12]} is not a regular file (mode {entry.mode})",
            location=POLICY_FILE,
            help="the policy must be a plain file; symlinks and submodules are refused",
        )
    from traingate.policy import cache

    text = decode(reader.read(entry.oid), POLICY_FILE)
    loaded = _with_source(
        cache.load(text, POLICY_FILE, cache_dir, load_text), f"{POLICY_FILE}@{rev[:12]}"
    )
    from traingate.policy.basefiles import with_base_files

    return with_base_files(loaded, root, rev, reader)


def _with_source(loaded: LoadedPolicy, source: str) -> LoadedPolicy:
    from dataclasses import replace

    return replace(loaded, source=source)


@dataclass(frozen=True)
class _Layer:
    policy: Policy
    name: str
    loaded: yamlsafe.Loaded


def _parse_layer(text: str, name: str) -> _Layer:
    from traingate import yamlsafe

    try:
        loaded = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise PolicyError(exc.message, location=_where(name, exc.pos)) from None
    if not isinstance(loaded.value, dict):
        raise PolicyError(
            "a policy must be a YAML mapping with at least `version: 1`",
            location=_where(name, loaded.values.get(())),
        )
    try:
        policy = Policy.model_validate(loaded.value)
    except ValidationError as exc:
        raise _policy_error(exc, name, loaded) from None
    return _Layer(policy, name, loaded)


def _where(name: str, pos: yamlsafe.Pos | None) -> str:
    return f"{name}:{pos.line}:{pos.column}" if pos else name


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _policy_error(exc: ValidationError, name: str, loaded: yamlsafe.Loaded) -> PolicyError:
    """pydantic's errors in the policy's own words (issue #18): one message per
    location, no union-member tags, the allowed values, and a "did you mean"."""
    grouped: dict[tuple[str | int, ...], list[Any]] = {}
    for err in exc.errors():
        grouped.setdefault(_yaml_loc(err["loc"], loaded), []).append(err)
    problems: dict[str, list[str]] = {}
    for loc, errs in grouped.items():
        kind = errs[0]["type"]
        pos = _position(loc, kind, loaded)
        key = f"{_where(name, pos)}: {format_loc(loc) or '<top>'}"
        for msg in _messages(loc, errs):
            problems.setdefault(key, [])
            if msg not in problems[key]:
                problems[key].append(msg)
    lines = [f"{k}: {' / '.join(v)}" for k, v in problems.items()]
    help = f"see {_docs('policy.md')} for the schema"
    location, _, message = lines[0].partition(": ")
    if len(lines) == 1:
        return PolicyError(message, location=location, help=help)
    return PolicyError(f"{len(lines)} problems in the policy:\n  " + "\n  ".join(lines), help=help)


_ACTIONS = ("block", "warn", "ignore")


def _messages(loc: tuple[str | int, ...], errs: list[Any]) -> list[str]:
    from traingate.catalog import did_you_mean

    kinds = {e["type"] for e in errs}
    value = errs[0].get("input")
    if "extra_forbidden" in kinds:
        return [
            "unknown key (not part of the policy schema)"
            + did_you_mean(str(loc[-1]), _fields_at(loc[:-1]))
        ]
    if "literal_error" in kinds and any(_is_action_union(e["loc"]) for e in errs):
        # An action: a word, or {require_approval: GROUP}.
        if isinstance(value, dict):
            return [_plain(e) for e in errs if not _is_literal_branch(e["loc"])]
        return [
            f"must be block, warn, ignore or {{require_approval: GROUP}}, not {value!r}"
            + (did_you_mean(value, _ACTIONS) if isinstance(value, str) else "")
        ]
    if "literal_error" in kinds:
        expected = [str(x).strip("'") for e in errs for x in _expected(e)]
        got = f", not {value!r}" if value is not None else ""
        hint = did_you_mean(value, expected) if isinstance(value, str) else ""
        allowed = expected[0] if len(expected) == 1 else "one of " + ", ".join(expected)
        return [f"must be {allowed}{got}{hint}"]
    return [_plain(e) for e in errs]


def _plain(err: Any) -> str:
    msg = str(err["msg"])
    return msg.replace(
        "Input should be a valid dictionary or instance of RequireApproval", "must be a mapping"
    )


def _expected(err: Any) -> list[str]:
    raw = str((err.get("ctx") or {}).get("expected", ""))
    return [x.strip() for x in raw.replace(" or ", ", ").split(",") if x.strip()]


def _is_action_union(loc: tuple[Any, ...]) -> bool:
    return any(
        isinstance(p, str) and (p.startswith("literal[") or p == "RequireApproval") for p in loc
    )


def _is_literal_branch(loc: tuple[Any, ...]) -> bool:
    return any(isinstance(p, str) and p.startswith("literal[") for p in loc)


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the schema allows at ``loc`` (for "did you mean")."""
    import typing

    from pydantic import BaseModel

    current: Any = Policy
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
            continue
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin in (list, tuple) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Optional[X] / Annotated[X, ...] / X | Y -> the model member, if any."""
    import types
    import typing

    from pydantic import BaseModel

    for _ in range(5):
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else (members[0] if len(members) == 1 else tp)
            if not models and len(members) != 1:
                return tp
        else:
            return tp
    return tp


def _docs(page: str) -> str:
    from traingate.catalog import docs_base

    return docs_base() + page


def _yaml_loc(loc: tuple[Any, ...], loaded: yamlsafe.Loaded) -> tuple[str | int, ...]:
    """Drop pydantic's union-member tags (e.g. 'RequireApproval') from a loc."""
    out: list[str | int] = []
    for part in loc:
        if part == "[key]" or _is_tag(part):
            continue
        candidate = (*out, part)
        if candidate in loaded.values or candidate in loaded.keys or isinstance(part, int):
            out.append(part)
        elif not any(k[: len(candidate)] == candidate for k in loaded.values) and part == loc[-1]:
            out.append(part)  # a missing field: keep its name for the message
    return tuple(out)


def _is_tag(part: Any) -> bool:
    """pydantic's union-member tags in a loc: `literal['block',...]`, class names,
    `function-after[...]`: never keys of a policy file."""
    return isinstance(part, str) and (
        part.startswith(("literal[", "function-", "tagged-union["))
        or (part[:1].isupper() and part.isidentifier() and part not in ("ERROR", "WARNING", "INFO"))
    )


def _position(
    loc: tuple[str | int, ...], kind: str, loaded: yamlsafe.Loaded
) -> yamlsafe.Pos | None:
    if kind == "extra_forbidden" and loc in loaded.keys:
        return loaded.keys[loc]
    probe = loc
    while probe:
        if probe in loaded.values:
            return loaded.values[probe]
        probe = probe[:-1]
    return loaded.values.get(())


def merge(base: Policy, top: Policy) -> Policy:
    """Layer ``top`` over ``base`` (``extends``): maps merge, lists append,
    sensitive paths with the same name are replaced."""
    names = {s.name for s in top.sensitive_paths}
    checks = {}
    for cid in Checks.model_fields:
        b, t = getattr(base.checks, cid), getattr(top.checks, cid)
        upd = {k: getattr(t, k) for k in t.model_fields_set}
        if "actions" in upd:
            upd["actions"] = {**b.actions, **t.actions}
        if "rules" in upd:
            upd["rules"] = {**b.rules, **t.rules}
        checks[cid] = b.model_copy(update=upd)
    fields = top.model_fields_set
    return Policy.model_construct(
        version=1,
        extends=top.extends,
        security_group=top.security_group if "security_group" in fields else base.security_group,
        groups={**base.groups, **top.groups},
        users={**base.users, **top.users},
        excluded_approvers=[*base.excluded_approvers, *top.excluded_approvers],
        case_insensitive_paths=(
            top.case_insensitive_paths
            if "case_insensitive_paths" in fields
            else base.case_insensitive_paths
        ),
        sensitive_paths=[
            *(s for s in base.sensitive_paths if s.name not in names),
            *top.sensitive_paths,
        ],
        checks=Checks.model_construct(**checks),
        exemptions=[*base.exemptions, *top.exemptions],
        approvals=top.approvals if "approvals" in fields else base.approvals,
        codeowners=top.codeowners if "codeowners" in fields else base.codeowners,
        config_rules=[
            *(r for r in base.config_rules if r.name not in {t.name for t in top.config_rules}),
            *top.config_rules,
        ],
    )


def _cross_check(policy: Policy, layer: _Layer) -> list[str]:
    """References between sections; errors point into the repo's own file."""
    errors: list[str] = []
    warnings: list[str] = []

    def err(loc: tuple[str | int, ...], msg: str, *, at_key: bool = False) -> None:
        pos = _position(loc, "", layer.loaded) if _owns(layer, loc) else None
        if at_key and loc in layer.loaded.keys:
            pos = layer.loaded.keys[loc]
        errors.append(
            f"{_where(layer.name if pos else BUILTIN_DEFAULT, pos)}: {format_loc(loc)}: {msg}"
        )

    def known(name: str) -> bool:
        return name in policy.groups or not policy.users or name in policy.users

    seen: dict[str, int] = {}
    for i, sp in enumerate(layer.policy.sensitive_paths):
        # Point at the duplicate, not at the entry it repeats (issue #18).
        if sp.name in seen:
            err(
                ("sensitive_paths", i, "name"),
                f"duplicate name {sp.name!r} (first used by sensitive_paths[{seen[sp.name]}])",
            )
        seen.setdefault(sp.name, i)
    for i, sp in enumerate(policy.sensitive_paths):
        for j, who in enumerate(sp.approvers):
            li = _index(layer, "sensitive_paths", sp.name, i)
            if not known(who):
                err(
                    ("sensitive_paths", li, "approvers", j),
                    f"{who!r} is neither a group nor a user in `users:`"
                    + _suggest(who, [*policy.groups, *policy.users]),
                )
            elif who in policy.groups and not policy.groups[who]:
                warnings.append(
                    f"sensitive path {sp.name!r}: group {who!r} has no members; nobody can approve it"
                )
        for j, pat in enumerate(sp.paths):
            problem = _bad_pattern(pat)
            if problem:
                err(
                    ("sensitive_paths", _index(layer, "sensitive_paths", sp.name, i), "paths", j),
                    problem,
                )
    if policy.users:
        # docs/policy.md: once `users:` is set, every group member is a listed
        # user; an unknown member would silently count as nobody (issue #18).
        for gname, members in layer.policy.groups.items():
            for j, member in enumerate(members):
                if member not in policy.users and member not in policy.groups:
                    err(
                        ("groups", gname, j),
                        f"{member!r} is not a user in `users:`" + _suggest(member, policy.users),
                    )
    today = _today()
    for i, ex in enumerate(layer.policy.exemptions):
        if ex.expires < today:
            warnings.append(
                f"exemptions[{i}] ({ex.check}/{ex.rule} for {', '.join(ex.paths)}) expired on "
                f"{ex.expires.isoformat()}: it no longer applies; renew it or remove it"
            )
    if policy.security_group is not None and policy.security_group not in policy.groups:
        err(("security_group",), f"group {policy.security_group!r} is not defined in `groups:`")
    for cid in CHECK_IDS:
        settings = getattr(policy.checks, cid)
        actions = [("actions", k.value, a) for k, a in settings.actions.items()]
        actions += [("rules", k, a) for k, a in settings.rules.items()]
        for section, key, action in actions:
            target = getattr(action, "require_approval", None)
            # Stricter than approvers: a typo here must not become a user id
            # that anyone could register on the code host.
            if target is not None and target not in policy.groups and target not in policy.users:
                err(
                    ("checks", cid, section, key, "require_approval"),
                    f"require_approval names unknown group or user {target!r}"
                    + _suggest(target, [*policy.groups, *policy.users]),
                )
    for i, rule in enumerate(policy.config_rules):
        group = rule.approval_group
        if group is not None and group not in policy.groups and group not in policy.users:
            err(("config_rules", i, "approval_group"), f"unknown group or user {group!r}")
    for i, ex in enumerate(policy.exemptions):
        if ex.check not in CHECK_IDS:
            err(
                ("exemptions", i, "check"),
                f"unknown check {ex.check!r}; known: {', '.join(CHECK_IDS)}",
            )
    warnings += _unknown_rules(policy, layer, err)
    if errors:
        if len(errors) == 1:
            location, _, message = errors[0].partition(": ")
            raise PolicyError(message, location=location)
        raise PolicyError(f"{len(errors)} problems in the policy:\n  " + "\n  ".join(errors))
    return warnings


def _unknown_rules(policy: Policy, layer: _Layer, err: Callable[..., None]) -> list[str]:
    """Rule ids and categories the repo's own layer names must exist (issue #15):
    a misspelled tightening (`exec-os-comand: block`) would silently do nothing.
    Only the repo's own layer is read, and the catalog is loaded only when that
    layer names a rule, so a policy without overrides costs nothing here."""
    own = layer.policy
    named = [(cid, key) for cid in CHECK_IDS for key in getattr(own.checks, cid).rules]
    exempt = [(i, ex) for i, ex in enumerate(own.exemptions) if ex.rule != "*"]
    if not named and not exempt:
        return []
    from traingate import catalog

    warnings: list[str] = []
    custom = bool(policy.checks.semgrep.rule_dirs)

    def problem(check: str, name: str) -> str | None:
        if check not in CHECK_IDS:
            return None  # reported as an unknown check
        if name.startswith("category:"):
            cats = catalog.categories_of(check)
            cat = name.removeprefix("category:")
            if cat in cats or (check == "semgrep" and custom):
                return None
            return f"unknown category {cat!r} for check {check!r}" + catalog.did_you_mean(cat, cats)
        ids = catalog.rules_of(check)
        if name in ids:
            return None
        if check == "semgrep" and custom:
            warnings.append(
                f"rule {name!r} is not in the shipped semgrep pack; it must come from "
                f"checks.semgrep.rule_dirs ({', '.join(policy.checks.semgrep.rule_dirs)})"
            )
            return None
        return f"unknown rule {name!r} for check {check!r}" + catalog.did_you_mean(name, ids)

    for cid, key in named:
        msg = problem(cid, key)
        if msg:
            err(("checks", cid, "rules", key), msg, at_key=True)
    for i, ex in exempt:
        msg = problem(ex.check, ex.rule)
        if msg:
            err(("exemptions", i, "rule"), msg)
    return warnings


def _suggest(word: str, choices: Iterable[str]) -> str:
    from traingate.catalog import did_you_mean

    return did_you_mean(word, choices)


def _today() -> Any:
    import datetime as dt

    return dt.date.today()


def _owns(layer: _Layer, loc: tuple[str | int, ...]) -> bool:
    return loc[:1] in layer.loaded.values


def _index(layer: _Layer, section: str, name: str, merged_index: int) -> int:
    """The index of a named entry in the layer's own list (merged lists shift)."""
    items = layer.policy.sensitive_paths if section == "sensitive_paths" else []
    for i, item in enumerate(items):
        if item.name == name:
            return i
    return merged_index


def _bad_pattern(pattern: str) -> str | None:
    from traingate.paths import compile_patterns

    try:
        compile_patterns([pattern])
    except ValueError as exc:
        return f"invalid pattern {pattern!r}: {exc}"
    if _unclosed_class(pattern):
        # gitignore semantics read `[a-.py` as a literal `[`: a sensitive path
        # that can never match a real file (issue #18).
        return f"invalid pattern {pattern!r}: '[' opens a character class that is never closed"
    return None


def _unclosed_class(pattern: str) -> bool:
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] in "!^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            close = pattern.find("]", j)
            if close < 0:
                return True
            i = close + 1
            continue
        i += 1
    return False

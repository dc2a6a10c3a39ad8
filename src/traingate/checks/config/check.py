"""The config check's ``run``: which files are read, how, and which judges see them."""

from __future__ import annotations

import builtins
import posixpath
import re
from collections.abc import Iterator

from traingate import paths
from traingate.change import ChangedFile, Status, is_binary
from traingate.checks.base import Context
from traingate.checks.config.decode import Decoded, config_text, requirements_text
from traingate.checks.config.diff import diff_configs
from traingate.checks.config.doc import ConfigDoc, ConfigError, KeyPath
from traingate.checks.config.effective import _effective
from traingate.checks.config.env import (
    _ENV_FILES,
    _REQUIREMENTS,
    _UV_TOML,
    DOCKERFILE,
    _config_env,
    _dependency_lines,
    _env_lines,
    _pyproject,
    docker_index_copies,
    shell_index_config,
)
from traingate.checks.config.hub_push import hub_push, shell_push_flags
from traingate.checks.config.keypath import format_path
from traingate.checks.config.names import dangerous_names
from traingate.checks.config.node_targets import _resolver_targets
from traingate.checks.config.notebook_env import notebook_environ
from traingate.checks.config.parse import config_format, parse_config
from traingate.checks.config.policy_rules import _policy_rule
from traingate.checks.config.pytest_ini import SECTIONS as _PYTEST_INI
from traingate.checks.config.pytest_ini import pytest_pythonpath
from traingate.checks.config.python_env import python_environ
from traingate.checks.config.python_targets import python_targets
from traingate.checks.config.remote_flags import shell_trust_flags
from traingate.checks.config.rules import _finding
from traingate.checks.config.sources import external_sources
from traingate.checks.config.targets import (
    _builtin_keys,
    _code_resolvers,
    _resolver_code,
)
from traingate.findings import Finding
from traingate.policy.base import Severity

_CONFIG_FORMATS = ("yaml", "json", "jsonc", "toml")
# Notebooks and (issue #16) IPython scripts: their `%env` lines and (session 21)
# their code's `os.environ` writes set the kernel's environment.
_IPYTHON = (".ipynb", ".ipy")
_WORD_TAG = re.compile(r"![A-Za-z_][A-Za-z0-9_-]*")
_BUILTINS = frozenset(dir(builtins))


def run(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    # Only a change with a config needs the resolvers its Python registers.
    configs = any(config_format(f.new_path or "") in _CONFIG_FORMATS for f in ctx.files)
    code_resolvers = _code_resolvers(ctx) if configs else frozenset()
    docs_read = _reads_docstrings(ctx)
    for f in ctx.files:
        if f.status is Status.DELETED or f.new_path is None:
            continue
        name = f.new_path
        if _ENV_FILES.search(name) or DOCKERFILE.search(name) or name.endswith(_IPYTHON):
            out.extend(_env_file(ctx, f))
        elif name.endswith(".py"):
            out.extend(_python_file(ctx, f, docs_read))
        if posixpath.basename(name) in _PYTEST_INI:
            out.extend(_pytest_ini(ctx, f))
        fmt = config_format(name)
        if _REQUIREMENTS.search(name) or posixpath.basename(name) in (
            "environment.yml",
            "environment.yaml",
        ):
            out.extend(_dependencies(ctx, f, fmt))
        if fmt in _CONFIG_FORMATS:
            out.extend(_config_file(ctx, f, name, fmt, code_resolvers))
    return out


def _blob(ctx: Context, f: ChangedFile, *, new: bool) -> bytes | None:
    mode, oid = (f.new_mode, f.new_oid) if new else (f.old_mode, f.old_oid)
    return ctx.change.read(oid) if mode is not None and mode.startswith("100") else None


def _env_file(ctx: Context, f: ChangedFile) -> list[Finding]:
    """Launcher scripts and env files, read as bytes: bash runs a script with a
    NUL byte after its first line, which git diffs as binary, giving no added
    lines; then every line counts (issue #16)."""
    data = _blob(ctx, f, new=True)
    if not data:
        return []
    text = data.decode("utf-8", "replace")
    added = range(1, text.count("\n") + 2) if is_binary(data) else set(f.added_lines)
    notebook = (f.new_path or "").endswith(_IPYTHON)
    out = list(_env_lines(f, text, added, notebook=notebook))
    out += docker_index_copies(f, text, added)
    if not notebook:
        out += shell_index_config(f, text, added)
        out += shell_trust_flags(f, text, added)
        out += shell_push_flags(f, text, added)
    if notebook:
        out += notebook_environ(f, text, added)
    return out


def _pytest_ini(ctx: Context, f: ChangedFile) -> list[Finding]:
    """pytest's ``pythonpath`` in an INI file (session 26); with a NUL byte
    git gives no added lines, so every line counts."""
    data = _blob(ctx, f, new=True)
    if not data or b"pythonpath" not in data.lower():
        return []
    text = data.decode("utf-8", "replace")
    added = range(1, text.count("\n") + 2) if is_binary(data) else set(f.added_lines)
    return list(pytest_pythonpath(f, text, added))


def _python_file(ctx: Context, f: ChangedFile, docs_read: bool) -> list[Finding]:
    """A plain Python file's ``os.environ`` writes (session 22, issue #16) and
    the config targets it writes as Python (session 28)."""
    data = _blob(ctx, f, new=True)
    if not data or len(data) > ctx.policy.policy.checks.semgrep.max_file_bytes:
        # Past the limit the semgrep check blocks the file (`source-unreadable`);
        # parsing it here could take gigabytes (a 50 MB one-line list did).
        return []
    added = set(f.added_lines)
    out = python_environ(f, data.decode("utf-8", "replace"), added)
    return out + python_targets(f, _run_text(data), added, docs_read=docs_read)


def _run_text(data: bytes) -> str:
    """The text CPython runs: a PEP 263 cookie cannot spell `_target_` or
    `__doc__` unseen (imported here as targets._python_text does)."""
    from traingate.checks.sabotage.source import _python

    return _python(data).text


_DOC_READERS = ("__doc__", "getdoc")


def _reads_docstrings(ctx: Context) -> bool:
    """Some Python of the change reads a docstring as data (`__doc__`,
    `inspect.getdoc`): then a docstring may be the YAML node it loads, and
    python_targets.py judges docstrings too (session 28)."""
    for f in ctx.files:
        if f.status is Status.DELETED or not (f.new_path or "").endswith((".py", ".ipynb")):
            continue
        data = _blob(ctx, f, new=True)
        if data and any(w in _run_text(data) for w in _DOC_READERS):
            return True
    return False


def _decode(fmt: str | None, data: bytes) -> Decoded:
    return requirements_text(data) if fmt is None else config_text(fmt, data)


def _dependencies(ctx: Context, f: ChangedFile, fmt: str | None) -> list[Finding]:
    """Dependency lines of a requirements file (as pip decodes it) or a conda
    environment file. A file git diffs as UTF-8 text has git's added lines; any
    other (UTF-16, a coding cookie, NUL bytes) is diffed here as decoded."""
    data = _blob(ctx, f, new=True)
    if data is None:
        return []
    try:
        new = _decode(fmt, data)
    except ConfigError as exc:
        if fmt is not None:
            return []  # the config parse reports it
        return [_parse_error(f, "decode requirements", exc)]
    if new.plain:
        return list(_dependency_lines(f, new.text, set(f.added_lines)))
    old_data = None if ctx.scan_all else _blob(ctx, f, new=False)
    try:
        old = "" if old_data is None else _decode(fmt, old_data).text
    except ConfigError:
        old = ""
    return list(_dependency_lines(f, new.text, _added(old, new.text)))


def _added(old: str, new: str) -> set[int]:
    import difflib

    a, b = old.split("\n"), new.split("\n")  # git's lines, as _pieces numbers them
    added: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            added.update(range(j1 + 1, j2 + 1))
    return added


def _parse_error(f: ChangedFile, what: str, exc: ConfigError) -> Finding:
    return _finding(
        f,
        "config-parse-error",
        exc.line,
        exc.column,
        f"cannot {what}: {exc.message}; an unparseable config is blocked",
    )


def _parse(fmt: str, data: bytes) -> ConfigDoc:
    return parse_config(fmt, config_text(fmt, data).text, max_nodes=_max_nodes(fmt))


def _config_file(
    ctx: Context, f: ChangedFile, name: str, fmt: str, code_resolvers: frozenset[str]
) -> list[Finding]:
    data = _blob(ctx, f, new=True)
    if data is None:
        return []
    try:
        new = _parse(fmt, data)
    except ConfigError as exc:
        return [_parse_error(f, f"parse {fmt.upper()}", exc)]
    old = None
    old_data = _blob(ctx, f, new=False) if f.status is not Status.ADDED else None
    if old_data is not None and not ctx.scan_all:
        try:
            old = _parse(fmt, old_data)
        except ConfigError:
            old = None  # the base was broken: judge every key as new
    return _judge(ctx, f, name, new, old, code_resolvers)


def _judge(
    ctx: Context,
    f: ChangedFile,
    name: str,
    new: ConfigDoc,
    old: ConfigDoc | None,
    code_resolvers: frozenset[str],
) -> list[Finding]:
    policy = ctx.policy.policy
    changes = diff_configs(old, new)
    effs = _effective(changes, new, old)
    out = list(_structural(f, new, old))
    out.extend(_builtin_keys(f, name, effs))
    out.extend(external_sources(f, effs))
    out.extend(_resolver_code(f, effs, code_resolvers))
    out.extend(_resolver_targets(f, effs))
    out.extend(hub_push(f, new, effs))
    out.extend(_config_env(f, new, effs))
    if name.endswith("pyproject.toml") or _UV_TOML.search(name):
        out.extend(_pyproject(f, changes, uv=not name.endswith("pyproject.toml")))
    # A value another blocking finding already reports (`PYTHONBREAKPOINT:
    # os.system` is config-risky-env) is said once; a warning there (the
    # `!function` tag of `collate_fn: !function os.system`) must not hide it.
    spots = {(x.line, x.column) for x in out if x.severity is Severity.ERROR}
    out.extend(x for x in dangerous_names(f, effs) if (x.line, x.column) not in spots)
    # What approval_keys mean (issue #16): a change to a key of an existing
    # file. A whole-file scan has no base, so nothing "changed" and none is
    # reported; an added file is one new config, reported once per rule.
    mode = "none" if ctx.scan_all else "summary" if f.status is Status.ADDED else "each"
    seen: set[tuple[str, int | None, int | None, str | None]] = set()
    for rule in policy.config_rules:
        if not paths.matches(rule.paths, name, fold=policy.case_insensitive_paths):
            continue
        for hit in _policy_rule(f, rule, changes, effs, policy, mode):
            # Two rules asking the same group about the same key: say it once.
            key = (hit.rule_id, hit.line, hit.column, hit.approval_group)
            if key not in seen:
                seen.add(key)
                out.append(hit)
    return out


def _inert_tag(tag: str) -> bool:
    """``!word``: a local tag that no YAML loader constructs and that PyYAML's
    Python constructors cannot turn into a call either. Those are registered by
    prefix and resolve the rest of the tag as a Python name: with a dot a module
    attribute, without one a builtin, so a loader that maps ``!`` (or ``!x``) to
    ``construct_python_object_apply`` runs ``!exec [...]`` (or ``!xexec``).
    Inert: one word (no ``.``, ``:`` or ``/``) none of whose endings is a
    builtin's name (``!function``, ``!include``, ``!ref``). The parser has
    resolved every handle already: ``%TAG ! tag:yaml.org,2002:python/`` then
    ``!object/apply:os.system`` arrives here as ``!!python/...``."""
    if _WORD_TAG.fullmatch(tag) is None:
        return False
    word = tag[1:]
    return not any(word[i:] in _BUILTINS for i in range(len(word)))


def _max_nodes(fmt: str) -> int:
    # The node budget stops YAML alias bombs; JSON/TOML have no aliases, and
    # real files (tokenizer.json) are large.
    return 100_000 if fmt == "yaml" else 5_000_000


def _dup_groups(doc: ConfigDoc) -> dict[KeyPath, list[object]]:
    groups: dict[KeyPath, list[object]] = {}
    for v in doc.duplicate_keys:
        groups.setdefault(v.path, []).append(v.value)
    return groups


def _structural(f: ChangedFile, doc: ConfigDoc, old: ConfigDoc | None) -> Iterator[Finding]:
    # A duplicate the base already had, every occurrence with the same value,
    # is not the change's (issue #16: 22 of 33 approvals when one value changed
    # in each of lm-eval's task configs). Changing any occurrence, the shadowed
    # one included (another loader may keep the first), reports the key again.
    before = _dup_groups(old) if old is not None else {}
    after = _dup_groups(doc)
    for v in doc.duplicate_keys:
        if v.path in before and before[v.path] == after[v.path]:
            continue
        yield _finding(
            f,
            "config-duplicate-key",
            v.line,
            v.column,
            f"duplicate key {format_path(v.path)}: the later value silently wins",
            "keep one definition of the key",
        )
    for v in doc.python_tags:
        if _inert_tag(str(v.value)):
            # Issue #16: lm-eval's 14,000 task configs carry 6,386 `!function`
            # tags. Such a tag constructs nothing in PyYAML's or ruamel's
            # loaders, safe or unsafe; it means what the application's own
            # loader registers for it, and that loader is Python in the repo.
            yield _finding(
                f,
                "config-python-tag",
                v.line,
                v.column,
                f"application YAML tag {v.value} at {format_path(v.path)}: no YAML loader "
                "constructs it; it runs whatever the application's loader registers for it",
                "check what the loader does with the tag (lm-eval's !function imports a "
                "function from a .py beside the file)",
                severity=Severity.WARNING,
            )
            continue
        yield _finding(
            f,
            "config-python-tag",
            v.line,
            v.column,
            f"custom YAML tag at {format_path(v.path)} constructs Python objects when loaded unsafely",
            "use plain YAML values; never load configs with yaml.load/unsafe_load",
        )

"""The project's own torch requirement, read from the head tree (issue #16, class 6).

Before torch 2.6, ``torch.load``'s default was ``weights_only=False``: a plain
``torch.load(path)`` unpickles whatever the checkpoint holds. Whether that is
the case for a project depends on the torch versions it allows, so this reads
its declarations (never installs or imports anything): pyproject.toml
(``[project]`` dependencies and optional dependencies, ``[dependency-groups]``,
Poetry's dependencies and groups), ``requirements*.txt`` / ``.in``,
``constraints*.txt`` and any ``.txt`` under a ``requirements/`` directory,
setup.cfg ``install_requires`` / ``extras_require``, a literal
``install_requires`` in setup.py, and conda ``environment*.yml``.

Fail closed: when any declaration admits a torch release before 2.6, the call
counts as unsafe, whatever the others say; when there is none, or one pins a
URL, the project "could not be told" apart and the finding is a warning.
"""

from __future__ import annotations

import ast
import configparser
import posixpath
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from traingate import pyast

SAFE_FROM = Version("2.6")
_NAMES = frozenset({"torch", "pytorch"})
# Every torch release before 2.6 that pip could install (the question is "may
# the project run one of them?"); versions a specifier itself names are added.
_OLD_RELEASES = tuple(
    Version(v)
    for v in [
        "0.4.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "1.2.0",
        "1.3.0",
        "1.3.1",
        "1.4.0",
        "1.5.0",
        "1.5.1",
        "1.6.0",
        "1.7.0",
        "1.7.1",
        "1.8.0",
        "1.8.1",
        "1.9.0",
        "1.9.1",
        "1.10.0",
        "1.10.1",
        "1.10.2",
        "1.11.0",
        "1.12.0",
        "1.12.1",
        "1.13.0",
        "1.13.1",
        "2.0.0",
        "2.0.1",
        "2.1.0",
        "2.1.1",
        "2.1.2",
        "2.2.0",
        "2.2.1",
        "2.2.2",
        "2.3.0",
        "2.3.1",
        "2.4.0",
        "2.4.1",
        "2.5.0",
        "2.5.1",
    ]
)
MAX_FILES = 200
MAX_BYTES = 1_000_000


@dataclass
class TorchRequirement:
    found: list[tuple[str, str]] = field(default_factory=list)  # (file, as written)
    old: list[tuple[str, str]] = field(default_factory=list)  # those admitting < 2.6
    unknown: list[tuple[str, str]] = field(default_factory=list)  # URL pins, unreadable

    @property
    def unsafe_default(self) -> bool | None:
        """True: torch < 2.6 is allowed; False: only >= 2.6; None: cannot tell."""
        if self.old:
            return True
        if self.unknown or not self.found:
            return None
        return False

    def describe(self) -> str:
        if self.old:
            path, text = self.old[0]
            more = f" (and {len(self.old) - 1} more)" if len(self.old) > 1 else ""
            return f"the project allows torch before 2.6: `{text}` in {path}{more}"
        if self.unknown:
            path, text = self.unknown[0]
            return f"the torch requirement `{text}` in {path} does not say which version"
        if not self.found:
            return "no torch requirement was found in the project's dependency files"
        path, text = self.found[0]
        return f"the project requires torch 2.6 or later (`{text}` in {path})"


def is_requirement_file(path: str) -> bool:
    name = posixpath.basename(path).lower()
    parent = posixpath.basename(posixpath.dirname(path)).lower()
    if name in ("pyproject.toml", "setup.cfg"):
        return True
    if re.fullmatch(r"(requirements|constraints)[\w.-]*\.(txt|in)", name):
        return True
    if parent in ("requirements", "reqs") and name.endswith((".txt", ".in")):
        return True
    return bool(re.fullmatch(r"(environment|conda)[\w.-]*\.ya?ml", name))


def read(files: Iterable[tuple[str, Callable[[], bytes | None]]]) -> TorchRequirement:
    out = TorchRequirement()
    for n, (path, load) in enumerate(files):
        if n >= MAX_FILES:
            break
        data = load()
        if data is None or len(data) > MAX_BYTES:
            continue
        text = data.decode("utf-8", "replace")
        try:
            specs = list(_specs(path, text))
        except Exception:  # a malformed file is not a torch requirement
            continue
        for written, spec in specs:
            _judge(out, path, written, spec)
    return out


def _judge(out: TorchRequirement, path: str, written: str, spec: str | None) -> None:
    out.found.append((path, written))
    if spec is None:
        out.unknown.append((path, written))
        return
    try:
        sset = SpecifierSet(spec)
    except InvalidSpecifier:
        out.unknown.append((path, written))
        return
    if _admits_old(sset):
        out.old.append((path, written))


def _admits_old(sset: SpecifierSet) -> bool:
    candidates = list(_OLD_RELEASES)
    for s in sset:
        try:
            v = Version(s.version.removesuffix(".*"))
        except InvalidVersion:
            continue
        if v < SAFE_FROM:
            candidates.append(v)
    return any(v < SAFE_FROM and sset.contains(v, prereleases=v.is_prerelease) for v in candidates)


def _specs(path: str, text: str) -> Iterable[tuple[str, str | None]]:
    """(the requirement as written, a PEP 440 specifier or None) for torch."""
    name = posixpath.basename(path).lower()
    if name == "pyproject.toml":
        yield from _pyproject(text)
    elif name == "setup.cfg":
        yield from _setup_cfg(text)
    elif name == "setup.py":
        yield from _setup_py(text)
    elif name.endswith((".yml", ".yaml")):
        yield from _conda(text)
    else:
        yield from _requirements_txt(text)


def _pep508(line: str) -> tuple[str, str | None] | None:
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    if canonicalize_name(req.name) not in _NAMES:
        return None
    return line.strip(), (None if req.url else str(req.specifier))


def _requirements_txt(text: str) -> Iterable[tuple[str, str | None]]:
    joined = re.sub(r"\\\r?\n", " ", text)
    for raw in joined.splitlines():
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].strip()
        line = re.split(r"\s--?[a-z]", line, maxsplit=1)[0].strip()  # --hash=..., -e ...
        if not line or line.startswith("-"):
            continue
        got = _pep508(line)
        if got is not None:
            yield got


def _toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _pyproject(text: str) -> Iterable[tuple[str, str | None]]:
    doc = _toml(text)
    project = doc.get("project") or {}
    lists: list[Any] = [project.get("dependencies") or []]
    lists += list((project.get("optional-dependencies") or {}).values())
    lists += list((doc.get("dependency-groups") or {}).values())
    for items in lists:
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):
                got = _pep508(item)
                if got is not None:
                    yield got
    poetry = (doc.get("tool") or {}).get("poetry") or {}
    tables = [poetry.get("dependencies") or {}, poetry.get("dev-dependencies") or {}]
    tables += [(g or {}).get("dependencies") or {} for g in (poetry.get("group") or {}).values()]
    for table in tables:
        for dep, value in table.items() if isinstance(table, dict) else []:
            if canonicalize_name(str(dep)) in _NAMES:
                yield from _poetry(str(dep), value)


def _poetry(dep: str, value: Any) -> Iterable[tuple[str, str | None]]:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, dict):
            if "version" not in v:  # git, path or url: no version to read
                yield f"{dep} = {v}", None
                continue
            v = v["version"]
        yield f'{dep} = "{v}"', _poetry_spec(str(v))


def _poetry_spec(v: str) -> str | None:
    """Poetry's ^ and ~ constraints as PEP 440 (only the bounds matter here)."""
    out = []
    for part in (p.strip() for p in v.split(",")):
        if part in ("", "*"):
            continue
        m = re.fullmatch(r"([\^~])\s*(\d+(?:\.\d+)*)", part)
        if m:
            nums = [int(x) for x in m.group(2).split(".")]
            if m.group(1) == "^":
                i = next((k for k, x in enumerate(nums) if x), len(nums) - 1)
            else:
                i = min(1, len(nums) - 1) if len(nums) > 1 else 0
            upper = [*nums[:i], nums[i] + 1]
            out += [f">={m.group(2)}", "<" + ".".join(map(str, upper))]
        elif re.fullmatch(r"\d+(?:\.\d+)*(?:\.\*)?", part):
            out.append(f"=={part}")
        else:
            out.append(part)
    return ",".join(out)


def _setup_cfg(text: str) -> Iterable[tuple[str, str | None]]:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    blocks = []
    if cp.has_option("options", "install_requires"):
        blocks.append(cp.get("options", "install_requires"))
    if cp.has_section("options.extras_require"):
        blocks += [v for _, v in cp.items("options.extras_require")]
    for block in blocks:
        yield from _requirements_txt(block.replace(";", " ;"))


def _setup_py(text: str) -> Iterable[tuple[str, str | None]]:
    tree = pyast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in ("install_requires", "extras_require"):
            for c in ast.walk(node.value):
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    got = _pep508(c.value)
                    if got is not None:
                        yield got


def _conda(text: str) -> Iterable[tuple[str, str | None]]:
    from traingate import yamlsafe

    doc = yamlsafe.load(text).value
    deps = doc.get("dependencies") if isinstance(doc, dict) else None
    for item in deps if isinstance(deps, list) else []:
        if isinstance(item, dict):
            for pip in item.get("pip") or []:
                if isinstance(pip, str):
                    got = _pep508(pip)
                    if got is not None:
                        yield got
        elif isinstance(item, str):
            got = _conda_spec(item)
            if got is not None:
                yield got


def _conda_spec(item: str) -> tuple[str, str | None] | None:
    """``pytorch=2.1``, ``pytorch>=2.1``, ``pytorch 2.5.*``, ``pytorch::pytorch==2.5.1=py3*``."""
    spec = item.split("::", 1)[-1].strip()
    m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)$", spec)
    if m is None or canonicalize_name(m.group(1)) not in _NAMES:
        return None
    rest = m.group(2).strip()
    if not rest:
        return item, ""
    if re.match(r"=[^=]", rest) or re.match(r"\d", rest):
        version = rest.lstrip("=").split("=")[0].split()[0]
        return item, f"=={version}" if version.endswith("*") else f"=={version}.*"
    rest = rest.split()[0]
    build = re.fullmatch(r"==([^=,]+)=.*", rest)  # ==2.5.1=py3.11_cuda12: a build string
    return item, ("==" + build.group(1)) if build else rest

"""The rules semgrep runs: the shipped pack and the trusted policy's own rule dirs.

Custom rule dirs are read from the trusted base revision, never from the change
under review; the pack's digest keys the result cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traingate.checks.base import Context
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.errors import CheckError

# "2": hits carry their byte offsets (issue #16).
CACHE_VERSION = "2"
# How osemgrep names a broken rule in its error messages (by id, not file).
_RULE_IN_ERROR = re.compile(r"\bin rule ([\w.\-]+)")


@dataclass(frozen=True)
class RulePack:
    dirs: tuple[Path, ...]
    digest: str
    _tmp: Any = None  # keeps a materialized temp dir alive
    origins: tuple[tuple[str, str], ...] = ()  # materialized file -> "path@rev"
    builtin: Path | None = None  # the shipped pack's directory, when used

    @staticmethod
    def shipped() -> Path:
        from traingate.policy.load import data_dir

        return data_dir() / "rules"

    def files_for(self, rules: set[str]) -> list[Path]:
        """Rule files that can define ``rules``: a shipped rule lives in
        ``<id>.yaml`` (tested); custom directories are taken whole."""
        out: list[Path] = []
        for d in self.dirs:
            if d == self.builtin:
                out += [p for p in sorted(d.rglob("*.yaml")) if p.stem in rules]
            else:
                out.append(d)
        return out

    def explain(self, text: str) -> str:
        """Name the repository file behind a materialized rule file in a message.
        osemgrep names only the rule ("Rule parse error in rule ID"), so the
        file that defines that id is added."""
        for rule_id in dict.fromkeys(_RULE_IN_ERROR.findall(text)):
            where = self.file_defining(rule_id)
            if where is not None and str(where) not in text:
                text = text.replace(f"in rule {rule_id}", f"in rule {rule_id} ({where})", 1)
        for tmp, origin in self.origins:
            text = text.replace(tmp, origin)
        return text

    def file_defining(self, rule_id: str) -> Path | None:
        pattern = re.compile(
            rf"^[ \t-]*id:[ \t]*['\"]?{re.escape(rule_id)}['\"]?[ \t]*(#.*)?$", re.M
        )
        for d in self.dirs:
            for p in sorted(d.rglob("*")):
                if (
                    p.suffix in (".yaml", ".yml")
                    and p.is_file()
                    and pattern.search(p.read_text(encoding="utf-8", errors="replace"))
                ):
                    return p
        return None

    @classmethod
    def load(cls, ctx: Context, settings: SemgrepSettings) -> RulePack:
        from traingate.policy.load import data_dir

        dirs: list[Path] = []
        origins: list[tuple[str, str]] = []
        tmp = None
        if settings.builtin_rules:
            dirs.append(data_dir() / "rules")
        if settings.rule_dirs:
            tmp = tempfile.TemporaryDirectory(prefix="traingate-rules-")
            dirs.extend(_custom_dirs(ctx, settings.rule_dirs, Path(tmp.name), origins))
        if not dirs:
            raise CheckError(
                "the semgrep check is enabled but has no rules", help="set builtin_rules: true"
            )
        h = hashlib.sha256(CACHE_VERSION.encode())
        for d in dirs:
            for p in sorted(d.rglob("*")):
                if p.suffix in (".yaml", ".yml") and p.is_file():
                    h.update(p.relative_to(d).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
        builtin = cls.shipped() if settings.builtin_rules else None
        return cls(tuple(dirs), h.hexdigest(), tmp, tuple(origins), builtin)


def _custom_dirs(
    ctx: Context, rule_dirs: Sequence[str], into: Path, origins: list[tuple[str, str]]
) -> list[Path]:
    """Custom rule dirs come from the trusted base revision, not the change."""
    from traingate import git

    out = []
    for i, rel in enumerate(rule_dirs):
        dest = into / str(i)
        dest.mkdir(parents=True)
        rev = ctx.change.base
        if rev is not None and ctx.change.mode != "scan":
            listing = git.run(
                ctx.change.root, "--literal-pathspecs", "ls-tree", "-r", "-z", rev, "--", rel
            )
            entries = [e.split(b"\t", 1) for e in listing.split(b"\0") if e]
            reader = git.BlobReader(ctx.change.root)
            for meta, name in entries:
                _mode, kind, oid = meta.decode().split()
                if kind == "blob" and name.endswith((b".yaml", b".yml")):
                    target = dest / f"{len(list(dest.iterdir()))}.yaml"
                    target.write_bytes(reader.read(oid))
                    origins.append((str(target), f"{os.fsdecode(name)}@{rev[:12]}"))
            if not any(dest.iterdir()):
                raise CheckError(f"rule dir {rel!r} has no rules at the trusted base {rev[:12]}")
        elif ctx.change.mode != "scan":
            # No trusted revision (a repository's first commit, a new root pushed):
            # the working tree is the change itself, so its rules cannot judge it.
            raise CheckError(
                f"rule dir {rel!r} cannot be read from a trusted base: this change has none",
                help="commit the rule dir to the protected branch first, or check with `scan`",
            )
        else:
            src = ctx.change.root / rel
            if not src.is_dir():
                raise CheckError(f"rule dir {rel!r} does not exist")
            shutil.copytree(src, dest, dirs_exist_ok=True)
        out.append(dest)
    return out

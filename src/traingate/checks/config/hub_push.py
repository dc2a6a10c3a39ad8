"""Pushing the trained model to a hub repository, as a config or a launch line
turns it on (issue #16, session 28 red team).

``push_to_hub: true`` in a transformers ``TrainingArguments`` / TRL recipe
uploads the trained model, and with ``hub_strategy: every_save`` or
``all_checkpoints`` every checkpoint, to the Hugging Face Hub repository
``hub_model_id`` names (or one named after ``output_dir`` under the token's
account). A config edit that turns it on, points it at another repository or
makes that repository public moves the team's weights wherever the change
says: the config twin of ``egress-storage-upload``. Turning it off, and keys
that only say how often to push, are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from traingate.change import ChangedFile
from traingate.checks.config.doc import ConfigDoc, KeyPath
from traingate.checks.config.effective import _Eff
from traingate.checks.config.keypath import format_path
from traingate.checks.config.remote_flags import truthy
from traingate.checks.config.rules import _finding
from traingate.findings import Finding

RULE = "config-model-upload"
_FIX = (
    "push from a reviewed release job, to a repository of your organisation; "
    "or approve the destination"
)
# Keys compared with dashes, underscores and case folded (jsonargparse and
# Lightning's CLI accept `push-to-hub`, a JSON file may say `pushToHub`).
_PUSH = "pushtohub"
# Where the push goes: the repository, the organisation, its visibility.
_WHERE = frozenset(["hubmodelid", "pushtohubmodelid", "pushtohuborganization", "hubprivaterepo"])
_FLAG = re.compile(
    r"""(?:^|[\s"'])--push[-_]to[-_]hub\b(?:(?:=|[ \t]+)(?!-)["']?([^\s"';&|)]+))?"""
)
_QUIET = re.compile(r"\s*(?:#|(?:echo|printf)\s[^|;&<>`$()]*$)")
_FALSE = frozenset(["false", "0", "no", "off", "n", "f", "none"])


def _norm(key: object) -> str:
    return re.sub(r"[-_]", "", str(key)).lower()


def _sibling(doc: ConfigDoc, parent: KeyPath, norm: str) -> object:
    for path, leaf in doc.leaves.items():
        if len(path) == len(parent) + 1 and path[:-1] == parent and _norm(path[-1]) == norm:
            return leaf.value
    return None


def _destination(doc: ConfigDoc, parent: KeyPath) -> str:
    repo = _sibling(doc, parent, "hubmodelid") or _sibling(doc, parent, "pushtohubmodelid")
    where = f"the hub repository {repo!r}" if repo else "a hub repository named after output_dir"
    private = _sibling(doc, parent, "hubprivaterepo")
    return where + (" (private)" if private is True else "")


def hub_push(f: ChangedFile, new: ConfigDoc, effs: list[_Eff]) -> Iterator[Finding]:
    turned_on: set[KeyPath] = set()
    for e in effs:
        c = e.change
        if not c.path or c.kind == "removed" or _norm(c.path[-1]) != _PUSH:
            continue
        if truthy(e.value) or e.unknown:
            turned_on.add(c.path[:-1])
            maybe = f" (may be true: {e.unknown[0]})" if e.unknown else ""
            yield _finding(
                f,
                RULE,
                c.line,
                c.column,
                f"{format_path(c.path)}{maybe} uploads the trained model to "
                f"{_destination(new, c.path[:-1])} when training ends (every checkpoint "
                "with hub_strategy every_save / all_checkpoints)",
                _FIX,
            )
    for e in effs:
        c = e.change
        if not c.path or c.kind == "removed" or _norm(c.path[-1]) not in _WHERE:
            continue
        parent = c.path[:-1]
        if parent in turned_on or not truthy(_sibling(new, parent, _PUSH)):
            continue
        if _norm(c.path[-1]) == "hubprivaterepo" and truthy(e.value):
            continue  # made private: not a new destination
        yield _finding(
            f,
            RULE,
            c.line,
            c.column,
            f"{format_path(c.path)} = {c.new!r} changes where push_to_hub uploads the "
            f"trained model: {_destination(new, parent)}",
            _FIX,
        )


def shell_push_flags(f: ChangedFile, text: str, added: Collection[int]) -> Iterator[Finding]:
    """``--push_to_hub`` on an added launch line (argparse's store_true when bare)."""
    for n, line in enumerate(text.split("\n"), 1):
        if n not in added or _QUIET.match(line):
            continue
        for m in _FLAG.finditer(line):
            value = m.group(1)
            if value is not None and value.lower() in _FALSE:
                continue
            repo = re.search(r"--hub[-_]model[-_]id[= \t]+[\"']?([^\s\"';&|)]+)", line)
            dest = f"the hub repository {repo.group(1)!r}" if repo else "a hub repository"
            yield _finding(
                f,
                RULE,
                n,
                m.start() + 1 + (m.group(0)[0] != "-"),
                f"a launch command passes --push_to_hub: the job uploads the trained model "
                f"to {dest}",
                _FIX,
            )
            break

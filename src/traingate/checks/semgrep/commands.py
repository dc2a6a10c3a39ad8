"""Shell commands held in configs, as a bash target (issue #16, class 1).

A Kubernetes Job's ``command``/``args``, a docker-compose ``command``, a Hydra
submitit launcher's ``setup`` lines, a GitLab ``script``, a devcontainer's
``postCreateCommand``: each is a shell command a cluster runs, written in a
YAML or JSON file no shell rule read. This module lifts those strings out of
the file, each onto the line it is written on (a block scalar's lines onto
their own lines), every other line blank, so the pack's bash rules judge them
and their findings need no line map.

The text is only composed into nodes (``yamlsafe.ComposeLoader``, nothing
constructed); a file that does not compose yields no target here: the config
check reports it as ``config-parse-error``.
"""

from __future__ import annotations

import bisect
import re
import shlex

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from traingate.checks.config.decode import sniff
from traingate.checks.config.doc import ConfigError
from traingate.checks.config.env import COMMAND_KEYS
from traingate.checks.config.parse import config_format
from traingate.checks.config.parse_json import strip_jsonc
from traingate.checks.semgrep.civars import resolve_aliases, yaml_variables
from traingate.checks.semgrep.targets import Target
from traingate.yamlsafe import ComposeLoader, unalias

# Strings at any depth below a COMMAND_KEYS key are commands (the config check's
# list without its environment keys: config-risky-env judges those).
# A cheap look before composing: one of the keys spelled as a mapping key.
_KEY_TEXT = re.compile(
    r"""(?im)(?:^|[{,\s])["']?(?:""" + "|".join(sorted(COMMAND_KEYS)) + r""")["']?\s*:"""
)


def config_target(oid: str, path: str, ext: str, data: bytes, limit: int) -> Target | None:
    """A bash target of the config's commands, or None (no command, or a file
    the config check judges alone: undecodable, larger than ``limit``; a
    tokenizer.json of 10 MB must not block as too large to scan). Decoded as
    YAML and JSON readers decode it: a UTF-16 manifest is read, not skipped."""
    if len(data) > limit:
        return None
    try:
        text = data.decode(sniff(data))
    except UnicodeDecodeError:
        return None
    if config_format(path) == "jsonc":
        # Issue #16: a devcontainer.json with comments composes as YAML only
        # once they are blanked (same lines and columns); its commands were
        # never read. An unterminated comment is the config check's parse error.
        try:
            text = strip_jsonc(text)
        except ConfigError:
            return None
    found = command_text(text)
    return None if found is None else Target(oid, path, ext + ".sh", found)


def command_text(text: str) -> str | None:
    """The file's command strings on their own lines, or None when it holds none."""
    if not _KEY_TEXT.search(text):
        return None
    try:
        nodes = list(yaml.compose_all(text, Loader=ComposeLoader))
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    slots: dict[int, list[str]] = {}
    seen: set[tuple[int, bool]] = set()
    for root in nodes:
        if root is not None:
            _walk(root, False, slots, starts, seen)
    if not slots:
        return None
    lines = [""] * len(starts)
    for line, parts in slots.items():
        lines[line] = " ".join(parts)
    out = "\n".join(lines)  # the file's own number of lines
    # Session 27: a copy of an author-controlled CI variable is that variable.
    out = resolve_aliases(out, yaml_variables(nodes))
    return out if out.endswith("\n") else out + "\n"


def _walk(
    node: Node,
    inside: bool,
    slots: dict[int, list[str]],
    starts: list[int],
    seen: set[tuple[int, bool]],
) -> None:
    # An alias is the anchored node itself: walking each node once per state
    # bounds the walk by the file's size (an alias bomb is not expanded), and a
    # command reached through `*ref` is placed where its text is written.
    node, _ = unalias(node, None)
    if (id(node), inside) in seen:
        return
    seen.add((id(node), inside))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            key, _ = unalias(key, None)
            name = key.value.lower() if isinstance(key, ScalarNode) else ""
            _walk(value, inside or name in COMMAND_KEYS, slots, starts, seen)
    elif isinstance(node, SequenceNode):
        words: list[str] = []
        prev_line = -1
        for item in node.value:
            item, _ = unalias(item, None)
            if inside and _is_code_word(words) and isinstance(item, ScalarNode):
                # `["python", "-c", "<code>"]`: the code is one argv word; quoted,
                # it reads as the shell line Docker or Kubernetes runs, so the
                # inline-Python reader (inlinepy.py) finds it (session 27). A
                # block list puts each word on its own line: the code's line
                # then repeats `python -c` before it.
                own_line = item.start_mark.line != prev_line
                _place(item, slots, starts, quote="python -c " if own_line else "")
            else:
                _walk(item, inside, slots, starts, seen)
            words.append(item.value if isinstance(item, ScalarNode) else "")
            prev_line = item.end_mark.line
    elif isinstance(node, ScalarNode) and inside and isinstance(node.value, str) and node.value:
        _place(node, slots, starts)


_PYTHON_WORD = re.compile(r"(?:.*/)?python[0-9.]*")


def _is_code_word(words: list[str]) -> bool:
    return len(words) >= 2 and words[-1] == "-c" and any(_PYTHON_WORD.fullmatch(w) for w in words)


def _place(
    node: ScalarNode, slots: dict[int, list[str]], starts: list[int], *, quote: str | None = None
) -> None:
    if quote is not None and isinstance(node.value, str):
        line = bisect.bisect_right(starts, node.start_mark.index) - 1
        line += node.style in ("|", ">")  # the text starts after the indicator
        slots.setdefault(line, []).append(quote + shlex.quote(node.value))
        return
    # Lines counted on "\n" only, as git counts them (the config check does too).
    line = bisect.bisect_right(starts, node.start_mark.index) - 1
    if node.style in ("|", ">"):
        # A block scalar's text starts on the line after its indicator.
        for i, part in enumerate(node.value.split("\n")):
            if part and line + 1 + i < len(starts):
                slots.setdefault(line + 1 + i, []).append(part)
        return
    slots.setdefault(line, []).append(" ".join(node.value.split("\n")))

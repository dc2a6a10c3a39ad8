"""Aliases of the CI variables a merge request's author chooses (session 27).

`exec-shell-ci-var-injection` reads one command at a time, so a value copied
first (GitLab's `variables: {RUN_TITLE: $CI_MERGE_REQUEST_TITLE}`, or a script
line `MSG="$CI_COMMIT_MESSAGE"`) and re-parsed later (`sh -c "... $RUN_TITLE"`,
`eval "... $MSG"`) hid where it came from. Here each use of such an alias in a
config's command text is written as the variable it copies, so the rule judges
the re-parse; lines keep their numbers. The names are the rule's own list
(policy/rules/code-execution/exec-shell-ci-var-injection.yaml; a test keeps
the two in step).
"""

from __future__ import annotations

import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from traingate.yamlsafe import unalias

AUTHOR_VARS = (
    r"CI_COMMIT_(?:MESSAGE|TITLE|DESCRIPTION|TAG_MESSAGE|AUTHOR|BRANCH|REF_NAME|TAG)"
    r"|CI_MERGE_REQUEST_(?:TITLE|DESCRIPTION|SOURCE_BRANCH_NAME|TARGET_BRANCH_NAME"
    r"|SOURCE_BRANCH_COMMIT_MESSAGE|LABELS|MILESTONE)"
    r"|CI_EXTERNAL_PULL_REQUEST_(?:SOURCE|TARGET)_BRANCH_NAME|GITLAB_USER_NAME|CHAT_INPUT"
    r"|GITHUB_HEAD_REF|GITHUB_REF_NAME"
)
_ASSIGN = re.compile(
    r"(?:^|[;&|(]|\b(?:export|local|declare|readonly)\s+(?:-\w+\s+)*)\s*([A-Za-z_]\w*)=([^\n]*)",
    re.M,
)
_MAX_ROUNDS = 8


def _refers(value: str, names: set[str]) -> str | None:
    for m in re.finditer(r"\$\{?([A-Za-z_]\w*)", value):
        if re.fullmatch(AUTHOR_VARS, m.group(1)) or m.group(1) in names:
            return m.group(1)
    return None


def yaml_variables(nodes: list[Node]) -> dict[str, str]:
    """Every `variables:` entry (global or a job's) whose value names a CI
    variable: name -> value."""
    out: dict[str, str] = {}
    todo = list(nodes)
    seen: set[int] = set()
    while todo:
        node, _ = unalias(todo.pop(), None)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                key, _ = unalias(key, None)
                value, _ = unalias(value, None)
                if isinstance(key, ScalarNode) and key.value == "variables":
                    _entries(value, out)
                todo.append(value)
        elif isinstance(node, SequenceNode):
            todo.extend(node.value)
    return out


def _entries(node: Node, out: dict[str, str]) -> None:
    if not isinstance(node, MappingNode):
        return
    for key, value in node.value:
        key, _ = unalias(key, None)
        value, _ = unalias(value, None)
        if isinstance(value, MappingNode):  # `NAME: {value: ..., description: ...}`
            value = next(
                (unalias(v, None)[0] for k, v in value.value if getattr(k, "value", "") == "value"),
                value,
            )
        if (
            isinstance(key, ScalarNode)
            and isinstance(value, ScalarNode)
            and isinstance(value.value, str)
            and "$" in value.value
        ):
            out[str(key.value)] = value.value


def resolve_aliases(text: str, variables: dict[str, str]) -> str:
    """``text`` with each alias of an author-controlled variable written as it."""
    if "$" not in text:
        return text
    values = dict(variables)
    for m in _ASSIGN.finditer(text):
        values.setdefault(m.group(1), m.group(2))
    aliases: dict[str, str] = {}
    for _ in range(_MAX_ROUNDS):
        grew = False
        for name, value in values.items():
            if name in aliases or re.fullmatch(AUTHOR_VARS, name):
                continue
            ref = _refers(value, set(aliases))
            if ref is not None:
                aliases[name] = aliases.get(ref, ref)
                grew = True
        if not grew:
            break
    if not aliases:
        return text
    use = re.compile(
        r"\$\{("
        + "|".join(map(re.escape, aliases))
        + r")\}|\$("
        + "|".join(map(re.escape, aliases))
        + r")\b"
    )
    return use.sub(lambda m: "${" + aliases[m.group(1) or m.group(2)] + "}", text)

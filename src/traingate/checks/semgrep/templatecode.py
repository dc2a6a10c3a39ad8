"""Template expressions that reach interpreter internals, as Python literals (session 27).

A Jinja or ``str.format`` template is code when it is rendered: a Jinja
expression may walk from any object it is given, or from a default global
(``cycler``, ``joiner``, ``lipsum``, ``self``), to a function's ``__globals__``
and from there to ``os``; a format field may read attributes and index dicts,
so ``{args.__init__.__globals__[os].environ[HF_TOKEN]}`` prints a secret.
Such a template sits in places no Python rule reads: a chat template in a
``tokenizer_config.json``, a run-name template in a YAML config, a prompt file
(``qa.jinja``), and the ``{{ ... }}`` tags of a shell or Python template, which
``targets._unjinja`` blanks.

This module lifts each such expression out of the text onto the line it starts
on, as a Python string literal (``_ = "..."``), every other line blank, so the
pack's rule for template escapes (``exec-template-injection``) judges it as it
judges a template written in Python code, and its findings need no line map.
Only expressions that name an escape are lifted, so the other rules have
nothing to read. In a YAML or JSON config each string value is judged whole
(its escapes decoded, comments never read); a config that does not compose is
read as text.
"""

from __future__ import annotations

import bisect
import json
import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from traingate.checks.config.interpolation import interpolation_end
from traingate.yamlsafe import ComposeLoader, unalias

# What a sandbox escape must name, in text whose escapes are decoded (the
# same as the rule's regexes). In a Jinja tag no dunder has an ordinary use:
# any one as a name, an attribute or a whole quoted key (`cycler.__init__`,
# `x["__init__"]`; a label such as "__label__pos" is data), Jinja's mangled
# context of `self`, the attr filter with anything but a plain literal name
# (`attr("__glo" ~ "bals__")`), or a dunder assembled from quoted pieces (`x["__in" ~ "it__"]`, `"_" * 2`;
# Jinja's subscript falls back to getattr).
JINJA_ESCAPE = re.compile(
    r"""(?<![\w'"])__[A-Za-z]\w*__(?![\w'"])|["']__[A-Za-z]\w*__["']|_TemplateReference__context"""
    r"""|\|\s*attr\s*\(\s*(?!["'][A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*["']\s*\))"""
    r"""|["']_{1,2}[^"'\s]*["']\s*[~+*|"']|[~+"']\s*["'][^"'\s]*__["']"""
)
# In a str.format field only the dunders that lead out of the object: a repr
# such as "{0.__class__.__name__}" is ordinary.
FORMAT_ESCAPE = re.compile(r"__(?:globals|builtins|subclasses|mro|bases?|code|closure|import)__")
# A Jinja tag, to its closing `}}` / `%}` (or the end of the text): the escape
# must be inside it, not in shell or prose after a `${{ matrix.x }}`.
_JINJA_TAG = re.compile(r"\{[{%](?:(?![}%]\}).)*(?:[}%]\}|\Z)", re.S)


def _escape_at(text: str, pos: int) -> re.Match[str] | None:
    """The first escape at or after ``pos`` for its kind of template: inside a
    Jinja tag, else after a format brace."""
    found = FORMAT_ESCAPE.search(text, pos)
    for tag in _JINJA_TAG.finditer(text):
        if found is not None and tag.start() >= found.start():
            break
        if tag.end() > pos:
            m = JINJA_ESCAPE.search(text, max(pos, tag.start()), tag.end())
            if m is not None and (found is None or m.start() < found.start()):
                found = m
                break
    return found


# Escapes Jinja, JSON and YAML decode in a string: `__\x67lobals__` is read as
# `__globals__` when rendered, so it is judged (and lifted) decoded.
_CHAR_ESCAPE = re.compile(
    r"\\(?:[xX]([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3}))"
)


def decode_escapes(text: str) -> str:
    """``text`` with its hex, unicode and octal escapes as the characters they spell."""

    def sub(m: re.Match[str]) -> str:
        hexa, u4, u8, octal = m.groups()
        code = int(octal, 8) if octal else int(hexa or u4 or u8, 16)
        # a line end stays an escape: the lifted text keeps the file's lines
        return chr(code) if code < 0x110000 and code not in (10, 13) else m.group(0)

    return _CHAR_ESCAPE.sub(sub, text)


def template_code(text: str) -> str | None:
    """The text with each template expression that names an escape as a Python
    literal on the line where its brace opens; None when there is none."""
    if "{" not in text:
        return None
    text = decode_escapes(text)  # the same lines, each as long or shorter
    # Lines counted on "\n" only, as git counts them (commands.py does too).
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lifted: dict[int, list[str]] = {}
    pos = 0
    while (m := _escape_at(text, pos)) is not None:
        # The nearest brace before it, however far (a tag may be padded with
        # blank lines): a dunder with no brace before it is no template's.
        brace = text.rfind("{", 0, m.start())
        end = text.find("\n", m.end())
        pos = len(text) if end < 0 else end  # the piece holds the line's other escapes
        if brace >= 0:
            line = bisect.bisect_right(starts, brace) - 1
            lifted.setdefault(line, []).append(text[brace:pos])
    return _as_lines(lifted, len(starts))


def _as_lines(lifted: dict[int, list[str]], count: int) -> str | None:
    """``count`` lines, each lifted line a Python literal, the others blank."""
    if not lifted:
        return None
    out = [""] * count
    for line, pieces in lifted.items():
        out[line] = "_ = " + json.dumps(" ".join(pieces))
    text = "\n".join(out)  # the file's own number of lines
    return text if text.endswith("\n") else text + "\n"


def config_template_code(text: str) -> str | None:
    """``template_code`` for a YAML or JSON config: each string (key or value)
    that holds a brace and an escape, whole, on the line where it starts."""
    if "{" not in text or _escape_at(decode_escapes(text), 0) is None:
        return None
    try:
        roots = list(yaml.compose_all(text, Loader=ComposeLoader))
    except (yaml.YAMLError, RecursionError, ValueError):
        return template_code(text)
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lifted: dict[int, list[str]] = {}
    seen: set[int] = set()
    for root in roots:
        if root is not None:
            _walk(root, starts, lifted, seen)
    return _as_lines(lifted, len(starts))


def _walk(node: Node, starts: list[int], lifted: dict[int, list[str]], seen: set[int]) -> None:
    # Each node once: an alias is the anchored node (no alias bomb expands).
    node, _ = unalias(node, None)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            _walk(key, starts, lifted, seen)
            _walk(value, starts, lifted, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _walk(item, starts, lifted, seen)
    elif isinstance(node, ScalarNode) and isinstance(node.value, str):
        value = _without_interpolations(decode_escapes(node.value))
        brace = value.find("{")
        if brace >= 0 and _escape_at(value, brace) is not None:
            line = bisect.bisect_right(starts, node.start_mark.index) - 1
            lifted.setdefault(line, []).append(value)


def _without_interpolations(value: str) -> str:
    """OmegaConf's ``${...}`` spans blanked (same length): what a resolver gets is
    the config check's (``config-resolver-code`` reads a dunder there), not a
    template's; the text around them is still read."""
    out = value
    start = out.find("${")
    while start != -1:
        end = interpolation_end(out, start)
        if end == -1:
            break
        out = out[:start] + " " * (end - start) + out[end:]
        start = out.find("${", end)
    return out

"""Output formats behind one interface: ``render(report) -> str``, one module each.

The formats are one enum (issue #15; pip-audit's ``OutputFormatChoice``): the CLI's
choices, the dispatch and the type checker all read it, and the dispatch ends in
``assert_never``, so a format added to the enum without a renderer fails mypy.
Each renderer is imported only when its format is asked for (the hook prints text).
"""

from __future__ import annotations

import enum
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports FORMATS to build its parser: nothing heavier
    from traingate.findings import Report

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover - Python 3.10
    from typing_extensions import assert_never


class Format(str, enum.Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"
    GITLAB_CODEQUALITY = "gitlab-codequality"


FORMATS: tuple[str, ...] = tuple(f.value for f in Format)


def render(report: Report, fmt: str | Format) -> str:
    kind = Format(fmt)
    if kind is Format.TEXT:
        from traingate.report import text

        return text.render(report)
    if kind is Format.JSON:
        from traingate.report import json_

        return json_.render(report)
    if kind is Format.SARIF:
        from traingate.report import sarif

        return sarif.render(report)
    if kind is Format.MARKDOWN:
        from traingate.report import markdown

        return markdown.render(report)
    if kind is Format.GITLAB_CODEQUALITY:
        from traingate.report import codequality

        return codequality.render(report)
    assert_never(kind)

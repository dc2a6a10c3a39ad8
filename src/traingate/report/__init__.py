"""Output formats behind one interface: ``render(report) -> str``, one module each."""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from traingate.findings import Report

FORMATS: dict[str, str] = {
    "text": "traingate.report.text",
    "json": "traingate.report.json_",
    "sarif": "traingate.report.sarif",
    "markdown": "traingate.report.markdown",
    "gitlab-codequality": "traingate.report.codequality",
}


class Renderer(Protocol):
    def render(self, report: Report) -> str: ...


def render(report: Report, fmt: str) -> str:
    return cast(Renderer, importlib.import_module(FORMATS[fmt])).render(report)

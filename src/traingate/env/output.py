"""Text, JSON and SARIF for ``env verify`` / ``env snapshot`` (issue #20)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from traingate import __version__
from traingate.env.core import KIND_HELP, Result


def as_dict(result: Result) -> dict[str, Any]:
    return {
        "tool": {"name": "traingate", "version": __version__},
        "decision": "pass" if result.ok else "block",
        "environment": {
            "kind": result.env.kind,
            "prefix": result.env.prefix,
            "site_packages": result.env.site_packages,
            "python": result.env.python.version,
        },
        "baseline": result.baseline,
        "mode": result.mode,
        "only": result.only,
        "stats": {
            "files_hashed": result.files_hashed,
            "bytes_hashed": result.bytes_hashed,
            "seconds": round(result.seconds, 3),
        },
        "findings": [
            {
                "kind": f.kind,
                "severity": f.severity,
                "path": f.path,
                "distribution": f.distribution,
                "message": f.message,
            }
            for f in result.findings
        ],
    }


def render_text(result: Result) -> str:
    lines = []
    for f in result.findings:
        tag = "ERROR" if f.severity == "error" else "note "
        lines.append(f"{tag} {f.kind}: {f.path}: {f.message}")
    against = (
        f"baseline {result.baseline}" if result.baseline else "RECORD files only (no baseline)"
    )
    scope = f"only {', '.join(result.only)}" if result.only else "every distribution"
    stats = (
        f"{result.files_hashed} files, {result.bytes_hashed / 1e6:.0f} MB hashed "
        f"in {result.seconds:.2f}s"
    )
    if result.ok:
        lines.append(
            f"environment {result.env.prefix} verified against {against} ({scope}; {stats})"
        )
    else:
        n = len(result.errors)
        lines.append(
            f"environment {result.env.prefix} NOT verified against {against}: "
            f"{n} problem{'s' if n != 1 else ''} ({scope}; {stats})"
        )
    return "\n".join(lines) + "\n"


def render_sarif(result: Result) -> str:
    kinds = sorted({f.kind for f in result.findings})
    rules = [
        {
            "id": f"env/{k}",
            "name": k,
            "shortDescription": {"text": KIND_HELP.get(k, k)},
            "helpUri": "https://github.com/traingate/traingate/blob/main/docs/launch.md",
        }
        for k in kinds
    ]
    results = [
        {
            "ruleId": f"env/{f.kind}",
            "ruleIndex": kinds.index(f.kind),
            "level": "error" if f.severity == "error" else "note",
            "message": {"text": f.message},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": Path(f.path).as_uri()}}}
            ],
        }
        for f in result.findings
    ]
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "traingate-env",
                        "version": __version__,
                        "informationUri": "https://github.com/traingate/traingate",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def render(result: Result, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(as_dict(result), indent=2) + "\n"
    if fmt == "sarif":
        return render_sarif(result)
    return render_text(result)

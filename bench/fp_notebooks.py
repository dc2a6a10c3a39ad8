"""False positives on real published notebooks (issue #16).

    python bench/fp_notebooks.py                  # fetch, build the repo, scan, tabulate
    python bench/fp_notebooks.py --details DIR    # also keep the JSON report in DIR
    python bench/fp_notebooks.py --report R.json  # tabulate an existing report only

Notebook shell escapes (``!pip install``, ``%%bash``, ``!nvidia-smi``,
``%env``) were measured only on look-alikes we wrote: none of the training
libraries bench/fp_surfaces.py surveyed ships a notebook in its sdist. These
sdists do (projects whose sdist is every tracked file: setuptools-scm or
hatch defaults): their tutorials and examples, most of them training or
fitting a model, many written for Colab (``!pip install``, ``!wget`` of a
dataset, ``%env``). Each is fetched with pip (PyPI's JSON API when pip cannot
prepare the sdist's metadata), pinned by version and sha256
(``fp_configs.pinned``), never built, installed or imported; only the
``.ipynb`` and ``.ipy`` files are taken, as ``<package>/<path in the sdist>``,
into one git commit under ``bench/.cache/notebooks/repo``.

jupytext's test inputs are notebooks collected from other projects (and
edge cases of the format); the rest are the packages' own tutorials.
(Surveyed, no notebook in the sdist: pytorch-forecasting, skorch, pyro-ppl,
d2l, optuna, monai, nbdev, fastai, neuralforecast, statsforecast, mlforecast,
tsai, econml, umap-learn, darts, cleanlab, equinox, diffrax, einops,
torchmetrics, lightly, numpyro, optax, tianshou, torch-geometric,
keras-tuner, sae-lens, deepchecks, alibi, speechbrain, asteroid,
ultralytics, segment-anything, setfit, open-clip-torch, pytorch-tabular,
dm-haiku, ott-jax, tslearn, flair, ktrain, kornia, stable-baselines3,
mlxtend. nbformat, nbconvert, papermill and nbval ship test notebooks of
the format, not published code: left out.)

``traingate scan .`` runs with ``--policy builtin:default`` on an empty
cache. Printed: notebooks, code cells and code lines per package, the shell
escapes and magics they hold, blocking or approval findings per rule (per
10,000 code lines) joined with the verdicts in
``bench/fp_notebooks_verdicts.json`` (want / dismiss with a reason, the
shape of ``fp_surfaces_verdicts.json``). Outside the test suite.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from fp_configs import pinned
from fp_surfaces import _from_json_api, cli, git, judged_tail, log, members

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "notebooks"
VERDICTS = HERE / "fp_notebooks_verdicts.json"
# (name, version, sha256 of the sdist) -- pinned 2026-12-05.
SOURCES = [
    ("sktime", "1.2.0", "641425178b3215a0a8dbcf4e6948a8b589e46def39c91989f71d9fa297bc3709"),
    ("jupytext", "1.19.6", "ba1d143bb3751e054d3164376b148ee8fa74e1a860fc9411e1da93ff588b8a17"),
    ("gpytorch", "1.15.2", "380625e93f851b85f772b25c5fb0a6c6d2e3eb2ef667f1e566ab4f95b8775361"),
    ("dowhy", "0.14", "18f48882bc2cd3452ed3536ae3529a196acfa3b1e21b8978b71934e65cabb665"),
    ("flax", "0.12.12", "103cc503c94219513b73027aa0e93aac408adfd3fcdfb1df85e9d147219e4896"),
    (
        "transformer-lens",
        "4.3.0",
        "a2adcad2daf3dcc000ab5ca3acc6883a1f602410fe47e794a853c754705783db",
    ),
    ("river", "0.26.1", "2326f87f396801cfd8672ac02d9f9731c10e936696e7a0a1f89a378b994fba3f"),
    (
        "pyannote-audio",
        "4.0.7",
        "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229",
    ),
    ("mapie", "1.6.0", "471631634184c4cc22641b8a72572df5b5e281e237b0c00ec6c1c668b78767c2"),
    (
        "pytorch-ignite",
        "0.5.5",
        "2c14de75c939a3cc06d2e7de00b1e0a261917ef9bd874dac2e69d789dfa9cc64",
    ),
    ("ax-platform", "1.3.1", "1363b9b73630f23f8042ad03357115f45ba79edee01a0a478376ef5702d06175"),
    ("botorch", "0.18.1", "f3e444efae2622b3ad88a5efe1859583ba2cd0913761f76677a189b2fd1aee99"),
    ("evidently", "0.7.23", "90ed736a85581c46410647dd3c1c957531c77231bb415e1021512238b12d5870"),
    (
        "linear-operator",
        "0.6.1",
        "3fba49a8080d16f822a5d870f462279cd6afbcf4ed670f4511b38fad96f61831",
    ),
    ("gluonts", "0.17.0", "f815d4a069be974a2a62c0eb7409a0b6c5c58fd960b562ba2a530fc2d5763c7e"),
]
GATED = ("block", "require_approval")
# What the code cells hold that is not plain Python, counted per line.
_ESCAPES = [
    ("!pip / %pip install", re.compile(r"^\s*(?:!|%)\s*(?:pip3?|python3? -m pip)\s+install\b")),
    ("other ! escape", re.compile(r"^\s*(?:[\w, ]+=\s*)?!")),
    ("%%bash / %%sh / %%script", re.compile(r"^%%(?:bash|sh|script)\b")),
    ("%env / %set_env", re.compile(r"^\s*%(?:set_)?env\b")),
    ("other magic", re.compile(r"^\s*%")),
]


def fetch(dl: Path) -> dict[str, Path]:
    """The pinned sdists: pip first, PyPI's JSON API when pip cannot prepare
    the sdist's metadata (a setup.py importing torch, a build backend absent)."""
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, ver, sha in SOURCES:
        stem = f"{name}-{ver}".replace("-", "_").lower() + ".tar.gz"

        def hits(stem: str = stem) -> list[Path]:
            return [p for p in sorted(dl.iterdir()) if p.name.replace("-", "_").lower() == stem]

        if not hits():
            log(f"pip download {name}=={ver} (sdist)")
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
                + ["--no-binary", ":all:", "-d", str(dl), f"{name}=={ver}"],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0 and not hits():
                _from_json_api(name, ver, dl)
        out[name] = pinned(hits(), f"sdist of {name}=={ver} in {dl}", sha)
    return out


def code_cells(raw: bytes) -> list[str]:
    """The code cells' text of a notebook (v4 ``cells``, v3 ``worksheets``)."""
    try:
        nb = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(nb, dict):
        return []
    cells = nb.get("cells") or [c for ws in nb.get("worksheets", []) for c in ws.get("cells", [])]
    out = []
    for c in cells:
        if isinstance(c, dict) and c.get("cell_type") == "code":
            src = c.get("source", c.get("input", ""))
            out.append("".join(src) if isinstance(src, list) else str(src))
    return out


def build(archives: dict[str, Path], repo: Path) -> dict[str, Any]:
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    files: dict[str, dict[str, Any]] = {}
    for name, archive in archives.items():
        for path, data, _x in members(archive):
            if not path.endswith((".ipynb", ".ipy")) or ".." in path.split("/"):
                continue
            rel = f"{name}/{path}"
            dest = repo / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            cells = (
                code_cells(data) if path.endswith(".ipynb") else [data.decode("utf-8", "replace")]
            )
            lines = [ln for c in cells for ln in c.splitlines()]
            esc: Counter[str] = Counter()
            for ln in lines:
                kind = next((k for k, rx in _ESCAPES if rx.match(ln)), None)
                if kind:
                    esc[kind] += 1
            files[rel] = {
                "package": name,
                "cells": len(cells),
                "code_lines": len(lines),
                "json_lines": len(data.splitlines()),
                "escapes": dict(esc),
            }
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "-m", "notebooks of " + ", ".join(f"{s[0]} {s[1]}" for s in SOURCES))
    meta = {"files": files}
    (repo.parent / "repo.json").write_text(json.dumps(meta))
    return meta


def tables(doc: dict[str, Any], meta: dict[str, Any], verdicts: dict[Any, Any]) -> str:
    files: dict[str, dict[str, Any]] = meta["files"]
    code = sum(f["code_lines"] for f in files.values())
    gated = [f for f in doc["findings"] if f["outcome"] in GATED]

    def word(f: dict[str, Any]) -> str:
        v = verdicts.get((f["path"], f["line"], f["rule_id"]))
        return v["verdict"] if v else "unjudged"

    per_pkg: dict[str, Counter[str]] = {}
    for f in files.values():
        c = per_pkg.setdefault(f["package"], Counter())
        c.update(notebooks=1, cells=f["cells"], code=f["code_lines"], json=f["json_lines"])
    hits: dict[str, Counter[str]] = {}
    for f in gated:
        pkg = files.get(f["path"], {}).get("package", "other")
        hits.setdefault(pkg, Counter())[word(f)] += 1
    esc: Counter[str] = Counter()
    for f in files.values():
        esc.update(f["escapes"])
    out = [
        f"{len(files):,} notebooks, {sum(f['cells'] for f in files.values()):,} code cells, "
        f"{code:,} code lines ({sum(f['json_lines'] for f in files.values()):,} JSON lines); "
        f"{len(gated)} blocking or approval ({len(gated) * 10_000 / max(code, 1):.2f} per "
        f"10,000 code lines), decision {doc['decision']}",
        "escape and magic lines: " + ", ".join(f"{k} {n}" for k, n in esc.most_common()),
        "",
        "| package | notebooks | code cells | code lines | blocking or approval | want | dismiss "
        "| unjudged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pkg, c in sorted(per_pkg.items(), key=lambda kv: -kv[1]["code"]):
        h = hits.get(pkg, Counter())
        out.append(
            f"| {pkg} | {c['notebooks']} | {c['cells']:,} | {c['code']:,} | {sum(h.values())} "
            f"| {h['want']} | {h['dismiss']} | {h['unjudged']} |"
        )
    out += [
        "",
        "| rule | blocking or approval | want | dismiss | unjudged | per 10k code lines |",
        "|---|---|---|---|---|---|",
    ]
    by_rule: dict[str, Counter[str]] = {}
    for f in gated:
        by_rule.setdefault(f["rule_id"], Counter())[word(f)] += 1
    for r, c in sorted(by_rule.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        n = sum(c.values())
        out.append(
            f"| `{r}` | {n} | {c['want']} | {c['dismiss']} | {c['unjudged']} | "
            f"{n * 10_000 / max(code, 1):.2f} |"
        )
    for err in doc.get("errors", []):
        out += ["", "scan error: " + err.splitlines()[0]]
    warn = Counter(f["rule_id"] for f in doc["findings"] if f["outcome"] == "warn")
    out += ["", f"warnings (not gating): {sum(warn.values())} {dict(warn.most_common(8))}"]
    new = [f for f in gated if word(f) == "unjudged"]
    out += judged_tail(gated, new, verdicts, VERDICTS.name)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    # A check's own error (exit 3) is part of what the corpus shows: kept.
    build_repo = lambda repo: build(fetch(CACHE / "dl"), repo)  # noqa: E731
    return cli(argv, __doc__, CACHE, VERDICTS, build_repo, tables, accept=(0, 1, 3))


if __name__ == "__main__":
    sys.exit(main())

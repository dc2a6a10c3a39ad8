"""Check ``__pycache__`` files against their sources in a separate process (issue #20).

See ``_pycheck.py`` for why pycs are compared as code objects. The checker is
run by traingate's own interpreter (``-I -S``: no site, no .pth, no
PYTHON* variables), never by the environment's, and only for pycs of the same
CPython version (the magic number): a pyc of another version cannot be
checked here and is reported as such.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from traingate.errors import CheckError

_SCRIPT = Path(__file__).with_name("_pycheck.py")
_TIMEOUT = 1800.0


def check(jobs: list[tuple[str, str, int]]) -> dict[str, tuple[str, str]]:
    """{pyc: (result, detail)}; a pyc missing from the answer was not checked."""
    if not jobs:
        return {}
    # Two workers: snapshots of big environments (torch: ~3,000 pycs) halve.
    workers = 2 if len(jobs) > 200 and (os.cpu_count() or 1) > 1 else 1
    chunks = [jobs[i::workers] for i in range(workers)]
    procs = []
    for chunk in chunks:
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-I", "-S", str(_SCRIPT)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                ),
                json.dumps([list(j) for j in chunk]).encode(),
            )
        )
    results: dict[str, tuple[str, str]] = {}
    for proc, payload in procs:
        try:
            out, err = proc.communicate(payload, timeout=_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            raise CheckError("the pyc check timed out; the environment is not verified") from exc
        for line in out.decode("utf-8", "replace").splitlines():
            try:
                row = json.loads(line)
                results[str(row["pyc"])] = (str(row["result"]), str(row["detail"]))
            except (ValueError, KeyError, TypeError):
                continue
        if proc.returncode != 0:
            # Whatever it did not answer stays unchecked, and unchecked blocks.
            tail = err.decode("utf-8", "replace").strip().splitlines()
            why = tail[-1] if tail else f"exit status {proc.returncode}"
            for pyc, _src, _opt in jobs:
                results.setdefault(pyc, ("error", f"the pyc checker failed: {why}"))
    return results

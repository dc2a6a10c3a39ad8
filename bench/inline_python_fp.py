"""False positives of the Python rules on Python written inside shell (session 27).

Lifts the inline Python (``python -c``, ``python - <<EOF``, here-strings,
``echo ... | python``) out of every shell script, Dockerfile and Makefile of a
tree with the semgrep check's own reader (checks/semgrep/inlinepy.py), writes
each file's lifted code to a temp dir, and runs the whole rule pack over it
with plain semgrep. Prints the counts and every finding:

    python bench/inline_python_fp.py bench/.cache/surfaces/repo
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from traingate.checks.semgrep.inlinepy import inline_python

ROOT = Path(__file__).resolve().parents[1]
_SHELL = (".sh", ".bash", ".zsh", ".slurm", ".sbatch", ".mk")


def _shellish(name: str) -> bool:
    low = name.lower()
    return low.endswith(_SHELL) or "dockerfile" in low or low in ("makefile", "gnumakefile")


def main(root: Path) -> int:
    files = lifted = lines = 0
    where: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in names:
                if not _shellish(name):
                    continue
                files += 1
                path = Path(dirpath, name)
                code = inline_python(path.read_text(encoding="utf-8", errors="replace"))
                if code is None:
                    continue
                lifted += 1
                lines += sum(1 for line in code.split("\n") if line.strip())
                out = Path(tmp, f"f{lifted}.py")
                out.write_text(code, encoding="utf-8")
                where[out.name] = str(path.relative_to(root))
        cmd = ["semgrep", "--metrics=off", "--disable-version-check", "--jobs", "1", "--json"]
        cmd += ["--config", str(ROOT / "policy" / "rules"), "--include", "*.py", tmp]
        doc = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    for r in doc["results"]:
        name = Path(r["path"]).name
        print(f"{where[name]}:{r['start']['line']}: {r['check_id'].rsplit('.', 1)[-1]}")
    print(
        f"{files:,} shell, Docker and Makefile files; {lifted:,} hold inline Python "
        f"({lines:,} lines); {len(doc['results'])} findings, {len(doc['errors'])} errors"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/.cache/surfaces/repo")))

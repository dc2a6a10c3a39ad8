"""Model artifacts: pickle-based files checked against an allow list, never unpickled.

This module is the check: its rules and ``run``, which applies the scanner to
the added or modified files of a change. The scanner (standard library only, see
docs/checks/artifacts.md for the library choice) is split by concern:

- ``scanner``: the dispatcher and the public API (``scan_artifact``,
  ``is_artifact_candidate``); imported inside ``run``, so the registry stays light;
- ``pickle_vm``: the symbolic unpickler; ``pickles``: its streams to issues;
- ``allowlist``: the globals a checkpoint may import, and why each is safe;
- ``zips``, ``npy``, ``safetensors``, ``compression``: the container formats;
- ``keras``: Keras model configs; ``hdf5``: the root attributes of an HDF5 file;
- ``common``: rule ids, limits and the per-artifact state the modules share.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from traingate.catalog import Rule, declare
from traingate.change import ChangedFile, Status
from traingate.checks.artifacts.settings import ArtifactsSettings
from traingate.checks.base import Context
from traingate.findings import Finding
from traingate.policy.base import Severity

ID = "artifacts"
DESCRIPTION = "Pickle-based model files (allow-listed globals), safetensors headers, LFS pointers."

# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = ArtifactsSettings

RULES = declare(
    ID,
    [
        Rule(
            "artifact-pickle-global",
            Severity.ERROR,
            "the pickle imports a global that is not on the allow list",
            category="model-artifact",
        ),
        Rule(
            "artifact-pickle-malformed",
            Severity.ERROR,
            "the primary pickle stream cannot be parsed",
            category="model-artifact",
        ),
        Rule(
            "artifact-pickle-suspicious",
            Severity.ERROR,
            "only allowed globals, used abusively (calling computed values, mutating imported objects)",
            category="model-artifact",
        ),
        Rule(
            "artifact-nested-pickle",
            Severity.ERROR,
            "a pickle or zip embedded inside a pickle imports non-allowed globals",
            category="model-artifact",
        ),
        Rule(
            "artifact-zip-malformed",
            Severity.ERROR,
            "readers may disagree about the archive, or it hides content",
            category="model-artifact",
        ),
        Rule(
            "artifact-torchscript",
            Severity.ERROR,
            "a TorchScript archive: its code is compiled and run by torch.jit.load",
            category="model-artifact",
        ),
        Rule(
            "artifact-keras-code",
            Severity.ERROR,
            "a Keras model whose config runs code when loaded (a Lambda layer, a module "
            "outside Keras), or whose config cannot be read",
            category="model-artifact",
        ),
        Rule(
            "artifact-safetensors-invalid",
            Severity.ERROR,
            "the safetensors header does not validate",
            category="model-artifact",
        ),
        Rule(
            "artifact-npy-malformed",
            Severity.ERROR,
            "the .npy header does not parse",
            category="model-artifact",
        ),
        Rule(
            "artifact-compressed-unsupported",
            Severity.ERROR,
            "compressed with a codec the standard library lacks (lz4): it cannot be vetted",
            category="model-artifact",
        ),
        Rule(
            "artifact-too-large",
            Severity.ERROR,
            "a scan limit was hit: the file is not vetted",
            category="model-artifact",
        ),
        Rule(
            "artifact-lfs-pointer",
            Severity.WARNING,
            "a Git LFS pointer: the content is not in the change and was not scanned",
            category="model-artifact",
        ),
        Rule(
            "artifact-scan-error",
            Severity.ERROR,
            "the scanner itself failed (a bug): the artifact is not vetted",
            category="model-artifact",
        ),
    ],
)


def run(ctx: Context) -> list[Finding]:
    from traingate.checks.artifacts.scanner import is_artifact_candidate, scan_artifact

    # Reviewed additions to the allow list, read from the trusted policy only
    # (issue #16: the docs promised a way to extend it).
    extra = [
        (module, name)
        for module, _, name in (
            g.partition(":") for g in ctx.policy.policy.checks.artifacts.allow_globals
        )
    ]
    out: list[Finding] = []
    for f in ctx.files:
        if (
            f.status is Status.DELETED
            or f.new_path is None
            or not (f.new_mode or "").startswith("100")
        ):
            continue
        if _same_content_and_kind(f):
            continue  # a pure rename: the content was judged when it was added
        data = ctx.change.read(f.new_oid)
        if data is None or not is_artifact_candidate(f.new_path, data[:4096]):
            continue
        for issue in scan_artifact(f.new_path, data, extra_allowed=extra):
            where = f" (in {issue.member})" if issue.member else ""
            out.append(
                RULES.finding(
                    issue.rule_id,
                    path=f.new_path,
                    severity=Severity.ERROR if issue.severity == "ERROR" else Severity.WARNING,
                    message=issue.message
                    + ("" if issue.member and issue.member in issue.message else where),
                    help="load weights with safetensors or torch.load(..., weights_only=True); "
                    "see docs/checks/artifacts.md",
                )
            )
    return out


def _same_content_and_kind(f: ChangedFile) -> bool:
    """A pure rename that keeps the name's suffixes. Which bytes are vetted,
    and how strictly, depends on the name (issue #16): `notes.dat` holding a
    protocol-0 pickle is no artifact, and renamed to `model.pkl` it is one."""
    if f.status is not Status.RENAMED or f.added_lines or f.old_oid != f.new_oid:
        return False
    return _suffixes(f.old_path) == _suffixes(f.new_path)


def _suffixes(path: str | None) -> list[str]:
    return [x.lower() for x in PurePosixPath(path or "").suffixes[-2:]]

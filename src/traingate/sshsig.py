"""SSH signatures (``ssh-keygen -Y sign``/``-Y verify``) for issue #20's documents.

The environment baseline, the launch checks and the source attestations use
the same signing as approvals and the decision log (allowed-signers files,
one principal per key), each under a namespace of its own so that a signature
made for one kind of document is never accepted as another (issue #20).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from traingate.errors import TraingateError, UsageError

_TIMEOUT = 60.0


class SigningError(TraingateError):
    """ssh-keygen could not sign: nothing is written (fail closed)."""


def _run(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    from traingate.git import git_env  # the scrubbed environment every tool call uses

    try:
        return subprocess.run(
            ["ssh-keygen", *args],
            input=stdin,
            capture_output=True,
            env=git_env(),
            check=False,
            timeout=_TIMEOUT,
            # No controlling terminal: a passphrase prompt fails instead of hanging a job.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise SigningError("ssh-keygen is not installed; signatures need OpenSSH") from exc
    except subprocess.TimeoutExpired as exc:
        raise SigningError(f"ssh-keygen {' '.join(args[:3])} timed out") from exc


def sign(message: bytes, key: Path, namespace: str) -> str:
    """The armoured SSH signature of ``message`` made with the private ``key``."""
    if not key.is_file():
        raise UsageError(f"signing key {key} does not exist")
    proc = _run(["-q", "-Y", "sign", "-f", str(key), "-n", namespace], message)
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SigningError(
            f"ssh-keygen could not sign with {key}: {err[-1] if err else proc.returncode}",
            help="use an unencrypted key, or one loaded in ssh-agent",
        )
    return proc.stdout.decode("ascii")


def verify(message: bytes, signature: str, principal: str, allowed: Path, namespace: str) -> bool:
    """Whether ``signature`` over ``message`` verifies for ``principal`` in ``allowed``."""
    if not allowed.is_file():
        raise UsageError(f"allowed-signers file {allowed} does not exist")
    if not principal or any(c.isspace() for c in principal):
        return False
    with tempfile.TemporaryDirectory(prefix="traingate-sig-") as tmp:
        sig = Path(tmp) / "sig"
        sig.write_text(signature, encoding="utf-8")
        cmd = ["-Y", "verify", "-f", str(allowed), "-I", principal, "-n", namespace, "-s", str(sig)]
        return _run(cmd, message).returncode == 0

"""Errors that explain themselves, and the one place exit codes are decided."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The process exit codes; a contract with CI systems and hooks."""

    PASS = 0
    BLOCKED = 1
    USAGE = 2
    INTERNAL = 3


class TraingateError(Exception):
    """An error of ours: says what went wrong, where, and how to fix it.

    The remedy travels with the error (sigstore-python's ``Error.diagnostics()``
    is the model), so every front end (the CLI, a machine-readable report, the
    CI comment, a check's blocking finding) shows the same words, and the exit
    code is decided once, by the class.
    """

    exit_code = ExitCode.INTERNAL

    def __init__(
        self, message: str, *, help: str | None = None, location: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.help = help
        self.location = location  # file:line:column, or the offending path

    def diagnostics(self) -> str:
        """The full text for a terminal: the error, then the remedy on its own line."""
        text = f"error: {self._where()}{self.message}"
        if self.help:
            text += f"\n  help: {self.help}"
        return text

    def summary(self) -> str:
        """One line, for places that embed the error in other text (reports, comments)."""
        text = f"{self._where()}{self.message}"
        return f"{text} (help: {self.help})" if self.help else text

    def render(self) -> str:
        return self.diagnostics()

    def _where(self) -> str:
        return f"{self.location}: " if self.location else ""


class UsageError(TraingateError):
    """Bad command-line usage or a bad argument such as an unknown revision."""

    exit_code = ExitCode.USAGE


class PolicyError(TraingateError):
    """The policy is malformed; ``location`` is ``file:line:column``."""

    exit_code = ExitCode.USAGE


class GitError(TraingateError):
    """git failed or the repository is in a state we refuse to judge."""

    exit_code = ExitCode.INTERNAL


class CheckError(TraingateError):
    """A check could not finish (tool crash, timeout); the gate blocks."""

    exit_code = ExitCode.INTERNAL

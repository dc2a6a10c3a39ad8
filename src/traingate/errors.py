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
    """An error of ours: says what went wrong, where, and how to fix it."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.help = help

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.help:
            text += f"\n  help: {self.help}"
        return text


class UsageError(TraingateError):
    """Bad command-line usage or a bad argument such as an unknown revision."""

    exit_code = ExitCode.USAGE


class PolicyError(TraingateError):
    """The policy is malformed; ``location`` is ``file:line:column``."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, location: str | None = None, help: str | None = None):
        super().__init__(message, help=help)
        self.location = location

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"error: {where}{self.message}"
        if self.help:
            text += f"\n  help: {self.help}"
        return text


class GitError(TraingateError):
    """git failed or the repository is in a state we refuse to judge."""

    exit_code = ExitCode.INTERNAL


class CheckError(TraingateError):
    """A check could not finish (tool crash, timeout); the gate blocks."""

    exit_code = ExitCode.INTERNAL

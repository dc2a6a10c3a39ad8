"""The artifacts check's policy settings (``checks.artifacts`` in the policy)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from traingate.policy.base import CheckSettings, empty_list

# "module:qualname", as a pickle's GLOBAL names it (issue #16).
PickleGlobal = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
    ),
]
# Modules and callables that run code or unpickle again when a pickle calls them:
# no policy may allow them, even by mistake (the allow list's bar, artifacts.md).
_NEVER_ALLOWED_MODULES = frozenset(
    [
        *("os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "importlib"),
        *("pickle", "_pickle", "cPickle", "dill", "marshal", "runpy", "shutil", "socket"),
        *("pty", "ctypes", "code", "codeop", "webbrowser", "pdb", "multiprocessing"),
        *("copyreg", "functools", "operator", "types", "asyncio", "io", "_io"),
        *("builtins", "__builtin__"),
    ]
)
_NEVER_ALLOWED_GLOBALS = frozenset(
    [
        "torch:load",
        "torch.serialization:load",
        "torch.storage:_load_from_bytes",
        "torch.hub:load",
        "torch.jit:load",
        "numpy:load",
        "joblib:load",
        "torch._tensor:_rebuild_from_type_v2",
    ]
)


class ArtifactsSettings(CheckSettings):
    allow_globals: list[PickleGlobal] = Field(
        default_factory=empty_list,
        description="More pickle globals ('module:name') the artifacts check accepts, "
        "after review (docs/checks/artifacts.md#the-allow-list).",
    )

    @field_validator("allow_globals")
    @classmethod
    def _not_code(cls, value: list[str]) -> list[str]:
        for entry in value:
            module, _, name = entry.partition(":")
            if (
                module.split(".", 1)[0] in _NEVER_ALLOWED_MODULES
                or entry in _NEVER_ALLOWED_GLOBALS
                or name.split(".")[-1] in ("eval", "exec", "system", "__import__", "getattr")
            ):
                raise ValueError(
                    f"{entry!r} runs code or unpickles when a pickle calls it; it cannot "
                    "be allowed (see docs/checks/artifacts.md#the-allow-list)"
                )
        return value

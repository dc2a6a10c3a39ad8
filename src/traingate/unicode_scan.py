"""Temporary re-export for ``checks/semgrep.py`` (issue #15 move, not an API).

The scanner moved to :mod:`traingate.checks.unicode`. ``checks/semgrep.py``
still imports ``decode_python`` from here and is being edited in another
change; once that import reads ``traingate.checks.unicode.cookie``, delete this
module.
"""

from traingate.checks.unicode.cookie import decode_python

__all__ = ["decode_python"]

"""``traingate env snapshot`` / ``traingate env verify`` (issue #20).

What a training job imports is whatever sits in its Python environment, and
that directory is writable by whoever installed it. A baseline taken when the
environment was built (every installed file's sha256, each distribution's
RECORD digest, the interpreter), signed and kept outside the environment, lets
a job's start check that nothing was edited, added or removed since. See
docs/launch.md.
"""

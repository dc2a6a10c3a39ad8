#!/usr/bin/env bash
# Refresh both hashed locks together (docs/development.md#the-lock-file):
# ci.lock (what CI and the test suite install) and runtime.lock (what the
# GitHub Action and the GitLab job install; a subset of ci.lock's pins).
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--quiet --generate-hashes --universal --python-version 3.11 pyproject.toml requirements/build.in)
uv pip compile "${common[@]}" --extra test --extra dev -o requirements/ci.lock
# The runtime lock takes the CI lock's versions as constraints, so CI tests
# exactly what the action installs.
uv pip compile "${common[@]}" -c requirements/ci.lock -o requirements/runtime.lock

# Shared by the traingate launch recipes (issue #20); sourced, not run.
#
# Settings come from the environment or from $TRAINGATE_LAUNCH_CONF
# (default /etc/traingate/launch.env), a file of shell assignments:
#   TRAINGATE                  the traingate executable (default: traingate)
#   TRAINGATE_ALLOWED_SIGNERS  allowed-signers of attestations, the log, the baseline (required)
#   TRAINGATE_AUDIT_LOG        signed decision log (optional; attestations suffice)
#   TRAINGATE_BRANCH           protected branch the evidence must be for (optional)
#   TRAINGATE_ENV_BASELINE     signed environment baseline (optional)
#   TRAINGATE_ENV              the environment's prefix (with the baseline)
#   TRAINGATE_ONLY             fast mode: distributions to check, e.g. torch,transformers
#   TRAINGATE_EXCLUDE          space-separated gitignore patterns not compared (data dirs)

traingate_verify() {
    # traingate_verify DIR: exit status 0 only if DIR is exactly a tree that passed.
    local conf="${TRAINGATE_LAUNCH_CONF:-/etc/traingate/launch.env}"
    if [ -r "$conf" ]; then
        # shellcheck disable=SC1090
        . "$conf"
    fi
    if [ -z "${TRAINGATE_ALLOWED_SIGNERS:-}" ]; then
        echo "traingate: TRAINGATE_ALLOWED_SIGNERS is not set; refusing to launch" >&2
        return 2
    fi
    local args=(verify "$1" --allowed-signers "$TRAINGATE_ALLOWED_SIGNERS")
    if [ -n "${TRAINGATE_AUDIT_LOG:-}" ]; then args+=(--audit-log "$TRAINGATE_AUDIT_LOG"); fi
    if [ -n "${TRAINGATE_BRANCH:-}" ]; then args+=(--branch "$TRAINGATE_BRANCH"); fi
    if [ -n "${TRAINGATE_ENV_BASELINE:-}" ]; then
        args+=(--env-baseline "$TRAINGATE_ENV_BASELINE")
        if [ -n "${TRAINGATE_ENV:-}" ]; then args+=(--env "$TRAINGATE_ENV"); fi
        if [ -n "${TRAINGATE_ONLY:-}" ]; then args+=(--only "$TRAINGATE_ONLY"); fi
    fi
    local pattern
    for pattern in ${TRAINGATE_EXCLUDE:-}; do args+=(--exclude "$pattern"); done
    "${TRAINGATE:-traingate}" "${args[@]}"
}

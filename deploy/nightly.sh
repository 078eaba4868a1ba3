#!/usr/bin/env bash
# The nightly lenet-batch run, for cron (see deploy/crontab) or by hand.
#
#   deploy/nightly.sh [ENV_FILE]
#
# ENV_FILE (default: $LENET_BATCH_ENV, else deploy/nightly.env beside this script) holds KEY=VALUE lines
# (no shell expansion; '#' starts a comment line; values may be quoted). Variables already set in the
# environment win over the file, so `LENET_BATCH_RUN_ID=2026-11-26 deploy/nightly.sh` re-runs a night.
#   LENET_BATCH_OUTPUT    where outputs go: an absolute path or s3://bucket/prefix (required; a relative
#                         path is refused, as in every path setting: it would land in the checkout)
#   LENET_BATCH_SEEDS     seeds, e.g. 0-7 (default of lenet-batch: 0-3)
#   LENET_BATCH_EPOCHS    epochs per seed (default 10)
#   LENET_BATCH_DATA      Fashion-MNIST folder/URI (optional; see docs/reproducibility.md)
#   LENET_BATCH_RUN_ID    run id (default: today's UTC date, computed once here)
#   LENET_BATCH_VENV      the project's virtualenv (default: <repo>/.venv)
#   RAY_ADDRESS           set: submit to that cluster's Jobs API (http://host:8265); unset: run locally
#   LENET_BATCH_CLUSTER_PYTHON  submitted jobs: the Python on the cluster's head that runs the job, by its
#                         path, whatever the head's PATH holds (default: $LENET_BATCH_VENV/bin/python, right
#                         when cron runs on the head, or the nodes' venv has the same path, as in
#                         ray-cluster.yaml with LENET_BATCH_VENV=~/venv)
#   RAY_AUTH_TOKEN_PATH   file holding the cluster's token (default ~/.ray/auth_token); or RAY_AUTH_TOKEN
#   AWS_*                 S3 credentials/region for local runs (submitted jobs use the cluster's own)
#   Any other LENET_BATCH_<SETTING> (MAX_DROP, STALE_LOCK_SECONDS, GPUS_PER_SEED, …) is passed on too.
# Exit status: that of `python -m jobs.nightly` (0 ok, 1 bug, 2 usage/config, 3 seeds failed,
# 4 accuracy regression, 5 another run holds the lock/submission), 143 if the Ray job was stopped. A
# submitted night's exit follows the job's end within about half a second (ray_job.py POLL_SECONDS).
set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEPLOY_DIR")

log() { printf '%s nightly.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $2"; exit "$1"; }

# cron and `env -i` start with almost nothing: a fixed PATH, a HOME from the passwd entry, a UTF-8 locale.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
if [[ -z ${HOME:-} ]]; then
    HOME=$(getent passwd "$(id -u)" | cut -d: -f6 || true)
    export HOME=${HOME:-/tmp}
fi
export LANG=${LANG:-C.UTF-8}

load_env_file() {  # KEY=VALUE lines; keys already in the environment are kept
    local file=$1 line key value
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line#"${line%%[![:space:]]*}"}
        [[ -z $line || $line == \#* ]] && continue
        [[ $line == export\ * ]] && line=${line#export }
        [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die 2 "$file: not KEY=VALUE: $line"
        key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]] && value=${BASH_REMATCH[1]}
        [[ -n ${!key+set} ]] || export "$key=$value"
    done <"$file"
}

ENV_FILE=${1:-${LENET_BATCH_ENV:-$DEPLOY_DIR/nightly.env}}
[[ -r $ENV_FILE ]] || die 2 "env file $ENV_FILE not found (copy deploy/nightly.env.example)"
if [[ -n $(find "$ENV_FILE" -perm -o=r 2>/dev/null) ]] &&
    grep -Eq '^[^#]*(SECRET_ACCESS_KEY|SESSION_TOKEN|AUTH_TOKEN)=' "$ENV_FILE"; then
    log "warning: $ENV_FILE holds secrets and is world-readable; chmod 600 it"
fi
load_env_file "$ENV_FILE"

# Paths in the settings are read after `cd "$REPO"` below, or on the cluster: a relative one would land in
# the checkout (or nowhere). Each is absolute, or (where a URI may stand) scheme://…
require_absolute() {  # NAME [URI_TOO]
    local name=$1 value=${!1:-}
    [[ -z $value || $value == /* ]] && return 0
    if [[ -n ${2:-} ]]; then
        [[ $value =~ ^[A-Za-z][A-Za-z0-9+.-]*:// && ! $value =~ ^file://[^/] ]] && return 0
        die 2 "$name=$value: give an absolute path or a URI such as s3://bucket/prefix, not a relative path"
    fi
    die 2 "$name=$value: give an absolute path, not a relative one"
}
require_absolute LENET_BATCH_VENV
require_absolute LENET_BATCH_OUTPUT uri
require_absolute LENET_BATCH_DATA uri
require_absolute LENET_BATCH_METRICS_FILE
require_absolute RAY_AUTH_TOKEN_PATH

VENV=${LENET_BATCH_VENV:-$REPO/.venv}
PY=$VENV/bin/python
[[ -x $PY ]] || die 2 "no Python at $PY (run 'make install' or set LENET_BATCH_VENV)"
export PATH="$VENV/bin:$PATH"
[[ -n ${LENET_BATCH_OUTPUT:-} ]] || die 2 "LENET_BATCH_OUTPUT is not set in $ENV_FILE"
RUN_ID=${LENET_BATCH_RUN_ID:-$(date -u +%Y-%m-%d)}
[[ $RUN_ID =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    die 2 "LENET_BATCH_RUN_ID=$RUN_ID: use letters, digits, '.', '_' or '-' (at most 64)"
export RAY_AUTH_MODE=token  # every cluster we talk to (or start) uses token auth

ARGS=(--run-id "$RUN_ID" --output "$LENET_BATCH_OUTPUT")
[[ -n ${LENET_BATCH_SEEDS:-} ]] && ARGS+=(--seeds "$LENET_BATCH_SEEDS")
[[ -n ${LENET_BATCH_EPOCHS:-} ]] && ARGS+=(--epochs "$LENET_BATCH_EPOCHS")
[[ -n ${LENET_BATCH_DATA:-} ]] && ARGS+=(--data "$LENET_BATCH_DATA")

cd "$REPO"
if [[ -z ${RAY_ADDRESS:-} ]]; then
    log "run $RUN_ID: running locally with $PY -> $LENET_BATCH_OUTPUT"
    exec "$PY" -m jobs.nightly "${ARGS[@]}"
fi

# Submission: one deterministic id per run, so a second submission of the same night is refused by
# the Jobs API itself; a failed night is retried as <id>-attempt2, -attempt3, … (see deploy/README.md).
[[ $RAY_ADDRESS == http://* || $RAY_ADDRESS == https://* ]] ||
    die 2 "RAY_ADDRESS=$RAY_ADDRESS: submission needs the dashboard URL (http://host:8265)"
HELPER=("$PY" "$DEPLOY_DIR/ray_job.py")
if [[ -n ${LENET_BATCH_SUBMISSION_ID:-} ]]; then
    SUBMISSION_ID=$LENET_BATCH_SUBMISSION_ID
else
    read -r STATE SUBMISSION_ID < <("${HELPER[@]}" pick-id "$RAY_ADDRESS" "lenet-nightly-$RUN_ID") ||
        exit 2
    [[ -n ${STATE:-} ]] || exit 2
    case $STATE in
        running) die 5 "job $SUBMISSION_ID is already running on $RAY_ADDRESS; not submitting again" ;;
        succeeded) log "job $SUBMISSION_ID already succeeded; nothing to do"; exit 0 ;;
    esac
fi
SUBMITTER="${HOSTNAME:-$(uname -n)}:$$:$(date -u +%s%N)"
METADATA=$(printf '{"submitter": "%s", "run_id": "%s"}' "$SUBMITTER" "$RUN_ID")
# The job's driver runs on the head under the head's PATH, which need not start with the venv (a bare
# `python` there may lack every dependency): name the interpreter.
CLUSTER_PYTHON=${LENET_BATCH_CLUSTER_PYTHON:-$PY}
[[ $CLUSTER_PYTHON == /* ]] || die 2 "LENET_BATCH_CLUSTER_PYTHON=$CLUSTER_PYTHON: give an absolute path"

log "run $RUN_ID: submitting job $SUBMISSION_ID to $RAY_ADDRESS ($CLUSTER_PYTHON) -> $LENET_BATCH_OUTPUT"
# Through the Jobs API's SDK, in one line (see ray_job.py). A refused submission (another submitter won the
# id) is not the end: `wait` reads whose job holds the id.
submit_rc=0
"${HELPER[@]}" submit "$RAY_ADDRESS" "$SUBMISSION_ID" "$REPO" "$VENV" "$METADATA" \
    -- "$CLUSTER_PYTHON" -m jobs.nightly "${ARGS[@]}" || submit_rc=$?
# The job's lines as they come, each with a UTC time; then, as soon as it ends, its entrypoint's own exit
# status (`ray job submit` would exit 1 for every failed job and 0 for a stopped one).
job_rc=0
"${HELPER[@]}" wait "$RAY_ADDRESS" "$SUBMISSION_ID" "$SUBMITTER" || job_rc=$?
log "run $RUN_ID: job $SUBMISSION_ID exit status $job_rc (submission returned $submit_rc)"
exit "$job_rc"

#!/bin/bash
# Submit the pipeline Three-Trainings Pipeline to Slurm (compiled by pipec from examples/valohai/three-trainings.valohai.yaml).
#
# usage: ./submit.sh [--dry-run] [--run-dir PATH]
#
#   --run-dir PATH      run directory on a filesystem all nodes share
#                       (default: ./pipec-runs/three-trainings-pipeline-<UTC timestamp>)
#   --dry-run           print the sbatch command lines and submit nothing
#
# Jobs run in the directory this script is called from (your code checkout).
set -euo pipefail

PIPEC_SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
export PIPEC_SCRIPT_DIR
dry_run=0
run_dir=""

usage() {
    sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

fail_usage() {
    printf 'submit.sh: %s\n' "$1" >&2
    exit 2
}

check_number() {  # TYPE NAME VALUE: numbers are written as JSON writes them (e.g. 7, -0.5, 1e-3)
    case "$1" in
        integer) [[ $3 =~ ^-?(0|[1-9][0-9]*)$ ]] || fail_usage "parameter $2 takes an integer like 7 or -3, not '$3'" ;;
        float) [[ $3 =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] || fail_usage "parameter $2 takes a number like 0.5 or 1e-3, not '$3'" ;;
    esac
}

set_param() {
    fail_usage "this pipeline has no parameters to set (--param $1)"
}

while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) dry_run=1; shift ;;
        --run-dir) [ $# -ge 2 ] || fail_usage "--run-dir needs a path"; run_dir=$2; shift 2 ;;
        --run-dir=*) run_dir=${1#--run-dir=}; shift ;;
        --param) [ $# -ge 2 ] || fail_usage "--param needs NAME=VALUE"; set_param "$2"; shift 2 ;;
        --param=*) set_param "${1#--param=}"; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; fail_usage "unknown argument '$1'" ;;
    esac
done

[ -n "$run_dir" ] || run_dir="./pipec-runs/three-trainings-pipeline-$(date -u +%Y%m%dT%H%M%SZ)"
case $run_dir in
    /*) PIPEC_RUN_DIR=$run_dir ;;
    *) PIPEC_RUN_DIR="$PWD/${run_dir#./}" ;;
esac
export PIPEC_RUN_DIR
if [ "$dry_run" = 0 ]; then
    # Slurm does not create log directories; a missing one fails silently.
    mkdir -p "$PIPEC_RUN_DIR/logs/preprocess-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/train1-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/train2-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/train3-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/evaluate1-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/evaluate2-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/evaluate3-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/find-best-model-node"
    mkdir -p "$PIPEC_RUN_DIR/logs/deploy-node"
    : > "$PIPEC_RUN_DIR/jobs.tsv"
fi

submit() {  # NAME SBATCH-ARGUMENTS...: submit one job (or array chunk); its id goes to $job_id
    local name=$1
    shift
    if [ "$dry_run" = 1 ]; then
        printf 'sbatch --parsable'
        printf ' %q' "$@"
        printf '\n'
        job_id="<$name>"
    else
        job_id=$(sbatch --parsable "$@")
        job_id=${job_id%%;*}
        printf '%s\t%s\n' "$name" "$job_id" >> "$PIPEC_RUN_DIR/jobs.tsv"
        # A stop-all job that failed while we were still submitting cancels only the jobs
        # recorded so far; cancel the rest here and stop.
        if [ -e "$PIPEC_RUN_DIR/FAILED" ]; then
            cut -f2 "$PIPEC_RUN_DIR/jobs.tsv" | xargs -r scancel 2>/dev/null || true
            printf 'submit.sh: the run failed while submitting (%s); cancelled every job\n' "$PIPEC_RUN_DIR/FAILED" >&2
            exit 1
        fi
    fi
}

# preprocess-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit preprocess-node --output="$PIPEC_RUN_DIR/logs/preprocess-node/%j.out" --error="$PIPEC_RUN_DIR/logs/preprocess-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/preprocess-node.sbatch"
ids_0=$job_id

# train1-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit train1-node --dependency="afterok:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/train1-node/%j.out" --error="$PIPEC_RUN_DIR/logs/train1-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/train1-node.sbatch"
ids_1=$job_id

# train2-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit train2-node --dependency="afterok:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/train2-node/%j.out" --error="$PIPEC_RUN_DIR/logs/train2-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/train2-node.sbatch"
ids_2=$job_id

# train3-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit train3-node --dependency="afterok:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/train3-node/%j.out" --error="$PIPEC_RUN_DIR/logs/train3-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/train3-node.sbatch"
ids_3=$job_id

# evaluate1-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit evaluate1-node --dependency="afterok:${ids_1}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/evaluate1-node/%j.out" --error="$PIPEC_RUN_DIR/logs/evaluate1-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/evaluate1-node.sbatch"
ids_4=$job_id

# evaluate2-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit evaluate2-node --dependency="afterok:${ids_2}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/evaluate2-node/%j.out" --error="$PIPEC_RUN_DIR/logs/evaluate2-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/evaluate2-node.sbatch"
ids_5=$job_id

# evaluate3-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit evaluate3-node --dependency="afterok:${ids_3}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/evaluate3-node/%j.out" --error="$PIPEC_RUN_DIR/logs/evaluate3-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/evaluate3-node.sbatch"
ids_6=$job_id

# find-best-model-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit find-best-model-node --dependency="afterok:${ids_4}:${ids_5}:${ids_6}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/find-best-model-node/%j.out" --error="$PIPEC_RUN_DIR/logs/find-best-model-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/find-best-model-node.sbatch"
ids_7=$job_id

# deploy-node: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit deploy-node --dependency="afterok:${ids_7}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/deploy-node/%j.out" --error="$PIPEC_RUN_DIR/logs/deploy-node/%j.err" "$PIPEC_SCRIPT_DIR/jobs/deploy-node.sbatch"

if [ "$dry_run" = 1 ]; then
    echo "dry run: nothing submitted"
else
    printf 'submitted %s job(s) of %s; run directory: %s\n' 9 'Three-Trainings Pipeline' "$PIPEC_RUN_DIR"
    echo "  job ids:  $PIPEC_RUN_DIR/jobs.tsv"
    echo "  watch:    squeue --jobs=$(cut -f2 "$PIPEC_RUN_DIR/jobs.tsv" | paste -sd, -)"
    echo "  failed:   $PIPEC_RUN_DIR/FAILED appears if a stop-all job fails the run"
fi

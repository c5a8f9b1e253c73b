#!/bin/bash
# Submit the pipeline Parameterised training pipeline to Slurm (compiled by pipec from examples/valohai/pipeline-parameters.valohai.yaml).
#
# usage: ./submit.sh [--dry-run] [--run-dir PATH] [--param NAME=VALUE]...
#
#   --run-dir PATH      run directory on a filesystem all nodes share
#                       (default: ./pipec-runs/parameterised-training-pipeline-<UTC timestamp>)
#   --param NAME=VALUE  set a pipeline parameter for this run:
#                         batch_size: Batch size shared by both training nodes. (default 64)
#                         report_title (default Nightly training report)
#   --dry-run           print the sbatch command lines and submit nothing
#
# Jobs run in the directory this script is called from (your code checkout).
set -euo pipefail

PIPEC_SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
export PIPEC_SCRIPT_DIR
dry_run=0
run_dir=""
export PIPEC_PARAM_0=64
export PIPEC_PARAM_1='Nightly training report'

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

known_params='batch_size, report_title'
set_param() {
    local name=${1%%=*} value=${1#*=}
    [ "$name" != "$1" ] || fail_usage "--param takes NAME=VALUE"
    case $name in
        batch_size) check_number integer "$name" "$value"; PIPEC_PARAM_0=$value ;;
        report_title) check_number string "$name" "$value"; PIPEC_PARAM_1=$value ;;
        *) fail_usage "unknown pipeline parameter '$name' (known: $known_params)" ;;
    esac
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

[ -n "$run_dir" ] || run_dir="./pipec-runs/parameterised-training-pipeline-$(date -u +%Y%m%dT%H%M%SZ)"
case $run_dir in
    /*) PIPEC_RUN_DIR=$run_dir ;;
    *) PIPEC_RUN_DIR="$PWD/${run_dir#./}" ;;
esac
export PIPEC_RUN_DIR
if [ "$dry_run" = 0 ]; then
    # Slurm does not create log directories; a missing one fails silently.
    mkdir -p "$PIPEC_RUN_DIR/logs/prepare"
    mkdir -p "$PIPEC_RUN_DIR/logs/train-a"
    mkdir -p "$PIPEC_RUN_DIR/logs/train-b"
    mkdir -p "$PIPEC_RUN_DIR/logs/evaluate"
    mkdir -p "$PIPEC_RUN_DIR/logs/report"
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

# prepare: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit prepare --output="$PIPEC_RUN_DIR/logs/prepare/%j.out" --error="$PIPEC_RUN_DIR/logs/prepare/%j.err" "$PIPEC_SCRIPT_DIR/jobs/prepare.sbatch"
ids_0=$job_id

# train-a: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit train-a --dependency="afterok:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/train-a/%j.out" --error="$PIPEC_RUN_DIR/logs/train-a/%j.err" "$PIPEC_SCRIPT_DIR/jobs/train-a.sbatch"
ids_1=$job_id

# train-b: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit train-b --dependency="afterok:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/train-b/%j.out" --error="$PIPEC_RUN_DIR/logs/train-b/%j.err" "$PIPEC_SCRIPT_DIR/jobs/train-b.sbatch"
ids_2=$job_id

# evaluate: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit evaluate --dependency="afterok:${ids_1}:${ids_2}:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/evaluate/%j.out" --error="$PIPEC_RUN_DIR/logs/evaluate/%j.err" "$PIPEC_SCRIPT_DIR/jobs/evaluate.sbatch"
ids_3=$job_id

# report: 1 execution; on error: stop-all
export PIPEC_ARRAY_OFFSET=0
submit report --dependency="afterok:${ids_3}:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_RUN_DIR/logs/report/%j.out" --error="$PIPEC_RUN_DIR/logs/report/%j.err" "$PIPEC_SCRIPT_DIR/jobs/report.sbatch"

if [ "$dry_run" = 1 ]; then
    echo "dry run: nothing submitted"
else
    printf 'submitted %s job(s) of %s; run directory: %s\n' 5 'Parameterised training pipeline' "$PIPEC_RUN_DIR"
    echo "  job ids:  $PIPEC_RUN_DIR/jobs.tsv"
    echo "  watch:    squeue --jobs=$(cut -f2 "$PIPEC_RUN_DIR/jobs.tsv" | paste -sd, -)"
    echo "  failed:   $PIPEC_RUN_DIR/FAILED appears if a stop-all job fails the run"
fi

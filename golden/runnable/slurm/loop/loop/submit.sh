#!/bin/bash
# Submit the pipeline loop to Slurm (compiled by pipec from examples/runnable/loop.yaml).
#
# usage: ./submit.sh [--dry-run] [--run-dir PATH] [--param NAME=VALUE]...
#        ./submit.sh [--dry-run] --resume RUN_DIR
#
#   --run-dir PATH      run directory on a filesystem all nodes share; it must not exist yet (or
#                       be empty) (default: ./pipec-runs/loop-<UTC timestamp>-<unique part>)
#   --resume RUN_DIR    submit a failed or cancelled run again: every execution that succeeded is
#                       kept (its outputs and ok marker), the others run again with the parameters
#                       the run was first submitted with; a job all of whose executions succeeded
#                       is not submitted again
#   --param NAME=VALUE  set a pipeline parameter for this run:
#                         chunks (default [1, 2, 3])
#                         count (default 5)
#                         greeting (default hello from the parameters file)
#                         side (default heads)
#                         needed (default 3)
#   --dry-run           print the sbatch command lines and submit nothing
#
# Jobs run in the directory this script is called from (your code checkout). Every failure of
# the run is written to RUN_DIR/FAILED (one line each, saying why); a run that was stopped
# (stop-all) also has RUN_DIR/STOPPED. Every execution of a run sees its id as PIPEC_RUN_ID
# (loop-<UTC timestamp>-<unique part>, the run directory's own name by default; kept
# in RUN_DIR/.pipec/run-id, so a resumed run keeps it).
set -euo pipefail

PIPEC_SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
export PIPEC_SCRIPT_DIR
# The runtime the jobs source; submit.sh uses its Slurm part (watchers, stop-all, log paths).
# shellcheck source=SCRIPTDIR/pipec-runtime.sh
. "$PIPEC_SCRIPT_DIR/pipec-runtime.sh"
export PIPEC_PIPELINE_ID=loop
# Set by each job script for itself only (pipec_run reads them): none comes from here.
unset PIPEC_EXIT_ACTIONS PIPEC_ON_SUCCESS
dry_run=0
run_dir=""
resume=0
given=""
# shellcheck disable=SC2034 # read by pipec_cancel_jobs: submit.sh cancels no job of its own
pipec_exclude=""
export PIPEC_PARAM_0='[1, 2, 3]'
export PIPEC_PARAM_1=5
export PIPEC_PARAM_2='hello from the parameters file'
export PIPEC_PARAM_3=heads
export PIPEC_PARAM_4=3

usage() {
    sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

fail_usage() {
    printf 'submit.sh: %s\n' "$1" >&2
    exit 2
}

fail() {
    printf 'submit.sh: %s\n' "$1" >&2
    exit 1
}

check_number() {  # TYPE NAME VALUE: numbers are written as JSON writes them (e.g. 7, -0.5, 1e-3)
    case "$1" in
        integer) [[ $3 =~ ^-?(0|[1-9][0-9]*)$ ]] || fail_usage "parameter $2 takes an integer like 7 or -3, not '$3'" ;;
        float) [[ $3 =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] || fail_usage "parameter $2 takes a number like 0.5 or 1e-3, not '$3'" ;;
    esac
}

known_params='chunks, count, greeting, side, needed'
set_param() {
    local name=${1%%=*} value=${1#*=}
    [ "$name" != "$1" ] || fail_usage "--param takes NAME=VALUE"
    case $name in
        chunks) check_number string "$name" "$value"; PIPEC_PARAM_0=$value ;;
        count) check_number integer "$name" "$value"; PIPEC_PARAM_1=$value ;;
        greeting) check_number string "$name" "$value"; PIPEC_PARAM_2=$value ;;
        side) check_number string "$name" "$value"; PIPEC_PARAM_3=$value ;;
        needed) check_number integer "$name" "$value"; PIPEC_PARAM_4=$value ;;
        *) fail_usage "unknown pipeline parameter '$name' (known: $known_params)" ;;
    esac
}

save_params() {  # the parameters of this run, as NAME=VALUE entries ended by NUL bytes (for --resume)
    printf '%s=%s\0' chunks "$PIPEC_PARAM_0"
    printf '%s=%s\0' count "$PIPEC_PARAM_1"
    printf '%s=%s\0' greeting "$PIPEC_PARAM_2"
    printf '%s=%s\0' side "$PIPEC_PARAM_3"
    printf '%s=%s\0' needed "$PIPEC_PARAM_4"
}

while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) dry_run=1; shift ;;
        --run-dir) [ $# -ge 2 ] || fail_usage "--run-dir needs a path"; [ -z "$run_dir" ] || fail_usage "give one run directory"; run_dir=$2; shift 2 ;;
        --run-dir=*) [ -z "$run_dir" ] || fail_usage "give one run directory"; run_dir=${1#--run-dir=}; shift ;;
        --resume) [ $# -ge 2 ] || fail_usage "--resume needs the run directory"; [ -z "$run_dir" ] || fail_usage "give one run directory"; run_dir=$2; resume=1; shift 2 ;;
        --resume=*) [ -z "$run_dir" ] || fail_usage "give one run directory"; run_dir=${1#--resume=}; resume=1; shift ;;
        --param) [ $# -ge 2 ] || fail_usage "--param needs NAME=VALUE"; set_param "$2"; given=1; shift 2 ;;
        --param=*) set_param "${1#--param=}"; given=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; fail_usage "unknown argument '$1'" ;;
    esac
done

if [ "$resume" = 1 ] && [ -n "$given" ]; then
    fail_usage "--resume runs with the parameters the run was first submitted with; --param cannot change them"
fi
case $run_dir in
    *\\*) fail_usage "a run directory whose path holds a backslash cannot be used (sbatch reads backslashes in log paths)" ;;
esac
new_run_id() {
    printf '%s-%s-%s-%04x\n' "$PIPEC_PIPELINE_ID" "$(date -u +%Y%m%dT%H%M%SZ)" "$$" "$RANDOM"
}
default_run_dir() {
    printf './pipec-runs/%s\n' "$(new_run_id)"
}
absolute() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/${1#./}" ;;
    esac
}
PIPEC_RUN_DIR=$(absolute "${run_dir:-$(default_run_dir)}")
export PIPEC_RUN_DIR
PIPEC_LOG_DIR=$(pipec_log_path "$PIPEC_RUN_DIR/logs")  # as sbatch reads --output: % doubled

# claim_run_dir: make $PIPEC_RUN_DIR this run's own. It must not exist yet or be an empty
# directory; RUN/.pipec, created with one mkdir, is the claim (two submissions racing for one
# directory: one wins, the other is refused), so two runs never mix.
claim_run_dir() {
    mkdir -p "$(dirname "$PIPEC_RUN_DIR")" 2>/dev/null || :
    mkdir "$PIPEC_RUN_DIR" 2>/dev/null || :
    [ -d "$PIPEC_RUN_DIR" ] && [ -z "$(ls -A "$PIPEC_RUN_DIR" 2>/dev/null)" ] && mkdir "$PIPEC_RUN_DIR/.pipec" 2>/dev/null
}
taken() {
    fail_usage "the run directory $PIPEC_RUN_DIR already exists and is not empty: give another one (runs never share one), or resume a failed run with --resume $PIPEC_RUN_DIR"
}

# queued: the ids of this run's jobs and watchers (jobs.tsv, watchers.tsv) still in the queue.
queued() {
    local ids
    ids=$({ cut -f2 "$PIPEC_RUN_DIR/jobs.tsv"; [ ! -f "$PIPEC_RUN_DIR/watchers.tsv" ] || cut -f3 "$PIPEC_RUN_DIR/watchers.tsv"; } |
        grep -v '^$' | sort -u | paste -sd, -) || :
    [ -z "$ids" ] || squeue -h -o %i -j "$ids" 2>/dev/null | sed 's/[^0-9].*//' | sort -u | paste -sd' ' - || :
}

if [ "$resume" = 1 ]; then
    [ -f "$PIPEC_RUN_DIR/jobs.tsv" ] || fail_usage "$PIPEC_RUN_DIR holds no run to resume (no jobs.tsv)"
    pipeline=$(cat "$PIPEC_RUN_DIR/.pipec/pipeline" 2>/dev/null) || pipeline=""
    [ "$pipeline" = "$PIPEC_PIPELINE_ID" ] || fail_usage "$PIPEC_RUN_DIR is a run of ${pipeline:-another pipeline}, not of $PIPEC_PIPELINE_ID"
    while IFS= read -r -d '' entry; do
        set_param "$entry"
    done < "$PIPEC_RUN_DIR/.pipec/params"
elif [ "$dry_run" = 1 ]; then
    [ ! -e "$PIPEC_RUN_DIR" ] || [ -z "$(ls -A "$PIPEC_RUN_DIR" 2>/dev/null)" ] || taken
elif [ -n "$run_dir" ]; then
    claim_run_dir || taken
else
    # The default name is unique (time, process id and a random part); a clash is retried.
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        ! claim_run_dir || break
        [ "$attempt" -lt 10 ] || fail "cannot create a run directory like $PIPEC_RUN_DIR"
        PIPEC_RUN_DIR=$(absolute "$(default_run_dir)")
        PIPEC_LOG_DIR=$(pipec_log_path "$PIPEC_RUN_DIR/logs")
    done
fi

# The run's id: the same for every execution of this run (and of its resumption), another for
# the next run.
if [ "$resume" = 1 ]; then
    PIPEC_RUN_ID=$(cat "$PIPEC_RUN_DIR/.pipec/run-id" 2>/dev/null) || PIPEC_RUN_ID=""
    [ -n "$PIPEC_RUN_ID" ] || PIPEC_RUN_ID=$PIPEC_PIPELINE_ID-$(basename "$PIPEC_RUN_DIR")  # a run made before run ids
elif [ -z "$run_dir" ]; then
    PIPEC_RUN_ID=$(basename "$PIPEC_RUN_DIR")
else
    PIPEC_RUN_ID=$(new_run_id)
fi
export PIPEC_RUN_ID

if [ "$dry_run" = 0 ]; then
    if [ "$resume" = 1 ]; then
        still=$(queued)
        [ -z "$still" ] || fail "the run in $PIPEC_RUN_DIR still has jobs in the queue ($still): wait for them to end (or scancel them), then resume"
    else
        printf '%s\n' "$PIPEC_PIPELINE_ID" > "$PIPEC_RUN_DIR/.pipec/pipeline"
        printf '%s\n' "$PIPEC_RUN_ID" > "$PIPEC_RUN_DIR/.pipec/run-id"
        save_params > "$PIPEC_RUN_DIR/.pipec/params"
        : > "$PIPEC_RUN_DIR/jobs.tsv"
    fi
    # Slurm does not create log directories; a missing one fails silently.
    mkdir -p "$PIPEC_RUN_DIR/logs/retry-0-attempt"
    mkdir -p "$PIPEC_RUN_DIR/logs/retry-1-attempt"
    mkdir -p "$PIPEC_RUN_DIR/logs/retry-2-attempt"
    mkdir -p "$PIPEC_RUN_DIR/logs/retry-3-attempt"
    mkdir -p "$PIPEC_RUN_DIR/logs/retry-4-attempt"
    mkdir -p "$PIPEC_RUN_DIR/logs/summary"
    # Watcher jobs (see watch.sbatch) need scontrol, in here and on the nodes.
    if ! timeout 30 scontrol ping > /dev/null 2>&1; then
        export PIPEC_WATCH=0
        echo "submit.sh: warning: scontrol does not answer: no watcher jobs are submitted, so a job Slurm kills outright (memory limit, node failure) leaves its run unreported" >&2
    fi
fi

# abort REASON: the run cannot be submitted whole: say why in RUN/FAILED, mark it stopped,
# cancel what was submitted, and exit 1.
abort() {
    trap - INT TERM HUP
    printf 'submit.sh: %s\n' "$1" >> "$PIPEC_RUN_DIR/FAILED"
    : > "$PIPEC_RUN_DIR/STOPPED"
    pipec_cancel_jobs
    printf 'submit.sh: %s; cancelled every job submitted (see %s)\n' "$1" "$PIPEC_RUN_DIR/FAILED" >&2
    exit 1
}

# new_attempt: on --resume, before the first job is submitted again: the records of the attempt
# before (jobs.tsv, watchers.tsv, FAILED, STOPPED) move to RUN/.pipec/attempts/<n>/.
new_attempt() {
    local n=1
    while [ -e "$PIPEC_RUN_DIR/.pipec/attempts/$n" ]; do
        n=$((n + 1))
    done
    mkdir -p "$PIPEC_RUN_DIR/.pipec/attempts"
    mkdir "$PIPEC_RUN_DIR/.pipec/attempts/$n" 2>/dev/null || fail "another submit.sh is resuming $PIPEC_RUN_DIR"
    for record in jobs.tsv watchers.tsv FAILED STOPPED; do
        [ ! -e "$PIPEC_RUN_DIR/$record" ] || mv "$PIPEC_RUN_DIR/$record" "$PIPEC_RUN_DIR/.pipec/attempts/$n/"
    done
    : > "$PIPEC_RUN_DIR/jobs.tsv"
    resume=2
}

# todo JOB FIRST COUNT: which of executions FIRST..FIRST+COUNT-1 of JOB to run, as an --array list
# relative to FIRST: all of them, or on --resume those that have not succeeded ("" for none).
todo() {
    if [ "$resume" = 0 ]; then
        [ "$3" -gt 1 ] && echo "0-$(($3 - 1))" || echo 0
    else
        pipec_pending "$1" "$2" "$3"
    fi
}

# dependency SPEC: SPEC without the ids of jobs not submitted (empty) and the kinds left with none.
dependency() {
    local part id kept out="" parts ids
    IFS=, read -ra parts <<< "$1"
    for part in "${parts[@]}"; do
        kept=""
        IFS=: read -ra ids <<< "${part#*:}"
        for id in "${ids[@]}"; do
            [ -z "$id" ] || kept="$kept:$id"
        done
        [ -z "$kept" ] || out="$out${out:+,}${part%%:*}$kept"
    done
    printf '%s\n' "$out"
}

# unfinished EXECUTION...: whether any of these executions (JOB/N under the run directory) has
# not succeeded.
unfinished() {
    local execution
    for execution in "$@"; do
        [ -e "$PIPEC_RUN_DIR/$execution/.pipec/ok" ] || return 0
    done
    return 1
}

submitted=0
skipped=0
# submit NAME POLICY EXECUTIONS [--pipec-members=JOB/N,...] SBATCH-ARGUMENTS...: submit one job,
# group or array chunk that runs EXECUTIONS executions (an array chunk: from $PIPEC_ARRAY_OFFSET;
# 0: a run-time fan-out's launcher), then its watcher; its id goes to $job_id. The executions are
# RUN/NAME/<n>, or for a group of several jobs the members listed. On --resume what already
# succeeded is not submitted again ($job_id is then empty and dependents do not wait for it).
submit() {
    local name=$1 policy=$2 count=$3 arg args=() first=0 array="" spec limit drop=0 members=""
    shift 3
    job_id=""
    for arg in "$@"; do
        case $arg in
            --pipec-members=*)
                members=${arg#--pipec-members=}
                members=${members//,/ }
                continue ;;
            --array=*)
                spec=${arg#--array=}
                limit=""
                [[ $spec != *%* ]] || limit="%${spec#*%}"
                first=$PIPEC_ARRAY_OFFSET
                array=$(todo "$name" "$first" "$count")
                [ -n "$array" ] || { skipped=$((skipped + 1)); return 0; }
                arg="--array=$array$limit" ;;
            --dependency=*)
                spec=$(dependency "${arg#--dependency=}")
                [ -n "$spec" ] || { drop=1; continue; }
                arg="--dependency=$spec" ;;
            --kill-on-invalid-dep=*)
                [ "$drop" = 0 ] || continue ;;
        esac
        args+=("$arg")
    done
    if [ -z "$array" ] && [ "$resume" != 0 ]; then
        if [ -n "$members" ]; then
            # shellcheck disable=SC2086 # JOB/N words (job ids and numbers)
            unfinished $members || { skipped=$((skipped + 1)); return 0; }
        elif [ "$count" -gt 0 ]; then
            [ -n "$(todo "$name" 0 "$count")" ] || { skipped=$((skipped + 1)); return 0; }
        elif [ -f "$PIPEC_RUN_DIR/$name/items.jsonl" ]; then
            [ -n "$(todo "$name" 0 "$(wc -l < "$PIPEC_RUN_DIR/$name/items.jsonl")")" ] || { skipped=$((skipped + 1)); return 0; }
        fi
    fi
    if [ "$dry_run" = 1 ]; then
        printf 'sbatch --parsable'
        printf ' %q' "${args[@]}"
        printf '\n'
        job_id="<$name>"
        return 0
    fi
    [ "$resume" != 1 ] || new_attempt
    if ! job_id=$(sbatch --parsable "${args[@]}" 2> "$PIPEC_RUN_DIR/.pipec/sbatch.err"); then
        abort "sbatch refused job $name: $(tr '\n' ' ' < "$PIPEC_RUN_DIR/.pipec/sbatch.err" | sed 's/ *$//')"
    fi
    [ ! -s "$PIPEC_RUN_DIR/.pipec/sbatch.err" ] || cat "$PIPEC_RUN_DIR/.pipec/sbatch.err" >&2
    job_id=${job_id%%;*}
    printf '%s\t%s\n' "$name" "$job_id" >> "$PIPEC_RUN_DIR/jobs.tsv"
    submitted=$((submitted + 1))
    # shellcheck disable=SC2086 # JOB/N words (job ids and numbers)
    pipec_watch_job "$name" "$policy" "$job_id" "$first" "$count" $members
    # A stop-all job that failed while we were still submitting cancels only the jobs
    # recorded so far; cancel the rest here and stop.
    if [ -e "$PIPEC_RUN_DIR/STOPPED" ]; then
        trap - INT TERM HUP
        pipec_cancel_jobs
        printf 'submit.sh: the run was stopped while submitting (see %s); cancelled every job\n' "$PIPEC_RUN_DIR/FAILED" >&2
        exit 1
    fi
}

[ "$dry_run" = 1 ] || trap 'abort "submit.sh was interrupted"' INT TERM HUP

# retry-0-attempt (retry.0.attempt): 1 execution; on error: stop-next
ids_0=""
export PIPEC_ARRAY_OFFSET=0
submit retry-0-attempt stop-next 1 --output="$PIPEC_LOG_DIR/retry-0-attempt/%j.out" --error="$PIPEC_LOG_DIR/retry-0-attempt/%j.err" "$PIPEC_SCRIPT_DIR/jobs/retry-0-attempt.sbatch"
ids_0="${ids_0}${job_id:+:$job_id}"

# retry-1-attempt (retry.1.attempt): 1 execution; on error: stop-next
ids_1=""
export PIPEC_ARRAY_OFFSET=0
submit retry-1-attempt stop-next 1 --dependency="afterok:${ids_0}" --kill-on-invalid-dep=yes --output="$PIPEC_LOG_DIR/retry-1-attempt/%j.out" --error="$PIPEC_LOG_DIR/retry-1-attempt/%j.err" "$PIPEC_SCRIPT_DIR/jobs/retry-1-attempt.sbatch"
ids_1="${ids_1}${job_id:+:$job_id}"

# retry-2-attempt (retry.2.attempt): 1 execution; on error: stop-next
ids_2=""
export PIPEC_ARRAY_OFFSET=0
submit retry-2-attempt stop-next 1 --dependency="afterok:${ids_1}" --kill-on-invalid-dep=yes --output="$PIPEC_LOG_DIR/retry-2-attempt/%j.out" --error="$PIPEC_LOG_DIR/retry-2-attempt/%j.err" "$PIPEC_SCRIPT_DIR/jobs/retry-2-attempt.sbatch"
ids_2="${ids_2}${job_id:+:$job_id}"

# retry-3-attempt (retry.3.attempt): 1 execution; on error: stop-next
ids_3=""
export PIPEC_ARRAY_OFFSET=0
submit retry-3-attempt stop-next 1 --dependency="afterok:${ids_2}" --kill-on-invalid-dep=yes --output="$PIPEC_LOG_DIR/retry-3-attempt/%j.out" --error="$PIPEC_LOG_DIR/retry-3-attempt/%j.err" "$PIPEC_SCRIPT_DIR/jobs/retry-3-attempt.sbatch"
ids_3="${ids_3}${job_id:+:$job_id}"

# retry-4-attempt (retry.4.attempt): 1 execution; on error: stop-next
ids_4=""
export PIPEC_ARRAY_OFFSET=0
submit retry-4-attempt stop-next 1 --dependency="afterok:${ids_3}" --kill-on-invalid-dep=yes --output="$PIPEC_LOG_DIR/retry-4-attempt/%j.out" --error="$PIPEC_LOG_DIR/retry-4-attempt/%j.err" "$PIPEC_SCRIPT_DIR/jobs/retry-4-attempt.sbatch"
ids_4="${ids_4}${job_id:+:$job_id}"

# summary: 1 execution; on error: stop-next
ids_5=""
export PIPEC_ARRAY_OFFSET=0
submit summary stop-next 1 --dependency="afterok:${ids_0}:${ids_1}:${ids_2}:${ids_3}:${ids_4}" --kill-on-invalid-dep=yes --output="$PIPEC_LOG_DIR/summary/%j.out" --error="$PIPEC_LOG_DIR/summary/%j.err" "$PIPEC_SCRIPT_DIR/jobs/summary.sbatch"
ids_5="${ids_5}${job_id:+:$job_id}"

trap - INT TERM HUP
if [ "$dry_run" = 1 ]; then
    echo "dry run: nothing submitted"
elif [ "$resume" != 0 ] && [ "$submitted" = 0 ]; then
    printf 'every execution of the run in %s has succeeded: nothing to resubmit\n' "$PIPEC_RUN_DIR"
else
    if [ "$resume" != 0 ]; then
        printf 'resubmitted %s job(s) of %s (%s left out: all their executions had succeeded); run directory: %s\n' \
            "$submitted" loop "$skipped" "$PIPEC_RUN_DIR"
    else
        printf 'submitted %s job(s) of %s; run directory: %s\n' 6 loop "$PIPEC_RUN_DIR"
    fi
    echo "  job ids:  $PIPEC_RUN_DIR/jobs.tsv"
    echo "  watch:    squeue --jobs=$(cut -f2 "$PIPEC_RUN_DIR/jobs.tsv" | paste -sd, -)"
    echo "  failed:   $PIPEC_RUN_DIR/FAILED lists every failure, saying why; then: $0 --resume $PIPEC_RUN_DIR"
fi

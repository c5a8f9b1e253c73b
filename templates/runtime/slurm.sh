# shellcheck shell=sh
# pipec runtime, Slurm part (joined after core.sh, for the Slurm target only): the guard that
# reports every death of a job, the watcher job for the deaths a job cannot see, the scancel
# side of stop-all, the launcher of a run-time fan-out (which submits its job again as an
# sbatch array of one execution per item and waits for it), each execution's item of that
# fan-out, the credentials an execution reads from files on the node, and what submit.sh shares
# with the jobs (log paths, what is left to run).
#
# How a failure is seen. An execution that fails in its command is handled by pipec_run (core).
# Everything else that ends a job is handled twice over:
#   - the guard (pipec_guard), EXIT and signal traps in the job itself, sees what the job can
#     see: a staging or set-up error (pipec_die, set -e), scancel, the time limit, preemption
#     (Slurm sends SIGTERM, then SIGKILL KillWait seconds later). It marks the executions
#     failed with the reason and applies the job's policy; on a requeue it leaves them alone
#     (they start again), and when the run was stopped (RUN/STOPPED) it marks them cancelled.
#   - the watcher (pipec_watch, in watch.sbatch), a small job submit.sh submits after each job
#     (or array chunk) with --dependency=afternotok:<id>, sees what kills a job outright: SIGKILL
#     (the memory limit), a node failure, a job that never started (launch failure), a command
#     that ignored SIGTERM until SIGKILL. Slurm starts it only if the job ended in a failed
#     state (for an array: once every task has ended and one failed); it marks what the job
#     left unmarked and applies the policy. It is submitted with --kill-on-invalid-dep=yes: when
#     the job succeeds, its afternotok dependency can never be met and Slurm cancels the watcher
#     itself (DependencyNeverSatisfied), so a run that succeeded leaves nothing queued, and no
#     job has to find and cancel its watcher (an array task cannot know it is the last).
# Watchers are listed in RUN/watchers.tsv (job name, watched id, watcher id); stop-all cancels
# them with the jobs. A watcher needs scontrol; submit.sh submits none when `scontrol ping`
# does not answer (it says so).

# pipec_log_path PATH: PATH as sbatch must be given it in --output/--error, where % starts a
# replacement symbol (%j, %A, ...): every % doubled. (A backslash in the path would turn the
# symbols off altogether; submit.sh refuses such a run directory.)
pipec_log_path() {
    printf '%s\n' "$1" | sed 's/%/%%/g'
}

# pipec_pending JOB FIRST COUNT: the executions FIRST..FIRST+COUNT-1 of JOB that have not
# succeeded (no .pipec/ok), as an sbatch --array list of indices relative to FIRST ("0-3,5,7-9";
# empty when every one succeeded).
pipec_pending() {
    pipec_list=""
    pipec_from=-1
    pipec_k=0
    while [ "$pipec_k" -le "$3" ]; do
        if [ "$pipec_k" -lt "$3" ] && [ ! -e "$PIPEC_RUN_DIR/$1/$(($2 + pipec_k))/.pipec/ok" ]; then
            [ "$pipec_from" -ge 0 ] || pipec_from=$pipec_k
        elif [ "$pipec_from" -ge 0 ]; then
            pipec_range=$pipec_from
            [ "$pipec_from" -eq $((pipec_k - 1)) ] || pipec_range="$pipec_from-$((pipec_k - 1))"
            pipec_list="$pipec_list${pipec_list:+,}$pipec_range"
            pipec_from=-1
        fi
        pipec_k=$((pipec_k + 1))
    done
    printf '%s\n' "$pipec_list"
}

# pipec_fanout JOB SOURCE KEY PARALLEL POLICY: the launcher of a run-time fan-out. Lists the
# items of SOURCE's metadata KEY, submits JOB again as an array of that many executions (at
# most PARALLEL at once; 0 = no limit), waits for it, and succeeds when every execution did
# (POLICY continue: when at least one did). Started again (requeued, or in a resumed run) with
# the same items, it runs only the executions that have not succeeded; with other items, all.
pipec_fanout() {
    mkdir -p "$PIPEC_RUN_DIR/$1"
    pipec_items="$PIPEC_RUN_DIR/$1/items.jsonl"
    pipec_metadata "$2" "$3" json | python3 -c '
import json, sys
value = json.load(sys.stdin)
for item in value if isinstance(value, list) else [value]:
    print(json.dumps(item))' > "$pipec_items.new" || pipec_die "cannot list the items of $2 metadata $3"
    # An earlier start of this launcher (requeued) may have left its executions running.
    if [ -f "$PIPEC_RUN_DIR/$1/array.id" ]; then
        pipec_wait_job "$(cat "$PIPEC_RUN_DIR/$1/array.id")"
    fi
    if [ -f "$pipec_items" ] && cmp -s "$pipec_items" "$pipec_items.new"; then
        rm -f "$pipec_items.new"
    else
        for pipec_dir in "$PIPEC_RUN_DIR/$1"/*; do
            case ${pipec_dir##*/} in
                *[!0-9]* | "") ;;
                *) rm -rf "$pipec_dir" ;;
            esac
        done
        mv -f "$pipec_items.new" "$pipec_items"
    fi
    pipec_count=$(wc -l < "$pipec_items")
    if [ "$pipec_count" -eq 0 ]; then
        printf 'pipec: %s metadata %s is an empty list; %s runs no execution\n' "$2" "$3" "$1" >&2
        return 0
    fi
    pipec_array=$(pipec_pending "$1" 0 "$pipec_count")
    if [ -n "$pipec_array" ]; then
        [ "$4" = 0 ] || pipec_array="$pipec_array%$4"
        pipec_logs=$(pipec_log_path "$PIPEC_RUN_DIR/logs/$1")
        pipec_id=$(PIPEC_FANOUT=1 sbatch --parsable --array="$pipec_array" --chdir="$PIPEC_RUN_DIR" \
            --output="$pipec_logs/%A_%a.out" --error="$pipec_logs/%A_%a.err" \
            "$PIPEC_SCRIPT_DIR/jobs/$1.sbatch") || pipec_die "submitting the executions of $1 failed"
        pipec_id=${pipec_id%%;*}
        echo "$pipec_id" > "$PIPEC_RUN_DIR/$1/array.id"
        printf '%s\t%s\n' "$1" "$pipec_id" >> "$PIPEC_RUN_DIR/jobs.tsv"
        pipec_watch_job "$1" "$5" "$pipec_id" 0 "$pipec_count"
        printf 'pipec: %s runs %s executions as job %s (array %s)\n' "$1" "$pipec_count" "$pipec_id" "$pipec_array"
        pipec_wait_job "$pipec_id"
    else
        printf 'pipec: every execution of %s already succeeded\n' "$1"
    fi
    pipec_ok=0
    pipec_k=0
    while [ "$pipec_k" -lt "$pipec_count" ]; do
        [ ! -e "$PIPEC_RUN_DIR/$1/$pipec_k/.pipec/ok" ] || pipec_ok=$((pipec_ok + 1))
        pipec_k=$((pipec_k + 1))
    done
    case "$5" in
        continue) [ "$pipec_ok" -gt 0 ] ;;
        *) [ "$pipec_ok" -eq "$pipec_count" ] ;;
    esac || pipec_die "$pipec_ok of $pipec_count executions of $1 succeeded"
}

# pipec_wait_job ID: wait until job ID has left the queue.
pipec_wait_job() {
    while squeue -h -j "$1" 2>/dev/null | grep -q .; do
        sleep 2
    done
}

# pipec_fanout_item FORM: this execution's item of a run-time fan-out (see pipec_metadata).
pipec_fanout_item() {
    sed -n "$((PIPEC_EXECUTION + 1))p" "$PIPEC_RUN_DIR/$PIPEC_JOB/items.jsonl" | python3 -c '
import json, sys
value = json.loads(sys.stdin.read())
sys.stdout.write(value if sys.argv[1] == "text" and isinstance(value, str) else json.dumps(value))' "$1"
}

# pipec_cancel_jobs: the Slurm side of stop-all (see pipec_cancel_run): cancel the run's
# watchers (watchers.tsv; first, so that cancelling the jobs starts none of them), then every
# other job of the run (jobs.tsv), then this one (an array task: its whole array). One scancel
# for many ids: a job being stopped has only KillWait seconds. Where pipec_exclude is set
# (submit.sh: to nothing; a watcher: to its own id), that id is left out and nothing is
# cancelled last.
pipec_cancel_jobs() {
    if [ "${pipec_exclude+set}" = set ]; then
        pipec_self=$pipec_exclude pipec_last=""
    else
        pipec_self=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-}}
        pipec_last=$pipec_self
    fi
    for pipec_table in watchers.tsv:3 jobs.tsv:2; do
        pipec_file="$PIPEC_RUN_DIR/${pipec_table%:*}"
        [ -f "$pipec_file" ] || continue
        pipec_ids=$(cut -f"${pipec_table#*:}" "$pipec_file" | grep -vxF -e "$pipec_self" | grep -v '^$' | tr '\n' ' ') || :
        # shellcheck disable=SC2086 # job ids, one word each
        [ -z "$pipec_ids" ] || scancel $pipec_ids 2>/dev/null || :
    done
    [ -z "$pipec_last" ] || scancel "$pipec_last" 2>/dev/null || :
}

# pipec_stop_run: stop-all from outside pipec_run (a guard, a watcher): the run is marked
# stopped (RUN/STOPPED) and every other job of the run is cancelled.
pipec_stop_run() {
    : > "$PIPEC_RUN_DIR/STOPPED"
    pipec_cancel_jobs
}

# pipec_watch_job JOB POLICY ID FIRST COUNT: submit the watcher (watch.sbatch) of job ID, which
# runs executions FIRST..FIRST+COUNT-1 of JOB (COUNT 0: the launcher of a run-time fan-out), and
# list it in RUN/watchers.tsv. Nothing when PIPEC_WATCH is 0 (submit.sh found no scontrol). A
# watcher that cannot be submitted is reported, not fatal: the job runs, its guard still works.
pipec_watch_job() {
    [ "${PIPEC_WATCH:-1}" = 1 ] || return 0
    pipec_w_job=$1
    pipec_w_id=$3
    pipec_logs=$(pipec_log_path "$PIPEC_RUN_DIR/logs/$1")
    set -- --parsable --job-name="${PIPEC_PIPELINE_ID:-pipec}.$1.watch" --dependency="afternotok:$3" \
        --kill-on-invalid-dep=yes --time=0-00:10:00 --ntasks=1 --chdir="$PIPEC_RUN_DIR" \
        --output="$pipec_logs/watch-%j.out" --error="$pipec_logs/watch-%j.out" \
        "$PIPEC_SCRIPT_DIR/watch.sbatch" "$@"
    [ -z "${PIPEC_WATCH_PARTITION:-}" ] || set -- --partition="$PIPEC_WATCH_PARTITION" "$@"
    [ -z "${PIPEC_WATCH_ACCOUNT:-}" ] || set -- --account="$PIPEC_WATCH_ACCOUNT" "$@"
    [ -z "${PIPEC_WATCH_QOS:-}" ] || set -- --qos="$PIPEC_WATCH_QOS" "$@"
    if pipec_watcher=$(sbatch "$@" 2>&1); then
        printf '%s\t%s\t%s\n' "$pipec_w_job" "$pipec_w_id" "${pipec_watcher%%;*}" >> "$PIPEC_RUN_DIR/watchers.tsv"
    else
        printf 'pipec: warning: cannot submit the watcher of %s (job %s): %s\n' "$pipec_w_job" "$pipec_w_id" \
            "$pipec_watcher" >&2
    fi
}

# pipec_workdir: enter the directory submit.sh was called from (PIPEC_WORK_DIR), where commands
# run, fetch and upload commands too. Slurm starts every job of a run in the run directory
# (sbatch --chdir), which every node has; when a node lacks this directory the job fails
# saying so, instead of running its command somewhere else.
pipec_workdir() {
    [ -n "${PIPEC_WORK_DIR:-}" ] || return 0
    cd "$PIPEC_WORK_DIR" 2>/dev/null ||
        pipec_die "cannot enter $PIPEC_WORK_DIR, the directory submit.sh was called from, on ${SLURMD_NODENAME:-this node}: commands run there, so it must be on a filesystem every node shares"
}

# The signal Slurm sends some time before a job's end ([slurm] signal, sbatch --signal). With B:
# it goes to the batch script alone, which would die of it (and a trap runs only once the
# command it waits for has ended): the script forwards it to the command instead. A job's
# command runs in a process group of its own (pipec_own_group), so every process of it receives
# the signal, as every process of a job step does without B:, and none of the runtime's; a group
# member's command is a job step already, and its srun passes the signal on to every process of
# the step (pipec_own_pid). The command's own shell survives it (pipec writes `trap : SIGNAL` at
# the top of command.sh). .pipec/command.pid holds what the signal is sent to while the command
# runs: -PGID or PID.

# pipec_signal_trap SIGNAL [EXECUTION...]: from here on, forward SIGNAL to the commands of these
# executions (JOB/N under the run directory; default: the current execution).
pipec_signal_trap() {
    pipec_forward_to=""
    [ $# -le 1 ] || pipec_forward_to=$(shift && echo "$@")
    # shellcheck disable=SC2064 # the signal's name is fixed now
    trap "pipec_forward_signal $1" "$1"
}

# pipec_forward_signal SIGNAL: send SIGNAL to each command now running.
# (A trap runs between any two commands of the script: its variables are its own.)
pipec_forward_signal() {
    pipec_fwd_signal=$1
    if [ -n "$pipec_forward_to" ]; then
        # shellcheck disable=SC2086 # JOB/N words (job ids and numbers)
        set -- $pipec_forward_to
    else
        set -- ${PIPEC_EXEC_DIR:+"$PIPEC_EXEC_DIR"}
    fi
    pipec_fwd_sent=""
    for pipec_fwd_dir in "$@"; do
        case $pipec_fwd_dir in /*) ;; *) pipec_fwd_dir="$PIPEC_RUN_DIR/$pipec_fwd_dir" ;; esac
        pipec_fwd_to=$(cat "$pipec_fwd_dir/.pipec/command.pid" 2>/dev/null) || continue
        ! kill -s "$pipec_fwd_signal" -- "$pipec_fwd_to" 2>/dev/null ||
            pipec_fwd_sent="$pipec_fwd_sent ${pipec_fwd_dir#"$PIPEC_RUN_DIR"/}"
    done
    if [ -n "$pipec_fwd_sent" ]; then
        printf 'pipec: SIG%s forwarded to the command of%s\n' "$pipec_fwd_signal" "$pipec_fwd_sent" >&2
    else
        printf 'pipec: SIG%s received while no command runs; nothing to forward it to\n' "$pipec_fwd_signal" >&2
    fi
}

# pipec_own_group COMMAND...: run COMMAND in a session and process group of its own, which
# .pipec/command.pid names (-PGID) while it runs.
pipec_own_group() {
    pipec_own_status=0
    setsid -w sh -c 'echo "-$$" > "$0/.pipec/command.pid" && exec "$@"' "$PIPEC_EXEC_DIR" "$@" ||
        pipec_own_status=$?
    rm -f "$PIPEC_EXEC_DIR/.pipec/command.pid"
    return "$pipec_own_status"
}

# pipec_own_pid COMMAND...: run COMMAND (srun, which passes signals on to its job step) as the
# process .pipec/command.pid names (PID) while it runs.
pipec_own_pid() {
    pipec_own_status=0
    sh -c 'echo "$$" > "$0/.pipec/command.pid" && exec "$@"' "$PIPEC_EXEC_DIR" "$@" || pipec_own_status=$?
    rm -f "$PIPEC_EXEC_DIR/.pipec/command.pid"
    return "$pipec_own_status"
}

# pipec_wait_run PID: wait for the execution's pipec_run, started in the background (PID) so that
# this script can forward signals meanwhile (`wait` is interrupted by a trap). Returns the
# execution's status; a failure pipec_run marked was reported and its policy applied there, so
# the guard has nothing to add (pipec_handled).
pipec_wait_run() {
    pipec_wait_status=0
    while kill -0 "$1" 2>/dev/null; do
        wait "$1" || pipec_wait_status=$?
    done
    if [ -e "$PIPEC_EXEC_DIR/.pipec/ok" ]; then
        return 0
    elif [ -s "$PIPEC_EXEC_DIR/.pipec/failed" ]; then
        pipec_handled=1
        return "$(cat "$PIPEC_EXEC_DIR/.pipec/failed")"
    fi
    [ "$pipec_wait_status" -ne 0 ] || pipec_wait_status=1
    return "$pipec_wait_status"
}

# pipec_field KEY: the value of KEY in the `scontrol show job -o` line on stdin.
pipec_field() {
    awk -v key="$1" '{ for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit } }'
}

# pipec_guard POLICY JOB [EXECUTION...]: guard a job script from here on: however it ends, an
# execution it runs is never left unmarked (see the top of this file). EXECUTIONs: the job's
# (one; a group: every member; none: a fan-out launcher), each a number N (RUN/JOB/N) or, for a
# group of several jobs (JOB is then the group), a member's MEMBER/N (RUN/MEMBER/N). A group
# sets pipec_exit_hook to the function that stops its members.
pipec_guard() {
    pipec_guard_policy=$1
    pipec_guard_job=$2
    shift 2
    pipec_guard_executions=$*
    pipec_handled=""
    pipec_requeued=""
    pipec_error=""
    trap pipec_guard_exit EXIT
    trap 'pipec_guard_signal TERM 143' TERM
    trap 'pipec_guard_signal INT 130' INT
    trap 'pipec_guard_signal HUP 129' HUP
}

pipec_guard_exit() {
    pipec_status=$?
    set +e
    trap '' TERM INT HUP
    [ -z "${pipec_exit_hook:-}" ] || "$pipec_exit_hook"
    # shellcheck disable=SC2086 # the executions: numbers or MEMBER/N words
    pipec_forget_credentials $pipec_guard_executions
    if [ "$pipec_status" -gt 128 ] && [ -z "$pipec_handled" ] && [ -z "$pipec_error" ]; then
        # A signal can end the script before its trap runs: when the command it waits for dies
        # of the signal, set -e may stop the script first. The same questions, then.
        pipec_guard_signalled "$(pipec_signal_name "$pipec_status")" "$pipec_status" exit
    fi
    if [ "$pipec_status" -ne 0 ] && [ -z "$pipec_requeued" ]; then
        if [ -z "$pipec_handled" ]; then
            pipec_guard_died "$pipec_status" \
                "${pipec_error:-the job script ended with status $pipec_status outside the command (see its log)}"
        fi
        # A group whose lead failed: the members it stopped.
        pipec_guard_cancel "stopped: $pipec_guard_job failed"
    fi
    exit "$pipec_status"
}

pipec_guard_signal() {
    set +e
    trap '' TERM INT HUP
    [ -n "$pipec_handled" ] || pipec_guard_signalled "$1" "$2" signal
    exit "$2"
}

# pipec_guard_signalled NAME STATUS HOW: the job got signal NAME (HOW: signal, its trap ran;
# exit, it ended with status 128+n): requeued (it starts again: leave everything as it is),
# stopped because the run was stopped (cancelled), or ended (failed). Nothing on the exit path when
# Slurm is not stopping the job (a command of the script died of a signal of its own).
pipec_guard_signalled() {
    pipec_cause=$(pipec_signal_cause "$1" "$3")
    case $pipec_cause in
        "") ;;
        requeued)
            pipec_handled=1 pipec_requeued=1
            printf 'pipec: %s was requeued; it starts again\n' "$pipec_guard_job" >&2 ;;
        preempted)
            pipec_handled=1 pipec_requeued=1
            printf 'pipec: %s is being preempted; Slurm requeues it, and it starts again (if Slurm ends it instead, its watcher reports that)\n' \
                "$pipec_guard_job" >&2 ;;
        stopped)
            pipec_handled=1
            pipec_guard_cancel "stopped: the run was stopped (see FAILED)" ;;
        *) pipec_guard_died "$2" "$pipec_cause" ;;
    esac
}

# pipec_signal_name STATUS: the name of the signal a status above 128 stands for.
pipec_signal_name() {
    case $1 in
        129) echo HUP ;;
        130) echo INT ;;
        137) echo KILL ;;
        143) echo TERM ;;
        *) echo "$(($1 - 128))" ;;
    esac
}

# pipec_signal_cause NAME HOW: why this job got signal NAME: requeued, preempted (a job Slurm
# may requeue is being preempted: its grace time's SIGTERM comes before the requeue), stopped
# (RUN/STOPPED exists: the run's stop-all cancelled it), a sentence, or (HOW exit) nothing when
# Slurm is not ending the job.
pipec_signal_cause() {
    pipec_info=$(scontrol show job -o "${SLURM_JOB_ID:-none}" 2>/dev/null | head -n 1) || :
    pipec_restarts=$(printf '%s\n' "$pipec_info" | pipec_field Restarts)
    pipec_why=$(printf '%s\n' "$pipec_info" | pipec_field Reason)
    pipec_state=$(printf '%s\n' "$pipec_info" | pipec_field JobState)
    pipec_preempt=$(printf '%s\n' "$pipec_info" | pipec_field PreemptTime)
    if [ -n "$pipec_restarts" ] && [ "$pipec_restarts" -gt "${SLURM_RESTART_COUNT:-0}" ]; then
        echo requeued
    elif [ -n "$pipec_preempt" ] && [ "$pipec_preempt" != None ] &&
        [ "$(printf '%s\n' "$pipec_info" | pipec_field Requeue)" = 1 ]; then
        echo preempted
    elif [ -e "$PIPEC_RUN_DIR/STOPPED" ]; then
        echo stopped
    elif [ "$2" = exit ] && { [ -z "$pipec_state" ] || [ "$pipec_state" = RUNNING ]; }; then
        :
    elif [ "$pipec_why" = TimeLimit ]; then
        printf 'the time limit (%s) was reached: Slurm stopped the job (SIG%s)\n' \
            "$(printf '%s\n' "$pipec_info" | pipec_field TimeLimit)" "$1"
    elif [ -n "$pipec_preempt" ] && [ "$pipec_preempt" != None ]; then
        printf 'the job was preempted by another job (SIG%s); it cannot be requeued ([slurm] requeue = true allows it)\n' "$1"
    else
        printf 'the job was cancelled or stopped by Slurm (SIG%s%s)\n' "$1" \
            "$([ -z "$pipec_why" ] || [ "$pipec_why" = None ] || printf '; reason %s' "$pipec_why")"
    fi
}

# pipec_guard_died STATUS REASON: the guarded job died: mark its unmarked executions failed and
# apply its policy.
pipec_guard_died() {
    pipec_handled=1
    pipec_which=""
    for pipec_e in $pipec_guard_executions; do
        pipec_dir="$PIPEC_RUN_DIR/$pipec_guard_job/$pipec_e"
        case $pipec_e in */*) pipec_dir="$PIPEC_RUN_DIR/$pipec_e" ;; esac
        ! pipec_marked "$pipec_dir" || continue
        pipec_mark_failed "$1" "$2" "$pipec_dir"
        pipec_which="$pipec_which $pipec_e"
    done
    pipec_line=$(pipec_failure "$pipec_guard_job" "$pipec_which" "$2")
    printf 'pipec: %s\n' "$pipec_line" >&2
    pipec_report "$pipec_line"
    case $pipec_guard_policy in
        stop-all | retry) pipec_stop_run ;;
    esac
}

# pipec_guard_cancel REASON: mark the guarded executions that have no marker cancelled.
pipec_guard_cancel() {
    for pipec_e in $pipec_guard_executions; do
        pipec_dir="$PIPEC_RUN_DIR/$pipec_guard_job/$pipec_e"
        case $pipec_e in */*) pipec_dir="$PIPEC_RUN_DIR/$pipec_e" ;; esac
        pipec_marks="$pipec_dir/.pipec"
        [ -d "$pipec_marks" ] || continue
        ! pipec_marked "$pipec_dir" || continue
        printf '%s\n' "$1" > "$pipec_marks/reason"
        : > "$pipec_marks/cancelled"
    done
}

# pipec_marked EXECUTION_DIR: the execution has its result (ok, failed or cancelled).
pipec_marked() {
    [ -e "$1/.pipec/ok" ] || [ -e "$1/.pipec/failed" ] || [ -e "$1/.pipec/cancelled" ]
}

# pipec_failure JOB "EXECUTION..." REASON: the line RUN/FAILED gets for a failure.
pipec_failure() {
    # shellcheck disable=SC2086 # the executions' numbers, without the spaces around them
    set -- "$1" "$(echo $2)" "$3"
    case $2 in
        "") printf '%s failed (%s): %s\n' "$1" "$([ -n "$pipec_guard_executions" ] && echo "after its executions ended" || echo launcher)" "$3" ;;
        *" "*) printf '%s failed (executions %s): %s\n' "$1" "$2" "$3" ;;
        *) printf '%s failed (execution %s): %s\n' "$1" "$2" "$3" ;;
    esac
}

# pipec_watch JOB POLICY ID FIRST COUNT [MEMBER/N...]: the watcher of job ID (see the top of this
# file), run by watch.sbatch once ID ended in a failed state. For each execution FIRST..FIRST+COUNT-1
# of JOB (array task k is execution FIRST+k; a group of several jobs, JOB being the group, lists
# its COUNT members' executions instead) that has no marker: one that started (.pipec exists) died
# unseen, unless the run had failed and Slurm cancelled it (then it was stopped); one that never
# started died only if Slurm ended it in a failed state (a job cancelled while it waited, for an
# upstream's failure or the run's stop-all, is not a failure of its own). Died executions are
# marked failed with Slurm's account (state, reason, exit code, slurmstepd's error line) and the
# job's policy is applied. COUNT 0: a fan-out launcher, which has no execution.
pipec_watch() {
    pipec_guard_job=$1 pipec_guard_policy=$2 pipec_guard_executions=""
    pipec_records=$(scontrol show job -o "$3" 2>/dev/null) || pipec_records=""
    pipec_stopped=""
    [ ! -e "$PIPEC_RUN_DIR/STOPPED" ] || pipec_stopped=1
    pipec_which="" pipec_reason="" pipec_first_reason="" pipec_died="" pipec_members=""
    [ $# -le 5 ] || pipec_members=$(shift 5 && echo "$@")
    pipec_k=0
    while [ "$pipec_k" -lt "$5" ] || { [ "$5" -eq 0 ] && [ "$pipec_k" -eq 0 ]; }; do
        pipec_n=$(($4 + pipec_k))
        pipec_dir="$PIPEC_RUN_DIR/$1/$pipec_n"
        if [ -n "$pipec_members" ]; then
            # shellcheck disable=SC2086 # MEMBER/N words (job ids and numbers)
            pipec_n=$(printf '%s\n' $pipec_members | sed -n "$((pipec_k + 1))p")
            pipec_dir="$PIPEC_RUN_DIR/$pipec_n"
        fi
        pipec_marks="$pipec_dir/.pipec"
        pipec_task=$pipec_k
        pipec_k=$((pipec_k + 1))
        # A job killed outright left the credentials it wrote out; nothing runs there any more.
        [ "$5" -eq 0 ] || rm -rf "$pipec_marks/credentials"
        if [ "$5" -gt 0 ] && pipec_marked "$pipec_dir"; then
            continue
        fi
        pipec_record=$(printf '%s\n' "$pipec_records" | pipec_task_record "$pipec_task")
        pipec_state=$(printf '%s\n' "$pipec_record" | pipec_field JobState)
        pipec_why=$(printf '%s\n' "$pipec_record" | pipec_field Reason)
        pipec_code=$(printf '%s\n' "$pipec_record" | pipec_field ExitCode)
        pipec_log="$PIPEC_RUN_DIR/logs/$1/$3.err"
        [ -z "$(printf '%s\n' "$pipec_record" | pipec_field ArrayTaskId)" ] ||
            pipec_log="$PIPEC_RUN_DIR/logs/$1/$3_$pipec_task.err"
        if [ "$5" -eq 0 ] || [ ! -d "$pipec_marks" ]; then
            case $pipec_state in
                "" | CANCELLED | COMPLETED | PENDING | RUNNING | REQUEUED | SUSPENDED) continue ;;
            esac
            [ "$5" -eq 0 ] && [ -n "$pipec_stopped" ] && continue
            pipec_what="never started its script"
            [ "$5" -gt 0 ] || pipec_what="ended"
        elif [ -n "$pipec_stopped" ] && [ "$pipec_state" = CANCELLED ]; then
            printf 'stopped: the run was stopped (see FAILED)\n' > "$pipec_marks/reason"
            : > "$pipec_marks/cancelled"
            continue
        else
            pipec_what="ended without a result"
        fi
        pipec_reason="$pipec_what: Slurm ended it as ${pipec_state:-unknown (no record of job $3)}"
        [ -z "$pipec_why" ] || [ "$pipec_why" = None ] || pipec_reason="$pipec_reason, reason $pipec_why"
        [ -z "$pipec_code" ] || pipec_reason="$pipec_reason, exit code $pipec_code"
        pipec_said=$(grep -h 'slurmstepd.*error:' "$pipec_log" 2>/dev/null | head -n 1 | sed 's/^.*error: *//') || :
        [ -z "$pipec_said" ] || pipec_reason="$pipec_reason ($pipec_said)"
        pipec_status=1
        case $pipec_code in
            *:0 | "") pipec_status=${pipec_code%%:*} ;;
            *:*) pipec_status=$((128 + ${pipec_code#*:})) ;;
        esac
        case $pipec_status in "" | 0 | *[!0-9]*) pipec_status=1 ;; esac
        if [ "$5" -gt 0 ]; then
            pipec_mark_failed "$pipec_status" "$pipec_reason" "$pipec_dir"
            pipec_which="$pipec_which $pipec_n"
        fi
        [ -n "$pipec_first_reason" ] || pipec_first_reason=$pipec_reason
        pipec_died=1
    done
    if [ -z "$pipec_died" ]; then
        printf 'pipec: watcher of %s (job %s): nothing left unmarked\n' "$1" "$3"
        return 0
    fi
    pipec_line=$(pipec_failure "$1" "$pipec_which" "$pipec_first_reason")
    printf 'pipec: %s\n' "$pipec_line"
    pipec_report "$pipec_line"
    case $2 in
        stop-all | retry) pipec_stop_run ;;
    esac
}

# pipec_task_record TASK: of the `scontrol show job -o` lines on stdin, the one of array task
# TASK (a pending range such as 3-5 or 1,4%2 included), or the first line for a job that is no
# array (a group: its lead component).
pipec_task_record() {
    awk -v task="$1" '
        { id = ""; for (i = 1; i <= NF; i++) if (index($i, "ArrayTaskId=") == 1) id = substr($i, 13) }
        id == "" { if (first == "") first = $0; next }
        {
            sub(/%.*/, "", id); n = split(id, parts, ",")
            for (j = 1; j <= n; j++) {
                lo = parts[j]; hi = parts[j]
                if (index(parts[j], "-") > 0) { lo = substr(parts[j], 1, index(parts[j], "-") - 1); hi = substr(parts[j], index(parts[j], "-") + 1) }
                if (task + 0 >= lo + 0 && task + 0 <= hi + 0) { print; found = 1; exit }
            }
        }
        END { if (!found && first != "") print first }'
}

# Credentials (a workflow's secrets). Slurm has no secret store: each credential is kept on the
# nodes, where pipec.toml says ([secrets.<name>] slurm = PATH; default ~/.pipec/credentials/<name>),
# as a file of KEY=VALUE lines (the first `=` ends the key; an `export ` before it and a CR at
# the end of the line are dropped; nothing else is interpreted: no quotes, no expansions, the
# file is read, never run; a key given twice: the last line wins) or as a directory holding one
# file per key (its contents, trailing newlines dropped). A missing credential or key fails the
# execution naming the credential, the key and the path; no value is ever printed.

# pipec_credential NAME PATH: credential NAME must be at PATH, readable.
pipec_credential() {
    [ -e "$2" ] || pipec_die "credential $1: nothing at $2 (it takes a file of KEY=VALUE lines or a directory holding one file per key, on every node; another place: [secrets.$1] slurm = \"PATH\" in pipec.toml)"
    [ -r "$2" ] || pipec_die "credential $1: $2 cannot be read by $(id -un 2>/dev/null || echo this user)"
}

# pipec_secret VARIABLE NAME PATH KEY: set the shell variable VARIABLE (a name pipec checked;
# not exported: the caller does) to key KEY of credential NAME, kept at PATH.
pipec_secret() {
    pipec_credential "$2" "$3"
    pipec_value=""
    if [ -d "$3" ]; then
        case $4 in
            "" | . | .. | */*) pipec_die "credential $2: key '$4' cannot name a file of directory $3" ;;
        esac
        [ -f "$3/$4" ] || pipec_die "credential $2 has no key $4 (no file $3/$4)"
        pipec_value=$(cat "$3/$4") || pipec_die "credential $2: key $4 cannot be read ($3/$4)"
    else
        pipec_found=""
        pipec_cr=$(printf '\r')
        while IFS= read -r pipec_line || [ -n "$pipec_line" ]; do
            pipec_line=${pipec_line%"$pipec_cr"}
            pipec_line=${pipec_line#export }
            # shellcheck disable=SC2034 # pipec_value is read by the eval below
            case $pipec_line in
                "$4="*) pipec_value=${pipec_line#*=} pipec_found=1 ;;
            esac
        done < "$3"
        pipec_line=""
        [ -n "$pipec_found" ] || pipec_die "credential $2 has no key $4 (no line $4=... in $3)"
    fi
    eval "$1=\$pipec_value"
    unset pipec_value
}

# pipec_secret_dir NAME PATH DIR: make DIR a directory holding every key of credential NAME
# (kept at PATH) as a file: a link to PATH when it is a directory, else a directory only this
# user reads, one file per KEY=VALUE line. The guard removes DIR when the job ends.
pipec_secret_dir() {
    pipec_credential "$1" "$2"
    rm -rf "$3"
    mkdir -p "$(dirname "$3")" || pipec_die "cannot create the directory of credential $1"
    if [ -d "$2" ]; then
        case $2 in
            /*) ln -s "$2" "$3" ;;
            *) ln -s "$PWD/$2" "$3" ;;
        esac || pipec_die "cannot link credential $1 ($2)"
        return 0
    fi
    (
        umask 077
        mkdir "$3" || exit 1
        pipec_cr=$(printf '\r')
        while IFS= read -r pipec_line || [ -n "$pipec_line" ]; do
            pipec_line=${pipec_line%"$pipec_cr"}
            pipec_line=${pipec_line#export }
            case $pipec_line in
                *=*) ;;
                *) continue ;;
            esac
            pipec_key=${pipec_line%%=*}
            case $pipec_key in
                "" | . | .. | */* | "#"*) continue ;;
            esac
            printf '%s' "${pipec_line#*=}" > "$3/$pipec_key" || exit 1
        done < "$2"
    ) || pipec_die "cannot write the keys of credential $1 ($2) as files"
}

# pipec_forget_credentials EXECUTION...: remove the credentials written out for these
# executions (numbers N of $pipec_guard_job, or MEMBER/N).
pipec_forget_credentials() {
    for pipec_e in "$@"; do
        case $pipec_e in
            */*) rm -rf "$PIPEC_RUN_DIR/$pipec_e/.pipec/credentials" ;;
            *) rm -rf "$PIPEC_RUN_DIR/$pipec_guard_job/$pipec_e/.pipec/credentials" ;;
        esac
    done
}

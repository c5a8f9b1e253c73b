# shellcheck shell=sh
# pipec runtime, Slurm part (joined after core.sh, for the Slurm target only): the launcher of
# a run-time fan-out, which submits its job again as an sbatch array of one execution per item
# and waits for it, each execution's item of that fan-out, and the scancel side of stop-all.

# pipec_fanout JOB SOURCE KEY PARALLEL POLICY: the launcher of a run-time fan-out. Lists the
# items of SOURCE's metadata KEY, submits JOB again as an array of that many executions (at
# most PARALLEL at once; 0 = no limit), waits for it, and succeeds when every execution did
# (POLICY continue: when at least one did).
pipec_fanout() {
    mkdir -p "$PIPEC_RUN_DIR/$1"
    pipec_items="$PIPEC_RUN_DIR/$1/items.jsonl"
    pipec_metadata "$2" "$3" json | python3 -c '
import json, sys
value = json.load(sys.stdin)
for item in value if isinstance(value, list) else [value]:
    print(json.dumps(item))' > "$pipec_items" || pipec_die "cannot list the items of $2 metadata $3"
    pipec_count=$(wc -l < "$pipec_items")
    if [ "$pipec_count" -eq 0 ]; then
        printf 'pipec: %s metadata %s is an empty list; %s runs no execution\n' "$2" "$3" "$1" >&2
        return 0
    fi
    pipec_array="0-$((pipec_count - 1))"
    [ "$4" = 0 ] || pipec_array="$pipec_array%$4"
    pipec_id=$(PIPEC_FANOUT=1 sbatch --parsable --array="$pipec_array" \
        --output="$PIPEC_RUN_DIR/logs/$1/%A_%a.out" --error="$PIPEC_RUN_DIR/logs/$1/%A_%a.err" \
        "$PIPEC_SCRIPT_DIR/jobs/$1.sbatch") || pipec_die "submitting the executions of $1 failed"
    pipec_id=${pipec_id%%;*}
    printf '%s\t%s\n' "$1" "$pipec_id" >> "$PIPEC_RUN_DIR/jobs.tsv"
    printf 'pipec: %s runs %s executions as job %s\n' "$1" "$pipec_count" "$pipec_id"
    while squeue -h -j "$pipec_id" 2>/dev/null | grep -q .; do
        sleep 2
    done
    pipec_ok=0
    for pipec_marker in "$PIPEC_RUN_DIR/$1"/*/.pipec/ok; do
        [ -e "$pipec_marker" ] && pipec_ok=$((pipec_ok + 1))
    done
    case "$5" in
        continue) [ "$pipec_ok" -gt 0 ] ;;
        *) [ "$pipec_ok" -eq "$pipec_count" ] ;;
    esac || pipec_die "$pipec_ok of $pipec_count executions of $1 succeeded"
}

# pipec_fanout_item FORM: this execution's item of a run-time fan-out (see pipec_metadata).
pipec_fanout_item() {
    sed -n "$((PIPEC_EXECUTION + 1))p" "$PIPEC_RUN_DIR/$PIPEC_JOB/items.jsonl" | python3 -c '
import json, sys
value = json.loads(sys.stdin.read())
sys.stdout.write(value if sys.argv[1] == "text" and isinstance(value, str) else json.dumps(value))' "$1"
}

# pipec_cancel_jobs: the Slurm side of stop-all (see pipec_cancel_run): cancel every other job
# of the run (jobs.tsv), then this one.
pipec_cancel_jobs() {
    pipec_self=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-}}
    if [ -f "$PIPEC_RUN_DIR/jobs.tsv" ]; then
        cut -f2 "$PIPEC_RUN_DIR/jobs.tsv" | while read -r pipec_id; do
            [ "$pipec_id" = "$pipec_self" ] || scancel "$pipec_id" 2>/dev/null || true
        done
    fi
    [ -z "$pipec_self" ] || scancel "$pipec_self" 2>/dev/null || true
}

# shellcheck shell=sh
# pipec runtime: the contract every execution runs under (POSIX sh; sourced by job scripts).
#
# Run directory layout ($PIPEC_RUN_DIR, on a filesystem every node shares):
#   jobs.tsv                        name<TAB>scheduler id, one line per submitted job
#   logs/<job>/                     scheduler logs
#   <job>/<execution>/inputs/<slot>/   files staged for each input slot
#   <job>/<execution>/outputs/         everything the execution writes is kept
#   <job>/<execution>/config/parameters.json
#   <job>/<execution>/.pipec/{ok,failed,command.sh,attempts,stdout}
#   <job>/items.jsonl               the items of a run-time fan-out, one JSON value per line
#   FAILED                          written when a stop-all job fails the run

pipec_die() {
    printf 'pipec: %s\n' "$*" >&2
    exit 1
}

# pipec_enter JOB EXECUTION: export the paths of an execution.
pipec_enter() {
    PIPEC_JOB=$1
    PIPEC_EXECUTION=$2
    PIPEC_EXEC_DIR="$PIPEC_RUN_DIR/$PIPEC_JOB/$PIPEC_EXECUTION"
    VH_INPUTS_DIR="$PIPEC_EXEC_DIR/inputs"
    VH_OUTPUTS_DIR="$PIPEC_EXEC_DIR/outputs"
    VH_CONFIG_DIR="$PIPEC_EXEC_DIR/config"
    VH_JOB_ID="$PIPEC_JOB-$PIPEC_EXECUTION"
    export PIPEC_JOB PIPEC_EXECUTION PIPEC_EXEC_DIR VH_INPUTS_DIR VH_OUTPUTS_DIR VH_CONFIG_DIR VH_JOB_ID
}

# pipec_begin JOB EXECUTION: enter the execution and create its directories afresh.
pipec_begin() {
    pipec_enter "$1" "$2"
    rm -rf "$PIPEC_EXEC_DIR/.pipec"
    mkdir -p "$VH_INPUTS_DIR" "$VH_OUTPUTS_DIR" "$VH_CONFIG_DIR" "$PIPEC_EXEC_DIR/.pipec"
}

# pipec_fetch SLOT URL COMMAND: fetch URL into the slot with a shell COMMAND that receives
# the URL as $1 and the destination directory as $2.
pipec_fetch() {
    mkdir -p "$VH_INPUTS_DIR/$1"
    if [ -z "$3" ]; then
        pipec_die "no fetch command for $2 (input $1); set [fetch] ${2%%://*} = \"...\" in pipec.toml"
    fi
    sh -c "$3" pipec-fetch "$2" "$VH_INPUTS_DIR/$1" || pipec_die "fetching $2 for input $1 failed"
}

# pipec_gate JOB: a `continue` upstream passes only if at least one execution succeeded.
pipec_gate() {
    for pipec_marker in "$PIPEC_RUN_DIR/$1"/*/.pipec/ok; do
        [ -e "$pipec_marker" ] && return 0
    done
    pipec_die "no execution of $1 succeeded"
}

# pipec_stage JOB AREA GLOB SLOT KEEP: copy the files of every successful execution of JOB
# (AREA "outputs", or "inputs" for input-to-input edges) whose path matches GLOB into input
# SLOT. KEEP is none (file name only), full (the whole relative path) or suffix (the path
# below the glob's fixed leading directories). Executions are taken in order, files in
# sorted order; a file whose name is already taken in the slot gets ".<job>-<execution>"
# (then "-2", "-3", ...) before its extension, so no file is ever dropped or overwritten.
# Files are copied, never linked: a job that changes its inputs cannot touch upstream outputs.
pipec_stage() {
    mkdir -p "$VH_INPUTS_DIR/$4"
    for pipec_index in $(ls "$PIPEC_RUN_DIR/$1" 2>/dev/null | sort -n); do
        pipec_src="$PIPEC_RUN_DIR/$1/$pipec_index"
        [ -e "$pipec_src/.pipec/ok" ] || continue
        [ -d "$pipec_src/$2" ] || continue
        find "$pipec_src/$2" -type f -print0 | sort -z | xargs -0 -r sh -c '
            src=$1 glob=$2 slot=$3 keep=$4 tag=$5
            shift 5
            fixed=${glob%%[*?[]*}
            case "$fixed" in */*) fixed=${fixed%/*}/ ;; *) fixed="" ;; esac
            for f in "$@"; do
                rel=${f#"$src"/}
                # shellcheck disable=SC2254 # the glob is a pattern on purpose
                case "$rel" in $glob) ;; *) continue ;; esac
                case "$keep" in
                    full) name=$rel ;;
                    suffix) name=${rel#"$fixed"} ;;
                    *) name=${rel##*/} ;;
                esac
                dst="$slot/$name"
                n=1
                while [ -e "$dst" ]; do
                    suffix=$tag
                    [ "$n" -eq 1 ] || suffix="$tag-$n"
                    base=${name##*/}
                    case "$base" in
                        ?*.*) dst="$slot/${name%.*}.$suffix.${base##*.}" ;;
                        *) dst="$slot/$name.$suffix" ;;
                    esac
                    n=$((n + 1))
                done
                mkdir -p "$(dirname "$dst")"
                cp -p "$f" "$dst"
            done' pipec-stage "$pipec_src/$2" "$3" "$VH_INPUTS_DIR/$4" "$5" "$1-$pipec_index"
    done
}

# pipec_json_string VALUE: VALUE as a JSON string.
pipec_json_string() {
    printf '%s' "$1" | od -An -v -tu1 | LC_ALL=C awk '
        BEGIN { printf "\"" }
        { for (i = 1; i <= NF; i++) {
            c = $i + 0
            if (c == 34) printf "\\\""
            else if (c == 92) printf "\\\\"
            else if (c == 10) printf "\\n"
            else if (c == 9) printf "\\t"
            else if (c == 13) printf "\\r"
            else if (c < 32) printf "\\u%04x", c
            else printf "%c", c
        } }
        END { printf "\"" }'
}

# pipec_param_json TYPE VALUE: a parameter value given at submit time, as JSON (numbers were
# checked by submit.sh).
pipec_param_json() {
    case "$1" in
        integer | float) printf '%s' "$2" ;;
        *) pipec_json_string "$2" ;;
    esac
}

# pipec_metadata JOB KEY FORM: the value of metadata KEY printed by JOB (the last JSON
# object line on its stdout that has the key), as FORM "json" or "text" (strings bare).
# Several executions give a list, in execution order. Needs python3 on the node.
pipec_metadata() {
    python3 - "$PIPEC_RUN_DIR/$1" "$2" "$3" <<'PIPEC_PY'
import json, os, sys
root, key, form = sys.argv[1], sys.argv[2], sys.argv[3]
values = []
runs = sorted((d for d in os.listdir(root) if d.isdigit()), key=int) if os.path.isdir(root) else []
for run in runs:
    if not os.path.exists(os.path.join(root, run, ".pipec", "ok")):
        continue
    found = None
    try:
        with open(os.path.join(root, run, ".pipec", "stdout"), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        data = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(data, dict) and key in data:
                        found = (data[key],)
    except OSError:
        pass
    if found is not None:
        values.append(found[0])
if not values:
    sys.exit("pipec: %s printed no metadata %r" % (os.path.basename(root), key))
value = values[0] if len(runs) == 1 else values
if form == "text" and isinstance(value, str):
    sys.stdout.write(value)
else:
    sys.stdout.write(json.dumps(value))
PIPEC_PY
}

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

# pipec_cancel_run: stop-all. Cancel every other job of the run, then this one.
pipec_cancel_run() {
    printf '%s failed (execution %s)\n' "$PIPEC_JOB" "$PIPEC_EXECUTION" >> "$PIPEC_RUN_DIR/FAILED"
    pipec_self=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-}}
    if [ -f "$PIPEC_RUN_DIR/jobs.tsv" ]; then
        cut -f2 "$PIPEC_RUN_DIR/jobs.tsv" | while read -r pipec_id; do
            [ "$pipec_id" = "$pipec_self" ] || scancel "$pipec_id" 2>/dev/null || true
        done
    fi
    [ -z "$pipec_self" ] || scancel "$pipec_self" 2>/dev/null || true
}

# pipec_run POLICY RETRIES COMMAND...: run the execution's command, retrying up to RETRIES
# times, mark it ok or failed, and on failure apply the job's policy.
pipec_run() {
    pipec_policy=$1
    pipec_retries=$2
    shift 2
    pipec_attempt=0
    while :; do
        pipec_attempt=$((pipec_attempt + 1))
        if [ "$pipec_attempt" -gt 1 ]; then
            # A retry is a fresh execution: nothing of the failed attempt flows downstream.
            rm -rf "$VH_OUTPUTS_DIR"
            mkdir -p "$VH_OUTPUTS_DIR"
        fi
        echo "$pipec_attempt" > "$PIPEC_EXEC_DIR/.pipec/attempts"
        # stdout is kept (its JSON lines are the execution's metadata) and still logged.
        pipec_status=0
        { "$@" || echo "$?" > "$PIPEC_EXEC_DIR/.pipec/status"; } | tee -a "$PIPEC_EXEC_DIR/.pipec/stdout"
        if [ -f "$PIPEC_EXEC_DIR/.pipec/status" ]; then
            pipec_status=$(cat "$PIPEC_EXEC_DIR/.pipec/status")
            rm -f "$PIPEC_EXEC_DIR/.pipec/status"
        fi
        if [ "$pipec_status" -eq 0 ]; then
            : > "$PIPEC_EXEC_DIR/.pipec/ok"
            return 0
        fi
        [ "$pipec_attempt" -gt "$pipec_retries" ] && break
        printf 'pipec: attempt %s of %s failed with status %s; retrying\n' \
            "$pipec_attempt" "$((pipec_retries + 1))" "$pipec_status" >&2
    done
    echo "$pipec_status" > "$PIPEC_EXEC_DIR/.pipec/failed"
    case "$pipec_policy" in
        stop-all | retry) pipec_cancel_run ;;
    esac
    exit "$pipec_status"
}

# shellcheck shell=sh
# pipec runtime: the contract every execution runs under (POSIX sh; sourced by job scripts).
#
# Run directory layout ($PIPEC_RUN_DIR, on a filesystem every node shares):
#   jobs.tsv                        name<TAB>scheduler id, one line per submitted job
#   logs/<job>/                     scheduler logs
#   <job>/<execution>/inputs/<slot>/   files staged for each input slot
#   <job>/<execution>/outputs/         everything the execution writes is kept
#   <job>/<execution>/config/parameters.json   the execution's parameter values
#   <job>/<execution>/.pipec/{ok,failed,command.sh,attempts,stdout}
#   <job>/items.jsonl               the items of a run-time fan-out, one JSON value per line
#   FAILED                          written when a stop-all job fails the run

pipec_die() {
    printf 'pipec: %s\n' "$*" >&2
    exit 1
}

# pipec_enter JOB EXECUTION: export the paths of an execution, under pipec's names and under
# the dialect's (PIPEC_LAYOUT: NAME=what words, what being inputs, outputs, config, exec,
# parameters or id; e.g. PIPEC_INPUTS_DIR=inputs for Valohai).
pipec_enter() {
    PIPEC_JOB=$1
    PIPEC_EXECUTION=$2
    PIPEC_EXEC_DIR="$PIPEC_RUN_DIR/$PIPEC_JOB/$PIPEC_EXECUTION"
    PIPEC_INPUTS_DIR="$PIPEC_EXEC_DIR/inputs"
    PIPEC_OUTPUTS_DIR="$PIPEC_EXEC_DIR/outputs"
    PIPEC_CONFIG_DIR="$PIPEC_EXEC_DIR/config"
    export PIPEC_JOB PIPEC_EXECUTION PIPEC_EXEC_DIR PIPEC_INPUTS_DIR PIPEC_OUTPUTS_DIR PIPEC_CONFIG_DIR
    for pipec_pair in ${PIPEC_LAYOUT:-}; do
        case ${pipec_pair#*=} in
            inputs) pipec_value=$PIPEC_INPUTS_DIR ;;
            outputs) pipec_value=$PIPEC_OUTPUTS_DIR ;;
            config) pipec_value=$PIPEC_CONFIG_DIR ;;
            exec) pipec_value=$PIPEC_EXEC_DIR ;;
            parameters) pipec_value=$PIPEC_CONFIG_DIR/parameters.json ;;
            id) pipec_value=$PIPEC_JOB-$PIPEC_EXECUTION ;;
            *) pipec_die "PIPEC_LAYOUT: unknown path '$pipec_pair'" ;;
        esac
        # NAME is a shell name pipec wrote (checked when compiling).
        eval "${pipec_pair%%=*}=\$pipec_value"
        export "${pipec_pair%%=*}"
    done
}

# pipec_begin JOB EXECUTION: enter the execution and create its directories afresh.
pipec_begin() {
    pipec_enter "$1" "$2"
    rm -rf "$PIPEC_EXEC_DIR/.pipec"
    mkdir -p "$PIPEC_INPUTS_DIR" "$PIPEC_OUTPUTS_DIR" "$PIPEC_CONFIG_DIR" "$PIPEC_EXEC_DIR/.pipec"
}

# pipec_fetch SLOT URL COMMAND: fetch URL into the slot with a shell COMMAND that receives
# the URL as $1 and the destination directory as $2.
pipec_fetch() {
    mkdir -p "$PIPEC_INPUTS_DIR/$1"
    if [ -z "$3" ]; then
        pipec_die "no fetch command for $2 (input $1); set [fetch] ${2%%://*} = \"...\" in pipec.toml"
    fi
    sh -c "$3" pipec-fetch "$2" "$PIPEC_INPUTS_DIR/$1" || pipec_die "fetching $2 for input $1 failed"
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
    mkdir -p "$PIPEC_INPUTS_DIR/$4"
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
            done' pipec-stage "$pipec_src/$2" "$3" "$PIPEC_INPUTS_DIR/$4" "$5" "$1-$pipec_index"
    done
}

# pipec_input_file SLOT NAME: an input with a fixed file name. When the slot holds exactly
# one file, it is renamed NAME (in the slot's top directory); with several files the name
# cannot apply, and they stay as staged.
pipec_input_file() {
    pipec_found=$(find "$PIPEC_INPUTS_DIR/$1" -type f 2>/dev/null | head -n 2)
    case $pipec_found in
        "" | *"
"*) return 0 ;;
    esac
    [ "$pipec_found" = "$PIPEC_INPUTS_DIR/$1/$2" ] || mv -f "$pipec_found" "$PIPEC_INPUTS_DIR/$1/$2"
}

# pipec_require SLOT: an input that is not optional must have received at least one file.
pipec_require() {
    if [ -z "$(find "$PIPEC_INPUTS_DIR/$1" -type f 2>/dev/null | head -n 1)" ]; then
        pipec_die "input $1 received no files (mark it optional if the job can run without it)"
    fi
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

# pipec_cancel_run: stop-all. Cancel every other job of the run, then this one. (On Argo the
# DAG's failFast stops the run, so there is nothing to cancel from inside the pod.)
pipec_cancel_run() {
    printf '%s failed (execution %s)\n' "$PIPEC_JOB" "$PIPEC_EXECUTION" >> "$PIPEC_RUN_DIR/FAILED"
    [ "${PIPEC_ENGINE:-slurm}" = slurm ] || return 0
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
            rm -rf "$PIPEC_OUTPUTS_DIR"
            mkdir -p "$PIPEC_OUTPUTS_DIR"
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

# ---------------------------------------------------------------------------------------------
# Kubernetes pods (Argo). One pod runs one execution; the execution directory is a volume
# mounted at $PIPEC_EXEC_MOUNT and uploaded as the execution's artifacts afterwards; the pod's
# own files live in $PIPEC_POD_DIR (/pipec). Upstream executions were downloaded to
# $PIPEC_POD_DIR/up/<n>/ (the n-th job named in PIPEC_UPSTREAM) and are linked into the run
# layout, so staging, gates and metadata work as on a shared filesystem.

# pipec_arg VALUE: VALUE as the author wrote it. pipec sends a value holding two opening braces
# (which Argo would read as its template language) base64-encoded behind a "pipec-b64:" prefix.
# (This file never holds two braces in a row itself: Argo passes it through its templating.)
pipec_arg() {
    case "$1" in
        pipec-b64:*) printf '%s' "${1#pipec-b64:}" | base64 -d || pipec_die "cannot decode an argument" ;;
        *) printf '%s' "$1" ;;
    esac
}

# pipec_replace TEXT TOKEN VALUE: TEXT with every TOKEN replaced by VALUE, byte for byte.
pipec_replace() {
    PIPEC_R_TEXT=$1 PIPEC_R_TOKEN=$2 PIPEC_R_VALUE=$3 awk 'BEGIN {
        t = ENVIRON["PIPEC_R_TEXT"]; k = ENVIRON["PIPEC_R_TOKEN"]; v = ENVIRON["PIPEC_R_VALUE"]; out = ""
        while ((i = index(t, k)) > 0) { out = out substr(t, 1, i - 1) v; t = substr(t, i + length(k)) }
        printf "%s", out t
    }'
}

# pipec_fill TOKEN JSON: put a late value (JSON) into parameters.json where TOKEN stands for it.
pipec_fill() {
    pipec_json=$(pipec_replace "$pipec_json" "$1" "$2"; printf x)
    pipec_json=${pipec_json%x}
}

# pipec_check_param NAME TYPE VALUE: a pipeline parameter given at submit time must fit its type.
pipec_check_param() {
    case "$2" in
        integer) pipec_re='^-?(0|[1-9][0-9]*)$' ;;
        float) pipec_re='^-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][-+]?[0-9]+)?$' ;;
        *) return 0 ;;
    esac
    if ! printf '%s\n' "$3" | grep -Eq "$pipec_re" || [ "$(printf '%s\n' "$3" | wc -l)" -ne 1 ]; then
        pipec_die "pipeline parameter $1 must be a number ($2), not '$3'"
    fi
}

# pipec_check_choice NAME VALUE CHOICE...: a pipeline parameter whose step parameters list
# their choices must be one of them.
pipec_check_choice() {
    pipec_name=$1
    pipec_value=$2
    shift 2
    pipec_list=""
    for pipec_choice in "$@"; do
        [ "$pipec_choice" != "$pipec_value" ] || return 0
        pipec_list="$pipec_list${pipec_list:+, }'$pipec_choice'"
    done
    pipec_die "pipeline parameter $pipec_name must be one of $pipec_list, not '$pipec_value'"
}

# pipec_pick VAR SIZE VALUE...: one axis of a product grid. Takes this execution's digit
# (pipec_i modulo SIZE, the last axis varying fastest) and sets VAR to that VALUE.
pipec_pick() {
    pipec_var=$1
    pipec_k=$((pipec_i % $2))
    pipec_i=$((pipec_i / $2))
    shift $((pipec_k + 2))
    eval "$pipec_var=\$1"
    export "${pipec_var?}"
}

# pipec_need VAR JOB KEY: fail when JOB did not print metadata KEY (VAR holds the marker).
pipec_need() {
    eval "pipec_value=\${$1}"
    [ "$pipec_value" != "pipec-missing:" ] || pipec_die "$2 printed no metadata '$3'"
}

# pipec_gather VAR: the metadata of a job with several executions arrives as a JSON list of
# each execution's value (as JSON text); turn it into the list of values (JSON in VAR_JSON,
# and VAR), leaving out executions that printed nothing. Needs python3.
pipec_gather() {
    eval "pipec_value=\${$1_JSON}"
    pipec_value=$(printf '%s' "$pipec_value" | python3 -c '
import base64, json, sys
values = []
for text in json.load(sys.stdin):
    if text.startswith("pipec-b64:"):
        text = base64.b64decode(text[len("pipec-b64:"):]).decode("utf-8")
    if text != "pipec-missing:":
        values.append(json.loads(text))
sys.stdout.write(json.dumps(values))') || pipec_die "cannot read the metadata in $1"
    eval "$1=\$pipec_value; $1_JSON=\$pipec_value"
    export "${1?}" "${1}_JSON"
}

# pipec_distributed RANK: config/distributed.json of a group member (hosts known to it,
# the lead first).
pipec_distributed() {
    pipec_hosts_json=$(for pipec_h in $PIPEC_HOSTS; do pipec_json_string "$pipec_h"; echo; done | paste -sd, -)
    printf '{"size": %s, "rank": %s, "lead": 0, "hosts": [%s]}\n' "$PIPEC_GROUP_SIZE" "$1" \
        "$pipec_hosts_json" > "$PIPEC_CONFIG_DIR/distributed.json"
}

# pipec_place SLOT FILE NAME: an input the engine downloaded to FILE, placed in SLOT as NAME.
pipec_place() {
    mkdir -p "$PIPEC_INPUTS_DIR/$1"
    if [ -d "$2" ]; then
        cp -R "$2/." "$PIPEC_INPUTS_DIR/$1/"
    else
        cp -p "$2" "$PIPEC_INPUTS_DIR/$1/$3"
    fi
}

# pipec_shell SCRIPT: run the command with bash where the image has it, else sh.
pipec_shell() {
    if command -v bash > /dev/null 2>&1; then
        bash -e "$1"
    else
        sh -e "$1"
    fi
}

# pipec_outputs: after a successful execution, write the metadata keys downstream jobs read
# (PIPEC_METADATA, a JSON list) to $PIPEC_POD_DIR/meta/<n>.{json,text,items} for Argo's output
# parameters: the value of the last JSON line of stdout holding the key. Needs python3.
pipec_outputs() {
    [ -n "${PIPEC_METADATA:-}" ] || return 0
    mkdir -p "$PIPEC_POD_DIR/meta"
    python3 - "$PIPEC_EXEC_DIR/.pipec/stdout" "$PIPEC_POD_DIR/meta" <<'PIPEC_PY'
import base64, json, os, sys
stdout, out = sys.argv[1], sys.argv[2]
keys = json.loads(os.environ["PIPEC_METADATA"])
found = {}
with open(stdout, encoding="utf-8", errors="replace") as fh:
    for line in fh:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            for key in keys:
                if key in data:
                    found[key] = data[key]
def arg(text):
    # Argo would read two opening braces as its template language: such values travel encoded.
    if "{" + "{" in text or text.startswith("pipec-b64:"):
        return "pipec-b64:" + base64.b64encode(text.encode("utf-8")).decode("ascii")
    return text
def text(value):
    return value if isinstance(value, str) else json.dumps(value)
for n, key in enumerate(keys):
    if key not in found:
        continue
    value = found[key]
    items = value if isinstance(value, list) else [value]
    files = {
        "json": arg(json.dumps(value)),
        "text": arg(text(value)),
        "items": json.dumps([{"i": str(i), "json": arg(json.dumps(item)), "text": arg(text(item))}
                             for i, item in enumerate(items)]),
    }
    for suffix, content in files.items():
        with open(os.path.join(out, "%d.%s" % (n, suffix)), "w", encoding="utf-8") as fh:
            fh.write(content)
# GitHub Actions: the same values as step outputs (a key not printed gives the marker). A
# matrix may not be empty: an empty list becomes one row "none" whose steps are skipped, and
# a missing key one row carrying the marker, so that the fan-out job fails saying so.
if os.environ.get("GITHUB_OUTPUT"):
    missing = "pipec-missing:"
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
        for n in range(len(keys)):
            for suffix in ("json", "text", "items"):
                try:
                    with open(os.path.join(out, "%d.%s" % (n, suffix)), encoding="utf-8") as src:
                        content = src.read()
                except OSError:
                    content = missing
                    if suffix == "items":
                        content = json.dumps([{"i": "0", "json": missing, "text": missing}])
                if suffix == "items" and content == "[]":
                    content = json.dumps([{"i": "none"}])
                delimiter = "PIPEC_" + base64.b32encode(os.urandom(10)).decode("ascii")
                fh.write("meta-%d-%s<<%s\n%s\n%s\n" % (n, suffix, delimiter, content, delimiter))
PIPEC_PY
}

# pipec_publish SIZE: GitHub Actions uploads $PIPEC_POD_DIR/art/ as the job's artifact:
# move each execution's outputs and markers (and inputs when PIPEC_PUBLISH_INPUTS is set) to
# art/<execution>/, so every artifact carries its own execution directory, whatever the number
# of executions a downstream job downloads (SIZE: the members of a group, 0 for one execution).
pipec_publish() {
    PIPEC_POD_DIR=${PIPEC_POD_DIR:-/pipec}
    if [ "$1" -gt 0 ]; then
        pipec_r=0
        while [ "$pipec_r" -lt "$1" ]; do
            pipec_move "$PIPEC_POD_DIR/m$pipec_r/exec" "$pipec_r"
            pipec_r=$((pipec_r + 1))
        done
    else
        pipec_move "$PIPEC_EXEC_MOUNT" "$PIPEC_EXECUTION"
    fi
}

pipec_move() {
    mkdir -p "$PIPEC_POD_DIR/art/$2"
    for pipec_area in outputs .pipec ${PIPEC_PUBLISH_INPUTS:+inputs}; do
        [ ! -e "$1/$pipec_area" ] || mv "$1/$pipec_area" "$PIPEC_POD_DIR/art/$2/"
    done
}

# pipec_group SIZE: a group inside one GitHub Actions job. Members 1..SIZE-1 start in the
# background, the lead (member 0) in the foreground, each as its own execution in
# $PIPEC_POD_DIR/m<rank>/ with PIPEC_COMMAND_<rank> and PIPEC_PARAMETERS_<rank>. With
# PIPEC_GROUP_IMAGE set, each member is a container of that image on a Docker network of the
# group's own, reachable by its container name; without, a process reachable on this machine.
# When the lead ends the others are stopped, the group has the lead's status, and on success
# every member's outputs count (as on Slurm).
pipec_group() {
    pipec_size=$1
    PIPEC_GROUP_ROOT=$PIPEC_POD_DIR
    PIPEC_GROUP_SIZE=$pipec_size
    pipec_net=""
    if [ -n "${PIPEC_GROUP_IMAGE:-}" ]; then
        command -v docker > /dev/null 2>&1 || pipec_die "a group with an image needs Docker on the runner"
        pipec_net=pipec-${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}-$$
    fi
    PIPEC_HOSTS=""
    pipec_r=0
    while [ "$pipec_r" -lt "$pipec_size" ]; do
        PIPEC_HOSTS="$PIPEC_HOSTS ${pipec_net:+$pipec_net-$pipec_r}"
        [ -n "$pipec_net" ] || PIPEC_HOSTS="${PIPEC_HOSTS}127.0.0.1"
        pipec_r=$((pipec_r + 1))
    done
    PIPEC_HOSTS=${PIPEC_HOSTS# }
    PIPEC_LEAD_HOST=${PIPEC_HOSTS%% *}
    export PIPEC_HOSTS PIPEC_GROUP_SIZE PIPEC_LEAD_HOST PIPEC_GROUP_ROOT
    pipec_status=0
    if [ -n "$pipec_net" ]; then
        pipec_group_containers || pipec_status=$?
    else
        pipec_group_processes || pipec_status=$?
    fi
    if [ "$pipec_status" -eq 0 ]; then
        pipec_r=1
        while [ "$pipec_r" -lt "$pipec_size" ]; do
            : > "$PIPEC_GROUP_ROOT/m$pipec_r/exec/.pipec/ok"
            pipec_r=$((pipec_r + 1))
        done
    fi
    return "$pipec_status"
}

pipec_group_processes() {
    pipec_pids=""
    pipec_r=$((pipec_size - 1))
    while [ "$pipec_r" -gt 0 ]; do
        pipec_member "$pipec_r" &
        pipec_pids="$pipec_pids $!"
        pipec_r=$((pipec_r - 1))
    done
    pipec_lead=0
    pipec_member 0 || pipec_lead=$?
    for pipec_pid in $pipec_pids; do
        pipec_kill_tree "$pipec_pid"
    done
    wait 2>/dev/null || true
    return "$pipec_lead"
}

# pipec_group_containers: the members as containers named $pipec_net-<rank>. They get this
# step's PIPEC_* variables by name (values never pass through a command line) and the
# runner's temporary and workspace directories at the same paths.
pipec_group_containers() {
    docker network create "$pipec_net" > /dev/null || pipec_die "cannot create the Docker network $pipec_net"
    trap 'pipec_group_stop; exit 130' INT
    trap 'pipec_group_stop; exit 143' TERM
    set -- --network "$pipec_net" -v "$RUNNER_TEMP:$RUNNER_TEMP" -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" \
        -w "$GITHUB_WORKSPACE"
    for pipec_name in $(env | sed -n 's/^\(PIPEC_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u) \
            GITHUB_OUTPUT GITHUB_EVENT_NAME GITHUB_WORKSPACE RUNNER_TEMP CI GITHUB_ACTIONS; do
        set -- "$@" -e "$pipec_name"
    done
    [ "${PIPEC_GROUP_GPUS:-0}" = 0 ] || set -- "$@" --gpus all
    # shellcheck disable=SC2016  # expanded in the container
    set -- "$@" --entrypoint sh "$PIPEC_GROUP_IMAGE" \
        -c '. "$GITHUB_WORKSPACE/$PIPEC_RUNTIME" && pipec_member "$1"' pipec-member
    pipec_r=$((pipec_size - 1))
    while [ "$pipec_r" -gt 0 ]; do
        if ! docker run -d --name "$pipec_net-$pipec_r" "$@" "$pipec_r" > /dev/null; then
            pipec_group_stop
            pipec_die "cannot start member $pipec_r of the group (image $PIPEC_GROUP_IMAGE)"
        fi
        pipec_r=$((pipec_r - 1))
    done
    pipec_lead=0
    docker run --rm --name "$pipec_net-0" "$@" 0 || pipec_lead=$?
    pipec_group_stop
    trap - INT TERM
    return "$pipec_lead"
}

# pipec_group_stop: show each member's output, remove the containers and the network, and give
# what the containers wrote (as their user, often root) back to the runner's user, so that the
# steps after this one can move it.
pipec_group_stop() {
    pipec_r=1
    while [ "$pipec_r" -lt "$pipec_size" ]; do
        if docker container inspect "$pipec_net-$pipec_r" > /dev/null 2>&1; then
            printf '::group::member %s (%s)\n' "$pipec_r" "$pipec_net-$pipec_r"
            docker logs "$pipec_net-$pipec_r" 2>&1 || true
            printf '::endgroup::\n'
            docker rm -f "$pipec_net-$pipec_r" > /dev/null 2>&1 || true
        fi
        pipec_r=$((pipec_r + 1))
    done
    docker rm -f "$pipec_net-0" > /dev/null 2>&1 || true
    if [ "$(id -u)" != 0 ]; then
        docker run --rm -v "$RUNNER_TEMP:$RUNNER_TEMP" -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" \
            --entrypoint chown "$PIPEC_GROUP_IMAGE" -R "$(id -u):$(id -g)" "$PIPEC_GROUP_ROOT" "$GITHUB_WORKSPACE" \
            > /dev/null 2>&1 || printf 'pipec: could not hand the group'"'"'s files back to %s\n' "$(id -un)" >&2
    fi
    docker network rm "$pipec_net" > /dev/null 2>&1 || true
}

# pipec_kill_tree PID: stop PID and everything it started, the youngest first (dash's kill
# cannot signal a process group, and members share this shell's group).
pipec_kill_tree() {
    for pipec_child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        pipec_kill_tree "$pipec_child"
    done
    kill -TERM "$1" 2>/dev/null || true
}

# pipec_member RANK: one member of pipec_group, in a subshell of its own.
pipec_member() (
    eval "PIPEC_COMMAND=\${PIPEC_COMMAND_$1} PIPEC_PARAMETERS=\${PIPEC_PARAMETERS_$1}"
    PIPEC_EXECUTION=$1
    PIPEC_RANK=$1
    PIPEC_POD_DIR=$PIPEC_GROUP_ROOT/m$1
    PIPEC_EXEC_MOUNT=$PIPEC_POD_DIR/exec
    [ "$1" = 0 ] || PIPEC_METADATA=""  # the lead speaks for the group
    mkdir -p "$PIPEC_POD_DIR/exec/.pipec"
    [ ! -d "$PIPEC_GROUP_ROOT/up" ] || ln -s "$PIPEC_GROUP_ROOT/up" "$PIPEC_POD_DIR/up"
    export PIPEC_COMMAND PIPEC_PARAMETERS PIPEC_EXECUTION PIPEC_RANK PIPEC_POD_DIR PIPEC_EXEC_MOUNT PIPEC_METADATA
    pipec_pod
)

# pipec_pod: the whole life of one execution in a pod, from the PIPEC_* environment the
# template sets: decode the arguments, link the run layout, stage, write parameters.json,
# run the command (PIPEC_COMMAND) and publish its metadata.
pipec_pod() {
    PIPEC_POD_DIR=${PIPEC_POD_DIR:-/pipec}
    PIPEC_RUN_DIR=$PIPEC_POD_DIR/run
    export PIPEC_POD_DIR PIPEC_RUN_DIR
    for pipec_var in ${PIPEC_ENCODED:-}; do
        eval "pipec_value=\${$pipec_var}"
        pipec_value=$(pipec_arg "$pipec_value"; printf x)
        eval "$pipec_var=\${pipec_value%x}"
        export "${pipec_var?}"
    done
    mkdir -p "$PIPEC_RUN_DIR/$PIPEC_JOB" "$PIPEC_EXEC_MOUNT"
    ln -s "$PIPEC_EXEC_MOUNT" "$PIPEC_RUN_DIR/$PIPEC_JOB/$PIPEC_EXECUTION"
    pipec_n=0
    for pipec_up in ${PIPEC_UPSTREAM:-}; do
        ln -s "$PIPEC_POD_DIR/up/$pipec_n" "$PIPEC_RUN_DIR/$pipec_up"
        pipec_n=$((pipec_n + 1))
    done
    pipec_begin "$PIPEC_JOB" "$PIPEC_EXECUTION"
    pipec_json=$PIPEC_PARAMETERS
    pipec_i=$PIPEC_EXECUTION
    # pipec wrote these lines (quoted values; see pipec_stage, pipec_fill, ...).
    eval "$PIPEC_SETUP"
    printf '%s\n' "$pipec_json" > "$PIPEC_CONFIG_DIR/parameters.json"
    printf '%s\n' "$PIPEC_COMMAND" > "$PIPEC_EXEC_DIR/.pipec/command.sh"
    # A failed execution leaves no outputs behind: a retry starts clean, and nothing of a
    # failed attempt can reach a downstream job through the artifact repository.
    if ! (pipec_run none "${PIPEC_RETRIES:-0}" pipec_shell "$PIPEC_EXEC_DIR/.pipec/command.sh"); then
        pipec_status=$(cat "$PIPEC_EXEC_DIR/.pipec/failed" 2>/dev/null || echo 1)
        rm -rf "$PIPEC_OUTPUTS_DIR"
        mkdir -p "$PIPEC_OUTPUTS_DIR"
        exit "$pipec_status"
    fi
    pipec_outputs
}

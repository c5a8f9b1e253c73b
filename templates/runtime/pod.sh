# shellcheck shell=sh
# pipec runtime, pod part (joined after core.sh, for Argo and GitHub Actions): one execution
# per Argo pod or GitHub Actions job, run by pipec_pod from the PIPEC_* environment the
# generated template sets. It holds the decoding of arguments, the checks and filling of
# pipeline parameters given at submit time, product-grid sweeps, run-time metadata read from
# upstream jobs and written for downstream ones, a group member's distributed.json, the host
# names and barrier of a group of several jobs, the inputs the engine downloaded itself, and
# starting an execution's checkpoint uploads beside its command (Argo).
#
# Kubernetes pods (Argo). One pod runs one execution; the execution directory is a volume
# mounted at $PIPEC_EXEC_MOUNT and uploaded as the execution's artifacts afterwards; the pod's
# own files live in $PIPEC_POD_DIR (/pipec). Upstream executions were downloaded to
# $PIPEC_POD_DIR/up/<n>/ (the n-th job named in PIPEC_UPSTREAM) and are linked into the run
# layout, so staging, gates and metadata work as on a shared filesystem.

# pipec_arg VALUE: VALUE as the author wrote it. pipec sends a value holding two opening braces
# (which Argo would read as its template language) base64-encoded behind a "pipec-b64:" prefix.
# (The runtime never holds two braces in a row itself: Argo passes it through its templating.)
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

# pipec_peer VAR HOSTNAME: a member of a group of several jobs (Argo) names its peer HOSTNAME
# (itself included) in VAR: HOSTNAME in the group's subdomain (PIPEC_SUBDOMAIN, the name of the
# group's headless Service), which the pod's DNS search path resolves.
pipec_peer() {
    eval "$1=\$2.\$PIPEC_SUBDOMAIN"
    export "${1?}"
}

# pipec_resolves NAME: whether NAME resolves, with whatever resolver the image has.
pipec_resolves() {
    if command -v getent > /dev/null 2>&1; then
        getent hosts "$1" > /dev/null 2>&1
    elif command -v nslookup > /dev/null 2>&1; then
        nslookup "$1" > /dev/null 2>&1
    elif command -v python3 > /dev/null 2>&1; then
        python3 -c 'import socket, sys; socket.gethostbyname(sys.argv[1])' "$1" > /dev/null 2>&1
    else
        pipec_die "the group's barrier needs getent, nslookup or python3 in the image"
    fi
}

# The barrier of a group of several jobs (Argo). A member is Ready (its readiness probe
# passes, so Kubernetes DNS publishes its name) once it calls pipec_ready. The non-leads call it
# on arriving and then await the lead; the lead awaits every non-lead and then calls it. So no
# command starts before every member has arrived, and no member leaves the barrier (ending,
# and taking its name away) before the lead has seen it. The lead, last to get ready, stays
# up a while even when its command is short, so that every non-lead sees it, however late the
# cluster's DNS tells it (records follow readiness, and answers are cached for seconds).

# pipec_ready [SECONDS]: this member is at the barrier; its command's end waits until SECONDS
# have passed since (pipec_hold).
pipec_ready() {
    : > "$PIPEC_POD_DIR/ready"
    if [ -n "${1:-}" ]; then
        sleep "$1" &
        pipec_hold_pid=$!
    fi
}

# pipec_hold: wait for what pipec_ready asked.
pipec_hold() {
    [ -z "${pipec_hold_pid:-}" ] || wait "$pipec_hold_pid" || :
}

# pipec_await SECONDS HOSTNAME...: wait until the name of every HOSTNAME in the group's
# subdomain resolves; fail after SECONDS.
pipec_await() {
    pipec_limit=$1
    shift
    pipec_waited=0
    for pipec_host in "$@"; do
        until pipec_resolves "$pipec_host.$PIPEC_SUBDOMAIN"; do
            [ "$pipec_waited" -lt "$pipec_limit" ] ||
                pipec_die "group barrier: $pipec_host did not arrive within $pipec_limit seconds"
            sleep 1
            pipec_waited=$((pipec_waited + 1))
        done
    done
}

# pipec_follow HOSTNAME [SEEN]: this member of a group of several jobs (Argo) ends with the
# group's lead HOSTNAME (pipec_command watches for it). SEEN (1): the barrier saw the lead.
pipec_follow() {
    PIPEC_LEAD=$1.$PIPEC_SUBDOMAIN
    pipec_lead_seen=${2:-0}
}

# pipec_start_checkpoints: start the checkpoint uploads of the execution (PIPEC_CHECKPOINTS:
# pipec_checkpoint lines pipec wrote; Argo) in the subshell that then runs pipec_run: the
# loops are its children, which pipec_checkpoints_end stops and waits for before the final
# upload, and they start only once the inputs are staged and the files written.
pipec_start_checkpoints() {
    [ -z "${PIPEC_CHECKPOINTS:-}" ] || eval "$PIPEC_CHECKPOINTS"
}

# pipec_command: run the execution's command (in a subshell: pipec_run exits), and its status.
# A member that follows its group's lead runs it in the background and watches the lead.
pipec_command() {
    if [ -z "${PIPEC_LEAD:-}" ]; then
        pipec_status=0
        (pipec_start_checkpoints && pipec_run none "${PIPEC_RETRIES:-0}" pipec_shell "$PIPEC_EXEC_DIR/.pipec/command.sh") ||
            pipec_status=$?
        pipec_hold
        return "$pipec_status"
    fi
    pipec_done=$PIPEC_POD_DIR/command-status
    # The file, not the process, says the command ended: a child that ended but was not yet
    # waited for still answers `kill -0`.
    (
        pipec_status=0
        (pipec_start_checkpoints && pipec_run none "${PIPEC_RETRIES:-0}" pipec_shell "$PIPEC_EXEC_DIR/.pipec/command.sh") ||
            pipec_status=$?
        echo "$pipec_status" > "$pipec_done"
    ) &
    pipec_watch_lead "$pipec_done"
    wait
    return "$(cat "$pipec_done")"
}

# pipec_watch_lead FILE: until FILE exists, look for the lead's name every second. Once it has
# resolved (here or at the barrier) and then fails to 3 times in a row, the lead has ended, and
# with it the group: stop every process of this pod (its process group) and end the pod
# successfully, the execution marked stopped, not ok (downstream jobs stage nothing of it).
# Without a barrier, a member that starts after its lead has ended never sees it, and runs on.
pipec_watch_lead() {
    pipec_seen=$pipec_lead_seen
    pipec_misses=0
    while [ ! -e "$1" ]; do
        if pipec_resolves "$PIPEC_LEAD"; then
            pipec_seen=1
            pipec_misses=0
        elif [ "$pipec_seen" -eq 1 ]; then
            pipec_misses=$((pipec_misses + 1))
        fi
        if [ "$pipec_misses" -ge 3 ]; then
            printf 'pipec: the group'"'"'s lead has ended, and with it the group; stopping\n' >&2
            : > "$PIPEC_EXEC_DIR/.pipec/stopped"
            trap '' TERM
            kill -TERM 0 2> /dev/null || :
            exit 0
        fi
        sleep 1
    done
}

# pipec_place SLOT FILE NAME: an input the engine downloaded to FILE, placed in SLOT as NAME
# (neither may lead outside the execution's inputs: pipec_confined).
pipec_place() {
    pipec_confined "input slot" "$1"
    pipec_confined "input file name" "$3"
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
# (PIPEC_METADATA, a JSON list) to $PIPEC_POD_DIR/meta/<n>.{json,text,items}, the engine's
# outputs: the value of the last JSON line of stdout holding the key (a key not printed has no
# files). Needs python3.
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
PIPEC_PY
}

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
    if ! pipec_command; then
        pipec_status=$(cat "$PIPEC_EXEC_DIR/.pipec/failed" 2>/dev/null || echo 1)
        rm -rf "$PIPEC_OUTPUTS_DIR"
        mkdir -p "$PIPEC_OUTPUTS_DIR"
        exit "$pipec_status"
    fi
    pipec_outputs
}

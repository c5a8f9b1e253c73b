# shellcheck shell=sh
# pipec runtime, core: what every target's executions use (Slurm jobs, Argo pods, GitHub
# Actions jobs). POSIX sh, sourced by job scripts; pipec joins it with the parts of the target
# when compiling (Slurm: slurm.sh; Argo: pod.sh; GitHub Actions: pod.sh, then gha.sh; see
# pipec/backends/runtime.py). It holds errors, the paths of an execution, the staging of its
# inputs (gates, globs, fetched URLs, fixed file names, required slots), JSON helpers,
# run-time metadata, and running the command with retries under the job's failure policy.
#
# Run directory layout ($PIPEC_RUN_DIR, on a filesystem every node shares):
#   jobs.tsv                        name<TAB>scheduler id, one line per submitted job
#   watchers.tsv                    Slurm: name<TAB>watched id<TAB>watcher id (see slurm.sh)
#   .pipec/                         Slurm: the run's pipeline id, its run id (run-id), its
#                                   parameters (for submit.sh --resume), the records of
#                                   earlier attempts
#   logs/<job>/                     scheduler logs
#   <job>/<execution>/inputs/<slot>/   files staged for each input slot
#   <job>/<execution>/outputs/         everything the execution writes is kept
#   <job>/<execution>/config/parameters.json   the execution's parameter values
#   <job>/<execution>/files/           OSMO files: where the command finds them on a host
#   <job>/<execution>/.pipec/{ok,failed,reason,cancelled,command.sh,attempts,stdout}
#                                   (and Slurm groups: ready, start.sh for the barrier;
#                                   credentials/ while a job reads a mounted credential)
#                                   ok: it succeeded (the only executions downstream jobs
#                                   stage from); failed: it failed (the status; reason: why);
#                                   cancelled: it was stopped because the run was stopped
#   <job>/items.jsonl               the items of a run-time fan-out, one JSON value per line
#   <job>/array.id                  Slurm: the id of the array a fan-out launcher submitted
#   FAILED                          the run's failures, one line each, whatever the policy:
#                                   "<job> failed (execution N): <reason>", or submit.sh's
#   STOPPED                         the run was stopped (a stop-all failure, or submit.sh's)

pipec_die() {
    # shellcheck disable=SC2034 # the reason a job's guard records (Slurm: pipec_guard)
    pipec_error="$*"
    printf 'pipec: %s\n' "$*" >&2
    exit 1
}

# pipec_confined WHAT PATH: PATH, a slot or file name the runtime puts under an input directory,
# must name something below that directory: not absolute, not empty, and no `..` that climbs
# out of it. Checked on the words, not on the disk (an engine may link the execution directory
# in from elsewhere), so nothing is staged, fetched or placed outside the execution's inputs,
# whatever name reaches the runtime.
pipec_confined() {
    case $2 in
        /*) pipec_die "$1 '$2' is an absolute path, outside the execution's inputs; refused" ;;
    esac
    pipec_depth=0
    pipec_rest=$2/
    while [ -n "$pipec_rest" ]; do
        pipec_part=${pipec_rest%%/*}
        pipec_rest=${pipec_rest#*/}
        case $pipec_part in
            "" | .) ;;
            ..) pipec_depth=$((pipec_depth - 1)) ;;
            *) pipec_depth=$((pipec_depth + 1)) ;;
        esac
        [ "$pipec_depth" -ge 0 ] || pipec_die "$1 '$2' leads outside the execution's inputs; refused"
    done
    [ "$pipec_depth" -gt 0 ] || pipec_die "$1 '$2' names no path below the execution's inputs; refused"
}

# pipec_enter JOB EXECUTION: export the paths of an execution, under pipec's names and under
# the dialect's (PIPEC_LAYOUT: NAME=what words, what being inputs, outputs, config, exec,
# parameters or id: a dialect whose code reads MY_INPUTS sets PIPEC_LAYOUT='MY_INPUTS=inputs').
pipec_enter() {
    PIPEC_JOB=$1
    PIPEC_EXECUTION=$2
    PIPEC_EXEC_DIR="$PIPEC_RUN_DIR/$PIPEC_JOB/$PIPEC_EXECUTION"
    PIPEC_INPUTS_DIR="$PIPEC_EXEC_DIR/inputs"
    PIPEC_OUTPUTS_DIR="$PIPEC_EXEC_DIR/outputs"
    PIPEC_CONFIG_DIR="$PIPEC_EXEC_DIR/config"
    export PIPEC_JOB PIPEC_EXECUTION PIPEC_EXEC_DIR PIPEC_INPUTS_DIR PIPEC_OUTPUTS_DIR PIPEC_CONFIG_DIR
    for pipec_pair in ${PIPEC_LAYOUT:-}; do
        # shellcheck disable=SC2034 # pipec_value is read by the eval below
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

# pipec_begin JOB EXECUTION: enter the execution and create its directories afresh. An
# execution that starts again (requeued by the scheduler, or run again in a resumed run) keeps
# nothing of an earlier start: its markers go first (downstream jobs stage only executions
# marked ok, so from here on nobody takes its outputs), then what was staged, written or
# configured before, so inputs are never staged twice and old and new outputs never mix.
pipec_begin() {
    pipec_enter "$1" "$2"
    rm -rf "$PIPEC_EXEC_DIR/.pipec"
    rm -rf "$PIPEC_INPUTS_DIR" "$PIPEC_OUTPUTS_DIR" "$PIPEC_CONFIG_DIR"
    mkdir -p "$PIPEC_INPUTS_DIR" "$PIPEC_OUTPUTS_DIR" "$PIPEC_CONFIG_DIR" "$PIPEC_EXEC_DIR/.pipec"
}

# pipec_fetch SLOT URL COMMAND: fetch URL into the slot with a shell COMMAND that receives
# the URL as $1 and the destination directory as $2.
pipec_fetch() {
    pipec_confined "input slot" "$1"
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

# pipec_stage JOB AREA GLOB SLOT KEEP [ERE [ICASE]]: copy the files of every successful execution of JOB
# (AREA "outputs", or "inputs" for input-to-input edges) whose path matches GLOB into input
# SLOT. KEEP is none (file name only), full (the whole relative path) or suffix (the path
# below the glob's fixed leading directories). Executions are taken in order, files in
# sorted order; a file whose name is already taken in the slot gets ".<job>-<execution>"
# (then "-2", "-3", ...) before its extension, so no file is ever dropped or overwritten.
# ERE (with ICASE 1: ignoring case) keeps only the files whose path below AREA it matches
# (grep -E; pipec translated the workflow's regex). Files are copied, never linked: a job
# that changes its inputs cannot touch upstream outputs.
# An upstream execution whose ok marker disappears while its files are copied was started
# again (requeued): what was copied may be partial, so the job fails rather than use it.
pipec_stage() {
    pipec_confined "input slot" "$4"
    mkdir -p "$PIPEC_INPUTS_DIR/$4"
    for pipec_index in $(ls "$PIPEC_RUN_DIR/$1" 2>/dev/null | sort -n); do
        pipec_src="$PIPEC_RUN_DIR/$1/$pipec_index"
        [ -e "$pipec_src/.pipec/ok" ] || continue
        [ -d "$pipec_src/$2" ] || continue
        find "$pipec_src/$2" -type f -print0 | sort -z | xargs -0 -r sh -c '
            src=$1 glob=$2 slot=$3 keep=$4 tag=$5 ere=$6 icase=$7
            shift 7
            fixed=${glob%%[*?[]*}
            case "$fixed" in */*) fixed=${fixed%/*}/ ;; *) fixed="" ;; esac
            for f in "$@"; do
                rel=${f#"$src"/}
                # shellcheck disable=SC2254 # the glob is a pattern on purpose
                case "$rel" in $glob) ;; *) continue ;; esac
                if [ -n "$ere" ]; then
                    flags=-Eq
                    [ "$icase" != 1 ] || flags=-Eqi
                    printf "%s\n" "$rel" | grep "$flags" -e "$ere" || continue
                fi
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
            done' pipec-stage "$pipec_src/$2" "$3" "$PIPEC_INPUTS_DIR/$4" "$5" "$1-$pipec_index" "${6:-}" "${7:-0}"
        [ -e "$pipec_src/.pipec/ok" ] ||
            pipec_die "execution $pipec_index of $1 started again while its files were staged into input $4"
    done
}

# pipec_filter SLOT ERE ICASE: keep only the files of an input slot whose path below the slot
# ERE matches (fetched URLs come whole; the workflow's regex then selects from them).
pipec_filter() {
    pipec_confined "input slot" "$1"
    pipec_flags=-Eq
    [ "$3" != 1 ] || pipec_flags=-Eqi
    find "$PIPEC_INPUTS_DIR/$1" -type f | while IFS= read -r pipec_f; do
        printf '%s\n' "${pipec_f#"$PIPEC_INPUTS_DIR/$1"/}" | grep "$pipec_flags" -e "$2" || rm -f "$pipec_f"
    done
}

# pipec_write_file PATH BASE64 CONTENTS: write a file the workflow puts into place before its
# command (BASE64 1: CONTENTS is base64, the file holds the decoded bytes). PATH is where the
# command finds it (absolute); its directories are created.
pipec_write_file() {
    mkdir -p "$(dirname "$1")" || pipec_die "cannot create the directory of file $1"
    if [ "$2" = 1 ]; then
        printf '%s' "$3" | base64 -d > "$1" || pipec_die "cannot write file $1 (base64 contents)"
    else
        printf '%s' "$3" > "$1" || pipec_die "cannot write file $1"
    fi
}

# pipec_exit_action STATUS: what an exit status means under PIPEC_EXIT_ACTIONS, words
# `complete=RANGES fail=RANGES reschedule=RANGES` (RANGES like 0,3-5): complete, fail,
# reschedule, or default (0 succeeds, anything else fails) when no range holds it.
pipec_exit_action() {
    for pipec_rule in ${PIPEC_EXIT_ACTIONS:-}; do
        pipec_ranges=${pipec_rule#*=},
        while [ -n "$pipec_ranges" ]; do
            pipec_range=${pipec_ranges%%,*}
            pipec_ranges=${pipec_ranges#*,}
            pipec_low=${pipec_range%-*}
            pipec_high=${pipec_range#*-}
            if [ "$1" -ge "$pipec_low" ] && [ "$1" -le "$pipec_high" ]; then
                echo "${pipec_rule%%=*}"
                return 0
            fi
        done
    done
    echo default
}

# pipec_upload URL SOURCE ERE ICASE COMMAND: copy the files below directory SOURCE (those whose
# path ERE matches, when given) to storage URL with a shell COMMAND that receives a directory
# holding them as $1 and the URL as $2.
pipec_upload() {
    [ -n "$5" ] || pipec_die "no upload command for $1; set [upload] ${1%%://*} = \"...\" in pipec.toml"
    [ -d "$2" ] || return 0
    pipec_up=$(mktemp -d) || pipec_die "cannot create a directory to upload from"
    (cd "$2" && find . -type f) | while IFS= read -r pipec_f; do
        pipec_f=${pipec_f#./}
        if [ -n "$3" ]; then
            pipec_flags=-Eq
            [ "$4" != 1 ] || pipec_flags=-Eqi
            printf '%s\n' "$pipec_f" | grep "$pipec_flags" -e "$3" || continue
        fi
        mkdir -p "$pipec_up/$(dirname "$pipec_f")"
        cp -p "$2/$pipec_f" "$pipec_up/$pipec_f"
    done
    # Its own status variable: pipec_run's pipec_status holds the command's while checkpoints end.
    pipec_upload_status=0
    sh -c "$5" pipec-upload "$pipec_up" "$1" || pipec_upload_status=$?
    rm -rf "$pipec_up"
    [ "$pipec_upload_status" -eq 0 ] || { printf 'pipec: uploading %s to %s failed\n' "$2" "$1" >&2; return 1; }
}

# pipec_checkpoint SECONDS URL SOURCE ERE ICASE COMMAND: upload SOURCE every SECONDS while the
# command runs (the wait counts from the end of one upload to the start of the next) and once
# more when it ends, whatever its status (pipec_run calls pipec_checkpoints_end).
pipec_checkpoint() {
    (
        pipec_sleep=""
        # Stopped while it waits: the sleep goes too (it would hold the job's output open).
        trap 'kill $pipec_sleep 2>/dev/null; exit 0' TERM
        while :; do
            sleep "$1" &
            pipec_sleep=$!
            wait "$pipec_sleep" || exit 0
            pipec_upload "$2" "$3" "$4" "$5" "$6" || :
        done
    ) &
    pipec_checkpointers="${pipec_checkpointers:-} $!"
    pipec_checkpoint_finals="${pipec_checkpoint_finals:-}pipec_upload $(pipec_shell_words "$2" "$3" "$4" "$5" "$6") || :
"
}

pipec_checkpoints_end() {
    # The loops may not be this shell's children (pipec_run in a subshell): wait for each to be
    # gone, so the final upload never overlaps a periodic one.
    for pipec_pid in ${pipec_checkpointers:-}; do
        kill "$pipec_pid" 2>/dev/null || :
        wait "$pipec_pid" 2>/dev/null || :
        while kill -0 "$pipec_pid" 2>/dev/null; do sleep 0.1; done
    done
    pipec_checkpointers=""
    [ -z "${pipec_checkpoint_finals:-}" ] || eval "$pipec_checkpoint_finals"
    pipec_checkpoint_finals=""
}

# pipec_shell_words WORD...: the words quoted for the shell (single quotes), one line.
pipec_shell_words() {
    pipec_sep=""
    for pipec_w in "$@"; do
        printf "%s'%s'" "$pipec_sep" "$(printf '%s' "$pipec_w" | sed "s/'/'\\\\''/g")"
        pipec_sep=" "
    done
}

# pipec_input_file SLOT NAME: an input with a fixed file name. When the slot holds exactly
# one file, it is renamed NAME (in the slot's top directory); with several files the name
# cannot apply, and they stay as staged.
pipec_input_file() {
    pipec_confined "input slot" "$1"
    pipec_confined "input file name" "$2"
    # `|| :`: under bash -o pipefail (Slurm) a missing slot or head leaving early fails the pipe.
    pipec_found=$(find "$PIPEC_INPUTS_DIR/$1" -type f 2>/dev/null | head -n 2) || :
    case $pipec_found in
        "" | *"
"*) return 0 ;;
    esac
    [ "$pipec_found" = "$PIPEC_INPUTS_DIR/$1/$2" ] || mv -f "$pipec_found" "$PIPEC_INPUTS_DIR/$1/$2"
}

# pipec_require SLOT: an input that is not optional must have received at least one file.
pipec_require() {
    pipec_confined "input slot" "$1"
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

# pipec_mark_failed STATUS REASON [EXECUTION_DIR]: mark an execution (the current one by
# default) failed: .pipec/failed holds the status, .pipec/reason says why.
pipec_mark_failed() {
    pipec_marks="${3:-$PIPEC_EXEC_DIR}/.pipec"
    mkdir -p "$pipec_marks"
    printf '%s\n' "$2" > "$pipec_marks/reason"
    echo "$1" > "$pipec_marks/failed"
}

# pipec_report LINE: add a failure to the run's report (RUN/FAILED), whatever the policy.
pipec_report() {
    printf '%s\n' "$1" >> "$PIPEC_RUN_DIR/FAILED"
}

# pipec_cancel_run: stop-all. Mark the run stopped (RUN/STOPPED) and, on Slurm, cancel every
# other job of the run, then this one (pipec_cancel_jobs, in the Slurm part). (On Argo the
# DAG's failFast stops the run, so there is nothing to cancel from inside the pod.)
pipec_cancel_run() {
    : > "$PIPEC_RUN_DIR/STOPPED"
    [ "${PIPEC_ENGINE:-slurm}" = slurm ] || return 0
    pipec_cancel_jobs
}

# pipec_run POLICY RETRIES COMMAND...: run the execution's command, retrying up to RETRIES
# times, mark it ok or failed, and on failure apply the job's policy. With PIPEC_EXIT_ACTIONS
# (see pipec_exit_action) a `complete` status succeeds, and only a `reschedule` status is run
# again. PIPEC_ON_SUCCESS, when set, is shell code run before the execution is marked ok (its
# uploads): if it fails, the execution fails. Checkpoint uploads end with the last attempt.
pipec_run() {
    pipec_policy=$1
    pipec_retries=$2
    shift 2
    pipec_attempt=0
    pipec_reason=""
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
        pipec_action=default
        [ -z "${PIPEC_EXIT_ACTIONS:-}" ] || pipec_action=$(pipec_exit_action "$pipec_status")
        [ "$pipec_action" != complete ] || pipec_status=0
        if [ "$pipec_status" -eq 0 ]; then
            pipec_checkpoints_end
            if [ -n "${PIPEC_ON_SUCCESS:-}" ] && ! eval "$PIPEC_ON_SUCCESS"; then
                pipec_status=1
                pipec_action=fail
                pipec_reason="the command succeeded, but uploading its outputs failed"
                break
            fi
            : > "$PIPEC_EXEC_DIR/.pipec/ok"
            return 0
        fi
        [ "$pipec_attempt" -gt "$pipec_retries" ] && break
        [ -z "${PIPEC_EXIT_ACTIONS:-}" ] || [ "$pipec_action" = reschedule ] || break
        printf 'pipec: attempt %s of %s failed with status %s; retrying\n' \
            "$pipec_attempt" "$((pipec_retries + 1))" "$pipec_status" >&2
    done
    pipec_checkpoints_end
    if [ -z "$pipec_reason" ]; then
        pipec_reason="the command exited with status $pipec_status"
        [ "$pipec_attempt" -eq 1 ] || pipec_reason="$pipec_reason (attempt $pipec_attempt of $pipec_attempt)"
    fi
    # The failure is handled here, policy and all: a job's guard (Slurm) has nothing to add.
    # shellcheck disable=SC2034 # read by the guard (slurm.sh)
    pipec_handled=1
    pipec_mark_failed "$pipec_status" "$pipec_reason"
    pipec_report "$PIPEC_JOB failed (execution $PIPEC_EXECUTION): $pipec_reason"
    case "$pipec_policy" in
        stop-all | retry) pipec_cancel_run ;;
    esac
    exit "$pipec_status"
}

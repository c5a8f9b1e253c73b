# shellcheck shell=sh
# pipec runtime, GitHub Actions part (joined after core.sh and pod.sh, for GitHub Actions only):
# the step running a job (its command from the run: script, pipec_read; pipec_job), the
# metadata passed on as the job's outputs, publishing each execution's directory as the job's
# artifact, and groups run inside one job (a job's executions: pipec_group; several jobs:
# pipec_team), their members as background processes or as Docker containers on a network of
# their own, each an execution run by pipec_pod.

# pipec_read VAR: VAR (exported) holds what stdin holds but its last newline: the command the
# step's run: script shows in a quoted here-document (whose text nothing expands), ending in
# the newline the here-document adds.
pipec_read() {
    pipec_text=$(cat; printf x)
    pipec_nl='
'
    pipec_text=${pipec_text%x}
    eval "$1=\${pipec_text%\"\$pipec_nl\"}"
    export "${1?}"
}

# pipec_job: the one execution of a GitHub Actions job (PIPEC_COMMAND: pipec_read, or the
# step's env for a command too long for run:), run by pipec_pod with stdin from /dev/null;
# then its metadata as the step's outputs (pipec_step_outputs).
pipec_job() {
    pipec_pod < /dev/null
    pipec_step_outputs "$PIPEC_POD_DIR/meta"
}

# pipec_step_outputs DIR: the metadata pipec_outputs wrote to DIR (<n>.{json,text,items}) as
# the step's outputs meta-<n>-json, -text and -items, read downstream as the job's outputs; a
# key not printed gives the marker pipec-missing:. A matrix may not be empty: an empty list
# becomes one row "none" whose steps are skipped, and a missing key one row carrying the
# marker, so that the fan-out job fails saying so. A key fanned out over in P matrix jobs of at
# most 256 rows (PIPEC_FANOUT_PARTS, {"<n>": P}) has its rows in meta-<n>-items (0-255) and
# meta-<n>-items-<k> (k = 1..P-1), each row keeping its global index; a list longer than
# PIPEC_MAX_FANOUT (at most P * 256) fails this job: it is never cut short. Needs python3.
pipec_step_outputs() {
    [ -n "${PIPEC_METADATA:-}" ] && [ -n "${GITHUB_OUTPUT:-}" ] || return 0
    python3 - "$1" <<'PIPEC_PY'
import base64, json, os, sys
out = sys.argv[1]
keys = json.loads(os.environ["PIPEC_METADATA"])
missing = "pipec-missing:"
none = json.dumps([{"i": "none"}])
parts = json.loads(os.environ.get("PIPEC_FANOUT_PARTS") or "{}")
outputs = []
for n in range(len(keys)):
    for suffix in ("json", "text", "items"):
        try:
            with open(os.path.join(out, "%d.%s" % (n, suffix)), encoding="utf-8") as src:
                content = src.read()
        except OSError:
            content = missing
            if suffix == "items":
                content = json.dumps([{"i": "0", "json": missing, "text": missing}])
        if suffix == "items" and str(n) in parts:
            count, rows = int(parts[str(n)]), json.loads(content)
            limit = min(256 * count, int(os.environ.get("PIPEC_MAX_FANOUT") or 256 * count))
            if len(rows) > limit:
                sys.exit("pipec: %s printed metadata %r, a list of %d items, but the workflow was compiled "
                         "for fan-outs of at most %d items ([gha] max_fanout; %d matrix jobs of 256): raise "
                         "[gha] max_fanout in pipec.toml to at least %d and compile again"
                         % (os.environ.get("PIPEC_JOB", "this job"), keys[n], len(rows), limit, count,
                            len(rows)))
            for k in range(count):
                chunk = rows[256 * k:256 * (k + 1)]
                outputs.append(("meta-%d-items" % n + ("-%d" % k if k else ""),
                                json.dumps(chunk) if chunk else none))
            continue
        if suffix == "items" and content == "[]":
            content = none
        outputs.append(("meta-%d-%s" % (n, suffix), content))
# GitHub fails a job whose outputs exceed 1 MB (counted as UTF-16): say so here, in its log.
size = sum(len((name + value).encode("utf-16-le")) for name, value in outputs)
if size > 1024 * 1024:
    sys.stderr.write("pipec: warning: the metadata passed on as job outputs takes about %d bytes; GitHub "
                     "accepts at most 1 MB of outputs per job\n" % size)
with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
    for name, content in outputs:
        delimiter = "PIPEC_" + base64.b32encode(os.urandom(10)).decode("ascii")
        fh.write("%s<<%s\n%s\n%s\n" % (name, delimiter, content, delimiter))
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
# $PIPEC_POD_DIR/m<rank>/ with its command and PIPEC_PARAMETERS_<rank> (pipec_member). With
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
        pipec_stop_tree "$pipec_pid"
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
    pipec_give_back "$PIPEC_GROUP_IMAGE"
    docker network rm "$pipec_net" > /dev/null 2>&1 || true
}

# pipec_give_back IMAGE: give what a group's containers wrote (as their user, often root)
# back to the runner's user, with a container of IMAGE, so that later steps can move it.
pipec_give_back() {
    if [ "$(id -u)" != 0 ]; then
        docker run --rm -v "$RUNNER_TEMP:$RUNNER_TEMP" -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" \
            --entrypoint chown "$1" -R "$(id -u):$(id -g)" "$PIPEC_GROUP_ROOT" "$GITHUB_WORKSPACE" \
            > /dev/null 2>&1 || printf 'pipec: could not hand the group'"'"'s files back to %s\n' "$(id -un)" >&2
    fi
}

# pipec_stop_tree PID: stop PID and everything it started (dash's kill cannot signal a
# process group, and members share this shell's group). The tree is frozen first, each
# process before its children are listed, so that none starts more or sees a child end (a
# member's runtime would then mark it failed and drop its outputs); then every process gets
# SIGTERM and is let go, and ends on that pending signal before it runs again.
pipec_stop_tree() {
    pipec_tree=$(pipec_freeze "$1")
    # shellcheck disable=SC2086  # a list of process ids
    kill -s TERM $pipec_tree 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -s CONT $pipec_tree 2>/dev/null || true
}

# pipec_freeze PID: stop (SIGSTOP) PID and its descendants, printing their ids, parents first.
pipec_freeze() {
    kill -s STOP "$1" 2>/dev/null || return 0
    echo "$1"
    for pipec_child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        pipec_freeze "$pipec_child"
    done
}

# pipec_member RANK: one member of pipec_group, in a subshell of its own. Its command is
# PIPEC_COMMAND_<RANK> (the members' commands differ), else the group's PIPEC_COMMAND, whose
# values are read from variables: PIPEC_RANK_VARS lists the NAMEs whose PIPEC_<NAME> differs by
# member, each member's value in PIPEC_R<RANK>_<NAME>. The lead's metadata is the step's outputs.
pipec_member() (
    eval "PIPEC_COMMAND=\${PIPEC_COMMAND_$1-\$PIPEC_COMMAND} PIPEC_PARAMETERS=\${PIPEC_PARAMETERS_$1}"
    for pipec_name in ${PIPEC_RANK_VARS:-}; do
        eval "PIPEC_$pipec_name=\${PIPEC_R$1_$pipec_name}"
        export "PIPEC_$pipec_name"
    done
    PIPEC_EXECUTION=$1
    PIPEC_RANK=$1
    PIPEC_POD_DIR=$PIPEC_GROUP_ROOT/m$1
    PIPEC_EXEC_MOUNT=$PIPEC_POD_DIR/exec
    [ "$1" = 0 ] || PIPEC_METADATA=""  # the lead speaks for the group
    mkdir -p "$PIPEC_POD_DIR/exec/.pipec"
    [ ! -d "$PIPEC_GROUP_ROOT/up" ] || ln -s "$PIPEC_GROUP_ROOT/up" "$PIPEC_POD_DIR/up"
    export PIPEC_COMMAND PIPEC_PARAMETERS PIPEC_EXECUTION PIPEC_RANK PIPEC_POD_DIR PIPEC_EXEC_MOUNT PIPEC_METADATA
    pipec_pod < /dev/null
    [ "$1" != 0 ] || pipec_step_outputs "$PIPEC_POD_DIR/meta"
)

# ---------------------------------------------------------------------------------------
# A group of several different jobs in one GitHub Actions job (a "team"; a single job whose
# executions are the members is pipec_group above). Member r (0 is the lead) is execution 0
# of its own job, in $PIPEC_POD_DIR/m<r>/: PIPEC_M<r>_VARS lists the NAMEs whose
# PIPEC_M<r>_NAME is its PIPEC_NAME (its job, command, parameters, setup, upstream jobs...),
# and PIPEC_HOST_<r> is its host name in every member's command. With PIPEC_M0_IMAGE set,
# each member is a container of its own image (PIPEC_M<r>_IMAGE) on a Docker network of the
# team's own, where the others reach it under the network alias PIPEC_HOST_<r>; without,
# each is a process on this machine (PIPEC_HOST_<r>: 127.0.0.1). The upstream jobs' artifacts
# are in $PIPEC_POD_DIR/up/<job>/, downloaded once for every member reading them.
#
# pipec_team SIZE RULE: run the team. The lead's end ends it: the others are stopped and
# the team has the lead's status (RULE "lead"); with RULE "any" the first member to fail
# also ends it, with its status. A member stopped because the team succeeded counts as
# succeeded (its outputs are kept); one that failed, or was stopped because the team
# failed, is marked failed and keeps no outputs (pipec_team_mark).
pipec_team() {
    pipec_size=$1
    pipec_rule=$2
    PIPEC_GROUP_ROOT=$PIPEC_POD_DIR
    PIPEC_GROUP_SIZE=$1
    export PIPEC_GROUP_ROOT PIPEC_GROUP_SIZE
    pipec_team_dir=$PIPEC_GROUP_ROOT/team
    pipec_net=""
    rm -rf "$pipec_team_dir"
    mkdir -p "$pipec_team_dir/ready"
    # Each member's end is a line "<rank> <status>" on this FIFO, which this shell holds open
    # for reading and writing, so that neither side ever blocks opening it.
    mkfifo "$pipec_team_dir/ends" || pipec_die "cannot create $pipec_team_dir/ends"
    exec 3<> "$pipec_team_dir/ends"
    trap 'pipec_team_stop; exit 130' INT
    trap 'pipec_team_stop; exit 143' TERM
    [ -z "${PIPEC_M0_IMAGE:-}" ] || pipec_team_network
    pipec_r=$((pipec_size - 1))
    while [ "$pipec_r" -ge 0 ]; do
        pipec_team_spawn "$pipec_r"
        pipec_r=$((pipec_r - 1))
    done
    pipec_team_watch
    pipec_team_stop
    trap - INT TERM
    exec 3>&-
    pipec_team_mark
    return "$pipec_team_status"
}

# pipec_team_network: the team's Docker network and every member's container, created (not
# started) one after the other, the lead last: every image is pulled and every container
# exists before any member starts, so they start together, and stopping the team finds every
# container (none is still being created).
pipec_team_network() {
    command -v docker > /dev/null 2>&1 || pipec_die "a group with an image needs Docker on the runner"
    pipec_net=pipec-${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}-$$
    if ! docker network create "$pipec_net" > /dev/null; then
        pipec_net=""
        pipec_die "cannot create a Docker network for the group"
    fi
    pipec_r=$((pipec_size - 1))
    while [ "$pipec_r" -ge 0 ]; do
        if ! pipec_team_create "$pipec_r"; then
            pipec_team_stop
            pipec_die "cannot create the container of $(pipec_get "PIPEC_M${pipec_r}_JOB")" \
                "(image $(pipec_get "PIPEC_M${pipec_r}_IMAGE"))"
        fi
        pipec_r=$((pipec_r - 1))
    done
}

# pipec_team_create RANK: member RANK's container, named $pipec_net-RANK and known on the
# network as PIPEC_HOST_<RANK>. It gets this step's PIPEC_* variables by name (values never
# pass through a command line), of the members' own PIPEC_M<r>_* only its own (they hold its
# credentials), and the runner's temporary and workspace directories at the same paths; it
# runs pipec_team_member with -e, as the runner runs a step's sh.
pipec_team_create() {
    pipec_image=$(pipec_get "PIPEC_M$1_IMAGE")
    pipec_gpus=$(pipec_get "PIPEC_M$1_GPUS")
    pipec_alias=$(pipec_get "PIPEC_HOST_$1")
    set -- "$1" --name "$pipec_net-$1" --network "$pipec_net" --network-alias "$pipec_alias" \
        -v "$RUNNER_TEMP:$RUNNER_TEMP" -v "$GITHUB_WORKSPACE:$GITHUB_WORKSPACE" -w "$GITHUB_WORKSPACE"
    for pipec_name in $(env | sed -n 's/^\(PIPEC_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u) \
            GITHUB_EVENT_NAME GITHUB_WORKSPACE RUNNER_TEMP CI GITHUB_ACTIONS; do
        pipec_other_member "$1" "$pipec_name" || set -- "$@" -e "$pipec_name"
    done
    [ -z "$pipec_gpus" ] || set -- "$@" --gpus all
    pipec_rank=$1
    shift
    # shellcheck disable=SC2016  # expanded in the container
    docker create "$@" --entrypoint sh "$pipec_image" \
        -ec '. "$GITHUB_WORKSPACE/$PIPEC_RUNTIME" && pipec_team_member "$1"' pipec-member "$pipec_rank" > /dev/null
}

# pipec_team_spawn RANK: start member RANK in the background. When it ends by itself, its
# status goes to team/end.<RANK> and to pipec_team_watch; not when the team stopped it. The
# lead's output goes to the step's log, the others' to team/m<RANK>.log (shown at the end).
# The member runs under -e (a command in an || list would run with -e ignored).
pipec_team_spawn() {
    (
        set +e
        if [ "$1" = 0 ]; then
            (set -e; pipec_team_start "$1") 3>&- < /dev/null
        else
            (set -e; pipec_team_start "$1") 3>&- < /dev/null > "$pipec_team_dir/m$1.log" 2>&1
        fi
        pipec_status=$?
        if [ ! -e "$pipec_team_dir/stopping" ]; then
            echo "$pipec_status" > "$pipec_team_dir/end.$1"
            printf '%s %s\n' "$1" "$pipec_status" >&3
        fi
    ) &
    eval "pipec_pid_$1=\$!"
}

# pipec_team_start RANK: member RANK, in the foreground: its container, or its process.
pipec_team_start() {
    if [ -n "$pipec_net" ]; then
        docker start -a "$pipec_net-$1"
    else
        pipec_team_member "$1"
    fi
}

# pipec_team_watch: wait for the end that ends the team: the lead's, or (RULE any) the first
# failure. A member that fails before every member reached the barrier would leave the others
# waiting there for ever: a failure breaks the barrier (team/ready/broken).
pipec_team_watch() {
    pipec_team_status=""
    pipec_team_ender=0
    while [ -z "$pipec_team_status" ]; do
        if ! read -r pipec_r pipec_st <&3; then
            pipec_team_status=1
            break
        fi
        [ "$pipec_st" = 0 ] || : > "$pipec_team_dir/ready/broken"
        if [ "$pipec_r" = 0 ] || { [ "$pipec_st" != 0 ] && [ "$pipec_rule" = any ]; }; then
            pipec_team_status=$pipec_st
            pipec_team_ender=$pipec_r
        fi
    done
}

# pipec_team_stop: stop the members still running (a container is removed, which kills it;
# a process tree is stopped), wait for them, show the others' logs and remove the network.
pipec_team_stop() {
    : > "$pipec_team_dir/stopping"
    pipec_r=0
    while [ "$pipec_r" -lt "$pipec_size" ]; do
        if [ -n "$pipec_net" ]; then
            docker rm -f "$pipec_net-$pipec_r" > /dev/null 2>&1 || true
        elif [ ! -e "$pipec_team_dir/end.$pipec_r" ]; then
            eval "pipec_pid=\${pipec_pid_$pipec_r:-}"
            [ -z "$pipec_pid" ] || pipec_stop_tree "$pipec_pid"
        fi
        pipec_r=$((pipec_r + 1))
    done
    wait 2>/dev/null || true
    pipec_r=1
    while [ "$pipec_r" -lt "$pipec_size" ]; do
        printf '::group::member %s (%s)\n' "$pipec_r" "$(pipec_get "PIPEC_M${pipec_r}_JOB")"
        cat "$pipec_team_dir/m$pipec_r.log" 2>/dev/null || true
        printf '::endgroup::\n'
        pipec_r=$((pipec_r + 1))
    done
    if [ -n "$pipec_net" ]; then
        pipec_give_back "$PIPEC_M0_IMAGE"
        docker network rm "$pipec_net" > /dev/null 2>&1 || true
        pipec_net=""
    fi
}

# pipec_team_mark: the markers of the members the team stopped, and of those that died
# before their command ran (pipec_run marks the others): a member stopped when the team
# succeeded is ok; any other that did not succeed is failed and its outputs are dropped, so
# that no downstream job stages them.
pipec_team_mark() {
    pipec_r=0
    while [ "$pipec_r" -lt "$pipec_size" ]; do
        pipec_exec=$PIPEC_GROUP_ROOT/m$pipec_r/exec
        mkdir -p "$pipec_exec/.pipec"
        if [ -e "$pipec_team_dir/end.$pipec_r" ]; then
            pipec_st=$(cat "$pipec_team_dir/end.$pipec_r")
            if [ "$pipec_st" != 0 ] && [ ! -e "$pipec_exec/.pipec/failed" ]; then
                pipec_mark_failed "$pipec_st" "it ended with status $pipec_st before its command ran" "$pipec_exec"
            fi
        elif [ "$pipec_team_status" = 0 ]; then
            : > "$pipec_exec/.pipec/ok"
        else
            pipec_why="stopped: $(pipec_get "PIPEC_M${pipec_team_ender}_JOB") ended with status $pipec_team_status"
            pipec_mark_failed "$pipec_team_status" "$pipec_why" "$pipec_exec"
        fi
        if [ -e "$pipec_exec/.pipec/failed" ]; then
            rm -f "$pipec_exec/.pipec/ok"
            rm -rf "$pipec_exec/outputs"
        fi
        pipec_r=$((pipec_r + 1))
    done
}

# pipec_team_member RANK: member RANK of pipec_team, in a subshell of its own (a process on
# the runner, or the command of its container): its PIPEC_M<RANK>_* variables become its
# PIPEC_* ones, its upstream jobs' downloads are linked where pipec_pod looks for them
# ($PIPEC_POD_DIR/up/<n>, the n-th job in PIPEC_UPSTREAM), and it runs as execution 0.
pipec_team_member() (
    for pipec_name in $(pipec_get "PIPEC_M$1_VARS"); do
        eval "PIPEC_$pipec_name=\${PIPEC_M$1_$pipec_name}"
        export "PIPEC_$pipec_name"
    done
    # The members' own variables are this member's PIPEC_* now; the others' (their credentials
    # among them) are not its to see.
    for pipec_name in $(env | sed -n 's/^\(PIPEC_M[0-9][0-9]*_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u); do
        unset "$pipec_name"
    done
    PIPEC_EXECUTION=0
    PIPEC_RANK=$1
    PIPEC_POD_DIR=$PIPEC_GROUP_ROOT/m$1
    PIPEC_EXEC_MOUNT=$PIPEC_POD_DIR/exec
    export PIPEC_EXECUTION PIPEC_RANK PIPEC_POD_DIR PIPEC_EXEC_MOUNT
    mkdir -p "$PIPEC_POD_DIR/up"
    pipec_n=0
    for pipec_up in ${PIPEC_UPSTREAM:-}; do
        ln -s "$PIPEC_GROUP_ROOT/up/$pipec_up" "$PIPEC_POD_DIR/up/$pipec_n"
        pipec_n=$((pipec_n + 1))
    done
    pipec_pod
)

# pipec_team_barrier: the last line of a member's setup in a group with a barrier. Its inputs
# are staged; it says so (team/ready/<rank>) and waits until every member has, so that no
# command starts before every member is up (with containers: every container runs, as it
# reached this line). A member that failed before getting here breaks the barrier
# (pipec_team_watch): the others fail rather than wait for ever.
pipec_team_barrier() {
    : > "$PIPEC_GROUP_ROOT/team/ready/$PIPEC_RANK"
    while :; do
        # Every member got here (ready files stay): passed, even if one failed since.
        set -- "$PIPEC_GROUP_ROOT/team/ready/"[0-9]*
        [ "$#" -lt "$PIPEC_GROUP_SIZE" ] || return 0
        [ ! -e "$PIPEC_GROUP_ROOT/team/ready/broken" ] ||
            pipec_die "a member of the group failed before every member was up (barrier)"
        sleep 0.1 2>/dev/null || sleep 1
    done
}

# pipec_team_publish SIZE: move each member's execution to art/<job>/0/, uploaded as the
# artifact pipec.<job>.0, as a job of one execution is (so a downstream job of any member
# finds its files where it would find any job's).
pipec_team_publish() {
    PIPEC_POD_DIR=${PIPEC_POD_DIR:-/pipec}
    pipec_r=0
    while [ "$pipec_r" -lt "$1" ]; do
        PIPEC_PUBLISH_INPUTS=$(pipec_get "PIPEC_M${pipec_r}_PUBLISH_INPUTS")
        pipec_move "$PIPEC_POD_DIR/m$pipec_r/exec" "$(pipec_get "PIPEC_M${pipec_r}_JOB")/0"
        pipec_r=$((pipec_r + 1))
    done
}

# pipec_secret_files VAR CREDENTIAL SECRET DIR: credential CREDENTIAL, mounted as directory
# DIR (one file per key), arrives in variable VAR from the GitHub secret SECRET, which holds it
# as a dotenv file: one KEY=VALUE line per key (LF or CRLF line ends; empty lines and lines
# starting with # are skipped). Each VALUE (every byte after the first '=' up to the line's
# end, nothing unquoted or trimmed) is written to DIR/KEY, readable by this user only. A KEY
# is letters, digits, '.', '_' and '-' (as a key of a Kubernetes Secret), not . or ..; a
# line that is not KEY=VALUE, or a key given twice, fails the execution before its command,
# the message naming the credential and the line, never what the line holds. VAR is unset:
# the command sees the files, not the secret.
pipec_secret_files() {
    eval "pipec_dotenv=\${$1:-}"
    unset "$1"
    [ -n "$pipec_dotenv" ] || pipec_die "credential $2 (mounted at $4) comes from the GitHub secret $3, which is" \
        "empty or not set: create the repository secret $3 holding one KEY=VALUE line per key of the credential"
    pipec_umask=$(umask)
    umask 077
    mkdir -p "$4" || pipec_die "cannot create the directory $4 of credential $2"
    pipec_nl='
'
    pipec_cr=$(printf '\r')
    pipec_keys=" "
    pipec_n=0
    while [ -n "$pipec_dotenv" ]; do
        pipec_n=$((pipec_n + 1))
        case $pipec_dotenv in
            *"$pipec_nl"*)
                pipec_line=${pipec_dotenv%%"$pipec_nl"*}
                pipec_dotenv=${pipec_dotenv#*"$pipec_nl"}
                ;;
            *)
                pipec_line=$pipec_dotenv
                pipec_dotenv=""
                ;;
        esac
        pipec_line=${pipec_line%"$pipec_cr"}
        case $pipec_line in
            "" | "#"*) continue ;;
            *=*) ;;
            *) pipec_secret_refuse "$2" "$3" "line $pipec_n is not KEY=VALUE (it has no '=')" ;;
        esac
        pipec_key=${pipec_line%%=*}
        case $pipec_key in
            "" | . | .. | *[!A-Za-z0-9._-]*)
                pipec_secret_refuse "$2" "$3" "line $pipec_n has no valid key before its '=' (a key is" \
                    "letters, digits, '.', '_' and '-', not . or ..)"
                ;;
        esac
        case $pipec_keys in
            *" $pipec_key "*) pipec_secret_refuse "$2" "$3" "line $pipec_n gives key $pipec_key again" ;;
        esac
        pipec_keys="$pipec_keys$pipec_key "
        printf '%s' "${pipec_line#*=}" > "$4/$pipec_key" ||
            pipec_secret_refuse "$2" "$3" "cannot write key $pipec_key to $4/$pipec_key"
    done
    pipec_line=""
    umask "$pipec_umask"
    [ "$pipec_keys" != " " ] || pipec_die "credential $2 (mounted at $4): the GitHub secret $3 holds no" \
        "KEY=VALUE line"
}

# pipec_secret_refuse CREDENTIAL SECRET WHY...: fail, forgetting what was read of the secret.
pipec_secret_refuse() {
    pipec_dotenv=""
    pipec_line=""
    pipec_c=$1
    pipec_s=$2
    shift 2
    pipec_die "credential $pipec_c: the GitHub secret $pipec_s must hold one KEY=VALUE line per key (a dotenv" \
        "file): $*"
}

# pipec_other_member RANK NAME: whether variable NAME is another member's own (PIPEC_M<r>_*, r
# not RANK).
pipec_other_member() {
    case $2 in
        "PIPEC_M$1_"*) return 1 ;;
        PIPEC_M[0-9]*_*)
            pipec_rest=${2#PIPEC_M}
            case ${pipec_rest%%_*} in
                *[!0-9]*) return 1 ;;
            esac
            return 0
            ;;
    esac
    return 1
}

# pipec_get NAME: the value of the variable NAME, a name pipec wrote ("" when unset).
pipec_get() {
    eval "printf '%s' \"\${$1:-}\""
}

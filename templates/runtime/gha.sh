# shellcheck shell=sh
# pipec runtime, GitHub Actions part (joined after core.sh and pod.sh, for GitHub Actions only):
# publishing each execution's directory as the job's artifact, and groups run inside one job
# (members as background processes, or as Docker containers on a network of their own), each
# member an execution run by pipec_pod.

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

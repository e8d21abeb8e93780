#!/usr/bin/env bash
# A second Docker engine on this machine, as a Swarm worker: its own network namespace (a veth
# pair to the host), its own data root, busybox:latest loaded, joined to the local manager and
# labelled gofer-test-role=worker. Needs root, iproute2 and nsenter.
#
#   Tests/swarm/worker-node.sh up      prints the worker's node id and socket
#   Tests/swarm/worker-node.sh down    leaves the swarm, removes the node, stops the engine, deletes it all
#
# `ip netns exec` would remount /sys (losing the cgroup mounts dockerd needs), so the engine
# enters only the network namespace, with nsenter.
set -euo pipefail
name=${GOFER_WORKER_NAME:-gofer-w1}
root=/tmp/$name
sock=$root/docker.sock
ns=$name
host_if=${name}-h
node_if=${name}-n
subnet=${GOFER_WORKER_SUBNET:-10.77.0}
worker="docker -H unix://$sock"

down() {
    if [ -S "$sock" ]; then
        id=$($worker info --format '{{.Swarm.NodeID}}' 2>/dev/null || true)
        timeout 20 $worker swarm leave --force >/dev/null 2>&1 || true
        [ -n "$id" ] && docker node rm --force "$id" >/dev/null 2>&1 || true
    fi
    if [ -f "$root/docker.pid" ]; then
        pid=$(cat "$root/docker.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    # What a killed engine left behind: its containers' processes (in its own cgroup parent), its
    # containerd and shims, and its mounts.
    for procs in /sys/fs/cgroup/*/"$name"/*/cgroup.procs; do
        [ -f "$procs" ] && xargs -r kill -9 <"$procs" 2>/dev/null || true
    done
    pkill -9 -f "containerd.*$root" 2>/dev/null || true
    grep " $root" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    ip link del "$host_if" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    # Nodes of earlier runs that never left (a killed test): gone for good.
    for stale in $(docker node ls --filter role=worker --format '{{.ID}} {{.Status}}' 2>/dev/null | awk '$2=="Down"{print $1}'); do
        docker node rm --force "$stale" >/dev/null 2>&1 || true
    done
    rm -rf "$root" 2>/dev/null || true
}

up() {
    down
    [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ] || { echo "the local engine is not in swarm mode (docker swarm init)" >&2; exit 1; }
    manager=$(docker info --format '{{.Swarm.NodeAddr}}')
    mkdir -p "$root"
    ip netns add "$ns"
    ip link add "$host_if" type veth peer name "$node_if"
    ip link set "$node_if" netns "$ns"
    ip addr add "$subnet.1/24" dev "$host_if"
    ip link set "$host_if" up
    ip netns exec "$ns" ip addr add "$subnet.2/24" dev "$node_if"
    ip netns exec "$ns" ip link set "$node_if" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip route add default via "$subnet.1"
    # No registry is reachable: never try to pull what is loaded (each try waits for DNS to time out).
    (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 nsenter --net=/run/netns/"$ns" dockerd --data-root "$root/data" --exec-root "$root/exec" \
        --pidfile "$root/docker.pid" -H "unix://$sock" --bip 10.78.0.1/24 --cgroup-parent "/$name" </dev/null >"$root/dockerd.log" 2>&1 &)
    for _ in $(seq 1 60); do $worker info >/dev/null 2>&1 && break; sleep 0.5; done
    $worker info >/dev/null 2>&1 || { echo "the worker engine did not start:" >&2; tail -20 "$root/dockerd.log" >&2; exit 1; }
    docker save busybox:latest | $worker load -q >/dev/null
    token=$(docker swarm join-token -q worker)
    timeout 60 $worker swarm join --token "$token" --advertise-addr "$subnet.2" --listen-addr "$subnet.2:2377" "$manager:2377" >/dev/null
    id=$($worker info --format '{{.Swarm.NodeID}}')
    for _ in $(seq 1 60); do [ "$(docker node inspect "$id" --format '{{.Status.State}}')" = ready ] && break; sleep 0.5; done
    docker node update --label-add gofer-test-role=worker "$id" >/dev/null
    echo "$id $sock"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Installs and starts what scripts/release.sh built, as a user would:
#   1. the tarball: checksums, `gofer --version` with the commit, the demo from the unpacked tree;
#   2. the .deb in a clean Debian root (debootstrap) with apt resolving its Depends, booted with systemd
#      (systemd-nspawn): the unit starts as the gofer user, serves the API, runs a pipeline under its
#      hardening (a read-only system), stops, and remove/purge leave what they promise;
#   3. the images: the server image runs the demo on the Docker engine it is given, serves a pipeline whose
#      task uses the gofer-cli image to read its own run through the API with its run token.
#   Tests/release/test-release.sh DIST_DIR      (needs root, debootstrap, systemd-container, docker, curl)
# Everything it creates (roots, containers, images, volumes) is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
dist=$(cd "${1:?usage: test-release.sh DIST_DIR}" && pwd)
mirror=${GOFER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

version=$(sed -n 's/^public let goferVersion = "\(.*\)"$/\1/p' Sources/Host/GoferCore/BuildInfo.swift)
tarball=$(ls "$dist"/gofer-"$version"-linux-*.tar.gz)
deb=$(ls "$dist"/gofer_"$version"_*.deb)
images="$dist/gofer-images-$version.tar.gz"

work=$(mktemp -d)
nspawn_pid= server=
cleanup() {
    set +e
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid"
        for _ in $(seq 1 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 1; done
        kill -KILL "$nspawn_pid" 2>/dev/null
    fi
    [ -n "$server" ] && { docker stop -t 20 "$server"; docker rm -f "$server"; } >/dev/null 2>&1
    docker volume rm -f gofer-release-test >/dev/null 2>&1
    docker rmi -f "gofer:$version" "gofer-cli:$version" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_health() { # $1 = address; prints the health answer
    for _ in $(seq 1 60); do
        curl -sf "http://$1/api/health" && return 0
        sleep 1
    done
    return 1
}

# 1. The tarball.
step "tarball $(basename "$tarball")"
(cd "$dist" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS of $dist do not match"
tar -C "$work" -xzf "$tarball"
tree=$(ls -d "$work"/gofer-"$version"-linux-*)
(cd "$tree" && sha256sum -c --quiet SHA256SUMS) || fail "the tarball's SHA256SUMS do not match its files"
shown=$("$tree/bin/gofer" --version)
commit=${shown#"$version (commit "}
commit=${commit%)}
[[ "$shown" == "$version (commit "*")" && -n "$commit" ]] || fail "gofer --version says '$shown', not '$version (commit …)'"
echo "gofer --version: $shown"
for b in "$tree"/libexec/gofer/* "$tree/bin/gofer-conformance"; do
    ! ldd "$b" | grep -qi swift || fail "$b loads a Swift library: $(ldd "$b" | grep -i swift)"
done
out=$(cd "$work" && HOME="$work" "$tree/bin/gofer" demo --scheduler process 2>&1) || { echo "$out"; fail "the demo from the tarball failed"; }
echo "$out" | grep -q "succeeded" || { echo "$out"; fail "the tarball's demo run did not succeed"; }
echo "the unpacked tarball runs the demo (bundled extensions found beside bin/gofer's target)"

# 2. The Debian package in a clean root, booted.
step "$(basename "$deb") in a clean $suite root"
dpkg-deb --info "$deb" | grep -E '^ (Package|Version|Depends):'
root="$work/root"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap of a clean $suite root failed"; }
cp "$deb" "$root/var/cache/gofer.deb"
in_root() { systemd-nspawn --register=no --keep-unit -q -D "$root" --pipe "$@" 2> >(grep -v 'remove disk file system' >&2); }
in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /var/cache/gofer.deb' >"$work/apt.log" 2>&1 ||
    { tail -30 "$work/apt.log"; fail "apt-get install of the .deb failed in the clean root"; }
in_root getent passwd gofer | grep -q ':/var/lib/gofer:' || fail "the package made no gofer user with home /var/lib/gofer"
mode=$(in_root stat -c '%U %a' /var/lib/gofer)
[ "$mode" = "gofer 750" ] || fail "/var/lib/gofer is $mode, not gofer 750"
mode=$(in_root stat -c '%U:%G %a' /etc/gofer/gofer.yaml)
[ "$mode" = "root:gofer 640" ] || fail "/etc/gofer/gofer.yaml is $mode, not root:gofer 640"
[ -L "$root/etc/systemd/system/multi-user.target.wants/gofer.service" ] || fail "the unit is not enabled"
in_root /usr/bin/gofer --version | grep -qF "$shown" || fail "the installed gofer is not $shown"
echo "installed: gofer user, /var/lib/gofer 0750, /etc/gofer/gofer.yaml root:gofer 0640, unit enabled"
exposure=$(systemd-analyze security --offline=true --root="$root" gofer.service 2>/dev/null | tail -1 || true)
echo "systemd-analyze security gofer.service: ${exposure:-(not available)}"

# The admin's edit of the config file: another port (the root shares this machine's network), the
# process scheduler (no Docker inside the root).
port=$(free_port)
printf 'listen: 127.0.0.1:%s\ndata_dir: /var/lib/gofer\nscheduler: process\n' "$port" > "$root/etc/gofer/gofer.yaml"
systemd-nspawn --register=no --keep-unit -q -D "$root" --boot >"$work/boot.log" 2>&1 </dev/null &
nspawn_pid=$!
health=$(wait_health "127.0.0.1:$port") || { tail -40 "$work/boot.log"; fail "the gofer service did not answer on 127.0.0.1:$port within 60 s of booting"; }
echo "$health" | grep -q "\"commit\":\"$commit\"" || fail "GET /api/health says $health, not commit $commit"
echo "booted; the service answers: $health"
token=$(cat "$root/var/lib/gofer/admin-token")
export GOFER_HOST="127.0.0.1:$port" GOFER_TOKEN="$token"
cat > "$work/hardened.yaml" <<'EOF'
id: hardened
tasks:
  - id: who
    image: none
    command: ["sh", "-c", "echo user=$(id -un); if touch /usr/gofer-was-here 2>/dev/null; then echo system=writable; else echo system=read-only; fi; echo home=$HOME"]
EOF
"$tree/bin/gofer" pipeline apply "$work/hardened.yaml" >/dev/null
"$tree/bin/gofer" run start hardened --wait >/dev/null || fail "a run on the installed service failed"
log=$("$tree/bin/gofer" task logs hardened 1 who)
echo "$log"
echo "$log" | grep -q '^user=gofer$' || fail "tasks of the service do not run as the gofer user"
echo "$log" | grep -q '^system=read-only$' || fail "the service can write to /usr (ProtectSystem=strict missing?)"
leader=$(pgrep -P "$nspawn_pid" | head -1)
[ -n "$leader" ] || fail "no init in the booted root"
in_boot() { nsenter -t "$leader" -m -u -i -n -p "$@"; }
[ "$(in_boot systemctl is-active gofer.service)" = active ] || fail "systemctl is-active gofer.service is not active"
in_boot systemctl stop gofer.service
! curl -sf "http://127.0.0.1:$port/api/health" >/dev/null || fail "the service still answers after systemctl stop"
in_boot journalctl -u gofer.service --no-pager -o cat | grep -q "listening on 127.0.0.1:$port" || fail "the journal has no 'listening on' line"
kill -TERM "$nspawn_pid"
for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 1; done
! kill -0 "$nspawn_pid" 2>/dev/null || fail "the booted root did not power off"
nspawn_pid=
echo "systemctl stop stopped it; the journal has its log; the root powered off"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq gofer' >/dev/null 2>&1 || fail "apt-get remove gofer failed"
[ -f "$root/var/lib/gofer/gofer.sqlite" ] && in_root getent passwd gofer >/dev/null || fail "remove deleted the data or the user"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq gofer' >/dev/null 2>&1 || fail "apt-get purge gofer failed"
[ ! -e "$root/var/lib/gofer" ] && [ ! -e "$root/etc/gofer" ] && ! in_root getent passwd gofer >/dev/null || fail "purge left the data, the settings or the user"
echo "remove kept the data and the user; purge removed them"
unset GOFER_HOST GOFER_TOKEN

# 3. The images.
step "images $(basename "$images")"
docker rmi -f "gofer:$version" "gofer-cli:$version" >/dev/null 2>&1 || true
docker load -q -i "$images" >/dev/null
[ "$(docker run --rm "gofer:$version" --version)" = "$shown" ] || fail "the server image's gofer --version is not $shown"
[ "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "gofer:$version")" = "$commit" ] ||
    fail "the image's revision label is not $commit"
sock=/var/run/docker.sock
gid=$(stat -c %g "$sock")
out=$(docker run --rm -v "$sock:$sock" --group-add "$gid" "gofer:$version" demo 2>&1) || { echo "$out"; fail "gofer demo in the server image failed"; }
echo "$out" | tail -3
echo "$out" | grep -q "succeeded" || fail "the image's demo run did not succeed"
echo "the server image (FROM scratch, user $(docker image inspect -f '{{.Config.User}}' "gofer:$version")) ran the demo on this Docker engine"

port=$(free_port)
server=$(docker run -d -p "127.0.0.1:$port:8080" -v gofer-release-test:/var/lib/gofer -v "$sock:$sock" --group-add "$gid" "gofer:$version")
wait_health "127.0.0.1:$port" >/dev/null || { docker logs "$server"; fail "the server image did not answer on 127.0.0.1:$port"; }
token=$(docker exec "$server" /usr/bin/gofer --version >/dev/null && docker cp "$server:/var/lib/gofer/admin-token" - | tar -xO)
cat > "$work/cli.yaml" <<EOF
id: release-cli
inject_api_token: true
tasks:
  - id: hello
    image: busybox:latest
    command: ["sh", "-c", "echo hello from the first task"]
  - id: report
    image: gofer-cli:$version
    depends_on: [hello]
    command: ["sh", "-c", "gofer run get \$GOFER_PIPELINE \$GOFER_RUN && gofer task logs \$GOFER_PIPELINE \$GOFER_RUN hello"]
EOF
export GOFER_HOST="127.0.0.1:$port" GOFER_TOKEN="$token"
"$tree/bin/gofer" pipeline apply "$work/cli.yaml" >/dev/null
"$tree/bin/gofer" run start release-cli --wait >/dev/null || { "$tree/bin/gofer" run get release-cli 1; "$tree/bin/gofer" task logs release-cli 1 report; fail "the run with the gofer-cli task failed"; }
log=$("$tree/bin/gofer" task logs release-cli 1 report)
echo "$log"
echo "$log" | grep -q "hello from the first task" || fail "the gofer-cli task did not read the first task's log through the API"
echo "a task in gofer-cli:$version read its own run through the API with its run token"

#!/usr/bin/env bash
# Builds a Gofer release: self-contained binaries (the Swift runtime linked in: `ldd` lists only the C
# library and the system libraries of scripts/release/debian/control's Depends) and the three ways to install them.
#
#   scripts/release.sh [--out DIR] [--no-images] [--no-build]
#
# Writes to DIR (default dist/):
#   gofer-VERSION-linux-ARCH.tar.gz   gofer, gofer-conformance and every extension of registry/index.json, with
#                                     an example config, the systemd unit and the docs; SHA256SUMS inside
#   gofer_VERSION_DEBARCH.deb         the same as a Debian package: /usr/bin/gofer, /usr/libexec/gofer, a `gofer`
#                                     system user, data in /var/lib/gofer, config in /etc/gofer, a hardened unit
#   gofer-images-VERSION.tar.gz         `docker save` of gofer:VERSION (the server, FROM scratch) and
#                                     gofer-cli:VERSION (busybox + the CLI, for tasks that talk to the API)
#   SHA256SUMS                        of the three
# Also tags the two images in the local Docker engine (unless --no-images). The commit goes into the binaries
# (`gofer --version`, GET /api/health) through GOFER_BUILD_COMMIT; see Package.swift.
# Needs: swift (with the static Swift SDK files, swift_static), dpkg-deb, dpkg-shlibdeps, python3, docker
# (for images). Installing and starting what it builds is tested by Tests/release/test-release.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist images=1 build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --no-images) images=0; shift ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

# The version has one definition, in the source; the commit comes from git.
version=$(sed -n 's/^public let goferVersion = "\(.*\)"$/\1/p' Sources/Host/GoferCore/BuildInfo.swift)
[ -n "$version" ] || { echo "release.sh: no goferVersion in Sources/Host/GoferCore/BuildInfo.swift" >&2; exit 1; }
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit-dirty"; fi
arch=$(uname -m)
debarch=$(dpkg --print-architecture)

# Every extension the bundled registry names (registry/index.json is the one list; a test keeps the
# binary's copy equal to it).
mapfile -t extensions < <(python3 -c '
import json
index = json.load(open("registry/index.json"))
print("\n".join(sorted({v["source"]["buildProduct"] for e in index["extensions"] for v in e["versions"] if "buildProduct" in v["source"]})))')
products=(gofer gofer-conformance "${extensions[@]}")

if [ "$build" = 1 ]; then
    buildlog=$(mktemp /tmp/gofer-release-build.XXXXXX)
    for p in "${products[@]}"; do
        echo "== swift build -c release --static-swift-stdlib --product $p (commit $commit)"
        if ! GOFER_BUILD_COMMIT=$commit swift build -c release --static-swift-stdlib --product "$p" >"$buildlog" 2>&1; then
            grep -E 'error:' "$buildlog" >&2 || tail -40 "$buildlog" >&2
            echo "release.sh: building $p failed (whole log: $buildlog)" >&2
            exit 1
        fi
    done
    rm -f "$buildlog"
fi
bin=$(swift build -c release --show-bin-path)

# Self-contained: no Swift library resolved at run time, and the commit is in the binary.
for p in "${products[@]}"; do
    [ -x "$bin/$p" ] || { echo "release.sh: $bin/$p was not built" >&2; exit 1; }
    if ldd "$bin/$p" | grep -qi 'libswift\|libFoundation\|libdispatch\|libBlocksRuntime'; then
        echo "release.sh: $p links the Swift runtime dynamically:" >&2; ldd "$bin/$p" >&2; exit 1
    fi
done
shown=$("$bin/gofer" --version)
[ "$shown" = "$version (commit $commit)" ] || {
    echo "release.sh: gofer --version says '$shown', not '$version (commit $commit)' (built before GOFER_BUILD_COMMIT was set? rerun without --no-build)" >&2
    exit 1
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The installed tree, shared by the tarball, the .deb and the server image:
#   bin/gofer -> ../libexec/gofer/gofer   (bundled extensions live beside the real gofer)
#   bin/gofer-conformance                 (for extension authors; needs nothing else)
#   libexec/gofer/{gofer,gofer-scheduler-docker,…}
#   share/gofer/{gofer.yaml,gofer.service}, share/doc/gofer/…
tree() { # $1 = root of the tree
    local root=$1
    mkdir -p "$root/bin" "$root/libexec/gofer" "$root/share/gofer" "$root/share/doc/gofer"
    for p in gofer "${extensions[@]}"; do install -m 0755 -s "$bin/$p" "$root/libexec/gofer/$p"; done
    install -m 0755 -s "$bin/gofer-conformance" "$root/bin/gofer-conformance"
    ln -s ../libexec/gofer/gofer "$root/bin/gofer"
    install -m 0644 scripts/release/gofer.yaml "$root/share/gofer/gofer.yaml"
    install -m 0644 scripts/release/gofer.service "$root/share/gofer/gofer.service"
    install -m 0644 README.md "$root/share/doc/gofer/README.md"
    cp -r docs "$root/share/doc/gofer/docs"
    mkdir -p "$root/share/doc/gofer/examples"
    cp examples/*.yaml "$root/share/doc/gofer/examples/"
}

# (a) The tarball.
name="gofer-$version-linux-$arch"
tree "$stage/$name"
(cd "$stage/$name" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS)
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
echo "== $out/$name.tar.gz"

# (b) The Debian package. /usr/bin/gofer is the entry; the unit runs it as the gofer user.
deb="$stage/deb"
tree "$deb/usr"
rm "$deb/usr/share/gofer/gofer.service"
install -D -m 0644 scripts/release/gofer.service "$deb/usr/lib/systemd/system/gofer.service"
install -D -m 0640 scripts/release/gofer.yaml "$deb/etc/gofer/gofer.yaml"
mkdir -p "$deb/DEBIAN"
# Depends: what dpkg-shlibdeps finds the binaries need (the C library, libcurl, libsqlite3 …), plus adduser.
shlibs=$(cd "$stage" && mkdir -p debian && printf 'Source: gofer\n\nPackage: gofer\nArchitecture: any\n' > debian/control &&
    dpkg-shlibdeps -O -e"$deb/usr/libexec/gofer/gofer" -e"$deb/usr/bin/gofer-conformance" \
        $(for e in "${extensions[@]}"; do printf -- '-e%s ' "$deb/usr/libexec/gofer/$e"; done) 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "release.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk "$deb/usr" "$deb/etc" | awk '{ s += $1 } END { print s }')
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$debarch/" -e "s/@DEPENDS@/$shlibs, adduser/" -e "s/@SIZE@/$size/" \
    scripts/release/debian/control > "$deb/DEBIAN/control"
for f in conffiles postinst prerm postrm; do install -m 0755 "scripts/release/debian/$f" "$deb/DEBIAN/$f"; done
chmod 0644 "$deb/DEBIAN/conffiles"
dpkg-deb --root-owner-group -Zgzip --build "$deb" "$out/gofer_${version}_$debarch.deb" >/dev/null
echo "== $out/gofer_${version}_$debarch.deb"

(cd "$out" && sha256sum "$name.tar.gz" "gofer_${version}_$debarch.deb" > SHA256SUMS)

# (c) The images: the server FROM scratch (its binaries, the C libraries they load, CA certificates, a
# passwd entry for the unprivileged user), and the CLI on busybox for tasks.
if [ "$images" = 1 ]; then
    # The C libraries a binary loads (and the dynamic loader), copied to the same paths under a root.
    with_libs() { # $1 = root, then binaries
        local root=$1 lib
        shift
        for b in "$@"; do
            ldd "$b" | awk '/=>/ { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
                [ -e "$lib" ] || continue
                mkdir -p "$root$(dirname "$lib")"
                cp -L "$lib" "$root$lib"
            done
        done
        # getaddrinfo loads these at run time (NSS): names from /etc/hosts and DNS.
        for lib in /lib/"$(gcc -print-multiarch 2>/dev/null || echo "$arch-linux-gnu")"/libnss_{files,dns}.so.2; do
            [ -e "$lib" ] && { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
        done
        mkdir -p "$root/etc/ssl/certs" "$root/tmp"
        chmod 1777 "$root/tmp"
        cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
        printf 'root:x:0:0:root:/root:/sbin/nologin\ngofer:x:10001:10001:Gofer:/var/lib/gofer:/sbin/nologin\n' > "$root/etc/passwd"
        printf 'root:x:0:\ngofer:x:10001:\n' > "$root/etc/group"
        printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
    }
    labels=(--label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$commit")

    ctx="$stage/image"
    # /var/lib exists in the root; /var/lib/gofer is made by the Dockerfile's COPY --chown (owned by the user).
    mkdir -p "$ctx/root/usr" "$ctx/root/var/lib" "$ctx/data"
    tree "$ctx/root/usr"
    rm -rf "$ctx/root/usr/share/doc"
    with_libs "$ctx/root" "$ctx/root/usr/libexec/gofer/"* "$ctx/root/usr/bin/gofer-conformance"
    cp scripts/release/image/Dockerfile "$ctx/Dockerfile"
    docker build -q "${labels[@]}" -t "gofer:$version" -t gofer:latest "$ctx" >"$stage/build.log" 2>&1 || { cat "$stage/build.log" >&2; exit 1; }
    echo "== image gofer:$version"

    # The CLI image: gofer and a shell (busybox-static) with the C libraries, FROM scratch too.
    busybox=$(command -v busybox || true)
    [ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 || { echo "release.sh: the CLI image needs a static busybox (apt install busybox-static)" >&2; exit 1; }
    cli="$stage/cli"
    mkdir -p "$cli/root/bin" "$cli/root/usr/bin"
    install -m 0755 -s "$bin/gofer" "$cli/root/usr/bin/gofer"
    cp "$busybox" "$cli/root/bin/busybox"
    for a in $("$busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$cli/root/bin/$a"; done
    with_libs "$cli/root" "$cli/root/usr/bin/gofer"
    cp scripts/release/image/Dockerfile.cli "$cli/Dockerfile"
    docker build -q "${labels[@]}" -t "gofer-cli:$version" -t gofer-cli:latest "$cli" >"$stage/build.log" 2>&1 || { cat "$stage/build.log" >&2; exit 1; }
    echo "== image gofer-cli:$version"

    docker save "gofer:$version" "gofer-cli:$version" | gzip -6 > "$out/gofer-images-$version.tar.gz"
    (cd "$out" && sha256sum "gofer-images-$version.tar.gz" >> SHA256SUMS)
    echo "== $out/gofer-images-$version.tar.gz (docker load -i …)"
fi
echo "gofer $version (commit $commit): $(du -sh "$out" | cut -f1) in $out"

#!/usr/bin/env bash
# Proves an extension author needs no Swift: runs the self-contained gofer-conformance (built with
# --static-swift-stdlib) against the Python example extension (on the Python SDK, packed into one file) inside a container whose file system
# holds only the C library and what Python needs — no Swift runtime, no toolchain.
# Given a self-contained gofer too, the same container runs the demo server with its bundled
# extensions (built beside it) on the process scheduler: the server needs no Swift runtime either.
#   Tests/static/conformance-without-swift.sh [path/to/static/gofer-conformance [path/to/static/gofer]]
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build/release/gofer-conformance}
gofer=${2:-}
[ -x "$binary" ] || { echo "no $binary: swift build -c release --static-swift-stdlib --product gofer-conformance"; exit 1; }
for b in "$binary" ${gofer:+"$gofer"}; do
    if ldd "$b" | grep -qi swift; then
        echo "$b links Swift libraries dynamically; build it with --static-swift-stdlib:"; ldd "$b"; exit 1
    fi
done
python=$(python3 -c 'import sys; print(sys.executable)')
prefix=$(python3 -c 'import sys; print(sys.prefix)')
pyver=$(python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')

root=$(mktemp -d)
image="gofer-conformance-test:$$"
cleanup() { docker rmi -f "$image" >/dev/null 2>&1 || true; rm -rf "$root"; }
trap cleanup EXIT

# Shared libraries (and the dynamic loader) of a binary, copied to the same paths in the root.
copy_libs() {
    ldd "$1" | awk '/=>/ { print $3 } $1 ~ /ld-linux/ { print $1 }' | sort -u | while read -r lib; do
        [ -n "$lib" ] && [ -e "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
mkdir -p "$root/bin" "$root/tmp" "$root/ext"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$binary" "$root/bin/gofer-conformance"
copy_libs "$binary"
# Python: the interpreter, its libraries and its standard library (without tests and packages).
mkdir -p "$root$(dirname "$python")"
cp -L "$python" "$root$python"
copy_libs "$python"
mkdir -p "$root$prefix/lib"
tar -C "$prefix/lib" --exclude="$pyver/test" --exclude="$pyver/site-packages" --exclude='__pycache__' -cf - "$pyver" | tar -C "$root$prefix/lib" -xf -
if [ -d "$prefix/lib/$pyver/lib-dynload" ]; then
    for so in "$prefix/lib/$pyver/lib-dynload/"*.so; do copy_libs "$so"; done
fi
ln -s "$python" "$root/bin/python3"
# The Python example on the Python SDK, packed with the SDK into one file as an author ships it.
PYTHONPATH=Sources/ExtensionSDK/Python python3 -m gofer_extension.pack Extensions/python-secrets/gofer_secrets.py -o "$root/ext/python-secrets" >/dev/null
if [ -n "$gofer" ]; then
    # gofer and the bundled extensions it runs (they live beside it), with their C libraries.
    dir=$(dirname "$gofer")
    [ -f "$dir/gofer-scheduler-process" ] || { echo "no extensions beside $gofer: swift build -c release --static-swift-stdlib --product gofer"; exit 1; }
    for b in "$gofer" $(find -H "$dir" -maxdepth 1 -type f -perm -u+x \( -name 'gofer-scheduler-*' -o -name 'gofer-trigger-*' \
        -o -name 'gofer-secrets-*' -o -name 'gofer-task-*' \)); do
        cp "$b" "$root/bin/"
        copy_libs "$b"
    done
    for a in echo env sleep cat sh uname date; do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
    mkdir -p "$root/etc/ssl"
fi

if find "$root" -name 'libswift*' | grep -q .; then echo "a Swift library ended up in the image"; exit 1; fi
tar -C "$root" -c . | docker import - "$image" >/dev/null
echo "image: $(du -sh "$root" | cut -f1) — busybox, the C library, Python $pyver, the static gofer-conformance; no Swift runtime"
docker run --rm --network none -e PATH=/bin -e HOME=/tmp "$image" \
    /bin/gofer-conformance --kind secrets --quiet -- /bin/python3 /ext/python-secrets
if [ -n "$gofer" ]; then
    out=$(docker run --rm --network none -e PATH=/bin -e HOME=/tmp "$image" /bin/gofer demo --scheduler process 2>&1) || {
        echo "$out"; echo "gofer demo failed in a container without the Swift runtime"; exit 1; }
    echo "$out" | tail -4
    echo "$out" | grep -q "succeeded" || { echo "the demo run did not succeed"; exit 1; }
    echo "gofer (server, CLI, bundled extensions) ran the demo pipeline without a Swift runtime"
fi

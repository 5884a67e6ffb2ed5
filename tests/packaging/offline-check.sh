#!/bin/sh
# An air-gapped build, proven: unpack the dist-src tarball (after checking its
# checksum), then build and run the whole test suite with an empty CARGO_HOME,
# --offline --locked --frozen, inside a network namespace with only loopback.
# Usage: tests/packaging/offline-check.sh target/dist/tunnel-client-X.tar.gz
set -eu
. "$(dirname "$0")/lib.sh"
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

(cd "$(dirname "$tarball")" && sha256sum --check --quiet "$(basename "$tarball").sha256") \
    || fail "checksum of $tarball does not match its .sha256"

work=$(mktemp -d /tmp/tunnel-offline.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d)
mkdir "$work/cargo-home"
[ -z "$(ls -A "$work/cargo-home")" ] || fail "CARGO_HOME is not empty"
# Test fixtures the suite looks for under target/ (reference MCP servers):
# they are test inputs, not build inputs.
if [ -d "$ROOT/target/ref-mcp" ]; then
    mkdir -p "$src/target"
    ln -s "$ROOT/target/ref-mcp" "$src/target/ref-mcp"
fi

# No network at all: a new namespace with loopback up (the tests use 127.0.0.1).
isolate=""
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
    && unshare --net true 2>/dev/null; then
    isolate="unshare --net"
    echo "offline-check: building in a network namespace with loopback only"
else
    [ "${TUNNEL_REQUIRE_ALL:-}" = 1 ] && fail "unshare --net (root, util-linux, iproute2) is required"
    echo "offline-check: no network namespace here; relying on --offline alone"
fi

cd "$src"
start=$(date +%s)
# shellcheck disable=SC2086
CARGO_HOME="$work/cargo-home" $isolate sh -eu -c '
    if command -v ip >/dev/null 2>&1; then ip link set lo up 2>/dev/null || true; fi
    cargo test --offline --locked --frozen
' || fail "offline build or tests failed"
# Cargo may leave its lock files there; never a registry index or crate.
[ ! -d "$work/cargo-home/registry" ] || fail "cargo reached for a registry: $(ls "$work/cargo-home/registry")"
echo "offline-check: OK: built and tested offline from $(basename "$tarball") in $(( $(date +%s) - start )) s"

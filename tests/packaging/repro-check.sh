#!/bin/sh
# Reproducible binaries, proven: the release binaries of this checkout against
# a second build of the same commit from the dist-src tarball, in another
# directory, later, with an empty CARGO_HOME, vendored crates, no network,
# another umask, time zone and locale. Both SHA-256 sums must match.
# Usage: tests/packaging/repro-check.sh target/dist/tunnel-client-X.tar.gz target/release
set -eu
. "$(dirname "$0")/lib.sh"
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
first=$(cd "$2" && pwd)
binaries="tunnel-client tunnel-relay"

cd "$ROOT"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    fail "the checkout has uncommitted changes, so its build is not the tarball's commit; commit first"
fi
for bin in $binaries; do
    [ -x "$first/$bin" ] || fail "$first/$bin is missing; run make build"
done

work=$(mktemp -d /tmp/tunnel-repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/elsewhere/deeper" "$work/cargo-home"
tar -xzf "$tarball" -C "$work/elsewhere/deeper"
src=$(find "$work/elsewhere/deeper" -mindepth 1 -maxdepth 1 -type d)

isolate=""
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare --net true 2>/dev/null; then
    isolate="unshare --net"
fi
echo "repro-check: second build in $src"
# shellcheck disable=SC2086
(cd "$src" && umask 0027 && TZ=Pacific/Kiritimati LC_ALL=C LANG=C \
    CARGO_HOME="$work/cargo-home" $isolate make --no-print-directory build OFFLINE=1) \
    || fail "the second build failed"

status=0
for bin in $binaries; do
    a=$(sha256sum < "$first/$bin" | cut -d' ' -f1)
    b=$(sha256sum < "$src/target/release/$bin" | cut -d' ' -f1)
    echo "repro-check: $bin"
    echo "  $a  $first/$bin"
    echo "  $b  $src/target/release/$bin"
    if [ "$a" != "$b" ]; then
        status=1
        echo "  DIFFERENT: $(cmp -l "$first/$bin" "$src/target/release/$bin" | wc -l) bytes differ;" \
            "paths left in the second: $(strings "$src/target/release/$bin" | grep -c "$work" || true)" >&2
    fi
done
[ $status = 0 ] || fail "the two builds differ (diffoscope shows where)"
echo "repro-check: OK: bit-identical binaries from two directories and two times"

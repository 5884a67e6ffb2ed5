#!/bin/sh
# The systemd files as the .deb installs them: `systemd-analyze verify` on an
# instance of the template unit, in a root holding the packaged binary plus
# this host's stock units (targets, mounts). Any complaint fails the check,
# warnings included (an unknown Type= is only a warning to systemd).
# Usage: tests/packaging/systemd-check.sh target/deb
set -eu
. "$(dirname "$0")/lib.sh"
need systemd-analyze systemd
staged=$1/root
[ -x "$staged/usr/bin/tunnel-client" ] || fail "$staged has no packaged tree; run make deb"

root=$(mktemp -d /tmp/tunnel-systemd.XXXXXX)
trap 'rm -rf "$root"' EXIT
cp -a "$staged/." "$root/"
rm -rf "$root/DEBIAN"
for dir in /lib/systemd/system /usr/lib/systemd/system; do
    [ -d "$dir" ] || continue
    mkdir -p "$root$dir"
    cp -an "$dir/." "$root$dir/"
done

unit="$root/lib/systemd/system/tunnel-client@.service"
for line in Type=notify NotifyAccess=main WatchdogSec= ExecStart=/usr/bin/tunnel-client; do
    grep -q "^$line" "$unit" || fail "tunnel-client@.service lacks $line"
done

errors="$root.err"
status=0
systemd-analyze verify --man=no --root="$root" tunnel-client@example.service 2>"$errors" || status=$?
# Noise from this host (seccomp names newer than its systemd, no PID-1 access) is not ours.
grep -v -e 'Failed to parse system call, ignoring' -e 'Failed to read \$container' \
    -e 'PR_SET_MM_ARG_START' "$errors" > "$errors.ours" || true
if [ $status != 0 ] || [ -s "$errors.ours" ]; then
    cat "$errors.ours" >&2
    rm -f "$errors" "$errors.ours"
    fail "systemd-analyze verify tunnel-client@example.service (exit $status)"
fi
rm -f "$errors" "$errors.ours"
echo "systemd-check: OK: systemd-analyze verify tunnel-client@example.service is clean"

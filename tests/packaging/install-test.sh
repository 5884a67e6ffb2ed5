#!/bin/sh
# `make install` for packagers: DESTDIR staging, PREFIX/BINDIR/MANDIR honoured,
# NOBUILD=1 installs the binaries already built, the unit's ExecStart follows
# BINDIR, and `make uninstall` with the same settings leaves nothing behind.
# Usage: tests/packaging/install-test.sh   (after make build)
set -eu
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
dest=$(mktemp -d /tmp/tunnel-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
set -- PREFIX=/opt/tc BINDIR=/opt/tc/sbin MANDIR=/opt/tc/man
make --no-print-directory install NOBUILD=1 DESTDIR="$dest" "$@" >/dev/null || fail "make install"
(cd "$dest" && find . -type f | LC_ALL=C sort) > "$dest.list"
cat > "$dest.want" <<'LIST'
./opt/tc/lib/systemd/system/tunnel-client@.service
./opt/tc/lib/sysusers.d/tunnel-client.conf
./opt/tc/man/man1/tunnel-client.1
./opt/tc/man/man1/tunnel-relay.1
./opt/tc/sbin/tunnel-client
./opt/tc/sbin/tunnel-relay
./opt/tc/share/bash-completion/completions/tunnel-client
./opt/tc/share/fish/vendor_completions.d/tunnel-client.fish
./opt/tc/share/zsh/site-functions/_tunnel-client
LIST
diff -u "$dest.want" "$dest.list" || fail "make install laid down other files"
rm -f "$dest.want" "$dest.list"
cmp -s "$dest/opt/tc/sbin/tunnel-client" target/release/tunnel-client || fail "NOBUILD=1 did not install target/release"
[ "$(stat -c %a "$dest/opt/tc/sbin/tunnel-client")" = 755 ] || fail "binary mode"
[ "$(stat -c %a "$dest/opt/tc/man/man1/tunnel-client.1")" = 644 ] || fail "man page mode"
grep -q '^ExecStart=/opt/tc/sbin/tunnel-client run' "$dest/opt/tc/lib/systemd/system/tunnel-client@.service" \
    || fail "the unit's ExecStart does not follow BINDIR"
make --no-print-directory uninstall DESTDIR="$dest" "$@" >/dev/null || fail "make uninstall"
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install-test: OK (DESTDIR, PREFIX, BINDIR, MANDIR, NOBUILD, uninstall)"

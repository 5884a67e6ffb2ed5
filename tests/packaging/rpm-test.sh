#!/bin/sh
# The RPM: its file list with modes and owners against rpm-contents.txt, its
# %pre creating the account, its automatic library requirements, and its
# payload unpacked (rpm2cpio) with the binaries run and the man pages rendered.
# Usage: tests/packaging/rpm-test.sh target/rpm
set -eu
. "$(dirname "$0")/lib.sh"
need rpm rpm
need rpm2cpio rpm
need cpio cpio
out=$1
pkg=$(ls "$(cd "$out" && pwd)"/tunnel-client-*.rpm)
[ "$(echo "$pkg" | wc -l)" = 1 ] || fail "expected one RPM in $out, found: $pkg"

echo "== rpm -qlvp $(basename "$pkg")"
rpm -qlvp "$pkg"
# mode, owner, group (in full) and path: sizes and dates are not the contract
rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' "$pkg" \
    > "$out/contents.actual"
diff -u "$ROOT/tests/packaging/rpm-contents.txt" "$out/contents.actual" \
    || fail "the RPM's files differ from tests/packaging/rpm-contents.txt"

echo "== rpm -qip"
rpm -qip "$pkg"
rpm -qp --scripts "$pkg" | grep -q 'systemd-sysusers' || fail "%pre does not create the account"
rpm -qpR "$pkg" | tee "$out/requires.txt"
grep -q '^libc.so.6' "$out/requires.txt" || fail "no automatic libc requirement"

echo "== payload"
root=$(mktemp -d /tmp/tunnel-rpm-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
(cd "$root" && rpm2cpio "$pkg" | cpio -idm --quiet) || fail "rpm2cpio failed"
for bin in tunnel-client tunnel-relay; do
    "$root/usr/bin/$bin" --version | grep -q "^$bin [0-9]" || fail "$bin --version"
done
"$root/usr/bin/tunnel-client" --version | grep -q 'commit [0-9a-f]\{12\}' \
    || fail "the RPM's binary does not name its commit (.cargo_vcs_info.json)"
"$root/usr/bin/tunnel-client" --version
if command -v man >/dev/null 2>&1; then
    for page in "$root"/usr/share/man/man1/*; do
        LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >/dev/null 2>"$root/man.err" || fail "man -l $page"
        [ ! -s "$root/man.err" ] || fail "man -l $(basename "$page"): $(cat "$root/man.err")"
    done
    echo "man pages render without warnings"
fi
echo "rpm-test: OK"

#!/bin/sh
# The .deb, checked as a user meets it: its file list and modes against
# deb-contents.txt, lintian, then a real `dpkg --root` install into a
# throwaway root (postinst runs against that root via DPKG_ROOT): the account
# exists, /etc/tunnel-client is 0750 root:tunnel-client, nothing is enabled,
# the binaries run and `man -l` renders both installed pages without warnings.
# Usage: tests/packaging/deb-test.sh target/deb
set -eu
. "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg
need lintian lintian
need man man-db
need systemd-sysusers systemd
out=$1
deb=$(ls "$out"/tunnel-client_*.deb)
[ "$(echo "$deb" | wc -l)" = 1 ] || fail "expected one .deb in $out, found: $deb"
case $(basename "$deb") in
    tunnel-client_*-*_"$(dpkg --print-architecture)".deb) ;;
    *) fail "$(basename "$deb") is not named tunnel-client_<version>_<arch>.deb" ;;
esac

echo "== dpkg-deb -c $(basename "$deb")"
dpkg-deb -c "$deb" | tee "$out/contents.txt"
# mode, owner and path only (sizes and dates are not part of the contract)
awk '{ print $1, $2, $6 }' "$out/contents.txt" > "$out/contents.actual"
diff -u "$ROOT/tests/packaging/deb-contents.txt" "$out/contents.actual" \
    || fail "the .deb's files differ from tests/packaging/deb-contents.txt"

echo "== dpkg-deb -I"
dpkg-deb -I "$deb" | tee "$out/info.txt"
grep -q '^ Depends: .*libc6' "$out/info.txt" || fail "Depends lacks libc6 (dpkg-shlibdeps)"

echo "== lintian"
lintian --info --display-info --pedantic --fail-on error,warning "$deb" | tee "$out/lintian.txt" \
    || fail "lintian reported errors or warnings"
echo "lintian: $(grep -c . "$out/lintian.txt" || true) line(s) above (overrides are in packaging/debian/lintian-overrides)"

echo "== dpkg --root install"
root=$(mktemp -d /tmp/tunnel-deb-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/etc"
: > "$root/var/lib/dpkg/status"
: > "$root/var/lib/dpkg/available"
: > "$root/etc/passwd"
: > "$root/etc/group"
dpkg --root="$root" --log=/dev/null --force-script-chrootless --force-depends \
    --no-triggers -i "$deb" || fail "dpkg --root -i failed"
dpkg --root="$root" -s tunnel-client | grep -q '^Status: install ok installed' \
    || fail "dpkg does not record tunnel-client as installed"

grep -q '^tunnel-client:x:[0-9]*:[0-9]*:.*:/var/lib/tunnel-client:/usr/sbin/nologin$' "$root/etc/passwd" \
    || fail "postinst did not create the tunnel-client account: $(cat "$root/etc/passwd")"
gid=$(awk -F: '$1 == "tunnel-client" { print $3 }' "$root/etc/group")
[ -n "$gid" ] || fail "postinst did not create the tunnel-client group"
for dir in etc/tunnel-client etc/tunnel-client/profiles; do
    got=$(stat -c '%a %u %g' "$root/$dir")
    [ "$got" = "750 0 $gid" ] || fail "$dir is '$got', want '750 0 $gid'"
done
if find "$root/etc/systemd" "$root/lib/systemd/system" -name '*.wants' 2>/dev/null | grep -q .; then
    fail "installing enabled a unit"
fi
for bin in tunnel-client tunnel-relay; do
    mode=$(stat -c '%a %u %g' "$root/usr/bin/$bin")
    [ "$mode" = "755 0 0" ] || fail "/usr/bin/$bin is '$mode'"
    "$root/usr/bin/$bin" --version | grep -q "^$bin [0-9]" || fail "$bin --version"
done
"$root/usr/bin/tunnel-client" --version

for page in tunnel-client tunnel-relay; do
    file="$root/usr/share/man/man1/$page.1.gz"
    rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$file" 2>"$out/man-$page.err") \
        || fail "man -l $page failed: $(cat "$out/man-$page.err")"
    [ ! -s "$out/man-$page.err" ] || fail "man -l $page warned: $(cat "$out/man-$page.err")"
    echo "$rendered" | grep -q "$page" || fail "man -l $page rendered no name"
    echo "man -l $page: $(echo "$rendered" | wc -l) lines, no warnings"
done

dpkg --root="$root" --log=/dev/null --force-script-chrootless --purge tunnel-client \
    || fail "dpkg --purge failed"
[ ! -e "$root/usr/bin/tunnel-client" ] || fail "purge left /usr/bin/tunnel-client"
echo "deb-test: OK"

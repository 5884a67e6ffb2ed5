#!/bin/sh
# Builds tunnel-client_<version>-<revision>_<arch>.deb from the release
# binaries with Debian's own tools: dpkg-shlibdeps for Depends, dpkg-deb to
# pack. Binaries are stripped as dh_strip does; everything is root-owned,
# mode-normalised and dated SOURCE_DATE_EPOCH, so the .deb is reproducible.
# Usage: packaging/debian/build-deb.sh VERSION RELEASE_DIR OUT_DIR  (from the tree root)
set -eu
upstream=$1
release=$2
out=$3
revision=${DEB_REVISION:-1}
version="$upstream-$revision"
epoch=${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set (make sets it)}
here=packaging/debian

for tool in dpkg-deb dpkg-shlibdeps strip; do
    command -v $tool >/dev/null 2>&1 || { echo "deb: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done
top=$(sed -n '1s/^tunnel-client (\([^)]*\)).*/\1/p' $here/changelog)
[ "$top" = "$version" ] || {
    echo "deb: packaging/debian/changelog starts at $top, not $version: add an entry" >&2
    exit 1
}
[ -d vendor ] || { echo "deb: vendor/ is missing (make vendor): the copyright file lists it" >&2; exit 1; }

arch=$(dpkg --print-architecture)
root="$out/root"
rm -rf "$out"
mkdir -p "$root/DEBIAN"
umask 022

install -Dm755 "$release/tunnel-client" "$root/usr/bin/tunnel-client"
install -Dm755 "$release/tunnel-relay" "$root/usr/bin/tunnel-relay"
# What dh_strip does; the unstripped binaries stay in target/ for debugging.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$root/usr/bin/tunnel-client" "$root/usr/bin/tunnel-relay"

for page in tunnel-client tunnel-relay; do
    install -Dm644 "man/$page.1" "$root/usr/share/man/man1/$page.1"
    gzip -9n "$root/usr/share/man/man1/$page.1"
done
install -Dm644 packaging/completions/tunnel-client.bash "$root/usr/share/bash-completion/completions/tunnel-client"
install -Dm644 packaging/completions/_tunnel-client "$root/usr/share/zsh/vendor-completions/_tunnel-client"
install -Dm644 packaging/completions/tunnel-client.fish "$root/usr/share/fish/vendor_completions.d/tunnel-client.fish"
install -Dm644 packaging/systemd/tunnel-client@.service "$root/lib/systemd/system/tunnel-client@.service"
install -Dm644 packaging/systemd/tunnel-client.sysusers "$root/usr/lib/sysusers.d/tunnel-client.conf"
# Profiles and key files live here: not world-readable; postinst gives the group.
install -d -m750 "$root/etc/tunnel-client" "$root/etc/tunnel-client/profiles"

doc="$root/usr/share/doc/tunnel-client"
install -d "$doc"
python3 packaging/licenses.py copyright --vendor vendor > "$doc/copyright"
chmod 644 "$doc/copyright"
install -m644 $here/changelog "$doc/changelog.Debian"
gzip -9n "$doc/changelog.Debian"
if [ -f $here/lintian-overrides ]; then
    install -Dm644 $here/lintian-overrides "$root/usr/share/lintian/overrides/tunnel-client"
fi

install -m755 $here/postinst "$root/DEBIAN/postinst"

# Depends from the binaries' ELF needs, as dh_shlibdeps computes it.
shlib=$(mktemp -d)
mkdir -p "$shlib/debian"
printf 'Source: tunnel-client\n\nPackage: tunnel-client\nArchitecture: any\n' > "$shlib/debian/control"
abs_root=$(cd "$root" && pwd)
depends=$(cd "$shlib" && dpkg-shlibdeps -O "$abs_root/usr/bin/tunnel-client" "$abs_root/usr/bin/tunnel-relay" 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlib"
[ -n "$depends" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
depends="$depends, passwd"

(cd "$root" && find usr lib -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    $here/control.in > "$root/DEBIAN/control"
chmod 644 "$root/DEBIAN/control"

find "$root" -exec touch -h -d "@$epoch" {} +
deb="$out/tunnel-client_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "deb: $deb"

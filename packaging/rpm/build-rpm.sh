#!/bin/sh
# Runs rpmbuild on packaging/rpm/tunnel-client.spec with the dist-src tarball
# as Source0, in a private _topdir. --nodeps: on a Debian host the build tools
# are not in an RPM database. The debuginfo subpackage needs find-debuginfo,
# which only RPM distributions ship, so it is off here.
# Usage: packaging/rpm/build-rpm.sh TARBALL OUT_DIR   (from the tree root)
set -eu
tarball=$1
out=$2
command -v rpmbuild >/dev/null 2>&1 || { echo "rpm: rpmbuild is missing (apt-get install rpm)" >&2; exit 1; }
spec=packaging/rpm/tunnel-client.spec
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
spec_version=$(sed -n 's/^Version: *//p' "$spec")
[ "$spec_version" = "$version" ] || { echo "rpm: $spec says Version $spec_version, Cargo.toml $version" >&2; exit 1; }

top=$(pwd)/$out/topdir
rm -rf "$out"
mkdir -p "$top/SOURCES" "$top/SPECS"
cp "$tarball" "$top/SOURCES/"
cp "$spec" "$top/SPECS/"
# An empty CARGO_HOME, as in an RPM build root: nothing but vendor/ is there.
mkdir -p "$top/cargo-home"
CARGO_HOME="$top/cargo-home" rpmbuild --nodeps \
    --define "_topdir $top" \
    --define "debug_package %{nil}" \
    --define "_build_id_links none" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_buildhost reproducible" \
    -bb "$top/SPECS/tunnel-client.spec"
find "$top/RPMS" -name '*.rpm' -exec cp {} "$out/" \;
ls "$out"/*.rpm

#!/bin/sh
# The source tarball a packager or an air-gapped mirror consumes: the committed
# tree (HEAD), vendor/ with .cargo/config.toml pointing at it, the commit id
# and its time. Deterministic: sorted names, fixed owner, times and gzip header.
# Usage: packaging/dist-src.sh NAME SOURCE_DATE_EPOCH   (run from the tree root)
set -eu
name=$1
epoch=$2
out=target/dist
stage=target/dist-src

[ -d vendor ] && [ -f .cargo/config.toml ] || { echo "dist-src: run make vendor first" >&2; exit 1; }
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "dist-src: warning: uncommitted changes are not in the tarball (it is built from HEAD)" >&2
fi

rm -rf "$stage"
mkdir -p "$stage/$name" "$out"
git archive --format=tar HEAD | tar -x -C "$stage/$name"
cp -R vendor "$stage/$name/vendor"
mkdir -p "$stage/$name/.cargo"
cp .cargo/config.toml "$stage/$name/.cargo/config.toml"
# The same file `cargo package` writes; build.rs reads the commit from it.
printf '{\n  "git": {\n    "sha1": "%s"\n  },\n  "path_in_vcs": ""\n}\n' "$(git rev-parse HEAD)" \
    > "$stage/$name/.cargo_vcs_info.json"
echo "$epoch" > "$stage/$name/.source_date_epoch"
# Third-party notices for packagers (the RPM's %license, Debian's copyright).
python3 packaging/licenses.py copyright --vendor "$stage/$name/vendor" \
    > "$stage/$name/THIRD-PARTY-LICENSES"

tar --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --mode='go-w,a+rX' \
    -C "$stage" -cf - "$name" | gzip -9n > "$out/$name.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "dist-src: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1))"
cat "$out/$name.tar.gz.sha256"

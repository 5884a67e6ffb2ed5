#!/bin/sh
# Assembles the container's whole root filesystem in a directory: the binary,
# exactly the shared libraries its ELF header asks for (found with ldd), and
# the passwd/group entries of the non-root user. The Dockerfile's final stage
# copies this directory into `scratch`; `make container-check` runs the binary
# in it with chroot to prove nothing else is needed. No shell, no package manager.
# Usage: stage-rootfs.sh PATH/TO/tunnel-client ROOTFS_DIR
set -eu
binary=$1
rootfs=$2
uid=65532

command -v ldd >/dev/null 2>&1 || { echo "stage-rootfs: ldd is missing (libc-bin)" >&2; exit 1; }
rm -rf "$rootfs"
mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
install -m755 "$binary" "$rootfs/usr/bin/tunnel-client"

# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader line
# "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    # The real file under the name the loader looks for (no symlink chains).
    cp -L "$lib" "$rootfs$lib"
    chmod 755 "$rootfs$lib"
done

cat > "$rootfs/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$uid:$uid:tunnel-client:/home/nonroot:/sbin/nologin
PASSWD
cat > "$rootfs/etc/group" <<GROUP
root:x:0:
nonroot:x:$uid:
GROUP
# glibc resolves names with its built-in files and dns modules (2.34+).
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
chmod 644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
mkdir -p "$rootfs/home/nonroot"
chown "$uid:$uid" "$rootfs/home/nonroot" 2>/dev/null || true
echo "stage-rootfs: $(find "$rootfs" -type f | wc -l) files in $rootfs"

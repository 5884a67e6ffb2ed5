#!/bin/sh
# The container without a container engine: hadolint on the Dockerfile, the
# Dockerfile's promises checked (multi-stage, offline, scratch, non-root,
# STOPSIGNAL, HEALTHCHECK without curl, labels), then the final stage's root
# filesystem, staged by the same script the Dockerfile runs: its file list,
# the loader resolving every library inside it, and a real agent started in
# it with chroot as uid 65532, on a read-only root, serving a call end to end.
# Usage: tests/packaging/container-check.sh ROOTFS HADOLINT RELEASE_DIR
set -eu
. "$(dirname "$0")/lib.sh"
rootfs=$(cd "$1" && pwd)
hadolint=$2
bin=$(cd "$3" && pwd)
dockerfile="$ROOT/packaging/container/Dockerfile"
need curl curl
need chroot coreutils
[ -x "$hadolint" ] || fail "hadolint is missing at $hadolint (make installs it from packaging/tools/requirements.txt)"

echo "== hadolint $("$hadolint" --version)"
"$hadolint" --failure-threshold style "$dockerfile" || fail "hadolint found problems"
echo "hadolint: no findings"

echo "== Dockerfile promises"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
[ "$(grep -c '^FROM ' "$dockerfile")" -ge 2 ] || fail "not a multi-stage build"
[ "$(grep '^FROM ' "$dockerfile" | tail -n 1)" = "FROM scratch" ] || fail "the final stage is not scratch"
grep -q '^RUN make build OFFLINE=1' "$dockerfile" || fail "the build stage does not build offline from vendor/"
grep -q '^USER 65532:65532$' "$dockerfile" || fail "the image does not run as uid 65532"
grep -q '^STOPSIGNAL SIGTERM$' "$dockerfile" || fail "STOPSIGNAL SIGTERM is missing"
grep -q 'CMD \["/usr/bin/tunnel-client", "health"\]' "$dockerfile" || fail "HEALTHCHECK does not use tunnel-client health"
grep -q "^ARG VERSION=$version\$" "$dockerfile" || fail "ARG VERSION is not $version (Cargo.toml)"
grep -q 'org.opencontainers.image.version="${VERSION}"' "$dockerfile" || fail "no version label"
grep -q 'org.opencontainers.image.source=' "$dockerfile" || fail "no source label"
! grep -v '^ *#' "$dockerfile" | grep -qiE '\b(curl|wget)\b' || fail "the Dockerfile uses curl or wget"
echo "Dockerfile: multi-stage, offline build, scratch, USER 65532, STOPSIGNAL, HEALTHCHECK, labels $version"

echo "== final stage root filesystem ($rootfs)"
(cd "$rootfs" && find . ! -type d | sed 's|^\.||' | LC_ALL=C sort) | tee "$rootfs.files"
if [ "$(uname -m)" = x86_64 ]; then
    diff -u "$ROOT/tests/packaging/container-rootfs.txt" "$rootfs.files" \
        || fail "the staged root differs from tests/packaging/container-rootfs.txt"
fi
[ -z "$(find "$rootfs" -name sh -o -name busybox -o -name curl)" ] || fail "a shell or curl is in the image"
loader=$(find "$rootfs/lib64" "$rootfs/lib" -name 'ld-linux*.so*' 2>/dev/null | head -n 1)
[ -n "$loader" ] || fail "no dynamic loader in the staged root"
loader=${loader#"$rootfs"}
chroot "$rootfs" "$loader" --list /usr/bin/tunnel-client > "$rootfs.ldd" || fail "the loader cannot load the binary in the staged root"
cat "$rootfs.ldd"
! grep -q 'not found' "$rootfs.ldd" || fail "a library is missing from the staged root"
chroot --userspec=65532:65532 "$rootfs" /usr/bin/tunnel-client --version || fail "--version does not run in the staged root"

echo "== the agent in the staged root, read-only, as 65532, against tunnel-relay"
work=$(mktemp -d /tmp/tunnel-container.XXXXXX)
relay_pid=""
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null || true
    [ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work" "$rootfs.files" "$rootfs.ldd"
}
trap cleanup EXIT INT TERM
tunnel_id=tunnel_0123456789abcdef0123456789abcdef
key="check-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
TUNNEL_RELAY_AGENT_KEY="$key" "$bin/tunnel-relay" --listen 127.0.0.1:0 --tunnel-id "$tunnel_id" \
    --log-level warn >"$work/relay.out" 2>"$work/relay.err" &
relay_pid=$!
i=0
until grep -q '^listening on ' "$work/relay.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 100 ] || fail "relay did not start: $(cat "$work/relay.err")"
    sleep 0.1
done
relay_url=$(sed -n 's/^listening on //p' "$work/relay.out" | head -n 1)

# Like Kubernetes' readOnlyRootFilesystem with an emptyDir on /tmp: a private
# mount namespace where the root is a read-only bind and /tmp is $work/tmp.
mkdir -m 1777 "$work/tmp"
agent="/usr/bin/tunnel-client run --tunnel-id $tunnel_id --control-plane-url $relay_url \
    --mcp-command '/usr/bin/tunnel-client dev mcp-stub' \
    --admin-address 127.0.0.1:0 --admin-url-file /tmp/admin-url --log-level warn"
if [ "$(id -u)" = 0 ] && unshare --mount true 2>/dev/null; then
    url_file="$work/tmp/admin-url"
    CONTROL_PLANE_API_KEY="$key" unshare --mount --propagation private sh -c "
        mount --bind '$rootfs' '$rootfs' && mount -o remount,bind,ro '$rootfs' &&
        mount --bind '$work/tmp' '$rootfs/tmp' &&
        exec chroot --userspec=65532:65532 '$rootfs' $agent" 2>"$work/agent.err" &
else
    [ "${TUNNEL_REQUIRE_ALL:-}" = 1 ] && fail "unshare --mount (as root) is required to test a read-only root"
    echo "note: no mount namespace here; the staged root stays writable for this run"
    url_file="$rootfs/tmp/admin-url"
    rm -f "$url_file"
    CONTROL_PLANE_API_KEY="$key" sh -c "exec chroot --userspec=65532:65532 '$rootfs' $agent" 2>"$work/agent.err" &
fi
agent_pid=$!

mcp="$relay_url/v1/mcp/$tunnel_id"
post() {
    curl -sS --max-time 20 -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' "$@" "$mcp"
}
i=0
until [ "$(post -o /dev/null -w '%{http_code}' -d '{"jsonrpc":"2.0","id":0,"method":"ping"}')" = 200 ]; do
    i=$((i + 1)); [ $i -le 150 ] || fail "the agent in the staged root did not come up: $(cat "$work/agent.err")"
    kill -0 "$agent_pid" 2>/dev/null || fail "the agent in the staged root exited: $(cat "$work/agent.err")"
    sleep 0.1
done
answer=$(post -d '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"from the staged root"}}}')
echo "$answer" | grep -q 'from the staged root' || fail "the call through the staged agent failed: $answer"
echo "tools/call echo through the agent in the staged root: ok"
admin=$(cat "$url_file")
admin=${admin%/}
curl -fsS --max-time 5 "$admin/healthz" | grep -q '"status":"healthy"' || fail "/healthz"
curl -fsS --max-time 5 "$admin/readyz" | grep -q '"status":"ready"' || fail "/readyz"
echo "/healthz and /readyz: ok ($admin)"
# The image's HEALTHCHECK, once `tunnel-client health` exists.
if chroot "$rootfs" /usr/bin/tunnel-client health --help >/dev/null 2>&1; then
    chroot --userspec=65532:65532 "$rootfs" /usr/bin/tunnel-client health --admin-address "${admin#http://}" \
        || fail "tunnel-client health failed against a healthy agent"
    echo "HEALTHCHECK command: ok"
else
    echo "note: tunnel-client health is not implemented yet; HEALTHCHECK not exercised"
fi
status=0
kill -TERM "$agent_pid"; wait "$agent_pid" || status=$?; agent_pid=""
[ $status = 0 ] || fail "the agent exited $status on SIGTERM: $(cat "$work/agent.err")"
echo "container-check: OK"

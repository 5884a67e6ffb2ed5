#!/bin/sh
# make test-ui: tunnel-relay + tunnel-client (stub MCP server), real traffic
# through the tunnel, then the status page checked in headless Chromium.
# The screenshot is left in target/ui/status.png for people to look at.
set -eu

BIN=${1:-target/release}
TUNNEL_ID=tunnel_0123456789abcdef0123456789abcdef
OUT=target/ui
mkdir -p "$OUT"
rm -f "$OUT/admin.url"
RELAY_PID=""
AGENT_PID=""
cleanup() {
    [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null || true
    [ -n "$RELAY_PID" ] && kill -TERM "$RELAY_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

export TUNNEL_RELAY_AGENT_KEY="ui-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
"$BIN/tunnel-relay" --listen 127.0.0.1:0 --tunnel-id "$TUNNEL_ID" --log-level warn >"$OUT/relay.out" 2>"$OUT/relay.err" &
RELAY_PID=$!
i=0
until grep -q '^listening on ' "$OUT/relay.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 100 ] || { cat "$OUT/relay.err"; exit 1; }
    sleep 0.1
done
RELAY_URL=$(sed -n 's/^listening on //p' "$OUT/relay.out" | head -n 1)

# Harpoon's target is the relay's own /healthz: a local plain-http service.
CONTROL_PLANE_API_KEY="$TUNNEL_RELAY_AGENT_KEY" "$BIN/tunnel-client" run \
    --tunnel-id "$TUNNEL_ID" --control-plane-url "$RELAY_URL" \
    --mcp-command "$BIN/tunnel-client dev mcp-stub" \
    --harpoon-allow-plaintext-http \
    --harpoon-target "label=relay,url=$RELAY_URL/healthz,desc=the relay's health,methods=GET" \
    --admin-address 127.0.0.1:0 --admin-url-file "$OUT/admin.url" \
    --log-level warn 2>"$OUT/agent.err" &
AGENT_PID=$!

MCP="$RELAY_URL/v1/mcp/$TUNNEL_ID"
call() {
    curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "$MCP${2:-}"
}
i=0
until [ "$(call '{"jsonrpc":"2.0","id":0,"method":"ping"}')" = 200 ]; do
    i=$((i + 1)); [ $i -le 100 ] || { cat "$OUT/agent.err"; exit 1; }
    sleep 0.1
done
call '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test-ui","version":"1"}}}' >/dev/null
for n in 1 2 3 4 5; do
    call "{\"jsonrpc\":\"2.0\",\"id\":$((n + 1)),\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"ui $n\"}}}" >/dev/null
done
call '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fail","arguments":{"code":-32000,"message":"shown as an error"}}}' >/dev/null
# Harpoon on its channel (/v1/mcp/ID/harpoon): two calls to the relay's
# /healthz and one refused path. A relay without channel routes answers 404:
# then the card is checked without calls.
harpoon_calls=3
for n in 10 11; do
    code=$(call "{\"jsonrpc\":\"2.0\",\"id\":$n,\"method\":\"tools/call\",\"params\":{\"name\":\"call_target\",\"arguments\":{\"label\":\"relay\",\"method\":\"GET\"}}}" /harpoon)
    [ "$code" = 200 ] || harpoon_calls=0
done
call '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"http_callout","arguments":{"target":"relay","path":"/../admin","method":"GET"}}}' /harpoon >/dev/null
[ "$harpoon_calls" -gt 0 ] || echo "test-ui: this relay does not route /v1/mcp/ID/harpoon; the Harpoon card is checked without calls"

EXPECT_HARPOON_CALLS=$harpoon_calls sh tests/ui/check_status_page.sh "$(cat "$OUT/admin.url")" "$OUT" "$TUNNEL_ID"
echo "test-ui: screenshot in $OUT/status.png"

#!/bin/sh
# make demo: tunnel-relay + tunnel-client + the built-in stub MCP server, real
# MCP calls through the tunnel with curl, then a clean stop. Needs sh and curl.
set -eu

BIN=${1:-target/release}
TUNNEL_ID=tunnel_0123456789abcdef0123456789abcdef
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tunnel-demo.XXXXXX")
RELAY_PID=""
AGENT_PID=""

cleanup() {
    [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null || true
    [ -n "$RELAY_PID" ] && kill -TERM "$RELAY_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
stamp() { while IFS= read -r line || [ -n "$line" ]; do [ -z "$line" ] || printf '  [%s] %s\n' "$(date +%H:%M:%S.%3N)" "$line"; done; }

# A random key for this run only: the relay checks it, the agent sends it.
AGENT_KEY="demo-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
export TUNNEL_RELAY_AGENT_KEY="$AGENT_KEY"

say "starting tunnel-relay on 127.0.0.1 (port chosen by the kernel)"
"$BIN/tunnel-relay" --listen 127.0.0.1:0 --tunnel-id "$TUNNEL_ID" --log-level warn >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
i=0
until grep -q '^listening on ' "$WORK/relay.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 100 ] || { echo "relay did not start:"; cat "$WORK/relay.err"; exit 1; }
    sleep 0.1
done
RELAY_URL=$(sed -n 's/^listening on //p' "$WORK/relay.out" | head -n 1)
echo "  relay: $RELAY_URL"

say "starting tunnel-client with two MCP servers (the built-in stub on channels main and tools) and one Harpoon target (the relay's own port)"
CONTROL_PLANE_API_KEY="$AGENT_KEY" "$BIN/tunnel-client" run \
    --tunnel-id "$TUNNEL_ID" \
    --control-plane-url "$RELAY_URL" \
    --mcp-command "$BIN/tunnel-client dev mcp-stub" \
    --mcp-command "channel=tools,command=$BIN/tunnel-client dev mcp-stub" \
    --harpoon-allow-plaintext-http \
    --harpoon-target "label=relay,url=$RELAY_URL/,desc=the local relay,methods=GET" \
    --admin-address 127.0.0.1:0 --admin-url-file "$WORK/admin-url" \
    --log-level warn 2>"$WORK/agent.err" &
AGENT_PID=$!

MCP="$RELAY_URL/v1/mcp/$TUNNEL_ID"
post() {
    curl -sS --max-time 20 -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' "$@" "$MCP"
}

# The relay answers 503 until an agent polls: wait for the tunnel to come up.
i=0
until [ "$(post -o /dev/null -w '%{http_code}' -d '{"jsonrpc":"2.0","id":0,"method":"ping"}')" = 200 ]; do
    i=$((i + 1)); [ $i -le 100 ] || { echo "tunnel did not come up:"; cat "$WORK/agent.err"; exit 1; }
    sleep 0.1
done
echo "  agent is polling; admin page: $(cat "$WORK/admin-url" 2>/dev/null || echo off)"

say "initialize"
post -D "$WORK/init.headers" -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"make-demo","version":"1"}}}' | stamp
SESSION=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *//p' "$WORK/init.headers" | tr -d '\r')
set --
[ -n "$SESSION" ] && set -- -H "Mcp-Session-Id: $SESSION"
post "$@" -o /dev/null -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

say "tools/list"
post "$@" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' | stamp

say "tools/call echo"
post "$@" -d '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello through the tunnel"}}}' | stamp

say "tools/call progress (server-sent events: progress arrives before the result)"
post "$@" -N -d '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3,"interval_ms":400},"_meta":{"progressToken":"demo-progress"}}}' | stamp

say "tools/call echo on channel tools (a second MCP server on the same tunnel: $MCP/tools)"
curl -sS --max-time 20 -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from channel tools"}}}' \
    "$MCP/tools" | stamp

say "Harpoon on channel harpoon: http_callout GET /healthz of the target relay ($MCP/harpoon)"
curl -sS --max-time 20 -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"http_callout","arguments":{"target":"relay","path":"/healthz","method":"GET"}}}' \
    "$MCP/harpoon" | stamp
ADMIN_URL=$(cat "$WORK/admin-url" 2>/dev/null || true)
if [ -n "$ADMIN_URL" ]; then
    echo "  its metrics:"
    curl -sS --max-time 5 "${ADMIN_URL%/}/metrics" | grep '^tunnel_client_harpoon_\(targets\|calls_total\)' | stamp
fi

say "stopping"
AGENT_STATUS=0; kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || AGENT_STATUS=$?; AGENT_PID=""
RELAY_STATUS=0; kill -TERM "$RELAY_PID"; wait "$RELAY_PID" || RELAY_STATUS=$?; RELAY_PID=""
echo "  tunnel-client exited $AGENT_STATUS, tunnel-relay exited $RELAY_STATUS"
[ "$AGENT_STATUS" = 0 ] && [ "$RELAY_STATUS" = 0 ]

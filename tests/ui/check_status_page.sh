#!/bin/sh
# Loads the admin status page in headless Chromium, checks the rendered DOM
# (connected, tunnel id, non-zero request count) and saves a screenshot.
#
# usage: tests/ui/check_status_page.sh ADMIN_URL [OUTPUT_DIR] [TUNNEL_ID]
#   ADMIN_URL   base URL of the admin server, e.g. http://127.0.0.1:8090/
#               (what --admin-url-file writes)
#   OUTPUT_DIR  where status.png, status.dom.html and chromium.log go
#               (default: target/ui)
#   TUNNEL_ID   the id the page must show (default: any tunnel_… id)
# With EXPECT_HARPOON_CALLS=N in the environment, the Harpoon card must be
# shown with the channel serving, at least one target and at least N calls.
# Needs the Debian package `chromium` (or CHROMIUM=/path/to/browser).
# Exit status: 0 all checks passed, 1 a check failed, 2 usage or no browser.
set -eu

url=${1:?usage: $0 ADMIN_URL [OUTPUT_DIR] [TUNNEL_ID]}
out=${2:-target/ui}
want_id=${3:-}
case $url in */) ;; *) url="$url/" ;; esac
page="${url}ui"

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
    done
fi
if [ -z "$browser" ]; then
    echo "check_status_page: no chromium found: apt-get install -y chromium (or set CHROMIUM)" >&2
    exit 2
fi

mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT INT TERM

# Flags: no sandbox (containers, root), no GPU, and nothing that talks to the
# internet. The virtual time budget lets the page's fetch/render cycle run
# (it refreshes every 2 s) before the DOM is dumped or the screenshot taken.
run_browser() {
    HOME="$profile" timeout 90 "$browser" \
        --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --no-default-browser-check \
        --hide-scrollbars --user-data-dir="$profile" \
        --virtual-time-budget=5000 "$@" 2>>"$out/chromium.log"
}

: >"$out/chromium.log"
if ! run_browser --dump-dom "$page" >"$out/status.dom.html"; then
    echo "check_status_page: $browser could not load $page: see $out/chromium.log" >&2
    exit 1
fi
if ! run_browser --window-size=1280,900 --screenshot="$out/status.png" "$page" >/dev/null; then
    echo "check_status_page: $browser could not take the screenshot: see $out/chromium.log" >&2
    exit 1
fi

dom="$out/status.dom.html"
fail=0
check() { # description, condition result
    if [ "$2" = yes ]; then
        echo "ok   $1"
    else
        echo "FAIL $1" >&2
        fail=1
    fi
}
# The opening tag of the element with this id, from the dumped DOM.
tag_of() { grep -o "<[^>]* id=\"$1\"[^>]*>" "$dom" | head -n 1; }
attr() { printf '%s' "$1" | sed -n "s/.* $2=\"\\([^\"]*\\)\".*/\\1/p"; }
text_of() { grep -o "id=\"$1\"[^>]*>[^<]*" "$dom" | head -n 1 | sed 's/^[^>]*>//'; }

loaded=$(attr "$(grep -o '<body[^>]*>' "$dom" | head -n 1)" data-loaded)
check "the page loaded /api/status (body data-loaded=$loaded)" \
    "$([ "$loaded" = true ] && echo yes || echo no)"

state=$(attr "$(tag_of conn-state)" data-state)
check "connected state shown (conn-state data-state=$state)" \
    "$([ "$state" = connected ] && echo yes || echo no)"

shown_id=$(text_of tunnel-id)
if [ -n "$want_id" ]; then
    ok=$([ "$shown_id" = "$want_id" ] && echo yes || echo no)
else
    ok=$(printf '%s' "$shown_id" | grep -Eq '^tunnel_[a-z0-9]+$' && echo yes || echo no)
fi
check "tunnel id shown ($shown_id)" "$ok"

count=$(attr "$(tag_of req-total)" data-count)
check "non-zero request count (req-total data-count=$count)" \
    "$(case $count in '' | *[!0-9]*) echo no ;; *) [ "$count" -gt 0 ] && echo yes || echo no ;; esac)"

if [ -n "${EXPECT_HARPOON_CALLS:-}" ]; then
    card=$(tag_of harpoon-card)
    hstate=$(attr "$card" data-state)
    shown=$(printf '%s' "$card" | grep -q ' hidden' && echo no || echo yes)
    check "Harpoon card shown, channel serving (data-state=$hstate)" \
        "$([ "$shown" = yes ] && [ "$hstate" = serving ] && echo yes || echo no)"
    targets=$(attr "$(tag_of harpoon-targets)" data-count)
    check "Harpoon targets listed (harpoon-targets data-count=$targets)" \
        "$(case $targets in '' | *[!0-9]*) echo no ;; *) [ "$targets" -gt 0 ] && echo yes || echo no ;; esac)"
    calls=$(attr "$(tag_of harpoon-calls)" data-count)
    check "Harpoon calls listed (harpoon-calls data-count=$calls, want >= $EXPECT_HARPOON_CALLS)" \
        "$(case $calls in '' | *[!0-9]*) echo no ;; *) [ "$calls" -ge "$EXPECT_HARPOON_CALLS" ] && echo yes || echo no ;; esac)"
fi

shot_ok=$([ -s "$out/status.png" ] && head -c 8 "$out/status.png" | grep -q PNG && echo yes || echo no)
check "screenshot saved ($out/status.png)" "$shot_ok"

if [ "$fail" -ne 0 ]; then
    echo "check_status_page: the rendered DOM is in $dom, browser messages in $out/chromium.log" >&2
    exit 1
fi
echo "check_status_page: all checks passed; screenshot: $out/status.png"

# Shared by the packaging checks: tool lookup that skips on a developer's
# machine and fails in CI (TUNNEL_REQUIRE_ALL=1), and a loud failure helper.

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# need TOOL DEBIAN-PACKAGE: exits 0 with "skipped" when TOOL is missing, or 1
# when TUNNEL_REQUIRE_ALL=1 (CI installs every tool, so a gap there is a bug).
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "${TUNNEL_REQUIRE_ALL:-}" = 1 ]; then
        fail "$1 is required (apt-get install $2) and TUNNEL_REQUIRE_ALL=1"
    fi
    echo "skipped: $1 is not installed (apt-get install $2)"
    exit 0
}

# The tree root, whatever directory the check was started from.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

#!/bin/sh
# Every manifest in packaging/kubernetes against the Kubernetes OpenAPI schemas
# (strict) and the prometheus-operator CRD schemas, offline, plus the promises
# of the documented setup; then the same checker on a broken copy, which must fail.
# Usage: tests/packaging/k8s-check.sh PYTHON NODE_MODULES
set -eu
. "$(dirname "$0")/lib.sh"
python=$1
modules=$2
need node nodejs
validate="$ROOT/packaging/kubernetes/validate.py"

"$python" "$validate" --node-modules "$modules" "$ROOT"/packaging/kubernetes/*.yaml \
    || fail "the manifests in packaging/kubernetes do not validate"

broken=$(mktemp -d /tmp/tunnel-k8s.XXXXXX)
trap 'rm -rf "$broken"' EXIT
cp "$ROOT"/packaging/kubernetes/*.yaml "$broken/"
sed -i 's/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/' "$broken/deployment.yaml"
sed -i 's/for: 5m/for: five minutes/' "$broken/monitoring.yaml"
if "$python" "$validate" --node-modules "$modules" "$broken"/*.yaml > "$broken/out.txt"; then
    cat "$broken/out.txt"
    fail "the checker accepted a misspelt field and a bad duration"
fi
grep -q "readOnlyRootFilesytem" "$broken/out.txt" || fail "the misspelt field went unnoticed"
grep -q "PrometheusRule/tunnel-client: .*for must match" "$broken/out.txt" || fail "the bad duration went unnoticed"
echo "k8s-check: OK (and a broken copy is refused)"

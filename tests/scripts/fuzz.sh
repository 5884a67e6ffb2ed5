#!/bin/sh
# `make fuzz`: runs every fuzz target under fuzz/ for FUZZ_SECONDS seconds, one
# at a time, and prints one line per target (executions, corpus, findings).
# Needs only the Rust toolchain: cargo-fuzz is installed pinned into
# target/tools, and RUSTC_BOOTSTRAP=1 lets the stable compiler take the
# sanitizer flags libFuzzer needs. The targets are built once and copied
# aside, so editing the sources while they run changes nothing. Crashers land
# in fuzz/artifacts/TARGET/; turn each into a unit test next to its code.
# FUZZ_TARGETS="a b" runs only those.
set -eu
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CARGO_FUZZ_VERSION=0.13.2
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
TOOLS=$PWD/target/tools
LOGS=$PWD/target/fuzz-logs
BIN=$PWD/target/fuzz-bin
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$TOOLS"
fi
TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz)}
mkdir -p "$LOGS" "$BIN"
cargo fuzz build -O --fuzz-dir fuzz
for target in $TARGETS; do
    cp "fuzz/target/$TRIPLE/release/$target" "$BIN/$target"
done
failed=0
printf '%-18s %8s %12s %8s %s\n' target seconds execs corpus findings
for target in $TARGETS; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="$LOGS/$target.log"
    if "$BIN/$target" -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=1 -print_funcs=0 -rss_limit_mb=2048 "fuzz/corpus/$target" >"$log" 2>&1; then
        findings=none
    else
        findings="CRASH (see $log and fuzz/artifacts/$target/)"
        failed=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # Keep the corpus small (what `cargo fuzz cmin` does): only inputs that
    # add coverage survive.
    min="target/fuzz-cmin/$target"
    rm -rf "$min" && mkdir -p "$min"
    if "$BIN/$target" -merge=1 "$min" "fuzz/corpus/$target" >>"$log" 2>&1; then
        rm -rf "fuzz/corpus/$target" && mv "$min" "fuzz/corpus/$target"
    fi
    corpus=$(ls "fuzz/corpus/$target" | wc -l)
    printf '%-18s %8s %12s %8s %s\n' "$target" "$FUZZ_SECONDS" "${execs:-?}" "$corpus" "$findings"
done
exit $failed

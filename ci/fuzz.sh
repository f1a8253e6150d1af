#!/usr/bin/env bash
# Run cargo-fuzz targets for SECONDS each (default 10) and print executions per second.
#
#   ci/fuzz.sh [SECONDS [TARGET...]]         (default: every target)
#
# Environment:
#   FUZZ_SANITIZER  none (default) or address. The targets are safe Rust over pure parsers, where
#                   AddressSanitizer finds little and costs 4-11x the executions per second
#                   (fuzz/README.md, "Executions per second"); the nightly job
#                   (ci/github/fuzz-nightly.yml) runs it with address once a week. Each sanitizer
#                   builds in its own fuzz/target/<sanitizer>/, so switching does not rebuild the
#                   other.
#   FUZZ_WORK       a folder that keeps what the run finds: new inputs in FUZZ_WORK/<target>/
#                   (the nightly job caches it from night to night). Default: a scratch folder
#                   removed at exit.
#
# Uses the nightly toolchain when rustup has one, else stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz
# needs nightly-only flags). Installs cargo-fuzz when it is missing. Each target starts from its
# committed corpus (fuzz/corpus/<target>/, read-only here) and dictionary
# (fuzz/dict/<target>.dict). Exits non-zero when any target crashes; the crash file is in
# fuzz/artifacts/<target>/ and belongs in fuzz/regressions/<target>/ once understood, where
# `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-10}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: ci/fuzz.sh [SECONDS [TARGET...]]" >&2; exit 2 ;;
esac
shift $(( $# > 0 ? 1 : 0 ))
sanitizer="${FUZZ_SANITIZER:-none}"
case "$sanitizer" in
    none | address) ;;
    *) echo "FUZZ_SANITIZER must be none or address, not $sanitizer" >&2; exit 2 ;;
esac
started=$(date +%s)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing; installing it"
    cargo install cargo-fuzz --locked
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
    toolchain=nightly
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo +stable fuzz)
    toolchain="stable with RUSTC_BOOTSTRAP=1"
fi
build=(-s "$sanitizer" --target-dir "target/$sanitizer")

if [ "$#" -gt 0 ]; then
    targets="$*"
else
    targets=$("${fuzz[@]}" list)
fi
echo "toolchain: $toolchain; sanitizer: $sanitizer; $seconds s per target; targets: $(echo "$targets" | tr '\n' ' ')"
"${fuzz[@]}" build "${build[@]}"

if [ -n "${FUZZ_WORK:-}" ]; then
    work="$FUZZ_WORK"
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
logs=$(mktemp -d)
failed=()
summary=()
for target in $targets; do
    mkdir -p "$work/$target"
    dict=()
    [ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
    log="$logs/$target.log"
    status=ok
    # The first corpus folder receives new inputs; the committed one is only read.
    if ! "${fuzz[@]}" run "${build[@]}" "$target" "$work/$target" "corpus/$target" -- \
        "${dict[@]}" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        status=CRASH
        failed+=("$target")
        echo "---- $target crashed; last lines of its log:"
        tail -n 40 "$log"
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    summary+=("$(printf '%-20s %12s %10s %8s  %s' "$target" "${execs:-?}" "${rate:-?}" "${added:-?}" "$status")")
done
rm -rf "$logs"

echo
printf '%-20s %12s %10s %8s  %s\n' target executions exec/s new status
printf '%s\n' "${summary[@]}"
echo "total wall time: $(( $(date +%s) - started )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (crash files in fuzz/artifacts/<target>/)" >&2
    exit 1
fi

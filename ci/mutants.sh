#!/usr/bin/env bash
# The sharpness of the scenario suite, measured: cargo-mutants mutates the reference's decision
# modules and, for each mutant, runs ONLY the scenario suite: the test `scenario_suite` of the
# reference crate (feature `mutation-suite`), which has a prebuilt harness run every scenario
# against the reference binary as rebuilt with the mutant (`run --reference-exe`, every variant
# a process of that binary). The reference's own unit tests never run. A mutant the suite does
# not fail is a survivor: a rule no scenario pins down. Per mutant: the reference rebuilt
# (about 6 s) and the suite (about 3 s).
#
#   ci/mutants.sh                 every mutant of the decision modules (about 1.5 h: see README)
#   ci/mutants.sh --sample        the fixed CI sample: the mutants in ci/mutants-sample/ (diffs
#                                 cargo-mutants wrote), each applied, judged and reverted here,
#                                 so CI needs no cargo-mutants install (about 2 minutes)
#   ci/mutants.sh --shard K/N     one shard of the full run, K from 0 to N-1 (outcomes kept apart)
#   ci/mutants.sh --score DIR...  no run: the score of earlier runs' mutants.out folders (a
#                                 mutant's outcome in a later folder replaces an earlier one)
#   ci/mutants.sh --survivors DIR SINCE [--shard K/N]
#                                 test again only the survivors of DIR, whose run tested the
#                                 revision SINCE (after new scenarios), and every mutant of a
#                                 mutated file changed since
#
# The mutants are tested in place (this checkout's files are changed one mutant at a time and
# put back; `target/` is reused), so run it in a clean checkout or worktree that nothing else
# edits meanwhile. Survivors listed in ci/mutants-equivalent.txt (with their reason) are
# equivalent mutants: they do not count against the score. Exits 1 when a survivor is not
# listed there, or when the score is under the goal (90%).
set -euo pipefail
cd "$(dirname "$0")/.."

# The decision modules (issue 16 §4): paths, scoping, the JSON-RPC envelope and injection,
# well-known parsing, JWT checks, Origin and Accept rules, the cluster signature.
files=(
    'reference/src/paths/*.rs'
    'reference/src/scoping/*.rs'
    reference/src/rpc/envelope.rs
    reference/src/rpc/inject.rs
    reference/src/wellknown.rs
    reference/src/auth/jwt.rs
    reference/src/auth/claims.rs
    reference/src/mcp/origin.rs
    reference/src/mcp/accept.rs
    reference/src/cluster/signature.rs
)
goal=90

score() {
    python3 - "$goal" ci/mutants-equivalent.txt "$@" <<'EOF'
import json, re, sys
goal, listed_file, dirs = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
strip = lambda name: re.sub(r":\d+:\d+:", ":", name)
# Each listed survivor says why no scenario kills it, in one of these kinds (the first word of
# its reason). Only `equivalent` is equivalence proper; the others are said apart, and the
# score is printed both without them and with them counted as missed.
KINDS = {
    "equivalent": "behaves as the original on every input that reaches it",
    "defect-only": "reached only under a loosened policy of the defect matrix",
    "unreachable": "reached only with a setting no variant of the suite's reference uses",
    "clock": "differs only at an exact second or hour of the clock, so a verdict on it would flip",
    "unspecified": "differs only where no spec says what is right",
}
listed = {}
for n, line in enumerate(open(listed_file, encoding="utf-8"), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    name, _, reason = line.partition("  # ")
    kind = reason.split(":", 1)[0].strip()
    if kind not in KINDS or not reason.partition(":")[2].strip():
        sys.exit(f"{listed_file}:{n}: the reason must be `KIND: why`, KIND one of "
                 f"{', '.join(KINDS)}: {line!r}")
    # A name with its line and column matches that one mutant; without, every mutant of that
    # name in the file (they share the reason).
    listed[name.strip()] = kind
counts = {"caught": 0, "missed": 0, "timeout": 0, "unviable": 0}
by_kind = {k: 0 for k in KINDS}
unlisted = []
# A later folder's outcome of a mutant replaces an earlier one's: a survivor tested again
# (`--survivors`) after new scenarios were written counts once, as it fared last.
latest = {}
origin = {}  # mutant name -> the files its run tested whole
for d in dirs:
    # A run of survivors tested some files whole (their lines had moved): its outcomes replace
    # every outcome of those files from runs that did not (the shards of one such run keep each
    # other's).
    try:
        whole = frozenset(open(f"{d}/../retested-files.txt", encoding="utf-8").read().split())
    except FileNotFoundError:
        whole = frozenset()
    for k in [k for k in latest if k.split(":", 1)[0] in whole - origin[k]]:
        del latest[k]
    outcomes = json.load(open(f"{d}/outcomes.json", encoding="utf-8"))
    for o in outcomes["outcomes"]:
        scenario = o.get("scenario")
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue  # the baseline
        key = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout",
               "Unviable": "unviable"}.get(o["summary"])
        if key is not None:
            latest[scenario["Mutant"]["name"]] = key
            origin[scenario["Mutant"]["name"]] = whole
for name, key in sorted(latest.items()):
    label = name if name in listed else strip(name)
    if key == "missed" and label in listed:
        by_kind[listed[label]] += 1
        continue
    if key == "missed":
        unlisted.append(name)
    counts[key] += 1
killed = counts["caught"] + counts["timeout"]
judged = killed + counts["missed"]
pct = 100.0 * killed / judged if judged else 100.0
excused = sum(by_kind.values())
strict = 100.0 * killed / (judged + excused) if judged + excused else 100.0
print(f"mutants: {len(latest)} tested; {killed} caught (of which {counts['timeout']} by timeout), "
      f"{counts['missed']} missed and not listed, {excused} missed and listed, "
      f"{counts['unviable']} unviable")
for k, n in by_kind.items():
    if n:
        print(f"  listed as {k} ({KINDS[k]}): {n}")
print(f"score: {killed}/{judged} = {pct:.1f}% of the viable mutants not listed (goal {goal:.0f}%)")
proper = by_kind["equivalent"] + by_kind["defect-only"]
middle = 100.0 * killed / (judged + excused - proper) if judged + excused - proper else 100.0
print(f"       {killed}/{judged + excused - proper} = {middle:.1f}% with only the equivalent and "
      f"defect-only ones left out (unreachable, clock and unspecified counted as missed)")
print(f"       {killed}/{judged + excused} = {strict:.1f}% with every listed survivor counted as missed")
for u in unlisted:
    print(f"SURVIVOR: {u}")
sys.exit(1 if unlisted or pct < goal else 0)
EOF
}

mode="${1:-full}"
case "$mode" in
    --score) shift; score "$@"; exit ;;
    full | --sample | --shard | --survivors) ;;
    *) echo "usage: ci/mutants.sh [--sample | --shard K/N | --survivors DIR SINCE [--shard K/N] | --score DIR...]" >&2
       exit 2 ;;
esac
survivors_of=""
if [ "$mode" = --survivors ]; then
    survivors_of="$(cd "${2:?--survivors DIR SINCE}" && pwd)"
    since="${3:?--survivors DIR SINCE: the git revision the run of DIR tested}"
    shift 3
    mode="${1:-full}"
fi

# The judge is built once, from this checkout as it is (unmutated), and copied aside so that no
# mutant's build can touch it.
cargo build -q -p mcpgw-conformance
mkdir -p target/mutants-harness
cp target/debug/mcpgw-conformance target/mutants-harness/
export MCPGW_SUITE_HARNESS="$PWD/target/mutants-harness/mcpgw-conformance"
suite=(cargo test -q -p mcpgw-reference --features mutation-suite --test scenario_suite)

if [ "$mode" = --sample ]; then
    # Unmutated, the suite passes; with each sample mutant applied, it fails.
    started=$SECONDS
    if ! "${suite[@]}" >target/mutants-harness/unmutated.log 2>&1; then
        tail -n 40 target/mutants-harness/unmutated.log
        echo "the scenario suite fails on the unmutated reference"
        exit 1
    fi
    applied=""
    trap '[ -n "$applied" ] && patch -s -R -p0 < "$applied"' EXIT
    survivors=0
    for diff in ci/mutants-sample/*.diff; do
        name=$(sed -n '1s/^# //p' "$diff")
        patch -s -p0 < "$diff"; applied="$diff"
        if "${suite[@]}" >/dev/null 2>&1; then
            echo "SURVIVOR: $name"; survivors=$((survivors + 1))
        else
            echo "caught   $name"
        fi
        patch -s -R -p0 < "$diff"; applied=""
    done
    echo "sample: $(ls ci/mutants-sample/*.diff | wc -l) mutants, $survivors survivor(s), $((SECONDS - started)) s"
    exit $((survivors > 0))
fi

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "cargo-mutants is missing; installing it"
    cargo install cargo-mutants --locked
fi

out_dir="target/mutants${survivors_of:+-survivors}${2:+-${2//\//-of-}}"
args=(--in-place --package mcpgw-reference --features mutation-suite --no-shuffle
      --timeout 120 --output "$out_dir")
for f in "${files[@]}"; do args+=(--file "$f"); done
if [ -n "$survivors_of" ]; then
    # The mutants DIR's run missed, each by its exact name (one --re per mutant); and every
    # mutant of a mutated file that changed since SINCE, since its mutants' lines may have moved
    # (the score then takes this run's outcomes for those files whole: retested-files.txt).
    mkdir -p "$out_dir/mutants.out"
    : > "$out_dir/retested-files.txt"
    quote() { printf '%s' "$1" | sed 's/[][\.^$*+?(){}|/]/\\&/g'; }
    for f in $(git diff --name-only "$since" -- "${files[@]}"); do
        echo "$f" >> "$out_dir/retested-files.txt"
        args+=(--re "^$(quote "$f"):")
    done
    while IFS= read -r name; do
        [ -n "$name" ] || continue
        grep -qxF "${name%%:*}" "$out_dir/retested-files.txt" && continue
        args+=(--re "^$(quote "$name")\$")
    done < "$survivors_of/missed.txt"
fi
if [ "$mode" = --shard ]; then
    args+=(--shard "${2:?--shard K/N}")
fi

started=$SECONDS
rc=0
cargo mutants "${args[@]}" --cargo-arg=--test=scenario_suite || rc=$?
out="$out_dir/mutants.out"
echo "cargo-mutants exit $rc in $((SECONDS - started)) s; outcomes in $out"
# cargo-mutants exits 2 when mutants were missed, 3 on timeouts; the score decides here.
case "$rc" in 0 | 2 | 3) ;; *) exit "$rc" ;; esac
score "$out"

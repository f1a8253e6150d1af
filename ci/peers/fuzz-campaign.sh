# The fuzz campaigns every gate runs after its suite (sourced, not run): a fixed seed and case
# count (MCPGW_GATE_FUZZ_SEED, default 1; MCPGW_GATE_FUZZ_CASES, default 2000), every invariant
# broken found and written under REPORTS/fuzz-regressions, the whole output in REPORTS/fuzz.txt;
# then a campaign of sequences (`fuzz --sequences`, MCPGW_GATE_FUZZ_SEQUENCES, default 300, same
# seed), written under REPORTS/fuzz-sequence-regressions, its output in
# REPORTS/fuzz-sequences.txt. 0 skips either.
#
#   gate_fuzz_campaign TAG BIN REPORTS TARGET-ARGS...
#
# TAG prefixes the lines printed on stderr (`[TAG] fuzz: ...`); TARGET-ARGS say which gateway
# and baseline (`--target URL --target-file F --baseline B`). Returns the campaign's exit code
# (the first that failed; 0 when both counts are 0: no campaign).
#
# One case at a time (`--jobs 1`): cases sent together may meet each other's effects on a peer's
# sessions, which could hide a finding in one run and not the next; a gate's verdict must not
# depend on that.

gate_fuzz_campaign() {
  local tag="$1" bin="$2" reports="$3"; shift 3
  local rc=0
  if [ "${MCPGW_GATE_FUZZ_CASES:-2000}" != 0 ]; then
    gate_fuzz_run "$tag" "$bin" "$reports" fuzz "" "${MCPGW_GATE_FUZZ_CASES:-2000}" "$@" || rc=$?
  fi
  if [ "${MCPGW_GATE_FUZZ_SEQUENCES:-300}" != 0 ]; then
    local src=0
    gate_fuzz_run "$tag" "$bin" "$reports" fuzz-sequences --sequences \
      "${MCPGW_GATE_FUZZ_SEQUENCES:-300}" "$@" || src=$?
    [ "$rc" = 0 ] && rc=$src
  fi
  return "$rc"
}

# gate_fuzz_run TAG BIN REPORTS NAME MODE-FLAG CASES TARGET-ARGS...: one campaign, its output in
# REPORTS/NAME.txt, its findings' scenarios in REPORTS/NAME-regressions (`fuzz-regressions` for
# the campaign of single requests).
gate_fuzz_run() {
  local tag="$1" bin="$2" reports="$3" name="$4" mode="$5" cases="$6"; shift 6
  local dir="$reports/${name/fuzz-sequences/fuzz-sequence}-regressions"
  rm -rf "$dir"
  local frc=0
  # shellcheck disable=SC2086 # MODE is one flag or none
  "$bin" fuzz --quiet --keep-going --jobs 1 $mode "$@" \
    --cases "$cases" --seed "${MCPGW_GATE_FUZZ_SEED:-1}" \
    --regressions-dir "$dir" > "$reports/$name.txt" 2>&1 || frc=$?
  sed -n '1,/^$/p' "$reports/$name.txt" | grep -E '^(PASS|FAIL|broken|baseline|statuses|cleanup)' \
    | sed "s/^/[$tag] $name: /" >&2 || true
  if [ "$frc" != 0 ]; then
    printf '[%s] %s campaign: exit %s; findings and their scenarios: %s\n' "$tag" "$name" "$frc" "$reports/$name.txt" >&2
    grep -E '^((case|sequence) [0-9]+ broke|shrunk in|wrote|replayed|  [0-9]+\. )' "$reports/$name.txt" >&2 || cat "$reports/$name.txt" >&2
  fi
  return "$frc"
}

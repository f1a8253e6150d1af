# The fuzz campaign every gate runs after its suite (sourced, not run): a fixed seed and case
# count (MCPGW_GATE_FUZZ_SEED, default 1; MCPGW_GATE_FUZZ_CASES, default 2000), every invariant
# broken found and written under REPORTS/fuzz-regressions, the whole output in REPORTS/fuzz.txt.
#
#   gate_fuzz_campaign TAG BIN REPORTS TARGET-ARGS...
#
# TAG prefixes the lines printed on stderr (`[TAG] fuzz: ...`); TARGET-ARGS say which gateway
# and baseline (`--target URL --target-file F --baseline B`). Returns the campaign's exit code
# (0 when MCPGW_GATE_FUZZ_CASES is 0: no campaign).
#
# One case at a time (`--jobs 1`): cases sent together may meet each other's effects on a peer's
# sessions, which could hide a finding in one run and not the next; a gate's verdict must not
# depend on that.

gate_fuzz_campaign() {
  local tag="$1" bin="$2" reports="$3"; shift 3
  [ "${MCPGW_GATE_FUZZ_CASES:-2000}" = 0 ] && return 0
  rm -rf "$reports/fuzz-regressions"
  local frc=0
  "$bin" fuzz --quiet --keep-going --jobs 1 "$@" \
    --cases "${MCPGW_GATE_FUZZ_CASES:-2000}" --seed "${MCPGW_GATE_FUZZ_SEED:-1}" \
    --regressions-dir "$reports/fuzz-regressions" > "$reports/fuzz.txt" 2>&1 || frc=$?
  sed -n '1,/^$/p' "$reports/fuzz.txt" | grep -E '^(PASS|FAIL|broken|baseline|statuses|cleanup)' \
    | sed "s/^/[$tag] fuzz: /" >&2 || true
  if [ "$frc" != 0 ]; then
    printf '[%s] fuzz campaign: exit %s; findings and their scenarios: %s\n' "$tag" "$frc" "$reports/fuzz.txt" >&2
    grep -E '^(case [0-9]+ broke|shrunk in|wrote|replayed)' "$reports/fuzz.txt" >&2 || cat "$reports/fuzz.txt" >&2
  fi
  return "$frc"
}

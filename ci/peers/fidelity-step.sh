# The fidelity step every gate with a fidelity upstream runs after its suite (sourced, not run):
# the same conversations held directly with the harness's fidelity fixture and through the
# gateway, each difference judged against the gate's baseline (entries `fidelity/<feature>:<step>`,
# kept in the same file as the suite's), the feature table and the added latency written to
# REPORTS/fidelity/{report.html,summary.md,report.json,junit.xml}.
#
#   gate_fidelity TAG BIN OUT BLESS TARGET-ARGS...
#
# OUT is the report directory (REPORTS/fidelity; emptied first); TAG prefixes the lines printed
# on stderr; BLESS is 1 to rewrite the baseline's fidelity entries
# from this run; TARGET-ARGS say which gateway and baseline (`--target URL --target-file F
# --baseline B`). MCPGW_GATE_FIDELITY_SAMPLES (default 30) is how many times each timed request
# is sent each way for the latency (0: not measured). Returns fidelity's exit code.

gate_fidelity() {
  local tag="$1" bin="$2" out="$3" bless="$4"; shift 4
  rm -rf "$out"
  mkdir -p "$out"
  local -a extra=()
  [ "$bless" = 1 ] && extra+=(--bless)
  local frc=0
  "$bin" fidelity "$@" --report-dir "$out" --samples "${MCPGW_GATE_FIDELITY_SAMPLES:-30}" \
    "${extra[@]}" > "$out/fidelity.txt" 2>&1 || frc=$?
  # The feature table and the verdict lines, for the job log.
  grep -vE '^\s*$' "$out/fidelity.txt" | sed "s/^/[$tag] fidelity: /" >&2 || true
  return "$frc"
}

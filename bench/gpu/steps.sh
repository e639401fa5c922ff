# Shared by the GPU machine's scripts (run.sh, train.sh), sourced after `cd` to the
# repository root: `log_to FILE` copies all output to $OUT/FILE when $OUT is set, and
# `step NAME COMMAND...` runs, times and reports a step, remembering a failure in $status
# while the next step still runs (one loan of a GPU should give as much as it can).
status=0

log_to() {  # log_to FILE
  local log=/dev/null
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; log="$OUT/$1"; fi
  exec > >(tee "$log") 2>&1
}

step() {  # step NAME COMMAND...: run, time and report
  local name=$1; shift
  echo; echo "=== $name"
  local t0=$SECONDS
  "$@"; local rc=$?
  echo "=== $name: $([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)") in $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || status=1
  return $rc
}

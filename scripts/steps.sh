# Shared by the scripts that run a series of steps and go on after a failure (CI's .ci/run and
# .ci/fresh-root, scripts/check-pip-torch.sh, the GPU machine's bench/gpu/run.sh and train.sh,
# docs/reproduction/gpu.sh: one loan of a GPU, or one CI run, should give as much as it can),
# sourced after `cd` to the repository root:
#   `step NAME COMMAND...` runs, times and reports a step (lines starting with $STEP_MARK,
#     default ===), remembers a failure in $status, and returns the step's exit status;
#   `log_to FILE` copies all output to $OUT/FILE when $OUT is set.
# In a script with `set -e`, call `step` where a failure is allowed (`if`, `||`): its command
# runs on the left of `||`, where bash ignores errexit, so a failing step never ends the script
# by itself, but its status returned at the top level would.
status=0

step() {  # step NAME COMMAND...: run, time and report
  local name=$1 t0=$SECONDS rc=0
  shift
  echo; echo "${STEP_MARK:-===} $name"
  "$@" || rc=$?
  echo "${STEP_MARK:-===} $name: $([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)") in $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || status=1
  return $rc
}

log_to() {  # log_to FILE
  local log=/dev/null
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; log="$OUT/$1"; fi
  exec > >(tee "$log") 2>&1
}

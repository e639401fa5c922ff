#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan, UBSan; and the main build's library, which the
# parsers' targets link) and runs each for SECONDS seconds (default 20) from the seed corpus
# in fuzz/corpus/. Prints each target's executions and
# exits non-zero on any crash, leak or sanitizer report.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || {
    sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y clang libclang-rt-14-dev
    break
  }
done
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
# The parsers' targets link the rest of the library from the main build (fuzz/CMakeLists.txt).
[ -f build/CMakeCache.txt ] || scripts/setup.sh
lib_log=$(mktemp)
cmake --build build -j"$(nproc)" --target eelu > "$lib_log" 2>&1 || { tail -40 "$lib_log"; exit 1; }
rm -f "$lib_log"
CXX=clang++ cmake -S fuzz -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" > /dev/null
cmake --build build-fuzz -j"$(nproc)"
status=0
for target in idx cifar jpeg activation_spec grid_config; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$target"/* "$work"/
  log=build-fuzz/fuzz_$target.log
  # LibTorch is not instrumented: leak checks would report its one-time allocations.
  if ASAN_OPTIONS=detect_leaks=0 build-fuzz/fuzz_"$target" -max_total_time="$seconds" \
       -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=build-fuzz/crash-"$target"- \
       "$work" > "$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz_$target: ${seconds}s, $runs executions, 0 crashes"
  else
    echo "fuzz_$target: FAILED (see $log)"; tail -40 "$log"; status=1
  fi
  rm -rf "$work"
done
exit $status

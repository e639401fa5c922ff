#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and runs the
# consumer project against it with find_package(eelu).
#   run.sh BUILD_DIR WORK_DIR CMAKE
set -euo pipefail
build=$1 work=$2 cmake=${3:-cmake}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
"$cmake" --install "$build" --prefix "$work/prefix" > "$work.install.log" 2>&1 || {
  cat "$work.install.log"; exit 1; }
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
"$cmake" -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"
"$cmake" --build "$work/build" -j2
"$work/build/consumer"

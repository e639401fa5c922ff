#!/usr/bin/env bash
# The main job: set up, build the eelu tool, and run it. Until the trainer exists the job is
# `eelu selfcheck`: the operator against its composite reference, and a small timing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake --build build -j"$(nproc)" --target eelu_cli
exec build/eelu selfcheck "$@"

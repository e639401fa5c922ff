#!/usr/bin/env bash
# Every test: set up, build everything, run the C++ tests (ctest) and the Python tests
# (pytest, under /usr/bin/python3, the Python that Debian's python3-torch belongs to, one
# process per CPU (pytest-xdist), each test file in one process: its fixtures are made once).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake --build build -j"$(nproc)"
status=0
ctest --test-dir build --output-on-failure -j"$(nproc)" || status=1
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider -n "$(nproc)" --dist loadfile tests/python ||
  status=1
exit $status

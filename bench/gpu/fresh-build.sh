#!/usr/bin/env bash
# Checks bench/gpu/train.sh's build where the lent GPU machines stand: a Debian 12 root with a
# compiler, CMake, Python and PyTorch from PyPI (this machine's pip check environment, mounted
# read-only), nvcc (this machine's CUDA, mounted) and none of the -dev packages the project
# installs elsewhere (the base's GoogleTest removed too): only what bench/gpu/deps.sh put in
# .gpu-deps/. Builds the whole tree with the CUDA kernels, runs the device tests and a short
# training run on the carried data (`train.sh --build-only`). Needs root, like
# scripts/fresh-check.sh, which it runs.
#
#     bench/gpu/fresh-build.sh            # after scripts/check-pip-torch.sh made the venv
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${EELU_PIP_CACHE:-/var/cache/eelu-pip}/venv-torch-${EELU_GPU_TORCH:-2.15.0}
[ -x "$venv/bin/python" ] || { echo "fresh-build: no $venv (run scripts/check-pip-torch.sh)" >&2; exit 2; }
[ -d .gpu-deps ] || bench/gpu/deps.sh
# The venv's own interpreter lives outside it (pyvenv.cfg's home): mount its prefix too.
home=$(sed -n 's/^home = //p' "$venv/pyvenv.cfg")
binds="$venv $(dirname "$home")"
[ -d /usr/local/cuda ] && binds="$binds $(readlink -f /usr/local/cuda)"
EELU_FRESH_BIND="$binds" EELU_FRESH_COPY=".gpu-deps" \
EELU_FRESH_PURGE="libgtest-dev libgmock-dev googletest libbenchmark-dev" \
  scripts/fresh-check.sh env PYTHON="$venv/bin/python" PATH="$(readlink -f /usr/local/cuda)/bin:/usr/bin:/bin" \
  bench/gpu/train.sh --build-only

#!/usr/bin/env bash
# The tests against PyPI's torch 2.x, the PyTorch that users have (a CUDA build, which runs on
# the CPU here). For each pinned version, in a virtual environment of its own:
#   - `pip install --no-build-isolation .` (the operator library built against that torch;
#     with the CUDA kernels compiled and linked by the machine's nvcc for the newest), then the
#     operator tests from outside the repository, against the installed package;
#   - for the newest also the whole tree (CLI, trainer, tests' helpers, and with nvcc the CUDA
#     kernels) built with CMake against it, and the Python test suite on that build (but the
#     Slurm tests and those marked slow, which scripts/test.sh runs); EELU_PIP_WHOLE_TREE=0
#     leaves this out (CI does: bench/gpu/fresh-build.sh builds the whole tree against pip's
#     torch there).
# Needs the Debian packages of scripts/setup.sh (run it first), a python3 with venv, and
# PyPI. Downloads and the environments are kept in $EELU_PIP_CACHE (default
# /var/cache/eelu-pip), so a second run reuses them.
#
#     scripts/check-pip-torch.sh                 # the pinned versions below
#     EELU_TORCH_VERSIONS="2.11.0" scripts/check-pip-torch.sh
# Every step runs even when one before it failed (scripts/steps.sh), hence no `set -e`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)
source scripts/steps.sh  # step NAME COMMAND...: run, time, report; a failure sets $status
# The newest 2.x on PyPI, and the one on the lent GPU machines.
versions=(${EELU_TORCH_VERSIONS:-2.15.0 2.11.0})
cache=${EELU_PIP_CACHE:-/var/cache/eelu-pip}
export PIP_CACHE_DIR=$cache/pip PIP_DISABLE_PIP_VERSION_CHECK=1
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
mkdir -p "$cache" || exit 1

python=python3
if ! "$python" -m venv --help > /dev/null 2>&1 || ! "$python" -c "import ensurepip" 2> /dev/null; then
  python=/usr/bin/python3
  "$python" -c "import ensurepip" 2> /dev/null || {
    echo "check-pip-torch: installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv > /dev/null
  }
fi

venv_of() { echo "$cache/venv-torch-$1"; }

make_venv() {  # make_venv VERSION: a venv with torch==VERSION, made once and then reused
  local version=$1 venv
  venv=$(venv_of "$1")
  if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$version')" 2> /dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
  fi
  # The test tools (ONNX and its runtimes for tests/python/test_onnx.py), pinned.
  "$venv/bin/pip" install -q "torch==$version" numpy pytest pytest-xdist setuptools wheel \
    onnx==1.23.2 onnxruntime==1.32.0 onnxscript==0.7.2 &&
    "$venv/bin/python" -c "import torch; print('torch', torch.__version__, 'in', '$venv')"
}

pip_install() {  # pip_install VENV CUDA(0|1): the package, built against the venv's torch
  local venv=$1
  "$venv/bin/pip" uninstall -q -y eelu > /dev/null 2>&1 || true
  EELU_CUDA=$2 EELU_CUDA_ARCHS=90 PATH="$venv/bin:$PATH" \
    "$venv/bin/python" -m pip install -q --no-build-isolation "$repo"
}

installed_tests() {  # installed_tests VENV CUDA(0|1): the operator tests against the installed package
  (cd /tmp && EELU_TEST_INSTALLED=1 EELU_EXPECT_CUDA=$2 "$1/bin/python" -m pytest -q -p no:cacheprovider \
     "$repo/tests/python/test_installed.py" "$repo/tests/python/test_ops.py" \
     "$repo/tests/python/test_module.py" "$repo/tests/python/test_errors.py" \
     "$repo/tests/python/test_compile.py" "$repo/tests/python/test_onnx.py" \
     "$repo/tests/python/test_activations.py")
}

whole_tree() {  # whole_tree VENV BUILD_DIR: CMake build of everything against the venv's torch
  local prefix
  prefix=$("$1/bin/python" -c "import torch; print(torch.utils.cmake_prefix_path)")
  local launcher=() cuda=()
  command -v ccache > /dev/null &&
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  # With nvcc, the whole tree as a GPU machine builds it: the CUDA kernels (sm_90, the lent
  # H200s) compiled and linked with the trainer's CUDA paths (issue 18).
  command -v nvcc > /dev/null && cuda=(-DEELU_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
  mkdir -p "$2"
  cmake -S "$repo" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DPython_EXECUTABLE="$1/bin/python" "${launcher[@]}" "${cuda[@]}" > "$2/configure.log" 2>&1 ||
    { cat "$2/configure.log"; return 1; }
  if ! cmake --build "$2" -j"$(nproc)" > "$2/build.log" 2>&1; then
    grep -E -A3 "error|Error" "$2/build.log" | head -60
    return 1
  fi
}

whole_suite() {  # whole_suite VENV BUILD_DIR: the Python tests on that build
  # but the Slurm tests (minutes of a one-node cluster) and the long pipelines marked slow:
  # scripts/test.sh runs those, in CI's fresh root.
  EELU_TEST_SLURM=0 EELU_BUILD_DIR=$2 "$1/bin/python" -m pytest -q -p no:cacheprovider \
    -n "$(nproc)" --dist loadfile -m "not slow" "$repo/tests/python"
}

newest=${versions[0]}
for version in "${versions[@]}"; do
  venv=$(venv_of "$version")
  step "torch $version: virtual environment" make_venv "$version"
  cuda=0
  [ "$version" = "$newest" ] && command -v nvcc > /dev/null && cuda=1
  step "torch $version: pip install --no-build-isolation . (CUDA kernels: $cuda)" pip_install "$venv" "$cuda"
  step "torch $version: operator tests against the installed package" installed_tests "$venv" "$cuda"
  if [ "$version" = "$newest" ] && [ "${EELU_PIP_WHOLE_TREE:-1}" != 0 ]; then
    build=$repo/build-torch-$version
    step "torch $version: the whole tree with CMake" whole_tree "$venv" "$build"
    step "torch $version: the whole Python test suite" whole_suite "$venv" "$build"
  fi
done
echo "check-pip-torch: $([ $status -eq 0 ] && echo "all passed" || echo "some steps FAILED") (torch ${versions[*]})"
exit $status

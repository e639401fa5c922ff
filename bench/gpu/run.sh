#!/usr/bin/env bash
# One call on a GPU machine (PyTorch 2.x with CUDA, CMake, nvcc; nothing else needed):
# builds the operator library with the CUDA kernels against that PyTorch, runs the CUDA
# checks (bench/gpu/check.py), the CPU checks of the same library, and the benchmark
# (bench/gpu/bench.py). Everything goes to stdout and, when $OUT is set, to $OUT/gpu-run.txt.
#
#     bench/gpu/run.sh            # from the repository root, or anywhere
#
# A step that fails is reported and the next one still runs: one loan of a GPU should give
# as much as it can. Exit status: 0 if every step passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
source scripts/steps.sh
log_to gpu-run.txt

echo "eelu GPU run, $(date -u +%FT%TZ), commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -1 || true
cmake --version | head -1 || true
$PY -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cmake prefix", torch.utils.cmake_prefix_path)'
PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
ARCH=$($PY -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")')
JOBS=$(nproc)

build_cmake() {
  cmake -S . -B build-gpu -DEELU_MINIMAL=ON -DEELU_WITH_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" &&
  cmake --build build-gpu -j"$JOBS"
}
LIB=$PWD/build-gpu/libeelu.so
if ! step "build (CMake, EELU_WITH_CUDA, sm_$ARCH)" build_cmake; then
  # The same sources through PyTorch's own extension builder, in case CMake's CUDA set-up
  # is what failed on this machine.
  step "build (torch.utils.cpp_extension fallback)" $PY bench/gpu/build_ext.py build-gpu-ext &&
    LIB=$(ls "$PWD"/build-gpu-ext/*.so | head -1)
fi
export EELU_LIBRARY=$LIB
if [ -f "$LIB" ]; then
  step "CUDA checks" $PY bench/gpu/check.py --device cuda
  step "CPU checks of the same library (LibTorch $($PY -c 'import torch; print(torch.__version__)'))" \
    $PY bench/gpu/check.py --device cpu --quick
  step "benchmark (64M float32)" $PY bench/gpu/bench.py
else
  echo "no library built: checks and benchmark skipped"; status=1
fi
# Issue 2: the whole project must configure against LibTorch 2.x. This machine lacks the
# Debian packages of the non-operator parts (CLI11, SQLite, ...), so configure the
# CPU-only minimal tree (and its build above compiled the operators against 2.x).
step "configure against LibTorch 2.x (CPU, minimal)" \
  cmake -S . -B build-2x-cpu -DEELU_MINIMAL=ON -DCMAKE_PREFIX_PATH="$PREFIX" > /dev/null
echo; echo "gpu run: $([ $status -eq 0 ] && echo 'all steps passed' || echo 'some steps FAILED')"
exit $status

#!/usr/bin/env bash
# The trainer on a GPU machine (issue 18), one call: builds the whole tree (CLI, trainer,
# tests) with the CUDA kernels against the machine's PyTorch, with the dependencies of
# bench/gpu/deps.sh (.gpu-deps/, carried with the call), then
#   - the device tests of the C++ suite on the GPU machine;
#   - images/s of `eelu train --device cuda` (simple-cnn and resnet20 on full Fashion-MNIST,
#     ReLU and EELU, fp32 and bf16) beside the same network in PyTorch eager
#     (bench/gpu/eager_train.py), with the trainer's data-wait share;
#   - checkpoint portability: a GPU run evaluated and resumed on the CPU, and back;
#   - `eelu compare` of ReLU and EELU, 10 epochs on full Fashion-MNIST, with the wall time;
#   - nvidia-smi's utilisation sampled during a run.
# Without a GPU (or with --build-only) it builds and runs the tests that need none: what
# bench/gpu/fresh-build.sh checks in a Debian root without the -dev packages.
# Output: stdout, and $OUT/gpu-train.txt (+ the records under $OUT/train/) when $OUT is set.
#
#     bench/gpu/deps.sh                # here, once: .gpu-deps/
#     bench/gpu/train.sh               # there (the device call carries .gpu-deps)
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
DEPS=$PWD/.gpu-deps
BUILD=${EELU_GPU_BUILD:-build-gpu-full}
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1
source scripts/steps.sh
log_to gpu-train.txt
[ -d "$DEPS/root/usr" ] || { echo "no $DEPS: run bench/gpu/deps.sh first (and carry .gpu-deps)"; exit 2; }

echo "eelu trainer GPU run, $(date -u +%FT%TZ), commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null || echo "no nvidia-smi"
PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
TORCH_LIB=$($PY -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
GPU=$($PY -c 'import torch; print(int(torch.cuda.is_available()))')
[ $build_only -eq 1 ] && GPU=0
cuda_flags=()
if command -v nvcc > /dev/null; then
  ARCH=90
  [ "$GPU" = 1 ] && ARCH=$($PY -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")')
  cuda_flags=(-DEELU_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH")
fi
export LD_LIBRARY_PATH=$DEPS/root/usr/lib/x86_64-linux-gnu:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

build() {
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX;$DEPS/root/usr" \
    -DCMAKE_LIBRARY_ARCHITECTURE=x86_64-linux-gnu -DEELU_GLOO_INCLUDE_DIR="$DEPS/root/usr/include" \
    -DEELU_BUILD_BENCH=OFF -DPython_EXECUTABLE="$(command -v "$PY")" "${cuda_flags[@]}" &&
  cmake --build "$BUILD" -j"$(nproc)"
}
step "build the whole tree (${cuda_flags[*]:-CPU only})" build || { echo "build failed"; exit 1; }
EELU=$PWD/$BUILD/eelu
export EELU_LIBRARY=$PWD/$BUILD/libeelu.so  # bench/gpu/eager_train.py's EELU: this build
DATA=$DEPS/data/fashion-mnist
step "eelu --version" "$EELU" --version
step "device, precision and checkpoint tests (C++)" "$BUILD/tests/eelu_tests" \
  --gtest_filter='Device*:Autocast*:GradScaler*:Placement*:TrainSettings*:Checkpoint*'
step "a short CPU run with the carried data" "$EELU" train --device cpu --data-dir "$DATA" \
  --train-per-class 20 --epochs 1 --threads 4 --out "${OUT:-/tmp}/train/cpu-smoke" --overwrite --quiet

if [ "$GPU" != 1 ]; then
  echo; echo "no GPU (or --build-only): the GPU steps are not run"
  exit $status
fi

runs=${OUT:-/tmp/eelu-gpu}/train
mkdir -p "$runs"
rate() {  # rate DIR: the median images/s of its epochs after the first, and the data-wait share
  $PY - "$1" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
later = rows[1:] or rows
print(f"{statistics.median(r['images_per_second'] for r in later):.0f} img/s, data wait "
      f"{100 * sum(r['data_seconds'] for r in later) / sum(r['seconds'] for r in later):.1f}%")
PYEOF
}
throughput() {
  for model in simple-cnn resnet20; do
    for act in relu eelu; do
      for amp in none bf16; do
        spec=relu; [ $act = eelu ] && spec="eelu(eps=0.6, alpha=1, beta=1)"
        dir=$runs/$model-$act-$amp
        "$EELU" train --device cuda --data-dir "$DATA" --model $model --act "$spec" --amp $amp \
          --epochs 3 --workers 4 --overwrite --quiet --out "$dir" || return 1
        eager=$($PY bench/gpu/eager_train.py --model $model --act $act --amp $amp --data "$DATA" --epochs 2 |
                $PY -c 'import json, sys; print(f"{json.load(sys.stdin)[\"images_per_second\"]:.0f}")')
        echo "$model $act $amp: eelu train $(rate "$dir"); PyTorch eager $eager img/s"
      done
    done
  done
}
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -lms 500 > "$runs/nvidia-smi.csv" 2>&1 &
smi=$!
step "throughput: eelu train against PyTorch eager (full Fashion-MNIST)" throughput
kill $smi 2> /dev/null
echo "GPU utilisation while training (nvidia-smi every 0.5 s): median $(cut -d, -f1 "$runs/nvidia-smi.csv" |
  tr -d ' %' | grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')%"

portability() {  # a run stopped (SIGINT) on one device and resumed on the other, both ways
  local args=(--data-dir "$DATA" --train-per-class 20 --epochs 30 --act "eelu(eps=0.6)" --quiet)
  local there=$runs/gpu-then-cpu back=$runs/cpu-then-gpu
  timeout -s INT 6 "$EELU" train "${args[@]}" --device cuda --overwrite --out "$there"
  "$EELU" train "${args[@]}" --device cpu --resume --out "$there" || return 1
  "$EELU" eval --checkpoint "$there/checkpoint.pt" --device cpu | head -1 &&
  "$EELU" eval --checkpoint "$there/checkpoint.pt" --device cuda | head -1 || return 1
  timeout -s INT 6 "$EELU" train "${args[@]}" --device cpu --threads 4 --overwrite --out "$back"
  "$EELU" train "${args[@]}" --device cuda --resume --out "$back" || return 1
  grep -h '"device"' "$there/config.json" "$back/config.json"
}
step "checkpoint portability: stopped on one device, resumed and evaluated on the other" portability

compare() {
  local t0=$SECONDS
  "$EELU" compare --device cuda --data-dir "$DATA" --epochs 10 --workers 4 --overwrite \
    --out "$runs/compare" --act relu --act "eelu(eps=0.6, alpha=1, beta=1)" --quiet &&
  echo "wall time $((SECONDS - t0)) s"
}
step "eelu compare relu eelu, 10 epochs, full Fashion-MNIST" compare

nccl() {  # NCCL needs a GPU per rank: one GPU shows the refusal, or two ranks when it has two
  local gpus
  gpus=$($PY -c 'import torch; print(torch.cuda.device_count())')
  if [ "$gpus" -ge 2 ]; then
    "$EELU" train --device cuda --nproc 2 --data-dir "$DATA" --train-per-class 100 --epochs 2 \
      --act "eelu(eps=0.6)" --overwrite --quiet --out "$runs/nccl" && grep -h world_size "$runs/nccl/summary.json"
  else
    "$EELU" train --device cuda --nproc 2 --data-dir "$DATA" --epochs 1 --out "$runs/nccl"
    [ $? -eq 2 ] && echo "refused as it should be (exit 2): one GPU, two ranks"
  fi
}
step "distributed on GPUs (NCCL)" nccl
exit $status

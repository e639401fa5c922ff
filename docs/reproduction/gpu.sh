#!/usr/bin/env bash
# The reproduction's grids on a lent GPU machine (README.md, "On a GPU"), in one call: builds
# the tree as bench/gpu/train.sh does (the call carries .gpu-deps, from bench/gpu/deps.sh),
# brings the kept records into runs/ (run.sh restore), trains the runs not yet done with
# WORKERS processes sharing the GPU until BUDGET seconds of training have passed, writes the
# reports and the latent measures of the new 2% and ablation networks on the GPU (run.sh
# archive), and packs docs/reproduction/ (records and reports) into
# $OUT/reproduction.tar.gz. Back on the development machine, `docs/reproduction/run.sh unpack
# FILE` puts it in place and into runs/; commit it there. A run not finished when the time is
# up is left: it starts again on the next machine. The grids go in the order of GRIDS (the 2%
# grid first: the main comparison).
#
#     OUT=dir docs/reproduction/gpu.sh [BUDGET]      # there; BUDGET default 420 s
#
# EELU=path uses a tool built already (no build); DEVICE=cpu trains on the CPU (the test suite
# runs this script so, on small grids: tests/python/test_reproduction_script.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${1:-420}
WORKERS=${WORKERS:-8}
DEVICE=${DEVICE:-cuda}
GRIDS=${GRIDS:-2pct ablation ablation-init 10pct}
OUT=${OUT:-/tmp/eelu-reproduction}
DEPS=$PWD/.gpu-deps
source scripts/steps.sh
log_to reproduction-gpu.txt
echo "eelu reproduction on $DEVICE, $(date -u +%FT%TZ), commit $(git rev-parse --short=12 HEAD 2> /dev/null || echo unknown)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2> /dev/null || echo "no nvidia-smi"

if [ -z "${EELU:-}" ]; then
  BUILD=${EELU_GPU_BUILD:-build-gpu-full}
  # (its output comes here: $OUT keeps only this script's log and the archive, of the eight
  # files a device call brings back)
  step "build (bench/gpu/train.sh --build-only)" env -u OUT EELU_GPU_BUILD="$BUILD" \
    bench/gpu/train.sh --build-only || exit 1
  EELU=$PWD/$BUILD/eelu
  TORCH_LIB=$(${PYTHON:-python3} -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  export LD_LIBRARY_PATH=$DEPS/root/usr/lib/x86_64-linux-gnu:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
export EELU DEVICE

# The grids read Fashion-MNIST from its Debian place; a machine without Debian's package gets
# the carried copy there.
data=/usr/share/datasets/fashion-mnist
if [ ! -e "$data/train-images-idx3-ubyte" ] && [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
  if [ ! -d "$DEPS/data/fashion-mnist" ] ||
     ! { mkdir -p "$(dirname "$data")" && ln -sfn "$DEPS/data/fashion-mnist" "$data"; }; then
    echo "no Fashion-MNIST in $data, and none carried in $DEPS/data to link there"
    exit 1
  fi
fi

step "a one-epoch run on $DEVICE" "$EELU" train --device "$DEVICE" --train-per-class 10 \
  --epochs 1 --quiet --overwrite --out "$(mktemp -d)/smoke" || exit 1
step "restore the kept records into runs/" docs/reproduction/run.sh restore || exit 1

train_grids() {  # each grid in turn until the budget is spent; timeout stops the last one
  local g left start=$SECONDS
  for g in $GRIDS; do
    left=$((BUDGET - (SECONDS - start)))
    [ "$left" -ge 30 ] || break
    echo "grid $g, $left s left"
    timeout -s TERM -k 60 "$left" "$EELU" grid "configs/fashion-mnist-$g.toml" --workers "$WORKERS" \
      --device "$DEVICE" --quiet
    [ $? -eq 124 ] && break
  done
  return 0
}
step "train the grids for $BUDGET s ($WORKERS workers on $DEVICE)" train_grids
step "reports, latent measures and records (run.sh archive)" docs/reproduction/run.sh archive

pack() {
  mkdir -p "$OUT"
  tar -czf "$OUT/reproduction.tar.gz" docs/reproduction/records \
    $(ls -d docs/reproduction/main docs/reproduction/latent docs/reproduction/latent-noise \
      docs/reproduction/ablation docs/reproduction/ablation-init 2> /dev/null) &&
  echo "$OUT/reproduction.tar.gz: $(tar -tzf "$OUT/reproduction.tar.gz" | grep -c /summary.json) finished runs' records"
}
step "pack docs/reproduction/ for run.sh unpack" pack
for g in $GRIDS; do
  [ -f "runs/fashion-mnist-$g/experiment.db" ] && "$EELU" grid "configs/fashion-mnist-$g.toml" --status | head -1
done
exit $status

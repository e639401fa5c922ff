#!/usr/bin/env bash
# The main job: set up, build the eelu tool, then train the simple CNN on Fashion-MNIST (the
# Debian package) with ReLU and with EELU (the paper's setting: eps 0.6, alpha 1, beta 1),
# and print their test accuracies side by side. Records go to runs/main/<activation>/, replacing
# those of the last run of the main job (--overwrite).
# Extra arguments go to `eelu compare`, options it does not set already (e.g. --max-batches 50
# for a shorter run; --epochs, --threads, --seed and --out are set here).
# Where it trains: --device auto, the first GPU when the build has CUDA (a LibTorch with CUDA
# and -DEELU_WITH_CUDA=ON, e.g. bench/gpu/train.sh's build) and the machine a GPU; with
# Debian's LibTorch, which setup.sh builds against, the CPU (the run says so in one line).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake --build build -j"$(nproc)" --target eelu_cli
exec build/eelu compare --dataset fashion-mnist --model simple-cnn4 --epochs 2 \
  --threads "$(nproc)" --seed 0 --out runs/main --overwrite --device auto \
  --act relu --act "eelu(eps=0.6, alpha=1, beta=1)" "$@"

#!/usr/bin/env bash
# The converged, powered reproduction (issue 19, docs/reproduction/README.md), all of it:
# the four grids, the two whole-set runs of the defaults, then the reports and the latent
# measures over seeds written under docs/reproduction/. Every step resumes where it stopped
# (a grid's finished runs are not trained again, a run killed mid-epoch continues from its
# checkpoint), so it can be run again and again, across sessions or machines, until it ends.
#
#   docs/reproduction/run.sh               # everything, then the reports
#   docs/reproduction/run.sh reports       # only the reports, from what is done so far
#
# EELU (default build/eelu) is the tool; WORKERS (default: the cores) runs at a time. About 40
# core-hours for the grids and 3 for the whole-set runs on the 2-core development machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
EELU=${EELU:-build/eelu}
WORKERS=${WORKERS:-$(nproc)}
OUT=docs/reproduction
GRIDS="2pct 10pct ablation ablation-bn"

# One whole-set run of the defaults (docs/training.md) with ReLU, seed 0: MODEL, into
# runs/defaults-full-MODEL, resumed when it has a checkpoint.
whole_set() {
  local model=$1 dir=runs/defaults-full-$1 resume=()
  [ -f "$dir/summary.json" ] && return 0
  [ -f "$dir/checkpoint.pt" ] && resume=(--resume)
  "$EELU" train --dataset fashion-mnist --model "$model" --act relu --init taylor --seed 0 \
    --threads 1 --workers 1 --quiet --out "$dir" "${resume[@]}"
}

train_everything() {
  for g in $GRIDS; do
    "$EELU" grid "configs/fashion-mnist-$g.toml" --workers "$WORKERS" --quiet
  done
  whole_set simple-cnn4
  whole_set resnet20
}

# The reports of the grids started so far (a grid's report covers its finished runs and says
# how many are not).
reports() {
  local main=() g
  for g in 2pct 10pct; do
    if [ -f "runs/fashion-mnist-$g/experiment.db" ]; then main+=("runs/fashion-mnist-$g"); fi
  done
  if [ ${#main[@]} -gt 0 ]; then "$EELU" report "${main[@]}" --out "$OUT/main"; fi
  # the ablation's anchors (ReLU, the main EELU) are the 2% grid's runs
  if [ -f runs/fashion-mnist-ablation/experiment.db ]; then
    "$EELU" report runs/fashion-mnist-2pct runs/fashion-mnist-ablation --out "$OUT/ablation"
  fi
  if [ -f runs/fashion-mnist-ablation-bn/experiment.db ]; then
    "$EELU" report runs/fashion-mnist-ablation-bn --out "$OUT/ablation-bn"
  fi
  # the latent measures of every finished network of the 2% grid, per activation over seeds
  if [ -f runs/fashion-mnist-2pct/experiment.db ]; then
    "$EELU" visualize --grid runs/fashion-mnist-2pct --no-plots --reference relu \
      --out "$OUT/latent" > /dev/null
  fi
}

case "${1:-all}" in
  all) train_everything && reports ;;
  reports) reports ;;
  *) echo "usage: $0 [all|reports]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# What EELU_MALLOC changes in a training run on the CPU (docs/performance.md, "The allocator
# on the CPU"): the same short run (2% of Fashion-MNIST, simple-cnn4, EELU, 8 epochs, one
# thread) with the C library's defaults (EELU_MALLOC=system) and with freed memory kept (the
# default), in turn, ROUNDS times; the medians of the training time, the page faults and the
# peak resident memory, their ratios, and whether both trained the same numbers (losses and
# accuracies, to the last digit).
#
#   bench/allocator.sh [ROUNDS]        # EELU: the tool (default build/eelu); needs GNU time
set -euo pipefail
cd "$(dirname "$0")/.."
EELU=${EELU:-build/eelu}
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run MODE ROUND: one training run; appends "seconds faults peak-KiB" to $work/MODE
  local out=$work/run-$1-$2
  EELU_MALLOC=$1 /usr/bin/time -f "%R %M" -o "$out.faults" "$EELU" train --dataset fashion-mnist \
    --model simple-cnn4 --act "eelu(eps=0.6, alpha=1, beta=1)" --init taylor \
    --train-fraction 0.02 --epochs 8 --eval-every 4 --workers 1 --threads 1 --seed 3 \
    --out "$out" > "$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  local seconds
  seconds=$(sed -n 's/.*, \([0-9.]*\) s of training;.*/\1/p' "$out.log")
  echo "$seconds $(tail -n 1 "$out.faults")" >> "$work/$1"
  # The numbers trained, without the timings.
  sed -E 's/"(seconds|data_seconds|images_per_second)":[^,}]*,?//g' "$out/metrics.jsonl" > "$out.numbers"
}

median() {  # median COLUMN FILE
  cut -d' ' -f"$1" "$2" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for ((r = 1; r <= rounds; r++)); do
  run system "$r"
  run retain "$r"
done
same=yes
for ((r = 1; r <= rounds; r++)); do
  cmp -s "$work/run-system-$r.numbers" "$work/run-retain-$r.numbers" || same=no
done
echo "allocator: $("$EELU" --version), $(nproc) CPUs, $rounds rounds, medians"
printf '  %-12s %17s %12s %14s\n' EELU_MALLOC "training seconds" "page faults" "peak RSS MiB"
for mode in system retain; do
  printf '  %-12s %17s %12s %14d\n' "$mode" "$(median 1 "$work/$mode")" "$(median 2 "$work/$mode")" \
    "$(($(median 3 "$work/$mode") / 1024))"
done
awk -v a="$(median 1 "$work/system")" -v b="$(median 1 "$work/retain")" \
    -v fa="$(median 2 "$work/system")" -v fb="$(median 2 "$work/retain")" \
    -v ma="$(median 3 "$work/system")" -v mb="$(median 3 "$work/retain")" \
  'BEGIN { printf "  retain/system: time %.3f, page faults %.3f, peak RSS %.3f\n", b / a, fb / fa, mb / ma }'
echo "  same losses and accuracies in both: $same"

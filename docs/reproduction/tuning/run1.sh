#!/bin/bash
# One validation run of docs/reproduction/tuning/: run1.sh NAME [eelu train options...]
# trains into $TUNE_DIR/NAME (default runs/tuning) with a 10% validation split held out and
# appends "NAME epoch:val_acc/train_acc ..." to $TUNE_DIR/results.txt. From the repository
# root, two at a time:  xargs -P 2 -L 1 docs/reproduction/tuning/run1.sh < docs/reproduction/tuning/jobs.txt
# (The runs of 2026-11-29 used a copy of build/eelu outside the build tree, so that rebuilding
# did not replace it under them: EELU=that copy.)
set -euo pipefail
name=$1
shift
eelu=${EELU:-build/eelu}
dir=${TUNE_DIR:-runs/tuning}
mkdir -p "$dir"
"$eelu" train --threads 1 --workers 1 --quiet --val-fraction 0.1 --eval-every 25 "$@" \
  --out "$dir/$name" --overwrite >"$dir/$name.log" 2>&1 || true
echo "$name $(python3 -c "import json,sys;m=[json.loads(l) for l in open(sys.argv[1])];print(' '.join('%d:%.4f/%.4f'%(r['epoch'],r.get('val_acc',-1),r['train_acc']) for r in m if 'val_acc' in r))" "$dir/$name/metrics.jsonl")" >>"$dir/results.txt"

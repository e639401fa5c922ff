#!/usr/bin/env python3
"""Data-parallel training against one process on the same machine (docs/distributed.md).

For each model: one process with T threads and batch B, against `eelu train --nproc 2` with
T/2 threads and batch B/2 per rank (the same cores, the same global batch), ROUNDS times each,
alternating. Prints the median training throughput of each, their ratio, and the share of the
distributed job's training time spent waiting for communication after backward (gradient
buckets not yet reduced, plus the per-step metrics reduction).

    /usr/bin/python3 bench/distributed.py [--eelu build/eelu] [--rounds 3] [--batches 60]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(eelu, out, model, act, batch, threads, batches, nproc):
    args = [eelu, "train", "--model", model, "--act", act, "--epochs", "1", "--max-batches",
            str(batches), "--batch-size", str(batch), "--threads", str(threads), "--workers", "1",
            "--quiet", "--out", str(out)]
    if nproc > 1:
        args += ["--nproc", str(nproc)]
    subprocess.run(args, check=True)
    summary = json.loads((out / "summary.json").read_text())
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return metrics["images_per_second"], summary.get("communication_seconds", 0.0), summary["train_seconds"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--eelu", default=str(Path(__file__).resolve().parent.parent / "build" / "eelu"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--models", nargs="+", default=["simple-cnn", "resnet20"])
    p.add_argument("--act", default="eelu")
    a = p.parse_args()
    print(f"{a.rounds} rounds of {a.batches} batches; global batch {a.batch}; 1 process x "
          f"{a.threads} threads against 2 ranks x {a.threads // 2} thread(s); activation {a.act}")
    print(f"{'model':<12} {'1 proc img/s':>13} {'2 ranks img/s':>14} {'ratio':>6} {'comm share':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            one, two, share = [], [], []
            for r in range(a.rounds):
                ips, _, _ = run(a.eelu, Path(tmp) / f"{model}-1-{r}", model, a.act, a.batch, a.threads,
                                a.batches, 1)
                one.append(ips)
                ips, comm, secs = run(a.eelu, Path(tmp) / f"{model}-2-{r}", model, a.act, a.batch // 2,
                                      max(1, a.threads // 2), a.batches, 2)
                two.append(ips)
                share.append(comm / secs)
            m1, m2 = statistics.median(one), statistics.median(two)
            print(f"{model:<12} {m1:>13.0f} {m2:>14.0f} {m2 / m1:>6.2f} {100 * statistics.median(share):>10.1f}%"
                  f"   (ratios per round: {', '.join(f'{b / c:.2f}' for b, c in zip(two, one))})")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

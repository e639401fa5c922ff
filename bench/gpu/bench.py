#!/usr/bin/env python3
"""EELU's CUDA kernels against torch.nn.functional.elu, the composite formulation and a
device-to-device copy (the bandwidth floor), on one GPU, in this process, on the same data.

    python3 bench/gpu/bench.py [--numel 67108864] [--repeats 20]

Times are medians of CUDA-event timings after warm-up; what matters are the ratios. Targets
(issue 9, 64M float32): training forward >= 70% of copy bandwidth counting bytes moved
(read x, write y: 8 bytes an element, as the copy's read+write); forward+backward >= 10x the
composite; eval forward <= 1.1x ELU.
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import eelu  # noqa: E402

OPS = torch.ops.eelu


def timed(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def composite(x, a, b, epsilon):
    """The formulation a user would write without the operator (spec, with noise)."""
    sigma = torch.rand((), device=x.device) * epsilon
    k = (1 + sigma * torch.randn_like(x)).clamp(0, 2)
    alpha = a.clamp_min(0).view(1, -1, 1, 1)
    beta = b.clamp_min(0).view(1, -1, 1, 1)
    return torch.where(x >= 0, k * x, alpha * torch.expm1(beta * x.clamp_max(0)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--numel", type=int, default=64 << 20)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    dev = torch.device("cuda")
    C = 64
    shape = (args.numel // (C * 128 * 128), C, 128, 128)
    n = shape[0] * C * 128 * 128
    torch.manual_seed(0)
    x = torch.randn(shape, device=dev)
    g = torch.randn(shape, device=dev)
    y = torch.empty_like(x)
    a = torch.full((C,), 0.25, device=dev)
    b = torch.ones(C, device=dev)
    bytes_rw = 8 * n  # read x, write y (float32)
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}, {n} float32 elements "
          f"{tuple(shape)}, median of {args.repeats}")

    t = {}
    t["copy"] = timed(lambda: y.copy_(x), args.repeats)
    t["elu fwd"] = timed(lambda: TF.elu(x), args.repeats)
    t["eelu eval fwd"] = timed(lambda: OPS.eelu(x, a, b, 1.0, False, True, None), args.repeats)
    t["eelu train fwd"] = timed(lambda: OPS.eelu(x, a, b, 1.0, True, True, None), args.repeats)
    sigma, seed, offset = OPS.draw_noise(1.0, None)
    t["eelu noise (k only)"] = timed(lambda: OPS.eelu_noise(x, sigma, seed, offset), args.repeats)
    t["eelu bwd (dx, da, db)"] = timed(
        lambda: OPS.eelu_backward(g, x, a, b, sigma, seed, offset, [True, True, True]), args.repeats)
    t["eelu bwd (dx only)"] = timed(
        lambda: OPS.eelu_backward(g, x, a, b, sigma, seed, offset, [True, False, False]), args.repeats)
    t["elu bwd"] = timed(lambda: torch.ops.aten.elu_backward(g, 1.0, 1.0, 1.0, False, x), args.repeats)

    xr = x.clone().requires_grad_()
    ar, br = a.clone().requires_grad_(), b.clone().requires_grad_()

    def eelu_fwd_bwd():
        out = OPS.eelu(xr, ar, br, 1.0, True, True, None)
        torch.autograd.grad(out, (xr, ar, br), g)

    def composite_fwd_bwd():
        out = composite(xr, ar, br, 1.0)
        torch.autograd.grad(out, (xr, ar, br), g)

    def elu_fwd_bwd():
        out = TF.elu(xr)
        torch.autograd.grad(out, (xr,), g)

    t["eelu fwd+bwd (autograd)"] = timed(eelu_fwd_bwd, args.repeats)
    t["composite fwd+bwd (autograd)"] = timed(composite_fwd_bwd, max(5, args.repeats // 4))
    t["elu fwd+bwd (autograd)"] = timed(elu_fwd_bwd, args.repeats)

    print(f"{'what':<32} {'ms':>9} {'GB/s (8 B/elt)':>15}")
    for name, s in t.items():
        print(f"{name:<32} {1e3 * s:>9.3f} {bytes_rw / s / 1e9:>15.0f}")
    copy_bw = bytes_rw / t["copy"]
    print("\nratios")
    print(f"  train fwd bandwidth / copy bandwidth   {bytes_rw / t['eelu train fwd'] / copy_bw:6.2f}   (target >= 0.70)")
    print(f"  composite fwd+bwd / eelu fwd+bwd       {t['composite fwd+bwd (autograd)'] / t['eelu fwd+bwd (autograd)']:6.2f}   (target >= 10)")
    print(f"  eelu eval fwd / elu fwd                {t['eelu eval fwd'] / t['elu fwd']:6.2f}   (target <= 1.10)")
    print(f"  eelu train fwd / elu fwd               {t['eelu train fwd'] / t['elu fwd']:6.2f}")
    print(f"  eelu bwd (dx, da, db) / elu bwd        {t['eelu bwd (dx, da, db)'] / t['elu bwd']:6.2f}")
    print(f"  eelu fwd+bwd / elu fwd+bwd             {t['eelu fwd+bwd (autograd)'] / t['elu fwd+bwd (autograd)']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The operator checks on one device (bench/gpu/run.sh runs them on CUDA; the CPU run keeps
the script honest between GPU loans: tests/python/test_gpu_script.py).

    python3 bench/gpu/check.py --device cuda     # needs a libeelu built with EELU_WITH_CUDA

Every check asserts values: forward and all three gradients against a float64 composite of
plain torch ops with the k the operator used (every dtype, rank, layout, parameter shape,
sizes that are not a multiple of the vector width, empty tensors), gradcheck in float64,
bitwise determinism, the noise's distribution from the device's own generator, NaN/inf
behaviour and argument errors; on CUDA also agreement with the CPU kernels for the same
noise (k, float32 forward and input gradient bit for bit). Prints one line per check and a
count; exits 1 if any failed.
"""
import argparse
import math
import sys
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import eelu  # noqa: E402  (loads libeelu: $EELU_LIBRARY or build/)

F = eelu.functional
OPS = torch.ops.eelu
class Skipped(Exception):
    """A check that cannot run here (raised by it, with the reason)."""


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def reference(x, a, b, k):
    """The spec's composite in plain torch ops (straight-through clamp of a and b)."""
    def st(p):
        q = p + (p.clamp_min(0) - p).detach()
        return q.reshape([1, -1] + [1] * (x.dim() - 2)) if x.dim() >= 2 and p.numel() > 1 else q
    return torch.where(x >= 0, k * x, st(a) * (torch.exp(st(b) * x.clamp_max(0)) - 1))


TOL = {torch.float64: 1e-11, torch.float32: 3e-6, torch.bfloat16: 1.6e-2, torch.float16: 2e-3}


def make_input(shape, layout, dtype, device, gen):
    if layout == "strided":  # a transposed view: neither contiguous nor channels last
        base = torch.randn(*shape[:-2], shape[-1], shape[-2], generator=gen) * 2
        x = base.transpose(-1, -2)
    else:
        x = torch.randn(*shape, generator=gen) * 2
    x = x.to(device=device, dtype=dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def compare(name, got, want, tol):
    got, want = got.double().cpu(), want.double().cpu()
    scale = want.abs().clamp_min(1.0)
    err = ((got - want).abs() / scale).max().item() if want.numel() else 0.0
    assert err <= tol, f"{name}: max error {err:.3g} > {tol:.3g}"


@check
def forward_and_gradients_against_the_float64_composite(dev, dtypes, quick):
    cases = [((2, 3, 5, 7), "contiguous"), ((2, 3, 5, 7), "channels_last"), ((2, 3, 6, 5), "strided"),
             ((3, 5, 33), "contiguous"), ((4, 6), "contiguous"), ((37,), "contiguous"),
             ((0, 3, 4, 4), "contiguous"), ((2, 3, 2, 3, 2), "contiguous")]
    if not quick:
        cases += [((8, 16, 17, 19), "channels_last"), ((1, 1, 1031), "contiguous")]
    gen = torch.Generator().manual_seed(1)
    n = 0
    for dtype in dtypes:
        for shape, layout in cases:
            for channelwise in ([False, True] if len(shape) >= 2 else [False]):
                for noisy in (False, True):
                    x = make_input(shape, layout, dtype, dev, gen).requires_grad_()
                    c = shape[1] if channelwise else 1
                    a = torch.linspace(-0.2, 1.1, c).to(dev, dtype).requires_grad_() if c > 1 else \
                        torch.full((1,), 0.7, device=dev, dtype=dtype, requires_grad=True)
                    b = torch.linspace(1.4, -0.1, c).to(dev, dtype).requires_grad_() if c > 1 else \
                        torch.full((1,), 1.3, device=dev, dtype=dtype, requires_grad=True)
                    sigma, seed, offset = (0.7, 12345 + n, 3 * n) if noisy else (0.0, 0, 0)
                    y = OPS.eelu_with_noise(x, a, b, sigma, seed, offset, True)
                    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
                    if layout == "channels_last" and len(shape) == 4:
                        assert y.is_contiguous(memory_format=torch.channels_last), "layout not kept"
                    w = torch.randn(shape, generator=gen).to(dev, dtype)
                    gx, ga, gb = torch.autograd.grad(y, (x, a, b), w) if x.numel() else (x, a, b)
                    x64, a64, b64 = (t.detach().double().requires_grad_() for t in (x, a, b))
                    k = OPS.eelu_noise(x64, sigma, seed, offset)
                    r = reference(x64, a64, b64, k)
                    tol = TOL[dtype]
                    name = f"{dtype} {shape} {layout} {'channel-wise' if channelwise else 'shared'} {'noisy' if noisy else 'eval'}"
                    compare(name + " y", y, r, tol)
                    if x.numel():
                        rx, ra, rb = torch.autograd.grad(r, (x64, a64, b64), w.double())
                        compare(name + " dx", gx, rx, tol)
                        # parameter gradients are sums over many elements: relative to the sum of |terms|
                        m = x.numel() / c
                        compare(name + " da", ga, ra, tol * max(1.0, math.sqrt(m)))
                        compare(name + " db", gb, rb, tol * max(1.0, math.sqrt(m)))
                    n += 1
    return f"{n} cases"


@check
def gradcheck_in_float64(dev, dtypes, quick):
    torch.manual_seed(0)
    for shape, channelwise in [((7,), False), ((4, 5), True), ((2, 3, 4, 5), True), ((2, 3, 4, 5), False)]:
        x = torch.rand(shape, dtype=torch.float64) * 6 - 3
        x = torch.where(x.abs() < 0.05, torch.full_like(x, 0.5), x).to(dev).requires_grad_()
        n = shape[1] if channelwise else 1
        a = torch.linspace(0.3, 1.1, n, dtype=torch.float64, device=dev).requires_grad_()
        b = torch.linspace(1.4, 0.2, n, dtype=torch.float64, device=dev).requires_grad_()
        for sigma in (0.0, 0.8):
            fn = lambda x, a, b: OPS.eelu_with_noise(x, a, b, sigma, 99, 7, True)  # noqa: E731
            assert torch.autograd.gradcheck(fn, (x, a, b), eps=1e-6, atol=1e-7, rtol=1e-6)
    return "x, a, b; with and without noise"


@check
def same_inputs_give_bitwise_the_same_results(dev, dtypes, quick):
    gen = torch.Generator().manual_seed(3)
    for dtype in dtypes:
        for layout in ("contiguous", "channels_last"):
            x = make_input((4, 8, 33, 31), layout, dtype, dev, gen).requires_grad_()
            a = torch.linspace(0.1, 1.0, 8).to(dev, dtype).requires_grad_()
            b = torch.linspace(1.5, 0.5, 8).to(dev, dtype).requires_grad_()
            w = torch.randn(4, 8, 33, 31, generator=gen).to(dev, dtype)
            runs = []
            for _ in range(2):
                y = OPS.eelu_with_noise(x, a, b, 0.9, 2024, 5, True)
                runs.append((y, *torch.autograd.grad(y, (x, a, b), w)))
            for u, v in zip(*runs):
                assert torch.equal(u, v), f"{dtype} {layout}: two runs differ"
    return "forward, dx, da, db"


@check
def noise_from_the_devices_generator_has_the_specs_distribution(dev, dtypes, quick):
    """k = clamp(N(1, sigma^2), 0, 2) per element, sigma ~ U(0, epsilon) per call; seeded
    through the device's generator; one call of 2^20 elements is enough to estimate its sigma."""
    eps, calls = 0.6, (40 if quick else 200)
    seed_all = torch.cuda.manual_seed_all if dev.type == "cuda" else torch.manual_seed
    seed_all(7)
    ones = torch.ones(1 << 20, device=dev)
    a = torch.ones(1, device=dev)
    sigmas = []
    for _ in range(calls):
        k = F.eelu(ones, a, a, epsilon=eps, training=True)
        assert k.min() >= 0 and k.max() <= 2
        # the mean absolute deviation from 1 of a normal clipped to [0, 2] (|z| <= 1/sigma):
        # for sigma <= 0.6 it is 0.798 sigma to within 0.4%
        mad = (k - 1).abs().mean().item()
        sigmas.append(mad / math.sqrt(2 / math.pi))
        # One sigma for the whole call: E[(k-1)^2] / E|k-1|^2 is pi/2 = 1.571 for a normal
        # (less when clipped); a sigma drawn per element (a scale mixture) gives 2.09.
        if mad > 0:
            ratio = ((k - 1) ** 2).mean().item() / mad ** 2
            assert 1.3 < ratio < 1.75, f"one call's k is not one normal: E[d^2]/E|d|^2 = {ratio:.3f}"
    assert max(sigmas) <= eps * 1.01, f"a call's sigma {max(sigmas)} exceeds epsilon {eps}"
    mean = sum(sigmas) / calls
    # U(0, eps): mean eps/2, sd of the mean eps / sqrt(12 calls); 5 sd
    assert abs(mean - eps / 2) < 5 * eps / math.sqrt(12 * calls), f"mean sigma {mean}"
    seed_all(7)
    again = F.eelu(ones, a, a, epsilon=eps, training=True)
    seed_all(7)
    assert torch.equal(again, F.eelu(ones, a, a, epsilon=eps, training=True)), "not reproducible"
    seed_all(8)
    assert not torch.equal(again, F.eelu(ones, a, a, epsilon=eps, training=True)), "seed ignored"
    return f"{calls} calls, mean sigma {mean:.4f} (expected {eps / 2})"


@check
def extreme_inputs_stay_finite_and_nan_propagates(dev, dtypes, quick):
    for dtype in dtypes:
        x = torch.tensor([-1e30, -1e4, -88.0, -1.0, 0.0, 1.0, 1e4], device=dev).to(dtype)
        x = x[torch.isfinite(x)]
        a = torch.full((1,), 0.5, device=dev, dtype=dtype)
        b = torch.full((1,), 50.0, device=dev, dtype=dtype)
        y = OPS.eelu_with_noise(x, a, b, 0.5, 1, 0, True)
        assert torch.isfinite(y).all(), f"{dtype}: {y}"
        g = OPS.eelu_backward(torch.ones_like(x), x, a, b, 0.5, 1, 0, [True, True, True])
        assert all(torch.isfinite(t).all() for t in g), f"{dtype}: {g}"
        n = OPS.eelu_with_noise(torch.tensor([float("nan"), 1.0], device=dev).to(dtype), a, b, 0.0, 0, 0, True)
        assert torch.isnan(n[0]) and n[1] == 1, f"{dtype}: {n}"
    return "large negative x, large beta, NaN"


@check
def bad_arguments_are_refused_with_the_argument_named(dev, dtypes, quick):
    x = torch.randn(2, 3, 4, device=dev)
    a = torch.ones(3, device=dev)

    def refused(fn, needle):
        try:
            fn()
        except RuntimeError as e:
            assert needle in str(e), f"expected '{needle}' in: {e}"
            return
        raise AssertionError(f"accepted; expected an error with '{needle}'")
    refused(lambda: OPS.eelu(x.int(), a, a, 1.0, False, True, None), "input must be")
    refused(lambda: OPS.eelu(x, torch.ones(2, device=dev), a, 1.0, False, True, None), "alpha must have shape")
    refused(lambda: OPS.eelu(x, a.double(), a, 1.0, False, True, None), "alpha has dtype")
    refused(lambda: OPS.eelu(x, a, a, -1.0, True, True, None), "epsilon")
    if dev.type != "cpu":
        refused(lambda: OPS.eelu(x, a.cpu(), a, 1.0, False, True, None), "alpha is on")
    return "dtype, shape, parameter dtype and device, epsilon"


@check
def cuda_agrees_with_the_cpu_kernels_for_the_same_noise(dev, dtypes, quick):
    if dev.type == "cpu":
        raise Skipped("on the CPU")
    gen = torch.Generator().manual_seed(9)
    for layout in ("contiguous", "channels_last"):
        x = make_input((3, 8, 35, 33), layout, torch.float32, "cpu", gen)
        a = torch.linspace(-0.1, 1.2, 8)
        b = torch.linspace(1.3, 0.2, 8)
        w = torch.randn(3, 8, 35, 33, generator=gen)
        sigma, seed, offset = 0.8, 0x1234_5678_9ABC, 77
        k_cpu = OPS.eelu_noise(x, sigma, seed, offset)
        k_dev = OPS.eelu_noise(x.to(dev), sigma, seed, offset).cpu()
        assert torch.equal(k_cpu, k_dev), f"{layout}: k differs in {(k_cpu != k_dev).sum()} elements"
        y_cpu = OPS.eelu_with_noise(x, a, b, sigma, seed, offset, True)
        y_dev = OPS.eelu_with_noise(x.to(dev), a.to(dev), b.to(dev), sigma, seed, offset, True).cpu()
        assert torch.equal(y_cpu, y_dev), f"{layout}: forward differs by {(y_cpu - y_dev).abs().max()}"
        g_cpu = OPS.eelu_backward(w, x, a, b, sigma, seed, offset, [True, True, True])
        g_dev = [t.cpu() for t in OPS.eelu_backward(w.to(dev), x.to(dev), a.to(dev), b.to(dev), sigma,
                                                     seed, offset, [True, True, True])]
        assert torch.equal(g_cpu[0], g_dev[0]), f"{layout}: dx differs by {(g_cpu[0] - g_dev[0]).abs().max()}"
        for name, u, v in (("da", g_cpu[1], g_dev[1]), ("db", g_cpu[2], g_dev[2])):
            torch.testing.assert_close(v, u, rtol=1e-5, atol=1e-5, msg=f"{layout} {name}")
    return "k, forward, dx bitwise; da, db to 1e-5"


@check
def compiled_training_equals_eager_and_draws_each_call(dev, dtypes, quick):
    """torch.compile(fullgraph=True) of a small network with EELU layers in training: the
    same outputs and gradients as eager for the same seeds (both phases of the alternating
    schedule), and new noise at each compiled call (docs/python.md, "torch.compile")."""
    if not hasattr(torch.library, "opcheck"):
        raise Skipped(f"torch {torch.__version__} has no torch.compile of custom operators")
    import copy
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), eelu.EELU(8, 1.0, 1.0, 0.6),
        torch.nn.Conv2d(8, 4, 3, padding=1), eelu.EELU(1, 0.5, 1.5, 0.3, "always_noisy")).to(dev)
    compiled = torch.compile(copy.deepcopy(net), fullgraph=True)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)).to(dev)
    outputs = []
    for seed in range(4):
        results = []
        for model in (net, compiled):
            torch.manual_seed(seed)  # every device's default generator
            model.zero_grad(set_to_none=True)
            y = model(x)
            y.square().sum().backward()
            results.append([y.detach()] + [p.grad for p in model.parameters()])
        for i, (e, c) in enumerate(zip(*results)):
            torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5, msg=f"step {seed}, result {i}")
        outputs.append(results[1][0])
    assert not torch.equal(outputs[0], outputs[2]), "two seeds, the same compiled output: noise baked in"
    return "4 steps, outputs and every gradient as eager; new noise per compiled call"


@check
def autocast_casts_the_parameters_to_the_inputs_dtype(dev, dtypes, quick):
    """Under torch.autocast a convolution's half-precision output meets float32 alpha, beta:
    EELU runs in the input's dtype with the parameters cast for the call (Note [EELU under
    autocast]), bitwise as casting them by hand, and the gradients reach the float32
    parameters."""
    half = [t for t in (torch.bfloat16, torch.float16) if t in dtypes]
    for dtype in half:
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(3, 8, 3).to(dev)
        act = eelu.EELU(8, 0.8, 1.2, 0.5, "always_noisy").to(dev)
        x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2)).to(dev)
        with torch.autocast(dev.type, dtype=dtype):
            h = conv(x)
            assert h.dtype == dtype, f"autocast left the convolution in {h.dtype}"
            torch.manual_seed(9)
            y = act(h)
        assert y.dtype == dtype
        y.float().square().sum().backward()
        a2 = act.alpha.detach().clone().requires_grad_()
        b2 = act.beta.detach().clone().requires_grad_()
        torch.manual_seed(9)
        y2 = torch.ops.eelu.eelu(h.detach(), a2.to(dtype), b2.to(dtype), 0.5, True, True, None)
        y2.float().square().sum().backward()
        assert torch.equal(y, y2), f"{dtype}: output differs from the hand cast"
        assert act.alpha.grad.dtype == torch.float32
        assert torch.equal(act.alpha.grad, a2.grad) and torch.equal(act.beta.grad, b2.grad)
    return f"{', '.join(str(t).replace('torch.', '') for t in half)}: bitwise the hand cast"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="fewer cases (the CPU run in the test suite)")
    args = p.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    dtypes = [torch.float32, torch.float64, torch.bfloat16] + ([torch.float16] if dev.type == "cuda" else [])
    print(f"eelu checks on {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else "")
          + f", torch {torch.__version__}, library {eelu._library.load_library()}")
    failed = skipped = 0
    for fn in CHECKS:
        try:
            what = fn(dev, dtypes, args.quick)
            print(f"PASS {fn.__name__}: {what}")
        except Skipped as why:  # not run here: counted apart, never as passed
            skipped += 1
            print(f"SKIP {fn.__name__}: {why}")
        except Exception:  # noqa: BLE001  (report every check)
            failed += 1
            print(f"FAIL {fn.__name__}:\n{traceback.format_exc()}")
        sys.stdout.flush()
    print(f"{len(CHECKS) - failed - skipped} passed, {skipped} skipped, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""torch.ops.eelu from Python: values, gradients (gradcheck), noise, errors."""
import math

import pytest
import torch

import eelu
from conftest import reference_eelu

F = eelu.functional


def params(n, dtype=torch.float64):
    a = torch.linspace(-0.2, 1.1, n, dtype=dtype) if n > 1 else torch.full((1,), 0.7, dtype=dtype)
    b = torch.linspace(1.4, -0.1, n, dtype=dtype) if n > 1 else torch.full((1,), 1.3, dtype=dtype)
    return a.requires_grad_(), b.requires_grad_()


@pytest.mark.parametrize("shape,channelwise", [((7,), False), ((4, 5), True), ((2, 3, 4, 5), True),
                                               ((2, 3, 4, 5), False), ((2, 3, 2, 3, 2), True)])
@pytest.mark.parametrize("noisy", [False, True])
def test_gradcheck_through_torch_ops(shape, channelwise, noisy):
    torch.manual_seed(0)
    x = (torch.rand(shape, dtype=torch.float64) * 6 - 3)
    x = torch.where(x.abs() < 0.05, torch.full_like(x, 0.5), x).requires_grad_()
    # Positive a and b: at a < 0 the clamp is straight-through on purpose, which finite
    # differences cannot see (tested against the composite instead).
    n = shape[1] if channelwise else 1
    a = torch.linspace(0.3, 1.1, n, dtype=torch.float64).requires_grad_()
    b = torch.linspace(1.4, 0.2, n, dtype=torch.float64).requires_grad_()
    sigma, seed, offset = F.draw_noise(0.8) if noisy else (0.0, 0, 0)
    fn = lambda x, a, b: torch.ops.eelu.eelu_with_noise(x, a, b, sigma, seed, offset, True)
    assert torch.autograd.gradcheck(fn, (x, a, b), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6), (torch.bfloat16, 8e-3)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_composite_with_the_k_it_used(dtype, tol, channels_last):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(3, 4, 5, 6, generator=g) * 2).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    a, b = params(4, dtype)
    w = torch.randn(3, 4, 5, 6, generator=g).to(dtype)
    gen = torch.Generator().manual_seed(11)
    y = F.eelu(x, a, b, epsilon=1.0, training=True, generator=gen)
    if channels_last:
        assert y.is_contiguous(memory_format=torch.channels_last)
    gx, ga, gb = torch.autograd.grad(y, (x, a, b), w)

    sigma, seed, offset = F.draw_noise(1.0, torch.Generator().manual_seed(11))
    assert 0 < sigma < 1
    x64, a64, b64 = (t.detach().double().requires_grad_() for t in (x, a, b))
    k = F.eelu_noise(x64, sigma, seed, offset)
    r = reference_eelu(x64, a64, b64, k)
    rx, ra, rb = torch.autograd.grad(r, (x64, a64, b64), w.double())
    torch.testing.assert_close(y.double(), r, rtol=tol, atol=tol)
    torch.testing.assert_close(gx.double(), rx, rtol=tol, atol=tol)
    n = x.numel() / 4
    torch.testing.assert_close(ga.double(), ra, rtol=tol, atol=tol * n)
    torch.testing.assert_close(gb.double(), rb, rtol=tol, atol=tol * n)


def test_noise_distribution_for_constant_input():
    # For x = 1 the output is k = clamp(N(1, sigma^2), 0, 2); sigma fixed at 0.5.
    n = 1 << 20
    x = torch.ones(n, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    k = F.eelu_with_noise(x, one, one, 0.5, 1234567, 0)
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))
    p_clip = 1 - phi(2.0)
    se = math.sqrt(p_clip * (1 - p_clip) / n)
    assert abs((k == 0).double().mean().item() - p_clip) < 6 * se
    assert abs((k == 2).double().mean().item() - p_clip) < 6 * se
    assert abs(k.mean().item() - 1) < 6 * 0.5 / math.sqrt(n)
    inside = ((k - 1).abs() < 0.5).double().mean().item()  # |Z| < 1
    assert abs(inside - (2 * phi(1.0) - 1)) < 6 * math.sqrt(0.25 / n)


def test_seeded_runs_are_bitwise_identical():
    x = torch.randn(4, 3, 8, 8)
    a, b = params(3, torch.float32)

    def run(seed):
        torch.manual_seed(seed)
        xr = x.clone().requires_grad_()
        y = F.eelu(xr, a, b, training=True)
        return (y, *torch.autograd.grad(y.sum(), (xr, a, b)))

    for u, v in zip(run(3), run(3)):
        assert torch.equal(u, v)
    assert not torch.equal(run(3)[0], run(4)[0])


def test_eval_is_k_one_and_param_grad_false_gives_zeros():
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    a, b = params(3)
    y = F.eelu(x, a, b, training=False)
    torch.testing.assert_close(y, reference_eelu(x, a, b, torch.ones(1, dtype=torch.float64)))
    y = F.eelu(x, a, b, training=True, param_grad=False)
    y.sum().backward()
    assert torch.equal(a.grad, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(b.grad, torch.zeros(3, dtype=torch.float64))


def test_extremes_and_nan():
    x = torch.tensor([-1e30, -1e4, -1.0, -1e-30, 0.0, 2.0, float("nan")], requires_grad=True)
    a = torch.full((1,), 2.0, requires_grad=True)
    b = torch.full((1,), 1e20, requires_grad=True)
    y = F.eelu(x, a, b, training=True)
    assert torch.isfinite(y[:-1]).all() and torch.isnan(y[-1])
    assert y[:-1].min().item() >= -2.0
    (gx,) = torch.autograd.grad(y[:-1].sum(), (x,))
    assert torch.isfinite(gx[:-1]).all()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: F.eelu(torch.ones(2, 3, dtype=torch.long), torch.ones(1), torch.ones(1)),
         "input must be float32, float64 or bfloat16 (or float16 on CUDA), got Long"),
        (lambda: F.eelu(torch.ones(2, 3), torch.ones(4), torch.ones(1)),
         r"alpha must have shape [1] (shared) or [3]"),
        (lambda: F.eelu(torch.ones(2, 3), torch.ones(1, dtype=torch.float64), torch.ones(1)),
         "alpha has dtype Double but the input has dtype Float"),
        (lambda: F.eelu(torch.ones(2, 3), torch.ones(1), torch.ones(1, device="meta")),
         "beta is on meta but the input is on cpu"),
        (lambda: F.eelu(torch.ones(2, 3), torch.ones(1), torch.ones(1), epsilon=-1.0, training=True),
         "epsilon (the noise level) must be a finite number >= 0, got -1"),
        (lambda: eelu.EELU(epsilon=-0.1), "epsilon (the noise level) must be"),
        (lambda: eelu.EELU(schedule="often"), "unknown schedule 'often'; valid: alternate"),
        (lambda: eelu.EELU(5)(torch.ones(2, 3)), "alpha must have shape [1] (shared) or [3]"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises((RuntimeError, ValueError)) as info:
        call()
    assert message in str(info.value)


def test_second_derivative_is_refused():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    one = torch.ones(1, dtype=torch.float64)
    (g,) = torch.autograd.grad(F.eelu(x, one, one).sum(), (x,), create_graph=True)
    with pytest.raises(RuntimeError, match="not implemented"):
        torch.autograd.grad(g.sum(), (x,))


def test_backward_holds_the_input_and_parameters_only():
    """Memory held for backward: what autograd packs during a training call of EELU is the
    input, alpha, beta (O(C)) and the three numbers of the noise state, never k; the
    composite holds k and more besides."""
    x = torch.randn(4, 8, 16, 16, requires_grad=True)
    a = torch.full((8,), 0.25, requires_grad=True)
    b = torch.full((8,), 1.0, requires_grad=True)
    packed = []

    def pack(t):
        packed.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = F.eelu(x, a, b, epsilon=1.0, training=True)
    assert sum(t.numel() for t in packed) == x.numel() + 2 * 8 + 3
    assert any(t.data_ptr() == x.data_ptr() for t in packed), "the input itself, not a copy"
    y.sum().backward()  # and backward still works from what was kept
    assert x.grad is not None and a.grad is not None

    packed.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        k = torch.empty_like(x).normal_(1, 0.5).clamp_(0, 2)
        torch.where(x >= 0, k * x, a.view(1, -1, 1, 1) * torch.expm1(b.view(1, -1, 1, 1) * x))
    assert sum(t.numel() for t in packed) >= 3 * x.numel(), "the composite keeps k and more"


def test_out_overloads_of_the_schema():
    """eelu_with_noise.out, eelu_noise.out and eelu_backward.grad_input, as torch's own out=
    overloads are called; the same numbers as the functional forms."""
    x, g = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    a, b = torch.full((3,), 0.4), torch.full((3,), 1.3)
    y, k, gx = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    ops = torch.ops.eelu
    assert ops.eelu_with_noise.out(x, a, b, 0.7, 99, 4, out=y) is y
    assert torch.equal(y, ops.eelu_with_noise(x, a, b, 0.7, 99, 4))
    ops.eelu_noise.out(x, 0.7, 99, 4, out=k)
    assert torch.equal(k, ops.eelu_noise(x, 0.7, 99, 4))
    ga, gb = ops.eelu_backward.grad_input(g, x, a, b, 0.7, 99, 4, [True, True], grad_input=gx)
    fx, fa, fb = ops.eelu_backward(g, x, a, b, 0.7, 99, 4, [True, True, True])
    assert torch.equal(gx, fx) and torch.equal(ga, fa) and torch.equal(gb, fb)
    with pytest.raises(RuntimeError, match="the out= forms have kernels for the CPU only, got an input on meta"):
        ops.eelu_with_noise.out(x.to("meta"), a.to("meta"), b.to("meta"), 0.7, 99, 4, out=y.to("meta"))

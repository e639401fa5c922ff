"""EELU under PyTorch 2.x's tracing: fake tensors, torch.library.opcheck, torch.compile with
fullgraph=True (outputs and gradients equal to eager, noise drawn on every call rather than
baked in while tracing) and torch.export. Skipped on torch without torch.library.opcheck
(Debian 12's 1.13); scripts/check-pip-torch.sh runs them against PyPI's torch."""
import copy

import pytest
import torch

import eelu

pytestmark = pytest.mark.skipif(not hasattr(torch.library, "opcheck"),
                                reason=f"torch {torch.__version__} has no torch.library.opcheck / compile of custom ops")
OPS = torch.ops.eelu


def inputs(shape=(2, 3, 5, 4), dtype=torch.float32, channels_last=False, grad=False):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(shape, generator=g) * 2).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    a = torch.linspace(0.2, 1.1, shape[1], dtype=dtype)
    b = torch.linspace(1.4, 0.3, shape[1], dtype=dtype)
    return tuple(t.requires_grad_(grad) for t in (x, a, b))


DETERMINISTIC = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
RANDOM = ("test_schema", "test_autograd_registration", "test_faketensor")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_opcheck_every_operator(dtype, channels_last):
    x, a, b = inputs(dtype=dtype, channels_last=channels_last)
    xg, ag, bg = inputs(dtype=dtype, channels_last=channels_last, grad=True)
    mask = [True, True, True]
    cases = [
        (OPS.eelu, (xg, ag, bg, 1.0, False, True, None), DETERMINISTIC),
        (OPS.eelu, (xg, ag, bg, 0.6, True, True, None), RANDOM),
        (OPS.eelu_forward, (x, a, b, 1.0, False, None), DETERMINISTIC),
        (OPS.eelu_forward, (x, a, b, 0.6, True, None), RANDOM),
        # .default: these have out= overloads too, which opcheck does not take as a packet
        (OPS.eelu_with_noise.default, (xg, ag, bg, 0.4, 123, 0, True), DETERMINISTIC),
        (OPS.eelu_backward.default, (x, x, a, b, 0.4, 123, 0, mask), DETERMINISTIC),
        (OPS.eelu_backward.default, (x, x, a, b, 0.4, 123, 0, [True, False, True]), DETERMINISTIC),
        (OPS.eelu_backward_state, (x, x, a, b, OPS.eelu_forward(x, a, b, 0.6, True, None)[1], mask),
         DETERMINISTIC),
        (OPS.eelu_noise.default, (x, 0.4, 123, 0), DETERMINISTIC),
    ]
    for op, args, utils in cases:
        torch.library.opcheck(op, args, test_utils=utils)


def test_fake_tensors_give_the_real_shapes_dtypes_and_layouts():
    from torch._subclasses.fake_tensor import FakeTensorMode

    act = eelu.EELU(3, 1.0, 1.0, 0.6)
    x, _, _ = inputs(channels_last=True)
    real = act(x)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fx = mode.from_tensor(x)
        fake = act(fx)
        y, state = OPS.eelu_forward(fx, act.alpha, act.beta, 0.6, True, None)
    assert fake.shape == real.shape and fake.dtype == real.dtype and fake.stride() == real.stride()
    assert state.shape == (3,) and state.dtype == torch.int64 and state.device.type == "cpu"


def network(schedule="alternate"):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), eelu.EELU(4, 1.0, 1.0, 0.6, schedule),
        torch.nn.Conv2d(4, 4, 3, padding=1), eelu.EELU(1, 0.5, 1.5, 0.3, schedule),
        torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))


def step(model, x, seed):
    torch.manual_seed(seed)  # the noise of both EELU layers comes from the default generator
    model.zero_grad(set_to_none=True)
    y = model(x)
    y.square().sum().backward()
    return y.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("schedule", ["alternate", "always_noisy", "never_noisy"])
def test_compiled_training_equals_eager_outputs_and_gradients(schedule):
    eager = network(schedule)
    compiled_copy = copy.deepcopy(eager)
    compiled = torch.compile(compiled_copy, fullgraph=True)
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    for seed in range(4):  # both phases of the alternating schedule, twice
        ye, ge = step(eager, x, seed)
        yc, gc = step(compiled, x, seed)
        torch.testing.assert_close(yc, ye, rtol=1e-5, atol=1e-5)
        for e, c in zip(ge, gc):
            torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5)
    assert bool(compiled_copy[1].noisy_next) == bool(eager[1].noisy_next)


def test_compiled_noise_is_drawn_on_every_call_not_baked_in():
    """A graph traced once must still draw new noise at each call (the draw is a node)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1),
                                eelu.EELU(4, 1.0, 1.0, 0.6, "always_noisy"))
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(10)
    first = compiled(x).detach()
    torch.manual_seed(11)
    other = compiled(x).detach()
    torch.manual_seed(10)
    again = compiled(x).detach()
    assert not torch.equal(first, other), "the same noise for two seeds: drawn once at trace time"
    assert torch.equal(first, again)
    torch.manual_seed(10)
    torch.testing.assert_close(first, model(x).detach(), rtol=1e-5, atol=1e-5)


def test_compiled_and_exported_evaluation_equal_eager():
    model = network().eval()
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    want = model(x)
    torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), want, rtol=1e-5, atol=1e-5)
    exported = torch.export.export(model, (x,))
    assert any("eelu" in str(n.target) for n in exported.graph.nodes), "EELU is one node of the graph"
    torch.testing.assert_close(exported.module()(x), want, rtol=1e-6, atol=1e-6)

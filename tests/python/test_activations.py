"""eelu.create_activation: every name of the C++ registry as a Python nn.Module with the same
settings, defaults and numbers (against the C++ module on the same input and seed)."""
import math

import pytest
import torch

import eelu
from conftest import training_steps

SPECS = [
    "relu", "lrelu", "leaky_relu(slope=0.2)", "prelu", "prelu(init=0.1, shared)", "rrelu",
    "rrelu(lower=0.1, upper=0.3)", "erelu", "erelu(eps=0.2)", "eprelu", "eprelu(schedule=always_noisy)",
    "eprelu(eps=0.3, init=0.05, shared, schedule=never_noisy)", "elu", "elu(alpha=0.5)", "pelu",
    "pelu(a=0.5, b=2, min=0.2, shared)", "mpelu", "mpelu(alpha=0.7, beta=1.3)", "selu", "swish",
    "swish(beta=1.5, trainable)", "swish(beta=0.5, trainable, shared)", "gelu", "gelu(approximate=tanh)",
    "silu", "mish", "eelu", "eelu(eps=0.6, alpha=1, beta=1)", "eelu(schedule=always_noisy, shared)",
    "EELU(epsilon=0.3, schedule=never_noisy)",
]


def python_steps(spec, x0, seed, steps):
    act = eelu.create_activation(spec, x0.shape[1])
    torch.manual_seed(seed)
    return training_steps(act, x0, steps)


def test_every_registry_name_is_covered():
    names = set(eelu.activation_names())
    covered = {torch.ops.eelu.activation_spec(s).split("(")[0] for s in SPECS}
    assert covered == set(names), f"not covered here: {set(names) - covered}"


@pytest.mark.parametrize("spec", SPECS)
def test_python_module_equals_the_cpp_registry_module(spec, helper, tmp_path):
    x0 = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(2)) * 2
    torch.save(x0, tmp_path / "x.pt")
    helper("activation", tmp_path / "x.pt", tmp_path / "out.pt", spec, 4, 7, 4)
    cpp = torch.load(tmp_path / "out.pt", weights_only=False)
    py = python_steps(spec, x0, 7, 4)
    assert len(cpp) == len(py), f"{len(cpp)} C++ results, {len(py)} Python results"
    for i, (c, p) in enumerate(zip(cpp, py)):
        torch.testing.assert_close(p, c, rtol=1e-6, atol=1e-6, msg=lambda m: f"result {i} of {spec}: {m}")


def test_defaults_and_parameters_follow_the_registry():
    defaults = eelu.activation_names()
    assert defaults["eelu"] == {"eps": "1", "alpha": "0.25", "beta": "1", "schedule": "alternate", "shared": "false"}
    act = eelu.create_activation("eelu", 16)
    assert act.alpha.shape == (16,) and act.epsilon == 1.0 and act.schedule == "alternate"
    assert eelu.create_activation("prelu(shared)", 16).weight.shape == (1,)
    assert [n for n, _ in eelu.create_activation("pelu", 3).named_parameters()] == ["a", "b"]
    assert isinstance(eelu.create_activation("Leaky_ReLU(slope=0.3)"), torch.nn.LeakyReLU)


@pytest.mark.parametrize("spec,message", [
    ("relu6", "unknown activation 'relu6'; valid: relu, lrelu"),
    ("prelu(slope=1)", "activation 'prelu' has no setting 'slope'; valid: init, shared, channelwise"),
    ("elu(alpha=x)", "setting 'alpha' must be a finite number, got 'x'"),
    ("eelu(schedule=often)", "must be one of alternate, always_noisy, never_noisy"),
])
def test_bad_specs_get_the_registry_message(spec, message):
    with pytest.raises(RuntimeError, match=None) as info:
        eelu.create_activation(spec, 4)
    assert message in str(info.value)


@pytest.mark.parametrize("spec,param,value", [
    ("prelu(init=0.1)", "weight", 0.1), ("eprelu", "a", 0.1), ("pelu(b=0.7)", "b", 0.7),
    ("mpelu(alpha=0.3)", "alpha", 0.3), ("eelu(beta=0.9)", "beta", 0.9),
    ("swish(beta=0.1, trainable)", "beta", 0.1),
])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_parameters_are_exact_in_the_dtype_asked_for(spec, param, value, dtype):
    p = getattr(eelu.create_activation(spec, 3, dtype=dtype), param)
    assert p.dtype == dtype and p.requires_grad
    assert torch.equal(p, torch.full((3,), value, dtype=dtype)), f"{spec}: {p}"


def test_number_settings_take_fractions_as_the_registry_does():
    act = eelu.create_activation("rrelu")
    assert act.upper == 1.0 / 3.0 and act.lower == 0.125
    assert eelu.create_activation("rrelu(upper=2/7)").upper == 2.0 / 7.0
    assert eelu.activation_names()["rrelu"] == {"lower": "1/8", "upper": "1/3"}
    with pytest.raises(RuntimeError, match="must be a finite number, got '1/0'"):
        eelu.create_activation("lrelu(slope=1/0)")


def test_mpelu_is_the_published_form_with_negative_parameters():
    act = eelu.create_activation("mpelu(alpha=-0.5, shared)", dtype=torch.float64)
    x = torch.tensor([[-1.0]], dtype=torch.float64, requires_grad=True)
    y = act(x)
    y.sum().backward()
    assert y.item() == pytest.approx(-0.5 * math.expm1(-1.0), rel=1e-15)  # 0.316
    assert x.grad.item() == pytest.approx(-0.5 * math.exp(-1.0), rel=1e-15)  # -0.184
    assert act.alpha.grad.item() == pytest.approx(math.expm1(-1.0), rel=1e-15)
    assert act.beta.grad.item() == pytest.approx(-0.5 * -1.0 * math.exp(-1.0), rel=1e-15)


def test_gradients_deep_in_the_negative_tail_take_exp():
    """dy/dx = alpha*beta*exp(beta*x) to float32's precision down to beta*x = -86, for the
    fused operator (EELU) and MPELU's composite (not expm1 + 1, which is 0 from -17.3)."""
    x = torch.linspace(-69.0, -0.01, 1001).view(-1, 1)
    want = 1.5 * 1.25 * torch.exp(1.25 * x.double())
    for spec in ("eelu(alpha=1.5, beta=1.25, shared)", "mpelu(alpha=1.5, beta=1.25, shared)"):
        act = eelu.create_activation(spec).eval()
        xr = x.clone().requires_grad_()
        act(xr).sum().backward()
        rel = ((xr.grad.double() - want).abs() / want).max().item()
        assert rel < 1e-5, f"{spec}: relative error {rel}"


def test_erelu_derivative_at_zero_is_its_slope():
    act = eelu.create_activation("erelu(eps=0.4)")
    x = torch.zeros(1000, 1, requires_grad=True)
    act.eval()
    act(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x)), "eval: k = 1 at x = 0 too"
    x.grad = None
    act.train()
    act(x).sum().backward()
    assert 0.6 <= x.grad.min().item() and x.grad.max().item() <= 1.4
    assert (x.grad - 1).abs().max().item() > 0.1


def test_alternation_starts_noisy_as_the_authors_code():
    x = torch.randn(4, 3, 5, 5)
    for spec in ("eelu", "eprelu"):
        act = eelu.create_activation(spec, 3).train()
        clean = eelu.create_activation(spec, 3).eval()(x)
        first, second = act(x), act(x)
        assert not torch.equal(first, clean), f"{spec}: the first training call is noisy"
        assert torch.equal(second, clean), f"{spec}: the second is clean"

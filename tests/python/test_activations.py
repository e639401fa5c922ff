"""eelu.create_activation: every name of the C++ registry as a Python nn.Module with the same
settings, defaults and numbers (against the C++ module on the same input and seed)."""
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

"""eelu.EELU against eelu::nn::EELU, TorchScript from Python into C++, state dicts."""
import pytest
import torch

import eelu
from conftest import training_steps


def python_steps(x0, num_parameters, alpha, beta, epsilon, schedule, seed, steps):
    m = eelu.EELU(num_parameters, alpha, beta, epsilon, schedule).to(x0.dtype)
    torch.manual_seed(seed)
    return training_steps(m, x0, steps)


@pytest.mark.parametrize("schedule", ["alternate", "always_noisy", "never_noisy"])
@pytest.mark.parametrize("num_parameters,dtype", [(1, torch.float32), (4, torch.float32), (4, torch.float64)])
def test_python_module_equals_cpp_module(helper, tmp_path, schedule, num_parameters, dtype):
    x0 = (torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(1)) * 2).to(dtype)
    torch.save(x0, tmp_path / "x.pt")
    args = (num_parameters, 0.8, 1.2, 0.6, schedule, 17, 4)
    helper("module", tmp_path / "x.pt", tmp_path / "out.pt", *args)
    cpp = torch.load(tmp_path / "out.pt", weights_only=False)  # written by our C++ helper
    py = python_steps(x0, *args)
    assert len(cpp) == len(py) == 4 * 4 + 1
    for i, (c, p) in enumerate(zip(cpp, py)):
        assert torch.equal(c, p), f"result {i} differs between the C++ and the Python module"
    if schedule == "alternate":
        assert torch.equal(py[2], torch.zeros_like(py[2])), "the first call is noisy: zero alpha grad"
        assert py[6].abs().max() > 0, "the second call is clean: alpha learns"


def test_torchscript_module_saved_from_python_runs_in_cpp(helper, tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.act = eelu.EELU(8, alpha_init=1.0, beta_init=1.0, epsilon=0.6)

        def forward(self, x):
            return self.act(self.conv(x))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.act.alpha.copy_(torch.linspace(0.2, 1.5, 8))
        net.act.beta.copy_(torch.linspace(2.0, 0.5, 8))
    scripted = torch.jit.script(net)
    assert "eelu.eelu" in scripted.act.code
    scripted.save(str(tmp_path / "net.pt"))
    x = torch.randn(2, 3, 9, 9)
    torch.save(x, tmp_path / "x.pt")
    helper("jit", tmp_path / "net.pt", tmp_path / "x.pt", tmp_path / "y.pt")
    y_cpp = torch.load(tmp_path / "y.pt", weights_only=False)
    with torch.no_grad():
        y_py = net(x)
    assert torch.equal(y_cpp, y_py)
    assert (y_py < 0).any() and (y_py > 0).any()


def test_torchscript_function_and_training_mode():
    @torch.jit.script
    def f(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.ops.eelu.eelu(x, a, b, 1.0, True, True, None)

    x = torch.randn(4, 3, 6)
    a, b = torch.full((3,), 0.5), torch.ones(3)
    torch.manual_seed(9)
    y1 = f(x, a, b)
    torch.manual_seed(9)
    y2 = eelu.functional.eelu(x, a, b, training=True)
    assert torch.equal(y1, y2)

    m = torch.jit.script(eelu.EELU(3, schedule="alternate"))
    m.train()
    assert bool(m.noisy_next), "the first training call is noisy (the authors' order)"
    noisy = m(x)
    assert not bool(m.noisy_next)
    clean = m(x)
    assert torch.equal(clean, eelu.functional.eelu(x, m.alpha, m.beta))
    assert not torch.equal(noisy, clean)
    assert bool(m.noisy_next)


def test_state_dict_round_trip_and_names():
    m = eelu.EELU(5, alpha_init=0.3, beta_init=0.9)
    assert [n for n, _ in m.named_parameters()] == ["alpha", "beta"]
    assert list(m.state_dict()) == ["alpha", "beta", "noisy_next"]
    m.train()
    m(torch.randn(2, 5, 3))
    other = eelu.EELU(5)
    other.load_state_dict(m.state_dict())
    assert torch.equal(other.alpha, m.alpha) and not bool(other.noisy_next)
    assert not other._noisy_next, "the phase read by forward comes with the state dict"
    assert eelu.library_path().name.startswith(("libeelu.so", "_ops"))


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_eelu_under_torch_autocast_learns_its_float32_parameters(dtype):
    """Note [EELU under autocast]: a convolution's half-precision output and float32 alpha,
    beta: the parameters are cast for the call, exactly as casting them by hand."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    act = eelu.EELU(4, 0.8, 1.2, 0.5, "always_noisy")
    x = torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=dtype):
        h = conv(x)
        assert h.dtype == dtype
        torch.manual_seed(9)
        y = act(h)
    assert y.dtype == dtype
    y.float().sum().backward()
    assert act.alpha.grad.dtype == torch.float32 and act.alpha.grad.abs().sum() > 0
    assert act.beta.grad.dtype == torch.float32
    h2 = h.detach()
    a2 = act.alpha.detach().clone().requires_grad_()
    b2 = act.beta.detach().clone().requires_grad_()
    torch.manual_seed(9)
    y2 = torch.ops.eelu.eelu(h2, a2.to(dtype), b2.to(dtype), 0.5, True, True, None)
    y2.float().sum().backward()
    assert torch.equal(y, y2)
    assert torch.equal(act.alpha.grad, a2.grad) and torch.equal(act.beta.grad, b2.grad)


def test_float16_autocast_on_the_cpu_computes_eelu_in_float32():
    """The CPU kernels have no float16: under torch.autocast("cpu", float16) (torch 2) EELU
    computes in float32 and rounds its output once, with the same noise."""
    if int(torch.__version__.split(".")[0]) < 2:
        pytest.skip(f"torch {torch.__version__}'s CPU autocast has no float16")
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    act = eelu.EELU(4, 0.8, 1.2, 0.5, "always_noisy")
    with torch.autocast("cpu", dtype=torch.float16):
        h = conv(torch.randn(2, 3, 8, 8))
        torch.manual_seed(9)
        y = act(h)
    assert h.dtype == y.dtype == torch.float16
    y.float().sum().backward()
    a2 = act.alpha.detach().clone().requires_grad_()
    b2 = act.beta.detach().clone().requires_grad_()
    torch.manual_seed(9)
    y2 = torch.ops.eelu.eelu(h.detach().float(), a2, b2, 0.5, True, True, None).half()
    y2.float().sum().backward()
    assert torch.equal(y, y2)
    assert torch.equal(act.alpha.grad, a2.grad) and torch.equal(act.beta.grad, b2.grad)

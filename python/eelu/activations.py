"""Every activation of the C++ registry from Python (src/nn/registry.cpp, docs/activations.md):

    act = eelu.create_activation("prelu(init=0.1)", channels=64)   # an nn.Module
    eelu.activation_names()                                         # {name: {setting: default}}

A spec is parsed by the C++ registry itself (torch.ops.eelu.activation_spec): the same names,
aliases, settings, defaults, checks and error messages as `eelu train --act`. Each module here
is the Python twin of its C++ module (src/nn/activations.cpp, eelu::nn::EELU): the same
parameters (names, shapes, initial values), the same draws from the default generator in
training, so that the same seed gives the same numbers (tests/python/test_activations.py).
"""
from typing import Dict, Tuple

import torch
from torch import nn

from ._library import load_library
from .modules import EELU, ScheduledNoise

load_library()


def _per_channel(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """p of shape [1] as it is, [C] shaped [1, C, 1, ...] against x (C = x.size(1))."""
    if p.numel() == 1:
        return p
    if x.dim() < 2 or x.size(1) != p.numel():
        raise RuntimeError(f"parameter has {p.numel()} entries (one per channel) but the input "
                           f"{list(x.shape)} has a different number of channels (dim 1)")
    shape = [1] * x.dim()
    shape[1] = p.numel()
    return p.reshape(shape)


def _uniform_slope(x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """k ~ U(1 - epsilon, 1 + epsilon) per element, in x's dtype (one draw of x's size)."""
    return torch.empty_like(x).uniform_(1.0 - epsilon, 1.0 + epsilon)


def _check_noise_level(who: str, epsilon: float) -> None:
    if not (0.0 <= epsilon <= 1.0):
        raise ValueError(f"{who}: epsilon must be in [0, 1] (k ~ U(1 - epsilon, 1 + epsilon) must stay >= 0), "
                         f"got {epsilon}")


class RReLU(nn.Module):
    """x for x >= 0, r*x below, r ~ U(lower, upper) in training (Xu et al. 2015)."""

    def __init__(self, lower: float = 0.125, upper: float = 1.0 / 3.0):
        super().__init__()
        if not (0.0 <= lower <= upper):
            raise ValueError(f"rrelu: need 0 <= lower <= upper, got lower={lower}, upper={upper}")
        self.lower, self.upper = float(lower), float(upper)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.rrelu(input, self.lower, self.upper, self.training)


class EReLU(nn.Module):
    """k*x for x >= 0, 0 below, k ~ U(1-eps, 1+eps) per element in training (Jiang et al. 2018)."""

    def __init__(self, epsilon: float = 0.4):
        super().__init__()
        _check_noise_level("erelu", epsilon)
        self.epsilon = float(epsilon)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        # where(x < 0, 0, k*x): the gradient at 0 is k (relu's and clamp_min's are 0)
        zero = torch.zeros((), dtype=input.dtype, device=input.device)
        if not self.training or self.epsilon == 0:
            return torch.where(input < 0, zero, input)
        return torch.where(input < 0, zero, input * _uniform_slope(input, self.epsilon))


class EPReLU(ScheduledNoise):
    """k*x for x >= 0, a*x below: EReLU's k, a trainable (Jiang et al. 2018), with EELU's
    schedules (the phase in the buffer ``noisy_next``)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.1, epsilon: float = 0.4,
                 schedule: str = "alternate", device=None, dtype=None):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"eprelu: num_parameters must be 1 (shared) or the number of channels, got {num_parameters}")
        _check_noise_level("eprelu", epsilon)
        self._init_schedule("eprelu", schedule)
        self.epsilon = float(epsilon)
        self.a = nn.Parameter(torch.full((num_parameters,), float(init), device=device, dtype=dtype))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        noisy, param_grad = self._schedule_step()
        a = self.a if param_grad else self.a.detach() + self.a * 0  # zero gradient, not none
        negative = _per_channel(a, input) * input
        if not noisy:
            return torch.where(input >= 0, input, negative)
        return torch.where(input >= 0, _uniform_slope(input, self.epsilon) * input, negative)


class PELU(nn.Module):
    """(a/b)*x for x >= 0, a*(exp(x/b)-1) below, a, b >= min trainable (Trottier et al. 2017)."""

    def __init__(self, num_parameters: int = 1, a_init: float = 1.0, b_init: float = 1.0,
                 min_value: float = 0.1, device=None, dtype=None):
        super().__init__()
        if not (min_value > 0 and a_init >= min_value and b_init >= min_value):
            raise ValueError(f"pelu: need a_init, b_init >= min_value > 0, got a={a_init}, b={b_init}, "
                             f"min_value={min_value}")
        self.min_value = float(min_value)
        factory = {"device": device, "dtype": dtype}
        self.a = nn.Parameter(torch.full((num_parameters,), float(a_init), **factory))
        self.b = nn.Parameter(torch.full((num_parameters,), float(b_init), **factory))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        def floor(p):  # max(p, min) forward, identity backward
            return p + (p.clamp_min(self.min_value) - p).detach()

        a, b = _per_channel(floor(self.a), input), _per_channel(floor(self.b), input)
        negative = a * torch.expm1(input.clamp_max(0) / b)
        return torch.where(input >= 0, (a / b) * input, negative)


class MPELU(nn.Module):
    """x for x >= 0, alpha*(exp(beta*x)-1) below, alpha, beta trainable and unbounded, as
    published (Li et al. 2018); the C++ module's operations in its order. The value takes
    expm1, the gradients exp itself (exp(t) - exp(t).detach() adds 0 to the value)."""

    def __init__(self, num_parameters: int = 1, alpha_init: float = 0.25, beta_init: float = 1.0,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.full((num_parameters,), float(alpha_init), **factory))
        self.beta = nn.Parameter(torch.full((num_parameters,), float(beta_init), **factory))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        alpha, beta = _per_channel(self.alpha, input), _per_channel(self.beta, input)
        t = beta * input.clamp_max(0)  # the branch where() discards must not overflow
        e = torch.exp(t)
        if not torch.jit.is_scripting():  # TorchScript compiles only the other branch
            if torch.onnx.is_in_onnx_export():  # ONNX has no Expm1 (nor gradients)
                return torch.where(input >= 0, input, alpha * (e - 1))
        em1 = torch.expm1(t).detach() + (e - e.detach())
        return torch.where(input >= 0, input, alpha * em1)


class Swish(nn.Module):
    """x*sigmoid(beta*x) (Ramachandran et al. 2017); beta a parameter when trainable, else a
    buffer."""

    def __init__(self, num_parameters: int = 1, beta: float = 1.0, trainable: bool = False,
                 device=None, dtype=None):
        super().__init__()
        init = torch.full((num_parameters,), float(beta), device=device, dtype=dtype)
        if trainable:
            self.beta = nn.Parameter(init)
        else:
            self.register_buffer("beta", init)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return input * torch.sigmoid(_per_channel(self.beta, input) * input)


def _settings(canonical: str) -> Tuple[str, Dict[str, str]]:
    """'eelu(eps=0.6, alpha=1, ...)' -> ('eelu', {'eps': '0.6', 'alpha': '1', ...})."""
    name, _, inner = canonical.partition("(")
    settings = {}
    for item in inner.rstrip(")").split(","):
        if item.strip():
            key, _, value = item.partition("=")
            settings[key.strip()] = value.strip()
    return name, settings


def _number(text: str) -> float:
    """A number setting as the C++ registry reads it: a decimal, or a fraction p/q taken as
    float(p) / float(q) (the registry has checked it)."""
    p, slash, q = text.partition("/")
    return float(p) / float(q) if slash else float(text)


def create_activation(spec: str, channels: int = 1, *, device=None, dtype=None) -> nn.Module:
    """The activation `spec` names ("relu", "prelu(init=0.1)", "eelu(eps=0.6, alpha=1, beta=1)",
    ...) as an nn.Module for a layer of `channels` channels (its parameters are per channel
    unless the spec says `shared`), its parameters made on `device` in `dtype` (torch's
    defaults when None), their initial values exact in it. Unknown names and bad settings
    raise RuntimeError with the C++ registry's message."""
    if channels < 1:
        raise ValueError(f"create_activation: channels must be >= 1, got {channels}")
    name, s = _settings(torch.ops.eelu.activation_spec(spec))
    num = lambda key: _number(s[key])  # noqa: E731
    count = 1 if s.get("shared") == "true" else channels
    factory = {"device": device, "dtype": dtype}
    if name == "relu":
        return nn.ReLU()
    if name == "lrelu":
        return nn.LeakyReLU(num("slope"))
    if name == "prelu":
        return nn.PReLU(num_parameters=count, init=num("init"), **factory)
    if name == "rrelu":
        return RReLU(num("lower"), num("upper"))
    if name == "erelu":
        return EReLU(num("eps"))
    if name == "eprelu":
        return EPReLU(count, num("init"), num("eps"), s["schedule"], **factory)
    if name == "elu":
        return nn.ELU(num("alpha"))
    if name == "pelu":
        return PELU(count, num("a"), num("b"), num("min"), **factory)
    if name == "mpelu":
        return MPELU(count, num("alpha"), num("beta"), **factory)
    if name == "selu":
        return nn.SELU()
    if name == "swish":
        trainable = s["trainable"] == "true"
        return Swish(count if trainable else 1, num("beta"), trainable, **factory)
    if name == "gelu":
        return nn.GELU(approximate=s["approximate"])
    if name == "silu":
        return nn.SiLU()
    if name == "mish":
        return nn.Mish()
    if name == "eelu":
        return EELU(count, num("alpha"), num("beta"), num("eps"), s["schedule"], **factory)
    raise NotImplementedError(f"create_activation: the C++ registry has '{name}', which has no Python twin here")


def activation_names() -> Dict[str, Dict[str, str]]:
    """Every name of the registry with its settings' defaults, in the CLI's order."""
    out = {}
    for line in torch.ops.eelu.activation_catalogue().splitlines():
        name, _aliases, settings = line.split("\t")
        out[name] = dict(item.split("=", 1) for item in settings.split(",") if item)
    return out

"""The EELU module, the Python twin of eelu::nn::EELU (same parameters, buffer, schedule)."""
import math
from typing import Tuple

import torch
from torch import nn

from ._library import load_library

load_library()

SCHEDULES = ("alternate", "always_noisy", "never_noisy")


def onnx_forward(input: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, training: bool) -> torch.Tensor:
    """EELU at evaluation (k = 1) in standard operators, for torch.onnx.export: the exported
    graph then runs in any ONNX runtime, with no custom domain (docs/python.md, "ONNX")."""
    if training:
        raise RuntimeError(
            "eelu: an EELU in training mode cannot be exported to ONNX (its noise is drawn by "
            "the eelu operator, which ONNX runtimes do not have); call model.eval() before torch.onnx.export")
    if alpha.numel() > 1:
        shape = [1, -1] + [1] * (input.dim() - 2)
        alpha, beta = alpha.reshape(shape), beta.reshape(shape)
    # max(p, 0) as relu(p), min(x, 0) as x - relu(x): ONNX's Relu, Sub (torch 2.11's exporter
    # fails to decompose clamp_min of a parameter).
    negative = torch.relu(alpha) * (torch.exp(torch.relu(beta) * (input - torch.relu(input))) - 1)
    return torch.where(input >= 0, input, negative)


class ScheduledNoise(nn.Module):
    """The training schedule of the noisy modules (EELU, EPReLU; Note [The training schedule]
    in src/nn/eelu.cpp). The phase is the buffer ``noisy_next`` and a Python bool
    ``_noisy_next`` too, read by forward, because reading the buffer (bool(tensor)) would
    break a torch.compile graph at every call; with a bool, compile guards on it and keeps
    one graph per phase. The buffer stays the phase's record in the state dict; loading a
    state dict brings the bool along."""

    def _init_schedule(self, who: str, schedule: str) -> None:
        """Called by a subclass's __init__ after nn.Module's: the schedule and the phase."""
        if schedule not in SCHEDULES:
            raise ValueError(f"{who}: unknown schedule '{schedule}'; valid: {', '.join(SCHEDULES)}")
        self.schedule = schedule
        self.register_buffer("noisy_next", torch.ones((), dtype=torch.bool))  # noisy first
        self._noisy_next = True

    def _schedule_step(self) -> Tuple[bool, bool]:
        """(noisy, param_grad) of this forward call; moves the alternating phase."""
        noisy = False
        param_grad = True
        if self.training:
            if self.schedule == "alternate":
                noisy = self._noisy_next
                param_grad = not noisy
                self._noisy_next = not noisy
                with torch.no_grad():
                    self.noisy_next.fill_(1 if self._noisy_next else 0)
            elif self.schedule == "always_noisy":
                noisy = True
        return noisy, param_grad

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._noisy_next = bool(self.noisy_next)


class EELU(ScheduledNoise):
    """Elastic Exponential Linear Unit (Kim, Kim and Kim, Neurocomputing 406, 2020).

    f(x) = k*x for x >= 0 and alpha*(exp(beta*x) - 1) for x < 0, alpha = max(a, 0) and
    beta = max(b, 0) with trainable raw a, b (parameters ``alpha`` and ``beta``, shape
    [num_parameters]). During training k = clamp(N(1, sigma^2), 0, 2) per element with
    sigma ~ U(0, epsilon) per call; k = 1 in eval mode. ``schedule``:

    - ``alternate`` (the paper's): training calls alternate noisy (k sampled, alpha and beta
      get zero gradients) and clean (k = 1, alpha and beta learn), noisy first as in the
      authors' code; the phase is the buffer ``noisy_next`` and is saved in the state dict;
    - ``always_noisy``: noise and parameter learning on every call;
    - ``never_noisy``: no noise (MPELU).
    """

    __constants__ = ["num_parameters", "epsilon", "schedule"]

    def __init__(
        self,
        num_parameters: int = 1,
        alpha_init: float = 0.25,
        beta_init: float = 1.0,
        epsilon: float = 1.0,
        schedule: str = "alternate",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(
                f"eelu: num_parameters must be 1 (shared) or the number of channels, got {num_parameters}"
            )
        if not (math.isfinite(epsilon) and epsilon >= 0):
            raise ValueError(f"eelu: epsilon (the noise level) must be a finite number >= 0, got {epsilon}")
        self._init_schedule("eelu", schedule)
        self.num_parameters = num_parameters
        self.epsilon = float(epsilon)
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.full((num_parameters,), float(alpha_init), **factory))
        self.beta = nn.Parameter(torch.full((num_parameters,), float(beta_init), **factory))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles only the other branch
            if torch.onnx.is_in_onnx_export():
                return onnx_forward(input, self.alpha, self.beta, self.training)
        noisy, param_grad = self._schedule_step()
        return torch.ops.eelu.eelu(input, self.alpha, self.beta, self.epsilon, noisy, param_grad, None)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}, epsilon={self.epsilon}, schedule={self.schedule}"

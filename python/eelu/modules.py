"""The EELU module, the Python twin of eelu::nn::EELU (same parameters, buffer, schedule)."""
import math

import torch
from torch import nn

from ._library import load_library

load_library()

SCHEDULES = ("alternate", "always_noisy", "never_noisy")


class EELU(nn.Module):
    """Elastic Exponential Linear Unit (Kim, Kim and Kim, Neurocomputing 406, 2020).

    f(x) = k*x for x >= 0 and alpha*(exp(beta*x) - 1) for x < 0, alpha = max(a, 0) and
    beta = max(b, 0) with trainable raw a, b (parameters ``alpha`` and ``beta``, shape
    [num_parameters]). During training k = clamp(N(1, sigma^2), 0, 2) per element with
    sigma ~ U(0, epsilon) per call; k = 1 in eval mode. ``schedule``:

    - ``alternate`` (the paper's): training calls alternate clean (k = 1, alpha and beta learn)
      and noisy (k sampled, alpha and beta get zero gradients), clean first; the phase is the
      buffer ``noisy_next`` and is saved in the state dict;
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
    ):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(
                f"eelu: num_parameters must be 1 (shared) or the number of channels, got {num_parameters}"
            )
        if not (math.isfinite(epsilon) and epsilon >= 0):
            raise ValueError(f"eelu: epsilon (the noise level) must be a finite number >= 0, got {epsilon}")
        if schedule not in SCHEDULES:
            raise ValueError(f"eelu: unknown schedule '{schedule}'; valid: {', '.join(SCHEDULES)}")
        self.num_parameters = num_parameters
        self.epsilon = float(epsilon)
        self.schedule = schedule
        self.alpha = nn.Parameter(torch.full((num_parameters,), float(alpha_init)))
        self.beta = nn.Parameter(torch.full((num_parameters,), float(beta_init)))
        self.register_buffer("noisy_next", torch.zeros((), dtype=torch.bool))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        noisy = False
        param_grad = True
        if self.training:
            if self.schedule == "alternate":
                noisy = bool(self.noisy_next)
                param_grad = not noisy
                with torch.no_grad():
                    self.noisy_next.fill_(0 if noisy else 1)
            elif self.schedule == "always_noisy":
                noisy = True
        return torch.ops.eelu.eelu(input, self.alpha, self.beta, self.epsilon, noisy, param_grad, None)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}, epsilon={self.epsilon}, schedule={self.schedule}"

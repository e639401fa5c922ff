"""EELU as functions over torch.ops.eelu (see include/eelu/ops.h for the C++ twins)."""
from typing import Optional, Tuple

import torch

from ._library import load_library

load_library()


def eelu(
    input: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    epsilon: float = 1.0,
    training: bool = False,
    param_grad: bool = True,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """EELU(x) = k*x for x >= 0, max(a,0)*(exp(max(b,0)*x) - 1) for x < 0.

    With ``training``, k = clamp(N(1, sigma^2), 0, 2) per element with sigma ~ U(0, epsilon)
    drawn once per call from ``generator`` (the default CPU generator when None); otherwise
    k = 1. ``param_grad=False`` gives alpha and beta zero gradients (a noisy step of the
    alternating schedule). alpha, beta: shape [1] or [C], C = input.size(1).
    """
    return torch.ops.eelu.eelu(input, alpha, beta, epsilon, training, param_grad, generator)


def draw_noise(epsilon: float, generator: Optional[torch.Generator] = None) -> Tuple[float, int, int]:
    """What a training call draws from the generator: (sigma, seed, offset)."""
    return torch.ops.eelu.draw_noise(epsilon, generator)


def eelu_with_noise(
    input: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    sigma: float,
    seed: int,
    offset: int = 0,
    param_grad: bool = True,
) -> torch.Tensor:
    """EELU with explicit noise (sigma, seed, offset), as returned by draw_noise."""
    return torch.ops.eelu.eelu_with_noise(input, alpha, beta, sigma, seed, offset, param_grad)


def eelu_noise(input: torch.Tensor, sigma: float, seed: int, offset: int = 0) -> torch.Tensor:
    """The k that eelu_with_noise(input, ..., sigma, seed, offset) uses, materialised."""
    return torch.ops.eelu.eelu_noise(input, sigma, seed, offset)

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("EELU_BUILD_DIR", ROOT / "build"))
# EELU_TEST_INSTALLED=1: test the package that pip installed (scripts/check-pip-torch.sh), not
# the checkout's python/ with the build tree's library.
INSTALLED = os.environ.get("EELU_TEST_INSTALLED") == "1"
if not INSTALLED:
    sys.path.insert(0, str(ROOT / "python"))
    if "EELU_LIBRARY" not in os.environ and (BUILD / "libeelu.so").is_file():
        os.environ["EELU_LIBRARY"] = str(BUILD / "libeelu.so")


@pytest.fixture(scope="session")
def helper():
    """Runs tests/cpp/helper_main.cpp's program: helper(*args) -> CompletedProcess."""
    path = BUILD / "tests" / "eelu_test_helper"
    if INSTALLED:
        pytest.skip("the C++ helper belongs to a build tree, not to the installed package")
    if not path.is_file():
        pytest.fail(f"{path} is missing: build with -DEELU_BUILD_TESTS=ON")

    def run(*args):
        proc = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc

    return run


def _straight_through_clamp(p, x):
    """max(p, 0) forward, identity backward, shaped to broadcast along dim 1 if per channel."""
    q = p + (p.clamp_min(0) - p).detach()
    if x.dim() >= 2 and p.numel() > 1:
        return q.reshape([1, -1] + [1] * (x.dim() - 2))
    return q


def reference_eelu(x, a, b, k):
    """The composite of the spec in plain torch ops (straight-through clamp of a and b)."""
    alpha, beta = _straight_through_clamp(a, x), _straight_through_clamp(b, x)
    return torch.where(x >= 0, k * x, alpha * (torch.exp(beta * x.clamp_max(0)) - 1))


def training_steps(module, x0, steps):
    """`steps` training steps of `module` on x0 (loss sum(y * w), w = linspace(-1, 1)), then
    one call in eval mode: [y, x.grad, each parameter's grad] per step, then the eval output,
    the list eelu_test_helper's `module` and `activation` modes write."""
    w = torch.linspace(-1, 1, x0.numel(), dtype=x0.dtype).view(x0.shape)
    out = []
    for _ in range(steps):
        module.zero_grad(set_to_none=False)
        x = x0.clone().requires_grad_()
        y = module(x)
        (y * w).sum().backward()
        out += [y.detach(), x.grad] + [p.grad.clone() for p in module.parameters()]
    module.eval()
    out.append(module(x0).detach())
    return out

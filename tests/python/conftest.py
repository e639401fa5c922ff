import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
BUILD = Path(os.environ.get("EELU_BUILD_DIR", ROOT / "build"))
if "EELU_LIBRARY" not in os.environ and (BUILD / "libeelu.so").is_file():
    os.environ["EELU_LIBRARY"] = str(BUILD / "libeelu.so")


@pytest.fixture(scope="session")
def helper():
    """Runs tests/cpp/helper_main.cpp's program: helper(*args) -> CompletedProcess."""
    path = BUILD / "tests" / "eelu_test_helper"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build with -DEELU_BUILD_TESTS=ON")

    def run(*args):
        proc = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc

    return run


def reference_eelu(x, a, b, k):
    """The composite of the spec in plain torch ops (straight-through clamp of a and b)."""
    shape = [1] * x.dim()
    if x.dim() >= 2 and a.numel() > 1:
        shape[1] = a.numel()
    alpha = (a + (a.clamp_min(0) - a).detach()).reshape(shape if a.numel() > 1 else [1])
    shape_b = [1] * x.dim()
    if x.dim() >= 2 and b.numel() > 1:
        shape_b[1] = b.numel()
    beta = (b + (b.clamp_min(0) - b).detach()).reshape(shape_b if b.numel() > 1 else [1])
    return torch.where(x >= 0, k * x, alpha * (torch.exp(beta * x.clamp_max(0)) - 1))

import os
import pty
import select
import socket
import subprocess
import sys
import threading
import time
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


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def start_with_progress(args, stdout, epoch, batch, env=None):
    """Starts `args` (an eelu command) with its stderr on a pseudo-terminal, where it draws its
    progress bar, and returns the process once the bar shows `batch` of `epoch` (a
    synchronisation point, not a guess at how long training takes). A thread keeps reading
    the terminal until the process ends; terminal_text(proc) is all it wrote there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(a) for a in args], stdout=stdout, stderr=slave, env=env)
    os.close(slave)
    proc.terminal = bytearray()
    mark = f"epoch {epoch}/".encode()
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            continue
        try:
            proc.terminal += os.read(master, 4096)
        except OSError:
            break
        bars = [b for b in bytes(proc.terminal).split(b"\r") if b.strip().startswith(mark) and b"] " in b]
        if bars and int(bars[-1].split(b"] ")[1].split(b"/")[0]) >= batch:
            break

    def drain():
        try:
            while True:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                proc.terminal += chunk
        except OSError:  # the process closed the terminal
            pass
        os.close(master)

    proc.drain = threading.Thread(target=drain, daemon=True)
    proc.drain.start()
    return proc


def terminal_text(proc):
    """What a process started by start_with_progress wrote to its terminal (after it ended)."""
    proc.drain.join(timeout=30)
    return bytes(proc.terminal).decode(errors="replace")

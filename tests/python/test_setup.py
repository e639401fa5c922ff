"""`pip install` refuses what it cannot build with one clear line (setup.py), before compiling."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(tmp_path, env_changes, pythonpath=None):
    env = dict(os.environ, **env_changes)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, str(ROOT / "setup.py"), "build_ext", "--build-temp",
                           str(tmp_path / "temp"), "--build-lib", str(tmp_path / "lib")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr.strip().splitlines()


def test_without_torch(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ImportError('no torch here')\n")
    rc, err = build(tmp_path, {}, pythonpath=fake)
    assert rc == 1 and err[-1].startswith("eelu: building needs PyTorch in this Python"), err


def test_without_cmake_or_compiler(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    rc, err = build(tmp_path, {"PATH": str(bin_dir)})
    assert rc == 1 and err[-1].startswith("eelu: building needs CMake >= 3.18"), err
    cmake = next(p for p in ("/usr/bin/cmake", "/usr/local/bin/cmake") if Path(p).exists())
    (bin_dir / "cmake").symlink_to(cmake)
    rc, err = build(tmp_path, {"PATH": str(bin_dir), "CXX": "no-such-c++"})
    assert rc == 1 and err[-1] == ("eelu: building needs a C++ compiler ('no-such-c++' was not found; "
                                   "Debian: apt-get install g++)"), err


def test_bad_cuda_setting(tmp_path):
    rc, err = build(tmp_path, {"EELU_CUDA": "yes"})
    assert rc == 1 and err[-1] == "eelu: EELU_CUDA must be 0 or 1, got 'yes'", err


def test_torch_too_old(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("__version__ = '1.12.1+cpu'\n")
    rc, err = build(tmp_path, {}, pythonpath=fake)
    assert rc == 1 and err[-1] == "eelu: torch 1.12.1+cpu is too old; eelu needs torch >= 1.13", err

"""A refused argument is a Python exception, never a dead interpreter (issue 14: under pip's
torch 2.11, a second LibTorch's libc10 linked into the library made every error of the
operators kill the process). The calls run in a child process, so a crash fails this test
instead of killing pytest."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import eelu
from conftest import INSTALLED

# Each line: a call of every operator with one bad argument, and what its message must say.
REFUSED = r'''
import sys, torch, eelu
ops = torch.ops.eelu
x = torch.randn(2, 3, 4)
a = torch.ones(1)
cases = [
    (lambda: ops.eelu(x.int(), a, a, 1.0, False, True, None), "input must be float32"),
    (lambda: ops.eelu(x, torch.ones(2), a, 1.0, False, True, None), "alpha must have shape"),
    (lambda: ops.eelu(x, a.double(), a, 1.0, False, True, None), "alpha has dtype"),
    (lambda: ops.eelu(x, a, a, -1.0, True, True, None), "epsilon"),
    (lambda: ops.eelu(x, a, a, float("nan"), True, True, None), "epsilon"),
    (lambda: ops.eelu_with_noise(x.half(), a.half(), a.half(), 0.5, 1, 0, True), "float16 on CUDA"),
    (lambda: ops.eelu_with_noise(x, a, a, -0.5, 1, 0, True), "sigma"),
    (lambda: ops.eelu_backward(x, x, a, torch.ones(5), 0.5, 1, 0, [True, True, True]), "beta must have shape"),
    (lambda: ops.eelu_noise(x.long(), 0.5, 1, 0), "input must be float32"),
    (lambda: ops.draw_noise(-2.0, None), "epsilon"),
    (lambda: eelu.functional.eelu(x, a, a, epsilon=1.0, training=True, generator=42), ""),
]
for call, needle in cases:
    try:
        call()
    except (RuntimeError, TypeError, ValueError) as e:
        assert needle in str(e), (needle, str(e))
        print("refused:", type(e).__name__, str(e).splitlines()[0][:100])
    else:
        print("NOT REFUSED:", needle)
        sys.exit(3)
print("all refused")
'''


def test_every_refused_argument_is_a_python_exception():
    env = os.environ.copy()  # the same eelu package (and library) as this process's
    package_root = str(Path(eelu.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", REFUSED], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "all refused" in proc.stdout


def mapped_libraries(stem):
    """The files of this process whose name starts with `stem` (from /proc/self/maps)."""
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        pytest.skip("no /proc/self/maps on this system")
    found = set()
    for line in maps.read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and Path(parts[5]).name.startswith(stem):
            found.add(os.path.realpath(parts[5]))
    return found


def test_one_c10_in_the_process():
    """The library and torch share one c10: the cause of the crash above."""
    eelu.load_library()
    c10 = {p for p in mapped_libraries("libc10") if "cuda" not in Path(p).name}
    assert len(c10) == 1, f"more than one libc10 is loaded: {sorted(c10)}"
    torch_dir = Path(torch.__file__).resolve().parent
    debian = Path("/usr/lib")
    own = next(iter(c10))
    assert own.startswith(str(torch_dir)) or own.startswith(str(debian)), own


def test_a_library_built_for_another_torch_is_refused_before_loading(tmp_path):
    """After `pip install`, upgrading torch leaves a library built for the old one: loading it
    could crash in its static initialisers, so the recorded version is checked first."""
    from eelu import _library

    (tmp_path / "_ops.so").write_bytes(b"")
    (tmp_path / "_build_info.json").write_text('{"torch": "0.0.1", "cuda_kernels": false}')
    with pytest.raises(ImportError, match=r"built against torch 0\.0\.1, but this Python has torch"):
        _library._check_built_for_this_torch(tmp_path / "_ops.so")
    (tmp_path / "_build_info.json").write_text(f'{{"torch": "{torch.__version__}"}}')
    _library._check_built_for_this_torch(tmp_path / "_ops.so")


def _other_pythons():
    """Pythons on this machine whose torch is not this one's (Debian's, the pip check's
    virtual environments)."""
    cache = Path(os.environ.get("EELU_PIP_CACHE", "/var/cache/eelu-pip"))
    found = []
    for py in [Path("/usr/bin/python3"), *sorted(cache.glob("venv-torch-*/bin/python"))]:
        if not py.is_file() or os.path.realpath(py) == os.path.realpath(sys.executable):
            continue
        probe = subprocess.run([str(py), "-c", "import torch; print(torch.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() != torch.__version__:
            found.append(py)
    return found


def test_a_library_of_another_libtorch_is_refused_before_it_loads():
    """Loading a libeelu linked against another LibTorch's c10 used to abort the interpreter
    while the library's registrations ran ("terminate called ... std::system_error"): it is
    refused with an ImportError naming both c10 files, before it is loaded."""
    others = _other_pythons()
    if not others or INSTALLED:
        pytest.skip("no Python with another torch here (or testing the installed package)")
    lib = eelu._library.load_library()
    for py in others:
        proc = subprocess.run([str(py), "-c", "import sys; sys.path.insert(0, sys.argv[1]); import eelu",
                               str(Path(__file__).resolve().parents[2] / "python")],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "EELU_LIBRARY": str(lib)})
        assert proc.returncode == 1, f"{py}: {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "ImportError" in proc.stderr and "is linked against" in proc.stderr, proc.stderr[-2000:]

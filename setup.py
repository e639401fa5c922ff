"""Builds the eelu operator library for `pip install`: CMake (EELU_MINIMAL: the operators and
modules, which need only LibTorch) against the torch of the Python that runs this, with the
CUDA kernels when that torch has CUDA and nvcc is there. The library goes into the package as
eelu/_ops*.so, which eelu/_library.py loads with torch.ops.load_library.

    python3 -m pip install --no-build-isolation .      # or: pip wheel --no-build-isolation .

Settings (environment): EELU_CUDA=0|1 (default: 1 when torch has CUDA and nvcc is found),
EELU_CUDA_ARCHS (CMake's CUDA architectures, e.g. "90" or "80;90"; default: the visible
GPU's, else TORCH_CUDA_ARCH_LIST's, else "80;90"), CMAKE_BUILD_PARALLEL_LEVEL (jobs).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
OLDEST_TORCH = (1, 13)


def fail(message):
    """One clear line instead of a traceback."""
    sys.stderr.write(f"eelu: {message}\n")
    raise SystemExit(1)


def find_torch():
    try:
        import torch
    except ImportError:
        fail(f"building needs PyTorch in this Python ({sys.executable}); install torch first, "
             "then `python3 -m pip install --no-build-isolation .`")
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if version < OLDEST_TORCH:
        fail(f"torch {torch.__version__} is too old; eelu needs torch >= "
             f"{'.'.join(map(str, OLDEST_TORCH))}")
    return torch


def torch_cmake_prefix(torch):
    """Where that torch's TorchConfig.cmake is: in the torch package (PyPI), or, for Debian's
    python3-torch, in the system's CMake directory, which libtorch-dev provides."""
    prefix = Path(torch.utils.cmake_prefix_path)
    if (prefix / "Torch" / "TorchConfig.cmake").is_file():
        return str(prefix)
    system = sorted(Path("/usr/lib").glob("*/cmake/Torch/TorchConfig.cmake"))
    if system and Path(torch.__file__).is_relative_to(Path("/usr/lib/python3")):
        return str(system[0].parents[1])
    fail(f"torch {torch.__version__} has no CMake files (looked in {prefix}"
         + (", and for Debian's python3-torch: apt-get install libtorch-dev)" if not system else ")"))


def find_nvcc():
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home and (Path(home) / "bin" / "nvcc").is_file():
            return str(Path(home) / "bin" / "nvcc")
    return shutil.which("nvcc")


def cuda_architectures(torch):
    if os.environ.get("EELU_CUDA_ARCHS"):
        return os.environ["EELU_CUDA_ARCHS"]
    try:
        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability()
            return f"{major}{minor}"
    except RuntimeError:
        pass
    listed = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if listed:  # "8.0;9.0+PTX" -> "80-real;90"
        archs = []
        for a in listed.replace(" ", ";").split(";"):
            if a:
                digits = a.replace("+PTX", "").replace(".", "")
                archs.append(digits if a.endswith("+PTX") else f"{digits}-real")
        return ";".join(archs)
    return "80-real;90"


def want_cuda(torch, nvcc):
    setting = os.environ.get("EELU_CUDA", "")
    if setting not in ("", "0", "1"):
        fail(f"EELU_CUDA must be 0 or 1, got '{setting}'")
    has_cuda = torch.version.cuda is not None
    if setting == "1" and not has_cuda:
        fail(f"EELU_CUDA=1 but torch {torch.__version__} has no CUDA")
    if setting == "1" and not nvcc:
        fail("EELU_CUDA=1 but nvcc was not found (set CUDA_HOME or put nvcc on PATH)")
    if setting == "":
        return has_cuda and nvcc is not None
    return setting == "1"


class CMakeBuild(build_ext):
    """Configures and builds libeelu with CMake, then puts it where the extension goes."""

    def build_extension(self, ext):
        if shutil.which("cmake") is None:
            fail("building needs CMake >= 3.18 (Debian: apt-get install cmake; "
                 "or python3 -m pip install cmake)")
        compiler = os.environ.get("CXX") or "c++"
        if shutil.which(compiler) is None:
            fail(f"building needs a C++ compiler ('{compiler}' was not found; Debian: apt-get install g++)")
        torch = find_torch()
        nvcc = find_nvcc()
        cuda = want_cuda(torch, nvcc)
        # One build tree per torch: a CMake cache keeps the first Torch_DIR it found.
        key = hashlib.sha256(f"{torch.__file__} {torch.__version__} {cuda}".encode()).hexdigest()[:12]
        build_dir = Path(self.build_temp).resolve() / f"cmake-{key}"
        args = [
            "-DEELU_MINIMAL=ON",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={torch_cmake_prefix(torch)}",
            f"-DEELU_WITH_CUDA={'ON' if cuda else 'OFF'}",
        ]
        if cuda:
            args += [f"-DCMAKE_CUDA_COMPILER={nvcc}",
                     f"-DCMAKE_CUDA_ARCHITECTURES={cuda_architectures(torch)}"]
        if shutil.which("ccache"):
            args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"]
        print(f"eelu: building against torch {torch.__version__} "
              f"({'with CUDA kernels, nvcc ' + nvcc if cuda else 'CPU only'})", flush=True)
        self.run_cmake(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args])
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        self.run_cmake(["cmake", "--build", str(build_dir), "--target", "eelu", "-j", jobs])
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(build_dir / "libeelu.so", target)
        # What it was built against: eelu/_library.py refuses to load it into another torch
        # (a mismatched library can crash in its static initialisers, before any check).
        info = {"torch": torch.__version__, "cuda_kernels": cuda}
        (target.parent / "_build_info.json").write_text(json.dumps(info) + "\n")

    @staticmethod
    def run_cmake(command):
        try:
            subprocess.run(command, check=True)
        except subprocess.CalledProcessError as e:
            fail(f"`{' '.join(command[:2])} ...` failed (exit {e.returncode}); its output is above")


setup(
    # Not build/, which is the CMake build tree of the README.
    options={"build": {"build_base": "build-python"}},
    # The operator library, built by CMake (not a Python extension module: it has no
    # PyInit; eelu/_library.py loads it with torch.ops.load_library).
    ext_modules=[Extension("eelu._ops", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)

#!/usr/bin/env python3
"""Builds the operator library with the CUDA kernels through torch.utils.cpp_extension (the
fallback of bench/gpu/run.sh when the CMake build fails): the same sources as
`cmake -DEELU_MINIMAL=ON -DEELU_WITH_CUDA=ON` (the portable CPU kernels, no AVX2 spans).

    python3 bench/gpu/build_ext.py OUT_DIR      # writes OUT_DIR/eelu_ext*.so
"""
import sys
from pathlib import Path

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["src/ops/eelu_op.cpp", "src/ops/eelu_autograd.cpp", "src/ops/eelu_checks.cpp",
           "src/ops/noise.cpp", "src/ops/reference.cpp", "src/ops/cpu/eelu_kernel.cpp",
           "src/nn/eelu.cpp", "src/nn/activations.cpp", "src/nn/parameters.cpp",
           "src/nn/registry.cpp", "src/nn/registry_ops.cpp", "src/ops/cuda/eelu_kernel.cu"]

out = Path(sys.argv[1]).resolve()
sys.argv = [sys.argv[0], "build_ext", "--build-lib", str(out), "--build-temp", str(out / "tmp")]
setup(
    name="eelu_ext",
    ext_modules=[CUDAExtension(
        "eelu_ext", [str(ROOT / s) for s in SOURCES],
        include_dirs=[str(ROOT / "include"), str(ROOT / "src")],
        define_macros=[("EELU_VERSION_STRING", '"gpu-ext"'), ("EELU_WITH_CUDA", None)],
        extra_compile_args={"cxx": ["-O2", "-ffp-contract=off", "-fopenmp"],
                            "nvcc": ["-O3", "-fmad=false", "-std=c++17"]},
        extra_link_args=["-fopenmp"])],
    cmdclass={"build_ext": BuildExtension})

"""bench/gpu/check.py, the checks bench/gpu/run.sh runs on a GPU, run here on the CPU so the
script keeps working between GPU loans (the CUDA-only check skips itself)."""
import os
import subprocess
import sys

from conftest import ROOT


def test_the_gpu_check_script_passes_on_the_cpu():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu" / "check.py"), "--device", "cpu",
                           "--quick"], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    passed, skipped, failed = (int(summary.split(", ")[i].split()[0]) for i in range(3))
    assert failed == 0 and passed + skipped == 9, summary
    assert "SKIP cuda_agrees_with_the_cpu_kernels_for_the_same_noise: on the CPU" in proc.stdout
    assert passed >= 6, summary  # every check but the CUDA one (and compile on torch 1.x) ran

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
    assert "8 passed, 0 failed" in proc.stdout, proc.stdout

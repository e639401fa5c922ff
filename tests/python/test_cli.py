"""The eelu command-line tool: listing activations, drawing them, and its errors."""
import struct
import subprocess

import pytest

from conftest import BUILD

EELU = BUILD / "eelu"
NAMES = ["relu", "lrelu", "prelu", "rrelu", "erelu", "eprelu", "elu", "pelu", "mpelu", "selu",
         "swish", "gelu", "silu", "mish", "eelu"]


def run(*args):
    if not EELU.is_file():
        pytest.fail(f"{EELU} is missing: build the project first")
    return subprocess.run([str(EELU), *map(str, args)], capture_output=True, text=True)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_activations_lists_every_name_and_setting():
    proc = run("activations")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line and not line.startswith(" ")]
    assert names[: len(NAMES)] == NAMES
    assert "schedule" in proc.stdout and "alternate|always_noisy|never_noisy" in proc.stdout
    assert "aliases: leaky_relu, leakyrelu" in proc.stdout


def test_plot_activations_writes_a_png_of_the_right_size_for_each(tmp_path):
    proc = run("plot-activations", "--out", tmp_path, "--samples", 20, "--width", 640, "--height", 300)
    assert proc.returncode == 0, proc.stderr
    for name in NAMES:
        png = tmp_path / f"{name}.png"
        assert png.is_file(), f"no picture of {name}"
        assert png_size(png) == (640, 300)
        assert png.stat().st_size > 5000, f"{name}.png is nearly empty"
        columns = (tmp_path / f"{name}.dat").read_text().splitlines()[1].split()
        noisy = name in ("rrelu", "erelu", "eprelu", "eelu")
        assert len(columns) == (7 if noisy else 3), name
    assert not list(tmp_path.glob("*.tmp*")), "temporary files left behind"


def test_plot_one_spec_with_settings(tmp_path):
    proc = run("plot-activations", "--out", tmp_path, "--only", "eelu(eps=0.6, alpha=1)", "--samples", 10)
    assert proc.returncode == 0, proc.stderr
    assert png_size(tmp_path / "eelu.png") == (1000, 420)
    header = (tmp_path / "eelu.dat").read_text().splitlines()[0]
    assert "eelu(eps=0.6, alpha=1, beta=1, schedule=alternate, shared=false)" in header


@pytest.mark.parametrize(
    "args,message",
    [
        (["plot-activations", "--out", "/tmp/x", "--only", "relux"], "unknown activation 'relux'; valid: relu"),
        (["plot-activations"], "--out is required"),
        (["selfcheck", "--shape", "0", "3"], "--shape"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_arguments_fail_with_a_message(args, message):
    proc = run(*args)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout

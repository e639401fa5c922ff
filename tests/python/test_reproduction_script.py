"""docs/reproduction/gpu.sh and run.sh's unpack, run here on the CPU (DEVICE=cpu) in a copy of
the scripts whose 2% grid is a small one: what a GPU machine trains comes back as one archive
that run.sh unpack puts into the records and into runs/, where the grid sees its runs done."""
import os
import shutil
import subprocess
import tarfile

import pytest

from conftest import BUILD, ROOT

pytestmark = pytest.mark.slow

EELU = BUILD / "eelu"

SMALL_2PCT = """
[experiment]
name = "fashion-mnist-2pct"
dir = "runs/fashion-mnist-2pct"

[train]
dataset = "fashion-mnist"
train_fraction = 0.02
epochs = 2
max_batches = 3
batch_size = 32
workers = 0

[grid]
activation = ["relu", "eelu(eps=0.6, alpha=1, beta=1)"]
seed = [0]
"""


SMALL_ABLATION = SMALL_2PCT.replace("2pct", "ablation").replace(
    '["relu", "eelu(eps=0.6, alpha=1, beta=1)"]', '["eelu(eps=0, alpha=1, beta=1)"]')


def sandbox(path):
    """The reproduction's scripts in a tree of their own, with small grids as the 2% one and
    the ablation."""
    for name in ("docs/reproduction/run.sh", "docs/reproduction/gpu.sh", "scripts/steps.sh"):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    (path / "configs").mkdir()
    (path / "configs" / "fashion-mnist-2pct.toml").write_text(SMALL_2PCT)
    (path / "configs" / "fashion-mnist-ablation.toml").write_text(SMALL_ABLATION)
    return path


def script(tree, *args, **env):
    return subprocess.run([str(tree / "docs" / "reproduction" / args[0]), *map(str, args[1:])],
                          capture_output=True, text=True, timeout=900, cwd=tree,
                          env={**os.environ, "EELU": str(EELU), "DEVICE": "cpu", **env})


def test_what_a_gpu_machine_trains_comes_back_as_one_archive(tmp_path):
    there = sandbox(tmp_path / "there")
    out = tmp_path / "out"
    proc = script(there, "gpu.sh", 300, OUT=str(out), GRIDS="2pct ablation", WORKERS="2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "=== train the grids for 300 s (2 workers on cpu): ok" in proc.stdout
    assert "reproduction.tar.gz: 3 finished runs' records" in (out / "reproduction-gpu.txt").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["reproduction-gpu.txt", "reproduction.tar.gz"], \
        "a device call brings back eight files at most: the log and the archive"
    with tarfile.open(out / "reproduction.tar.gz") as tar:
        names = tar.getnames()
    runs = sorted({n.split("/")[4] for n in names if n.count("/") >= 5 and "fashion-mnist-2pct" in n})
    assert len(runs) == 2, names
    for run in runs:
        for record in ("config.json", "metrics.jsonl", "summary.json", "latent.json"):
            assert f"docs/reproduction/records/fashion-mnist-2pct/{run}/{record}" in names, run
    assert "docs/reproduction/main/report.md" in names
    assert "docs/reproduction/latent/latent.md" in names
    # the noise's effect on the latent features: the ablation's EELU without noise, measured
    # and kept with its records, against the 2% grid's EELU
    ablation = [n for n in names if "records/fashion-mnist-ablation/" in n and n.endswith("/latent.json")]
    assert len(ablation) == 1, names
    assert "docs/reproduction/latent-noise/latent.md" in names
    assert not any(n.endswith(".pt") for n in names), "records without the weights"

    here = sandbox(tmp_path / "here")
    proc = script(here, "run.sh", "unpack", out / "reproduction.tar.gz")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unpacked 3 finished runs' records" in proc.stdout
    status = subprocess.run([str(EELU), "grid", "configs/fashion-mnist-2pct.toml", "--status"],
                            capture_output=True, text=True, cwd=here)
    assert "2 runs: 2 done" in status.stdout, status.stdout + status.stderr
    assert (here / "docs/reproduction/records/fashion-mnist-2pct" / runs[0] / "latent.json").exists()

    for args, message in ((["unpack", tmp_path / "nothing.tar.gz"], "no file"),
                          (["unpack"], "usage")):
        bad = script(here, "run.sh", *args)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr
    stray = tmp_path / "stray.tar.gz"
    with tarfile.open(stray, "w:gz") as tar:
        tar.add(here / "configs" / "fashion-mnist-2pct.toml", arcname="configs/x.toml")
    bad = script(here, "run.sh", "unpack", stray)
    assert bad.returncode != 0 and "holds configs/x.toml, outside docs/reproduction/" in bad.stderr

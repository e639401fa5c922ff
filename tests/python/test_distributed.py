"""Distributed training on loopback: `eelu train --nproc`, ranks started by hand the way torchrun
does (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), the equivalence with one process, records
written once, resume, and the faults (a rank killed, a wrong address, another world size)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import BUILD, free_port, start_with_progress, terminal_text

EELU = BUILD / "eelu"


def _distributed_built():
    version = subprocess.run([str(EELU), "--version"], capture_output=True, text=True).stdout
    return "distributed training: yes" in version


pytestmark = pytest.mark.skipif(EELU.is_file() and not _distributed_built(),
                                reason="this eelu was built without distributed training "
                                       "(EELU_DISTRIBUTED, docs/distributed.md)")
# Small, fast runs: Fashion-MNIST, a few batches, one thread per rank; no augmentation (each
# rank crops and flips its shard with a stream of its own, so with it one rank of 64 and two
# of 32 would see other pixels).
BASE = ["--threads", "1", "--workers", "0", "--crop-padding", "0", "--flip", "0"]
QUICK = [*BASE, "--epochs", "1", "--max-batches", "4", "--quiet"]


def train(*args, env=None, timeout=300, check=True):
    proc = subprocess.run([str(EELU), "train", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def rank_env(rank, world, port, addr="127.0.0.1"):
    env = dict(os.environ)
    env.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR=addr, MASTER_PORT=str(port),
               LOCAL_RANK=str(rank))
    return env


def max_difference(helper, a, b):
    out = helper("compare-weights", a / "checkpoint.pt", b / "checkpoint.pt").stdout.split()
    return float(out[1]), float(out[3])  # parameters, buffers


def test_two_ranks_of_32_equal_one_rank_of_64(helper, tmp_path):
    """With synchronised BatchNorm (and no noise, no dropout: resnet20 with ReLU) two ranks
    with 32 images each take the same steps as one process with 64; per-rank BatchNorm does
    not, which shows the comparison can tell."""
    common = ["--model", "resnet20", "--act", "relu", "--epochs", "1", "--max-batches", "3",
              *BASE, "--lr", "0.01", "--lr-schedule", "constant", "--quiet"]
    train(*common, "--batch-size", "64", "--out", tmp_path / "one")
    train(*common, "--batch-size", "32", "--nproc", "2", "--sync-bn", "--out", tmp_path / "two")
    train(*common, "--batch-size", "32", "--nproc", "2", "--out", tmp_path / "per-rank-bn")
    params, buffers = max_difference(helper, tmp_path / "one", tmp_path / "two")
    assert params < 1e-5 and buffers < 1e-4, (params, buffers)
    params_bn, _ = max_difference(helper, tmp_path / "one", tmp_path / "per-rank-bn")
    assert params_bn > 10 * max(params, 1e-7), (params, params_bn)
    # The records say what ran.
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["world_size"] == 2 and config["global_batch_size"] == 64
    assert config["sync_batchnorm"] is True
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["communication_seconds"] > 0


def test_records_and_checkpoint_are_written_once_by_rank_zero(tmp_path):
    out = tmp_path / "run"
    proc = train(*BASE, "--epochs", "2", "--max-batches", "4", "--batch-size", "16", "--nproc", "2",
                 "--out", out)
    # one epoch line per epoch, from rank 0 only
    assert proc.stdout.count("epoch 1/2") == 1 and proc.stdout.count("epoch 2/2") == 1, proc.stdout
    assert proc.stdout.count("final test accuracy") == 1
    assert sorted(p.name for p in out.iterdir()) == [".lock", "checkpoint.pt", "config.json",
                                                     "metrics.jsonl", "summary.json"]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
    # the accuracies are over the whole evaluated split (both ranks' shards): 4 global
    # batches of 32 test images, so a multiple of 1/128
    acc = json.loads(lines[-1])["test_acc"]
    assert abs(acc * 128 - round(acc * 128)) < 1e-9, acc


def test_ranks_started_by_hand_like_torchrun(tmp_path):
    port = free_port()
    out = tmp_path / "run"
    args = [str(EELU), "train", *QUICK, "--batch-size", "16", "--out", str(out)]
    procs = [subprocess.Popen(args, env=rank_env(r, 2, port), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in (1, 0)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert json.loads((out / "summary.json").read_text())["world_size"] == 2


def test_interrupted_job_resumes_to_the_same_weights(tmp_path):
    """SIGTERM to `eelu train --nproc 2` stops every rank at the same batch with a
    checkpoint (every rank's generator state in it); --resume with the same world size ends
    bit for bit where an uninterrupted job ends (EELU's noise differs per rank, and each
    rank's stream continues)."""
    common = ["--act", "eelu", "--epochs", "2", "--max-batches", "40", "--threads", "1",
              "--workers", "0", "--batch-size", "16", "--nproc", "2", "--quiet"]
    train(*common, "--out", tmp_path / "straight")
    out = tmp_path / "interrupted"
    launcher = start_with_progress([EELU, "train", *common[:-1], "--out", out], subprocess.DEVNULL,
                                   epoch=1, batch=10)
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(timeout=120)
    assert launcher.returncode == 130
    checkpoint_at = subprocess.run([str(EELU), "train", *common[:-1], "--resume", "--out", str(out)],
                                   capture_output=True, text=True, timeout=600)
    assert checkpoint_at.returncode == 0, checkpoint_at.stderr
    at = checkpoint_at.stdout.split("resuming ")[1].split("\n")[0]
    assert "at epoch 1, batch " in at and not at.endswith("batch 0"), at  # mid-epoch
    straight = json.loads((tmp_path / "straight" / "summary.json").read_text())
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["state_digest"] == straight["state_digest"]


def two_ranks_mid_epoch(tmp_path, timeout):
    """Ranks 0 and 1 of a long job started by hand, returned once rank 0's progress bar shows
    batch 5 of epoch 1: mid-epoch."""
    port = free_port()
    out = tmp_path / "run"
    args = [str(EELU), "train", "--epochs", "50", "--threads", "1", "--workers", "0",
            "--batch-size", "16", "--dist-timeout", str(timeout), "--out", str(out)]
    r1 = subprocess.Popen([*args, "--quiet"], env=rank_env(1, 2, port), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    r0 = start_with_progress(args, subprocess.DEVNULL, epoch=1, batch=5, env=rank_env(0, 2, port))
    assert r0.poll() is None, "rank 0 ended before the test could act"
    return r0, r1


def test_a_killed_rank_stops_the_other_with_an_error(tmp_path):
    r0, r1 = two_ranks_mid_epoch(tmp_path, 20)
    r1.kill()
    r1.wait()
    t0 = time.time()
    r0.wait(timeout=60)
    err = terminal_text(r0)
    assert r0.returncode != 0
    assert time.time() - t0 < 30
    # (once, under a heavy load, rank 0 ended non-zero with nothing after its progress bar:
    # the return code says whether a signal ended it)
    assert "distributed" in err and "rank 0 of 2" in err, (r0.returncode, err)


def test_a_frozen_rank_stops_the_other_after_the_timeout(tmp_path):
    """A rank that stops answering without dying (SIGSTOP: a hung process or a machine gone
    silent) is caught by --dist-timeout: no hang."""
    r0, r1 = two_ranks_mid_epoch(tmp_path, 5)
    try:
        r1.send_signal(signal.SIGSTOP)
        t0 = time.time()
        r0.wait(timeout=60)
        err = terminal_text(r0)
        assert r0.returncode == 1
        assert 3 < time.time() - t0 < 30
        assert "stopped answering within 5 s" in err, err
    finally:
        r1.kill()
        r1.wait()


def test_a_wrong_address_fails_after_the_timeout_with_a_message(tmp_path):
    port = free_port()  # nobody serves it
    t0 = time.time()
    proc = train(*QUICK, "--dist-timeout", "2", "--out", tmp_path / "run",
                 env=rank_env(1, 2, port), check=False, timeout=120)
    assert proc.returncode == 1
    assert f"could not reach the rendezvous at 127.0.0.1:{port}" in proc.stderr, proc.stderr
    assert time.time() - t0 < 60


def test_bad_environment_is_named(tmp_path):
    env = rank_env(0, 2, 29500)
    env["WORLD_SIZE"] = "two"
    proc = train(*QUICK, "--out", tmp_path / "run", env=env, check=False)
    assert proc.returncode == 1 and "WORLD_SIZE='two'" in proc.stderr, proc.stderr


def test_resume_with_another_world_size_is_refused(tmp_path):
    one = tmp_path / "one"
    train(*BASE, "--quiet", "--epochs", "2", "--max-batches", "2", "--out", one)
    (one / "summary.json").unlink()
    proc = train(*BASE, "--quiet", "--epochs", "2", "--max-batches", "2", "--nproc", "2", "--resume",
                 "--out", one, check=False)
    assert proc.returncode != 0
    assert "written by a job of 1 rank(s); this job has 2" in proc.stderr, proc.stderr
    assert not (one / "summary.json").exists()  # refused before training
    two = tmp_path / "two"
    train(*BASE, "--quiet", "--epochs", "2", "--max-batches", "2", "--nproc", "2", "--out", two)
    proc = train(*BASE, "--quiet", "--epochs", "2", "--max-batches", "2", "--resume", "--out", two,
                 check=False)
    assert proc.returncode == 1
    assert "written by a job of 2 ranks; this is a single process" in proc.stderr, proc.stderr


def test_a_grid_of_distributed_runs(tmp_path):
    config = tmp_path / "dist.toml"
    config.write_text("""
[experiment]
name = "dist"

[train]
dataset = "fashion-mnist"
epochs = 2
max_batches = 3
batch_size = 16
workers = 0
nproc = 2

[grid]
activation = ["relu", "eelu"]
seed = [0, 1]
""")
    proc = subprocess.run([str(EELU), "grid", str(config), "--dir", str(tmp_path / "exp"),
                           "--workers", "2", "--threads", "2", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 done, 0 failed, 0 left" in proc.stdout
    for run in (tmp_path / "exp" / "runs").iterdir():
        summary = json.loads((run / "summary.json").read_text())
        assert summary["world_size"] == 2 and summary["epochs"] == 2


TORCHRUN = """
import socket, sys
from torch.distributed.launcher.api import LaunchConfig, elastic_launch
from torch.distributed.elastic.multiprocessing import Std
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id="eelu",
                      rdzv_backend="static", rdzv_endpoint=f"127.0.0.1:{port}",
                      rdzv_configs={"rank": 0}, max_restarts=0, monitor_interval=0.2,
                      redirects=Std.NONE, tee=Std.NONE)
elastic_launch(config, sys.argv[1])(*sys.argv[2:])
"""


def test_ranks_started_by_torchruns_agent(tmp_path):
    """torchrun's elastic agent (static rendezvous, what `torchrun --no-python eelu train`
    does): the agent serves the store and the ranks join it. Through the launcher's Python
    API, because Debian 12's `torchrun` command (1.13 under Python 3.11) fails in its own
    argument handling before starting anything."""
    pytest.importorskip("torch.distributed.launcher.api")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", TORCHRUN, str(EELU), "train", *QUICK,
                           "--batch-size", "16", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "summary.json").read_text())["world_size"] == 2

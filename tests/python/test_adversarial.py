"""What a user types or a disk does must not crash, hang, lose a run or pass silently (issue 20):
bad values refused before anything is written, a full disk during a checkpoint, two processes
on one run folder, a finished run and its overwrite, hand-edited and corrupted records, another
network's checkpoint, images of another size, grids with nonsense. Each case runs the real
tool as a user would."""
import gzip
import json
import os
import resource
import signal
import struct
import subprocess
import time

import numpy as np
import pytest

from conftest import BUILD

EELU = str(BUILD / "eelu")
TINY = ["--epochs", "1", "--train-per-class", "20", "--batch-size", "32", "--threads", "1",
        "--workers", "0", "--max-batches", "3", "--quiet"]


def run(*args, check=True, timeout=600, **kw):
    proc = subprocess.run([EELU, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def tiny(*extra):
    """TINY with the options `extra` gives replaced by its values."""
    given = {a for a in extra if str(a).startswith("--")}
    out, skip = [], False
    for i, a in enumerate(TINY):
        if skip:
            skip = False
            continue
        if a in given:
            skip = i + 1 < len(TINY) and not TINY[i + 1].startswith("--")
            continue
        out.append(a)
    return [*out, *extra]


def refused(proc, message):
    """A clean refusal: an error exit (not a signal), the message on stderr."""
    assert 0 < proc.returncode < 128, (proc.returncode, proc.stderr)
    assert message in proc.stderr, proc.stderr
    assert "terminate called" not in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--threads", "100000"], "--threads must be in [0, "),
    (["--threads", "3000"], "--threads must be in [0, "),
    (["--workers", "100000"], "--workers must be in [0, "),
    (["--batch-size", "9223372036854775807"], "--batch-size must be in [1, 1048576]"),
    (["--lr", "0"], "--lr: must be a finite number > 0, got '0'"),
    (["--flip", "5"], "--flip: Value 5 not in range 0 to 1"),
    (["--act-weight-decay", "inf"], "--act-weight-decay must be a finite number"),
    (["--weight-decay", "inf"], "--weight-decay must be a finite number"),
    (["--model", "resnet19"], "unknown model 'resnet19'"),
    (["--init", "xavier"], "--init must be kaiming or taylor"),
    (["--dataset", "svhn"], "unknown dataset 'svhn'"),
    (["--act", "lrelu(slope=1e300)"], "setting 'slope' must be between -1e+06 and 1e+06, got '1e300'"),
    (["--act", "eelu(eps=-1)"], "epsilon (the noise level) must be a finite number >= 0"),
])
def test_bad_values_are_refused_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "run"
    start = time.monotonic()
    refused(run("train", "--out", out, *tiny(*args), check=False, timeout=60), message)
    assert time.monotonic() - start < 30, "a refusal must not take long (no threads made first)"
    assert not out.exists(), "nothing is written for a refused setting"


def test_a_batch_larger_than_the_training_set_is_one_batch_of_all(tmp_path):
    """Valid, if odd: the whole training set in one batch (the last batch is never dropped)."""
    out = tmp_path / "run"
    proc = run("train", "--out", out, *tiny("--batch-size", "100000", "--max-batches", "0"))
    config = json.loads((out / "config.json").read_text())
    assert config["train_images"] == 200 and config["batch_size"] == 100000
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1, proc.stdout


def test_a_full_disk_during_a_checkpoint_keeps_the_old_one(tmp_path):
    """RLIMIT_FSIZE makes writes past a size fail (EFBIG) as a full disk makes them fail
    (ENOSPC): the error names the file, no temporary is left, the old checkpoint is intact."""
    out = tmp_path / "run"
    run("train", "--out", out, *tiny("--epochs", "2"))
    before = (out / "checkpoint.pt").read_bytes()
    summary = (out / "summary.json").read_text()

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = run("train", "--out", out, *tiny("--epochs", "2"), "--overwrite", check=False,
               preexec_fn=small_files)
    refused(proc, f"cannot write {out / 'checkpoint.pt'}: File too large")
    assert not list(out.glob("*.tmp*")), "the temporary file is removed"
    # --overwrite removed the old records first; the run never got a checkpoint of its own
    assert not (out / "summary.json").exists()
    # a resumed run whose epoch checkpoint cannot be written keeps the last good one
    run("train", "--out", out, *tiny("--epochs", "2"), "--overwrite")
    good = (out / "checkpoint.pt").read_bytes()
    proc = run("train", "--out", out, *tiny("--epochs", "2"), "--resume", check=False,
               preexec_fn=small_files)
    assert proc.returncode == 0  # finished already: nothing to write
    assert (out / "checkpoint.pt").read_bytes() == good
    assert before and summary


def test_a_real_full_disk_is_reported_and_leaves_no_temporary(tmp_path):
    """The same on a file system that is really full: a 256 KiB tmpfs holds config.json and
    metrics.jsonl but not the first checkpoint (ENOSPC). Needs root (mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = small / "run"
        proc = run("train", "--out", out, *TINY, check=False)
        refused(proc, f"cannot write {out / 'checkpoint.pt'}: No space left on device")
        assert not list(out.glob("*.tmp*")), "the temporary file is removed"
        assert (out / "config.json").is_file() and not (out / "checkpoint.pt").exists()
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_a_finished_run_is_not_overwritten_without_the_flag(tmp_path):
    out = tmp_path / "run"
    run("train", "--out", out, *TINY)
    summary = (out / "summary.json").read_text()
    refused(run("train", "--out", out, *tiny("--seed", "3"), check=False),
            "holds a finished run already; continue it with --resume, or give --overwrite")
    assert (out / "summary.json").read_text() == summary
    run("train", "--out", out, *tiny("--seed", "3"), "--overwrite")
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    refused(run("train", "--out", out, *TINY, "--resume", "--overwrite", check=False),
            "give --resume or --overwrite, not both")


def test_one_run_folder_one_process(tmp_path):
    out = tmp_path / "run"
    slow = ["train", "--out", out, "--epochs", "3", "--train-per-class", "100", "--batch-size", "8",
            "--threads", "1", "--workers", "0", "--quiet"]
    first = subprocess.Popen([EELU, *map(str, slow)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = run(*slow, "--overwrite", check=False)
        refused(second, "is in use by another process (pid " + str(first.pid))
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=120)
    assert (out / "config.json").exists()


def test_a_hand_edited_record_and_a_corrupted_checkpoint_are_refused(tmp_path):
    out = tmp_path / "run"
    run("train", "--out", out, *tiny("--epochs", "2"))
    config = json.loads((out / "config.json").read_text())
    config["lr"] = 0.5
    (out / "config.json").write_text(json.dumps(config))
    refused(run("train", "--out", out, *tiny("--epochs", "2"), "--resume", check=False),
            'config.json differs from the run\'s checkpoint in ["lr"]')

    data = bytearray((out / "checkpoint.pt").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = b"\x7f" * 64
    (out / "checkpoint.pt").write_bytes(bytes(data))
    for args in (["eval", "--checkpoint", out / "checkpoint.pt"],
                 ["train", "--out", out, *tiny("--epochs", "2"), "--resume"]):
        proc = run(*args, check=False)
        assert proc.returncode == 1 and ("is corrupted" in proc.stderr or "cannot read checkpoint" in proc.stderr), proc.stderr


def test_another_networks_checkpoint_is_refused_by_its_settings(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run("train", "--out", a, *TINY, "--model", "resnet20")
    run("train", "--out", b, *TINY)
    (b / "checkpoint.pt").write_bytes((a / "checkpoint.pt").read_bytes())
    refused(run("train", "--out", b, *tiny("--epochs", "2"), "--resume", check=False),
            'the settings differ from the checkpoint\'s in ["epochs","model"]')


def write_idx(path, array):
    kind = {1: 0x08}[array.dtype.itemsize]
    header = struct.pack(">HBB", 0, kind, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_images_of_another_size_are_refused_at_evaluation(tmp_path):
    out = tmp_path / "run"
    run("train", "--out", out, *TINY)
    small = tmp_path / "small"
    small.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(small / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 14, 14), dtype=np.uint8))
        write_idx(small / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    refused(run("eval", "--checkpoint", out / "checkpoint.pt", "--data-dir", small, check=False),
            "was trained on 1x28x28 images, but " + str(small) + " holds 1x14x14 images")


def test_compare_resumes_and_does_not_redo_finished_runs(tmp_path):
    args = ["compare", "--out", tmp_path, *TINY, "--act", "relu", "--act", "elu"]
    first = run(*args)
    refused(run(*args, check=False), "holds a finished run already")
    again = run(*args, "--resume")
    table = lambda text: [l for l in text.splitlines() if l.startswith(("relu", "elu"))]  # noqa: E731
    assert table(again.stdout) == table(first.stdout)


GRID_HEAD = '[experiment]\nname = "x"\n[train]\nepochs = 1\nmax_batches = 1\n'


@pytest.mark.parametrize("grid,message", [
    ('[grid]\nactivation = ["relu", "RELU"]\n', "the values relu and RELU of the axis 'activation' are the same activation (relu)"),
    ('[grid]\nactivation = ["eelu", "eelu(eps=1)"]\n', "are the same activation (eelu)"),
    ('[grid]\nmodel = ["simple-cnn", "resnet19"]\n', "unknown model 'resnet19'"),
    ('[grid]\ndataset = ["fashion-mnist", "svhn"]\n', "unknown dataset 'svhn'"),
    ('[grid]\ninit = ["kaiming", "xavier"]\n', "--init must be kaiming or taylor"),
    ('[grid]\nactivation = ["relu", "erelu(eps=3)"]\n', "erelu: epsilon must be in [0, 1]"),
    ('[grid]\nlr = [0.1, 0]\n', "expected a number > 0, got 0"),
])
def test_grid_check_refuses_nonsense(tmp_path, grid, message):
    path = tmp_path / "g.toml"
    path.write_text(GRID_HEAD + grid)
    refused(run("grid", path, "--check", check=False), message)


def test_grid_of_a_directory_says_so(tmp_path):
    refused(run("grid", tmp_path, "--check", check=False), "is a directory, not a file")

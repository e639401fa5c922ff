"""Devices and precision from the command line (issue 18), what a machine without a GPU can
check: --device's refusals (exit 2), auto's fallback line, the records, --amp bf16 and
--channels-last training, --amp fp16 with its gradient scaler where LibTorch's CPU autocast
has float16, and that a run's device is not a setting (resume and eval on another) while
its precision is."""
import json
import subprocess

import pytest
import torch

from conftest import BUILD

EELU = str(BUILD / "eelu")
SMALL = ["--epochs", "2", "--train-per-class", "20", "--batch-size", "50", "--threads", "1",
         "--workers", "1", "--seed", "3", "--act", "eelu(eps=0.6)"]


def eelu(*args, expect=0):
    proc = subprocess.run([EELU, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == expect, proc.stderr + proc.stdout
    return proc


def libtorch_major():
    line = eelu("--version").stdout
    return int(line.split("LibTorch ")[1].split(".")[0])


def has_gpu():
    return torch.cuda.is_available()


@pytest.mark.parametrize("device, message", [
    ("gpu", "--device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("cuda:", "--device must be auto, cpu, cuda or cuda:N"),
    ("cuda:99", "--device cuda:99: "),
])
def test_a_device_that_cannot_be_used_exits_2(tmp_path, device, message):
    if device == "cuda:99" or not has_gpu():
        for cmd in (["train", *SMALL, "--out", tmp_path / "t"],
                    ["compare", *SMALL, "--act", "relu", "--out", tmp_path / "c"]):
            proc = eelu(*cmd, "--device", device, expect=2)
            assert message in proc.stderr
        assert not (tmp_path / "t" / "config.json").exists()


def test_cuda_without_a_gpu_is_refused_by_name(tmp_path):
    if has_gpu():
        pytest.skip("this machine has a GPU")
    proc = eelu("train", *SMALL, "--device", "cuda", "--out", tmp_path / "t", expect=2)
    assert "--device cuda: no CUDA GPU is visible" in proc.stderr
    proc = eelu("eval", "--checkpoint", tmp_path / "none.pt", "--device", "cuda", expect=2)
    assert "--device cuda: " in proc.stderr


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bf16")
    proc = eelu("train", *SMALL, "--model", "resnet20", "--amp", "bf16", "--channels-last",
                "--out", out)
    return out, proc


def test_auto_falls_back_to_the_cpu_with_one_line_and_records_it(bf16_run):
    out, proc = bf16_run
    config = json.loads((out / "config.json").read_text())
    assert config["amp"] == "bf16" and config["channels_last"] is True
    assert config["deterministic"] is False
    if has_gpu():
        assert config["device"] == "cuda:0" and config["device_name"]
    else:
        assert config["device"] == "cpu" and "device_name" not in config
        notes = [l for l in proc.stdout.splitlines() if l.startswith("--device auto:")]
        assert len(notes) == 1 and "training on the CPU" in notes[0], proc.stdout
    assert "bf16 autocast, channels-last" in proc.stdout


def test_bf16_training_learns_and_times_its_data_wait(bf16_run):
    out, _ = bf16_run
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] * 1.1
    for r in rows:
        assert 0 <= r["data_seconds"] <= r["seconds"]
        assert "skipped_steps" not in r  # only float16 skips steps


def test_precision_is_a_setting_and_the_device_is_not(bf16_run, tmp_path):
    out, _ = bf16_run
    proc = eelu("train", *SMALL, "--model", "resnet20", "--amp", "none", "--resume", "--out", out,
                expect=1)
    assert '"amp"' in proc.stderr
    # The same run resumed on the CPU by name (it is done: nothing to train, records kept).
    eelu("train", *SMALL, "--model", "resnet20", "--amp", "bf16", "--channels-last", "--resume",
         "--device", "cpu", "--out", out)
    ev = eelu("eval", "--checkpoint", out / "checkpoint.pt", "--device", "cpu")
    acc = float(ev.stdout.split("accuracy ")[1].split("%")[0])
    summary = json.loads((out / "summary.json").read_text())
    # evaluation in float32 against the run's bf16 evaluation: close, not necessarily equal
    assert abs(acc - 100 * summary["final_test_acc"]) < 5


def test_fp16_trains_with_a_gradient_scaler_where_the_cpu_has_float16(tmp_path):
    if libtorch_major() < 2 and not has_gpu():
        proc = eelu("train", *SMALL, "--amp", "fp16", "--device", "cpu", "--out", tmp_path / "f",
                    expect=1)
        assert "--amp fp16 on the CPU needs LibTorch 2" in proc.stderr
        assert not (tmp_path / "f" / "config.json").exists()
        return
    out = tmp_path / "f"
    eelu("train", *SMALL, "--amp", "fp16", "--out", out)
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["train_loss"] == r["train_loss"] for r in rows)
    # the scaler starts at 2^16: the first steps of a fresh network may overflow and be
    # skipped, never all of them
    assert sum(r.get("skipped_steps", 0) for r in rows) < 8
    assert json.loads((out / "config.json").read_text())["amp"] == "fp16"

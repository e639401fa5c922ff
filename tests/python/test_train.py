"""eelu train / eval / compare: the records, bitwise resume after SIGKILL and Ctrl-C, errors."""
import json
import signal
import subprocess
import time

import pytest

from conftest import BUILD, ROOT, start_with_progress

EELU = str(BUILD / "eelu")
# 30 images per class (300), batches of 32: 10 batches an epoch; EELU with its noise.
RUN = ["train", "--epochs", "3", "--train-per-class", "30", "--batch-size", "32", "--threads", "1",
       "--workers", "2", "--seed", "7", "--act", "eelu(eps=0.6, alpha=1, beta=1)", "--quiet"]


def run(*args, check=True):
    proc = subprocess.run([EELU, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def without_timing(rows):
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second", "data_seconds")}
            for r in rows]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    run(*RUN, "--out", out)
    return out


def test_the_recorded_commit_is_the_one_built(uninterrupted):
    """config.json names the commit the build is from, "-dirty" when tracked files differ; it
    used to be the commit of the last cmake configure, stale from the next commit on."""
    recorded = json.loads((uninterrupted / "config.json").read_text())["git_commit"]
    try:
        tree = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12",
                               "--match=no-tag-matches-this"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    except FileNotFoundError:  # no git (a fresh root): the build could not tell either
        tree = ""
    assert recorded == (tree or "unknown"), \
        f"the build is from {recorded}, the tree at {tree or 'unknown'}: rebuild (scripts/test.sh does)"


def test_records_of_a_run(uninterrupted):
    out = uninterrupted
    config = json.loads((out / "config.json").read_text())
    for key in ("dataset", "model", "activation", "epochs", "batch_size", "lr", "seed", "versions",
                "git_commit", "threads", "train_images", "parameters"):
        assert key in config, key
    assert config["train_images"] == 300 and config["threads"] == 1
    assert config["versions"]["libtorch"].startswith(("1.", "2."))
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for r in rows:
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_second"):
            assert key in r, key
        assert 0 <= r["test_acc"] <= 1 and r["train_loss"] > 0
    assert rows[-1]["lr"] < rows[0]["lr"], "cosine schedule"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_test_acc"] == rows[-1]["test_acc"]
    assert summary["best_test_acc"] == max(r["test_acc"] for r in rows)
    assert summary["final_test_acc"] > 0.3, "30 steps on 300 Fashion-MNIST images: well above chance (0.1)"
    assert summary["peak_memory_bytes"] > 0 and len(summary["state_digest"]) == 16
    assert (out / "checkpoint.pt").is_file()
    assert not list(out.glob("*.tmp*"))


def test_eval_of_the_checkpoint_matches_the_last_epoch(uninterrupted):
    proc = run("eval", "--checkpoint", uninterrupted / "checkpoint.pt")
    acc = 100 * metrics(uninterrupted)[-1]["test_acc"]
    assert f"accuracy {acc:.2f}%" in proc.stdout
    assert "confusion matrix" in proc.stdout and "Ankle boot" in proc.stdout


def test_resume_after_sigkill_ends_with_the_same_weights(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([EELU, *RUN, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(metrics(out)) < 3, "killed before the end"
    run(*RUN, "--out", out, "--resume")
    whole = json.loads((uninterrupted / "summary.json").read_text())
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["state_digest"] == whole["state_digest"], "same final weights, bit for bit"
    assert without_timing(metrics(out)) == without_timing(metrics(uninterrupted))


def test_ctrl_c_writes_a_checkpoint_mid_epoch_and_exits_130(uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    with open(tmp_path / "stdout", "w") as stdout:
        proc = start_with_progress([EELU, *RUN[:-1], "--out", out], stdout, epoch=2, batch=3)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
    text = (tmp_path / "stdout").read_text()
    assert proc.returncode == 130, text
    assert "checkpoint written" in text and "--resume" in text
    resumed = run(*RUN[:-1], "--out", out, "--resume").stdout
    at = resumed.split("resuming ")[1].split("\n")[0]
    assert "at epoch 2, batch " in at and not at.endswith("batch 0"), at  # mid-epoch
    whole = json.loads((uninterrupted / "summary.json").read_text())
    assert json.loads((out / "summary.json").read_text())["state_digest"] == whole["state_digest"]


def test_eval_every_evaluates_the_named_epochs_and_leaves_the_weights_alone(uninterrupted, tmp_path):
    out = tmp_path / "sparse"
    run(*RUN, "--out", out, "--eval-every", "2", "--val-fraction", "0")
    rows = metrics(out)
    assert ["test_acc" in r for r in rows] == [False, True, True], "every 2nd epoch and the last"
    whole = metrics(uninterrupted)
    assert [r["test_acc"] for r in rows[1:]] == [r["test_acc"] for r in whole[1:]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state_digest"] == json.loads((uninterrupted / "summary.json").read_text())["state_digest"]
    assert summary["final_test_acc"] == rows[-1]["test_acc"]


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "--epochs: Value 0 not in range 1 to 100000"),
    (["--lr", "-1"], "--lr: must be a finite number > 0, got '-1'"),
    (["--lr", "0"], "--lr: must be a finite number > 0, got '0'"),
    (["--flip", "5"], "--flip: Value 5 not in range 0 to 1"),
    (["--act-weight-decay", "inf"], "--act-weight-decay must be a finite number"),
    (["--threads", "100000"], "--threads must be in [0, "),
    (["--workers", "100000"], "--workers must be in [0, "),
    (["--batch-size", "9223372036854775807"], "--batch-size must be in [1, 1048576]"),
    (["--init", "xavier"], "--init must be kaiming or taylor, got 'xavier'"),
    (["--eval-every", "0"], "--eval-every: Value 0 not in range 1 to 100000"),
    (["--dataset", "svhn"], "unknown dataset 'svhn'; valid: fashion-mnist"),
    (["--act", "lrelu(slope=1e300)"], "setting 'slope' must be"),
    (["--act", "erelu(eps=1.5)"], "erelu: epsilon must be in [0, 1]"),
    (["--model", "resnet19"], "unknown model 'resnet19'; valid: simple-cnn"),
    (["--act", "relux"], "unknown activation 'relux'"),
    (["--lr-schedule", "step"], "--lr-schedule step needs --milestones"),
    (["--train-fraction", "0.5", "--train-per-class", "5"], "not both"),
    (["--dataset", "cifar10", "--data-dir", "/nonexistent"], "cifar10 not found in /nonexistent"),
])
def test_bad_settings_are_refused_with_a_message(tmp_path, args, message):
    proc = run("train", "--out", tmp_path / "x", "--quiet", *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_resume_with_other_settings_is_refused(uninterrupted, tmp_path):
    proc = run(*[a if a != "7" else "8" for a in RUN], "--out", uninterrupted, "--resume", check=False)
    assert proc.returncode == 1
    assert 'settings differ from the checkpoint\'s in ["seed"]' in proc.stderr


def test_compare_prints_accuracies_side_by_side(tmp_path):
    proc = run("compare", "--act", "relu", "--act", "eelu(eps=0.6)", "--epochs", "1", "--train-per-class", "10",
               "--batch-size", "50", "--max-batches", "2", "--quiet", "--out", tmp_path)
    lines = proc.stdout.splitlines()
    assert any(line.startswith("relu ") for line in lines)
    assert any(line.startswith("eelu(eps=0.6)") for line in lines)
    assert (tmp_path / "relu" / "summary.json").is_file()
    assert (tmp_path / "eelu_eps=0.6" / "summary.json").is_file()


def test_activations_are_recorded_in_one_spelling(tmp_path):
    out = tmp_path / "run"
    tiny = ["--epochs", "1", "--train-per-class", "5", "--batch-size", "25", "--max-batches", "1",
            "--threads", "1", "--workers", "0", "--quiet", "--out", out]
    run("train", *tiny, "--act", "EELU(beta=1, alpha=1.0, eps=0.60)")
    assert json.loads((out / "config.json").read_text())["activation"] == "eelu(eps=0.6, alpha=1)"
    run("train", *tiny, "--act", "eelu(eps=0.6, alpha=1)", "--resume")  # the same setting
    proc = run("compare", *tiny[:-2], "--out", tmp_path / "cmp", "--act", "relu", "--act", "RELU",
               check=False)
    assert proc.returncode == 1
    assert "--act 'relu' and 'RELU' are the same activation (relu)" in proc.stderr
    assert not (tmp_path / "cmp").exists(), "refused before anything was written"


def test_bn_recalibrate_is_a_setting_that_changes_the_statistics(tmp_path):
    tiny = ["--epochs", "1", "--train-per-class", "5", "--batch-size", "25", "--threads", "1",
            "--workers", "0", "--quiet", "--act", "eelu(eps=1)"]
    run("train", *tiny, "--out", tmp_path / "plain")
    run("train", *tiny, "--out", tmp_path / "recal", "--bn-recalibrate")
    assert json.loads((tmp_path / "recal" / "config.json").read_text())["bn_recalibrate"] is True
    assert "bn_recalibrate" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    digest = [json.loads((tmp_path / d / "summary.json").read_text())["state_digest"] for d in ("plain", "recal")]
    assert digest[0] != digest[1], "the same weights, other BatchNorm statistics"
    proc = run("train", *tiny, "--out", tmp_path / "recal", "--resume", check=False)
    assert proc.returncode == 1 and '["bn_recalibrate"]' in proc.stderr
    # after the fact: `eval --bn-recalibrate` of the plain run's network is the recalibrated run
    def evaluated(d, *flags):
        out = run("eval", "--checkpoint", tmp_path / d / "checkpoint.pt", *flags).stdout
        return out.splitlines()[0].split(": ")[1]  # "test loss L, accuracy A%"
    recal = json.loads((tmp_path / "recal" / "summary.json").read_text())["final_test_acc"]
    assert evaluated("recal") == evaluated("plain", "--bn-recalibrate")
    assert f"accuracy {100 * recal:.2f}%" in evaluated("recal")
    assert evaluated("plain") != evaluated("plain", "--bn-recalibrate"), "the statistics matter"


def test_the_other_options_reach_the_records(tmp_path):
    """adamw, warm-up, the step schedule, label smoothing and a validation split: each shows
    in the records as its definition says (lr: the last step's of each epoch)."""
    out = tmp_path / "run"
    run("train", "--out", out, "--epochs", "3", "--train-per-class", "20", "--batch-size", "20",
        "--threads", "1", "--workers", "0", "--optimizer", "adamw", "--lr", "0.002",
        "--warmup-epochs", "1", "--lr-schedule", "step", "--milestones", "2", "--gamma", "0.5",
        "--label-smoothing", "0.1", "--val-fraction", "0.2", "--quiet")
    config = json.loads((out / "config.json").read_text())
    assert config["optimizer"] == "adamw" and config["label_smoothing"] == 0.1
    assert config["val_images"] == 12000 and config["train_images"] == 200
    rows = metrics(out)
    # 10 steps an epoch: warm-up ends at step 10 (lr 0.002), then 0.002 until epoch 2, then half
    assert [r["lr"] for r in rows] == pytest.approx([0.002, 0.002, 0.001])
    assert all(0 <= r["val_acc"] <= 1 and r["val_loss"] > 0 for r in rows)

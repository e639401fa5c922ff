"""eelu grid and eelu report end to end: a tiny grid on Fashion-MNIST, its report against its
database, a grid killed (SIGKILL, every process) and started again, two workers, failures,
and the errors for bad configs and foreign or locked databases."""
import csv
import json
import os
import signal
import sqlite3
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD

EELU = BUILD / "eelu"

TINY = """
[experiment]
name = "tiny"

[train]
dataset = "fashion-mnist"
epochs = {epochs}
max_batches = {batches}
batch_size = 32
workers = 0

[grid]
activation = ["relu", "eelu(eps=0.6, alpha=1, beta=1)"]
seed = [0, 1]
train_fraction = [0.01, 0.05]
"""

# Two runs, the second of which diverges (lr 1e30): a failure the trainer records.
DIVERGE = """
[experiment]
name = "diverge"
[train]
dataset = "fashion-mnist"
epochs = 1
max_batches = 6
batch_size = 32
workers = 0
momentum = 0.0
[grid]
lr = [0.05, 1e30]
"""


def write(path, text):
    path.write_text(text)
    return path


def grid(*args, check=True, timeout=600, **kw):
    proc = subprocess.run([str(EELU), "grid", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def rows(db, sql, *params):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    cfg = write(d / "tiny.toml", TINY.format(epochs=2, batches=3))
    grid(cfg, "--dir", d / "exp", "--quiet")
    subprocess.run([str(EELU), "report", str(d / "exp")], check=True, capture_output=True)
    return d / "exp"


def test_every_run_is_done_and_recorded(tiny):
    db = tiny / "experiment.db"
    assert rows(db, "PRAGMA journal_mode")[0][0] == "wal"
    runs = rows(db, "SELECT key, status, attempts, final_test_acc, best_test_acc FROM runs")
    assert len(runs) == 8
    assert {r[1] for r in runs} == {"done"} and {r[2] for r in runs} == {1}
    # two epochs each, recorded once, and the final accuracy is the last epoch's
    for key, _, _, final, best in runs:
        accs = rows(db, "SELECT e.test_acc FROM epochs e JOIN runs r ON r.id = e.run_id "
                        "WHERE r.key = ? ORDER BY epoch", key)
        assert len(accs) == 2
        assert final == pytest.approx(accs[-1][0])
        assert best == pytest.approx(max(a[0] for a in accs))
        assert (tiny / "runs" / key / "checkpoint.pt").is_file()
        # [train]'s workers = 0 reached the run (options that are not settings travel too)
        assert json.loads((tiny / "runs" / key / "config.json").read_text())["workers"] == 0


def png_size(path):
    """(width, height) of a PNG, from its IHDR chunk."""
    with open(path, "rb") as f:
        return struct.unpack(">II", f.read(24)[16:24])


def test_report_rows_match_the_database(tiny):
    db = tiny / "experiment.db"
    report = (tiny / "report" / "report.md").read_text()
    with open(tiny / "report" / "summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert len(summary) == 4  # 2 fractions x 2 activations
    for row in summary:
        accs = [r[0] for r in rows(
            db, "SELECT final_test_acc FROM runs WHERE json_extract(axes, '$.activation') = ? "
                "AND json_extract(axes, '$.train_fraction') = ?", row["condition"], row["size"])]
        assert int(row["n"]) == len(accs) == 2
        mean = sum(accs) / 2
        sd = abs(accs[0] - accs[1]) / 2 ** 0.5
        assert float(row["final_mean"]) == pytest.approx(mean, abs=1e-6)
        assert float(row["final_sd"]) == pytest.approx(sd, abs=1e-6)
        assert f"{100 * mean:.2f} ± {100 * sd:.2f}" in report
    # the tail of the curves: the mean test accuracy per evaluated epoch, the last epoch's training
    convergence = report.split("## Convergence")[1].split("## Against")[0]
    table = convergence.split("### train_fraction = 0.05")[1]
    assert "| activation | test, epoch 1 | test, epoch 2 | train loss | train acc |" in table
    for act in ("relu", "eelu(eps=0.6, alpha=1, beta=1)"):
        by_epoch = rows(db, "SELECT e.epoch, avg(e.test_acc), avg(e.train_loss), avg(e.train_acc) "
                            "FROM epochs e JOIN runs r ON r.id = e.run_id "
                            "WHERE json_extract(r.axes, '$.activation') = ? "
                            "AND json_extract(r.axes, '$.train_fraction') = '0.05' "
                            "GROUP BY e.epoch ORDER BY e.epoch", act)
        (_, t1, _, _), (_, t2, loss, acc) = by_epoch
        assert f"| {act} | {100 * t1:.2f} | {100 * t2:.2f} | {loss:.4f} | {100 * acc:.2f} |" in table
    with open(tiny / "report" / "comparisons.csv") as f:
        comps = list(csv.DictReader(f))
    # each of the two references against the other, at both fractions
    assert len(comps) == 4
    for c in comps:
        ref = rows(db, "SELECT json_extract(axes, '$.seed'), final_test_acc FROM runs WHERE "
                       "json_extract(axes, '$.activation') = ? AND json_extract(axes, "
                       "'$.train_fraction') = ?", c["reference"], c["size"])
        other = rows(db, "SELECT json_extract(axes, '$.seed'), final_test_acc FROM runs WHERE "
                         "json_extract(axes, '$.activation') = ? AND json_extract(axes, "
                         "'$.train_fraction') = ?", c["condition"], c["size"])
        diffs = [dict(other)[s] - dict(ref)[s] for s in dict(ref)]
        assert float(c["diff"]) == pytest.approx(sum(diffs) / len(diffs), abs=1e-6)
        assert int(c["n_pairs"]) == 2
        # detectable with 80% power: (t_{1-a/2} + t_{0.8}) * se, a = 0.05 and 0.05 / 2 (each
        # reference's table holds two comparisons), 1 degree of freedom
        se = abs(diffs[0] - diffs[1]) / 2
        for column, alpha in (("mde_80", 0.05), ("mde_80_family", 0.025)):
            want_mde = (t_quantile(1 - alpha / 2, 1) + t_quantile(0.8, 1)) * se
            assert float(c[column]) == pytest.approx(want_mde, rel=1e-4, abs=1e-9), column
        # every figure of the row, recomputed independently (mpmath's incomplete beta, not
        # the library's Boost.Math)
        want = t_test(diffs)
        assert_row(c, "", want)
        welch = welch_test([v for _, v in other], [v for _, v in ref])
        assert_row(c, "welch_", welch)
    # Holm over each reference's comparisons, in the file's order
    for reference in {c["reference"] for c in comps}:
        mine = [c for c in comps if c["reference"] == reference]
        for column, p_column in (("paired_p_holm", "paired_p"), ("welch_p_holm", "welch_p")):
            want = holm([float(c[p_column]) for c in mine])
            for c, w in zip(mine, want):
                assert float(c[column]) == pytest.approx(w, rel=1e-5, nan_ok=True), (column, c)
    # the claims' verdicts follow the Holm-corrected paired p and the sign
    for c in comps:
        if c["reference"].startswith("eelu"):
            p_holm = float(c["paired_p_holm"])
            d = -float(c["diff"])
            verdict = ("supported" if p_holm < 0.05 and d > 0 else "contradicted"
                       if p_holm < 0.05 and d < 0 else "not shown")
            line = f"  - over {c['condition']}: EELU {100 * d:+.2f} pp (Holm p "
            found = [l for l in report.splitlines() if l.startswith(line)]
            assert found and found[0].endswith(f": {verdict}"), (line, found)
            # with EELU's interval (the comparison's, turned round) and what the design detects
            ci = f"95% CI [{-100 * float(c['ci_high']):+.2f}, {-100 * float(c['ci_low']):+.2f}]"
            assert f"; {ci}, detectable {100 * float(c['mde_80_family']):.2f} pp): " in found[0], found
    for name in ("accuracy_per_epoch_0.png", "accuracy_vs_size.png", "activations.png",
                 "differences_0.png", "differences_1.png"):
        assert (tiny / "report" / name).stat().st_size > 5000
    longest = max(len(c["condition"]) for c in comps)  # the key's longest line: 10 pixels a character
    assert png_size(tiny / "report" / "accuracy_per_epoch_0.png") == (max(1000, 700 + 10 * longest), 600)
    # the forest plots' data are the comparisons: one row per (size, condition), the first on top
    for i, ref in enumerate(("relu", "eelu(eps=0.6, alpha=1, beta=1)")):
        rows_ = [c for c in comps if c["reference"] == ref and c["paired_p"] != "–"]
        lines = [l for l in (tiny / "report" / f"differences_{i}.dat").read_text().splitlines()
                 if l and not l.startswith("#")]
        assert len(lines) == len(rows_)
        assert png_size(tiny / "report" / f"differences_{i}.png") == \
            (1000, max(400, 160 + 30 * len(lines))), "30 pixels a row"
        for line in lines:
            row, diff, low, high, label = line.split(" ", 4)
            size = label.rsplit(" (", 1)[1].rstrip(')"')
            c = next(c for c in rows_ if label.startswith(f'"{c["condition"]} (') and c["size"] == size)
            assert [float(diff), float(low), float(high)] == pytest.approx(
                [100 * float(c[k]) for k in ("diff", "ci_low", "ci_high")], abs=1e-3)
    assert "## The paper's claims" in report


def test_rerunning_a_finished_grid_trains_nothing(tiny, tmp_path):
    cfg = write(tmp_path / "tiny.toml", TINY.format(epochs=2, batches=3))
    out = grid(cfg, "--dir", tiny, "--quiet").stdout
    assert "8 done, 0 failed, 0 to do" in out
    assert "starting" not in out


def test_a_killed_grid_continues_and_finishes_every_run_once(tmp_path):
    cfg = write(tmp_path / "tiny.toml", TINY.format(epochs=3, batches=25))
    exp = tmp_path / "exp"
    proc = subprocess.Popen([str(EELU), "grid", str(cfg), "--dir", str(exp), "--workers", "2",
                             "--threads", "1", "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    db = exp / "experiment.db"
    deadline = time.time() + 300
    # kill every process of the grid while runs are in flight and some are finished
    while time.time() < deadline:
        time.sleep(0.3)
        if not db.exists():
            continue
        try:
            status = dict(rows(db, "SELECT status, count(*) FROM runs GROUP BY status"))
            epochs = rows(db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id "
                              "WHERE r.status = 'running'")[0][0]
        except sqlite3.OperationalError:
            continue
        if status.get("done", 0) >= 1 and status.get("running", 0) >= 1 and epochs >= 1:
            break
    else:
        pytest.fail("the grid never reached a state with runs done and running")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted = [r[0] for r in rows(db, "SELECT key FROM runs WHERE status = 'running'")]
    assert interrupted

    grid(cfg, "--dir", exp, "--workers", "2", "--threads", "1", "--quiet")
    runs = rows(db, "SELECT key, status, attempts FROM runs")
    assert len(runs) == 8 and {r[1] for r in runs} == {"done"}
    for key, _, attempts in runs:
        assert attempts == (2 if key in interrupted else 1), key
        n = rows(db, "SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.key = ?", key)[0][0]
        assert n == 3, key
        lines = (exp / "runs" / key / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(l)["epoch"] for l in lines] == [1, 2, 3], key


def test_a_failing_run_is_recorded_and_the_grid_goes_on(tmp_path):
    cfg = write(tmp_path / "f.toml", DIVERGE)
    proc = grid(cfg, "--dir", tmp_path / "exp", "--quiet", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    runs = dict(rows(tmp_path / "exp" / "experiment.db", "SELECT json_extract(axes, '$.lr'), status FROM runs"))
    assert runs == {"0.05": "done", "1e+30": "failed"}
    error = rows(tmp_path / "exp" / "experiment.db", "SELECT error FROM runs WHERE status = 'failed'")[0][0]
    assert "training diverged" in error
    subprocess.run([str(EELU), "report", str(tmp_path / "exp"), "--no-plots"], check=True, capture_output=True)
    assert "## Failed runs" in (tmp_path / "exp" / "report" / "report.md").read_text()
    # a rerun leaves a failed run alone; --retry-failed runs it again (a second attempt)
    again = grid(cfg, "--dir", tmp_path / "exp", "--quiet", check=False)
    assert "1 done, 1 failed, 0 to do" in again.stdout, again.stdout
    attempts = lambda: dict(rows(tmp_path / "exp" / "experiment.db",  # noqa: E731
                                 "SELECT json_extract(axes, '$.lr'), attempts FROM runs"))
    assert attempts() == {"0.05": 1, "1e+30": 1}
    retried = grid(cfg, "--dir", tmp_path / "exp", "--quiet", "--retry-failed", check=False)
    assert retried.returncode == 1 and "0 failed, 1 to do" in retried.stdout, retried.stdout
    assert attempts() == {"0.05": 1, "1e+30": 2}


def test_runs_as_tasks_record_in_their_folders_and_report_as_the_grid(tiny, tmp_path):
    """`--run INDEX` (what each task of a cluster runs) without Slurm: the database is never
    opened by a task; --status rebuilds it from the run folders, and the report is the local
    grid's."""
    cfg = write(tmp_path / "tiny.toml", TINY.format(epochs=2, batches=3))
    exp = tmp_path / "exp"
    assert "0 done, 0 running, 0 failed, 8 pending" in grid(cfg, "--dir", exp, "--status").stdout
    db = exp / "experiment.db"
    before = db.stat().st_mtime_ns
    for index in range(8):
        out = grid(cfg, "--dir", exp, "--run", index, "--quiet").stdout
        assert "] done: test accuracy" in out, out
    assert db.stat().st_mtime_ns == before  # no task wrote the database
    again = grid(cfg, "--dir", exp, "--run", 3).stdout
    assert "done already; nothing to train" in again, again
    status = grid(cfg, "--dir", exp, "--status").stdout
    assert "8 done, 0 running, 0 failed, 0 pending" in status, status
    for key, attempts, owner in rows(db, "SELECT key, attempts, owner FROM runs"):
        assert attempts == 1 and owner.startswith("task:"), (key, owner)
        task = json.loads((exp / "runs" / key / "task.json").read_text())
        assert task["status"] == "done" and task["attempts"] == 1
        digests = [json.loads((d / "runs" / key / "summary.json").read_text())["state_digest"]
                   for d in (exp, tiny)]
        assert digests[0] == digests[1], key
    subprocess.run([str(EELU), "report", str(exp)], check=True, capture_output=True)
    for name in ("summary.csv", "comparisons.csv"):
        assert (exp / "report" / name).read_text() == (tiny / "report" / name).read_text(), name
    # a local grid on the same directory finds every run done
    assert "8 done, 0 failed, 0 to do" in grid(cfg, "--dir", exp, "--quiet").stdout


def test_a_failed_task_is_recorded_in_its_folder_and_retried_on_request(tmp_path):
    cfg = write(tmp_path / "f.toml", DIVERGE)
    exp = tmp_path / "exp"
    grid(cfg, "--dir", exp, "--status")
    proc = grid(cfg, "--dir", exp, "--run", 1, "--quiet", check=False)
    assert proc.returncode == 1 and "FAILED: " in proc.stdout, proc.stdout + proc.stderr
    task = json.loads(next((exp / "runs").iterdir()).joinpath("task.json").read_text())
    assert task["status"] == "failed" and "training diverged" in task["error"], task
    status = grid(cfg, "--dir", exp, "--status").stdout
    assert "0 done, 0 running, 1 failed, 1 pending" in status and "training diverged" in status
    refused = grid(cfg, "--dir", exp, "--run", 1, check=False)
    assert refused.returncode == 1 and "failed before" in refused.stdout, refused.stdout
    # --slurm leaves it out; --status --retry-failed marks it to run again
    script = grid(cfg, "--dir", exp, "--slurm").stdout
    assert "failed runs are left out" in script, script
    assert "#SBATCH --array=0\n" in (exp / "slurm" / "array.sbatch").read_text()
    grid(cfg, "--dir", exp, "--status", "--retry-failed")
    assert "0 failed, 2 pending" in grid(cfg, "--dir", exp, "--status").stdout
    again = grid(cfg, "--dir", exp, "--run", 1, "--quiet", check=False)
    assert again.returncode == 1 and "(attempt 2)" in again.stdout, again.stdout


def test_the_slurm_script_carries_the_config_and_the_command_line(tmp_path):
    cfg = write(tmp_path / "s.toml", TINY.format(epochs=1, batches=1) + """
[slurm]
partition = "gpu"
gres = "gpu:1"
time = "1:00:00"
max_parallel = 3
extra = ["--constraint=h200"]
""")
    exp = tmp_path / "exp"
    grid(cfg, "--dir", exp, "--slurm", "--time", "2:00:00", "--cpus-per-task", "4",
         "--sbatch=--exclusive", "--device", "cuda")
    script = (exp / "slurm" / "array.sbatch").read_text()
    for line in ("#SBATCH --array=0-7%3", "#SBATCH --partition=gpu", "#SBATCH --gres=gpu:1",
                 "#SBATCH --time=2:00:00", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --constraint=h200", "#SBATCH --exclusive", "#SBATCH --requeue",
                 f"#SBATCH --output={exp}/slurm/%A_%a.out"):
        assert line + "\n" in script, (line, script)
    assert f"--run \"$SLURM_ARRAY_TASK_ID\" --device 'cuda'" in script, script
    assert subprocess.run(["bash", "-n", str(exp / "slurm" / "array.sbatch")]).returncode == 0
    refused = grid(cfg, "--dir", exp, "--slurm", "--sbatch", "exclusive", check=False)
    assert refused.returncode != 0 and "one sbatch option" in refused.stderr, refused.stderr
    refused = grid(cfg, "--dir", exp, "--slurm", "--time", "1\n#SBATCH --x", check=False)
    assert refused.returncode != 0 and "holds a line break" in refused.stderr, refused.stderr
    refused = grid(cfg, "--dir", exp, "--submit", check=False)
    assert refused.returncode != 0 and "--slurm" in refused.stderr, refused.stderr


@pytest.mark.parametrize("text,message", [
    ('[experiment]\nname = "x"\n[grid]\nactivation = ["relu", "eluu"]\n', "bad.toml:4:"),
    ('[experiment]\nname = "x"\n[train]\nepoch = 3\n', "bad.toml:4: unknown setting 'epoch'"),
    ('[experiment]\nname = "x"\n[grid]\nseed = [0, "one"]\n', "bad.toml:4: expected an integer"),
])
def test_a_bad_config_is_refused_before_anything_runs(tmp_path, text, message):
    cfg = write(tmp_path / "bad.toml", text)
    proc = grid(cfg, "--dir", tmp_path / "exp", check=False)
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr
    assert not (tmp_path / "exp").exists()


def test_a_database_of_another_grid_is_refused(tiny, tmp_path):
    cfg = write(tmp_path / "other.toml", TINY.format(epochs=3, batches=3))
    before = rows(tiny / "experiment.db", "SELECT count(*), sum(attempts) FROM runs")
    proc = grid(cfg, "--dir", tiny, check=False)
    assert proc.returncode == 1
    assert "belongs to another grid ('tiny'" in proc.stderr, proc.stderr
    assert rows(tiny / "experiment.db", "SELECT count(*), sum(attempts) FROM runs") == before


def test_a_locked_database_is_a_clear_error(tiny, tmp_path):
    cfg = write(tmp_path / "tiny.toml", TINY.format(epochs=2, batches=3))
    con = sqlite3.connect(tiny / "experiment.db", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        proc = grid(cfg, "--dir", tiny, check=False, env={**os.environ, "EELU_DB_BUSY_TIMEOUT": "1"})
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert proc.returncode == 1
    assert "locked by another process" in proc.stderr, proc.stderr


def test_visualize_two_trained_networks(tiny, tmp_path):
    ckpts = sorted((tiny / "runs").glob("r000[01]_*/checkpoint.pt"))
    assert len(ckpts) == 2
    out = tmp_path / "latent"
    proc = subprocess.run([str(EELU), "visualize", "--out", str(out), "--samples", "150",
                           "--iterations", "60", "--probe-train", "600",
                           "--checkpoint", str(ckpts[0]), "--label", "a",
                           "--checkpoint", str(ckpts[1]), "--label", "b"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out / "latent.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == ["a", "b"]
    for r in rows:
        assert int(r["units"]) == 256 and int(r["images"]) == 10000
        assert 1.0 <= float(r["effective_rank"]) <= 128
        assert 0.0 <= float(r["active_share"]) <= 1.0
        assert 0.1 <= float(r["probe_acc"]) <= 1.0
        assert float(r["tsne_kl"]) > 0, "with the pictures the t-SNE runs and has a KL"
        assert -1 < float(r["bn_recalibration_gain"]) < 1
    for name in ("tsne.png", "feature_maps_0.png", "feature_maps_1.png", "latent.md"):
        assert (out / name).stat().st_size > (300 if name.endswith(".md") else 1000), name
    bad = subprocess.run([str(EELU), "visualize", "--out", str(out), "--checkpoint",
                          str(tmp_path / "missing.pt")], capture_output=True, text=True)
    assert bad.returncode == 1 and "missing.pt" in bad.stderr, bad.stderr


# One epoch of two batches on 2% fixed in [train]: a grid of NAME over the activations ACTS.
SHORT_2PCT = """
[experiment]
name = "{name}"

[train]
epochs = 1
max_batches = 2
batch_size = 16
workers = 0
train_fraction = 0.02

[grid]
activation = [{acts}]
seed = [0, 1]
"""


def test_a_subset_fixed_in_train_is_named_in_the_report(tmp_path):
    cfg = write(tmp_path / "fixed.toml", SHORT_2PCT.format(name="fixed", acts='"relu", "elu"'))
    grid(cfg, "--dir", tmp_path / "exp", "--quiet", "--threads", "1")
    subprocess.run([str(EELU), "report", str(tmp_path / "exp")], check=True, capture_output=True)
    report = (tmp_path / "exp" / "report" / "report.md").read_text()
    assert "### train_fraction = 0.02" in report and "all training data" not in report
    assert "| all |" not in report, "the size column says 0.02, not all (the whole set)"
    with open(tmp_path / "exp" / "report" / "summary.csv") as f:
        assert {r["size"] for r in csv.DictReader(f)} == {"0.02"}


def test_the_claims_judge_other_activations_not_settings_of_eelu(tmp_path):
    """An ablation's EELU variants are compared with its EELU anchor in the tables, but they are
    not "other activations" for the paper's claims."""
    claims = {}
    for name, acts in (("with-relu", '"relu", "eelu(eps=0.6)", "eelu(eps=0)"'),
                       ("eelu-only", '"eelu(eps=0.6)", "eelu(eps=0)"')):
        cfg = write(tmp_path / f"{name}.toml", SHORT_2PCT.format(name="ablation", acts=acts))
        grid(cfg, "--dir", tmp_path / name, "--quiet", "--threads", "1")
        report(tmp_path / name, "--no-plots")
        text = (tmp_path / name / "report" / "report.md").read_text()
        assert "| 0.02 | eelu(eps=0) | 2 |" in text  # in the comparisons
        claims[name] = text.split("## The paper's claims")[1]
    # settings of EELU on another axis (an initialisation grid): conditions "eelu(...) [init=...]"
    init = SHORT_2PCT.format(name="init", acts='"eelu(eps=0.6)"') + 'init = ["taylor", "kaiming"]\n'
    grid(write(tmp_path / "init.toml", init), "--dir", tmp_path / "init", "--quiet", "--threads", "1")
    report(tmp_path / "init", "--no-plots")
    claims["init"] = (tmp_path / "init" / "report" / "report.md").read_text().split(
        "## The paper's claims")[1]
    assert "No EELU activation" not in claims["init"], claims["init"]
    assert "no other activation here" in claims["init"], claims["init"]
    assert "  - over relu: EELU " in claims["with-relu"]
    assert "undecided in 1 of the comparisons" in claims["with-relu"]
    assert "over eelu(eps=0)" not in claims["with-relu"]
    assert "no other activation here" in claims["eelu-only"]


def test_one_seed_gives_a_difference_but_no_interval(tmp_path):
    """One pair has a difference but no spread: the report shows no interval, no p-value and no
    detectable difference rather than an interval of zero width around the difference."""
    text = SHORT_2PCT.format(name="one-seed", acts='"relu", "elu"').replace("seed = [0, 1]",
                                                                            "seed = [0]")
    cfg = write(tmp_path / "one.toml", text)
    grid(cfg, "--dir", tmp_path / "exp", "--quiet", "--threads", "1")
    report(tmp_path / "exp", "--no-plots")
    md = (tmp_path / "exp" / "report" / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| 0.02 | elu | 1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:] == ["–"] * 5 + ["– / –"], row  # interval, p, Holm, Welch p, Holm
    assert "| elu | 1 | " in md and " ± – | " in md, "one seed: no standard deviation"
    with open(tmp_path / "exp" / "report" / "comparisons.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(r["ci_low"] == r["ci_high"] == r["paired_p"] == "–" for r in rows), rows


def one_size_of_tiny(d, fraction, epochs=2, train=True):
    """The tiny grid with its training fraction fixed in [train] instead of an axis (with
    train=False, its database only, every run pending)."""
    text = TINY.format(epochs=epochs, batches=3)
    text = text.replace("train_fraction = [0.01, 0.05]\n", "")
    text = text.replace("workers = 0\n", f"workers = 0\ntrain_fraction = {fraction}\n")
    text = text.replace('name = "tiny"', f'name = "tiny-{fraction}"')
    cfg = write(d / f"tiny-{fraction}.toml", text)
    grid(cfg, "--dir", d / f"exp-{fraction}", *(["--quiet"] if train else ["--status"]))
    return d / f"exp-{fraction}"


def report(*args, check=True):
    proc = subprocess.run([str(EELU), "report", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_grids_of_one_size_each_report_as_the_grid_of_both_sizes(tiny, tmp_path):
    """A 1% grid and a 5% grid (the tiny grid's runs, split by its size axis) reported together
    give the tiny grid's tables and the few-samples claim; runs are named by their grid."""
    small, large = one_size_of_tiny(tmp_path, 0.01), one_size_of_tiny(tmp_path, 0.05)
    out = tmp_path / "both"
    report(large, small, "--out", out, "--no-plots")  # the order given does not matter
    for name in ("summary.csv", "comparisons.csv"):
        assert (out / name).read_text() == (tiny / "report" / name).read_text(), name
    text = (out / "report.md").read_text()
    assert text.startswith("# Experiment report: tiny-0.05 + tiny-0.01\n")
    assert f"`{large / 'experiment.db'}`: **tiny-0.05**" in text
    assert "Runs in all: 8 — 8 done, 0 failed, 0 not finished." in text
    assert "### train_fraction = 0.01" in text and "### train_fraction = 0.05" in text
    assert "*EELU's advantage is largest with few training samples* (train_fraction 0.01" in text
    assert "Settings that differ" not in text  # the size is the axis, nothing else differs
    with open(out / "runs.csv") as f:
        keys = sorted(r["key"].split("/")[0] for r in csv.DictReader(f))
    assert keys == ["tiny-0.01"] * 4 + ["tiny-0.05"] * 4


def test_the_few_samples_claim_is_holm_corrected_over_the_competitors(tmp_path):
    """EELU's advantage over each competitor at the small size against the large one: the
    means, the difference with its Welch interval, Welch's p and Holm's over the competitors,
    each recomputed from the database; the verdict follows Holm's p, not the uncorrected one."""
    text = TINY.format(epochs=2, batches=3).replace(
        '"relu", "eelu(eps=0.6, alpha=1, beta=1)"', '"relu", "elu", "eelu(eps=0.6, alpha=1, beta=1)"')
    cfg = write(tmp_path / "three.toml", text.replace("seed = [0, 1]", "seed = [0, 1, 2]"))
    grid(cfg, "--dir", tmp_path / "exp", "--quiet", "--threads", "1")
    report(tmp_path / "exp", "--no-plots")
    md = (tmp_path / "exp" / "report" / "report.md").read_text()
    acc = {(str(f), a, str(s)): v for f, a, s, v in rows(
        tmp_path / "exp" / "experiment.db",
        "SELECT json_extract(axes, '$.train_fraction'), json_extract(axes, '$.activation'), "
        "json_extract(axes, '$.seed'), final_test_acc FROM runs")}
    eelu = "eelu(eps=0.6, alpha=1, beta=1)"
    tests = {}
    for other in ("relu", "elu"):
        adv = {f: [acc[(f, eelu, s)] - acc[(f, other, s)] for s in "012"] for f in ("0.01", "0.05")}
        tests[other] = (adv, welch_test(adv["0.01"], adv["0.05"]))
    holm_p = dict(zip(tests, holm([t["p"] for _, t in tests.values()])))
    for other, (adv, t) in tests.items():
        line = next(l for l in md.splitlines() if l.startswith(f"  - over {other}: ")
                    and " pp at 0.05 (3 seeds); larger at 0.01 by " in l)
        mean = lambda x: 100 * sum(x) / len(x)
        assert line.startswith(f"  - over {other}: {mean(adv['0.01']):+.2f} pp at 0.01 (3 seeds), "
                               f"{mean(adv['0.05']):+.2f} pp at 0.05 (3 seeds); "), line
        assert (f"by {100 * t['diff']:+.2f} pp [{100 * t['ci_low']:+.2f}, {100 * t['ci_high']:+.2f}] "
                f"(Welch p {t['p']:.4f}, Holm p {holm_p[other]:.4f}): ") in line, (line, t)
        sig = holm_p[other] < 0.05
        verdict = ("supported" if sig and t["diff"] > 0 else "contradicted" if sig else "not shown")
        assert line.endswith(f": {verdict}"), line
    assert "Holm-corrected over the competitors:" in md


def test_a_size_with_no_finished_run_is_named_without_a_table(tmp_path):
    small = one_size_of_tiny(tmp_path, 0.01)
    pending = one_size_of_tiny(tmp_path, 0.05, train=False)
    out = tmp_path / "report"
    text = (report(small, pending, "--out", out, "--no-plots") and out / "report.md").read_text()
    assert "Runs in all: 8 — 4 done, 0 failed, 4 not finished" in text
    assert "### train_fraction = 0.05\n\nNo run of this size has finished yet.\n" in text
    assert text.count("| activation | seeds |") == 1, "one table: the size with runs"
    assert "(train_fraction = 0.05): no run of EELU has finished here yet." in text
    assert "  - none yet: no competitor has runs paired with EELU's at both sizes." in text


def test_grids_that_cannot_be_reported_together_are_refused(tiny, tmp_path):
    shorter = one_size_of_tiny(tmp_path, 0.02, epochs=1)
    out = tmp_path / "out"
    text = (report(tiny, shorter, "--out", out, "--no-plots") and out / "report.md").read_text()
    assert "- epochs: 2 (tiny), 1 (tiny-0.02)" in text  # said, not refused
    diverge = write(tmp_path / "diverge.toml", DIVERGE)
    grid(diverge, "--dir", tmp_path / "diverge", "--quiet", check=False)
    for args, message in (
            ([tiny, tiny, "--out", out], "are the same run (train_fraction = 0.01, relu, seed 0)"),
            ([tiny, shorter], "several experiment directories need --out"),
            ([tiny, tmp_path / "diverge", "--out", out], "must have the same axes")):
        proc = report(*args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_only_reports_the_activations_it_matches(tiny, tmp_path):
    out = tmp_path / "only"
    text = (report(tiny, "--out", out, "--no-plots", "--only", "^eelu") and out / "report.md").read_text()
    assert "Runs: 4 — 4 done" in text and "4 runs of the others are left out" in text
    assert "`activation` (1)" in text, "the activation axis holds what is kept"
    with open(out / "summary.csv") as f:
        kept = {(r["size"], r["condition"]): r for r in csv.DictReader(f)}
    with open(tiny / "report" / "summary.csv") as f:
        everything = {(r["size"], r["condition"]): r for r in csv.DictReader(f)}
    eelu = "eelu(eps=0.6, alpha=1, beta=1)"
    assert sorted(kept) == [("0.01", eelu), ("0.05", eelu)]
    for key, row in kept.items():  # the same numbers; only the rank is among fewer
        assert {k: v for k, v in row.items() if k != "rank"} == \
            {k: v for k, v in everything[key].items() if k != "rank"}
    for pattern, message in (("(", "--only '(' is not a regular expression"),
                             ("gelu", f"matches none of the activations: relu, {eelu}")):
        proc = report(tiny, "--out", out, "--only", pattern, check=False)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


# The latent measures of the tiny grid's four networks on 1% (two activations, seeds 0 and 1),
# kept beside their checkpoints; measuring takes about ten seconds a network.
LATENT = ["--where", "train_fraction=0.01", "--no-plots", "--samples", "60", "--iterations", "20",
          "--probe-train", "300"]


# The measures of latent_by_label.csv and .dat, in their order.
MEASURES = ("test_acc", "recalibrated_acc", "effective_rank", "active_share", "probe_acc",
            "bn_recalibration_gain")


@pytest.fixture(scope="module")
def over_seeds(tiny, tmp_path_factory):
    """`visualize --grid` of the tiny grid's 1% runs: (its output folder, its stdout)."""
    out = tmp_path_factory.mktemp("latent") / "over_seeds"
    proc = subprocess.run([str(EELU), "visualize", "--grid", str(tiny), "--out", str(out), *LATENT],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.mark.slow
def test_visualize_a_grid_summarises_each_activation_over_its_seeds(tiny, over_seeds):
    out = over_seeds[0]
    with open(out / "latent.csv") as f:
        nets = list(csv.DictReader(f))
    eelu = "eelu(eps=0.6, alpha=1, beta=1)"
    assert sorted((r["label"], r["seed"]) for r in nets) == \
        [(eelu, "0"), (eelu, "1"), ("relu", "0"), ("relu", "1")], "each network's row names its seed"
    with open(out / "latent_by_label.csv") as f:
        summary = {(r["label"], r["measure"]): r for r in csv.DictReader(f)}
    for r in nets:  # the accuracy after BatchNorm recalibration: the network's, plus its gain
        r["recalibrated_acc"] = float(r["test_acc"]) + float(r["bn_recalibration_gain"])
    for measure in MEASURES:
        values = {lab: [float(r[measure]) for r in sorted(nets, key=lambda r: int(r["seed"]))
                        if r["label"] == lab] for lab in ("relu", eelu)}
        ref = summary[("relu", measure)]
        assert int(ref["networks"]) == 2 and ref["diff_to_reference"] == ""
        assert float(ref["mean"]) == pytest.approx(sum(values["relu"]) / 2, rel=1e-5)
        row = summary[(eelu, measure)]
        assert (row["test"], row["pairs"]) == ("paired", "2"), "the same seeds 0 and 1 in both labels"
        # seeds 0 and 1, in that order in each label
        d = [a - b for a, b in zip(values[eelu], values["relu"])]
        mean = sum(d) / 2
        half = t_quantile(0.975, 1) * abs(d[0] - d[1]) / 2  # sd of two values / sqrt(2)
        assert float(row["diff_to_reference"]) == pytest.approx(mean, rel=1e-4, abs=1e-9)
        if half > 0:
            assert float(row["diff_ci_low"]) == pytest.approx(mean - half, rel=1e-3, abs=1e-6)
    assert "| relu | 2 |" in (out / "latent_by_label.md").read_text()
    assert (out / "latent_by_label.png").stat().st_size > 5000, "the figure, drawn with --no-plots too"
    rows = [line.split() for line in (out / "latent_by_label.dat").read_text().splitlines()
            if not line.startswith("#")]
    assert [r[0] for r in rows] == ["2", "1"], "the first label on top"
    for r in rows:  # label quoted in column 2; then mean, low, high of each measure
        columns = 3 * len(MEASURES)
        label = " ".join(r[1:len(r) - columns]).strip('"')
        means = r[len(r) - columns::3]
        for measure, mean in zip(MEASURES, means):
            assert float(mean) == pytest.approx(float(summary[(label, measure)]["mean"]), rel=1e-5)
    for args, message in ((["--where", "nosuch=1"], "has no axis 'nosuch'"),
                          (["--where", "train_fraction=0.5"], "matches --where and --only"),
                          (["--only", "("], "--only '(' is not a regular expression"),
                          (["--grid", str(tiny)], "with seed 0 is a run of both"),
                          (["--where", "oops"], "--where takes AXIS=VALUE"),
                          (["--checkpoint", "x.pt"], "excludes")):
        bad = subprocess.run([str(EELU), "visualize", "--grid", str(tiny), "--out", str(out), *args],
                             capture_output=True, text=True)
        assert bad.returncode != 0 and message in bad.stderr + bad.stdout, bad.stderr


@pytest.mark.slow
def test_a_grid_kept_without_its_weights_reports_and_measures_as_before(tiny, over_seeds, tmp_path):
    """The reproduction's archive (docs/reproduction/run.sh): each finished run's records and
    the latent measures `visualize --grid` kept beside its checkpoint, without the weights,
    copied into a new directory, are the same grid again: every run done, the same report,
    the same latent numbers."""
    first, first_stdout = over_seeds
    assert "(kept)" not in first_stdout, "the first call with these options measures every network"
    with open(first / "latent.csv") as f:
        assert {r["tsne_kl"] for r in csv.DictReader(f)} == {""}, "no pictures, no t-SNE"
    twice = subprocess.run([str(EELU), "visualize", "--grid", str(tiny), "--out", str(tmp_path / "twice"),
                            *LATENT], capture_output=True, text=True, timeout=600)
    assert twice.stdout.count("(kept)") == 4, "the same networks, the same options: " + twice.stdout
    relu = subprocess.run([str(EELU), "visualize", "--grid", str(tiny), "--only", "^relu$",
                           "--out", str(tmp_path / "relu"), *LATENT], capture_output=True, text=True)
    assert relu.returncode == 0, relu.stderr
    with open(tmp_path / "relu" / "latent.csv") as f:
        assert [(r["label"], r["seed"]) for r in csv.DictReader(f)] == [("relu", "0"), ("relu", "1")]
    kept = tmp_path / "kept"
    measured = []
    for run in sorted((tiny / "runs").iterdir()):
        names = ["config.json", "metrics.jsonl", "summary.json"]
        if (run / "latent.json").exists():
            names.append("latent.json")
            measured.append(run.name)
        (kept / "runs" / run.name).mkdir(parents=True)
        for name in names:
            (kept / "runs" / run.name / name).write_bytes((run / name).read_bytes())
    assert len(measured) == 4, "the four networks on 1% keep their measures"
    cfg = write(tmp_path / "tiny.toml", TINY.format(epochs=2, batches=3))
    assert "8 done, 0 running, 0 failed, 0 pending" in grid(cfg, "--dir", kept, "--status").stdout
    subprocess.run([str(EELU), "report", str(kept)], check=True, capture_output=True)
    for name in ("summary.csv", "comparisons.csv"):
        assert (kept / "report" / name).read_text() == (tiny / "report" / name).read_text(), name
    again = tmp_path / "again"
    vis = subprocess.run([str(EELU), "visualize", "--grid", str(kept), "--out", str(again), *LATENT],
                         capture_output=True, text=True, timeout=600)
    assert vis.returncode == 0, vis.stderr
    assert vis.stdout.count("(kept)") == 4, vis.stdout
    for name in ("latent_by_label.csv", "latent_by_label.md"):
        assert (again / name).read_text() == (first / name).read_text(), name
    with open(first / "latent.csv") as a, open(again / "latent.csv") as b:
        strip = lambda rows: [{k: v for k, v in r.items() if k != "checkpoint"} for r in rows]
        assert strip(csv.DictReader(a)) == strip(csv.DictReader(b))
    for args, message in ((LATENT[:2] + ["--samples", "60"], "give --no-plots"),
                          (LATENT[:-1] + ["200"], "were taken with probe_train 300, not 200")):
        bad = subprocess.run([str(EELU), "visualize", "--grid", str(kept), "--out", str(again), *args],
                             capture_output=True, text=True)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr
    (kept / "runs" / measured[-1] / "latent.json").unlink()
    bad = subprocess.run([str(EELU), "visualize", "--grid", str(kept), "--out", str(again), *LATENT],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "no measures of its network are kept" in bad.stderr, bad.stderr
    skip = subprocess.run([str(EELU), "visualize", "--grid", str(kept), "--skip-unmeasured",
                           "--out", str(tmp_path / "skip"), *LATENT], capture_output=True, text=True)
    assert skip.returncode == 0, skip.stderr
    gone = kept / "runs" / measured[-1]
    assert f"{gone}: left out" in skip.stdout and skip.stdout.count("(kept)") == 3, skip.stdout
    assert f"no measures kept: {gone}." in (tmp_path / "skip" / "latent.md").read_text()


# ---- an independent Student's t (mpmath), for the report's numbers -------------------------
def t_cdf(t, df):
    import mpmath
    x = mpmath.mpf(df) / (df + mpmath.mpf(t) ** 2)
    tail = mpmath.betainc(mpmath.mpf(df) / 2, mpmath.mpf(1) / 2, 0, x, regularized=True) / 2
    return float(1 - tail) if t > 0 else float(tail)


def t_quantile(p, df):
    import mpmath
    return float(mpmath.findroot(lambda u: t_cdf(float(u), df) - p, 2.0))


def finish(diff, se, df):
    if not (se > 0 and df > 0):
        return {"diff": diff, "p": float("nan")}
    t = diff / se
    q = t_quantile(0.975, df)
    return {"diff": diff, "p": 2 * (1 - t_cdf(abs(t), df)), "ci_low": diff - q * se, "ci_high": diff + q * se}


def mean_var(x):
    m = sum(x) / len(x)
    return m, sum((v - m) ** 2 for v in x) / (len(x) - 1)


def t_test(diffs):
    m, v = mean_var(diffs)
    return finish(m, (v / len(diffs)) ** 0.5, len(diffs) - 1)


def welch_test(x, y):
    (mx, vx), (my, vy) = mean_var(x), mean_var(y)
    a, b = vx / len(x), vy / len(y)
    df = (a + b) ** 2 / (a * a / (len(x) - 1) + b * b / (len(y) - 1)) if a + b > 0 else 0
    return finish(mx - my, (a + b) ** 0.5, df)


def holm(ps):
    order = sorted((p, i) for i, p in enumerate(ps) if p == p)
    out, running = [float("nan")] * len(ps), 0.0
    for k, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - k) * p))
        out[i] = running
    return out


def number(text):
    """A figure of the report's CSV: "–" is one that does not exist."""
    return float("nan") if text == "–" else float(text)


def assert_row(row, prefix, want):
    p_column = "paired_p" if prefix == "" else "welch_p"
    got_p = number(row[p_column])
    low, high = ("ci_low", "ci_high") if prefix == "" else ("welch_ci_low", "welch_ci_high")
    if want["p"] != want["p"]:  # undefined: no p-value and no interval
        assert got_p != got_p, (p_column, row)
        assert row[low] == row[high] == "–", row
        return
    assert got_p == pytest.approx(want["p"], rel=1e-5), (p_column, row, want)
    assert float(row[low]) == pytest.approx(want["ci_low"], abs=1e-6), (low, row, want)
    assert float(row[high]) == pytest.approx(want["ci_high"], abs=1e-6), (high, row, want)

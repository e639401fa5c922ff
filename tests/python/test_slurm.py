"""Grids and training on a real Slurm (issue 21): Debian's slurm-wlm and munge, started by
scripts/slurm-cluster.sh as a one-node cluster on this machine for these tests and stopped
after them. A small grid as a job array runs every run once; a task told its time is up
(SIGUSR1) requeues itself and resumes, a task killed with scancel and requeued resumes; the
report afterwards equals the report of the same grid run locally; a 2-rank `eelu train` under
`srun --ntasks 2` ends with the same weights as `--nproc 2`. Skipped without root (the
daemons run as root here), or with EELU_TEST_SLURM=0 (CI runs them once, in its fresh-root
part)."""
import csv
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import BUILD, ROOT, free_port

EELU = BUILD / "eelu"
CLUSTER = ROOT / "scripts" / "slurm-cluster.sh"

GRID = """
[experiment]
name = "{name}"

[train]
dataset = "fashion-mnist"
epochs = 3
max_batches = {batches}
batch_size = 32
workers = 0
crop_padding = 0
flip = 0

[grid]
activation = ["relu", "eelu(eps=0.6, alpha=1, beta=1)"]
seed = [0, 1]
"""

pytestmark = [
    pytest.mark.skipif(os.environ.get("EELU_TEST_SLURM") == "0",
                       reason="EELU_TEST_SLURM=0: the Slurm tests run elsewhere"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="the one-node Slurm needs root: its daemons run as root here"),
]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The environment that reaches the cluster (SLURM_CONF)."""
    state = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, EELU_SLURMCTLD_PORT=str(free_port()),
               EELU_SLURMD_PORT=str(free_port()))
    stop = lambda: subprocess.run([str(CLUSTER), "stop", str(state)], env=env,  # noqa: E731
                                  capture_output=True, timeout=120)
    proc = subprocess.run([str(CLUSTER), "start", str(state)], env=env, capture_output=True,
                          text=True, timeout=900)
    if proc.returncode != 0:
        stop()
        logs = "".join(f"\n--- {p.name}\n" + p.read_text()[-3000:]
                       for p in sorted((state / "log").glob("*.log")))
        pytest.fail(f"the one-node Slurm did not start: {proc.stdout}{proc.stderr}{logs}")
    env["SLURM_CONF"] = str(state / "slurm.conf")
    yield env
    stop()


def run(args, env, check=True, timeout=300):
    proc = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def queue(env, job):
    out = run(["squeue", "--noheader", "--array", "--jobs", job, "--format=%K %T"], env,
              check=False).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def wait_for(condition, what, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def epochs_done(run_dir):
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_grid_as_a_job_array_runs_every_run_once_and_reports_as_locally(slurm, tmp_path):
    cfg = tmp_path / "array.toml"
    cfg.write_text(GRID.format(name="array", batches=120))
    exp = tmp_path / "exp"
    out = run([EELU, "grid", cfg, "--dir", exp, "--slurm", "--submit", "--cpus-per-task", "1",
               "--quiet"], slurm).stdout
    job = (exp / "slurm" / "jobs.txt").read_text().split()[0]
    assert f"submitted job {job}: 4 array tasks" in out
    script = (exp / "slurm" / "array.sbatch").read_text()
    for line in ("#SBATCH --array=0-3", "#SBATCH --requeue", "#SBATCH --signal=USR1@",
                 "#SBATCH --cpus-per-task=1", "#SBATCH --ntasks=1"):
        assert line in script, line

    key = {i: k for i, k in enumerate(
        l.split()[0] for l in run([EELU, "grid", cfg, "--check"], slurm).stdout.splitlines()[1:])}
    # Run 0 is told its time is up: it requeues itself. Run 1 is cancelled, then requeued by
    # hand. Both after their first epoch, one at a time.
    for index in (0, 1):
        wait_for(lambda: epochs_done(exp / "runs" / key[index]) >= 1, f"run {index}'s first epoch")
    # Run 0 gets SIGUSR1 as Slurm's --signal=USR1@T delivers it to the step's tasks before
    # the time limit (scancel --signal would do the same, but Slurm 22.05 answers "Job can
    # not be altered now" while the task requeues itself, and scancel retries for minutes).
    log = lambda index: exp / "slurm" / f"{job}_{index}.out"
    os.kill(json.loads((exp / "runs" / key[0] / "task.json").read_text())["pid"], signal.SIGUSR1)
    wait_for(lambda: "requeued job" in log(0).read_text(), "run 0 to requeue itself", timeout=120)
    run(["scancel", f"{job}_1"], slurm)
    wait_for(lambda: "interrupted" in log(1).read_text(), "run 1 to stop", timeout=120)
    wait_for(lambda: queue(slurm, job).get("1") != "RUNNING", "the cancelled task to end",
             timeout=120)
    run(["scontrol", "requeue", f"{job}_1"], slurm)

    status = run([EELU, "grid", cfg, "--dir", exp, "--status"], slurm).stdout
    assert "Slurm (squeue):" in status, status
    wait_for(lambda: not queue(slurm, job), "the array to finish", timeout=900)

    status = run([EELU, "grid", cfg, "--dir", exp, "--status"], slurm).stdout
    assert "4 done, 0 running, 0 failed, 0 pending" in status, status
    for index, k in key.items():
        task = json.loads((exp / "runs" / k / "task.json").read_text())
        assert task["status"] == "done", (k, task)
        assert task["attempts"] == (2 if index in (0, 1) else 1), (k, task)
        assert task["job"] == f"{job}_{index}"
        lines = (exp / "runs" / k / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(l)["epoch"] for l in lines] == [1, 2, 3], k
        log = (exp / "slurm" / f"{job}_{index}.out").read_text()
        assert log.count("] done:") == 1, log
        if index in (0, 1):
            assert "interrupted" in log and "resuming (attempt 2)" in log, log
    assert "requeued job" in (exp / "slurm" / f"{job}_0.out").read_text()
    # Submitting again finds nothing to do.
    again = run([EELU, "grid", cfg, "--dir", exp, "--slurm", "--submit"], slurm).stdout
    assert "nothing to submit" in again, again

    # The same grid on this machine: the same weights, epochs and report.
    local = tmp_path / "local"
    run([EELU, "grid", cfg, "--dir", local, "--threads", "1", "--workers", "2", "--quiet"], slurm,
        timeout=900)
    for k in key.values():
        digest = [json.loads((d / "runs" / k / "summary.json").read_text())["state_digest"]
                  for d in (exp, local)]
        assert digest[0] == digest[1], k
    run([EELU, "report", exp, "--no-plots"], slurm)
    run([EELU, "report", local, "--no-plots"], slurm)
    for name in ("summary.csv", "comparisons.csv"):
        assert (exp / "report" / name).read_text() == (local / "report" / name).read_text(), name
    def body(d):  # the report without the line naming its database
        return [l for l in (d / "report" / "report.md").read_text().splitlines()
                if not l.startswith("Made by")]
    assert body(exp) == body(local)
    def curves(d):
        con = sqlite3.connect(d / "experiment.db")
        try:
            return con.execute("SELECT r.key, e.epoch, e.train_loss, e.test_acc FROM epochs e "
                               "JOIN runs r ON r.id = e.run_id ORDER BY r.key, e.epoch").fetchall()
        finally:
            con.close()
    assert curves(exp) == curves(local)
    with open(exp / "report" / "runs.csv") as f:
        assert {r["status"] for r in csv.DictReader(f)} == {"done"}


def test_two_ranks_under_srun_end_with_the_weights_of_nproc_2(slurm, tmp_path):
    args = ["train", "--dataset", "fashion-mnist", "--epochs", "2", "--max-batches", "20",
            "--batch-size", "32", "--workers", "0", "--threads", "1", "--quiet",
            "--crop-padding", "0", "--flip", "0"]
    run(["srun", "--ntasks", "2", "--cpus-per-task", "1", EELU, *args, "--out",
         tmp_path / "srun"], slurm)
    run([EELU, *args, "--nproc", "2", "--out", tmp_path / "nproc"], slurm)
    summaries = [json.loads((tmp_path / d / "summary.json").read_text())
                 for d in ("srun", "nproc")]
    assert summaries[0]["world_size"] == summaries[1]["world_size"] == 2
    assert summaries[0]["state_digest"] == summaries[1]["state_digest"]


def test_a_distributed_grid_run_is_one_job_step_of_its_ranks(slurm, tmp_path):
    cfg = tmp_path / "np.toml"
    cfg.write_text(GRID.format(name="np", batches=10).replace("[grid]", "nproc = 2\n\n[grid]")
                   .replace('seed = [0, 1]\n', ''))
    exp, local = tmp_path / "exp", tmp_path / "local"
    run([EELU, "grid", cfg, "--dir", exp, "--slurm", "--submit", "--cpus-per-task", "1",
         "--quiet"], slurm)
    assert "#SBATCH --ntasks=2" in (exp / "slurm" / "array.sbatch").read_text()
    job = (exp / "slurm" / "jobs.txt").read_text().split()[0]
    wait_for(lambda: not queue(slurm, job), "the array to finish", timeout=600)
    run([EELU, "grid", cfg, "--dir", local, "--threads", "2", "--quiet"], slurm)
    for k in ("r0000_relu", "r0001_eelu-eps=0.6-alpha=1-beta=1"):
        s = [json.loads((d / "runs" / k / "summary.json").read_text()) for d in (exp, local)]
        assert s[0]["world_size"] == 2
        assert s[0]["state_digest"] == s[1]["state_digest"], k


def test_a_task_of_another_grid_or_a_missing_run_is_refused(slurm, tmp_path):
    cfg = tmp_path / "a.toml"
    cfg.write_text(GRID.format(name="a", batches=2))
    exp = tmp_path / "exp"
    proc = run([EELU, "grid", cfg, "--dir", exp, "--run", "0"], slurm, check=False)
    assert proc.returncode != 0 and "not an experiment directory yet" in proc.stderr, proc.stderr
    run([EELU, "grid", cfg, "--dir", exp, "--slurm"], slurm)
    proc = run([EELU, "grid", cfg, "--dir", exp, "--run", "4"], slurm, check=False)
    assert proc.returncode != 0 and "the grid has runs 0 to 3" in proc.stderr, proc.stderr
    other = tmp_path / "b.toml"
    other.write_text(GRID.format(name="a", batches=3))
    proc = run([EELU, "grid", other, "--dir", exp, "--run", "0"], slurm, check=False)
    assert proc.returncode != 0 and "belongs to another grid" in proc.stderr, proc.stderr

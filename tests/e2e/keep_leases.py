"""A batch scheduler stops a worker: hpod and real `hpo worker` processes.

A scheduler (Slurm's requeue, time limit or scancel) sends SIGTERM to every
process of a job, the training command included, the worker's perhaps a
moment after its command's. The worker must
count such a trial as stopped with it, not as a command that died:

1. without --keep-leases the trial fails "worker stopped" (not "killed by
   signal 15");
2. with --keep-leases it stays running, leased to the worker id, and the same
   --id started again gets it back and completes it;
3. with --keep-leases and nobody coming back, the lease runs out and another
   worker completes the trial: none is lost.
"""
import os
import signal
import subprocess
import tempfile
import time

from hpotest import HPO, Daemon, Tap, simple_spec, wait_until

tap = Tap()

# First run: write the pid, then train for long; a later run finishes at once.
SCRIPT = ('if [ -e "$MARK" ]; then echo "@hpo final loss=1"; '
          'else touch "$MARK"; echo $$ > "$MARK.pid"; exec sleep 120; fi')


def worker(d, study, wid, tmp, keep):
    args = [HPO, "worker", "--study", study, "--id", wid, "--work-dir",
            os.path.join(tmp, "trials"), "--grace", "5"]
    if keep:
        args.append("--keep-leases")
    env = dict(os.environ, HPO_SERVER=d.url, MARK=os.path.join(tmp, f"{study}.mark"))
    log = open(os.path.join(tmp, f"{wid}.log"), "ab")
    return subprocess.Popen(args + ["--", "sh", "-c", SCRIPT], stdout=log, stderr=log, env=env)


def stop_like_a_scheduler(d, study, w, tmp):
    """SIGTERM to the training command, then (as a scheduler may, going through
    the job's processes) to the worker half a second later."""
    pidfile = os.path.join(tmp, f"{study}.mark.pid")
    ok = wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 20)
    if ok:
        os.kill(int(open(pidfile).read()), signal.SIGTERM)
        time.sleep(0.5)
    w.send_signal(signal.SIGTERM)
    return bool(ok), w.wait(30)


def log_of(tmp, wid):
    with open(os.path.join(tmp, f"{wid}.log"), errors="replace") as f:
        return f.read()


with Daemon() as d, tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
    # 1. no --keep-leases: the trial fails as stopped by the worker
    d.call("POST", "/api/v1/studies", simple_spec("plain", max_trials=1))
    w = worker(d, "plain", "p", tmp, keep=False)
    ran, code = stop_like_a_scheduler(d, "plain", w, tmp)
    t = d.trials("plain")[0]
    tap.ok(ran and code == 0 and t["state"] == "failed" and
           "worker stopped" in (t["error"] or ""),
           "a child stopped with its worker fails \"worker stopped\"",
           (code, t["state"], t["error"], log_of(tmp, "p")))

    # 2. --keep-leases: the trial stays leased; the same id gets it back
    spec = simple_spec("kept", max_trials=1)
    spec["lease"] = {"heartbeat_s": 1, "stale_after": 30, "max_retries": 2}
    d.call("POST", "/api/v1/studies", spec)
    w = worker(d, "kept", "k", tmp, keep=True)
    ran, code = stop_like_a_scheduler(d, "kept", w, tmp)
    t = d.trials("kept")[0]
    tap.ok(ran and code == 0 and t["state"] == "running" and t["worker"] == "k:0",
           "with --keep-leases it stays running, leased to k:0",
           (code, t["state"], t["worker"], t["error"], log_of(tmp, "k")))
    tap.ok("left leased to k:0" in log_of(tmp, "k"), "and the worker says so")
    w = worker(d, "kept", "k", tmp, keep=True)
    tap.eq(w.wait(60), 0, "the same --id started again runs to the study's end")
    t = d.trials("kept")[0]
    tap.ok(t["state"] == "completed" and t["worker"] == "k:0" and t["attempts"] == 1,
           "it got the trial back and completed it (one lease)",
           (t["state"], t["worker"], t["attempts"]))

    # 3. --keep-leases and nobody comes back: the lease runs out, another
    # worker completes the trial
    spec = simple_spec("gone", max_trials=1)
    spec["lease"] = {"heartbeat_s": 1, "stale_after": 2, "max_retries": 2}
    d.call("POST", "/api/v1/studies", spec)
    w = worker(d, "gone", "g1", tmp, keep=True)
    ran, code = stop_like_a_scheduler(d, "gone", w, tmp)
    w = worker(d, "gone", "g2", tmp, keep=True)
    tap.eq(w.wait(60), 0, "another worker runs the study to its end")
    t = d.trials("gone")[0]
    tap.ok(ran and t["state"] == "completed" and t["worker"] == "g2:0" and t["attempts"] == 2,
           "after the lease ran out, the other worker completed the trial",
           (t["state"], t["worker"], t["attempts"], t["error"]))
tap.done()

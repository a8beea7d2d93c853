"""End to end: hpod and real `hpo worker` processes running real commands."""
import os
import signal
import subprocess
import sys
import time

from hpotest import HPO, Daemon, Tap, simple_spec, wait_until

tap = Tap()
PY = sys.executable

# A job: the value is a function of the params; sleeps a little; reports a curve.
JOB = r"""
import json, os, sys, time
p = json.load(open(os.environ["HPO_PARAMS_FILE"]))
sleep = float(os.environ.get("JOB_SLEEP", "0.05"))
for step in range(1, 4):
    time.sleep(sleep)
    print(f"@hpo step={step} loss={abs(p['x']) + 1.0 / step}", flush=True)
print(f"@hpo final loss={abs(p['x']) + p['n'] * 0.01}", flush=True)
"""


def start_worker(d, study, wid, cmd, env=None, extra=()):
    e = dict(os.environ, HPO_SERVER=d.url, **(env or {}))
    log = open(os.path.join(d.tmp, f"worker-{wid}.log"), "ab")
    return subprocess.Popen([HPO, "worker", "--study", study, "--id", wid,
                             "--work-dir", os.path.join(d.tmp, "trials"), *extra, "--"] + cmd,
                            stdout=log, stderr=subprocess.STDOUT, env=e, start_new_session=True)


def study(d, name):
    return d.call("GET", f"/api/v1/studies/{name}")[1]


def trials(d, name):
    return d.trials(name)


with Daemon() as d:
    job = os.path.join(d.tmp, "job.py")
    with open(job, "w") as f:
        f.write(JOB)

    # 1. two workers finish a study
    spec = simple_spec("two", max_trials=12)
    spec["sampler"] = {"name": "sobol", "seed": 3}
    tap.eq(d.call("POST", "/api/v1/studies", spec)[0], 201, "study created")
    ws = [start_worker(d, "two", f"w{i}", [PY, job]) for i in range(2)]
    codes = [w.wait(120) for w in ws]
    tap.eq(codes, [0, 0], "both workers exit 0 when the study is finished")
    s = study(d, "two")
    tap.ok(s["state"] == "finished" and s["counts"]["completed"] == 12,
           "two workers finish the study: 12 completed", s.get("counts"))
    ts = trials(d, "two")
    tap.ok(len({t["worker"].split(":")[0] for t in ts}) == 2, "both workers ran trials",
           [t["worker"] for t in ts])
    tap.ok(all(abs(t["value"] - (abs(t["params"]["x"]) + t["params"]["n"] * 0.01)) < 1e-9 for t in ts),
           "every value is what the job computed from its params")
    st, one = d.call("GET", f"/api/v1/trials/{ts[0]['id']}")
    tap.eq([r["step"] for r in one["reports"]], [1, 2, 3], "intermediate @hpo lines are reported per step")

    # 2. failures: non-zero exit, timeout, no final value
    for name, cmd, want in [
        ("exit3", ["sh", "-c", "echo oops >&2; exit 3"], "exit status 3"),
        ("nofinal", ["sh", "-c", "echo '@hpo step=1 loss=0.5'"], "no final value"),
        ("timeout", ["sh", "-c", "sleep 30"], "timed out"),
    ]:
        sp = simple_spec(name, max_trials=1)
        sp["budget"] = {"max_trials": 1, "max_failures": 1, "trial_timeout_s": 1}
        d.call("POST", "/api/v1/studies", sp)
        w = start_worker(d, name, "f", cmd, extra=("--grace", "1"))
        try:
            w.wait(60)
        except subprocess.TimeoutExpired:
            w.kill()
        t = trials(d, name)[0]
        tap.ok(t["state"] == "failed" and want in (t["error"] or ""),
               f"a command that {name}: failed with \"{want}\"", t.get("error"))
    t = trials(d, "exit3")[0]
    tap.ok("oops" in (t["error"] or ""), "the failure carries the tail of stderr", t.get("error"))

    # 3. a worker killed with SIGKILL mid-trial: the trial goes stale and runs again
    sp = simple_spec("killed", max_trials=3)
    sp["lease"] = {"heartbeat_s": 0.5, "stale_after": 2, "max_retries": 2}
    d.call("POST", "/api/v1/studies", sp)
    victim = start_worker(d, "killed", "victim", [PY, job], env={"JOB_SLEEP": "5"})
    running = wait_until(lambda: [t for t in trials(d, "killed") if t["state"] == "running"], 20)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    first = running[0] if running else None
    saviour = start_worker(d, "killed", "saviour", [PY, job])
    tap.eq(saviour.wait(120), 0, "a second worker finishes the study")
    if first:
        st, t = d.call("GET", f"/api/v1/trials/{first['id']}")
        tap.ok(t["state"] == "completed" and t["attempts"] == 2 and
               [a["outcome"] for a in t["attempt_log"]] == ["stale", "completed"],
               "the killed worker's trial became stale and was run again", t.get("attempt_log"))
    else:
        tap.ok(False, "the victim was running a trial")

    # 4. hpod killed with SIGKILL mid-study and restarted: workers carry on
    sp = simple_spec("crash", max_trials=20)
    sp["lease"] = {"heartbeat_s": 1, "stale_after": 5, "max_retries": 3}
    d.call("POST", "/api/v1/studies", sp)
    ws = [start_worker(d, "crash", f"c{i}", [PY, job], env={"JOB_SLEEP": "0.2"}) for i in range(2)]
    wait_until(lambda: study(d, "crash")["counts"]["completed"] >= 4, 60)
    d.kill()
    time.sleep(1.5)
    d.restart()
    codes = []
    for w in ws:
        try:
            codes.append(w.wait(180))
        except subprocess.TimeoutExpired:
            w.kill()
            codes.append(None)
    tap.eq(codes, [0, 0], "workers survive a daemon crash and exit 0 at the end")
    s = study(d, "crash")
    c = s["counts"]
    tap.ok(s["state"] == "finished" and c["completed"] + c["failed"] == 20 and c["running"] == 0,
           "the study finishes after the daemon crash", c)
    logs = "".join(open(os.path.join(d.tmp, f"worker-c{i}.log"), errors="replace").read() for i in range(2))
    # every completion a worker logged as recorded is in the database with its value
    ts = {t["number"]: t for t in trials(d, "crash")}
    tap.ok(all(t["state"] == "completed" and t["value"] is not None for t in ts.values()
               if t["state"] != "failed"), "every trial has its value")

    # 5. SIGTERM to a worker: children stopped, trial failed "worker stopped"
    sp = simple_spec("stopped", max_trials=2)
    d.call("POST", "/api/v1/studies", sp)
    w = start_worker(d, "stopped", "s", ["sh", "-c", "sleep 67.25"])
    wait_until(lambda: [t for t in trials(d, "stopped") if t["state"] == "running"], 20)
    # the child runs: its process exists
    wait_until(lambda: subprocess.run(["pgrep", "-f", "sleep 67.25"], capture_output=True).returncode == 0, 20)
    w.send_signal(signal.SIGTERM)
    code = w.wait(30)
    t = trials(d, "stopped")[0]
    tap.ok(code == 0 and t["state"] == "failed" and "worker stopped" in (t["error"] or ""),
           "SIGTERM to a worker fails its trial with \"worker stopped\"", (code, t.get("error")))
    left = subprocess.run(["pgrep", "-f", "sleep 67.25"], capture_output=True, text=True).stdout.strip()
    tap.eq(left, "", "the worker's child is gone")

    # 6. --slots with --gpus: one CUDA_VISIBLE_DEVICES per slot
    sp = simple_spec("gpus", max_trials=4)
    d.call("POST", "/api/v1/studies", sp)
    w = start_worker(d, "gpus", "g", ["sh", "-c", 'sleep 0.5; echo "@hpo final loss=$CUDA_VISIBLE_DEVICES"'],
                     extra=("--gpus", "0,1"))
    tap.eq(w.wait(60), 0, "a worker with two GPU slots finishes")
    ts = trials(d, "gpus")
    pairs = sorted({(t["worker"].rsplit(":", 1)[1], t["value"]) for t in ts})
    tap.eq(pairs, [("0", 0.0), ("1", 1.0)], "each slot sees its own CUDA_VISIBLE_DEVICES")

    tap.eq(d.stop(), 0, "hpod exits 0 on SIGTERM")

tap.done()

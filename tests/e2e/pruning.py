"""Early stopping end to end: hpod with the median pruner, answered through the
REST API and acted on by `hpo worker` on real processes."""
import os
import sys
import tempfile

from hpotest import Daemon, Tap, wait_until

tap = Tap()

STEPS = 12
# Trial x prints loss = x + 1/step for STEPS steps, a little apart, and leaves
# its pid where the test can look for it after the trial ended.
JOB = (
    "import os, sys, time\n"
    "x = float(sys.argv[1])\n"
    "open(os.path.join(sys.argv[2], '%d.pid' % os.getpid()), 'w').write(sys.argv[1])\n"
    f"for s in range(1, {STEPS + 1}):\n"
    "    print('@hpo step=%d loss=%.6f' % (s, x + 1.0 / s), flush=True)\n"
    "    time.sleep(0.15)\n"
    f"print('@hpo final loss=%.6f' % (x + 1.0 / {STEPS}), flush=True)\n"
)


def spec(name, max_trials, pruner, heartbeat_s=1):
    return {
        "name": name,
        "description": "pruning test",
        "objective": {"name": "loss", "direction": "minimize"},
        "params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        "sampler": {"name": "random", "seed": 3},
        "pruner": pruner,
        "budget": {"max_trials": max_trials, "max_parallel": 2, "max_failures": 3},
        "lease": {"heartbeat_s": heartbeat_s, "stale_after": 5, "max_retries": 0},
    }


def alive(pid):
    """True while pid is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def api_part(d):
    st, b = d.call("POST", "/api/v1/studies",
                   spec("api", 4, {"name": "median", "n_startup_trials": 1}, heartbeat_s=30))
    tap.eq(st, 201, "study with the median pruner created")
    st, b = d.call("POST", "/api/v1/studies", spec("bad", 4, {"name": "median", "warmup": 3}))
    msg = b.get("error", {}).get("message", "") if isinstance(b, dict) else ""
    tap.ok(st == 400 and "pruner.warmup" in msg, "an unknown pruner option is refused naming it",
           b)
    for x in (0.1, 0.9):
        d.call("POST", "/api/v1/studies/api/trials", {"params": {"x": x}})
    st, b = d.call("POST", "/api/v1/studies/api/suggest", {"worker": "w:0", "count": 2})
    trials = {t["params"]["x"]: t["id"] for t in b.get("trials", [])} if st == 200 else {}
    tap.ok(len(trials) == 2, "two trials leased", b)
    if len(trials) != 2:
        return
    good, bad = trials[0.1], trials[0.9]

    def report(tid, step, value):
        st, b = d.call("POST", f"/api/v1/trials/{tid}/report",
                       {"worker": "w:0", "step": step, "value": value})
        return b.get("action") if st == 200 else (st, b)

    acts = [report(good, s, 0.1 + 1.0 / s) for s in (1, 2, 3)]
    tap.eq(acts, ["continue"] * 3, "no pruning before n_startup_trials trials completed")
    st, b = d.call("POST", f"/api/v1/trials/{good}/complete",
                   {"worker": "w:0", "state": "completed", "value": 0.1 + 1 / 3})
    tap.eq(st, 200, "first trial completed")
    tap.eq(report(bad, 1, 1.9), "prune", "worse than the median at step 1: prune")
    tap.eq(report(bad, 2, 0.2), "prune", "the decision sticks for later reports")
    st, b = d.call("POST", f"/api/v1/trials/{bad}/heartbeat", {"worker": "w:0"})
    tap.ok(st == 200 and b.get("action") == "prune", "a heartbeat of the judged trial says prune",
           b)
    st, b = d.call("POST", f"/api/v1/trials/{bad}/complete", {"worker": "w:0", "state": "pruned"})
    st, b = d.call("GET", f"/api/v1/trials/{bad}")
    tap.ok(st == 200 and b.get("state") == "pruned" and b.get("value") == 0.2,
           "pruned trial keeps its last value", b)


def worker_part(d, tmp):
    piddir = os.path.join(tmp, "pids")
    os.mkdir(piddir)
    name = "curves"
    st, b = d.call("POST", "/api/v1/studies",
                   spec(name, 8, {"name": "median", "n_startup_trials": 2}))
    tap.eq(st, 201, "worker study created")
    xs = [0.1, 0.2, 0.3, 0.9, 0.05, 0.95, 0.5, 0.15]
    for x in xs:
        d.call("POST", f"/api/v1/studies/{name}/trials", {"params": {"x": x}})
    job = os.path.join(tmp, "job.py")
    with open(job, "w") as f:
        f.write(JOB)
    r = d.hpo("worker", "--study", name, "--slots", "2", "--grace", "2", "--work-dir",
              os.path.join(tmp, "work"), "--", sys.executable, job, "{x}", piddir, timeout=120)
    tap.eq(r.returncode, 0, "hpo worker exits 0 once the study is finished")
    if r.returncode != 0:
        tap.diag(r.stderr[-3000:])
    st, b = d.call("GET", f"/api/v1/studies/{name}")
    tap.ok(st == 200 and b.get("state") == "finished", "the study finished", b)
    st, b = d.call("GET", f"/api/v1/studies/{name}/trials?limit=100")
    trials = b.get("trials", []) if st == 200 else []
    by_x = {t["params"]["x"]: t for t in trials}
    tap.eq(sorted(by_x), sorted(xs), "every enqueued trial ran")
    hopeless = [by_x.get(x, {}) for x in (0.9, 0.95)]
    tap.ok(all(t.get("state") == "pruned" for t in hopeless), "hopeless trials are pruned",
           [(t.get("params"), t.get("state")) for t in hopeless])
    ok = True
    for t in hopeless:
        full = d.call("GET", f"/api/v1/trials/{t.get('id')}")[1]
        reports = full.get("reports", []) if isinstance(full, dict) else []
        last = max(reports, key=lambda r: r["step"]) if reports else None
        ok = ok and last is not None and last["step"] < STEPS and t.get("value") == last["value"]
    tap.ok(ok, "a pruned trial stopped early and its value is its last report")
    best = [by_x.get(x, {}).get("state") for x in (0.1, 0.05)]
    tap.eq(best, ["completed", "completed"], "the good trials completed")
    pids = [int(p.split(".")[0]) for p in os.listdir(piddir)]
    tap.ok(len(pids) == len(xs), "every trial started a process", pids)
    gone = wait_until(lambda: not any(alive(p) for p in pids), timeout=10)
    tap.ok(gone, "no trial process is left", [p for p in pids if alive(p)])


def curve_part(d, tmp):
    """The curve pruner on real processes: its reason reaches the trial's JSON."""
    piddir = os.path.join(tmp, "pids-curve")
    os.mkdir(piddir)
    name = "extrapolated"
    st, b = d.call("POST", "/api/v1/studies",
                   spec(name, 3, {"name": "curve", "n_startup_trials": 1}))
    tap.eq(st, 201, "study with the curve pruner created")
    st, b = d.call("POST", "/api/v1/studies",
                   spec("bad-curve", 3, {"name": "curve", "threshold": 1.5}))
    msg = b.get("error", {}).get("message", "") if isinstance(b, dict) else ""
    tap.ok(st == 400 and "pruner.threshold" in msg, "a bad curve threshold is refused naming it",
           b)
    for x in (0.1, 0.9, 0.05):
        d.call("POST", f"/api/v1/studies/{name}/trials", {"params": {"x": x}})
    job = os.path.join(tmp, "job.py")
    r = d.hpo("worker", "--study", name, "--slots", "1", "--grace", "2", "--work-dir",
              os.path.join(tmp, "work-curve"), "--", sys.executable, job, "{x}", piddir,
              timeout=120)
    tap.eq(r.returncode, 0, "hpo worker exits 0 once the curve study is finished")
    st, b = d.call("GET", f"/api/v1/studies/{name}/trials?limit=100")
    by_x = {t["params"]["x"]: t for t in b.get("trials", [])} if st == 200 else {}
    states = [by_x.get(x, {}).get("state") for x in (0.1, 0.9, 0.05)]
    tap.eq(states, ["completed", "pruned", "completed"],
           "the curve pruner stops the trial whose curve cannot reach the best")
    st, full = d.call("GET", f"/api/v1/trials/{by_x.get(0.9, {}).get('id')}")
    reason = full.get("prune_reason") or "" if st == 200 else ""
    tap.ok(reason.startswith("curve pruner at step ") and
           "chance to beat the 1st best (0.1833) at step 12" in reason,
           "GET /trials/{id} says why the curve pruner stopped it", reason)
    last = max(full.get("reports", []), key=lambda r: r["step"], default={})
    tap.ok(last.get("step", STEPS) < STEPS and last.get("prune_p") is not None and
           last["prune_p"] < 0.05, "the deciding report carries its probability", last)
    st, kept = d.call("GET", f"/api/v1/trials/{by_x.get(0.05, {}).get('id')}")
    judged = [r["prune_p"] for r in kept.get("reports", []) if r.get("prune_p") is not None]
    tap.ok(kept.get("prune_reason") is None and judged and min(judged) > 0.5,
           "a trial that can beat the best is judged and kept, with no reason", kept)


with tempfile.TemporaryDirectory(prefix="hpo-pruning-") as tmp:
    with Daemon() as d:
        api_part(d)
        worker_part(d, tmp)
        curve_part(d, tmp)
tap.done()

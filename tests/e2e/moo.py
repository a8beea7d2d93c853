"""End to end, several objectives: a study of two objectives and a constraint
runs its budget with two real `hpo worker` processes on a real command; its
Pareto set is non-empty and feasible, infeasible trials are kept and marked."""
import json
import math
import os
import subprocess
import sys

from hpotest import HPO, Daemon, Tap

tap = Tap()
PY = sys.executable

# A job with two objectives (validation error and latency pull against each
# other through the model's size) and a third metric under a constraint.
JOB = r"""
import json, math, os, time
p = json.load(open(os.environ["HPO_PARAMS_FILE"]))
size = p["width"] * p["depth"]
err = 1.0 / (1.0 + size / 16.0) + 0.1 * abs(math.log10(p["lr"]) + 2.5)
latency = 1.0 + size / 8.0
for step in range(1, 3):
    time.sleep(0.02)
    print(f"@hpo step={step} val_error={err + 0.5 / step} latency_ms={latency}", flush=True)
print(f"@hpo final val_error={err} latency_ms={latency} params_m={size / 20.0}", flush=True)
"""


def expected(params):
    """What the job reports for params: val_error, latency_ms, params_m."""
    size = params["width"] * params["depth"]
    err = 1.0 / (1.0 + size / 16.0) + 0.1 * abs(math.log10(params["lr"]) + 2.5)
    return err, 1.0 + size / 8.0, size / 20.0


SPEC = {
    "name": "moo-e2e",
    "description": "a small network: validation error against latency, under a size limit",
    "objectives": [{"name": "val_error", "direction": "minimize"},
                   {"name": "latency_ms", "direction": "minimize"}],
    "constraints": [{"name": "params_m", "max": 6.0}],
    "params": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        {"name": "width", "type": "int", "low": 1, "high": 32},
        {"name": "depth", "type": "int", "low": 1, "high": 8},
    ],
    "sampler": {"name": "auto", "seed": 5},
    "pruner": {"name": "none", "objective": "latency_ms"},
    "budget": {"max_trials": 20, "max_parallel": 2, "max_failures": 3},
    "lease": {"heartbeat_s": 2, "stale_after": 3},
}


def start_worker(d, wid, cmd):
    e = dict(os.environ, HPO_SERVER=d.url)
    log = open(os.path.join(d.tmp, f"worker-{wid}.log"), "ab")
    return subprocess.Popen([HPO, "worker", "--study", SPEC["name"], "--id", wid,
                             "--work-dir", os.path.join(d.tmp, "trials"), "--"] + cmd,
                            stdout=log, stderr=subprocess.STDOUT, env=e, start_new_session=True)


with Daemon() as d:
    job = os.path.join(d.tmp, "job.py")
    with open(job, "w") as f:
        f.write(JOB)
    st, b = d.call("POST", "/api/v1/studies", SPEC)
    tap.eq(st, 201, "a study of two objectives and a constraint is created")
    # two configurations a person queues that break the size limit
    for width, depth in ((32, 8), (30, 6)):
        d.call("POST", f"/api/v1/studies/{SPEC['name']}/trials",
               {"params": {"lr": 0.003, "width": width, "depth": depth}})
    ws = [start_worker(d, f"w{i}", [PY, job]) for i in range(2)]
    codes = []
    for w in ws:
        try:
            codes.append(w.wait(120))
        except subprocess.TimeoutExpired:
            w.kill()
            codes.append(None)
    tap.eq(codes, [0, 0], "both workers exit 0 when the study is finished")
    st, s = d.call("GET", f"/api/v1/studies/{SPEC['name']}")
    c = s["counts"]
    tap.ok(s["state"] == "finished" and c["completed"] + c["failed"] + c["pruned"] == 20
           and c["completed"] >= 18, "the workers finish the budget", c)
    trials = d.trials(SPEC["name"])
    tap.ok(len({t["worker"].split(":")[0] for t in trials if t["worker"]}) == 2,
           "both workers ran trials")
    done = [t for t in trials if t["state"] == "completed"]
    right = all(abs(t["objectives"][0] - expected(t["params"])[0]) < 1e-6
                and abs(t["objectives"][1] - expected(t["params"])[1]) < 1e-6
                and t["value"] == t["objectives"][0]
                and t["feasible"] == (expected(t["params"])[2] <= 6.0) for t in done)
    tap.ok(right, "every trial's objectives and feasibility are what its command reported")
    infeasible = [t for t in done if t["feasible"] is False]
    tap.ok(len(infeasible) >= 2, "infeasible trials are kept and marked", len(infeasible))
    tap.ok(any(t["source"] in ("mogp", "motpe") for t in trials),
           "auto hands the study to a sampler of several objectives",
           sorted({t["source"] for t in trials}))
    st, p = d.call("GET", f"/api/v1/studies/{SPEC['name']}/pareto")
    front = p.get("trials", [])
    tap.ok(st == 200 and front and all(t["feasible"] is True for t in front),
           "the Pareto set is non-empty and every member is feasible", len(front))
    feasible = {t["number"]: t["objectives"] for t in done if t["feasible"]}

    def dom(a, b):
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))
    brute = sorted(n for n, v in feasible.items() if not any(dom(w, v) for w in feasible.values()))
    tap.eq(sorted(t["number"] for t in front), brute, "the Pareto set is the non-dominated feasible trials")
    if p["n_feasible"] >= 10:
        tap.ok(p["hypervolume"] is not None and p["hypervolume"] > 0 and p["reference_source"] == "derived",
               "a derived reference point and a positive hypervolume", p.get("hypervolume"))
    else:
        tap.ok(p["hypervolume"] is None, "too few feasible trials for a reference point: no hypervolume")
    r = d.hpo("best", SPEC["name"], "--json")
    tap.ok(r.returncode == 0 and json.loads(r.stdout or "null") is not None,
           "hpo best answers for a study of several objectives", r.stderr)
tap.done()

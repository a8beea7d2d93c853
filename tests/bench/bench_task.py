#!/usr/bin/python3
"""The mixed-space task of the sampler benchmark, tuned through the daemon.

For each seed: a fresh hpod on port 0, a study from sklearn_task.py's own
space (log floats, log ints, a categorical family and parameters conditional
on it) with sampler auto and that seed, one `hpo worker` running
`sklearn_task.py --params-file {params_file}` until the budget is spent; the
best val_error after 10 and after 30 finished trials. Prints JSON:
{"10": median, "30": median, "runs": [[best10, best30], ...]}.

Usage: bench_task.py --hpod PATH --hpo PATH --task PATH [--python PY]
                     [--seeds 10] [--budget 30] [--jobs 2] [--sampler auto]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def one(a, seed, space):
    tmp = tempfile.mkdtemp(prefix="hpod-bench-task-")
    log = open(os.path.join(tmp, "hpod.log"), "wb")
    d = subprocess.Popen([a.hpod, "--db", os.path.join(tmp, "hpod.db"), "--listen",
                          "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log)
    try:
        url = d.stdout.readline().decode().split()[-1]
        spec = {"name": "task", "description": "classifier family and its parameters, "
                "3-fold cross-validated error on the UCI digits",
                "objective": {"name": "val_error", "direction": "minimize"},
                "params": space, "sampler": {"name": a.sampler, "seed": seed},
                "budget": {"max_trials": a.budget, "max_parallel": 1, "max_failures": a.budget}}
        call(url + "/api/v1/studies", "POST", spec)
        env = dict(os.environ, HPO_SERVER=url)
        subprocess.run([a.hpo, "worker", "--study", "task", "--id", f"bench-{seed}",
                        "--work-dir", os.path.join(tmp, "trials"), "--",
                        a.python, os.path.abspath(a.task), "--params-file", "{params_file}"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=3600)
        trials = call(url + "/api/v1/studies/task/trials?limit=1000")["trials"]
        vals = [t["value"] if t["state"] == "completed" else None for t in trials]
        best, curve = 1.0, []
        for v in vals:
            if v is not None:
                best = min(best, v)
            curve.append(best)
        return [curve[min(9, len(curve) - 1)], curve[-1]]
    finally:
        d.terminate()
        d.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hpod", required=True)
    ap.add_argument("--hpo", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sampler", default="auto")
    a = ap.parse_args()
    space = json.loads(subprocess.run([a.python, a.task, "--spec"], capture_output=True,
                                      text=True, check=True).stdout)
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        runs = list(ex.map(lambda s: one(a, s, space), range(a.seeds)))
    for s, r in enumerate(runs):
        print(f"seed {s}: best after 10 {r[0]:.4f}, after {a.budget} {r[1]:.4f}", file=sys.stderr)
    out = {"10": statistics.median(r[0] for r in runs),
           str(a.budget): statistics.median(r[1] for r in runs), "runs": runs}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

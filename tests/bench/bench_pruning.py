#!/usr/bin/python3
"""make bench-pruning: early stopping on a real learning curve.

The task is the reference script mlp_curve_task.py (an MLP on the digits data,
validation error after each of 40 epochs). hpod runs it as the worker command,
with each of its pruners and without, through `hpo worker` (or, with --driver py,
through a small worker written here on the REST API: ask, run, forward the @hpo
lines, stop the child on a prune answer, complete). The same script run with
--optuna gives Optuna's TPE with no pruner, MedianPruner and
SuccessiveHalvingPruner on the same budget. Printed: total epochs spent and the
best final validation error, each the median over seeds.

Standard library only; the task itself needs python3-sklearn (and python3-optuna
for the reference side).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# hpod's pruners as the benchmark runs them: the defaults (asha's reduction
# factor is 4, as Optuna's); asha also with a reduction factor of 3; for patience a threshold that suits this
# task (an error above 0.5 after 3 epochs is hopeless).
OURS = {
    "none": {"name": "none"},
    "median": {"name": "median"},
    "asha": {"name": "asha"},
    "asha-rf3": {"name": "asha", "reduction_factor": 3},
    "patience": {"name": "patience", "patience": 5, "threshold": 0.5, "n_warmup_steps": 3},
}
OPTUNA = ["none", "median", "halving"]


def http(url, method="GET", body=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text.decode(errors="replace")


class Hpod:
    def __init__(self, binary, tmp):
        self.log = open(os.path.join(tmp, "hpod.log"), "ab")
        self.proc = subprocess.Popen([binary, "--db", os.path.join(tmp, "hpod.db"), "--listen",
                                      "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("hpod listening on "):
            self.stop()
            raise RuntimeError(f"hpod did not start: {line!r}")
        self.url = line.split()[-1]

    def call(self, method, path, body=None):
        return http(self.url + path, method, body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def py_worker(d, study, cmd, tmp):
    """What `hpo worker --slots 1` does, on the REST API."""
    wid = f"bench-py:{os.getpid()}"
    while True:
        st, b = d.call("POST", f"/api/v1/studies/{study}/suggest",
                       {"worker": wid, "count": 1, "wait_s": 5})
        if st != 200:
            raise RuntimeError(f"suggest: {st} {b}")
        if not b["trials"]:
            if b.get("study_state") == "finished":
                return
            time.sleep(min(b.get("retry_after_s") or 0.2, 1))
            continue
        t = b["trials"][0]
        tid = t["id"]
        pfile = os.path.join(tmp, f"params-{t['number']}.json")
        with open(pfile, "w") as f:
            json.dump(t["params"], f)
        argv = [a.replace("{params_file}", pfile) for a in cmd]
        env = dict(os.environ, HPO_PARAMS=json.dumps(t["params"]), HPO_PARAMS_FILE=pfile)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=env)
        state, value = "failed", None
        for line in p.stdout:
            words = line.split()
            if not words or words[0] != "@hpo":
                continue
            kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            if words[1:2] == ["final"]:
                state, value = "completed", float(kv["val_error"])
            elif "step" in kv:
                st, r = d.call("POST", f"/api/v1/trials/{tid}/report",
                               {"worker": wid, "step": int(kv["step"]),
                                "value": float(kv["val_error"])})
                if st == 200 and r.get("action") == "prune":
                    p.send_signal(signal.SIGTERM)
                    state = "pruned"
                    break
        p.stdout.close()
        p.wait()
        body = {"worker": wid, "state": state}
        if state == "completed":
            body["value"] = value
        d.call("POST", f"/api/v1/trials/{tid}/complete", body)


def run_ours(a, pruner, seed):
    tmp = tempfile.mkdtemp(prefix="bench-pruning-")
    t0 = time.time()
    d = Hpod(a.hpod, tmp)
    try:
        name = f"mlp-{pruner}-{seed}"
        spec = {
            "name": name,
            "description": "one-hidden-layer MLP on the digits data, trained with SGD one epoch "
                           "at a time; validation error after each of 40 epochs",
            "objective": {"name": "val_error", "direction": "minimize"},
            "params": a.space,
            "sampler": {"name": a.sampler, "seed": seed},
            "pruner": OURS[pruner],
            "budget": {"max_trials": a.budget, "max_parallel": 1, "max_failures": a.budget},
            "lease": {"heartbeat_s": 30, "stale_after": 4, "max_retries": 0},
        }
        st, b = d.call("POST", "/api/v1/studies", spec)
        if st not in (200, 201):
            raise RuntimeError(f"study create: {st} {b}")
        cmd = [a.python, a.task, "--params-file", "{params_file}"]
        if a.driver == "hpo":
            r = subprocess.run([a.hpo, "--server", d.url, "worker", "--study", name, "--slots",
                                "1", "--grace", "5", "--work-dir", os.path.join(tmp, "work"),
                                "--"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
            if r.returncode != 0:
                raise RuntimeError(f"hpo worker exited {r.returncode}: {r.stderr[-2000:]}")
        else:
            py_worker(d, name, cmd, tmp)
        st, b = d.call("GET", f"/api/v1/studies/{name}/trials?limit=1000")
        trials = b["trials"]
        epochs = sum(t.get("last_step") or 0 for t in trials)
        done = [t["value"] for t in trials if t["state"] == "completed" and t["value"] is not None]
        return {"side": "hpod", "pruner": pruner, "seed": seed, "epochs": epochs,
                "best": min(done) if done else 1.0, "trials": len(trials),
                "pruned": sum(t["state"] == "pruned" for t in trials),
                "failed": sum(t["state"] == "failed" for t in trials),
                "wall_s": round(time.time() - t0, 1)}
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_optuna(a, pruner):
    t0 = time.time()
    r = subprocess.run([a.python, a.task, "--optuna", "--pruner", pruner, "--seeds",
                        str(a.seeds), "--budget", str(a.budget)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"optuna {pruner}: {r.stderr[-2000:]}")
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return {"side": "optuna", "pruner": pruner, "epochs": j["median_epochs"],
            "best": j["median_best_val_error"], "wall_s": round(time.time() - t0, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hpod", required=True)
    ap.add_argument("--hpo", required=True)
    ap.add_argument("--task", required=True, help="path of mlp_curve_task.py")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--driver", choices=["hpo", "py"], default="hpo",
                    help="run trials with `hpo worker` (default) or the REST driver here")
    ap.add_argument("--sampler", default="tpe")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=20, help="trials per study")
    ap.add_argument("--jobs", type=int, default=2, help="studies run at once")
    ap.add_argument("--pruners", default=",".join(OURS))
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--out", help="write the raw results here as JSON")
    a = ap.parse_args()
    if not os.path.exists(a.task):
        print(f"bench-pruning: no task script at {a.task} (set BENCH_REF)", file=sys.stderr)
        return 2
    if a.driver == "hpo" and not os.access(a.hpo, os.X_OK):
        print(f"bench-pruning: {a.hpo} is missing: using the REST driver", file=sys.stderr)
        a.driver = "py"
    a.space = json.loads(subprocess.run([a.python, a.task, "--spec"], capture_output=True,
                                        text=True, check=True).stdout)
    pruners = [p for p in a.pruners.split(",") if p]
    have_optuna = not a.no_optuna and subprocess.run(
        [a.python, "-c", "import optuna"], capture_output=True).returncode == 0
    print("command: " + " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
          f"{os.cpu_count()} cores, {a.jobs} studies at once, driver {a.driver}")
    t0 = time.time()
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        if have_optuna:  # the longest single jobs first
            jobs += [ex.submit(run_optuna, a, p) for p in OPTUNA]
        jobs += [ex.submit(run_ours, a, p, s) for p in pruners for s in range(a.seeds)]
        results = [j.result() for j in jobs]
    wall = time.time() - t0

    rows = []
    for p in pruners:
        rs = [r for r in results if r["side"] == "hpod" and r["pruner"] == p]
        rows.append({"side": "hpod", "pruner": p,
                     "epochs": statistics.median(r["epochs"] for r in rs),
                     "best": statistics.median(r["best"] for r in rs),
                     "pruned": statistics.median(r["pruned"] for r in rs),
                     "failed": sum(r["failed"] for r in rs)})
    rows += [dict(r, pruned=None, failed=0) for r in results if r["side"] == "optuna"]
    base = {r["side"]: r for r in rows if r["pruner"] == "none"}
    print(f"\nMLP on digits, 40 epochs a trial; {a.sampler} (hpod) / TPE (optuna); "
          f"{a.budget} trials a study; median over {a.seeds} seeds; {wall / 60:.1f} min")
    print(f"{'side':7} {'pruner':10} {'epochs':>7} {'x fewer':>8} {'best val_error':>15} "
          f"{'vs none':>8} {'pruned':>7}")
    for r in rows:
        b = base.get(r["side"])
        ratio = f"{b['epochs'] / r['epochs']:.2f}" if b and r["epochs"] else "-"
        delta = f"{r['best'] - b['best']:+.4f}" if b else "-"
        pr = "-" if r["pruned"] is None else f"{r['pruned']:g}"
        print(f"{r['side']:7} {r['pruner']:10} {r['epochs']:7g} {ratio:>8} {r['best']:15.4f} "
              f"{delta:>8} {pr:>7}")
    if any(r["failed"] for r in rows):
        print("warning: some trials failed: " +
              ", ".join(f"{r['pruner']} {r['failed']}" for r in rows if r["failed"]))

    # The targets: at least 2x fewer epochs than no pruning for a best error
    # within 0.01 of it, and no worse than Optuna's matching pruner on both.
    ours = {r["pruner"]: r for r in rows if r["side"] == "hpod"}
    theirs = {r["pruner"]: r for r in rows if r["side"] == "optuna"}
    print()
    for p, q in (("median", "median"), ("asha", "halving"), ("asha-rf3", "halving"),
                 ("patience", None)):
        if p not in ours or "none" not in ours:
            continue
        r, n = ours[p], ours["none"]
        ok = n["epochs"] >= 2 * r["epochs"] and r["best"] <= n["best"] + 0.01
        line = (f"{p}: {n['epochs'] / r['epochs']:.2f}x fewer epochs than none, best "
                f"{r['best'] - n['best']:+.4f}: {'meets' if ok else 'MISSES'} the target")
        if q and q in theirs:
            o = theirs[q]
            vs = r["epochs"] <= o["epochs"] and r["best"] <= o["best"]
            line += (f"; vs optuna {q}: epochs {r['epochs']:g} vs {o['epochs']:g}, best "
                     f"{r['best']:.4f} vs {o['best']:.4f}: {'no worse' if vs else 'WORSE'}")
        print(line)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": {k: v for k, v in vars(a).items() if k != "space"},
                       "runs": results, "table": rows, "wall_s": wall}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

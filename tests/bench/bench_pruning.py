#!/usr/bin/python3
"""make bench-pruning: early stopping on learning curves that cross.

Three tasks (pruning_tasks.py): a real one, an MLP trained on the digits data
with the validation log loss after each of 30 epochs, and two synthetic
families of crossing, noisy curves (in the second, fast starts settle early on
a worse level and the slowest useful start ends best). For each task and seed,
one fixed sequence of random configurations (the same for every column, so that
the columns differ only by their pruner) is run through hpod with each of its
pruners and through Optuna 3.1 with its MedianPruner, SuccessiveHalvingPruner
and HyperbandPruner, all with their defaults (--pruners adds hpod columns with
other options, e.g. curve:threshold=0.1, to see what an option trades). hpod
gets the configurations as enqueued trials and the curve one report at a time
over its REST API (suggest, report, complete); Optuna gets them with
enqueue_trial, report and should_prune. A curve depends only on its
configuration and seed, so it is computed once and revealed step by step to
every pruner.

Printed per task: the median over seeds of the steps a study spent and of its
best final value (the best value of a trial that ran to its last step), and
whether the curve pruner meets its targets: at most 0.4x the steps of no
pruning with a best within 2% of it, and, against every Optuna pruner, better
on one figure and no worse on the other, with, for each of these comparisons,
the seeds where each ends with the better best and bootstrap intervals of the
differences (paired). The "bound" rows put the figures in
scale: a clairvoyant pruner that knows each trial's final value (not those of
the trials to come) runs to its end every trial that beats the best so far
(or, in the second row, beats it by more than 2%) and stops every other one
at its first report; a "population" pruner judges each trial by the nearest
trials of all the other seeds (population_bound), more evidence than any
study holds. With --calibration, the curve pruner's own extrapolation
is checked on the same curves (tests/bench/curve_calibration.c).

Needs Debian's /usr/bin/python3 with python3-sklearn (the MLP task's data)
and python3-optuna (the reference columns).
"""
import argparse
import concurrent.futures
import datetime
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pruning_tasks  # noqa: E402

OURS = {
    "none": {"name": "none"},
    "median": {"name": "median"},
    "asha": {"name": "asha"},
    "hyperband": {"name": "hyperband"},
    "curve": {"name": "curve"},
}
OPTUNA = ["median", "halving", "hyperband"]


def pruner_spec(column):
    """A column of --pruners: a pruner of OURS, then options as :key=value
    (curve:threshold=0.1:k=3), values in JSON."""
    name, *opts = column.split(":")
    if name not in OURS:
        raise SystemExit(f"bench-pruning: unknown pruner {name!r} in --pruners "
                         f"(one of {', '.join(OURS)})")
    spec = dict(OURS[name])
    for o in opts:
        key, sep, value = o.partition("=")
        try:
            if not key or not sep:
                raise ValueError
            spec[key] = json.loads(value)
        except ValueError:
            raise SystemExit(f"bench-pruning: {column!r}: an option is key=value, the value "
                             "in JSON (curve:threshold=0.1)")
    return spec


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


def trial_seed(seed, i):
    return seed * 1000 + i


def compute_curve(job):
    task, seed, i, params = job
    return (task, seed, i), pruning_tasks.curve(task, params, trial_seed(seed, i))


def summary(side, task, pruner, seed, steps, finals, n_pruned, t0):
    return {"side": side, "task": task, "pruner": pruner, "seed": seed, "steps": steps,
            "best": min(finals) if finals else None, "completed": len(finals),
            "pruned": n_pruned, "wall_s": round(time.time() - t0, 2)}


def run_ours(d, task, pruner, spec_pruner, seed, cfgs, curves):
    """One study through hpod: pruner is the column's name, spec_pruner its
    "pruner" object (pruner_spec)."""
    t0 = time.time()
    name = f"{task}-{re.sub(r'[^A-Za-z0-9_.-]', '-', pruner)}-{seed}"
    spec = {
        "name": name,
        "description": pruning_tasks.DESCRIPTIONS[task],
        "objective": {"name": "loss", "direction": "minimize"},
        "params": pruning_tasks.SPACES[task],
        "sampler": {"name": "random", "seed": seed},
        "pruner": spec_pruner,
        "budget": {"max_trials": len(cfgs), "max_parallel": 1, "max_failures": len(cfgs)},
        "lease": {"heartbeat_s": 60, "stale_after": 4, "max_retries": 0},
    }
    st, b = d.call("POST", "/api/v1/studies", spec)
    if st not in (200, 201):
        raise RuntimeError(f"study create: {st} {b}")
    index = {}
    for i, c in enumerate(cfgs):
        st, b = d.call("POST", f"/api/v1/studies/{name}/trials", {"params": c})
        if st not in (200, 201):
            raise RuntimeError(f"enqueue: {st} {b}")
        index[b["id"]] = i
    wid = f"bench:{task}:{pruner}:{seed}"
    steps = 0
    while True:
        st, b = d.call("POST", f"/api/v1/studies/{name}/suggest",
                       {"worker": wid, "count": 1, "wait_s": 1})
        if st != 200:
            raise RuntimeError(f"suggest: {st} {b}")
        if not b["trials"]:
            if b.get("study_state") == "finished":
                break
            time.sleep(0.05)
            continue
        tid = b["trials"][0]["id"]
        cv = curves[(task, seed, index[tid])]
        state = "completed"
        for k, v in enumerate(cv, 1):
            steps += 1
            st, r = d.call("POST", f"/api/v1/trials/{tid}/report",
                           {"worker": wid, "step": k, "value": v})
            if st != 200:
                raise RuntimeError(f"report: {st} {r}")
            if r.get("action") == "prune":
                state = "pruned"
                break
        body = {"worker": wid, "state": state}
        if state == "completed":
            body["value"] = cv[-1]
        st, r = d.call("POST", f"/api/v1/trials/{tid}/complete", body)
        if st != 200:
            raise RuntimeError(f"complete: {st} {r}")
    st, b = d.call("GET", f"/api/v1/studies/{name}/trials?limit=1000")
    trials = b["trials"]
    finals = [t["value"] for t in trials if t["state"] == "completed"]
    return summary("hpod", task, pruner, seed, steps, finals,
                   sum(t["state"] == "pruned" for t in trials), t0)


def run_optuna(task, pruner, seed, cfgs, curves):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    t0 = time.time()
    p = {"median": optuna.pruners.MedianPruner, "halving": optuna.pruners.SuccessiveHalvingPruner,
         "hyperband": optuna.pruners.HyperbandPruner}[pruner]()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), pruner=p,
                                study_name=f"{task}-{pruner}-{seed}")
    space = pruning_tasks.SPACES[task]
    steps, pruned = 0, 0
    for i, c in enumerate(cfgs):
        study.enqueue_trial(c)
        t = study.ask()
        for q in space:
            if q["type"] == "float":
                t.suggest_float(q["name"], q["low"], q["high"], log=q.get("log", False))
            elif q["type"] == "int":
                t.suggest_int(q["name"], q["low"], q["high"], log=q.get("log", False))
            else:
                t.suggest_categorical(q["name"], q["choices"])
        cv = curves[(task, seed, i)]
        done = True
        for k, v in enumerate(cv, 1):
            steps += 1
            t.report(v, k)
            if t.should_prune():
                done = False
                break
        if done:
            study.tell(t, cv[-1])
        else:
            pruned += 1
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
    finals = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return summary("optuna", task, pruner, seed, steps, finals, pruned, t0)


def clairvoyant(task, seed, cfgs, curves, tolerance):
    """A pruner that knows each trial's final value when the trial starts, but
    not the trials to come: it runs a trial to its end when its final value is
    better than (1 - tolerance) times the best final so far (the first trial
    always), and stops every other trial at its first report. With tolerance 0
    it runs exactly the trials that set a new best, so it keeps the study's best
    with the fewest steps a pruner that sees no future can spend in this order;
    with 0.02 it keeps a best within 2% of it."""
    t0 = time.time()
    steps, finals, best = 0, [], None
    for i in range(len(cfgs)):
        cv = curves[(task, seed, i)]
        if best is None or cv[-1] < (1 - tolerance) * best:
            steps += len(cv)
            finals.append(cv[-1])
            best = cv[-1] if best is None else min(best, cv[-1])
        else:
            steps += 1
    return summary("bound", task, "clairvoyant" if tolerance == 0 else
                   f"clairvoyant {tolerance * 100:g}%", seed, steps, finals,
                   len(cfgs) - len(finals), t0)


POPULATION_K = 100
POPULATION_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.3)


def population_bound(task, seeds, cfgs, curves):
    """A pruner that knows far more than any pruner inside a study can: every
    other seed's 40 trials of the same task, whole curves and final values
    (3,960 trials with 100 seeds, where a study has at most 39). At each step
    before the last, it takes the POPULATION_K of them nearest to the trial in
    its value at that step, its change since the step before and its
    configuration (each feature standardised, log scale where the space says
    so), and stops the trial when fewer than a share `level` of those end
    better than the study's best final so far. It shows where the trade-off
    between steps and best lies for a pruner whose only limit is how well
    early curves and configurations tell outcomes apart; one row per level."""
    import numpy as np

    t0 = time.time()
    space = pruning_tasks.SPACES[task]
    keys = [(s, i) for s in range(seeds) for i in range(len(cfgs[(task, s)]))]
    seed_of = np.array([s for s, _ in keys])
    logc = np.log(np.maximum(np.array([curves[(task, s, i)] for s, i in keys], float), 1e-300))
    finals = np.exp(logc[:, -1])
    conf = []
    for q in space:
        col = [cfgs[(task, s)][i][q["name"]] for s, i in keys]
        if q["type"] == "categorical":
            col = [q["choices"].index(v) for v in col]
        elif q.get("log"):
            col = [math.log(v) for v in col]
        conf.append(col)
    conf = np.array(conf, float).T
    steps_n = logc.shape[1]
    nearest = {}  # (step, trial) -> sorted final values of its neighbours
    for st in range(1, steps_n):
        f = [logc[:, st - 1]]
        if st >= 2:
            f.append(logc[:, st - 1] - logc[:, st - 2])
        x = np.column_stack(f + [conf])
        sd = x.std(0)
        x = (x - x.mean(0)) / np.where(sd > 0, sd, 1)
        for s in range(seeds):
            mine, other = np.where(seed_of == s)[0], np.where(seed_of != s)[0]
            k = min(POPULATION_K, len(other))
            d2 = ((x[mine][:, None, :] - x[other][None, :, :]) ** 2).sum(2)
            nn = np.argpartition(d2, k - 1, axis=1)[:, :k]
            for row, j in enumerate(mine):
                nearest[(st, j)] = np.sort(finals[other][nn[row]])
    out = []
    for level in POPULATION_LEVELS:
        for s in range(seeds):
            steps, done = 0, []
            for j in np.where(seed_of == s)[0]:
                ran = steps_n
                for st in range(1, steps_n):
                    nb = nearest[(st, j)]
                    if done and np.searchsorted(nb, min(done)) < level * len(nb):
                        ran = st
                        break
                steps += ran
                if ran == steps_n:
                    done.append(float(finals[j]))
            out.append(summary("bound", task, f"population {level * 100:g}%", s, steps, done,
                               len(cfgs[(task, s)]) - len(done), t0))
    return out


def paired(cur, other, base, resamples=2000):
    """How far the curve pruner's lead or lag on another pruner is from the
    noise of the seeds. cur, other: {seed: run} of the two pruners on the
    same configurations, base: no pruning's best (the unit of the interval).
    Returns the seeds where the curve pruner's best is better and worse, and
    95% bootstrap intervals (seeds resampled with replacement, the same
    resample for both pruners) of the differences of the median bests, in %
    of base, and of the median steps."""
    seeds = sorted(set(cur) & set(other))
    def best(r):
        return r["best"] if r["best"] is not None else float("inf")
    better = sum(best(cur[s]) < best(other[s]) for s in seeds)
    worse = sum(best(cur[s]) > best(other[s]) for s in seeds)
    rng = random.Random(0)
    db, ds = [], []
    for _ in range(resamples):
        pick = [rng.choice(seeds) for _ in seeds]
        db.append((statistics.median(best(cur[s]) for s in pick) -
                   statistics.median(best(other[s]) for s in pick)) / abs(base) * 100)
        ds.append(statistics.median(cur[s]["steps"] for s in pick) -
                  statistics.median(other[s]["steps"] for s in pick))
    db.sort()
    ds.sort()
    lo, hi = int(0.025 * resamples), int(0.975 * resamples) - 1
    return better, worse, (db[lo], db[hi]), (ds[lo], ds[hi])


def table(task, rows, a, results):
    base = next(r for r in rows if r["side"] == "hpod" and r["pruner"] == "none")
    print(f"\n{task}: {a.trials} random configurations a study, {pruning_tasks.STEPS} steps "
          f"each, median over {a.seeds} seeds")
    print("| side | pruner | steps | x of none | best final | vs none | pruned |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        rel = (r["best"] - base["best"]) / abs(base["best"]) * 100
        print(f"| {r['side']} | {r['pruner']} | {r['steps']:g} | {r['steps'] / base['steps']:.2f} "
              f"| {r['best']:.5f} | {rel:+.2f}% | {r['pruned']:g} |")
    cur = next((r for r in rows if r["side"] == "hpod" and r["pruner"] == "curve"), None)
    if not cur:
        return True
    ok_steps = cur["steps"] <= 0.4 * base["steps"]
    ok_best = cur["best"] <= base["best"] + 0.02 * abs(base["best"])
    print(f"curve: {cur['steps'] / base['steps']:.2f}x the steps of none "
          f"({'ok' if ok_steps else 'MISSES'} <= 0.4x), best "
          f"{(cur['best'] - base['best']) / abs(base['best']) * 100:+.1f}% "
          f"({'ok' if ok_best else 'MISSES'} within 2%)")
    ok = ok_steps and ok_best
    for r in rows:
        if r["side"] != "optuna":
            continue
        no_worse = cur["steps"] <= r["steps"] and cur["best"] <= r["best"]
        better = cur["steps"] < r["steps"] or cur["best"] < r["best"]
        verdict = "beats" if no_worse and better else "ties" if no_worse else "does NOT beat"
        print(f"curve vs optuna {r['pruner']}: steps {cur['steps']:g} vs {r['steps']:g}, best "
              f"{cur['best']:.5f} vs {r['best']:.5f}: {verdict}")
        runs = {side: {x["seed"]: x for x in results if x["task"] == task and
                       x["side"] == side and x["pruner"] == name}
                for side, name in (("hpod", "curve"), ("optuna", r["pruner"]))}
        if len(runs["hpod"]) > 1:
            better, worse, db, ds = paired(runs["hpod"], runs["optuna"], base["best"])
            print(f"  paired over {len(runs['hpod'])} seeds: curve's best better in {better}, "
                  f"worse in {worse}; 95% intervals of the differences (curve - optuna): "
                  f"median best [{db[0]:+.2f}, {db[1]:+.2f}]% of none's, median steps "
                  f"[{ds[0]:+g}, {ds[1]:+g}]")
        ok = ok and no_worse and better
    for r in rows:
        if r["side"] == "bound":
            rel = (r["best"] - base["best"]) / abs(base["best"]) * 100
            what = ("knowing every final value in advance" if r["pruner"].startswith("clairvoyant")
                    else f"knowing the whole curves of {(a.seeds - 1) * a.trials} trials of "
                    "other seeds")
            print(f"{r['pruner']}: {r['steps']:g} steps for a best {rel:+.2f}% of none's, {what}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hpod", required=True)
    ap.add_argument("--tasks", default="mlp,synthetic,plateau")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--trials", type=int, default=40, help="configurations a study")
    ap.add_argument("--jobs", type=int, default=2, help="studies run at once")
    ap.add_argument("--pruners", default=",".join(OURS),
                    help="hpod's columns: a pruner, or a pruner with options "
                    "(curve:threshold=0.1:k=3)")
    ap.add_argument("--optuna", default=",".join(OPTUNA), help="Optuna's pruners, '' for none")
    ap.add_argument("--out", help="write the raw results here as JSON")
    ap.add_argument("--calibration", help="tests/bench/curve_calibration: also check the curve "
                    "pruner's own extrapolation on the same curves")
    a = ap.parse_args()
    tasks = [t for t in a.tasks.split(",") if t]
    specs = {p: pruner_spec(p) for p in ["none"] + a.pruners.split(",") if p}
    pruners = list(specs)
    theirs = [p for p in a.optuna.split(",") if p]
    if theirs and subprocess.run([sys.executable, "-c", "import optuna"],
                                 capture_output=True).returncode != 0:
        print("bench-pruning: optuna is missing (apt install python3-optuna): its columns are "
              "left out", file=sys.stderr)
        theirs = []
    print("command: " + " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
          f"{os.cpu_count()} cores, {a.jobs} jobs")
    t0 = time.time()
    cfgs = {(t, s): pruning_tasks.configs(t, s, a.trials) for t in tasks for s in range(a.seeds)}
    jobs = [(t, s, i, c) for (t, s), cs in cfgs.items() for i, c in enumerate(cs)]
    with multiprocessing.Pool(a.jobs) as pool:
        curves = dict(pool.map(compute_curve, jobs, chunksize=8))
    print(f"{len(curves)} curves computed in {time.time() - t0:.0f} s")

    tmp = tempfile.mkdtemp(prefix="bench-pruning-")
    d = Hpod(a.hpod, tmp)
    try:
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
            fut = [ex.submit(run_ours, d, t, p, specs[p], s, cfgs[(t, s)], curves)
                   for t in tasks for p in pruners for s in range(a.seeds)]
            fut += [ex.submit(run_optuna, t, p, s, cfgs[(t, s)], curves)
                    for t in tasks for p in theirs for s in range(a.seeds)]
            results = [f.result() for f in fut]
        results += [clairvoyant(t, s, cfgs[(t, s)], curves, tol) for t in tasks
                    for s in range(a.seeds) for tol in (0.0, 0.02)]
        if a.seeds > 1:
            for t in tasks:
                results += population_bound(t, a.seeds, cfgs, curves)
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.time() - t0
    print(f"total {wall / 60:.1f} min")

    ok = True
    rows_all = []
    for t in tasks:
        rows = []
        for side, names in (("hpod", pruners), ("optuna", theirs),
                            ("bound", ["clairvoyant", "clairvoyant 2%"] +
                             [f"population {v * 100:g}%" for v in POPULATION_LEVELS])):
            for p in names:
                rs = [r for r in results if r["side"] == side and r["task"] == t and
                      r["pruner"] == p]
                if not rs:
                    continue
                rows.append({"side": side, "task": t, "pruner": p,
                             "steps": statistics.median(r["steps"] for r in rs),
                             "best": statistics.median(r["best"] if r["best"] is not None
                                                       else float("inf") for r in rs),
                             "pruned": statistics.median(r["pruned"] for r in rs)})
        ok = table(t, rows, a, results) and ok
        rows_all += rows
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "runs": results, "table": rows_all, "wall_s": wall}, f,
                      indent=1)
    if a.calibration:
        print()
        lines = "".join(f"{t} " + " ".join(repr(v) for v in curves[(t, s, i)]) + "\n"
                        for (t, s, i) in sorted(curves))
        sys.stdout.flush()
        subprocess.run([a.calibration], input=lines, text=True, check=True)
    verdict = "met on every task" if ok else "NOT met on every task"
    if not theirs:
        verdict += " (steps and best against no pruning only: no Optuna column ran)"
    print("\ncurve pruner targets: " + verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())

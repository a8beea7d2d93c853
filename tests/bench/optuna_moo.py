#!/usr/bin/python3
"""Optuna's side of make bench-moo.

Runs Optuna's NSGAIISampler and multi-objective TPESampler (constraints_func for
the constrained problem) on the problems of bench_moo.c and prints, as JSON,
the median hypervolume of the feasible trials after 50 and 200 evaluations:
{problem: {sampler: {"50": median, "200": median, "n50": seeds, "n200": seeds,
"seconds": s, "capped": runs, "seeds": {...}}}}.

--run-cap S stops a run (one seed of one sampler on one problem) after S
seconds of wall time; a run stopped before a budget has no value there, and
the median at that budget is over the seeds that reached it ("n50", "n200";
absent when none did). Optuna's multi-objective TPE on three objectives is the
run that needs it: its hypervolume contributions are slow in Python.

The problems, bounds and reference points must match bench_moo.c.
"""

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
import warnings


def zdt_g(x):
    return 1 + 9 * sum(x[1:]) / (len(x) - 1)


def zdt1(x):
    g = zdt_g(x)
    return [x[0], g * (1 - math.sqrt(x[0] / g))], []


def zdt2(x):
    g = zdt_g(x)
    return [x[0], g * (1 - (x[0] / g) ** 2)], []


def dtlz2(x):
    g = sum((v - 0.5) ** 2 for v in x[2:])
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return [(1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b),
            (1 + g) * math.sin(a)], []


def binh_korn(x):
    f1 = 4 * x[0] ** 2 + 4 * x[1] ** 2
    f2 = (x[0] - 5) ** 2 + (x[1] - 5) ** 2
    c1 = (x[0] - 5) ** 2 + x[1] ** 2 - 25
    c2 = 7.7 - (x[0] - 8) ** 2 - (x[1] + 3) ** 2
    return [f1, f2], [c1, c2]


# name: (function, bounds, reference point, number of constraints)
PROBLEMS = {
    "zdt1": (zdt1, [(0.0, 1.0)] * 8, [1.1, 11.0], 0),
    "zdt2": (zdt2, [(0.0, 1.0)] * 8, [1.1, 11.0], 0),
    "dtlz2": (dtlz2, [(0.0, 1.0)] * 6, [2.2, 2.2, 2.2], 0),
    "binh_korn": (binh_korn, [(0.0, 5.0), (0.0, 3.0)], [149.6, 55.0], 2),
}

CHECKPOINTS = (50, 200)


def hypervolume(points, ref):
    """Exact hypervolume of points (minimised) against ref, by slicing."""
    pts = [p for p in points if all(v < r for v, r in zip(p, ref))]
    if not pts:
        return 0.0
    m = len(ref)
    if m == 1:
        return ref[0] - min(p[0] for p in pts)
    if m == 2:
        hv, top = 0.0, ref[1]
        for p in sorted(pts):
            if p[1] < top:
                hv += (ref[0] - p[0]) * (top - p[1])
                top = p[1]
        return hv
    pts.sort(key=lambda p: p[-1])
    hv = 0.0
    for i, p in enumerate(pts):
        nxt = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if nxt > p[-1]:
            hv += hypervolume([q[:-1] for q in pts[: i + 1]], ref[:-1]) * (nxt - p[-1])
    return hv


def run(job):
    problem, sampler_name, seed, budget, cap = job
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    fn, bounds, ref, ncon = PROBLEMS[problem]

    def constraints(trial):
        return trial.user_attrs["constraints"]

    cf = constraints if ncon else None
    if sampler_name == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed, constraints_func=cf)
    elif sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=cf)
    elif sampler_name == "tpe_mv":
        sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=cf, multivariate=True)
    else:
        raise SystemExit(f"unknown sampler {sampler_name}")
    nobj = len(ref)
    study = optuna.create_study(directions=["minimize"] * nobj, sampler=sampler)
    rows = []

    def objective(trial):
        x = [trial.suggest_float(f"x{j}", lo, hi) for j, (lo, hi) in enumerate(bounds)]
        y, c = fn(x)
        trial.set_user_attr("constraints", c)
        rows.append((y, c))
        return tuple(y)

    t0 = time.monotonic()
    capped = []

    def stop_at_cap(study, trial):
        if cap and time.monotonic() - t0 > cap and len(rows) < budget:
            capped.append(len(rows))
            study.stop()

    study.optimize(objective, n_trials=budget, callbacks=[stop_at_cap])
    seconds = time.monotonic() - t0
    hv = {}
    for b in CHECKPOINTS:
        if b <= min(budget, len(rows)):
            feas = [y for y, c in rows[:b] if all(v <= 0 for v in c)]
            hv[b] = hypervolume(feas, ref)
    return problem, sampler_name, seed, hv, seconds, len(rows) if capped else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--samplers", default="nsga2,tpe")
    ap.add_argument("--only", default="")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--run-cap", type=float, default=0,
                    help="seconds of wall time per run (0: no cap)")
    a = ap.parse_args()
    problems = [p for p in PROBLEMS if not a.only or p in a.only.split(",")]
    samplers = a.samplers.split(",")
    jobs = [(p, s, seed, a.budget, a.run_cap) for p in problems for s in samplers
            for seed in range(a.seeds)]
    out = {p: {s: {"seeds": {}, "seconds": 0.0, "capped": {}} for s in samplers}
           for p in problems}
    with multiprocessing.Pool(max(1, a.jobs)) as pool:
        for problem, s, seed, hv, secs, stopped in pool.imap_unordered(run, jobs):
            cell = out[problem][s]
            cell["seeds"][str(seed)] = [hv.get(b) for b in CHECKPOINTS]
            cell["seconds"] += secs
            if stopped is not None:
                cell["capped"][str(seed)] = stopped
            if len(cell["seeds"]) == a.seeds:
                for i, b in enumerate(CHECKPOINTS):
                    vals = [v[i] for v in cell["seeds"].values() if v[i] is not None]
                    if vals:
                        cell[str(b)] = statistics.median(vals)
                        cell[f"n{b}"] = len(vals)
                note = ""
                if cell["capped"]:
                    note = (f", {len(cell['capped'])} runs stopped at the {a.run_cap:g} s cap "
                            f"after {min(cell['capped'].values())} to "
                            f"{max(cell['capped'].values())} trials")
                print(f"[optuna] {problem:10s} {s:6s} median hv@50 {cell.get('50')} "
                      f"hv@200 {cell.get('200')} ({cell['seconds']:.1f} s{note})", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

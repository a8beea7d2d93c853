#!/usr/bin/python3
"""make bench-moo: hpod's samplers for several objectives and constraints
against Optuna 3.1's NSGA-II and multi-objective TPE, in one invocation.

Runs the C driver (hpod's samplers in-process) with half of the processors (at
least one) and optuna_moo.py side by side with all of them (its runs outlast
the driver's, and the longest of them are stopped by wall time), then the
driver's latency mode alone, and prints a Markdown table of median hypervolume per problem and
budget, and the suggest latency with 200 finished trials. Writes everything to
--out as JSON.

An Optuna run (one seed of one sampler on one problem) stops after --run-cap
seconds; a cell whose median covers fewer seeds than asked says how many, and
one that no seed reached shows "-". Optuna's multi-objective TPE on DTLZ2
(three objectives) is the run the cap is for.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

PROBLEMS = ["zdt1", "zdt2", "dtlz2", "binh_korn"]
REFS = {
    "zdt1": "(1.1, 11)",
    "zdt2": "(1.1, 11)",
    "dtlz2": "(2.2, 2.2, 2.2)",
    "binh_korn": "(149.6, 55)",
}
BUDGETS = ["50", "200"]


def fmt(v):
    if v is None:
        return "-"
    return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--driver", required=True)
    ap.add_argument("--optuna", required=True, help="optuna_moo.py")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--samplers", default="auto,motpe,random")
    ap.add_argument("--optuna-samplers", default="nsga2,tpe")
    ap.add_argument("--only", default="")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes for both sides together")
    ap.add_argument("--run-cap", type=float, default=90,
                    help="seconds of wall time per Optuna run (0: no cap)")
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--out", default="bench-moo.json")
    a = ap.parse_args()

    t0 = time.monotonic()
    common = ["--seeds", str(a.seeds), "--budget", str(a.budget)]
    if a.only:
        common += ["--only", a.only]
    hjobs = max(1, a.jobs // 2) if not a.no_optuna else max(1, a.jobs)
    ojobs = max(1, a.jobs)
    hp = subprocess.Popen([a.driver, *common, "--samplers", a.samplers, "--jobs", str(hjobs)],
                          stdout=subprocess.PIPE, text=True)
    op = None
    if not a.no_optuna:
        op = subprocess.Popen([a.python, a.optuna, *common, "--samplers", a.optuna_samplers,
                               "--jobs", str(ojobs), "--run-cap", str(a.run_cap)],
                              stdout=subprocess.PIPE, text=True)
    hout, _ = hp.communicate()
    if hp.returncode != 0:
        sys.exit(f"bench_moo: the driver failed ({hp.returncode})")
    hpod = json.loads(hout)
    optuna = {}
    if op:
        oout, _ = op.communicate()
        if op.returncode != 0:
            sys.exit(f"bench_moo: {a.optuna} failed ({op.returncode})")
        optuna = json.loads(oout)
    load = os.getloadavg()[0]
    lat_cmd = [a.driver, "--latency", "--reps", str(a.reps), "--samplers", "auto"]
    if a.only:
        lat_cmd += ["--only", a.only]
    latency = json.loads(subprocess.run(lat_cmd, stdout=subprocess.PIPE, text=True,
                                        check=True).stdout)
    minutes = (time.monotonic() - t0) / 60

    hs = a.samplers.split(",")
    osamp = a.optuna_samplers.split(",") if op else []
    onames = {"nsga2": "Optuna NSGA-II", "tpe": "Optuna TPE", "tpe_mv": "Optuna TPE mv"}
    head = ["problem (reference point)", "budget"] + [f"hpod {s}" for s in hs] + \
        [onames.get(s, s) for s in osamp]
    if osamp and "auto" in hs:
        head.append("auto - best Optuna")
    print(f"\nmake bench-moo, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{a.seeds} seeds, {minutes:.1f} min, load average {os.getloadavg()[0]:.1f}; median "
          f"hypervolume of the feasible trials, higher is better\n")
    print("| " + " | ".join(head) + " |")
    print("|---|---:|" + "---:|" * (len(head) - 2))
    wins = {b: [0, 0] for b in BUDGETS}
    for p in [p for p in PROBLEMS if p in hpod]:
        for b in BUDGETS:
            if int(b) > a.budget:
                continue
            row = [f"{p} {REFS[p]}", b]
            row += [fmt(hpod[p].get(s, {}).get(b)) for s in hs]
            cells = [optuna.get(p, {}).get(s, {}) for s in osamp]
            ovals = [c.get(b) for c in cells]
            for c, v in zip(cells, ovals):
                n = c.get(f"n{b}", a.seeds)
                row.append(fmt(v) + (f" ({n} of {a.seeds} seeds)" if v is not None and
                                     n < a.seeds else ""))
            if osamp and "auto" in hs:
                known = [v for v in ovals if v is not None]
                mine = hpod[p]["auto"].get(b)
                if known and mine is not None:
                    best = max(known)
                    row.append(f"{mine - best:+.4g}" + ("" if len(known) == len(ovals) else
                                                        " (not all measured)"))
                    wins[b][0] += mine > best if b == "50" else mine >= best
                    wins[b][1] += 1
                else:
                    row.append("-")
            print("| " + " | ".join(row) + " |")
    if osamp and "auto" in hs:
        print()
        for b in BUDGETS:
            if wins[b][1]:
                rel = "above" if b == "50" else "at or above"
                print(f"budget {b}: hpod auto {rel} Optuna's best sampler on "
                      f"{wins[b][0]} of {wins[b][1]} problems")
    capped = [f"{p} {s}: {len(c['capped'])} of {a.seeds} runs stopped at {a.run_cap:g} s "
              f"(after {min(c['capped'].values())} to {max(c['capped'].values())} trials)"
              for p, cs in optuna.items() for s, c in cs.items() if c.get("capped")]
    if capped:
        print("\nOptuna runs stopped by --run-cap: " + "; ".join(capped))
    print(f"\nsuggest latency of auto with 200 finished trials (one proposal, in-process, "
          f"{a.reps} proposals; load average {load:.1f} before):\n")
    print("| problem | median ms | p99 ms | processor time median ms | processor time p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for k, v in latency.items():
        print(f"| {k.split('@')[1]} | {v['median_ms']:.1f} | {v['p99_ms']:.1f} | "
              f"{v.get('cpu_median_ms', float('nan')):.1f} | {v.get('cpu_p99_ms', float('nan')):.1f} |")
    with open(a.out, "w") as f:
        json.dump({"hpod": hpod, "optuna": optuna, "latency": latency, "latency_load": load,
                   "seeds": a.seeds, "budget": a.budget, "minutes": minutes,
                   "run_cap": a.run_cap}, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Sampler benchmark: hpod's samplers next to Optuna's on the same objectives.

Runs, two at a time (the machine's cores), the C driver on the six synthetic
objectives, the reference script optuna_anchor.py, and the mixed-space task
sklearn_task.py tuned by `auto` through hpod and `hpo worker` (bench_task.py)
and by Optuna TPE; then the suggest latency once the
rest is done. Prints one side-by-side table and writes every figure as JSON.

Usage: bench_samplers.py --driver PATH [--ref DIR] [--python PY] [--out FILE]
                         [--seeds 20] [--task-seeds 10] [--jobs 2] [--no-task]
Progress goes to standard error.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import subprocess
import sys
import time

OBJECTIVES = ["branin", "hartmann6", "rosenbrock4", "ackley5", "levy5", "styblinski_tang5"]
BUDGETS = ["10", "30", "100"]


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run_json(name, argv):
    """Run argv, pass its stderr through, parse its stdout as JSON."""
    t0 = time.monotonic()
    log(f"start {name}: {' '.join(argv)}")
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        log(f"{name} failed with status {proc.returncode} after {secs:.0f} s")
        return None, secs
    try:
        data = json.loads(proc.stdout)
    except ValueError as e:
        log(f"{name}: unreadable output ({e})")
        return None, secs
    log(f"done {name} in {secs:.0f} s")
    return data, secs


def fmt(v):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.4g}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--ref", default="")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--out", default="")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--task-seeds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-task", action="store_true")
    ap.add_argument("--hpod", default="./hpod")
    ap.add_argument("--hpo", default="./hpo")
    a = ap.parse_args()

    anchor = os.path.join(a.ref, "optuna_anchor.py") if a.ref else ""
    task = os.path.join(a.ref, "sklearn_task.py") if a.ref else ""
    have_anchor = bool(anchor) and os.path.isfile(anchor)
    have_task = bool(task) and os.path.isfile(task) and not a.no_task
    if not have_anchor:
        log(f"reference script {anchor or 'optuna_anchor.py'} not found: "
            "Optuna columns skipped (set BENCH_REF=dir)")
    if not have_task and not a.no_task:
        log(f"task script {task or 'sklearn_task.py'} not found: mixed-space task skipped")

    # Everything runs two at a time (the machine's cores); each piece takes one
    # core. gp and auto propose the same points below 200 finished trials (auto is
    # the same Sobol design followed by gp), so the synthetic runs use auto once
    # and the gp column repeats it.
    halves = [["branin", "hartmann6", "ackley5"], ["rosenbrock4", "levy5", "styblinski_tang5"]]
    jobs = {}
    task_parts = []
    if have_task:
        # through the daemon and a worker: a fresh hpod per seed, `hpo worker`
        # running sklearn_task.py as the training command
        here = os.path.dirname(os.path.abspath(__file__))
        name = "hpod auto on sklearn_task (daemon + worker)"
        task_parts.append(name)
        jobs[name] = [a.python, os.path.join(here, "bench_task.py"), "--hpod", a.hpod,
                      "--hpo", a.hpo, "--task", task, "--python", a.python,
                      "--seeds", str(a.task_seeds), "--budget", "30", "--jobs", "1"]
        jobs["optuna tpe on sklearn_task"] = [
            a.python, task, "--optuna", "--seeds", str(a.task_seeds), "--budget", "30"]
    if have_anchor:
        jobs["optuna_anchor"] = [a.python, anchor, "--seeds", str(a.seeds), "--budget", "100"]
    for i, half in enumerate(halves):
        jobs[f"hpod samplers ({','.join(half)})"] = [
            a.driver, "--seeds", str(a.seeds), "--budget", "100", "--jobs", "1",
            "--samplers", "auto,tpe,sobol,random", "--only", ",".join(half)]
    order = list(jobs)  # longest first, as inserted
    t_start = time.monotonic()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futs = {pool.submit(run_json, k, jobs[k]): k for k in order}
        for f in concurrent.futures.as_completed(futs):
            results[futs[f]] = f.result()
    latency, _ = run_json("latency", [a.driver, "--latency", "--reps", "50"])

    ours = {}
    for i, half in enumerate(halves):
        data = results.get(f"hpod samplers ({','.join(half)})", (None, 0))[0] or {}
        for o, per in data.items():
            if "auto" in per:
                per["gp"] = per["auto"]
        ours.update(data)
    ref = results.get("optuna_anchor", (None, 0))[0] if have_anchor else None
    task_ours = None
    if have_task:
        part = results.get(task_parts[0], (None, 0))[0] or {}
        if part:
            task_ours = {"auto": {"10": part.get("10"), "30": part.get("30")},
                         "runs": part.get("runs")}
    task_ref = results.get("optuna tpe on sklearn_task", (None, 0))[0] if have_task else None

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"hpod sampler benchmark, {when}, {platform.node()}, {os.cpu_count()} cores, "
          f"{a.seeds} seeds; median simple regret (lower is better)")
    head = ["objective", "budget", "hpod auto", "hpod tpe", "hpod gp", "hpod sobol",
            "hpod random", "optuna tpe", "optuna random", "auto/optuna tpe"]
    rows = []
    wins = {b: [0, 0, 0] for b in BUDGETS}  # <= 0.8x (or <= 1x), <= 0.5x, > 1.1x
    for o in OBJECTIVES:
        for b in BUDGETS:
            mine = ours.get(o, {})
            get = lambda s: mine.get(s, {}).get(b)
            ot = ref.get(o, {}).get("tpe", {}).get(b) if ref else None
            orr = ref.get(o, {}).get("random", {}).get(b) if ref else None
            au = get("auto")
            ratio = au / ot if au is not None and ot else None
            if ratio is not None:
                wins[b][0] += ratio <= (0.8 if b == "10" else 1.0)
                wins[b][1] += ratio <= 0.5
                wins[b][2] += ratio > 1.1
            rows.append([o, b, fmt(au), fmt(get("tpe")), fmt(get("gp")), fmt(get("sobol")),
                         fmt(get("random")), fmt(ot), fmt(orr),
                         "-" if ratio is None else f"{ratio:.3f}"])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(head))
    for r in rows:
        print(line(r))
    print("(hpod gp = hpod auto: below 200 finished trials auto is the same Sobol design "
          "followed by gp, with the same proposals)")
    if ref:
        print("auto vs optuna tpe: budget 10: <= 0.8x on %d of 6, > 1.1x on %d; "
              "budget 30: <= 1x on %d, <= 0.5x on %d; budget 100: <= 1x on %d, <= 0.5x on %d"
              % (wins["10"][0], wins["10"][2], wins["30"][0], wins["30"][1], wins["100"][0],
                 wins["100"][1]))
    print()
    print("suggest latency (6 dimensions, one proposal, one core):")
    for k, v in (latency or {}).items():
        print(f"  {k:10s} median {v['median_ms']:7.1f} ms   p99 {v['p99_ms']:7.1f} ms"
              f"   ({int(v['reps'])} calls)")
    if have_task:
        print()
        print(f"sklearn_task.py (digits, mixed conditional space), {a.task_seeds} seeds, "
              "median best 3-fold CV error:")
        print("  budget  hpod auto  optuna tpe")
        ta = (task_ours or {}).get("auto", {})
        tr = (task_ref or {}).get("optuna_tpe_median_best_val_error", {})
        for b in ("10", "30"):
            print(f"  {b:>6s}  {fmt(ta.get(b)):>9s}  {fmt(tr.get(b)):>10s}")
        print("  (hpod side: hpod and one `hpo worker` per seed running sklearn_task.py)")
    total = time.monotonic() - t_start
    print(f"\nwall time {total / 60:.1f} min")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"date": when, "seeds": a.seeds, "hpod": ours, "optuna": ref,
                       "latency": latency, "task": {"hpod": task_ours, "optuna": task_ref},
                       "wall_s": total}, f, indent=1)
        log(f"figures written to {a.out}")


if __name__ == "__main__":
    main()

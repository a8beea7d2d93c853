"""hpod under load, next to Optuna's shared SQLite storage; run by `make bench-server`.

For each worker count: a fresh hpod and study (random sampler, two floats), the C
load generator (tests/bench/load) for --seconds, then Optuna's RDB storage on
SQLite with as many processes (the reference script, when python3-optuna is
there). Then a study of 100,000 finished trials (written straight into the
database) to time the reads and measure hpod's memory, and an idle `hpo worker`.
The two take turns --rounds times per worker count and the median run of each is
reported, so that a slow spell of a shared machine does not fall on one side only.
Prints a table with the command and the date; --out keeps the figures as JSON.
Targets (DESIGN/issue): at 32 workers >= 50x Optuna's trials/s, p99 of every call
<= 20 ms, no error; reads of the big study <= 50 ms; hpod RSS <= 30 MB with
100,000 trials; an idle worker <= 5 MB.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SPEC = {
    "description": "load test", "objective": {"name": "value", "direction": "minimize"},
    "params": [{"name": "x", "type": "float", "low": -5, "high": 5},
               {"name": "y", "type": "float", "low": -5, "high": 5}],
    "sampler": {"name": "random", "seed": 1},
    "budget": {"max_trials": 1000000, "max_parallel": 10000, "max_failures": 1000000},
    "lease": {"heartbeat_s": 30, "stale_after": 2, "max_retries": 2},
}


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        out = r.read()
        status = r.status
    return status, json.loads(out), (time.perf_counter() - t0) * 1000


class Hpod:
    def __init__(self, binary, tmp, name, config=None):
        self.db = os.path.join(tmp, name + ".db")
        self.binary = binary
        self.config = config
        self.log = open(os.path.join(tmp, name + ".log"), "ab")

    def start(self):
        extra = ["--config", self.config] if self.config else []
        self.proc = subprocess.Popen([self.binary, "--db", self.db, "--listen", "127.0.0.1:0"] + extra,
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("hpod listening on "):
            raise SystemExit(f"hpod did not start: {line!r}")
        self.url = line.split()[-1]
        return self

    def rss_kb(self, field="VmRSS"):
        return proc_kb(self.proc.pid, field)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def proc_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def cpu_s(pid):
    """User + system CPU seconds of a process, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(args, tmp, workers):
    d = Hpod(args.hpod, tmp, f"load{workers}", args.hpod_config).start()
    try:
        call(d.url + "/api/v1/studies", "POST", dict(SPEC, name="load"))
        cpu0 = cpu_s(d.proc.pid)
        p = subprocess.run([args.load, "--server", d.url, "--study", "load", "--workers",
                            str(workers), "--seconds", str(args.seconds)],
                           capture_output=True, text=True)
        cpu = cpu_s(d.proc.pid) - cpu0
        if p.stderr:
            sys.stderr.write(p.stderr)
        res = json.loads(p.stdout)
        res["hpod_rss_mb"] = round(d.rss_kb() / 1024, 1)
        # the daemon's CPU time per trial: steadier than trials/s on a shared
        # machine, and what a change to the daemon alone moves
        res["hpod_cpu_us_per_trial"] = round(cpu * 1e6 / res["trials"]) if res["trials"] else None
        return res
    finally:
        d.stop()


def run_optuna(args, workers):
    if not args.optuna or not os.path.exists(args.optuna):
        return None
    p = subprocess.run([args.python, args.optuna, "--workers", str(workers), "--seconds",
                        str(args.seconds)], capture_output=True, text=True)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        sys.stderr.write(p.stderr[-2000:])
        return None


def fill(db, n):
    """n completed trials in study "big", as the daemon would have written them."""
    con = sqlite3.connect(db)
    sid = con.execute("SELECT id FROM studies WHERE name = 'big'").fetchone()[0]
    rng = random.Random(1)
    now = int(time.time() * 1000)
    rows = []
    for i in range(n):
        x, y = rng.uniform(-5, 5), rng.uniform(-5, 5)
        rows.append((sid, i, "completed", json.dumps({"x": x, "y": y}), x * x + y * y, "random",
                     f"w{i % 32}:0", 1, now - (n - i) * 10, now - (n - i) * 10, now - (n - i) * 10 + 5))
    con.executemany("INSERT INTO trials (study_id, number, state, params, value, source, worker, "
                    "attempts, created_at, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    rows)
    con.execute("INSERT INTO trial_attempts (trial_id, attempt, worker, started_at, ended_at, outcome) "
                "SELECT id, 1, worker, started_at, finished_at, 'completed' FROM trials WHERE study_id = ?",
                (sid,))
    con.execute("UPDATE studies SET next_number = ? WHERE id = ?", (n, sid))
    con.commit()
    con.close()


def timed(url, method="GET", body=None, reps=30):
    lat = []
    for _ in range(reps):
        st, b, ms = call(url, method, body)
        lat.append(ms)
    lat.sort()
    return {"p50_ms": round(statistics.median(lat), 2),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2)}


def run_big(args, tmp):
    d = Hpod(args.hpod, tmp, "big").start()
    call(d.url + "/api/v1/studies", "POST", dict(SPEC, name="big"))
    d.stop()
    t0 = time.time()
    fill(d.db, args.big)
    fill_s = time.time() - t0
    d.start()
    try:
        u = d.url + "/api/v1/studies/big"
        out = {"trials": args.big, "fill_s": round(fill_s, 1)}
        out["rss_start_mb"] = round(d.rss_kb() / 1024, 1)
        out["page_first"] = timed(u + "/trials?limit=100")
        out["page_middle"] = timed(u + f"/trials?after={args.big // 2}&limit=100")
        out["page_last"] = timed(u + "/trials?order=desc&limit=100")
        out["best"] = timed(u + "/best")
        out["study_counts"] = timed(u)
        out["study_list"] = timed(d.url + "/api/v1/studies")
        # one worker cycle on the big study: suggest, heartbeat, complete
        cyc = {"suggest": [], "heartbeat": [], "complete": []}
        for i in range(20):
            st, b, ms = call(u + "/suggest", "POST", {"worker": "bench"})
            cyc["suggest"].append(ms)
            tid = b["trials"][0]["id"]
            cyc["heartbeat"].append(call(d.url + f"/api/v1/trials/{tid}/heartbeat", "POST",
                                         {"worker": "bench"})[2])
            cyc["complete"].append(call(d.url + f"/api/v1/trials/{tid}/complete", "POST",
                                        {"worker": "bench", "value": 1.0})[2])
        for k, v in cyc.items():
            v.sort()
            out["big_" + k] = {"p50_ms": round(statistics.median(v), 2), "max_ms": round(v[-1], 2)}
        out["rss_mb"] = round(d.rss_kb() / 1024, 1)
        out["rss_peak_mb"] = round(d.rss_kb("VmHWM") / 1024, 1)

        # an idle worker: the study's only slot is held, so it waits for trials
        call(d.url + "/api/v1/studies", "POST",
             dict(SPEC, name="idle", budget={"max_trials": 10, "max_parallel": 1}))
        call(d.url + "/api/v1/studies/idle/suggest", "POST", {"worker": "holder"})
        w = subprocess.Popen([args.hpo, "--server", d.url, "worker", "--study", "idle",
                              "--work-dir", os.path.join(tmp, "work"), "--", "true"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        alive = w.poll() is None
        out["worker_rss_mb"] = round(proc_kb(w.pid) / 1024, 2) if alive else None
        out["worker_anon_mb"] = round(proc_kb(w.pid, "RssAnon") / 1024, 2) if alive else None
        w.send_signal(signal.SIGTERM)
        w.wait(30)
        return out
    finally:
        d.stop()


def median_run(runs):
    """The run with the median trials/s, with every run's trials/s beside it."""
    ranked = sorted(runs, key=lambda r: r["trials_per_s"])
    mid = dict(ranked[(len(ranked) - 1) // 2])
    mid["runs_trials_per_s"] = [r["trials_per_s"] for r in runs]
    mid["errors_all_runs"] = sum(r.get("errors", 0) for r in runs)
    return mid


def fmt(v, nd=1):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hpod", required=True)
    ap.add_argument("--hpo", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--optuna", default="")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", default="1,8,32,128")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hpod-config", default=None,
                    help="a config file for the daemons under load (e.g. threads = 2)")
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",") if x]
    tmp = tempfile.mkdtemp(prefix="hpod-bench-")
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    results = {"command": " ".join(sys.argv), "date": started, "cpus": os.cpu_count(),
               "load": [], "optuna": []}
    try:
        for n in counts:
            # The two systems take turns, --rounds times each, and each side is
            # its median run: on a shared machine a slow minute then hits both.
            hp, op = [], []
            for _ in range(args.rounds):
                hp.append(run_load(args, tmp, n))
                op.append(run_optuna(args, n))
            results["load"].append(median_run(hp))
            results["optuna"].append(median_run([o for o in op if o]) if any(op) else None)
        results["big"] = run_big(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"# hpod server benchmark, {started}, {os.cpu_count()} CPUs")
    print(f"# command: {results['command']}")
    print(f"# {args.seconds:g} s per run; random sampler; each trial is suggest, one heartbeat, complete")
    print(f"# {args.rounds} runs of each side, taking turns; each cell is the run with the median "
          "trials/s (the range is below the table)")
    if args.hpod_config:
        with open(args.hpod_config) as f:
            print("# hpod config: " + "; ".join(l.strip() for l in f if l.strip()))
    print()
    print("| workers | hpod trials/s | hpod CPU us/trial | errors | suggest p50/p99 ms | "
          "heartbeat p50/p99 ms | complete p50/p99 ms | Optuna trials/s | Optuna p99 ms | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r, o in zip(results["load"], results["optuna"]):
        ratio = r["trials_per_s"] / o["trials_per_s"] if o and o["trials_per_s"] else None
        r["ratio"] = ratio
        cells = [str(r["workers"]), fmt(r["trials_per_s"]), fmt(r["hpod_cpu_us_per_trial"]),
                 str(r["errors"])]
        for c in ("suggest", "heartbeat", "complete"):
            cells.append(f"{fmt(r[c]['p50_ms'], 2)} / {fmt(r[c]['p99_ms'], 2)}")
        cells += [fmt(o["trials_per_s"]) if o else "-", fmt(o["p99_ms"]) if o else "-",
                  f"{ratio:.0f}x" if ratio else "-"]
        print("| " + " | ".join(cells) + " |")
    print()
    for r, o in zip(results["load"], results["optuna"]):
        hr = r["runs_trials_per_s"]
        orr = o["runs_trials_per_s"] if o else []
        print(f"{r['workers']} workers, every run: hpod {min(hr):.0f}-{max(hr):.0f} trials/s"
              + (f", Optuna {min(orr):.1f}-{max(orr):.1f}" if orr else "")
              + f"; errors in all hpod runs: {r['errors_all_runs']}")
    b = results["big"]
    print()
    print(f"Study of {b['trials']} finished trials (p50 / p99 over 30 requests, ms):")
    print("| request | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for k in ("page_first", "page_middle", "page_last", "best", "study_counts", "study_list"):
        print(f"| {k} | {b[k]['p50_ms']:.2f} | {b[k]['p99_ms']:.2f} |")
    for k in ("big_suggest", "big_heartbeat", "big_complete"):
        print(f"| {k} (20 cycles, max) | {b[k]['p50_ms']:.2f} | {b[k]['max_ms']:.2f} |")
    print()
    print(f"hpod RSS: {b['rss_start_mb']} MB at start, {b['rss_mb']} MB after the reads and "
          f"cycles (peak {b['rss_peak_mb']} MB); idle hpo worker: {b['worker_rss_mb']} MB resident, "
          f"{b['worker_anon_mb']} MB of it private (the rest is shared library pages)")

    print()
    checks = []
    at32 = [(r, o) for r, o in zip(results["load"], results["optuna"]) if r["workers"] == 32]
    if at32:
        r, o = at32[0]
        if r.get("ratio"):
            checks.append((r["ratio"] >= 50, f"32 workers: {r['ratio']:.0f}x Optuna (target >= 50x)"))
        worst = max(r[c]["p99_ms"] for c in ("suggest", "heartbeat", "complete"))
        checks.append((worst <= 20, f"32 workers: worst p99 {worst:.1f} ms (target <= 20 ms)"))
        checks.append((r["errors_all_runs"] == 0,
                       f"32 workers: {r['errors_all_runs']} errors in {args.rounds} runs (target 0)"))
    worst_read = max(b[k]["p99_ms"] for k in ("page_first", "page_middle", "page_last", "best",
                                               "study_counts"))
    checks.append((worst_read <= 50, f"100k trials: slowest read p99 {worst_read:.1f} ms (target <= 50 ms)"))
    checks.append((b["rss_peak_mb"] <= 30, f"100k trials: hpod peak RSS {b['rss_peak_mb']} MB (target <= 30 MB)"))
    if b["worker_rss_mb"] is not None:
        checks.append((b["worker_rss_mb"] <= 5, f"idle hpo worker: {b['worker_rss_mb']} MB resident, "
                       f"{b['worker_anon_mb']} MB private (target <= 5 MB)"))
    for ok, text in checks:
        print(("MET   " if ok else "MISSED") + " " + text)
    results["checks"] = [{"met": ok, "what": t} for ok, t in checks]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

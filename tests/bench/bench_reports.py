#!/usr/bin/python3
"""make bench-reports: what judging reports costs the rest of the daemon.

A pruner judges every report, and the curve pruner's judgement (its own curve
fitted by four families, a parabola through up to 1,000 completed trials) takes
milliseconds. This measures what that does to everyone else: one daemon holds a
study of --trials completed trials of --steps reports each (imported), and
--reporters threads run trials on it as workers do (suggest, a report per
step, complete; every report judged), while a probe thread runs short trials
of another study (suggest, heartbeat, complete) and times each call. The same
load runs once on a copy of the study with no pruner, the baseline of the same
run: the report path without a judgement. A last row times the probe alone.

Printed: reports per second and their p50/p99 latency, the probe's calls per
second and their p50/p99 latency, and the ratios of the curve rows to the
baseline's. Only the standard library; any Python 3 runs it.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pruning import Hpod, http  # noqa: E402

SPACE = [{"name": "x", "type": "float", "low": 0, "high": 1}]


def spec(name, pruner):
    return {"name": name, "objective": {"name": "loss", "direction": "minimize"},
            "params": SPACE, "sampler": {"name": "random", "seed": 1}, "pruner": pruner,
            "budget": {"max_trials": 1000000, "max_parallel": 1000, "max_failures": 1000},
            "lease": {"heartbeat_s": 30, "stale_after": 4, "max_retries": 2}}


def study_doc(name, pruner, trials, steps):
    """An export of name: trials completed trials with a learning curve each."""
    rng = random.Random(7)
    out = []
    for i in range(trials):
        floor, span, rate = rng.uniform(0.1, 0.5), rng.uniform(0.2, 1.0), rng.uniform(0.3, 1.2)
        curve = [floor + span * k ** -rate + rng.gauss(0, 0.005) for k in range(1, steps + 1)]
        out.append({"number": i, "state": "completed", "params": {"x": rng.random()},
                    "value": curve[-1], "source": "random", "worker": f"w{i % 8}:0",
                    "attempts": 1, "created_at": "2026-01-01T00:00:00Z",
                    "started_at": "2026-01-01T00:00:00Z",
                    "finished_at": "2026-01-01T00:01:00Z",
                    "reports": [{"step": k + 1, "value": v} for k, v in enumerate(curve)]})
    return {"format": "hpod-study", "version": 1, "spec": spec(name, pruner),
            "state": "running", "trials": out}


class Stop:
    def __init__(self, seconds):
        self.until = time.monotonic() + seconds

    def __bool__(self):
        return time.monotonic() >= self.until


def timed(url, method, body):
    t0 = time.perf_counter()
    status, out = http(url, method, body)
    return status, out, (time.perf_counter() - t0) * 1000


def reporter(d, study, worker, steps, stop, lat, errors):
    """Run trials of study as a worker: every report is judged."""
    while not stop:
        st, out = d.call("POST", f"/api/v1/studies/{study}/suggest", {"worker": worker})
        if st != 200 or not out.get("trials"):
            errors.append(f"suggest {st}")
            return
        tid = out["trials"][0]["id"]
        for k in range(1, steps):
            # better than every completed trial: judged, never stopped
            st, out, ms = timed(f"{d.url}/api/v1/trials/{tid}/report", "POST",
                                {"worker": worker, "step": k, "value": 0.05 + 0.05 / k})
            if st != 200:
                errors.append(f"report {st}")
                return
            lat.append(ms)
            if out.get("action") == "prune" or stop:
                break
        d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": worker, "value": 0.05})


def probe(d, study, stop, lat, errors):
    """Short trials of another study: each call writes, and waits for the lock."""
    while not stop:
        st, out, ms = timed(f"{d.url}/api/v1/studies/{study}/suggest", "POST",
                            {"worker": "probe:0"})
        if st != 200 or not out.get("trials"):
            errors.append(f"probe suggest {st}")
            return
        lat.append(ms)
        tid = out["trials"][0]["id"]
        for path, body in (("heartbeat", {"worker": "probe:0"}),
                           ("complete", {"worker": "probe:0", "value": 1.0})):
            st, _, ms = timed(f"{d.url}/api/v1/trials/{tid}/{path}", "POST", body)
            if st != 200:
                errors.append(f"probe {path} {st}")
                return
            lat.append(ms)


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(d, study, a):
    stop = Stop(a.seconds)
    rep, prb, errors = [], [], []
    threads = [threading.Thread(target=probe, args=(d, "probe", stop, prb, errors))]
    if study:
        threads += [threading.Thread(target=reporter,
                                     args=(d, study, f"r{i}:0", a.steps, stop, rep, errors))
                    for i in range(a.reporters)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {"study": study or "(none)", "reports_s": len(rep) / wall, "report_p50": pct(rep, 0.5),
            "report_p99": pct(rep, 0.99), "probe_s": len(prb) / wall,
            "probe_p50": pct(prb, 0.5), "probe_p99": pct(prb, 0.99), "errors": errors}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hpod", required=True)
    ap.add_argument("--trials", type=int, default=1000, help="completed trials in the study")
    ap.add_argument("--steps", type=int, default=30, help="reports a trial")
    ap.add_argument("--reporters", type=int, default=4, help="workers reporting at once")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=3, help="runs of each row; the median is shown")
    ap.add_argument("--out", help="write the figures here as JSON")
    a = ap.parse_args()
    print("command: " + " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
          f"{os.cpu_count()} cores")
    tmp = tempfile.mkdtemp(prefix="bench-reports-")
    d = Hpod(a.hpod, tmp)
    rows = {}
    try:
        for name, pruner in (("judged-none", {"name": "none"}),
                             ("judged-curve", {"name": "curve"})):
            st, out = d.call("POST", "/api/v1/studies/import",
                             study_doc(name, pruner, a.trials, a.steps))
            if st not in (200, 201):
                raise SystemExit(f"bench-reports: import of {name}: {st} {out}")
        st, out = d.call("POST", "/api/v1/studies", spec("probe", {"name": "none"}))
        if st != 201:
            raise SystemExit(f"bench-reports: probe study: {st} {out}")
        order = ["judged-none", "judged-curve", None]
        runs = {k: [] for k in order}
        for _ in range(a.rounds):  # the rows take turns, so that a slow spell hits all
            for study in order:
                r = run(d, study, a)
                if r["errors"]:
                    raise SystemExit(f"bench-reports: {r['study']}: {r['errors'][:3]}")
                runs[study].append(r)
        for study in order:
            rs = runs[study]
            rows[study] = {k: statistics.median(r[k] for r in rs) for k in rs[0]
                           if k not in ("study", "errors")}
            rows[study]["study"] = study or "(none)"
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{a.trials} completed trials of {a.steps} reports; {a.reporters} reporting "
          f"workers; {a.seconds:g} s a run, median of {a.rounds}")
    print("| reports to | reports/s | report p50 ms | report p99 ms | probe calls/s "
          "| probe p50 ms | probe p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {"judged-none": "no pruner", "judged-curve": "curve pruner", None: "(no reports)"}
    for study in order:
        r = rows[study]
        rep = (f"{r['reports_s']:.0f} | {r['report_p50']:.1f} | {r['report_p99']:.1f}"
               if study else "- | - | -")
        print(f"| {labels[study]} | {rep} | {r['probe_s']:.0f} | {r['probe_p50']:.1f} | "
              f"{r['probe_p99']:.1f} |")
    base, cur = rows["judged-none"], rows["judged-curve"]
    print(f"curve vs no pruner: reports/s x{cur['reports_s'] / base['reports_s']:.2f}, probe p50 "
          f"x{cur['probe_p50'] / base['probe_p50']:.2f}, probe p99 "
          f"x{cur['probe_p99'] / base['probe_p99']:.2f}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "rows": list(rows.values())}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

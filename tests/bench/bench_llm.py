#!/usr/bin/python3
"""LLM sampler benchmark: hpod's llm sampler on synthetic objectives.

Two tables, both through a real hpod with the llm sampler (one evaluation at a
time, max_parallel 1, which is the paper's loop), the objective computed here
and reported through the REST API:

1. the 2-D toy set of Zhang et al. (Branin, Rosenbrock, Himmelblau, Ackley, and
   the same functions shifted so that a memorised optimum does not help),
   10 evaluations, best value per run;
2. the six objectives of ../shared/bench/functions.md at budgets 10 and 30,
   median simple regret over runs (the statistic of `make bench-samplers`),
   for the llm sampler and for LLM-seeded GP (llm.init_trials 10, then gp).

The LLM columns are the LLM's own figures: each is computed from the trials
the LLM proposed only (source llm or llm+gp; for LLM-seeded GP, the LLM's
first 10 trials and the gp trials after them), never from trials a fallback
sampler served in its place. Beside them, the share of the LLM's trials
("llm trials" for the llm sampler, "seed llm trials" for the seeded runs'
first 10); when any share is below 100% the benchmark says which and exits 1:
such a column does not measure the LLM alone.

Token use per trial is reported for each row. The provider comes from hpod's
usual environment (HPOD_LLM_FORMAT, HPOD_LLM_BASE_URL, HPOD_LLM_MODEL,
HPOD_LLM_API_KEY); without HPOD_LLM_BASE_URL the benchmark says so and exits 0.
--fake runs against tests/fake-llm/fakellm.py instead (random valid answers),
by default one objective and one run: a check of this script, not a figure.

Usage: bench_llm.py --hpod PATH [--runs 3] [--budgets 10,30] [--only NAMES]
                    [--temperature 0] [--jobs 4] [--no-seeded] [--fake] [--out FILE]
                    [--max-tokens N]
Progress goes to standard error.
"""
import argparse
import concurrent.futures
import datetime
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import hpotest  # noqa: E402

TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
FAKE = os.path.join(TOP, "tests", "fake-llm", "fakellm.py")


LLM_SOURCES = ("llm", "llm+gp")  # trials the LLM proposed
SEED_TRIALS = 10  # llm.init_trials of the LLM-seeded GP runs


def from_method(kind, i, source):
    """Is trial i (from 0) with this source part of the method a column of
    kind ("llm" or "seeded") measures? Fallback trials never are."""
    if kind == "seeded" and i >= SEED_TRIALS:
        return not source.startswith("fallback:")
    return source in LLM_SOURCES


def log(msg):
    print(f"[bench-llm] {msg}", file=sys.stderr, flush=True)


# ---- objectives (formulas as given by the Virtual Library of Simulation
# ---- Experiments; all minimised) ----

def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def himmelblau(x):
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


def ackley(x):
    d = len(x)
    s1 = sum(v * v for v in x) / d
    s2 = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e


H6_ALPHA = [1.0, 1.2, 3.0, 3.2]
H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(H6_A[i][j] * (x[j] - H6_P[i][j] * 1e-4) ** 2 for j in range(6))
        total += H6_ALPHA[i] * math.exp(-inner)
    return -total


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    head = math.sin(math.pi * w[0]) ** 2
    mid = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return head + mid + tail


def styblinski_tang(x):
    return 0.5 * sum(v ** 4 - 16 * v ** 2 + 5 * v for v in x)


def shifted(f, delta):
    return lambda x: f([v - d for v, d in zip(x, delta)])


# name: (function, low bounds, high bounds, known minimum)
TOY = {
    "branin": (branin, [-5, 0], [10, 15], 0.397887),
    "rosenbrock": (rosenbrock, [-5, -5], [10, 10], 0.0),
    "himmelblau": (himmelblau, [-5, -5], [5, 5], 0.0),
    "ackley": (ackley, [-32.768, -32.768], [32.768, 32.768], 0.0),
    # Shifted: f(x - delta) on the same domain; a minimiser stays inside it.
    "branin_shifted": (shifted(branin, [1.5, 1.5]), [-5, 0], [10, 15], 0.397887),
    "rosenbrock_shifted": (shifted(rosenbrock, [1.7, -0.9]), [-5, -5], [10, 10], 0.0),
    "himmelblau_shifted": (shifted(himmelblau, [0.8, -0.6]), [-5, -5], [5, 5], 0.0),
    "ackley_shifted": (shifted(ackley, [7.3, -11.9]), [-32.768, -32.768], [32.768, 32.768], 0.0),
}
FUNCTIONS = {
    "branin": (branin, [-5, 0], [10, 15], 0.397887),
    "hartmann6": (hartmann6, [0] * 6, [1] * 6, -3.32237),
    "rosenbrock4": (rosenbrock, [-5] * 4, [10] * 4, 0.0),
    "ackley5": (ackley, [-32.768] * 5, [32.768] * 5, 0.0),
    "levy5": (levy, [-10] * 5, [10] * 5, 0.0),
    "styblinski_tang5": (styblinski_tang, [-5] * 5, [5] * 5, -39.16617 * 5),
}


def spec_for(name, obj, budget, run, temperature, init_trials=None, max_tokens=None):
    f, lo, hi, _ = obj
    d = len(lo)
    params = [{"name": f"x{i + 1}", "type": "float", "low": lo[i], "high": hi[i]}
              for i in range(d)]
    llm = {"temperature": temperature}
    if init_trials is not None:
        llm.update({"init_trials": init_trials, "then": "gp"})
    if max_tokens is not None:
        llm["max_tokens"] = max_tokens
    return {
        "name": name,
        "description": f"Minimise an unknown deterministic function of {d} real variables, a "
                       "standard test problem for global optimisation. Each evaluation returns "
                       "the function value at the chosen point.",
        "objective": {"name": "value", "direction": "minimize"},
        "params": params,
        "sampler": {"name": "llm", "seed": 1000 + run},
        "llm": llm,
        "budget": {"max_trials": budget, "max_parallel": 1, "max_failures": budget},
    }


def run_study(d, spec, obj, fake_url):
    """Create the study and evaluate its trials one at a time; returns a record."""
    f = obj[0]
    name = spec["name"]
    if fake_url:
        hpotest.http(fake_url + "/_script", "POST",
                     {"steps": [], "default": {"mode": "random_valid", "space": spec["params"]}})
    st, b = d.call("POST", "/api/v1/studies", spec)
    if st not in (200, 201):
        raise RuntimeError(f"{name}: study not created: {st} {b}")
    worker = f"bench:{name}"
    t0 = time.monotonic()
    while True:
        asked = time.monotonic()
        st, b = d.call("POST", f"/api/v1/studies/{name}/suggest",
                       {"worker": worker, "count": 1, "wait_s": 30}, timeout=60)
        if st != 200:
            raise RuntimeError(f"{name}: suggest answered {st}: {b}")
        if not b["trials"]:
            if b["study_state"] == "finished":
                break
            # a long-poll that ran out (the LLM still answering): ask again at once
            if time.monotonic() - asked < 1 or b["study_state"] != "running":
                time.sleep(min(max(b.get("retry_after_s", 1), 0.2), 5))
            continue
        t = b["trials"][0]
        x = [t["params"][p["name"]] for p in spec["params"]]
        st, r = d.call("POST", f"/api/v1/trials/{t['id']}/complete",
                       {"worker": worker, "state": "completed", "value": f(x)})
        if st != 200:
            raise RuntimeError(f"{name}: complete answered {st}: {r}")
    trials = []
    after = None
    while True:
        q = "" if after is None else f"&after={after}"
        st, b = d.call("GET", f"/api/v1/studies/{name}/trials?limit=500{q}")
        trials += b["trials"]
        if b["next_after"] is None:
            break
        after = b["next_after"]
    trials.sort(key=lambda t: t["number"])
    s = d.call("GET", f"/api/v1/studies/{name}")[1]
    calls, after = [], 0
    while True:
        st, b = d.call("GET", f"/api/v1/studies/{name}/llm-calls?limit=500&after={after}")
        if st != 200:
            break
        calls += [{"tokens_in": c["tokens_in"], "tokens_out": c["tokens_out"],
                   "trials": c["trials"], "error": c["error"]} for c in b["calls"]]
        if b["next_after"] is None:
            break
        after = b["next_after"]
    return {
        "name": name,
        "values": [t["value"] for t in trials],
        "sources": [t["source"] for t in trials],
        "tokens_in": s["llm"]["tokens_in"],
        "tokens_out": s["llm"]["tokens_out"],
        "cost": s["llm"].get("cost_usd", 0),
        "calls": len(calls),
        "call_list": calls,
        "wall_s": time.monotonic() - t0,
    }


def best_at(rec, k, kind):
    """The best value of the first k trials, counting only the method's own
    (from_method): None when it made none of them."""
    vals = [v for i, (v, s) in enumerate(zip(rec["values"][:k], rec["sources"]))
            if v is not None and from_method(kind, i, s)]
    return min(vals) if vals else None


def llm_share(recs, k):
    """(trials the LLM proposed, trials) over the first k trials of each record."""
    n = sum(min(len(r["sources"]), k) for r in recs)
    n_llm = sum(sum(1 for s in r["sources"][:k] if s in LLM_SOURCES) for r in recs)
    return n_llm, n


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def fmt(v):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.4g}"


def table(head, rows):
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(head))
    for r in rows:
        print(line(r))


def tokens_upto(rec, b):
    """Tokens of the calls made for the first b trials (failed calls count
    towards the trial that came after them)."""
    tin = tout = 0
    for c in rec["call_list"]:
        if c["trials"] and min(c["trials"]) >= b:
            break
        tin += c["tokens_in"]
        tout += c["tokens_out"]
    return tin, tout


def usage_cols(recs, b):
    """LLM trials out of all, and tokens in/out per trial, over the first b
    trials of each record."""
    n_llm, n = llm_share(recs, b)
    tin = sum(tokens_upto(r, b)[0] for r in recs)
    tout = sum(tokens_upto(r, b)[1] for r in recs)
    return [f"{n_llm}/{n}", fmt(tin / n) if n else "-", fmt(tout / n) if n else "-"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hpod", default=os.environ.get("HPOD_BIN", "hpod"))
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--budgets", default=None)
    ap.add_argument("--only", default=None, help="comma-separated objective names")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--no-seeded", action="store_true")
    ap.add_argument("--fake", action="store_true")
    ap.add_argument("--out", default="")
    ap.add_argument("--max-tokens", type=int, default=None,
                    help="llm.max_tokens of every study (default: the spec's default)")
    a = ap.parse_args()

    if a.fake:
        runs = a.runs or 1
        budgets = [int(b) for b in (a.budgets or "10").split(",")]
        only = set((a.only or "branin").split(","))
        seeded = not a.no_seeded
    else:
        if not os.environ.get("HPOD_LLM_BASE_URL"):
            print("bench-llm: no LLM endpoint configured: set HPOD_LLM_BASE_URL (and "
                  "HPOD_LLM_FORMAT, HPOD_LLM_MODEL, HPOD_LLM_API_KEY) to run it; skipped")
            return 0
        runs = a.runs or 3
        budgets = [int(b) for b in (a.budgets or "10,30").split(",")]
        only = set(a.only.split(",")) if a.only else None
        seeded = not a.no_seeded
    hpotest.HPOD = a.hpod
    toy = {k: v for k, v in TOY.items() if only is None or k in only}
    funcs = {k: v for k, v in FUNCTIONS.items() if only is None or k in only}
    top = max(budgets)
    seeded = seeded and top > 10  # LLM-seeded GP: 10 LLM trials, then gp

    fake = None
    env = {}
    if a.fake:
        fake = subprocess.Popen([sys.executable, FAKE], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        fake_url = fake.stdout.readline().decode().split()[-1]
        env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": fake_url + "/v1",
               "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": "bench-fake-key"}
        a.jobs = 1  # one scripted server: one study at a time
    else:
        fake_url = None
    model = env.get("HPOD_LLM_MODEL", os.environ.get("HPOD_LLM_MODEL", "(provider default)"))
    fmt_name = env.get("HPOD_LLM_FORMAT", os.environ.get("HPOD_LLM_FORMAT", "openai"))

    jobs = []  # (table, objective, kind, budget, run, spec, obj)
    for o, obj in toy.items():
        for r in range(runs):
            jobs.append(("toy", o, "llm", 10, r, spec_for(f"toy-{o}-r{r}", obj, 10, r,
                                                           a.temperature,
                                                           max_tokens=a.max_tokens), obj))
    for o, obj in funcs.items():
        for r in range(runs):
            jobs.append(("fn", o, "llm", top, r, spec_for(f"fn-{o}-b{top}-r{r}", obj, top, r,
                                                          a.temperature,
                                                          max_tokens=a.max_tokens), obj))
            if seeded:
                jobs.append(("fn", o, "seeded", top, r,
                             spec_for(f"fn-{o}-b{top}-r{r}-seeded", obj, top, r, a.temperature,
                                      init_trials=SEED_TRIALS, max_tokens=a.max_tokens), obj))
    results = {}
    t_start = time.monotonic()
    d = hpotest.Daemon(env=env)
    try:
        d.start()
        log(f"hpod at {d.url}, {len(jobs)} studies, {a.jobs} at a time")
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            futs = {pool.submit(run_study, d, j[5], j[6], fake_url): j for j in jobs}
            for fut in concurrent.futures.as_completed(futs):
                j = futs[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # a failed study is reported, the rest go on
                    log(f"{j[5]['name']}: {e}")
                    continue
                results.setdefault((j[0], j[1], j[2]), []).append(rec)
                log(f"done {rec['name']}: best {fmt(best_at(rec, len(rec['values']), j[2]))}, "
                    f"{llm_share([rec], len(rec['values']))[0]}/{len(rec['values'])} from the "
                    f"LLM, "
                    f"{rec['tokens_in']} tokens in, {rec['tokens_out']} out, "
                    f"{rec['wall_s']:.0f} s")
    finally:
        code = d.stop()
        if d.own_tmp:
            import shutil
            shutil.rmtree(d.tmp, ignore_errors=True)
        if fake:
            fake.kill()
            fake.wait()
    if code != 0:
        log(f"hpod exited with status {code}")

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"hpod llm sampler benchmark, {when}, model {model} ({fmt_name} format)"
          f"{' [fake LLM: random answers, not a figure]' if a.fake else ''}, {runs} run(s), "
          f"temperature {a.temperature:g}, one evaluation at a time")
    short = []  # LLM columns whose figures are not all the LLM's

    def check_share(column, o, b, n_llm, n):
        if n_llm < n:
            short.append(f"{column} {o} budget {b}: {n_llm} of {n} trials from the LLM")

    if toy:
        print()
        print("2-D toy set of Zhang et al., 10 evaluations: best value per run "
              "(lower is better)")
        head = ["objective", "minimum"] + [f"run {r + 1}" for r in range(runs)] + [
            "median regret", "llm trials", "tokens in/trial", "tokens out/trial"]
        rows = []
        for o, obj in toy.items():
            recs = results.get(("toy", o, "llm"), [])
            bests = [best_at(r, 10, "llm") for r in recs]
            cells = [fmt(b) for b in bests] + ["-"] * (runs - len(bests))
            reg = median([b - obj[3] for b in bests if b is not None])
            rows.append([o, fmt(obj[3])] + cells + [fmt(reg)] + usage_cols(recs, 10))
            check_share("2-D toy", o, 10, *llm_share(recs, 10))
        table(head, rows)
    if funcs:
        print()
        print(f"objectives of functions.md: median simple regret over {runs} run(s) "
              "(lower is better)")
        head = ["objective", "budget", "hpod llm"] + (["hpod llm->gp"] if seeded else []) + [
            "llm trials"] + (["seed llm trials"] if seeded else []) + [
            "tokens in/trial", "tokens out/trial"]
        rows = []
        for o, obj in funcs.items():
            recs = results.get(("fn", o, "llm"), [])
            srecs = results.get(("fn", o, "seeded"), [])
            for b in budgets:
                reg = median([best_at(r, b, "llm") - obj[3] for r in recs
                              if best_at(r, b, "llm") is not None])
                sreg = median([best_at(r, b, "seeded") - obj[3] for r in srecs
                               if best_at(r, b, "seeded") is not None])
                usage = usage_cols(recs, b)
                seed_share = llm_share(srecs, min(b, SEED_TRIALS))
                rows.append([o, str(b), fmt(reg)] + ([fmt(sreg)] if seeded else []) +
                            usage[:1] + ([f"{seed_share[0]}/{seed_share[1]}"] if seeded else [])
                            + usage[1:])
                check_share("hpod llm", o, b, *llm_share(recs, b))
                if seeded:
                    check_share("hpod llm->gp (first 10)", o, b, *seed_share)
        table(head, rows)
        print("(llm trials and tokens per trial: the llm sampler's runs, first BUDGET trials;"
              + (" seed llm trials: the seeded runs' first 10" if seeded else "") + ")")
    print("(LLM columns count only the LLM's trials, never a fallback sampler's)")
    total = time.monotonic() - t_start
    print(f"\nwall time {total / 60:.1f} min" if total >= 120 else f"\nwall time {total:.0f} s")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"date": when, "model": model, "format": fmt_name, "runs": runs,
                       "temperature": a.temperature, "fake": a.fake,
                       "studies": {f"{k[0]}/{k[1]}/{k[2]}": v for k, v in results.items()},
                       "wall_s": total}, f, indent=1)
        log(f"figures written to {a.out}")
    missing = len(jobs) - sum(len(v) for v in results.values())
    if missing:
        log(f"{missing} of {len(jobs)} studies failed")
        return 1
    if short:
        for line in short:
            log(f"not all from the LLM: {line}")
        log(f"{len(short)} LLM column figure(s) include trials a fallback sampler served: "
            "they do not measure the LLM (see hpod's log and GET .../llm-calls for why)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

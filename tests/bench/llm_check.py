"""make check's run of the LLM benchmark (tests/bench/bench_llm.py): its code
path against the fake LLM (one objective, one run), its refusal to run
without an endpoint, and a run where the fallback sampler serves most trials
(llm.max_tokens spent after the first call): the LLM columns then count the
LLM's trials only and the benchmark exits 1."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

from hpotest import HPOD, TOP_SRCDIR, Tap

tap = Tap()
BENCH = os.path.join(TOP_SRCDIR, "tests", "bench", "bench_llm.py")
env = {k: v for k, v in os.environ.items() if not k.startswith("HPOD_LLM_")}

p = subprocess.run([sys.executable, BENCH, "--hpod", HPOD], capture_output=True, text=True,
                   env=env, timeout=60)
tap.ok(p.returncode == 0 and "no LLM endpoint configured" in p.stdout,
       "without HPOD_LLM_BASE_URL the benchmark says so and exits 0", p.stdout + p.stderr)

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "bench-llm.json")
    p = subprocess.run([sys.executable, BENCH, "--hpod", HPOD, "--fake", "--out", out],
                       capture_output=True, text=True, env=env, timeout=300)
    tap.eq(p.returncode, 0, "fake run exits 0")
    if p.returncode != 0:
        tap.diag(p.stdout + p.stderr)
    lines = p.stdout.splitlines()
    tap.ok(any(l.startswith("objective  minimum  run 1") for l in lines) and
           any(l.startswith("objective  budget  hpod llm") for l in lines),
           "both tables printed", p.stdout)
    row = [l for l in lines if l.startswith("branin ")]
    tap.ok(len(row) == 2 and all("10/10" in l for l in row),
           "a branin row in each table, all 10 trials from the LLM", row)
    try:
        with open(out) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        data = {"error": str(e)}
    recs = data.get("studies", {}).get("toy/branin/llm", [])
    ok = len(recs) == 1 and len(recs[0]["values"]) == 10 and \
        all(v is not None and v >= 0.397887 - 1e-6 for v in recs[0]["values"])
    tap.ok(ok, "figures file: 10 branin values, none below the known minimum", data)
    tap.ok(len(recs) == 1 and recs[0]["tokens_in"] > 0 and recs[0]["tokens_out"] > 0 and
           recs[0]["calls"] >= 10, "figures file: tokens and calls counted", data)

# The token budget is spent by the first call: the fallback serves the rest.
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "bench-llm.json")
    p = subprocess.run([sys.executable, BENCH, "--hpod", HPOD, "--fake", "--max-tokens", "1",
                        "--out", out], capture_output=True, text=True, env=env, timeout=300)
    tap.eq(p.returncode, 1, "a run with fallback trials exits 1")
    try:
        with open(out) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        data = {"error": str(e)}
    recs = data.get("studies", {}).get("toy/branin/llm", [])
    rec = recs[0] if len(recs) == 1 else {"values": [], "sources": []}
    llm_vals = [v for v, s in zip(rec["values"], rec["sources"]) if s in ("llm", "llm+gp")]
    n_llm = len(llm_vals)
    tap.ok(1 <= n_llm < 10 and len(rec["values"]) == 10 and
           all(s.startswith("fallback:") for s in rec["sources"][n_llm:]),
           "the run's first trials from the LLM, the rest from the fallback", rec["sources"])
    toy = [l for l in p.stdout.splitlines() if l.startswith("branin ")]
    cells = toy[0].split() if toy else []
    best_llm = min(llm_vals) if llm_vals else None
    best_all = min(v for v in rec["values"] if v is not None) if rec["values"] else None
    want = f"{best_llm:.4g}" if best_llm is not None else "-"
    tap.ok(len(cells) > 2 and cells[2] == want and f"{n_llm}/10" in toy[0],
           f"the toy table's run is the best of the LLM's trials ({want}; of all trials "
           f"{best_all:.4g}), beside {n_llm}/10", toy)
    tap.ok(f"not all from the LLM: 2-D toy branin budget 10: {n_llm} of 10 trials from the LLM"
           in p.stderr and "do not measure the LLM" in p.stderr,
           "the benchmark says which LLM column is short", p.stderr[-600:])

# The columns' arithmetic on made-up runs where a fallback trial is the best.
spec = importlib.util.spec_from_file_location("bench_llm", BENCH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
run = {"values": [5.0, 0.1, 2.0, 0.2, 3.0],
       "sources": ["llm", "fallback:gp", "llm+gp", "fallback:gp", "llm"]}
tap.eq(bench.best_at(run, 5, "llm"), 2.0, "hpod llm: the best of the LLM's trials only")
tap.eq(bench.best_at(run, 1, "llm"), 5.0, "hpod llm: within the first BUDGET trials")
tap.eq(bench.best_at({"values": [1.0], "sources": ["fallback:gp"]}, 1, "llm"), None,
       "hpod llm: no figure when the LLM made none of the trials")
seeded = {"values": [4.0] * 10 + [0.5, 0.3], "sources": ["llm"] * 9 + ["fallback:gp", "gp",
                                                                      "fallback:gp"]}
tap.eq(bench.best_at(seeded, 12, "seeded"), 0.5,
       "hpod llm->gp: the LLM's seed trials and gp's after them, no fallback")
tap.eq(bench.llm_share([run, seeded], 5), (3 + 5, 10), "the share counts llm and llm+gp")
tap.done()

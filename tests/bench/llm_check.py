"""make check's run of the LLM benchmark (tests/bench/bench_llm.py): its code
path against the fake LLM (one objective, one run), and its refusal to run
without an endpoint."""
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
tap.done()

"""End to end: an LLM study with two objectives and a constraint, against the
scripted fake LLM.

The job reports an accuracy to maximize, a latency to minimize and a memory
figure that must stay at most 6. One worker slot and max_parallel 1 make the
paper's loop: each prompt holds every result so far. The prompts must present
both objectives with their directions and the constraint with its bound, mark
each finished trial's feasibility, and list the current Pareto front, the same
front the daemon's /pareto answers once the study is over; the answer schema
asks for an "aim" with each configuration, and the aims the LLM gave stay in
the audit log next to the trials they produced."""
import os
import subprocess
import sys

from hpotest import FAKE_LLM, HPO, Daemon, Tap, clear_llm_env, http

tap = Tap()
PY = sys.executable

clear_llm_env()

# accuracy rises with width, latency too; memory grows with width and batch
JOB = r"""
import json, os
p = json.load(open(os.environ["HPO_PARAMS_FILE"]))
w, b = p["width"], p["batch"]
acc = 1.0 - 1.0 / (1.0 + w / 40.0) - 0.002 * abs(b - 32) / 8
lat = 2.0 + w / 25.0 + b / 16.0
mem = w / 60.0 + b / 32.0
print(f"@hpo final acc={acc:.6f} latency_ms={lat:.6f} mem_gb={mem:.6f}", flush=True)
"""

SPACE = [
    {"name": "width", "type": "int", "low": 8, "high": 512, "log": True},
    {"name": "batch", "type": "int", "low": 8, "high": 128, "step": 8},
]
N = 10
AIM = "trade accuracy for latency near the knee of the front"


def dominates(a, b):
    """a, b: (acc, latency); acc maximized, latency minimized."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def front_of(trials):
    ok = [t for t in trials if t["state"] == "completed" and t["values"]["mem_gb"] <= 6]
    pts = {t["number"]: (t["values"]["acc"], t["values"]["latency_ms"]) for t in ok}
    return sorted(n for n in pts if not any(dominates(pts[m], pts[n]) for m in pts if m != n))


proc = subprocess.Popen([PY, FAKE_LLM], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
furl = proc.stdout.readline().decode().split()[-1]
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": furl + "/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": "sk-test-pareto-key-0123456789"}
try:
    with Daemon(env=env) as d:
        http(furl + "/_script", "POST",
             {"steps": [], "default": {"mode": "random_valid", "space": SPACE, "aim": AIM}})
        spec = {
            "name": "llm-pareto",
            "description": "a network whose width and batch size trade accuracy for latency",
            "objectives": [{"name": "acc", "direction": "maximize"},
                           {"name": "latency_ms", "direction": "minimize"}],
            "constraints": [{"name": "mem_gb", "max": 6}],
            "params": SPACE,
            "sampler": {"name": "llm", "seed": 3},
            "llm": {"provider": "default"},
            "budget": {"max_trials": N, "max_parallel": 1, "max_failures": 3},
        }
        st, b = d.call("POST", "/api/v1/studies", spec)
        tap.eq(st, 201, "a two-objective constrained LLM study is created")
        with open(os.path.join(d.tmp, "job.py"), "w") as f:
            f.write(JOB)
        with open(os.path.join(d.tmp, "worker.log"), "wb") as out:
            rc = subprocess.run([HPO, "worker", "--study", "llm-pareto", "--id", "w1",
                                 "--work-dir", os.path.join(d.tmp, "trials"), "--", PY,
                                 os.path.join(d.tmp, "job.py")],
                                env=dict(os.environ, HPO_SERVER=d.url), stdout=out,
                                stderr=subprocess.STDOUT, timeout=180).returncode
        tap.eq(rc, 0, "the worker runs the study to its end")
        trials = d.trials("llm-pareto")
        tap.eq([t["source"] for t in trials], ["llm"] * N, "every trial from the LLM")
        tap.ok(all(t["state"] == "completed" and set(t["values"]) >= {"acc", "latency_ms",
                                                                       "mem_gb"}
                   for t in trials), "every trial completed with its three metrics")

        reqs = [r for r in http(furl + "/_requests")[1] if r["path"].endswith("/chat/completions")]
        prompts = [r["body"]["messages"][-1]["content"] for r in reqs]
        tap.eq(len(prompts), N, "one call per trial")
        first = prompts[0]
        tap.ok('- "acc": higher is better (maximize)' in first and
               '- "latency_ms": lower is better (minimize)' in first and
               '- "mem_gb" <= 6' in first and "Pareto front" in first,
               "the prompt presents both objectives and the constraint", first[:1500])
        last = prompts[-1]
        done = trials[:N - 1]
        lines_ok = all(f"#{t['number']} " in last for t in done)
        feas = ["(completed, feasible" if t["values"]["mem_gb"] <= 6 else "(completed, infeasible"
                for t in done]
        tap.ok(lines_ok and all(f in last for f in set(feas)),
               "the last prompt lists every earlier trial with its feasibility", last[-2500:])
        want = front_of(done)
        listed = sorted(int(line[3:].split()[0]) for line in last.splitlines()
                        if line.startswith("- #") and " acc = " in line)
        tap.ok(len(want) > 0 and listed == want,
               f"the last prompt's front is the front of the trials before it ({want})",
               (listed, want))
        marked = sorted(t["number"] for t in done
                        if f"#{t['number']} " in last and "on the front)" in
                        last.split(f"\n#{t['number']} ", 1)[-1].split("\n", 1)[0])
        tap.eq(marked, want, "front trials are marked in the history")
        schema = (reqs[0]["body"].get("response_format") or {}).get("json_schema", {}).get(
            "schema") or reqs[0]["body"].get("guided_json")
        asked = ("aim" in (schema or {}).get("required", [])) or '"aim"' in first
        tap.ok(asked, "the answer format asks for an aim", reqs[0]["body"].get("response_format"))

        st, calls = d.call("GET", "/api/v1/studies/llm-pareto/llm-calls?limit=100")
        with_trials = [c for c in calls["calls"] if c["trials"]]
        tap.ok(len(with_trials) == N and all(AIM in (c["reply"] or "") for c in with_trials),
               "the audit log keeps each proposal's aim with the trial it produced")
        tap.ok(all("aim" not in t["params"] for t in trials), "the aim is not a parameter")

        st, p = d.call("GET", "/api/v1/studies/llm-pareto/pareto")
        tap.eq(st, 200, "GET /pareto answers")
        if st == 200:
            tap.eq(sorted(t["number"] for t in p["trials"]), front_of(trials),
                   "/pareto holds the front of the finished study")
        r = d.hpo("best", "llm-pareto")
        tap.ok(r.returncode == 0 and
               f"Pareto front: {len(front_of(trials))} trial" in r.stdout and
               "acc (max)" in r.stdout and "latency_ms (min)" in r.stdout,
               "hpo best prints the front", r.stdout + r.stderr)
finally:
    proc.kill()
    proc.wait()
tap.done()

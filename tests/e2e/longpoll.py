"""End to end: hpo worker's long-polls while the daemon has no trial ready.

1. A study whose only free slot is taken: a worker with --wait 1 asks again as
   soon as each long-poll runs out (not after the daemon's retry_after_s), and
   gets the trial the moment the slot frees.
2. An llm study whose provider answers after 8 s, a worker with --wait 1:
   its long-polls run out again and again while the LLM thinks; they are
   re-issued quietly, and every trial completes.
3. `hpo worker --help` prints the worker's options."""
import os
import re
import subprocess
import sys
import time

from hpotest import FAKE_LLM, HPO, Daemon, Tap, clear_llm_env, http, simple_spec

tap = Tap()
PY = sys.executable

clear_llm_env()

JOB = r"""
import json, os
p = json.load(open(os.environ["HPO_PARAMS_FILE"]))
print(f"@hpo final loss={(p['x'] - 1.0) ** 2}", flush=True)
"""


def suggests(d):
    """Suggest requests the daemon answered 200, from /metrics."""
    st, text, _ = http(d.url + "/metrics")
    m = re.search(r'^hpod_http_requests_total\{route="suggest",status="200"\} (\d+)$',
                  text if st == 200 else "", re.M)
    return int(m.group(1)) if m else 0


def start_worker(d, study, wait, log):
    e = dict(os.environ, HPO_SERVER=d.url)
    out = open(log, "wb")
    return subprocess.Popen([HPO, "worker", "--study", study, "--id", f"w-{study}",
                             "--wait", str(wait), "--work-dir", os.path.join(d.tmp, "trials"),
                             "--", PY, os.path.join(d.tmp, "job.py")],
                            stdout=out, stderr=subprocess.STDOUT, env=e)


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


# 3. the worker's own usage
p = subprocess.run([HPO, "worker", "--help"], capture_output=True, text=True, timeout=10)
tap.ok(p.returncode == 0 and "--wait S" in p.stdout and "default 20" in p.stdout
       and "--study NAME" in p.stdout, "hpo worker --help prints the worker's options, exit 0",
       (p.returncode, p.stdout[:200], p.stderr))

# 1. a held slot: every long-poll that runs out is re-issued at once
with Daemon() as d:
    with open(os.path.join(d.tmp, "job.py"), "w") as f:
        f.write(JOB)
    spec = simple_spec("held", max_trials=2)
    spec["sampler"] = {"name": "random", "seed": 3}
    spec["budget"] = {"max_trials": 2, "max_parallel": 1}
    spec["lease"] = {"heartbeat_s": 30, "stale_after": 2, "max_retries": 1}
    st, _ = d.call("POST", "/api/v1/studies", spec)
    tap.eq(st, 201, "study created")
    st, b = d.call("POST", "/api/v1/studies/held/suggest", {"worker": "holder:0"})
    held = b["trials"][0]["id"] if st == 200 and b.get("trials") else None
    tap.ok(held is not None, "another worker holds the only slot", (st, b))
    before = suggests(d)
    log = os.path.join(d.tmp, "worker-held.log")
    w = start_worker(d, "held", 1, log)
    hold_s = 6
    time.sleep(hold_s)
    during = suggests(d) - before
    # the daemon advises retry_after_s 2 on an empty answer; a worker that slept
    # it would ask about hold_s / 3 times, one that asks again at once hold_s times
    tap.ok(during >= hold_s - 1, f"long-polls re-issued at once while the slot is held "
           f"({during} in {hold_s} s with --wait 1)", during)
    t0 = time.time()
    st, _ = d.call("POST", f"/api/v1/trials/{held}/complete",
                   {"worker": "holder:0", "state": "completed", "value": 1.0})
    tap.eq(st, 200, "the held trial completes")
    try:
        code = w.wait(30)
    except subprocess.TimeoutExpired:
        w.kill()
        code = None
    took = time.time() - t0
    tap.eq(code, 0, "the worker exits 0 when the study finishes")
    trials = d.trials("held")
    tap.ok(len(trials) == 2 and all(t["state"] == "completed" for t in trials),
           "both trials completed", [(t["number"], t["state"]) for t in trials])
    tap.ok(took < 10, f"the worker got the freed slot at once ({took:.1f} s)", took)
    text = read(log)
    tap.ok("suggest answered" not in text and "no trials for now" not in text
           and "unreachable" not in text, "nothing printed for the re-issued polls", text)

# 2. an llm study whose provider answers after 8 s
proc = subprocess.Popen([PY, FAKE_LLM], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
line = proc.stdout.readline().decode()
furl = line.split()[-1] if line.startswith("fakellm listening on ") else None
if not furl:
    tap.ok(False, "the fake LLM starts", line)
    tap.done()
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": furl + "/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": "sk-longpoll-test-key-5be1"}
try:
    with Daemon(env=env) as d:
        with open(os.path.join(d.tmp, "job.py"), "w") as f:
            f.write(JOB)
        space = simple_spec("x")["params"]
        st, _, _ = http(furl + "/_script", "POST", {
            "steps": [], "default": {"mode": "random_valid", "space": space, "delay": 8}})
        tap.eq(st, 200, "the fake LLM answers after 8 s")
        n = 5
        spec = simple_spec("slow", max_trials=n)
        spec["sampler"] = {"name": "llm", "seed": 5}
        spec["llm"] = {"provider": "default"}
        spec["budget"] = {"max_trials": n, "max_parallel": 1, "max_failures": 2}
        st, b = d.call("POST", "/api/v1/studies", spec)
        tap.eq(st, 201, "llm study created")
        before = suggests(d)
        log = os.path.join(d.tmp, "worker-slow.log")
        t0 = time.time()
        w = start_worker(d, "slow", 1, log)
        try:
            code = w.wait(240)
        except subprocess.TimeoutExpired:
            w.kill()
            code = None
        took = time.time() - t0
        asked = suggests(d) - before
        tap.eq(code, 0, f"the worker exits 0 when the study finishes ({took:.0f} s)")
        trials = d.trials("slow")
        tap.ok(len(trials) == n and all(t["state"] == "completed" for t in trials),
               f"all {n} trials completed", [(t["number"], t["state"], t["source"])
                                             for t in trials])
        sources = [t["source"] for t in trials]
        # 8 s replies, an instant objective: the study waits for the LLM
        tap.ok(all(s == "llm" for s in sources),
               "every trial from the LLM with 8 s replies and an instant objective", sources)
        # every 8 s answer was waited for with 1 s long-polls, re-issued at once
        tap.ok(asked >= n * 4, f"long-polls re-issued while the LLM answered ({asked} suggests "
               f"for {n} trials)", asked)
        text = read(log)
        tap.ok("suggest answered" not in text and "no trials for now" not in text
               and "unreachable" not in text, "nothing printed for the re-issued polls", text)
        tap.diag(f"sources: {sources}, {asked} suggests, {took:.1f} s")
finally:
    proc.terminate()
    proc.wait()
tap.done()

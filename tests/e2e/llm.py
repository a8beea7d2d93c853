"""End to end: the llm sampler inside hpod, against the scripted fake LLM.

Four worker slots run studies whose provider misbehaves in every way the fake
server knows (timeouts, 429 with Retry-After, 5xx, resets, malformed,
truncated and huge bodies, empty answers, invalid and repeated
configurations, prose around the JSON, an error that echoes the API key), in
both wire formats. Every trial must say where it came from, every exchange
must be in the audit log with its tokens counted, and the API key must appear
nowhere but in the requests to the provider. Then: llm.max_tokens, the
init_trials hybrids, rank mode, and the refusal without a provider."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from hpotest import FAKE_LLM, HPO, Daemon, Tap, clear_llm_env, http, simple_spec, wait_until

tap = Tap()
PY = sys.executable
KEY = "sk-hpodtest-7Qz3-DISTINCTIVE-KEY-41c9e2"
KEY2 = "ant-hpodtest-Vb81-OTHER-KEY-d04f"

clear_llm_env()

# The job: value from the params, a short sleep; it dumps its environment so
# that the test can look for the key there.
JOB = r"""
import json, os, sys, time
p = json.load(open(os.environ["HPO_PARAMS_FILE"]))
with open(os.path.join(os.environ["HPO_TRIAL_DIR"], "env.json"), "w") as f:
    json.dump(dict(os.environ), f)
print("env:", " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())), flush=True)
time.sleep(float(os.environ.get("JOB_SLEEP", "0.2")))
print(f"@hpo final loss={(p['x'] - 1.0) ** 2 + p['n'] * 0.01}", flush=True)
"""


def start_fake():
    proc = subprocess.Popen([PY, FAKE_LLM], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("fakellm listening on "):
        raise RuntimeError(f"fakellm did not start: {line!r}")
    return proc, line.split()[-1]


def script(url, obj):
    st, _, _ = http(url + "/_script", "POST", obj)
    assert st == 200


def fake_get(url, path):
    return http(url + path)[1]


def llm_spec(name, max_trials, provider="default", **llm):
    spec = simple_spec(name, max_trials=max_trials)
    spec["description"] = "a quadratic in x with a small penalty on n"
    spec["sampler"] = {"name": "llm", "seed": 5}
    spec["llm"] = dict({"provider": provider}, **llm)
    spec["budget"] = {"max_trials": max_trials, "max_parallel": 4, "max_failures": 5}
    return spec


def run_workers(d, study, slots=4, job_sleep="0.2", timeout=180):
    e = dict(os.environ, HPO_SERVER=d.url, JOB_SLEEP=job_sleep)
    log = os.path.join(d.tmp, f"worker-{study}.log")
    with open(log, "wb") as out:
        p = subprocess.run([HPO, "worker", "--study", study, "--id", f"w-{study}",
                            "--slots", str(slots), "--work-dir", os.path.join(d.tmp, "trials"),
                            "--", PY, os.path.join(d.tmp, "job.py")],
                           stdout=out, stderr=subprocess.STDOUT, env=e, timeout=timeout)
    return p.returncode


def all_trials(d, name):
    return d.trials(name, limit=7)


def all_calls(d, name, limit=3):
    """The audit log, paged; returns (calls, raw page texts)."""
    out, texts, after = [], [], 0
    for _ in range(1000):
        st, b, _ = http(f"{d.url}/api/v1/studies/{name}/llm-calls?limit={limit}&after={after}")
        texts.append(json.dumps(b))
        if st != 200:
            break
        out += b["calls"]
        if b["next_after"] is None:
            break
        after = b["next_after"]
    return out, texts


def faults(space):
    """One pass over every misbehaviour, each followed by something that works."""
    good = {"mode": "random_valid", "space": space}
    dup = {"x": 2.25, "n": 3, "opt": "adam"}
    return [
        # transport: retried inside one call (timeout_s is 1, max_retries 3)
        {"fault": "timeout", "seconds": 2.5}, {"status": 429, "retry_after": 1},
        {"status": 500}, good,
        {"status": 503}, {"fault": "reset"}, good,
        # bodies the client cannot use: the call fails, the study backs off
        {"fault": "malformed"}, good,
        {"fault": "truncated"}, good,
        {"fault": "empty_choices"}, good,
        {"fault": "huge", "mb": 5}, good,
        {"fault": "echo_key"}, good,
        # replies that are not valid configurations: asked again with the reason
        {"config": {"x": 50.0, "n": 3, "opt": "sgd"}},
        {"config": {"x": "big", "n": 3, "opt": "sgd"}},
        {"config": {"x": 1.0, "n": 2.5, "opt": "sgd", "extra": 1}},  # re-asks used up
        good,
        {"config": {"x": 1.0}},
        {"reply": "Looking at the results, lower x seems better.\n```json\n"
                  "{\"x\": -0.75, \"n\": 2, \"opt\": \"sgd\"}\n```\nLet me know how it goes."},
        {"config": dup}, {"config": dup}, good,
        {"reply": "Here is my choice: {\"x\": 0.5, \"n\": 4, \"opt\": \"adam\"} as asked."},
    ]


def secrets_absent(d, names, extra_texts, what):
    blobs = []
    for f in glob.glob(d.db + "*"):
        with open(f, "rb") as fh:
            blobs.append((f, fh.read()))
    bad = [f for f, b in blobs if KEY.encode() in b or KEY2.encode() in b]
    tap.eq(bad, [], f"{what}: the API keys are not in the database files")
    texts = list(extra_texts)
    for path in ["/api/v1/studies", "/metrics", "/api/v1/version"]:
        texts.append(json.dumps(d.call("GET", path)[1]))
    for n in names:
        texts.append(json.dumps(d.call("GET", f"/api/v1/studies/{n}")[1]))
        texts.append(json.dumps(all_trials(d, n)))
        for t in all_trials(d, n):
            texts.append(json.dumps(d.call("GET", f"/api/v1/trials/{t['id']}")[1]))
        texts += all_calls(d, n, limit=50)[1]
    tap.ok(all(KEY not in t and KEY2 not in t for t in texts),
           f"{what}: the API keys are in no API answer ({len(texts)} answers)")
    log = d.log()
    tap.ok(KEY not in log and KEY2 not in log, f"{what}: the API keys are not in hpod's log")
    wtexts = []
    for f in glob.glob(os.path.join(d.tmp, "worker-*.log")) + \
            glob.glob(os.path.join(d.tmp, "trials", "**", "*"), recursive=True):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                wtexts.append(fh.read())
    tap.ok(len(wtexts) > 0 and all(KEY.encode() not in t and KEY2.encode() not in t
                                   for t in wtexts),
           f"{what}: the API keys are not in any worker's output or job environment "
           f"({len(wtexts)} files)")


def check_study(d, name, fake_url, path_suffix, key, max_trials):
    s = d.call("GET", f"/api/v1/studies/{name}")[1]
    tap.eq(s["state"], "finished", f"{name}: finished")
    trials = all_trials(d, name)
    tap.eq(len(trials), max_trials, f"{name}: ran to max_trials")
    tap.ok(all(t["state"] == "completed" for t in trials), f"{name}: every trial completed")
    sources = [t["source"] for t in trials]
    tap.ok(all(x == "llm" or x.startswith("fallback:") for x in sources),
           f"{name}: every trial has source llm or fallback:*", sources)
    n_llm = sources.count("llm")
    tap.diag(f"{name}: sources {' '.join(sources)}")
    tap.ok(n_llm >= max_trials // 3, f"{name}: most trials from the LLM ({n_llm})", sources)
    # each failed call is followed by one that works well within the waiting
    # bound (4.35 s with timeout_s 1, max_retries 3, backoff_s 0.05), so the
    # suggests wait for the LLM rather than take the fallback
    tap.ok(not any(x.startswith("fallback:") for x in sources),
           f"{name}: no fallback while the provider's failures were brief", sources)
    calls, _ = all_calls(d, name)
    # each retried fault is an exchange of its own in the audit log
    kinds = ["no complete reply", "HTTP 429", "HTTP 500", "HTTP 503", "not valid JSON"]
    per_kind = [sum(1 for c in calls if k in (c["error"] or "")) for k in kinds]
    tap.ok(all(n >= 1 for n in per_kind),
           f"{name}: every retried fault has its own audit row", list(zip(kinds, per_kind)))
    rows = d.sql("SELECT COUNT(*) FROM llm_calls WHERE study_id = (SELECT id FROM studies "
                 "WHERE name = ?)", (name,))[0][0]
    tap.ok(len(calls) == rows and rows > 0,
           f"{name}: GET llm-calls pages through every audit row ({len(calls)} of {rows})")
    tap.eq(sorted(c["id"] for c in calls), sorted(set(c["id"] for c in calls)),
           f"{name}: no audit row twice across pages")
    llm_numbers = sorted(t["number"] for t in trials if t["source"] == "llm")
    listed = sorted(n for c in calls for n in c["trials"])
    tap.eq(listed, llm_numbers, f"{name}: each LLM trial is listed by exactly one call")
    tap.ok(all(c["reply"] and c["status"] == 200 for c in calls if c["trials"]),
           f"{name}: calls that gave trials hold the reply and status 200")
    tap.ok(all(isinstance(c["request"], list) and c["request"][0]["role"] == "system"
               for c in calls), f"{name}: every audit row holds the messages sent")
    errors = " | ".join(c["error"] or "" for c in calls)
    for word, why in [("JSON", "malformed or truncated body"), ("no ", "empty answer"),
                      ("out of range", "value out of range"), ("[redacted]", "echoed key")]:
        tap.ok(word in errors, f"{name}: audit log records the {why}", errors[:2000])
    tin = sum(c["tokens_in"] for c in calls)
    tout = sum(c["tokens_out"] for c in calls)
    tap.ok(tin > 0 and tout > 0 and s["llm"]["tokens_in"] == tin and s["llm"]["tokens_out"] == tout,
           f"{name}: study token totals equal the audit log's ({tin} in, {tout} out)",
           s.get("llm"))
    tap.ok(s["llm"]["cost_usd"] > 0, f"{name}: cost counted from the [price] section",
           s.get("llm"))
    stats = fake_get(fake_url, "/_stats")
    tap.eq(stats["steps_left"], 0, f"{name}: the provider went through every scripted fault")
    reqs = fake_get(fake_url, "/_requests")
    mine = [r for r in reqs if r["path"].endswith(path_suffix)]
    tap.ok(len(mine) > 0 and all(key in json.dumps(r["headers"]) for r in mine),
           f"{name}: the provider got the API key ({len(mine)} requests)")
    return calls


with Daemon() as d0:
    # A study that asks for the LLM while no provider is configured is refused.
    st, b = d0.call("POST", "/api/v1/studies", llm_spec("nollm", 5))
    msg = (b.get("error") or {}).get("message", "") if isinstance(b, dict) else str(b)
    tap.ok(st == 400 and "HPOD_LLM_BASE_URL" in msg and "[provider default]" in msg,
           "sampler llm without a provider: 400 saying how to configure one", (st, b))
    spec = simple_spec("nollm-init")
    spec["sampler"] = {"name": "tpe"}
    spec["llm"] = {"init_trials": 3}
    st, b = d0.call("POST", "/api/v1/studies", spec)
    tap.eq(st, 400, "llm.init_trials without a provider: refused too")

fake, furl = start_fake()
conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
conf.write(f"""# test providers
[provider default]
timeout_s = 1
max_retries = 3
backoff_s = 0.05

[provider claude]
format = anthropic
base_url = {furl}/v1
model = fake-claude
api_key_env = HPOD_TEST_CLAUDE_KEY
timeout_s = 1
max_retries = 3
backoff_s = 0.05

[provider nomodel]
base_url = {furl}/v1

[price fake-model]
input_per_mtok = 1.5
output_per_mtok = 6

[price fake-claude]
input_per_mtok = 3
output_per_mtok = 15
""")
conf.close()
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": furl + "/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": KEY, "HPOD_TEST_CLAUDE_KEY": KEY2}
try:
    with Daemon(args=["--config", conf.name, "-v"], env=env) as d:
        with open(os.path.join(d.tmp, "job.py"), "w") as f:
            f.write(JOB)
        space = simple_spec("x")["params"]
        good = {"mode": "random_valid", "space": space}
        names = []

        st, b = d.call("POST", "/api/v1/studies", llm_spec("nomodel", 5, provider="nomodel"))
        tap.ok(st == 400 and "llm.model" in json.dumps(b),
               "a provider without a model and a study without llm.model: 400 naming llm.model",
               (st, b))

        # 1. OpenAI format, every fault, four slots.
        script(furl, {"steps": faults(space), "default": good})
        spec = llm_spec("chat-faults", 28)
        tap.eq(d.call("POST", "/api/v1/studies", spec)[0], 201, "openai study created")
        tap.eq(run_workers(d, "chat-faults", job_sleep="0.5"), 0, "worker with 4 slots finishes")
        calls = check_study(d, "chat-faults", furl, "/chat/completions", KEY, 28)
        names.append("chat-faults")

        r = d.hpo("llm-log", "chat-faults")
        tap.ok(r.returncode == 0 and "=== call" in r.stdout and "tokens" in r.stdout and
               "fake-model" in r.stdout and "[redacted]" in r.stdout,
               "hpo llm-log prints the audit log", r.stdout[-2000:] + r.stderr)
        r = d.hpo("--json", "llm-log", "chat-faults")
        ok = r.returncode == 0
        try:
            ok = ok and len(json.loads(r.stdout)["calls"]) == len(calls)
        except ValueError:
            ok = False
        tap.ok(ok, "hpo --json llm-log lists every call", r.stdout[-500:] + r.stderr)

        # 2. Anthropic format through a config-file provider.
        script(furl, {"steps": faults(space), "default": good})
        spec = llm_spec("msg-faults", 28, provider="claude")
        tap.eq(d.call("POST", "/api/v1/studies", spec)[0], 201, "anthropic study created")
        tap.eq(run_workers(d, "msg-faults", job_sleep="0.5"), 0, "worker with 4 slots finishes")
        check_study(d, "msg-faults", furl, "/messages", KEY2, 28)
        names.append("msg-faults")

        # 3. llm.max_tokens stops LLM proposals; the classical sampler carries on.
        script(furl, {"steps": [], "default": dict(good, usage=[300, 20])})
        spec = llm_spec("budget", 10, max_tokens=1000)
        d.call("POST", "/api/v1/studies", spec)
        tap.eq(run_workers(d, "budget", slots=1, job_sleep="0.05"), 0, "budget study finishes")
        src = [t["source"] for t in all_trials(d, "budget")]
        n_llm = src.count("llm")
        tap.ok(1 <= n_llm <= 4 and src[:n_llm] == ["llm"] * n_llm and
               all(x == "fallback:gp" for x in src[n_llm:]) and len(src) == 10,
               "max_tokens: LLM trials first, then fallback:gp only", src)
        s = d.call("GET", "/api/v1/studies/budget")[1]
        used = s["llm"]["tokens_in"] + s["llm"]["tokens_out"]
        tap.ok(1000 <= used <= 1000 + 320 * 2, f"max_tokens: spending stopped at the cap ({used})")
        names.append("budget")

        # 3b. max_parallel 1 is the paper's loop: every prompt holds every result
        # so far and nothing being evaluated; the first call needs no suggest.
        script(furl, {"steps": [], "default": dict(good, delay=0.3)})
        spec = llm_spec("loop", 6)
        spec["budget"]["max_parallel"] = 1
        http(furl + "/_reset", "POST", {})
        d.call("POST", "/api/v1/studies", spec)
        tap.eq(run_workers(d, "loop", slots=1, job_sleep="0.05"), 0, "sequential study finishes")
        src = [t["source"] for t in all_trials(d, "loop")]
        tap.eq(src, ["llm"] * 6, "max_parallel 1: every trial from the LLM")
        prompts = [r["body"]["messages"][-1]["content"] for r in fake_get(furl, "/_requests")]
        seen = [sum(1 for n in range(6) if f"#{n} " in p) for p in prompts]
        tap.ok(len(prompts) == 6 and seen == list(range(6)) and
               not any("Being evaluated" in p for p in prompts),
               "max_parallel 1: call k sees the k results before it and nothing pending",
               (len(prompts), seen))
        names.append("loop")

        # 4. LLM-seeded BO: init_trials from the LLM, then the `then` sampler.
        script(furl, {"steps": [], "default": good})
        spec = llm_spec("seeded", 8, init_trials=3, then="gp")
        d.call("POST", "/api/v1/studies", spec)
        tap.eq(run_workers(d, "seeded", slots=1, job_sleep="0.05"), 0, "seeded study finishes")
        src = [t["source"] for t in all_trials(d, "seeded")]
        tap.eq(src, ["llm"] * 3 + ["gp"] * 5, "init_trials 3 then gp: sources by trial")
        names.append("seeded")

        # A tpe study with an llm object: its first trials from the LLM.
        spec = simple_spec("tpe-seeded", max_trials=6)
        spec["sampler"] = {"name": "tpe", "seed": 2}
        spec["llm"] = {"init_trials": 2}
        tap.eq(d.call("POST", "/api/v1/studies", spec)[0], 201, "tpe study with init_trials")
        tap.eq(run_workers(d, "tpe-seeded", slots=1, job_sleep="0.05"), 0, "tpe study finishes")
        src = [t["source"] for t in all_trials(d, "tpe-seeded")]
        tap.eq(src, ["llm"] * 2 + ["tpe"] * 4, "tpe with llm.init_trials 2: sources by trial")
        names.append("tpe-seeded")

        # 5. Rank mode: LLM candidates, the GP picks.
        cands = [{"configs": [{"x": round(-4.5 + 0.37 * i + 0.11 * j, 3), "n": 1 + (i + j) % 8,
                               "opt": "sgd" if (i + j) % 2 else "adam"} for j in range(4)]}
                 for i in range(30)]
        script(furl, {"steps": cands, "default": good})
        spec = llm_spec("ranked", 8, mode="rank", candidates=4)
        tap.eq(d.call("POST", "/api/v1/studies", spec)[0], 201, "rank study created")
        tap.eq(run_workers(d, "ranked", slots=2, job_sleep="0.05"), 0, "rank study finishes")
        src = [t["source"] for t in all_trials(d, "ranked")]
        tap.ok(src.count("llm+gp") >= 4 and all(x in ("llm+gp", "fallback:gp") for x in src),
               "rank mode: trials are LLM candidates picked by the GP", src)
        calls, _ = all_calls(d, "ranked")
        tap.ok(any(len(c["trials"]) == 0 for c in calls) or len(calls) < len(src),
               "rank mode: not every candidate becomes a trial", [c["trials"] for c in calls])
        names.append("ranked")

        secrets_absent(d, names, [], "after all studies")

        # 6. SIGTERM while a call waits out a long Retry-After: it is cancelled.
        script(furl, {"steps": [], "default": {"status": 429, "retry_after": 40}})
        http(furl + "/_reset", "POST", {})
        d.call("POST", "/api/v1/studies", llm_spec("slow", 5))
        got = wait_until(lambda: fake_get(furl, "/_stats")["requests"] > 0, timeout=10)
        t0 = time.monotonic()
        code = d.stop()
        took = time.monotonic() - t0
        tap.ok(got and code == 0 and took < 8,
               f"hpod stops promptly (exit {code}, {took:.1f} s) with a call waiting to retry")
finally:
    fake.kill()
    fake.wait()
    os.unlink(conf.name)
tap.done()

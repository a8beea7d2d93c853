"""End to end: the LLM audit log holds one row per HTTP exchange.

The scripted provider answers a timeout, a 429 with Retry-After 1, a 503 and
then a configuration; the provider's own request log is counted against the
study's audit rows (equal, each with its status and error, grouped under one
proposal). Then: tokens estimated when the provider gives no usage (and
llm.max_tokens enforced on them), prices by the prefix of a dated model name,
the structured-output fallback, reasoning kept out of the answer, and chat
history replaying the model's own reply while a manual trial is the user's."""
import json
import os
import sys
import tempfile
import time

from hpotest import (FAKE_LLM, HPOD, TOP_SRCDIR, Daemon, Tap, clear_llm_env, http, simple_spec,
                     wait_until)

tap = Tap()
PY = sys.executable
KEY = "sk-audit-5Jd9-WHOLE-KEY-77ab"

clear_llm_env()

import subprocess  # noqa: E402


def start_fake():
    proc = subprocess.Popen([PY, FAKE_LLM], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("fakellm listening on "):
        raise RuntimeError(f"fakellm did not start: {line!r}")
    return proc, line.split()[-1]


def script(url, obj):
    st, _, _ = http(url + "/_script", "POST", obj)
    assert st == 200


def fake_requests(url):
    return http(url + "/_requests")[1]


def llm_spec(name, max_trials, max_parallel=2, **llm):
    spec = simple_spec(name, max_trials=max_trials)
    spec["description"] = "a quadratic in x"
    spec["sampler"] = {"name": "llm", "seed": 3}
    spec["llm"] = dict({"provider": "default"}, **llm)
    spec["budget"] = {"max_trials": max_trials, "max_parallel": max_parallel, "max_failures": 5}
    return spec


def calls_of(d, name):
    out, after = [], 0
    while True:
        st, b = d.call("GET", f"/api/v1/studies/{name}/llm-calls?limit=2&after={after}")
        if st != 200:
            return out
        out += b["calls"]
        if b["next_after"] is None:
            return out
        after = b["next_after"]


def run_trial(d, name, worker, value=1.0, wait_s=20):
    """One suggest and its completion; the trial (or None)."""
    st, b = d.call("POST", f"/api/v1/studies/{name}/suggest",
                   {"worker": worker, "wait_s": wait_s}, timeout=wait_s + 10)
    if st != 200 or not b.get("trials"):
        return None
    t = b["trials"][0]
    d.call("POST", f"/api/v1/trials/{t['id']}/complete",
           {"worker": worker, "state": "completed", "value": value})
    return d.call("GET", f"/api/v1/trials/{t['id']}")[1]


with open(os.path.join(TOP_SRCDIR, "schema", "openapi.json")) as f:
    LLMCALL = json.load(f)["components"]["schemas"]["LlmCall"]

fake, furl = start_fake()
conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
conf.write(f"""[provider default]
timeout_s = 1
max_retries = 3
backoff_s = 0.05

[provider claude]
format = anthropic
base_url = {furl}/v1
model = fake-claude
api_key_env = HPOD_TEST_CLAUDE_KEY
timeout_s = 5
backoff_s = 0.05

[price fake-model]
input_per_mtok = 1
output_per_mtok = 2

[price fake-model-mini]
input_per_mtok = 1000
output_per_mtok = 1000
""")
conf.close()
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": furl + "/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": KEY,
       "HPOD_TEST_CLAUDE_KEY": "ant-audit-key-0042"}
space = simple_spec("x")["params"]
good = {"mode": "random_valid", "space": space}
try:
    with Daemon(args=["--config", conf.name], env=env) as d:
        # 1. timeout, 429 (Retry-After 1), 503, then 200: four exchanges, four rows
        script(furl, {"steps": [{"fault": "timeout", "seconds": 2.5},
                                {"status": 429, "retry_after": 1},
                                {"status": 503}, dict(good, model="fake-model-2024-07-18")],
                      "default": good})
        tap.eq(d.call("POST", "/api/v1/studies", llm_spec("faults", 1))[0], 201, "study created")
        got = wait_until(lambda: any(c["status"] == 200 for c in calls_of(d, "faults")),
                         timeout=60)
        tap.ok(got, "the proposal landed after the retries")
        time.sleep(0.5)
        calls = calls_of(d, "faults")
        reqs = fake_requests(furl)
        tap.eq(len(calls), len(reqs),
               f"one audit row per request the provider saw ({len(calls)} rows, "
               f"{len(reqs)} requests)")
        tap.eq([c["status"] for c in calls], [None, 429, 503, 200],
               "each row has its own status (none for the timeout)")
        errs = [c["error"] or "" for c in calls]
        tap.ok("no complete reply within 1 s" in errs[0] and "HTTP 429" in errs[1] and
               "HTTP 503" in errs[2] and calls[3]["error"] is None,
               "each row has its own error", errs)
        tap.ok(len({c["proposal"] for c in calls}) == 1 and
               [c["attempt"] for c in calls] == [1, 2, 3, 4] and
               calls[0]["proposal"] == calls[0]["id"],
               "the rows are grouped under one proposal, attempts 1 to 4",
               [(c["proposal"], c["attempt"]) for c in calls])
        gaps = [c["latency_ms"] for c in calls]
        tap.ok(gaps[0] >= 900 and all(g < 900 for g in gaps[1:]),
               "latency is per exchange (the timeout's about 1 s)", gaps)
        missing = [k for k in LLMCALL["required"] if any(k not in c for c in calls)]
        tap.eq(missing, [], "every row has every field of LlmCall")
        last = calls[3]
        tap.ok(last["model"] == "fake-model-2024-07-18" and
               last["model_requested"] == "fake-model",
               "the answered model beside the requested one",
               (last["model"], last["model_requested"]))
        tap.ok(last["params"].get("temperature") == 0 and
               last["params"].get("structured") == "json_schema" and
               last["structured"] == "json_schema" and
               last["request_body"]["response_format"]["type"] == "json_schema",
               "request parameters and the structured mode are kept", last["params"])
        tap.ok(all(KEY not in json.dumps(c) for c in calls), "no row holds the API key")
        trial = run_trial(d, "faults", "w:1")
        tap.ok(trial and trial["source"] == "llm", "the trial came from the LLM", trial)
        calls = calls_of(d, "faults")
        tap.eq([c["trials"] for c in calls], [[], [], [], [0]],
               "the trial is listed on the exchange whose reply gave it")
        s = d.call("GET", "/api/v1/studies/faults")[1]
        cost = (last["tokens_in"] * 1 + last["tokens_out"] * 2) / 1e6
        tap.ok(abs(s["llm"]["cost_usd"] - cost) < 1e-9,
               "the dated model is priced by [price fake-model], the longest prefix "
               "(not fake-model-mini)", (s["llm"], cost))
        r = d.hpo("llm-log", "faults")
        tap.ok(r.returncode == 0 and "##### proposal" in r.stdout and "attempt 4" in r.stdout
               and "status 429" in r.stdout and "no answer" in r.stdout and
               "(asked fake-model)" in r.stdout,
               "hpo llm-log shows each exchange of the proposal", r.stdout[-1500:] + r.stderr)

        # 2. no usage: tokens estimated, and llm.max_tokens holds on the estimates
        script(furl, {"steps": [], "default": dict(good, usage=False)})
        spec = llm_spec("estimated", 6, max_parallel=1, max_tokens=400)
        d.call("POST", "/api/v1/studies", spec)
        sources = []
        for i in range(6):
            t = run_trial(d, "estimated", "w:2", value=float(i))
            sources.append(t["source"] if t else None)
        calls = calls_of(d, "estimated")
        s = d.call("GET", "/api/v1/studies/estimated")[1]
        used = s["llm"]["tokens_in"] + s["llm"]["tokens_out"]
        tap.ok(calls and all(c["tokens_estimated"] and c["tokens_in"] > 0 for c in calls),
               "rows without usage carry estimated, non-zero tokens",
               [(c["tokens_in"], c["tokens_out"]) for c in calls])
        tap.ok(used >= 400 and used == sum(c["tokens_in"] + c["tokens_out"] for c in calls),
               f"the study's totals count the estimates ({used})", s["llm"])
        n_llm = sources.count("llm")
        tap.ok(1 <= n_llm < 6 and all(x.startswith("fallback:") for x in sources[n_llm:]) and
               len(calls) == n_llm,
               "max_tokens stops the LLM on estimated tokens", sources)

        # 3. json_schema refused: JSON mode, each step its own row
        script(furl, {"steps": [], "default": good, "reject_json_schema": True})
        d.call("POST", "/api/v1/studies", llm_spec("fallback", 1))
        wait_until(lambda: any(c["status"] == 200 for c in calls_of(d, "fallback")), timeout=30)
        calls = calls_of(d, "fallback")
        tap.eq([(c["status"], c["structured"]) for c in calls],
               [(400, "json_schema"), (200, "json_object")],
               "a refused json_schema falls back to JSON mode in the next row")

        # 4. reasoning: the draft inside <think> is not taken
        draft = {"x": 4.5, "n": 8, "opt": "sgd"}
        final = {"x": -1.25, "n": 2, "opt": "adam"}
        script(furl, {"steps": [{"config": final, "think": "maybe " + json.dumps(draft)}],
                      "default": good})
        d.call("POST", "/api/v1/studies", llm_spec("thinker", 1))
        t = run_trial(d, "thinker", "w:4")
        tap.ok(t and t["params"] == final, "the answer after </think> is taken, not the draft",
               t and t["params"])
        c = [c for c in calls_of(d, "thinker") if c["status"] == 200][0]
        tap.ok(c["reasoning"] == "maybe " + json.dumps(draft) and c["reply"].startswith("<think>"),
               "the reasoning is kept apart; the reply verbatim", c)
        r = d.hpo("llm-log", "thinker")
        tap.ok("--- reasoning" in r.stdout and "maybe" in r.stdout,
               "hpo llm-log shows the reasoning", r.stdout[-800:])

        # 4b. Anthropic: a forced tool call, a thinking block kept apart
        script(furl, {"steps": [{"config": final, "reasoning": "perhaps " + json.dumps(draft)}],
                      "default": good})
        d.call("POST", "/api/v1/studies", llm_spec("claude", 1, provider="claude"))
        t = run_trial(d, "claude", "w:4b")
        c = [c for c in calls_of(d, "claude") if c["status"] == 200]
        body = fake_requests(furl)[0]["body"]
        tap.ok(t and t["params"] == final and c and c[0]["structured"] == "tool" and
               c[0]["reasoning"].startswith("perhaps") and
               body["tool_choice"]["type"] == "tool" and
               body["tools"][0]["input_schema"]["properties"]["x"]["maximum"] == 5,
               "anthropic: the answer comes from the forced tool call; thinking kept apart",
               (t and t["params"], c and c[0]))

        # 5. chat history: the model's own reply replayed; a manual trial is the user's
        said = "I start near the middle.\n" + json.dumps({"x": 0.5, "n": 3, "opt": "sgd"})
        script(furl, {"steps": [{"reply": said}], "default": good})
        spec = llm_spec("chat", 4, max_parallel=1, history="chat")
        d.call("POST", "/api/v1/studies", spec)
        t0 = run_trial(d, "chat", "w:5", value=2.0)
        manual = {"x": -3.75, "n": 7, "opt": "adam"}
        st, _ = d.call("POST", "/api/v1/studies/chat/trials", {"params": manual})
        t1 = run_trial(d, "chat", "w:5", value=1.0)
        http(furl + "/_reset", "POST", {})
        t2 = run_trial(d, "chat", "w:5", value=0.5)
        tap.ok(t0 and t0["source"] == "llm" and t1 and t1["params"] == manual and
               t2 and t2["source"] == "llm", "chat study: llm, manual, llm",
               [x and (x["source"], x["params"]) for x in (t0, t1, t2)])
        msgs = (fake_requests(furl) or [{}])[-1].get("body", {}).get("messages", [])
        assistant = [m["content"] for m in msgs if m["role"] == "assistant"]
        users = " ".join(m["content"] for m in msgs if m["role"] == "user")
        tap.ok(assistant == [said], "the assistant turn is the model's reply verbatim", assistant)
        tap.ok("A result added by the user" in users and "-3.75" in users and
               not any("-3.75" in a for a in assistant),
               "the manual trial is a result the user added, not an answer of the model",
               users[-600:])

        # 6. a proposal that finally failed validation is told in the next prompt
        bad = {"config": {"x": 50.0, "n": 3, "opt": "sgd"}}
        d.call("PATCH", "/api/v1/studies/chat", {"state": "paused"})  # no more calls of its own
        time.sleep(1.5)
        script(furl, {"steps": [bad, bad, bad], "default": good})
        d.call("POST", "/api/v1/studies", llm_spec("rejected", 1))
        wait_until(lambda: any(c["configs"] for c in calls_of(d, "rejected")), timeout=30)
        calls = calls_of(d, "rejected")
        reqs = fake_requests(furl)
        tap.ok(len(calls) == 4 and len({c["proposal"] for c in calls}) == 2 and
               all("invalid reply: x: \"50\" is out of range" in (c["error"] or "")
                   for c in calls[:3]),
               "three invalid replies (one proposal), then a new proposal",
               [(c["proposal"], c["error"]) for c in calls])
        last = reqs[-1]["body"]["messages"][-1]["content"] if reqs else ""
        first = reqs[0]["body"]["messages"][-1]["content"] if reqs else ""
        tap.ok("could not be used: x: \"50\" is out of range" in last and
               "could not be used" not in first,
               "the next proposal's prompt says why the last reply was rejected", last[-400:])

    # a key too short to redact safely: refused at start-up, in one clear line
    with tempfile.TemporaryDirectory() as tmp:
        short = dict(os.environ, **dict(env, HPOD_LLM_API_KEY="k"))
        p = subprocess.run([HPOD, "--db", os.path.join(tmp, "h.db"), "--listen", "127.0.0.1:0"],
                           env=short, capture_output=True, text=True, timeout=30)
        tap.ok(p.returncode != 0 and "api key is 1 characters long, too short" in p.stderr
               and "listening" not in p.stdout,
               "a one-character API key is refused at start-up", (p.returncode, p.stderr))
finally:
    fake.kill()
    fake.wait()
    os.unlink(conf.name)
tap.done()

"""The LLM's share of a study's trials: GET /api/v1/studies/NAME "sources",
the hpod_study_trials_by_source gauge of /metrics, and `hpo study show`.

Trials of every class are made through the API: enqueued (manual), a random
study (classical), and llm studies against the scripted fake LLM: plain (llm),
past llm.max_tokens (fallback:gp), LLM-seeded GP (llm, then gp) and rank mode
(llm+gp). Each study's counts must equal those of its own trial list."""
import json
import re
import subprocess
import sys
import time

from hpotest import FAKE_LLM, Daemon, Tap, clear_llm_env, http, simple_spec

tap = Tap()
CLASSES = ["llm", "llm+gp", "fallback", "classical", "manual"]

clear_llm_env()


def klass(source):
    if source in ("llm", "llm+gp"):
        return source
    if source.startswith("fallback:"):
        return "fallback"
    if source in ("manual", "import"):
        return "manual"
    return "classical"


def run(d, name, limit=60):
    """Ask for trials one at a time and complete each until the study finishes."""
    end = time.time() + limit
    while time.time() < end:
        st, b = d.call("POST", f"/api/v1/studies/{name}/suggest",
                       {"worker": f"t-{name}:0", "wait_s": 10}, timeout=30)
        if st != 200:
            return f"suggest answered {st}: {b}"
        if not b["trials"]:
            if b["study_state"] == "finished":
                return None
            continue
        t = b["trials"][0]
        x = t["params"].get("x", 0.0)
        st, b = d.call("POST", f"/api/v1/trials/{t['id']}/complete",
                       {"worker": f"t-{name}:0", "state": "completed", "value": (x - 1) ** 2})
        if st != 200:
            return f"complete answered {st}: {b}"
    return "the study did not finish in time"


def metric(d):
    """{(study, source): value} of hpod_study_trials_by_source, and the text."""
    st, text, _ = http(d.url + "/metrics")
    out = {}
    for m in re.finditer(r'^hpod_study_trials_by_source\{study="([^"]+)",source="([^"]+)"\} '
                         r'(\d+)$', text, re.M):
        out[(m.group(1), m.group(2))] = int(m.group(3))
    return out, text


def llm_spec(name, max_trials, **llm):
    spec = simple_spec(name, max_trials=max_trials)
    spec["description"] = "a quadratic in x"
    spec["sampler"] = {"name": "llm", "seed": 2}
    spec["llm"] = dict({"provider": "default"}, **llm)
    spec["budget"] = {"max_trials": max_trials, "max_parallel": 1, "max_failures": 3}
    spec["lease"] = {"heartbeat_s": 30, "stale_after": 2, "max_retries": 1}
    return spec


proc = subprocess.Popen([sys.executable, FAKE_LLM], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
line = proc.stdout.readline().decode()
furl = line.split()[-1] if line.startswith("fakellm listening on ") else None
tap.ok(furl is not None, "the fake LLM starts", line)
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": f"{furl}/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": "sk-sources-test-key-90ab"}
try:
    with Daemon(env=env) as d:
        # a study without trials: every class is there, at 0, from the start
        d.call("POST", "/api/v1/studies", simple_spec("empty", max_trials=3))
        st, s = d.call("GET", "/api/v1/studies/empty")
        tap.eq(s.get("sources"), {c: 0 for c in CLASSES}, "a new study: every class at 0")
        got, text = metric(d)
        tap.ok("# HELP hpod_study_trials_by_source " in text and
               "# TYPE hpod_study_trials_by_source gauge" in text,
               "the gauge has its help and type lines")
        tap.eq({c: got.get(("empty", c)) for c in CLASSES}, {c: 0 for c in CLASSES},
               "the gauge has every class of a study without trials, at 0")

        # classical and manual: a random study with one enqueued trial
        spec = simple_spec("plain", max_trials=4)
        spec["lease"] = {"heartbeat_s": 30, "stale_after": 2, "max_retries": 1}
        d.call("POST", "/api/v1/studies", spec)
        st, _ = d.call("POST", "/api/v1/studies/plain/trials",
                       {"params": {"x": 1.5, "n": 2, "opt": "sgd"}})
        tap.eq(st, 201, "a trial enqueued by hand")
        tap.eq(run(d, "plain"), None, "the random study finishes")

        fake = {"mode": "random_valid", "space": simple_spec("x")["params"],
                "usage": [300, 20]}
        st, _, _ = http(furl + "/_script", "POST", {"steps": [], "default": fake})
        # llm: every trial from the model
        d.call("POST", "/api/v1/studies", llm_spec("byllm", 3))
        tap.eq(run(d, "byllm"), None, "the llm study finishes")
        # fallback: past llm.max_tokens the classical sampler serves
        d.call("POST", "/api/v1/studies", llm_spec("spent", 5, max_tokens=500))
        tap.eq(run(d, "spent"), None, "the llm study past its max_tokens finishes")
        # llm then gp: the paper's LLM-seeded BO
        d.call("POST", "/api/v1/studies", llm_spec("seeded", 4, init_trials=2, then="gp"))
        tap.eq(run(d, "seeded"), None, "the LLM-seeded study finishes")
        # llm+gp: LLM candidates ranked by the GP
        d.call("POST", "/api/v1/studies", llm_spec("ranked", 3, mode="rank", candidates=3))
        tap.eq(run(d, "ranked"), None, "the rank-mode study finishes")

        got, _ = metric(d)
        counts = {}
        for name in ["plain", "byllm", "spent", "seeded", "ranked"]:
            trials = d.trials(name)
            want = {c: 0 for c in CLASSES}
            for t in trials:
                want[klass(t["source"])] += 1
            st, s = d.call("GET", f"/api/v1/studies/{name}")
            counts[name] = s.get("sources")
            tap.eq(s.get("sources"), want, f"{name}: the study's sources match its trials "
                   f"({sorted(set(t['source'] for t in trials))})")
            tap.eq({c: got.get((name, c)) for c in CLASSES}, want,
                   f"{name}: the gauge matches its trials")
        tap.eq(counts["plain"], {"llm": 0, "llm+gp": 0, "fallback": 0, "classical": 3,
                                 "manual": 1}, "random study: 3 classical, 1 manual")
        tap.eq(counts["byllm"]["llm"], 3, "llm study: 3 of 3 from the LLM")
        tap.ok(counts["spent"]["llm"] >= 1 and counts["spent"]["fallback"] >= 1 and
               counts["spent"]["llm"] + counts["spent"]["fallback"] == 5,
               "max_tokens study: LLM trials, then fallback ones", counts["spent"])
        tap.ok(counts["seeded"]["llm"] >= 1 and counts["seeded"]["classical"] >= 1,
               "seeded study: LLM trials, then classical ones", counts["seeded"])
        tap.ok(counts["ranked"]["llm+gp"] >= 1, "rank-mode study: llm+gp trials",
               counts["ranked"])

        # hpo study show: the share, for studies that use the LLM
        p = d.hpo("study", "show", "spent")
        sp = counts["spent"]
        want = f"trials from the LLM: {sp['llm']} of 5 (fallback {sp['fallback']})"
        tap.ok(p.returncode == 0 and want in p.stdout, f"hpo study show: \"{want}\"",
               p.stdout + p.stderr)
        p = d.hpo("study", "show", "ranked")
        rk = counts["ranked"]
        tap.ok(f"trials from the LLM: {rk['llm'] + rk['llm+gp']} of 3 ("
               f"{rk['llm+gp']} ranked by the GP, fallback {rk['fallback']}" in p.stdout,
               "hpo study show counts llm+gp trials as the LLM's", p.stdout)
        p = d.hpo("study", "show", "plain")
        tap.ok(p.returncode == 0 and "trials from the LLM" not in p.stdout and
               "progress" in p.stdout, "hpo study show: no LLM share for a random study",
               p.stdout)
        p = d.hpo("--json", "study", "show", "spent")
        try:
            shown = json.loads(p.stdout).get("sources")
        except ValueError:
            shown = None
        tap.eq(shown, counts["spent"], "hpo --json study show carries the sources")
finally:
    proc.terminate()
    proc.wait()
tap.done()

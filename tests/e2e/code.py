"""End to end: code as a hyperparameter.

The worker side first, with trials enqueued by hand so that the code is
exactly what each case needs: valid code, a syntax error, an infinite loop, a
network connection, writes outside the trial directory, memory without
bound, a flood of output, a background process left behind. Each must end in
the right state with its reason, nothing may escape the trial directory, and
the worker must carry on. Then the refusals (no --allow-code, no bubblewrap).
Then the LLM writing the code through the scripted fake server: the code is
read from fenced blocks, invalid code is asked again with the reason, the
error text of a failed trial reaches the next prompt, and a study mixing code
and numbers runs to its end with two workers, LLM and fallback trials both.
The jobs are plain python3 (no torch)."""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

from hpotest import FAKE_LLM, HPO, Daemon, Tap, clear_llm_env, http, wait_until

tap = Tap()
PY = sys.executable
BWRAP = shutil.which("bwrap")

clear_llm_env()

# The job: loads the code file named by {model} and HPO_PARAM_MODEL, calls its
# score(x) and reports the value.
JOB = r"""
import json, os, runpy, sys
p = json.load(open(os.environ["HPO_PARAMS_FILE"]))
path = sys.argv[1]
if path != os.environ["HPO_PARAM_MODEL"]:
    sys.exit("the argument and HPO_PARAM_MODEL differ: %r %r" % (path, os.environ["HPO_PARAM_MODEL"]))
if os.path.dirname(path) != os.environ["HPO_TRIAL_DIR"] or os.path.basename(path) != "model.py":
    sys.exit("the code is not model.py in the trial directory: %r" % path)
ns = runpy.run_path(path)
print("@hpo final loss=%r" % float(ns["score"](p["x"])), flush=True)
"""

BASELINE = "def score(x):\n    return (x - 0.3) ** 2\n"


def code_spec(name, max_trials, **extra):
    spec = {
        "name": name,
        "description": "a toy: the code defines score(x), the loss",
        "objective": {"name": "loss", "direction": "minimize"},
        "params": [
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "model", "type": "code", "language": "python",
             "contract": "define score(x) returning a float", "requires": ["score"],
             "max_bytes": 4000, "baseline": BASELINE},
        ],
        "sampler": {"name": "random", "seed": 1},
        "budget": {"max_trials": max_trials, "max_parallel": 2, "max_failures": 50,
                   "trial_timeout_s": 4},
        "lease": {"heartbeat_s": 1, "stale_after": 3, "max_retries": 0},
    }
    spec.update(extra)
    return spec


def run_worker(d, study, extra=(), env=None, slots=1, wid=None, timeout=180, wait=True):
    e = dict(os.environ, HPO_SERVER=d.url, **(env or {}))
    wid = wid or f"w-{study}"
    log = open(os.path.join(d.tmp, f"worker-{wid}.log"), "ab")
    cmd = [HPO, "worker", "--study", study, "--id", wid, "--slots", str(slots),
           "--work-dir", os.path.join(d.tmp, "trials"), *extra,
           "--", PY, os.path.join(d.tmp, "job.py"), "{model}"]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=e,
                         start_new_session=True)
    if not wait:
        return p
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def worker_log(d, wid):
    with open(os.path.join(d.tmp, f"worker-{wid}.log"), errors="replace") as f:
        return f.read()


def trials(d, name):
    return d.trials(name)


def enqueue(d, study, x, code):
    st, b = d.call("POST", f"/api/v1/studies/{study}/trials",
                   {"params": {"x": x, "model": code}})
    assert st in (200, 201), (st, b)
    return b


def pgrep(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return r.stdout.strip()


def start_fake():
    proc = subprocess.Popen([PY, FAKE_LLM], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("fakellm listening on "):
        raise RuntimeError(f"fakellm did not start: {line!r}")
    return proc, line.split()[-1]


if not BWRAP:
    tap.skip_all("bubblewrap (bwrap) is not installed")
probe = subprocess.run([BWRAP, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid",
                        "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, text=True)
if probe.returncode != 0:
    tap.skip_all("bubblewrap cannot make namespaces here: " + probe.stderr.strip())

with Daemon() as d:
    with open(os.path.join(d.tmp, "job.py"), "w") as f:
        f.write(JOB)
    tag = uuid.uuid4().hex[:10]
    outside = [os.path.join(d.tmp, "trials", "sbx", f"escape-{tag}.txt"),
               f"/tmp/hpo-escape-{tag}.txt",
               os.path.join(d.tmp, f"escape-{tag}.txt")]
    sleeper = f"sleep {300 + int(tag[:4], 16) % 1000}"
    cases = [
        ("valid", "def score(x):\n    return x * 2\n", "completed", None),
        ("syntax error", "def score(x)\n    return x\n", "failed", "SyntaxError"),
        ("infinite loop", "def score(x):\n    while True:\n        pass\n", "failed", "timed out"),
        ("valid again", "def score(x):\n    return x * 3\n", "completed", None),
        ("network", "import socket\ndef score(x):\n    socket.create_connection(('127.0.0.1', %d), "
                    "timeout=3)\n    return 0.0\n" % d.port, "failed", "ConnectionRefusedError"),
        ("write outside", "import os\ndef score(x):\n"
                          "    open(os.path.join(os.environ['HPO_TRIAL_DIR'], 'inside.txt'), 'w').write('ok')\n"
                          "    open(%r, 'w').write('private tmp')\n"
                          "    for t in (%r, %r):\n"
                          "        try:\n"
                          "            open(t, 'w').write('escaped')\n"
                          "        except OSError as e:\n"
                          "            print('blocked:', e, flush=True)\n"
                          "    open(%r, 'w').write('escaped')\n"
                          "    return 0.0\n" % (outside[1], outside[2], "/root/hpo-escape-" + tag,
                                                outside[0]),
         "failed", "Read-only file system"),
        ("valid once more", "def score(x):\n    return x * 4\n", "completed", None),
        ("unbounded memory", "def score(x):\n    a = []\n    while True:\n"
                             "        a.append(bytearray(64 << 20))\n", "failed", "MemoryError"),
        ("huge output", "import sys\ndef score(x):\n    while True:\n"
                        "        sys.stdout.write('y' * 65536 + '\\n')\n", "failed",
         "output limit exceeded"),
        ("background process", "import subprocess\ndef score(x):\n"
                               "    subprocess.Popen(['setsid', 'sh', '-c', %r])\n"
                               "    return 0.5\n" % sleeper, "completed", None),
        ("valid after all that", "def score(x):\n    return x + 1\n", "completed", None),
    ]

    # 1. Refused without --allow-code: exit 2 at start-up, no trial touched.
    st, _ = d.call("POST", "/api/v1/studies", code_spec("sbx", len(cases)))
    tap.eq(st, 201, "a study with a code parameter is created")
    for i, (_, code, _, _) in enumerate(cases):
        enqueue(d, "sbx", 0.05 * (i + 1), code)
    rc = run_worker(d, "sbx", wid="nocode")
    log = worker_log(d, "nocode")
    tap.ok(rc == 2 and "--allow-code" in log and "\"model\"" in log,
           "without --allow-code the worker refuses the study and exits 2", (rc, log[-600:]))
    tap.ok(all(t["state"] == "pending" for t in trials(d, "sbx")), "no trial was taken")

    # 2. Without bubblewrap (not in PATH), refused with the install hint.
    rc = run_worker(d, "sbx", extra=("--allow-code",), env={"PATH": "/nonexistent"},
                    wid="nobwrap")
    log = worker_log(d, "nobwrap")
    tap.ok(rc == 2 and "install bubblewrap (apt-get install bubblewrap) or pass --sandbox none" in log,
           "without bwrap the worker refuses code trials with the install hint", (rc, log[-600:]))

    # 3. Every case in the sandbox, one slot, in order.
    started = time.time()
    rc = run_worker(d, "sbx", extra=("--allow-code", "--mem-limit", "512", "--output-limit", "1",
                                     "--grace", "1"), wid="sbx")
    elapsed = time.time() - started
    log = worker_log(d, "sbx")
    tap.eq(rc, 0, "the sandboxed worker finishes the study and exits 0")
    tap.ok("sandbox bwrap" in log, "the worker logs the sandbox in use", log[:600])
    ts = sorted(trials(d, "sbx"), key=lambda t: t["number"])
    tap.eq(len(ts), len(cases), "one trial per case")
    for t, (what, code, state, reason) in zip(ts, cases):
        ok = t["state"] == state and t["params"]["model"] == code
        if reason:
            ok = ok and reason in (t["error"] or "")
        tap.ok(ok, f"{what}: {state}" + (f" with \"{reason}\"" if reason else ""),
               (t["state"], (t["error"] or "")[-800:]))
    by = {c[0]: t for t, c in zip(ts, cases)}
    tap.ok(abs(by["valid"]["value"] - 0.1) < 1e-9, "the valid code's value is what it computed",
           by["valid"]["value"])
    tap.ok("exit status 1" in by["syntax error"]["error"],
           "the syntax error is \"exit status 1: <stderr tail>\"", by["syntax error"]["error"])
    st, one = d.call("GET", f"/api/v1/trials/{by['syntax error']['id']}")
    tap.ok(st == 200 and one["params"]["model"] == by["syntax error"]["params"]["model"] and
           "def score(x)\n" in one["params"]["model"] and "SyntaxError" in one["error"],
           "GET /trials/{id} returns the trial's code and its error", one)
    tap.ok(all(not os.path.exists(p) for p in outside + ["/root/hpo-escape-" + tag]),
           "nothing written outside the trial directory exists",
           [p for p in outside if os.path.exists(p)])
    tdir = os.path.join(d.tmp, "trials", "sbx", f"trial-{by['write outside']['number']}")
    tap.ok(os.path.exists(os.path.join(tdir, "inside.txt")) and
           open(os.path.join(tdir, "model.py")).read() == by["write outside"]["params"]["model"],
           "the trial directory holds model.py and what the code wrote there",
           os.listdir(tdir) if os.path.isdir(tdir) else tdir)
    tap.ok("blocked:" in log and "Read-only file system" in log,
           "writes to the study's and the daemon's directories were refused")
    tap.eq(pgrep(sleeper), "", "the background process left by a trial is gone")
    tap.ok(elapsed < 60, f"the study ran in bounded time ({elapsed:.0f} s)")
    tap.ok(by["valid after all that"]["state"] == "completed" and
           abs(by["valid after all that"]["value"] - (1.0 + 0.05 * len(cases))) < 1e-9,
           "the worker stays healthy after the flood of output", by["valid after all that"])

    # 3b. SIGTERM to the worker ends the sandboxed trial and everything inside
    sp = code_spec("stopc", 1)
    sp["budget"]["trial_timeout_s"] = 120
    d.call("POST", "/api/v1/studies", sp)
    enqueue(d, "stopc", 0.5, "import subprocess, time\ndef score(x):\n"
                             "    subprocess.Popen(['setsid', 'sleep', '97'])\n"
                             "    time.sleep(60)\n    return 0.0\n")
    w = run_worker(d, "stopc", extra=("--allow-code", "--grace", "2"), wid="stopc", wait=False)
    marker = os.path.join(d.tmp, "trials", "stopc")
    tap.ok(wait_until(lambda: pgrep(marker) and pgrep("sleep 97"), 30),
           "the sandboxed trial runs", pgrep(marker))
    w.send_signal(15)
    rc = w.wait(30)
    t = trials(d, "stopc")[0]
    tap.ok(rc == 0 and t["state"] == "failed" and "worker stopped" in (t["error"] or ""),
           "SIGTERM to the worker fails the sandboxed trial \"worker stopped\"",
           (rc, t["state"], t["error"]))
    tap.ok(wait_until(lambda: not pgrep(marker) and not pgrep("sleep 97"), 10),
           "no process of the trial is left", (pgrep(marker), pgrep("sleep 97")))

    # 4. --sandbox none: the same network code reaches the daemon (the sandbox was what stopped it)
    sp = code_spec("nosbx", 1)
    d.call("POST", "/api/v1/studies", sp)
    enqueue(d, "nosbx", 0.5, [c[1] for c in cases if c[0] == "network"][0])
    rc = run_worker(d, "nosbx", extra=("--allow-code", "--sandbox", "none"), wid="nosbx")
    t = trials(d, "nosbx")[0]
    tap.ok(rc == 0 and t["state"] == "completed" and "(no sandbox, limits)" in worker_log(d, "nosbx"),
           "--sandbox none runs code unsandboxed (the network code connects)",
           (rc, t["state"], t["error"]))

    # 5. --sandbox bwrap confines ordinary trials too; the fallback serves the baseline
    sp = code_spec("plain", 2)
    sp["params"] = sp["params"][:1]
    d.call("POST", "/api/v1/studies", sp)
    job2 = os.path.join(d.tmp, "plain.py")
    with open(job2, "w") as f:
        f.write("import os, socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=3)\n"
                "    print('@hpo final loss=1')\nexcept OSError:\n    print('@hpo final loss=0')\n"
                % d.port)
    e = dict(os.environ, HPO_SERVER=d.url)
    p = subprocess.run([HPO, "worker", "--study", "plain", "--sandbox", "bwrap",
                        "--work-dir", os.path.join(d.tmp, "trials"), "--", PY, job2],
                       capture_output=True, text=True, env=e, timeout=120)
    vals = [t["value"] for t in trials(d, "plain")]
    tap.ok(p.returncode == 0 and vals == [0.0, 0.0],
           "--sandbox bwrap confines a study without code too (no network)", (vals, p.stderr[-500:]))

# ---- the LLM writes the code ----

fake, furl = start_fake()
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": furl + "/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": "sk-code-test"}


def script(obj):
    st, _, _ = http(furl + "/_script", "POST", obj)
    assert st == 200


def requests():
    return http(furl + "/_requests")[1]


def fenced(x, code, lang="python"):
    return {"reply": json.dumps({"x": x, "model": "<<code:model>>"}) + "\n```" + lang + "\n" +
            code + "```\n"}


try:
    with Daemon(env=env) as d:
        with open(os.path.join(d.tmp, "job.py"), "w") as f:
            f.write(JOB)

        # 6. sequential LLM study: a wrong language is asked again, a syntax error comes back
        script({"steps": [
            fenced(0.25, "function score(x) { return x; }\n", lang="javascript"),
            fenced(0.25, "def score(x):\n    return abs(x - 0.2)\n"),
            fenced(0.5, "def score(x)\n    return x\n"),
            {"reply": "The last one had a syntax error; fixed.\n" +
             json.dumps({"x": 0.75, "model": "def score(x):\n    return x / 10\n"})},
        ], "default": {"status": 500}})
        sp = code_spec("llm-seq", 3)
        sp["sampler"] = {"name": "llm", "seed": 2}
        sp["llm"] = {"provider": "default", "history": "compressed"}
        sp["budget"]["max_parallel"] = 1
        st, b = d.call("POST", "/api/v1/studies", sp)
        tap.ok(st == 201, "an llm study with a code parameter is created", b)
        rc = run_worker(d, "llm-seq", extra=("--allow-code",), wid="llm-seq", timeout=120)
        ts = sorted(trials(d, "llm-seq"), key=lambda t: t["number"])
        tap.eq([t["source"] for t in ts], ["llm"] * 3, "three LLM trials")
        tap.ok([t["state"] for t in ts] == ["completed", "failed", "completed"],
               "valid, syntax error, valid", [(t["state"], t["error"]) for t in ts])
        tap.ok(len(ts) == 3 and ts[0]["params"]["model"] == "def score(x):\n    return abs(x - 0.2)\n"
               and abs(ts[0]["value"] - 0.05) < 1e-9,
               "the code came from the fenced block and ran", ts[0] if ts else None)
        reqs = [r["body"]["messages"] for r in requests()]
        tap.ok(len(reqs) >= 4, "four calls to the LLM", len(reqs))
        if len(reqs) >= 4:
            reask = reqs[1][-1]["content"]
            tap.ok("labelled \"javascript\"" in reask and "python" in reask,
                   "the wrong language is asked again with the reason", reask)
            first = reqs[0][-1]["content"]
            tap.ok("define score(x) returning a float" in first and "<<code:model>>" in first and
                   "return (x - 0.3) ** 2" in first,
                   "the prompt gives the contract, the format and the baseline", first[-1500:])
            last = reqs[3][-1]["content"]
            tap.ok("SyntaxError" in last and "exit status 1" in last and
                   "def score(x)\n    return x" in last,
                   "the next prompt carries the failed code and its error text", last[-2000:])
            tap.ok("response_format" not in requests()[0]["body"],
                   "no JSON mode for a study with code (the code comes in fences)")

        # 7. code and numbers, two workers, some LLM calls fail: LLM and fallback trials
        steps = []
        for i in range(12):
            if i % 3 == 2:
                steps.append({"status": 500})
            else:
                steps.append(fenced(round(0.05 + 0.07 * i, 4),
                                    "def score(x):\n    return (x - 0.4) ** 2 + %d * 1e-3\n" % i))
        script({"steps": steps, "default": {"status": 500}})
        sp = code_spec("llm-mix", 10)
        sp["sampler"] = {"name": "llm", "seed": 3}
        # once the script runs out the provider answers 500 for good: past
        # llm.wait (5 s of failed calls) the fallback serves the rest
        sp["llm"] = {"provider": "default", "then": "random", "wait": 5}
        sp["budget"]["max_parallel"] = 2
        d.call("POST", "/api/v1/studies", sp)
        ws = [run_worker(d, "llm-mix", extra=("--allow-code",), wid=f"mix{i}", wait=False)
              for i in range(2)]
        codes = []
        for w in ws:
            try:
                codes.append(w.wait(180))
            except subprocess.TimeoutExpired:
                w.kill()
                codes.append(None)
        tap.eq(codes, [0, 0], "two workers finish the mixed study")
        ts = trials(d, "llm-mix")
        st, s = d.call("GET", "/api/v1/studies/llm-mix")
        tap.ok(s["state"] == "finished" and s["counts"]["completed"] == 10,
               "the mixed study runs to max_trials, every trial completed", s.get("counts"))
        src = [t["source"] for t in ts]
        llm = [t for t in ts if t["source"] == "llm"]
        fb = [t for t in ts if t["source"].startswith("fallback:")]
        tap.ok(llm and fb and len(llm) + len(fb) == 10, "LLM and fallback trials both present", src)
        tap.ok(all(t["params"]["model"] == BASELINE for t in fb) and
               all(t["params"]["model"] != BASELINE for t in llm),
               "fallback trials run the baseline code, LLM trials their own")
        tap.ok(len({t["worker"].split(":")[0] for t in ts}) == 2, "both workers ran trials",
               [t["worker"] for t in ts])
finally:
    fake.kill()
    fake.wait()

tap.done()

"""Helpers for hpod's Python tests: TAP output, a daemon on port 0, HTTP calls.

Standard library only. Every test file does:

    from hpotest import Tap, Daemon
    tap = Tap()
    with Daemon() as d:
        status, body = d.call("GET", "/healthz")
        tap.ok(status == 200, "healthz answers 200")
    tap.done()
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HPOD = os.environ.get("HPOD_BIN", "hpod")
HPO = os.environ.get("HPO_BIN", "hpo")
TOP_SRCDIR = os.environ.get("TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
# The scripted OpenAI- and Anthropic-compatible provider the LLM tests start.
FAKE_LLM = os.path.join(TOP_SRCDIR, "tests", "fake-llm", "fakellm.py")


def clear_llm_env():
    """Drop every HPOD_LLM_* variable of this process, so that a daemon the
    test starts knows only the provider the test gives it."""
    for k in list(os.environ):
        if k.startswith("HPOD_LLM_"):
            del os.environ[k]


class Tap:
    """Test Anything Protocol output; the plan is printed at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=None):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            if detail is not None:
                for line in str(detail).splitlines()[:40]:
                    print(f"#   {line}", flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, f"got:  {got!r}\nwant: {want!r}")

    def skip_all(self, why):
        print(f"1..0 # SKIP {why}", flush=True)
        sys.exit(0)

    def diag(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


def http(url, method="GET", body=None, token=None, timeout=30, raw=None, headers=None):
    """One request; returns (status, parsed JSON or text, headers)."""
    data = None
    hdrs = dict(headers or {})
    if raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text, rh = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, text, rh = e.code, e.read(), e.headers
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text.decode(errors="replace")
    return status, parsed, rh


class Daemon:
    """hpod on 127.0.0.1 port 0 with a temporary database (kept across restart())."""

    def __init__(self, args=(), env=None, workdir=None, db=None):
        self.tmp = workdir or tempfile.mkdtemp(prefix="hpotest-")
        self.own_tmp = workdir is None
        self.db = db or os.path.join(self.tmp, "hpod.db")
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.url = None
        self.token = None
        self.log_path = os.path.join(self.tmp, "hpod.log")

    def start(self, port=0):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HPOD, "--db", self.db, "--listen", f"127.0.0.1:{port}",
             "--www", os.path.join(TOP_SRCDIR, "www")] + self.args,
            stdout=subprocess.PIPE, stderr=log, env=self.env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("hpod listening on "):
            raise RuntimeError(f"hpod did not start: {line!r}; log:\n{self.log()}")
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode if self.proc else None
        self.proc = None
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self, same_port=True):
        port = self.port if same_port else 0
        self.stop()
        for _ in range(50):
            try:
                return self.start(port)
            except RuntimeError:
                time.sleep(0.1)
        return self.start(port)

    def call(self, method, path, body=None, raw=None, token=None, timeout=30, headers=None):
        status, parsed, _ = http(self.url + path, method, body, token or self.token, timeout,
                                 raw, headers)
        return status, parsed

    def call_h(self, method, path, body=None, token=None, timeout=30):
        return http(self.url + path, method, body, token or self.token, timeout)

    def hpo(self, *args, timeout=60, env=None, input=None):
        """Run the hpo client against this daemon; returns CompletedProcess (text)."""
        e = dict(os.environ, HPO_SERVER=self.url, **(env or {}))
        if self.token:
            e["HPO_TOKEN"] = self.token
        return subprocess.run([HPO] + list(args), capture_output=True, text=True,
                              timeout=timeout, env=e, input=input)

    def trials(self, study, limit=1000):
        """Every trial of a study, paging through GET .../trials with after=."""
        out, after = [], None
        while True:
            q = "" if after is None else f"&after={after}"
            st, b = self.call("GET", f"/api/v1/studies/{study}/trials?limit={limit}{q}")
            out += b["trials"]
            if b["next_after"] is None:
                return out
            after = b["next_after"]

    def sql(self, query, params=()):
        import sqlite3
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def wait_until(pred, timeout=30, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def simple_spec(name, max_trials=10, **extra):
    spec = {
        "name": name,
        "description": "test study",
        "objective": {"name": "loss", "direction": "minimize"},
        "params": [
            {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
            {"name": "n", "type": "int", "low": 1, "high": 8},
            {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
        ],
        "sampler": {"name": "random", "seed": 1},
        "budget": {"max_trials": max_trials, "max_parallel": 8, "max_failures": 5},
        "lease": {"heartbeat_s": 1, "stale_after": 2, "max_retries": 1},
    }
    spec.update(extra)
    return spec

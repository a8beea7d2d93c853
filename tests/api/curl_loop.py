"""contrib/curl/ask_tell.sh runs the whole ask/tell loop against a real daemon,
with and without a token, two copies at once on one study (no trial trained
twice), stops with a message and a non-zero status on any HTTP error (a 409
at creation, a 409 when completing a trial, a daemon that cannot be reached),
and the README's curl section shows the same commands.

The README rule: the first shell code block after a heading that mentions curl
must consist of lines of the script, in the script's order, and must show
every line of the script that calls curl. That block is run too. The same rule

"""
import http.server
import json
import os
import re
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request

from hpotest import HPOD, TOP_SRCDIR, Daemon, Tap

tap = Tap()
script = os.path.join(TOP_SRCDIR, "contrib", "curl", "ask_tell.sh")
with open(script) as f:
    script_text = f.read()


def launch(path, url, study, token=None):
    env = dict(os.environ, HPO_SERVER=url)
    env.pop("HPO_TOKEN", None)
    if token is not None:
        env["HPO_TOKEN"] = token
    return subprocess.Popen(["bash", path, study], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tempfile.gettempdir())


def run(path, url, study, token=None):
    p = launch(path, url, study, token)
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def trial_ids(stdout):
    return [int(m.group(1)) for m in re.finditer(r"^trial (\d+):", stdout, re.M)]


class Conflict(http.server.BaseHTTPRequestHandler):
    """Passes requests on to the daemon, except that the n-th completion is
    answered 409 as when another worker holds the lease."""

    upstream = None
    fail_at = 1
    completes = 0

    def log_message(self, *args):
        pass

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        if self.path.endswith("/complete"):
            type(self).completes += 1
            if type(self).completes == self.fail_at:
                return self._send(409, json.dumps({"error": {
                    "code": "lease_lost", "message": "the trial is leased to another worker"}}))
        req = urllib.request.Request(self.upstream + self.path, data=body, method=self.command,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        self._send(status, text)

    def _send(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward


def check_study(d, study, label, token=None):
    st, s = d.call("GET", f"/api/v1/studies/{study}", token=token)
    tap.eq((st, s.get("state") if isinstance(s, dict) else s), (200, "finished"),
           f"{label}: the study is finished")
    counts = s.get("counts", {}) if isinstance(s, dict) else {}
    tap.eq(counts.get("completed", 0) + counts.get("pruned", 0), 8,
           f"{label}: all 8 trials were told")
    st, best = d.call("GET", f"/api/v1/studies/{study}/best", token=token)
    tap.ok(st == 200 and best.get("value") is not None, f"{label}: there is a best trial", best)
    if st == 200:
        st, t = d.call("GET", f"/api/v1/trials/{best['id']}", token=token)
        tap.eq([r["step"] for r in t.get("reports", [])], [1, 2, 3],
               f"{label}: the best trial has its three reports")
        return best
    return None


# 1. The script itself, on an open loopback daemon.
with Daemon() as d:
    p = run(script, d.url, "curl-open")
    tap.eq(p.returncode, 0, "ask_tell.sh exits 0 on an open daemon")
    if p.returncode:
        tap.diag(p.stderr)
    best = check_study(d, "curl-open", "open daemon")
    out = p.stdout.splitlines()
    start = max((i for i, ln in enumerate(out) if ln == "{"), default=None)
    try:
        shown = json.loads("\n".join(out[start:])) if start is not None else {}
    except ValueError:
        shown = {}
    tap.ok(best is not None and shown.get("number") == best["number"]
           and shown.get("params") == best["params"], "the script prints the best trial",
           p.stdout[-400:])
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("trial ")]
    tap.eq(len(lines), 8, "the script ran 8 trials")
    p2 = run(script, d.url, "curl-open")
    tap.eq(p2.returncode, 0, "running it again on the finished study is fine (200, then stop)")

    # Two copies at once on one study: each trial is trained by one of them.
    copies = [launch(script, d.url, "curl-two") for _ in range(2)]
    outs = [c.communicate(timeout=300) + (c.returncode,) for c in copies]
    if not tap.eq([o[2] for o in outs], [0, 0], "two copies on one study both exit 0"):
        tap.diag("\n".join(o[1] for o in outs))
    ids = [trial_ids(o[0]) for o in outs]
    both = set(ids[0]) & set(ids[1])
    tap.ok(not both and len(ids[0]) + len(ids[1]) == 8,
           "the two copies trained 8 different trials, none twice", ids)
    trials = d.trials("curl-two")
    tap.ok(len(trials) == 8 and all(t["attempts"] == 1 and t["state"] in ("completed", "pruned")
                                    for t in trials),
           "every trial of the study was leased once and told", trials)
    if ids[0] and ids[1]:
        tap.eq(len({t["worker"] for t in trials}), 2, "the copies used two worker names")

    # A 409 at creation (the name holds another spec) stops the script at once.
    st, _ = d.call("POST", "/api/v1/studies", {"name": "curl-taken", "params": [
        {"name": "y", "type": "float", "low": 0, "high": 1}]})
    tap.eq(st, 201, "a study curl-taken with another spec")
    p3 = run(script, d.url, "curl-taken")
    tap.ok(p3.returncode != 0 and "409" in p3.stderr and "name_taken" in p3.stderr
           and not trial_ids(p3.stdout), "a 409 at creation stops the script with the "
                                         "daemon's message and a non-zero status",
           p3.stdout[-300:] + p3.stderr[-300:])

    # A 409 when completing the first trial stops the loop there.
    Conflict.upstream = d.url
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Conflict)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        p4 = run(script, f"http://127.0.0.1:{proxy.server_address[1]}", "curl-conflict")
    finally:
        proxy.shutdown()
    tap.ok(p4.returncode != 0 and "HTTP 409" in p4.stderr and "lease_lost" in p4.stderr,
           "a 409 on complete stops the loop with the message and a non-zero status",
           p4.stderr[-400:])
    tap.eq(len(trial_ids(p4.stdout)), 1, "no trial is trained after the 409")

    # A daemon that cannot be reached: curl's own error, non-zero status.
    p5 = run(script, "http://127.0.0.1:9", "curl-away")
    tap.ok(p5.returncode != 0 and "curl:" in p5.stderr, "an unreachable daemon stops the "
                                                        "script", p5.stderr[-300:])

# 2. With a token: refused without it, works with it.
with tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
    d = Daemon(workdir=tmp)
    add = subprocess.run([HPOD, "--db", d.db, "token", "add", "--role", "admin", "curl"],
                         capture_output=True, text=True, timeout=60)
    token = add.stdout.strip()
    tap.ok(add.returncode == 0 and len(token) >= 32, "hpod token add prints a token", add.stderr)
    with d:
        p = run(script, d.url, "curl-token")
        tap.ok(p.returncode != 0 and "401" in p.stderr and "trial " not in p.stdout,
               "without HPO_TOKEN the script stops at once with the 401", p.stderr)
        p = run(script, d.url, "curl-token", token=token)
        tap.eq(p.returncode, 0, "with HPO_TOKEN the script runs the loop")
        if p.returncode:
            tap.diag(p.stderr)
        check_study(d, "curl-token", "token", token=token)


# 3. The README's curl section (and the doc it is merged from) shows these commands.
def curl_block(md):
    """The first ```sh block after a heading that mentions curl, or None."""
    m = re.search(r"^#+ [^\n]*curl[^\n]*\n(.*?)^```(?:sh|shell|bash)?\n(.*?)^```", md,
                  re.S | re.M | re.I)
    return m.group(2) if m else None


script_lines = [ln.strip() for ln in script_text.splitlines()]
curl_lines = [ln for ln in script_lines
              if re.match(r"^[\w$()=\"'| ]*(curl|api) ", ln) or ln.startswith("api() {")]


def check_doc(path, label):
    if not os.path.exists(path):
        return False
    with open(path) as f:
        block = curl_block(f.read())
    if block is None:
        return False
    shown = [ln.strip() for ln in block.splitlines() if ln.strip()]
    pos, missing = 0, []
    for ln in shown:
        try:
            pos = script_lines.index(ln, pos) + 1
        except ValueError:
            missing.append(ln)
    tap.ok(not missing, f"{label}: every line of the curl section is a line of ask_tell.sh, "
                        f"in order", "\n".join(missing))
    absent = [ln for ln in curl_lines if ln not in shown]
    tap.ok(not absent, f"{label}: the curl section shows every request of ask_tell.sh",
           "\n".join(absent))
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(block)
        path_sh = f.name
    try:
        with Daemon() as dd:
            p = run(path_sh, dd.url, "curl-readme")
            tap.eq(p.returncode, 0, f"{label}: the curl section runs as it stands")
            if p.returncode:
                tap.diag(p.stderr)
            st, s = dd.call("GET", "/api/v1/studies/curl-readme")
            tap.eq(s.get("state") if isinstance(s, dict) else None, "finished",
                   f"{label}: its study finishes")
    finally:
        os.unlink(path_sh)
    return True


tap.ok(len(curl_lines) >= 6, f"ask_tell.sh has the requests of the loop ({len(curl_lines)})")
tap.ok(check_doc(os.path.join(TOP_SRCDIR, "README.md"), "README.md"), "README.md has a curl section")

tap.done()

"""contrib/curl/ask_tell.sh runs the whole ask/tell loop against a real daemon,
with and without a token, and the README's curl section shows the same commands.

The README rule: the first shell code block after a heading that mentions curl
must consist of lines of the script, in the script's order, and must show
every line of the script that calls curl. That block is run too. The same rule

"""
import json
import os
import re
import subprocess
import tempfile

from hpotest import HPOD, TOP_SRCDIR, Daemon, Tap

tap = Tap()
script = os.path.join(TOP_SRCDIR, "contrib", "curl", "ask_tell.sh")
with open(script) as f:
    script_text = f.read()


def run(path, url, study, token=None):
    env = dict(os.environ, HPO_SERVER=url)
    env.pop("HPO_TOKEN", None)
    if token is not None:
        env["HPO_TOKEN"] = token
    return subprocess.run(["sh", path, study], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tempfile.gettempdir())


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
curl_lines = [ln for ln in script_lines if re.match(r"^[\w$()=\"'| ]*curl ", ln)]


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
    tap.ok(not absent, f"{label}: the curl section shows every curl command of ask_tell.sh",
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


tap.ok(len(curl_lines) >= 4, f"ask_tell.sh has the curl commands of the loop ({len(curl_lines)})")
tap.ok(check_doc(os.path.join(TOP_SRCDIR, "README.md"), "README.md"), "README.md has a curl section")

tap.done()

"""Tokens and roles: an open loopback daemon, then admin, worker and read tokens
added at run time with `hpod token add`, revocation, hashes only in the database,
and the refusal to serve a non-loopback address without tokens."""
import os
import subprocess

from hpotest import HPOD, Daemon, Tap, simple_spec, wait_until

tap = Tap()


def token_cmd(d, *args):
    return subprocess.run([HPOD, "--db", d.db, "token"] + list(args), capture_output=True,
                          text=True, timeout=30)


def msg(body):
    return body.get("error", {}).get("message", "") if isinstance(body, dict) else str(body)


with Daemon() as d:
    st, b = d.call("POST", "/api/v1/studies", simple_spec("open"))
    tap.eq(st, 201, "no tokens, loopback: the daemon is open (create without a token)")

    p = token_cmd(d, "add", "--role", "admin", "a")
    admin = p.stdout.strip()
    tap.ok(p.returncode == 0 and len(admin) >= 32 and "shown only now" in p.stderr,
           "hpod token add --role admin prints a token", p.stderr)
    worker = token_cmd(d, "add", "--role", "worker", "w").stdout.strip()
    read = token_cmd(d, "add", "--role", "read", "r").stdout.strip()
    p = token_cmd(d, "add", "--role", "root", "x")
    tap.ok(p.returncode != 0 and "root" in p.stderr, "an unknown role is refused", p.stderr)
    p = token_cmd(d, "add", "--role", "read", "r")
    tap.ok(p.returncode != 0 and "taken" in p.stderr, "a token name is unique", p.stderr)

    # the daemon reloads its tokens every ~2 s
    locked = wait_until(lambda: d.call("GET", "/api/v1/studies")[0] == 401, timeout=10)
    st, b = d.call("GET", "/api/v1/studies")
    tap.ok(locked and "Bearer" in msg(b), "after the first token: no token gets 401 saying how", b)
    st, b = d.call("GET", "/api/v1/studies", token="0" * 64)
    tap.ok(st == 401 and "not valid" in msg(b), "an unknown token gets 401", b)
    st, b = d.call("GET", "/api/v1/studies", headers={"Authorization": "Basic eDp5"})
    tap.eq(st, 401, "another auth scheme gets 401")

    # the three tokens were added one after another: a reload may have come
    # between them, so wait for the next one to know the last
    wait_until(lambda: d.call("GET", "/api/v1/studies", token=read)[0] == 200, timeout=10)
    st, b = d.call("GET", "/api/v1/studies", token=read)
    tap.eq(st, 200, "read token: GET /studies")
    st, b = d.call("POST", "/api/v1/studies", simple_spec("r1"), token=read)
    tap.ok(st == 403 and "admin" in msg(b) and "read" in msg(b),
           "read token: POST /studies is 403 naming both roles", b)
    st, b = d.call("POST", "/api/v1/studies/open/suggest", {"worker": "r"}, token=read)
    tap.eq(st, 403, "read token: suggest is 403")

    st, b = d.call("POST", "/api/v1/studies/open/suggest", {"worker": "w"}, token=worker)
    tap.ok(st == 200 and len(b["trials"]) == 1, "worker token: suggest", b)
    tid = b["trials"][0]["id"] if st == 200 and b.get("trials") else 0
    st, b = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "w"}, token=worker)
    tap.eq(st, 200, "worker token: heartbeat")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w", "value": 1.0},
                   token=worker)
    tap.eq(st, 200, "worker token: complete")
    st, b = d.call("POST", "/api/v1/studies", simple_spec("w1"), token=worker)
    tap.eq(st, 403, "worker token: create a study is 403")
    st, b = d.call("DELETE", "/api/v1/studies/open", token=worker)
    tap.eq(st, 403, "worker token: delete a study is 403")
    st, b = d.call("PATCH", "/api/v1/studies/open", {"state": "paused"}, token=worker)
    tap.eq(st, 403, "worker token: pause a study is 403")

    st, b = d.call("POST", "/api/v1/studies", simple_spec("adm"), token=admin)
    tap.eq(st, 201, "admin token: create")
    st, b = d.call("POST", "/api/v1/studies/adm/suggest", {"worker": "a"}, token=admin)
    tap.eq(st, 200, "admin token: suggest")
    st, b = d.call("DELETE", "/api/v1/studies/adm", token=admin)
    tap.eq(st, 200, "admin token: delete")
    st, b = d.call("GET", "/api/v1/version")
    tap.eq(st, 200, "the version needs no token")
    st, b = d.call("GET", "/healthz")
    tap.eq(st, 200, "/healthz needs no token")
    st, b = d.call("GET", "/metrics")
    tap.eq(st, 401, "/metrics needs a token")

    # only hashes in the database: search the file bytes (and its WAL)
    blob = b""
    for suffix in ("", "-wal"):
        try:
            with open(d.db + suffix, "rb") as f:
                blob += f.read()
        except OSError:
            pass
    tap.ok(all(t.encode() not in blob for t in (admin, worker, read)),
           "no token appears in the database files")
    hashes = [h for (h,) in d.sql("SELECT hash FROM tokens")]
    tap.ok(len(hashes) == 3 and all(len(h) == 64 for h in hashes), "three hashes are stored")

    p = token_cmd(d, "list")
    tap.ok(p.returncode == 0 and all(n in p.stdout for n in ("admin", "worker", "read"))
           and admin not in p.stdout, "token list shows names and roles, not tokens", p.stdout)
    p = token_cmd(d, "revoke", "w")
    tap.eq(p.returncode, 0, "token revoke")
    revoked = wait_until(lambda: d.call("GET", "/api/v1/studies", token=worker)[0] == 401, 10)
    tap.ok(revoked, "a revoked token gets 401 within a few seconds")
    st, b = d.call("GET", "/api/v1/studies", token=admin)
    tap.eq(st, 200, "the other tokens still work")
    p = token_cmd(d, "revoke", "w")
    tap.ok(p.returncode != 0 and "no active token" in p.stderr, "revoking twice says so", p.stderr)

    # a restart keeps the tokens
    d.restart()
    st, _ = d.call("GET", "/api/v1/studies")
    tap.eq(st, 401, "after a restart: still closed without a token")
    st, _ = d.call("GET", "/api/v1/studies", token=read)
    tap.eq(st, 200, "after a restart: the read token works")

# A non-loopback bind with no tokens refuses to start; --insecure starts (no
# traffic is sent to the non-loopback address).
with Daemon() as d0:
    d0.stop()
    env = dict(os.environ)
    p = subprocess.Popen([HPOD, "--db", os.path.join(d0.tmp, "open.db"), "--listen", "0.0.0.0:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    tap.ok(p.returncode not in (0, None) and "--insecure" in err and "token" in err,
           "0.0.0.0 with no tokens: refuses to start, naming --insecure and tokens", err)
    p = subprocess.Popen([HPOD, "--db", os.path.join(d0.tmp, "open.db"), "--listen", "0.0.0.0:0",
                          "--insecure"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    tap.ok(line.startswith("hpod listening on http://0.0.0.0:"), "with --insecure it starts", line)
    p.terminate()
    p.communicate(timeout=20)
    tap.eq(p.returncode, 0, "and stops cleanly on SIGTERM")

tap.done()

"""Bad input: every malformed request gets a 4xx JSON error and the daemon keeps
serving. Nesting deeper than 32 and over-long strings are refused before
parsing; requests per second per caller are limited when rate_limit is set."""
import json
import os
import socket
import subprocess
import time

from hpotest import HPOD, Daemon, Tap, simple_spec, wait_until

tap = Tap()


def is_error(st, b):
    return (400 <= st < 500 and isinstance(b, dict) and isinstance(b.get("error"), dict)
            and isinstance(b["error"].get("code"), str) and b["error"].get("message"))


def raw_request(port, data, timeout=10):
    """Send bytes as they are; return the status line's code (or None) and the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    chunks = []
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the daemon closed the connection early: read what it said
    try:
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            chunks.append(c)
    finally:
        s.close()
    resp = b"".join(chunks)
    head, _, body = resp.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return code, body


with Daemon() as d:
    d.call("POST", "/api/v1/studies", simple_spec("s", max_trials=1000))
    st, b = d.call("POST", "/api/v1/studies/s/suggest", {"worker": "w"})
    tid = b["trials"][0]["id"]

    deep = "[" * 33 + "]" * 33
    st, b = d.call("POST", "/api/v1/studies", raw='{"a": %s}' % deep)
    tap.ok(st == 400 and is_error(st, b) and "32" in b["error"]["message"],
           "nesting deeper than 32: 400 naming the limit", b)
    ok_depth = '{"worker": "w", "x": %s}' % ("[" * 30 + "]" * 30)
    st, b = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", raw=ok_depth)
    tap.eq(st, 200, "nesting of 31 is accepted")
    st, b = d.call("POST", "/api/v1/studies", raw="[" * 200000)
    tap.ok(st == 400 and is_error(st, b), "200000 open brackets: 400, no stack overflow", b)
    long = json.dumps({"worker": "w", "error": "x" * (300 << 10)})
    st, b = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", raw=long)
    tap.ok(st == 400 and is_error(st, b) and "string" in b["error"]["message"],
           "a string over 256 KiB: 400", b)

    # a field of the wrong type is refused, never taken for its default
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete",
                   {"worker": "w", "state": 5, "value": 1.0})
    tap.ok(st == 400 and is_error(st, b) and "state" in b["error"]["message"],
           '"state": 5 in a completion: 400 naming the field', b)
    st, b = d.call("GET", f"/api/v1/trials/{tid}")
    tap.ok(st == 200 and b["state"] == "running", "and the trial still runs", b)
    # one trial, one path: ids are digits, no sign, space or leading zero
    odd = [f"%20{tid}", f"+{tid}", f"0{tid}", f"{tid}%20", f"%2B{tid}", f"{tid}.0", "0x1"]
    got = [(p, d.call("GET", f"/api/v1/trials/{p}")[0]) for p in odd]
    tap.ok(all(st == 404 for _, st in got), "trial ids with a space, a sign or a leading zero: 404",
           got)
    st, b = d.call("POST", f"/api/v1/trials/+{tid}/heartbeat", {"worker": "w"})
    tap.eq(st, 404, "a heartbeat to \"+ID\" likewise")
    st, b = d.call("GET", "/api/v1/studies/s/trials?limit=+5")
    tap.eq(st, 400, "a query number with a sign: 400")
    # framing headers that disagree
    hb = b'{"worker": "w"}'
    code, body = raw_request(d.port, b"POST /api/v1/trials/%d/heartbeat HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Content-Length: 2\r\n\r\n%s" % (tid, len(hb), hb))
    tap.ok(code == 400 and b"Content-Length" in body,
           "two Content-Length headers that differ: 400", (code, body[:200]))
    code, body = raw_request(d.port, b"POST /api/v1/trials/%d/heartbeat HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (tid, len(hb), len(hb), hb))
    tap.eq(code, 200, "the same Content-Length twice is one")
    code, body = raw_request(d.port, b"POST /api/v1/trials/%d/heartbeat HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\nf\r\n%s\r\n0\r\n\r\n"
                             % (tid, len(hb), hb))
    tap.eq(code, 400, "Content-Length with Transfer-Encoding: 400")

    worker = {"worker": "w"}
    cases = [
        ("POST", "/api/v1/studies", ""),
        ("POST", "/api/v1/studies", "null"),
        ("POST", "/api/v1/studies", "[]"),
        ("POST", "/api/v1/studies", '"spec"'),
        ("POST", "/api/v1/studies", "{"),
        ("POST", "/api/v1/studies", '{"name": "a\x00b"}'),
        ("POST", "/api/v1/studies", b'{"name": "\xff\xfe"}'),
        ("POST", "/api/v1/studies", '{"name": 1e999}'),
        ("POST", "/api/v1/studies", '{"name": "ok", "params": {}}'),
        ("POST", "/api/v1/studies", json.dumps(dict(simple_spec("p"), params=[{"name": "x"}] * 300))),
        ("POST", "/api/v1/studies", json.dumps(dict(simple_spec("p"), budget={"max_trials": -1}))),
        ("POST", "/api/v1/studies", json.dumps(dict(simple_spec("p"), sampler="random"))),
        ("POST", "/api/v1/studies/s/suggest", "{}"),
        ("POST", "/api/v1/studies/s/suggest", '{"worker": 7}'),
        ("POST", "/api/v1/studies/s/suggest", json.dumps({"worker": "w" * 200})),
        ("POST", "/api/v1/studies/s/suggest", '{"worker": "w", "count": 65}'),
        ("POST", "/api/v1/studies/s/suggest", '{"worker": "w", "count": -1}'),
        ("POST", "/api/v1/studies/s/suggest", '{"worker": "w", "count": "2"}'),
        ("POST", "/api/v1/studies/s/suggest", '{"worker": "w", "wait_s": -5}'),
        ("POST", "/api/v1/studies/s/suggest", '{"worker": "w", "count": 1e300}'),
        ("POST", "/api/v1/studies/s/trials", "{}"),
        ("POST", "/api/v1/studies/s/trials", '{"params": []}'),
        ("POST", "/api/v1/studies/s/trials", '{"params": {"x": "1", "n": 1, "opt": "sgd"}}'),
        ("POST", "/api/v1/studies/s/trials", '{"params": {"x": 1, "n": 1, "opt": "sgd", "z": 1}}'),
        ("POST", "/api/v1/studies/s/trials", '{"params": {"x": 1e400, "n": 1, "opt": "sgd"}}'),
        ("POST", "/api/v1/studies/s/trials", '{"params": {"x": 1, "n": 9223372036854775807, "opt": "sgd"}}'),
        ("PATCH", "/api/v1/studies/s", '{"state": 1}'),
        ("PATCH", "/api/v1/studies/s", "[1]"),
        ("POST", f"/api/v1/trials/{tid}/heartbeat", "{}"),
        ("POST", f"/api/v1/trials/{tid}/report", '{"worker": "w"}'),
        ("POST", f"/api/v1/trials/{tid}/report", '{"worker": "w", "step": 1.5, "value": 1}'),
        ("POST", f"/api/v1/trials/{tid}/report", '{"worker": "w", "step": 1, "values": [1]}'),
        ("POST", f"/api/v1/trials/{tid}/report", '{"worker": "w", "step": 1, "values": {"a": "b"}}'),
        ("POST", f"/api/v1/trials/{tid}/complete", '{"worker": "w", "state": "done", "value": 1}'),
        ("POST", f"/api/v1/trials/{tid}/complete", '{"worker": "w", "value": "NaN"}'),
        ("POST", f"/api/v1/trials/{tid}/complete", '{"worker": "w", "value": 1, "error": 5}'),
        ("POST", "/api/v1/trials/-1/complete", json.dumps(worker)),
        ("POST", "/api/v1/trials/99999999999999999999999/heartbeat", json.dumps(worker)),
        ("GET", "/api/v1/studies/s/trials?limit=-3", None),
        ("GET", "/api/v1/studies/s/trials?after=abc", None),
        ("GET", "/api/v1/studies/%2e%2e%2fetc/best", None),
        ("GET", "/api/v1/studies/a%00b", None),
        ("GET", "/api/v1/studies/s/llm-calls?after=-1", None),
        ("DELETE", "/api/v1/trials/1", None),
    ]
    bad = []
    for method, path, body in cases:
        raw = body if body is None or isinstance(body, bytes) else body
        if raw is None and method in ("POST", "PATCH"):
            raw = ""
        st, b = d.call(method, path, raw=raw)
        if not is_error(st, b):
            bad.append((method, path, str(body)[:80], st, str(b)[:200]))
    tap.ok(not bad, f"{len(cases)} malformed requests each get a 4xx JSON error", "\n".join(map(str, bad)))

    # malformed HTTP itself, sent over a raw socket
    raws = [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /api/v1/studies HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /api/v1/studies HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /api/v1/studies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
        b"\x00\x01\x02\xff" * 100,
        b"GET /healthz HTTP/1.1\r\n" + b"H: v\r\n" * 5000 + b"\r\n",
    ]
    statuses = []
    for data in raws:
        code, body = raw_request(d.port, data)
        statuses.append(code)
    tap.ok(all(c is None or 400 <= c < 500 or c == 505 for c in statuses),
           "malformed HTTP: 4xx or the connection closed, never 2xx or 5xx", statuses)
    st, b = d.call("GET", "/healthz")
    tap.ok(st == 200 and d.proc.poll() is None, "the daemon keeps serving after all of it")
    st, b = d.call("POST", "/api/v1/studies/s/suggest", {"worker": "w2"})
    tap.ok(st == 200 and len(b["trials"]) == 1, "and still hands out trials")

# rate_limit = N: per token, or per address when no token is sent
with Daemon() as d0:
    d0.stop()
    conf = os.path.join(d0.tmp, "hpod.conf")
    with open(conf, "w") as f:
        f.write("# the test's limit\nrate_limit = 10\n")
    d = Daemon(args=["--config", conf], workdir=d0.tmp, db=os.path.join(d0.tmp, "rl.db"))
    d.start()
    try:
        codes = [d.call_h("GET", "/api/v1/studies") for _ in range(30)]
        n429 = [c for c in codes if c[0] == 429]
        tap.ok(10 <= 30 - len(n429) <= 14 and n429, "rate_limit = 10: a burst of 30 gets ~10 through",
               [c[0] for c in codes])
        st, b, h = n429[0] if n429 else (None, {}, {})
        tap.ok(st == 429 and h.get("Retry-After") == "1" and is_error(st, b)
               and b["error"]["code"] == "rate_limited", "429 with Retry-After and a JSON error", b)
        time.sleep(1.2)
        st, _ = d.call("GET", "/api/v1/studies")
        tap.eq(st, 200, "after Retry-After the caller is served again")
        p1 = subprocess.run([HPOD, "--db", d.db, "token", "add", "--role", "admin", "one"],
                            capture_output=True, text=True)
        p2 = subprocess.run([HPOD, "--db", d.db, "token", "add", "--role", "admin", "two"],
                            capture_output=True, text=True)
        t1, t2 = p1.stdout.strip(), p2.stdout.strip()
        wait_until(lambda: d.call("GET", "/api/v1/studies")[0] == 401, 10)
        time.sleep(1.2)
        c1 = [d.call("GET", "/api/v1/studies", token=t1)[0] for _ in range(20)]
        c2 = [d.call("GET", "/api/v1/studies", token=t2)[0] for _ in range(5)]
        tap.ok(429 in c1 and c2 == [200] * 5, "each token has its own bucket", (c1, c2))
    finally:
        d.stop()

tap.done()

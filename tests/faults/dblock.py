"""Another process holding the database's write lock freezes nothing: while a
sqlite3 connection holds BEGIN IMMEDIATE for 4 s, /healthz, reads and
heartbeats answer at once, and the writes that meet the lock wait for it on
an offload thread (not the HTTP thread): they go through when it is released
within the busy timeout, and answer 503 with Retry-After when it is not."""
import os
import re
import sqlite3
import threading
import time

from hpotest import Daemon, Tap, http, simple_spec

tap = Tap()


def hold(db, seconds, ready):
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    ready.set()
    time.sleep(seconds)
    con.execute("ROLLBACK")
    con.close()


def timed(d, method, path, body=None, timeout=30):
    t0 = time.monotonic()
    try:
        st, b, h = http(d.url + path, method, body, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - reported
        return None, repr(e), {}, time.monotonic() - t0
    return st, b, h, time.monotonic() - t0


def during_lock(d, tid, seconds, writes):
    """Hold the write lock for seconds while writes (name: method, path, body)
    are sent, each on its own thread, and the reads are timed: the reads and
    heartbeats slower than 1 s, and each write's (status, body, headers, s)."""
    ready = threading.Event()
    holder = threading.Thread(target=hold, args=(d.db, seconds, ready))
    holder.start()
    ready.wait(10)
    out = {}

    def write(name, method, path, body):
        out[name] = timed(d, method, path, body)

    writers = [threading.Thread(target=write, args=(n,) + w) for n, w in writes.items()]
    for w in writers:
        w.start()
    time.sleep(0.2)
    slow = []
    t_end = time.monotonic() + seconds - 0.6
    while time.monotonic() < t_end:
        for method, path, body in (("GET", "/healthz", None), ("GET", "/api/v1/studies", None),
                                   ("GET", "/api/v1/studies/s", None),
                                   ("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "w"})):
            st, b, h, took = timed(d, method, path, body, timeout=10)
            if st != 200 or took >= 1.0:
                slow.append((method, path, st, round(took, 3)))
        time.sleep(0.1)
    for w in writers:
        w.join(40)
    holder.join(10)
    return slow, out


ENQ = ("POST", "/api/v1/studies/s/trials", {"params": {"x": 1.0, "n": 2, "opt": "sgd"}})
SUG = ("POST", "/api/v1/studies/s/suggest", {"worker": "v"})

with Daemon() as d:
    d.call("POST", "/api/v1/studies", simple_spec("s", max_trials=1000))
    st, b = d.call("POST", "/api/v1/studies/s/suggest", {"worker": "w"})
    tid = b["trials"][0]["id"]
    # held 4 s, within the busy timeout (10 s): the writes wait, the rest answers
    slow, out = during_lock(d, tid, 4.0, {"enqueue": ENQ, "suggest": SUG})
    tap.ok(not slow, "while another process holds the write lock with writes waiting for it: "
           "/healthz, GET /studies, a study and heartbeats all answer under 1 s", slow)
    st, b, h, took = out.get("enqueue", (None, "no answer", {}, 0))
    tap.ok(st == 201 and 3 < took < 8,
           f"a write that met the lock goes through once it is released ({took:.1f} s)", (st, b))
    st, b, h, took = out.get("suggest", (None, "no answer", {}, 0))
    tap.ok(st == 200 and len(b["trials"]) == 1, "a suggest likewise", (st, b))
    st, b = d.call("POST", "/api/v1/studies/s/suggest", {"worker": "u"})
    tap.ok(st == 200 and len(b["trials"]) == 1, "and after it everything writes again", b)
    st, text = d.call("GET", "/metrics")
    m = re.search(r"^hpod_busy_offloaded_total (\d+)", text, re.M)
    tap.ok(m and int(m.group(1)) >= 2,
           "/metrics counts the writes sent to wait off the HTTP thread", m and m.group(0))

# busy_timeout_s = 1: a write that cannot have the lock answers 503
with Daemon() as d0:
    d0.stop()
    conf = os.path.join(d0.tmp, "hpod.conf")
    with open(conf, "w") as f:
        f.write("busy_timeout_s = 1\n")
    d = Daemon(args=["--config", conf], workdir=d0.tmp, db=os.path.join(d0.tmp, "lock.db"))
    d.start()
    try:
        d.call("POST", "/api/v1/studies", simple_spec("s", max_trials=1000))
        st, b = d.call("POST", "/api/v1/studies/s/suggest", {"worker": "w"})
        tid = b["trials"][0]["id"]
        # held 7 s: the three tries (about 3 s, more on a loaded machine) end
        # well before the lock does
        hold_s = 7.0
        slow, out = during_lock(d, tid, hold_s, {"enqueue": ENQ, "suggest": SUG})
        tap.ok(not slow, "busy_timeout_s = 1: the reads answer all the same", slow)
        st, b, h, took = out.get("enqueue", (None, "no answer", {}, 0))
        tap.ok(st == 503 and h.get("Retry-After") and "locked" in str(b) and took < hold_s - 0.1,
               f"a write that does not get the lock in 3 tries of busy_timeout_s: 503 with "
               f"Retry-After ({took:.1f} s)", (st, b, dict(h)))
        # the second write waits in line behind the first (this process's
        # writers take turns), so it may run out its tries, or get the lock
        # once the other process let it go: never while it is held
        st, b, h, took = out.get("suggest", (None, "no answer", {}, 0))
        tap.ok((st == 503 and h.get("Retry-After")) or (st == 200 and took > hold_s - 0.4),
               f"a suggest meanwhile: 503 too, or served after the lock went ({st}, {took:.1f} s)",
               (st, b))
        # held 0.5 s: within the timeout, the write waits and goes through
        slow, out = during_lock(d, tid, 0.5, {"enqueue": ENQ})
        st, b, h, took = out.get("enqueue", (None, "no answer", {}, 0))
        tap.ok(st == 201 and 0.2 < took < 3, f"a write during a short lock waits and succeeds "
               f"({took:.2f} s)", (st, b))
    finally:
        d.stop()

tap.done()

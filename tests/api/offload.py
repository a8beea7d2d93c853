"""Slow requests on the offload threads: a suggest on a model-based study,
study export and a report that the curve pruner judges leave the HTTP thread
(counted in /metrics), a random suggest and other reports stay on it;
heartbeats are answered while a model is being fitted; a long-poll parked
from an offload thread is woken by a completion; a daemon stopped with such a
long-poll waiting exits cleanly."""
import json
import random
import re
import sqlite3
import threading
import time

from hpotest import Daemon, Tap, simple_spec

tap = Tap()


def offloaded(d):
    st, text = d.call("GET", "/metrics")
    m = re.search(r"^hpod_offloaded_requests_total (\d+)$", str(text), re.M)
    return int(m.group(1)) if m else 0


def fill(db, study, n):
    """n completed trials in study, written straight into the database."""
    con = sqlite3.connect(db)
    sid = con.execute("SELECT id FROM studies WHERE name = ?", (study,)).fetchone()[0]
    rng = random.Random(7)
    now = int(time.time() * 1000)
    for i in range(n):
        x, k = rng.uniform(-5, 5), rng.randint(1, 8)
        con.execute("INSERT INTO trials (study_id, number, state, params, value, source, worker, "
                    "attempts, created_at, started_at, finished_at) VALUES "
                    "(?, ?, 'completed', ?, ?, 'random', 'w', 1, ?, ?, ?)",
                    (sid, i, json.dumps({"x": x, "n": k, "opt": "adam" if i % 2 else "sgd"}),
                     (x - 1) ** 2 + k, now, now, now))
    con.execute("UPDATE studies SET next_number = ? WHERE id = ?", (n, sid))
    con.commit()
    con.close()


with Daemon() as d:
    d.call("POST", "/api/v1/studies", simple_spec("fast", max_trials=100))
    d.call("POST", "/api/v1/studies", simple_spec(
        "model", max_trials=1000, sampler={"name": "gp", "seed": 3},
        budget={"max_trials": 1000, "max_parallel": 8, "max_failures": 5}))
    d.stop()
    fill(d.db, "model", 160)
    d.start()

    n0 = offloaded(d)
    st, r = d.call("POST", "/api/v1/studies/fast/suggest", {"worker": "f"})
    tap.ok(st == 200 and len(r["trials"]) == 1, "a random suggest is served", st)
    tap.eq(offloaded(d), n0, "a random suggest stays on the HTTP thread")
    fast_tid = r["trials"][0]["id"]

    st, r = d.call("POST", "/api/v1/studies/model/suggest", {"worker": "m"})
    tap.ok(st == 200 and len(r["trials"]) == 1 and r["trials"][0]["source"] == "gp",
           "a GP suggest is served from an offload thread", (st, r))
    tap.eq(offloaded(d), n0 + 1, "and counted in hpod_offloaded_requests_total")
    d.call("POST", f"/api/v1/trials/{r['trials'][0]['id']}/complete", {"worker": "m", "value": 3})

    st, r = d.call("GET", "/api/v1/studies/model/export")
    tap.ok(st == 200 and len(r.get("trials", [])) == 161, "an export is served too",
           (st, len(r.get("trials", []))))
    tap.eq(offloaded(d), n0 + 2, "and offloaded")
    st, r = d.call("GET", "/api/v1/studies/nosuch/export")
    tap.eq(st, 404, "an offloaded request's error comes back as it would inline")

    # heartbeats go on while models are fitted: a GP suggest on 160 trials takes
    # hundreds of ms, a heartbeat about one. A heartbeat sent and answered within
    # the middle half of a suggest was not held up by it: with the suggest on
    # the HTTP thread (offload_threads = 0) it waits for the suggest's end
    spans = []

    def suggests():
        for i in range(4):
            t0 = time.monotonic()
            d.call("POST", "/api/v1/studies/model/suggest", {"worker": f"g{i}"})
            spans.append((t0, time.monotonic()))

    t = threading.Thread(target=suggests)
    t.start()
    beats = []
    while t.is_alive():
        t0 = time.monotonic()
        st, r = d.call("POST", f"/api/v1/trials/{fast_tid}/heartbeat", {"worker": "f"})
        beats.append((t0, time.monotonic(), st))
    t.join()
    inside = [b for b in beats if any(s0 + (s1 - s0) / 4 < b[0] and b[1] < s1 - (s1 - s0) / 4
                                      for s0, s1 in spans)]
    tap.ok(len(inside) >= 2 and all(b[2] == 200 for b in beats),
           f"{len(inside)} heartbeats sent and answered within the middle of a GP suggest",
           [round(s1 - s0, 3) for s0, s1 in spans])

    # reports: judged on an offload thread when the curve pruner fits curves,
    # on the HTTP thread otherwise; the answer is the same either way
    d.call("POST", "/api/v1/studies", simple_spec(
        "curvy", max_trials=100, pruner={"name": "curve", "max_resource": 10},
        sampler={"name": "random", "seed": 2}))
    n1 = offloaded(d)
    st, r = d.call("POST", f"/api/v1/trials/{fast_tid}/report",
                   {"worker": "f", "step": 1, "value": 1.0})
    tap.ok(st == 200 and r["action"] == "continue" and offloaded(d) == n1,
           "a report of a study without a pruner stays on the HTTP thread", (st, r))
    for i in range(5):
        st, r = d.call("POST", "/api/v1/studies/curvy/suggest", {"worker": "c"})
        tid = r["trials"][0]["id"]
        for k in range(1, 11):
            d.call("POST", f"/api/v1/trials/{tid}/report",
                   {"worker": "c", "step": k, "value": 0.1 + 0.01 * i + 0.5 / k})
        d.call("POST", f"/api/v1/trials/{tid}/complete",
               {"worker": "c", "value": 0.1 + 0.01 * i + 0.05})
    tap.eq(offloaded(d) - n1, 50, "the curve study's 50 reports were judged on offload threads")
    st, r = d.call("POST", "/api/v1/studies/curvy/suggest", {"worker": "c"})
    bad = r["trials"][0]["id"]
    actions = []
    for k in range(1, 6):
        st, r = d.call("POST", f"/api/v1/trials/{bad}/report",
                       {"worker": "c", "step": k, "value": 5.0})
        actions.append(r.get("action"))
        if r.get("action") == "prune":
            break
    st, t = d.call("GET", f"/api/v1/trials/{bad}")
    tap.ok(actions[-1] == "prune" and "curve pruner" in (t.get("prune_reason") or ""),
           f"a hopeless trial is stopped from an offload thread ({actions})",
           t.get("prune_reason"))
    st, r = d.call("POST", f"/api/v1/trials/{bad}/heartbeat", {"worker": "c"})
    tap.eq(r.get("action"), "prune", "and its heartbeat answers prune")

    # a long-poll parked from an offload thread, woken by a completion
    d.call("POST", "/api/v1/studies", simple_spec(
        "one", max_trials=10, sampler={"name": "tpe", "seed": 1},
        budget={"max_trials": 10, "max_parallel": 1, "max_failures": 5}))
    st, r = d.call("POST", "/api/v1/studies/one/suggest", {"worker": "a"})
    held = r["trials"][0]["id"]
    got = {}

    def waiter():
        t0 = time.monotonic()
        got["r"] = d.call("POST", "/api/v1/studies/one/suggest", {"worker": "b", "wait_s": 20})
        got["s"] = time.monotonic() - t0

    w = threading.Thread(target=waiter)
    w.start()
    time.sleep(0.5)
    tap.ok(w.is_alive(), "a suggest with max_parallel reached waits (parked from an offload thread)")
    d.call("POST", f"/api/v1/trials/{held}/complete", {"worker": "a", "value": 1})
    w.join(20)
    st, r = got.get("r", (0, {}))
    tap.ok(st == 200 and len(r.get("trials", [])) == 1 and got["s"] < 15,
           f"the completion wakes it with a trial ({got.get('s', 0):.2f} s)", (st, r))

    # stopping the daemon with a long-poll parked: it answers and the daemon exits 0
    w2 = threading.Thread(target=lambda: got.update(
        r2=d.call("POST", "/api/v1/studies/one/suggest", {"worker": "c", "wait_s": 30})))
    w2.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    code = d.stop()
    w2.join(10)
    tap.ok(code == 0 and time.monotonic() - t0 < 10, "SIGTERM with a parked long-poll: exit 0",
           code)
    tap.ok("r2" in got and got["r2"][0] == 200 and got["r2"][1]["trials"] == [],
           "the parked request gets an empty answer", got.get("r2"))

tap.done()

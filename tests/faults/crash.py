"""Crash test: 32 simulated workers (threads doing suggest -> heartbeat ->
complete, the value a function of the params) on one study while hpod is killed
with SIGKILL at random moments ten times and restarted on the same database and
port. Workers retry on connection errors. At the end every completion that got a
200 is in the database with its value, no trial is left running, and the study
finished."""
import random
import threading
import time

from hpotest import Daemon, Tap, http, simple_spec

tap = Tap()
WORKERS = 32
KILLS = 10
MAX_TRIALS = 400
rng = random.Random(20240617)


def objective(p):
    return round((p["x"] - 1.0) ** 2 + p["n"] * 0.25 + (0.5 if p["opt"] == "sgd" else 0.0), 12)


class Sim:
    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.acked = {}        # trial id -> value, for every complete answered 200
        self.conn_errors = 0
        self.conflicts = 0
        self.other = []
        self.stop = threading.Event()

    def call(self, method, path, body):
        """One request, retried on connection errors until it gets an HTTP answer."""
        while not self.stop.is_set():
            try:
                st, b, _ = http(self.url + path, method, body, timeout=15)
                if st == 503:
                    time.sleep(0.1)
                    continue
                return st, b
            except Exception:
                with self.lock:
                    self.conn_errors += 1
                time.sleep(0.05 + random.random() * 0.1)
        return None, None

    def worker(self, name, seed):
        r = random.Random(seed)
        while not self.stop.is_set():
            st, b = self.call("POST", "/api/v1/studies/crash/suggest", {"worker": name, "wait_s": 1})
            if st is None:
                return
            if st != 200:
                with self.lock:
                    self.other.append(("suggest", st, b))
                time.sleep(0.2)
                continue
            if not b["trials"]:
                if b["study_state"] == "finished":
                    return
                continue
            t = b["trials"][0]
            time.sleep(r.uniform(0.1, 0.5))
            st, b = self.call("POST", f"/api/v1/trials/{t['id']}/heartbeat", {"worker": name})
            if st != 200:
                with self.lock:
                    self.conflicts += 1
                continue
            time.sleep(r.uniform(0.1, 0.5))
            value = objective(t["params"])
            st, b = self.call("POST", f"/api/v1/trials/{t['id']}/complete",
                              {"worker": name, "value": value})
            if st == 200:
                with self.lock:
                    self.acked[t["id"]] = value
            elif st == 409:
                with self.lock:
                    self.conflicts += 1
            elif st is not None:
                with self.lock:
                    self.other.append(("complete", st, b))


spec = simple_spec("crash", max_trials=MAX_TRIALS,
                   budget={"max_trials": MAX_TRIALS, "max_parallel": 64, "max_failures": MAX_TRIALS},
                   lease={"heartbeat_s": 1, "stale_after": 3, "max_retries": 5})
spec["sampler"] = {"name": "random", "seed": 7}

with Daemon() as d:
    st, b = d.call("POST", "/api/v1/studies", spec)
    tap.eq(st, 201, "study created")
    sim = Sim(d.url)
    threads = [threading.Thread(target=sim.worker, args=(f"sim-{i}", i), daemon=True)
               for i in range(WORKERS)]
    for th in threads:
        th.start()
    kills_while_running = 0
    t0 = time.time()
    for k in range(KILLS):
        time.sleep(rng.uniform(0.2, 0.6))
        running = d.sql("SELECT state FROM studies WHERE name = 'crash'")[0][0] == "running"
        d.kill()
        kills_while_running += running
        time.sleep(rng.uniform(0.0, 0.3))
        for attempt in range(50):
            try:
                d.start(d.port)
                break
            except RuntimeError:
                time.sleep(0.1)
    tap.diag(f"{KILLS} kills in {time.time() - t0:.1f} s; {len(sim.acked)} completions acknowledged so far")
    for th in threads:
        th.join(timeout=180)
    alive = sum(th.is_alive() for th in threads)
    sim.stop.set()
    tap.eq(alive, 0, "every simulated worker saw the study finish")
    tap.eq(kills_while_running, KILLS, "hpod was killed ten times while the study ran")
    tap.ok(sim.conn_errors > 0, f"workers met connection errors and retried ({sim.conn_errors})")
    tap.eq(sim.other, [], "no answer other than 200 and 409 (lease lost)")

    rows = {tid: (state, value, params) for tid, state, value, params in
            d.sql("SELECT id, state, value, params FROM trials WHERE study_id = "
                  "(SELECT id FROM studies WHERE name = 'crash')")}
    missing = [tid for tid in sim.acked if tid not in rows or rows[tid][0] != "completed"]
    wrong = [tid for tid, v in sim.acked.items() if tid in rows and rows[tid][1] != v]
    tap.ok(sim.acked and not missing, f"all {len(sim.acked)} acknowledged completions are in the database",
           missing[:20])
    tap.ok(not wrong, "each with the value the worker sent", wrong[:20])
    import json
    bad_values = [tid for tid, (s, v, p) in rows.items()
                  if s == "completed" and v != objective(json.loads(p))]
    tap.ok(not bad_values, "every completed trial holds the value of its own params", bad_values[:20])
    running = [tid for tid, (s, _, _) in rows.items() if s == "running"]
    tap.eq(running, [], "no trial is left running")
    state = d.sql("SELECT state FROM studies WHERE name = 'crash'")[0][0]
    tap.eq(state, "finished", "the study finished")
    finished = sum(1 for s, _, _ in rows.values() if s in ("completed", "failed", "pruned"))
    tap.ok(finished >= MAX_TRIALS, f"{finished} trials finished (max_trials {MAX_TRIALS})")
    numbers = [n for (n,) in d.sql("SELECT number FROM trials WHERE study_id = "
                                   "(SELECT id FROM studies WHERE name = 'crash') ORDER BY number")]
    tap.eq(numbers, list(range(len(numbers))), "trial numbers have no gap or repeat")
    st, b = d.call("GET", "/healthz")
    tap.eq(st, 200, "the daemon serves after the last restart")

tap.done()

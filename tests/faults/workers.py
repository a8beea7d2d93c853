"""Worker faults: a real `hpo worker` killed with SIGKILL mid-trial (its trial goes
stale and another worker runs it), a worker that stops heartbeating (requeued,
then failed after max_retries with the reason; heartbeats held in memory, and a
restart that gives running trials a full lease), and a worker whose trials keep
failing (429, cut off for worker_cooldown_s, then served again)."""
import os
import signal
import subprocess
import sys
import time

from hpotest import HPO, Daemon, Tap, simple_spec, wait_until

tap = Tap()


def trial(d, tid):
    return d.call("GET", f"/api/v1/trials/{tid}")[1]


def trials(d, study, state=None):
    q = f"?state={state}" if state else ""
    return d.call("GET", f"/api/v1/studies/{study}/trials{q}")[1]["trials"]


def ms_to_rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def start_worker(d, study, wid, code, extra=()):
    cmd = [HPO, "--server", d.url, "worker", "--study", study, "--id", wid,
           "--work-dir", os.path.join(d.tmp, "work-" + wid)] + list(extra) + \
          ["--", sys.executable, "-c", code]
    log = open(os.path.join(d.tmp, f"worker-{wid}.log"), "ab")
    return subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)


with Daemon() as d0:
    d0.stop()
    conf = os.path.join(d0.tmp, "hpod.conf")
    with open(conf, "w") as f:
        f.write("worker_cooldown_s = 2\nreaper_interval_ms = 100\n")
    d = Daemon(args=["--config", conf], workdir=d0.tmp, db=os.path.join(d0.tmp, "w.db"))
    d.start()
    try:
        # --- a real worker killed with SIGKILL mid-trial ---
        d.call("POST", "/api/v1/studies", simple_spec(
            "dies", max_trials=1, lease={"heartbeat_s": 0.5, "stale_after": 2, "max_retries": 2}))
        a = start_worker(d, "dies", "A", "import time; time.sleep(120)")
        got = wait_until(lambda: [t for t in trials(d, "dies", "running")
                                  if t["worker"].startswith("A")], 20)
        tap.ok(got, "worker A is running a trial")
        tid = got[0]["id"] if got else 0
        time.sleep(1.2)  # a few heartbeats
        tap.eq(trial(d, tid)["state"], "running", "heartbeats keep the lease")
        os.killpg(a.pid, signal.SIGKILL)  # the worker and its child, at once
        a.wait()
        pending = wait_until(lambda: trial(d, tid)["state"] == "pending", 10)
        tap.ok(pending, "the dead worker's trial goes stale and back to pending")
        b = start_worker(d, "dies", "B", "print('@hpo final loss=0.25', flush=True)",
                         ["--max-trials", "1"])
        done = wait_until(lambda: trial(d, tid)["state"] == "completed", 30)
        t = trial(d, tid)
        tap.ok(done and t["value"] == 0.25 and t["worker"].startswith("B"),
               "another worker runs the same trial to completion", t)
        tap.eq([x["outcome"] for x in t.get("attempt_log", [])], ["stale", "completed"],
               "the attempt log shows the stale lease, then the completion")
        try:
            b.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(b.pid, signal.SIGKILL)
        tap.eq(b.returncode, 0, "worker B exits 0 at the end of the study")

        # --- a worker that stops heartbeating ---
        d.call("POST", "/api/v1/studies", simple_spec(
            "hangs", max_trials=5, lease={"heartbeat_s": 0.5, "stale_after": 2, "max_retries": 1}))
        st, r = d.call("POST", "/api/v1/studies/hangs/suggest", {"worker": "h1"})
        tid = r["trials"][0]["id"]
        for _ in range(3):
            time.sleep(0.4)
            st, r = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "h1"})
        tap.eq(trial(d, tid)["state"], "running", "while it heartbeats the trial runs")
        # heartbeats write nothing: the database keeps the deadline of the lease,
        # the answer shows the later one held in memory
        stored = d.sql("SELECT lease_expires_at FROM trials WHERE id = ?", (tid,))[0][0]
        shown = trial(d, tid)["lease_expires_at"]
        tap.ok(shown > ms_to_rfc3339(stored),
               "the trial shows the deadline of its last heartbeat, later than the stored one",
               (shown, stored))
        requeued = wait_until(lambda: trial(d, tid)["state"] == "pending", 10)
        tap.ok(requeued, "heartbeats stop: the trial is requeued")
        st, r = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "h1"})
        tap.ok(st == 409 and r.get("action") == "stop", "a late heartbeat is told to stop", r)
        st, r = d.call("POST", "/api/v1/studies/hangs/suggest", {"worker": "h2"})
        tap.ok(r["trials"] and r["trials"][0]["id"] == tid, "the next worker gets it again")
        failed = wait_until(lambda: trial(d, tid)["state"] == "failed", 10)
        t = trial(d, tid)
        tap.ok(failed and "heartbeat" in (t.get("error") or "") and "h2" in (t.get("error") or ""),
               "it hangs too: after max_retries the trial fails with the reason", t.get("error"))

        # --- a restart loses the heartbeats held in memory: every running trial
        # gets a full lease from the restart, then is reaped if none comes ---
        d.call("POST", "/api/v1/studies", simple_spec(
            "restart", max_trials=5, lease={"heartbeat_s": 1, "stale_after": 2, "max_retries": 1}))
        st, r = d.call("POST", "/api/v1/studies/restart/suggest", {"worker": "r1"})
        rid = r["trials"][0]["id"]
        d.stop()
        time.sleep(2.5)  # longer than the lease: the stored deadline is past
        d.start()
        t0 = time.time()
        time.sleep(0.5)
        tap.eq(trial(d, rid)["state"], "running",
               "after a restart a trial whose stored lease ran out is still running")
        st, r = d.call("POST", f"/api/v1/trials/{rid}/heartbeat", {"worker": "r1"})
        tap.ok(st == 200 and r.get("action") == "continue",
               "its worker's next heartbeat is accepted", (st, r))
        requeued = wait_until(lambda: trial(d, rid)["state"] == "pending", 10)
        waited = time.time() - t0
        tap.ok(requeued and waited >= 1.5,
               f"without further heartbeats it is requeued one lease later ({waited:.1f} s)")
        tap.ok("given a full lease from now" in d.log(), "the daemon log says so")

        # --- a worker whose trials keep failing ---
        d.call("POST", "/api/v1/studies", simple_spec(
            "fails", max_trials=200, budget={"max_trials": 200, "max_failures": 200,
                                             "max_parallel": 8}))
        for i in range(3):
            st, r = d.call("POST", "/api/v1/studies/fails/suggest", {"worker": "bad"})
            d.call("POST", f"/api/v1/trials/{r['trials'][0]['id']}/complete",
                   {"worker": "bad", "state": "failed", "error": "exit status 1"})
        t_cut = time.time()
        st, r, h = d.call_h("POST", "/api/v1/studies/fails/suggest", {"worker": "bad"})
        tap.ok(st == 429 and h.get("Retry-After") in ("1", "2") and "3 trials" in
               r["error"]["message"], "three failures in a row: 429 with Retry-After <= 2", (st, r))
        st, r = d.call("POST", "/api/v1/studies/fails/suggest", {"worker": "good"})
        tap.ok(st == 200 and len(r["trials"]) == 1, "another worker is still served")
        d.call("POST", f"/api/v1/trials/{r['trials'][0]['id']}/complete", {"worker": "good", "value": 1})
        back = wait_until(lambda: d.call("POST", "/api/v1/studies/fails/suggest",
                                         {"worker": "bad", "wait_s": 0})[0] == 200, 10, 0.2)
        waited = time.time() - t_cut
        tap.ok(back and 1.5 <= waited <= 4, f"after worker_cooldown_s = 2 it is served again ({waited:.1f} s)")

        # a real worker whose command always fails is slowed down, not spinning
        d.call("POST", "/api/v1/studies", simple_spec(
            "fails2", max_trials=500, budget={"max_trials": 500, "max_failures": 500,
                                              "max_parallel": 8}))
        c = start_worker(d, "fails2", "C", "import sys; sys.exit(3)")
        time.sleep(5)
        os.killpg(c.pid, signal.SIGTERM)
        try:
            c.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(c.pid, signal.SIGKILL)
            c.wait()
        failed = trials(d, "fails2", "failed")
        tap.ok(3 <= len(failed) <= 12,
               f"a real worker failing every trial ran {len(failed)} in 5 s (cut off between)")
        by_exit = [t for t in failed if "exit status 3" in (t.get("error") or "")]
        tap.ok(len(by_exit) >= len(failed) - 1,  # the last one may be cut by SIGTERM
               "each failure records the exit status", [t.get("error") for t in failed])
        tap.ok("failed 3 trials in a row" in d.log(), "the daemon log says the worker was cut off")
    finally:
        d.stop()

tap.done()

"""What a trial starts ends with it. A worker killed with SIGKILL leaves no
process of its trial running: neither the command's background children nor a
grandchild in a session of its own (setsid). A trial that ends leaves no such
grandchild behind either. Output past --echo-limit is not echoed (one notice,
the trial runs on and its result counts), and a command printing "@hpo step="
in a tight loop sends at most --report-rate reports a second, the latest step
among them, and its final result."""
import os
import random
import signal
import subprocess
import time

from hpotest import HPO, Daemon, Tap, simple_spec, wait_until

tap = Tap()
# sleep durations no other test uses, so that the processes found are ours
TAG = random.randint(100000, 999999)
BG, SETSID, LEFT = (f"{n}.{TAG}" for n in (3001, 3002, 3003))


def sleepers(*durations):
    """Process ids of running "sleep D" processes."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and len(argv) >= 2 and argv[0].endswith(b"sleep") \
                and argv[1].decode(errors="replace") in durations:
            found.append(int(pid))
    return found


def worker(d, study, wid, shell, extra=()):
    cmd = [HPO, "--server", d.url, "worker", "--study", study, "--id", wid,
           "--work-dir", os.path.join(d.tmp, "work-" + wid)] + list(extra) + \
          ["--", "sh", "-c", shell]
    log = open(os.path.join(d.tmp, f"worker-{wid}.log"), "w+b")
    return subprocess.Popen(cmd, stdout=log, stderr=log), log


def trials(d, study):
    return d.call("GET", f"/api/v1/studies/{study}/trials")[1]["trials"]


spec = simple_spec  # trials of one parameter set are enough here
with Daemon() as d:
    # --- SIGKILL of the worker ---
    d.call("POST", "/api/v1/studies", spec("killed", max_trials=1,
                                           lease={"heartbeat_s": 5, "stale_after": 2}))
    w, log = worker(d, "killed", "K", f"sleep {BG} & setsid sleep {SETSID} & wait")
    both = wait_until(lambda: len(sleepers(BG, SETSID)) == 2, 20)
    tap.ok(both, "the trial runs a background child and a setsid grandchild")
    w.send_signal(signal.SIGKILL)
    w.wait()
    gone = wait_until(lambda: not sleepers(BG, SETSID), 10)
    tap.ok(gone, "SIGKILL of the worker: no process of its trial is left",
           f"left: {sleepers(BG, SETSID)}")
    for pid in sleepers(BG, SETSID):
        os.kill(pid, signal.SIGKILL)
    log.close()

    # --- the end of a trial ---
    d.call("POST", "/api/v1/studies", spec("ends", max_trials=1))
    w, log = worker(d, "ends", "E", f"setsid sleep {LEFT} & echo '@hpo final loss=1.5'")
    w.wait(60)
    t = trials(d, "ends")
    tap.ok(w.returncode == 0 and t and t[0]["state"] == "completed" and t[0]["value"] == 1.5,
           "a trial that leaves a setsid grandchild completes", t)
    gone = wait_until(lambda: not sleepers(LEFT), 10)
    tap.ok(gone, "and the grandchild does not outlive it", f"left: {sleepers(LEFT)}")
    for pid in sleepers(LEFT):
        os.kill(pid, signal.SIGKILL)
    log.close()

    # --- the echo limit ---
    d.call("POST", "/api/v1/studies", spec("loud", max_trials=1))
    w, log = worker(d, "loud", "L", "i=0; while [ $i -lt 40000 ]; do echo "
                    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'; "
                    "i=$((i+1)); done; echo '@hpo final loss=2.5'", extra=["--echo-limit", "1"])
    w.wait(120)
    log.seek(0)
    out = log.read().decode(errors="replace")
    t = trials(d, "loud")
    tap.ok(t and t[0]["state"] == "completed" and t[0]["value"] == 2.5,
           "a trial printing 3 MB past a 1 MiB echo limit runs on and completes", t)
    tap.ok(out.count("the rest is not shown") == 1, "with one notice", out[-600:])
    tap.ok(len(out) < 3 * 1024 * 1024 // 2, f"and its output is not all echoed ({len(out)} bytes)")
    log.close()

    # --- the report rate ---
    d.call("POST", "/api/v1/studies", spec("chatty", max_trials=1))
    w, log = worker(d, "chatty", "C", "i=0; while [ $i -lt 3000 ]; do echo \"@hpo step=$i "
                    "loss=$i\"; i=$((i+1)); done; echo '@hpo final loss=0.5'",
                    extra=["--report-rate", "5", "--echo-limit", "0"])
    w.wait(120)
    t = trials(d, "chatty")
    tid = t[0]["id"] if t else 0
    full = d.call("GET", f"/api/v1/trials/{tid}")[1]
    steps = [r["step"] for r in full.get("reports", [])]

    def secs(ts):
        return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + ts[19:-1])

    took = secs(full["finished_at"]) - secs(full["started_at"]) if steps else 0
    tap.ok(full.get("state") == "completed" and full.get("value") == 0.5,
           "a trial printing 3000 step lines completes with its final value", full.get("state"))
    tap.ok(0 < len(steps) <= 5 * took + 7,
           f"at most 5 reports a second (after a burst of 5) reach the daemon "
           f"({len(steps)} in {took:.1f} s)")
    tap.ok(steps and steps[-1] == 2999, "the latest step is among them", steps[-5:])
    log.close()
tap.done()

"""A lease belongs to the token that took it. A second worker token that learns
the first worker's name (it used to be in every 409) can neither heartbeat,
report nor complete the trial, nor take it back by asking under that name; the
409s name no other worker; an admin token may still fail any trial. A resend of
a completion is idempotent only when it is the same: another value or state is
a 409 and the recorded result stays."""
import subprocess

from hpotest import HPOD, Daemon, Tap, simple_spec

tap = Tap()


def token_cmd(d, *args):
    return subprocess.run([HPOD, "--db", d.db, "token"] + list(args), capture_output=True,
                          text=True, timeout=30)


def err(body):
    return body.get("error", {}) if isinstance(body, dict) else {}


with Daemon() as d:
    d.stop()
    admin = token_cmd(d, "add", "--role", "admin", "boss").stdout.strip()
    w1 = token_cmd(d, "add", "--role", "worker", "gpu-a").stdout.strip()
    w2 = token_cmd(d, "add", "--role", "worker", "gpu-b").stdout.strip()
    tap.ok(admin and w1 and w2, "three tokens: an admin and two workers")
    d.start()
    st, b = d.call("POST", "/api/v1/studies", simple_spec("own", max_trials=10), token=admin)
    tap.eq(st, 201, "a study")

    st, b = d.call("POST", "/api/v1/studies/own/suggest", {"worker": "a:0", "count": 2}, token=w1)
    tap.ok(st == 200 and len(b["trials"]) == 2, "the first worker leases two trials", b)
    t1, t2 = b["trials"][0]["id"], b["trials"][1]["id"]

    # the other worker, with a wrong name: the 409 names nobody
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "b:0", "value": 1.0},
                   token=w2)
    tap.ok(st == 409 and "a:0" not in err(b).get("message", ""),
           "a 409 names no other worker", b)

    # ... and with the right name (known some other way), still refused
    st, b = d.call("POST", f"/api/v1/trials/{t1}/heartbeat", {"worker": "a:0"}, token=w2)
    tap.ok(st == 409 and b.get("action") == "stop",
           "another worker token cannot heartbeat the trial under its worker's name", b)
    st, b = d.call("POST", f"/api/v1/trials/{t1}/report", {"worker": "a:0", "step": 1,
                                                             "value": -1e300}, token=w2)
    tap.eq(st, 409, "nor report on it")
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "a:0", "value": -1e300},
                   token=w2)
    tap.ok(st == 409 and "token" in err(b).get("message", ""),
           "nor complete it: 409 saying the lease was taken with another token", b)
    st, b = d.call("POST", "/api/v1/studies/own/suggest", {"worker": "a:0", "count": 2}, token=w2)
    got = [t["id"] for t in b.get("trials", [])] if st == 200 else []
    tap.ok(st == 200 and t1 not in got and t2 not in got,
           "asking under the first worker's name does not hand its trials over", b)
    st, b = d.call("GET", f"/api/v1/trials/{t1}", token=admin)
    tap.ok(st == 200 and b["state"] == "running" and b["value"] is None and b["reports"] == [],
           "the trial is untouched", b)

    # the real worker goes on and its result counts
    st, b = d.call("POST", f"/api/v1/trials/{t1}/heartbeat", {"worker": "a:0"}, token=w1)
    tap.eq(st, 200, "its own worker heartbeats")
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "a:0", "value": 0.25},
                   token=w1)
    tap.ok(st == 200 and b["value"] == 0.25 and b.get("recorded_before") is False,
           "and completes it", b)
    st, b = d.call("GET", "/api/v1/studies/own/best", token=admin)
    tap.ok(st == 200 and b["id"] == t1 and b["value"] == 0.25, "its value is the best", b)

    # resends
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "a:0", "value": 0.25},
                   token=w1)
    tap.ok(st == 200 and b.get("recorded_before") is True,
           "the same completion sent again: 200, recorded before", b)
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "a:0", "value": 0.5},
                   token=w1)
    tap.ok(st == 409 and err(b).get("code") == "already_completed"
           and "another result" in err(b).get("message", ""),
           "another value sent again: 409, already completed with another result", b)
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete",
                   {"worker": "a:0", "state": "failed", "error": "x"}, token=w1)
    tap.ok(st == 409 and err(b).get("code") == "already_completed",
           "another state sent again: 409 too", b)
    st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "a:0", "value": 0.25},
                   token=w2)
    tap.eq(st, 409, "the other token resending the same completion: 409, not recorded before")
    st, b = d.call("GET", f"/api/v1/trials/{t1}", token=admin)
    tap.ok(b["state"] == "completed" and b["value"] == 0.25, "the recorded result stays", b)

    # an admin may fail any trial (it reads the holder from GET /trials/{id})
    st, b = d.call("POST", f"/api/v1/trials/{t2}/complete",
                   {"worker": "a:0", "state": "failed", "error": "stopped by an admin"},
                   token=admin)
    tap.ok(st == 200 and b["state"] == "failed", "an admin token fails another's trial", b)
tap.done()

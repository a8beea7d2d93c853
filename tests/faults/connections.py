"""Many connections at once: hundreds of simulated workers, each with its own
kept-alive connection, all asking at the same moment (the load generator of
make bench-server, for 2 s). Every request is answered; none waits for the
libcurl timeout. libmicrohttpd's epoll loop once left requests unanswered
when more connections were ready than one epoll_wait returns (128)."""
import json
import os
import subprocess

from hpotest import Daemon, Tap, simple_spec

tap = Tap()
LOAD = os.path.join(os.environ.get("TOP_BUILDDIR", "."), "tests", "bench", "load")

with Daemon() as d:
    st, r = d.call("POST", "/api/v1/studies", simple_spec(
        "many", budget={"max_trials": 1000000, "max_parallel": 10000, "max_failures": 10},
        lease={"heartbeat_s": 30, "stale_after": 2, "max_retries": 1}))
    tap.eq(st, 201, "study created")
    for n in (128, 256, 128, 300):
        try:
            p = subprocess.run([LOAD, "--server", d.url, "--study", "many", "--workers", str(n),
                                "--seconds", "2"], capture_output=True, text=True, timeout=50)
            out = json.loads(p.stdout) if p.stdout else {}
        except (subprocess.TimeoutExpired, ValueError) as e:
            out = {"failure": repr(e)}
        tap.ok(out.get("trials", 0) > 0 and out.get("errors") == 0,
               f"{n} workers at once: every request answered "
               f"({out.get('trials', 0)} trials, {out.get('errors')} errors)", out)
    st, r = d.call("GET", "/healthz")
    tap.eq(st, 200, "the daemon still serves")

tap.done()

"""No thundering herd: a change to one study wakes the suggests waiting on that
study alone, and only as many as it can serve (plus the one that finds nothing
left). 100 suggests wait on study A (its one slot is taken); 300 suggest and
complete pairs on study B resume none of them (the /metrics counters count
every resumption); freeing A's slot serves one of A's waiters and leaves the
rest waiting; finishing A answers them all."""
import re
import threading
import time

from hpotest import Daemon, Tap, http, simple_spec, wait_until

tap = Tap()
N = 100


def metric(d, name):
    st, text = d.call("GET", "/metrics")
    m = re.search(r"^%s (\d+)" % re.escape(name), text if isinstance(text, str) else "", re.M)
    return int(m.group(1)) if m else None


def pairs(d, study, n):
    """n suggest and complete pairs on study, one after the other; pairs/s."""
    t0 = time.monotonic()
    for i in range(n):
        st, b = d.call("POST", f"/api/v1/studies/{study}/suggest", {"worker": "b"})
        tid = b["trials"][0]["id"]
        d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "b", "value": i})
    return n / (time.monotonic() - t0)


with Daemon() as d:
    d.call("POST", "/api/v1/studies", simple_spec(
        "a", max_trials=1000, budget={"max_trials": 1000, "max_parallel": 1, "max_failures": 5},
        lease={"heartbeat_s": 60, "stale_after": 2, "max_retries": 1}))
    d.call("POST", "/api/v1/studies", simple_spec(
        "b", max_trials=100000, budget={"max_trials": 100000, "max_parallel": 100,
                                       "max_failures": 5}))
    alone = pairs(d, "b", 200)
    st, b = d.call("POST", "/api/v1/studies/a/suggest", {"worker": "x"})
    tap.ok(st == 200 and len(b["trials"]) == 1, "worker x holds study a's one slot", b)
    held = b["trials"][0]["id"]

    answers = [None] * N

    def wait_on_a(i):
        try:
            st, b, _ = http(d.url + "/api/v1/studies/a/suggest", "POST",
                            {"worker": f"w{i}", "wait_s": 50}, timeout=70)
            answers[i] = (time.monotonic(), st, b)
        except Exception as e:  # noqa: BLE001 - recorded for the report
            answers[i] = (time.monotonic(), None, repr(e))

    threads = [threading.Thread(target=wait_on_a, args=(i,), daemon=True) for i in range(N)]
    for t in threads:
        t.start()
    parked = wait_until(lambda: metric(d, "hpod_longpoll_waiting") == N, timeout=30)
    tap.ok(parked, f"{N} suggests wait on study a", metric(d, "hpod_longpoll_waiting"))

    resumed0 = metric(d, "hpod_longpoll_resumed_total")
    events0 = metric(d, "hpod_longpoll_events_total")
    busy = pairs(d, "b", 300)
    resumed1 = metric(d, "hpod_longpoll_resumed_total")
    events1 = metric(d, "hpod_longpoll_events_total")
    tap.diag(f"study b: {alone:.0f} suggest+complete pairs/s alone, {busy:.0f} with {N} "
             f"suggests waiting on study a")
    tap.ok(resumed0 is not None and resumed1 == resumed0,
           "300 completions on study b resume none of study a's waiting suggests",
           f"resumed {resumed0} -> {resumed1}")
    tap.ok(events0 is not None and events1 - events0 >= 300,
           "each completion counts as an event", f"events {events0} -> {events1}")
    tap.eq(metric(d, "hpod_longpoll_waiting"), N, "all of them still wait")
    tap.ok(all(a is None for a in answers), "none of them was answered meanwhile")

    # one slot frees on a: one waiter gets it, the others keep waiting
    t_free = time.monotonic()
    st, b = d.call("POST", f"/api/v1/trials/{held}/complete", {"worker": "x", "value": 1.0})
    tap.eq(st, 200, "x completes its trial on a")
    got = wait_until(lambda: [a for a in answers if a is not None], timeout=10)
    time.sleep(0.5)
    done = [a for a in answers if a is not None]
    tap.ok(len(done) == 1 and done[0][1] == 200 and len(done[0][2]["trials"]) == 1
           and done[0][0] - t_free < 2,
           "the freed slot goes to one waiting suggest at once", done)
    resumed2 = metric(d, "hpod_longpoll_resumed_total")
    tap.ok(resumed2 - resumed1 <= 2,
           "and that event resumed at most two of the 100 (the one served, and the next, "
           "which found nothing and waits again)", f"resumed {resumed1} -> {resumed2}")
    tap.eq(metric(d, "hpod_longpoll_waiting"), N - 1, f"{N - 1} still wait")

    # finishing the study: every waiting suggest answers
    t_fin = time.monotonic()
    st, b = d.call("PATCH", "/api/v1/studies/a", {"state": "finished"})
    tap.eq(st, 200, "study a finished")
    all_back = wait_until(lambda: all(a is not None for a in answers), timeout=10)
    late = max((a[0] - t_fin for a in answers[1:] if a), default=None)
    states = {a[2].get("study_state") for a in answers if a and a[1] == 200 and not a[2]["trials"]}
    tap.ok(all_back and states == {"finished"} and late is not None and late < 5,
           "finishing study a answers every waiting suggest at once, saying so",
           (late, states))
    for t in threads:
        t.join(5)
    st, b = d.call("GET", "/healthz")
    tap.eq(st, 200, "the daemon still serves")

tap.done()

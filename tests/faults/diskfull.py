"""A full disk: the database is capped with `max_db_pages` (SQLite's
max_page_count, the same error as a full file system). Writes then answer 503
storage_unavailable with Retry-After, reads keep working, the daemon stays up,
nothing acknowledged is lost, and writes work again once space is freed (a
study deleted) or the cap raised by a restart."""
import os

from hpotest import Daemon, Tap, simple_spec

tap = Tap()


def write_conf(path, pages):
    with open(path, "w") as f:
        f.write(f"max_db_pages = {pages}\n")


def err(b):
    return b.get("error", {}) if isinstance(b, dict) else {}


with Daemon() as d0:
    d0.stop()
    conf = os.path.join(d0.tmp, "hpod.conf")
    write_conf(conf, 200)
    d = Daemon(args=["--config", conf], workdir=d0.tmp, db=os.path.join(d0.tmp, "full.db"))
    d.start()
    try:
        st, b = d.call("POST", "/api/v1/studies", simple_spec("keep", max_trials=50))
        tap.eq(st, 201, "a study is created under the cap")
        st, b = d.call("POST", "/api/v1/studies/keep/suggest", {"worker": "w", "count": 2})
        t1, t2 = b["trials"][0]["id"], b["trials"][1]["id"]
        st, b = d.call("POST", f"/api/v1/trials/{t1}/complete", {"worker": "w", "value": 1.5})
        tap.eq(st, 200, "a trial is completed")

        full = None
        filled = 0
        for i in range(200):
            spec = simple_spec(f"fill-{i}", description="x" * 100000)
            st, b, h = d.call_h("POST", "/api/v1/studies", spec)
            if st != 201:
                full = (st, b, h)
                break
            filled += 1
        tap.ok(full is not None and filled >= 1, f"the database fills after {filled} large studies")
        st, b, h = full or (None, {}, {})
        tap.ok(st == 503 and err(b).get("code") == "storage_unavailable"
               and "full" in err(b).get("message", ""), "a write past the cap: 503 saying the disk is full", b)
        tap.ok(h.get("Retry-After") is not None, "with Retry-After", dict(h or {}))

        st, b = d.call("GET", "/healthz")
        tap.eq(st, 200, "the daemon stays up: /healthz")
        st, b = d.call("GET", "/api/v1/studies/keep")
        tap.ok(st == 200 and b["counts"]["completed"] == 1, "reads work: the study and its counts")
        st, b = d.call("GET", "/api/v1/studies/keep/best")
        tap.ok(st == 200 and b["value"] == 1.5, "reads work: best")
        st, b = d.call("GET", "/api/v1/studies/keep/trials")
        tap.ok(st == 200 and len(b["trials"]) == 2, "reads work: the trials page")

        # keep writing until even small writes fail, then check the running trial
        for size in (10000, 1000):
            for i in range(100):
                if d.call("POST", "/api/v1/studies",
                          simple_spec(f"more-{size}-{i}", description="z" * size))[0] != 201:
                    break
        for i in range(3000):
            st, b = d.call("POST", "/api/v1/studies/keep/trials",
                           {"params": {"x": 0.1, "n": 1, "opt": "sgd"}})
            if st != 201:
                break
        tap.ok(st == 503 and err(b).get("code") == "storage_unavailable",
               "small writes fail too once every page is used: 503", (st, b))
        st, b = d.call("POST", f"/api/v1/trials/{t2}/complete", {"worker": "w", "value": 2.5})
        tap.ok(st in (200, 503), f"a complete on the full disk: 200 or 503 ({st}), never 500", b)
        completed_t2 = st == 200
        t = d.call("GET", f"/api/v1/trials/{t2}")[1]
        tap.eq(t["state"], "completed" if completed_t2 else "running",
               "the trial's state matches the answer the worker got")
        st, b = d.call("POST", "/api/v1/studies", raw='{"bad json')
        tap.eq(st, 400, "bad input still gets 400, not 503")

        # recovery without a restart: free space by deleting a study
        st, b = d.call("DELETE", "/api/v1/studies/fill-0")
        tap.eq(st, 200, "a delete works on the full disk and frees space")
        st, b = d.call("POST", f"/api/v1/trials/{t2}/complete", {"worker": "w", "value": 2.5})
        tap.ok(st == 200 and b["state"] == "completed" and b["value"] == 2.5,
               "the worker's retried complete is recorded once space is back", b)
        st, b = d.call("POST", "/api/v1/studies/keep/suggest", {"worker": "w2"})
        tap.ok(st == 200 and len(b["trials"]) == 1, "suggest works again", (st, b))
    finally:
        d.stop()

    # recovery by raising the cap: restart on the same database
    write_conf(conf, 100000)
    d = Daemon(args=["--config", conf], workdir=d0.tmp, db=os.path.join(d0.tmp, "full.db"))
    d.start()
    try:
        st, b = d.call("POST", "/api/v1/studies", simple_spec("after", description="y" * 100000))
        tap.eq(st, 201, "after a restart with a higher cap, large writes work")
        st, b = d.call("GET", "/api/v1/studies/keep")
        tap.ok(st == 200 and b["counts"]["completed"] == 2, "nothing acknowledged was lost", b.get("counts"))
        n = d.sql("SELECT COUNT(*) FROM studies WHERE name LIKE 'fill-%'")[0][0]
        tap.eq(n, filled - 1, "every large study acknowledged with 201 is there (less the deleted one)")
    finally:
        d.stop()

tap.done()

"""API tests: every endpoint of DESIGN.md and every error status, on a daemon on port 0."""
import socket
import threading
import time

from hpotest import Daemon, Tap, simple_spec, wait_until

tap = Tap()


def err_code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def err_msg(body):
    return body.get("error", {}).get("message", "") if isinstance(body, dict) else ""


def head_only(port, head, timeout=10):
    """Send a request head alone (no body) and read the answer to its end:
    (status, body bytes), or (None, reason)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
            if b"\r\n\r\n" in data and b"Content-Length: " in data:
                top, _, body = data.partition(b"\r\n\r\n")
                n = int(top.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(body) >= n:
                    break
    except OSError as e:
        return None, repr(e)
    finally:
        s.close()
    parts = data.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None), data


with Daemon() as d:
    st, b = d.call("GET", "/healthz")
    tap.eq((st, b), (200, {"status": "ok"}), "GET /healthz answers ok")
    st, b = d.call("GET", "/api/v1/version")
    tap.ok(st == 200 and b.get("name") == "hpod" and b.get("version"), "GET /api/v1/version")
    st, b = d.call("GET", "/api/v1/openapi.json")
    tap.ok(st == 200 and b.get("openapi", "").startswith("3."), "GET /api/v1/openapi.json")
    st, b = d.call("GET", "/metrics")
    tap.ok(st == 200 and "hpod_http_requests_total" in b, "GET /metrics is Prometheus text")

    # --- create ---
    spec = simple_spec("s1", max_trials=4, lease={"heartbeat_s": 30, "stale_after": 2, "max_retries": 1})
    st, b = d.call("POST", "/api/v1/studies", spec)
    tap.eq(st, 201, "POST /studies creates: 201")
    tap.eq(b.get("state"), "running", "a new study is running")
    st, b = d.call("POST", "/api/v1/studies", spec)
    tap.eq(st, 200, "same spec again: 200")
    other = dict(spec, description="another")
    st, b = d.call("POST", "/api/v1/studies", other)
    tap.ok(st == 409 and err_code(b) == "name_taken", "name holding another spec: 409", b)
    st, b = d.call("POST", "/api/v1/studies", raw='{"name": "x",')
    tap.ok(st == 400 and "line 1" in err_msg(b) and "column" in err_msg(b),
           "bad JSON: 400 with position", b)
    bad = simple_spec("s2")
    bad["params"][0]["low"] = 10
    st, b = d.call("POST", "/api/v1/studies", bad)
    tap.ok(st == 400 and "params[0]" in err_msg(b), "bad spec: 400 naming the field", b)
    bad = simple_spec("bad name!")
    st, b = d.call("POST", "/api/v1/studies", bad)
    tap.ok(st == 400 and "name" in err_msg(b), "bad study name: 400", b)
    llm = simple_spec("s-llm", sampler={"name": "llm"})
    st, b = d.call("POST", "/api/v1/studies", llm)
    tap.ok(st == 400 and "HPOD_LLM_BASE_URL" in err_msg(b),
           "llm sampler with no provider: 400 saying how to configure one", b)
    # The declared size is refused from the headers, before any body is sent:
    # a client that waits for "100 Continue" (libcurl for large bodies) gets
    # the 413 instead; one that sends at once may find the connection closed
    # before it is done.
    t0 = time.monotonic()
    st, raw = head_only(d.port, b"POST /api/v1/studies HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (5 << 20))
    tap.ok(st == 413 and b"body_too_large" in raw and time.monotonic() - t0 < 5,
           "oversized body: 413 from the headers alone, without the body", raw)
    st, b = d.call("GET", "/api/v1/studies/" + "a" * 9000)
    tap.ok(st in (404, 414, 431), f"oversized URL refused ({st})")

    # --- list / get ---
    st, b = d.call("GET", "/api/v1/studies")
    tap.ok(st == 200 and [s["name"] for s in b["studies"]] == ["s1"], "GET /studies lists", b)
    s = b["studies"][0]
    tap.ok(set(s["counts"]) == {"pending", "running", "completed", "failed", "pruned"},
           "list carries counts by state")
    st, b = d.call("GET", "/api/v1/studies/s1")
    tap.ok(st == 200 and b["spec"]["name"] == "s1" and "llm" in b and "best" in b,
           "GET /studies/{name}: spec, counts, best, tokens")
    st, b = d.call("GET", "/api/v1/studies/nope")
    tap.ok(st == 404 and err_code(b) == "not_found", "unknown study: 404")
    st, b = d.call("PUT", "/api/v1/studies/s1")
    tap.eq(st, 405, "wrong method: 405")
    st, b = d.call("GET", "/api/v1/nothing")
    tap.eq(st, 404, "unknown path: 404")

    # --- enqueue ---
    st, b = d.call("POST", "/api/v1/studies/s1/trials", {"params": {"x": 1.5, "n": 3, "opt": "adam"}})
    tap.ok(st == 201 and b["state"] == "pending" and b["source"] == "manual", "enqueue: 201 pending manual", b)
    manual_id = b.get("id")
    st, b = d.call("POST", "/api/v1/studies/s1/trials", {"params": {"x": 99, "n": 3, "opt": "adam"}})
    tap.ok(st == 400 and "x" in err_msg(b), "enqueue out of range: 400 naming the param", b)
    st, b = d.call("POST", "/api/v1/studies/s1/trials", {"params": {"x": 1, "n": 3}})
    tap.ok(st == 400 and "opt" in err_msg(b), "enqueue missing param: 400", b)
    st, b = d.call("POST", "/api/v1/studies/s1/trials", {"params": {"x": 1, "n": 3.5, "opt": "sgd"}})
    tap.ok(st == 400 and "n" in err_msg(b), "enqueue non-integer int: 400", b)

    # --- suggest: enqueued first ---
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w1"})
    tap.ok(st == 200 and len(b["trials"]) == 1 and b["trials"][0]["id"] == manual_id,
           "suggest serves the enqueued trial first", b)
    t1 = b["trials"][0]
    tap.ok(all(k in t1 for k in ("id", "number", "params", "heartbeat_s", "lease_expires_at")),
           "suggest answer has id, number, params, heartbeat_s, lease_expires_at")
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {})
    tap.ok(st == 400 and "worker" in err_msg(b), "suggest without worker: 400")
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w1", "count": 0})
    tap.eq(st, 400, "suggest count 0: 400")
    st, b = d.call("POST", "/api/v1/studies/nope/suggest", {"worker": "w1"})
    tap.eq(st, 404, "suggest on unknown study: 404")
    # same worker asking again gets its running trial back
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w1"})
    tap.ok(st == 200 and b["trials"] and b["trials"][0]["id"] == t1["id"],
           "same worker asking again gets its running trial back")

    # --- heartbeat / report / complete ---
    tid = t1["id"]
    st, b = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "w1"})
    tap.eq((st, b.get("action")), (200, "continue"), "heartbeat: continue")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/heartbeat", {"worker": "w9"})
    tap.ok(st == 409 and b.get("action") == "stop", "heartbeat from another worker: 409 stop")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/report", {"worker": "w1", "step": 1, "value": 0.7})
    tap.eq((st, b.get("action")), (200, "continue"), "report: continue")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/report",
                   {"worker": "w1", "step": 2, "values": {"loss": 0.6, "acc": 0.4}, "value": 0.6})
    tap.eq(st, 200, "report with values")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/report", {"worker": "w1", "step": -1, "value": 1})
    tap.eq(st, 400, "report with negative step: 400")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/report", {"worker": "w1", "step": 3, "value": "x"})
    tap.eq(st, 400, "report with a string value: 400")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w1", "state": "completed"})
    tap.ok(st == 400 and "value" in err_msg(b), "complete without value: 400")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w2", "value": 1.0})
    tap.ok(st == 409 and err_code(b) == "lease_lost", "complete by a worker without the lease: 409", b)
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete",
                   {"worker": "w1", "value": 0.5, "values": {"loss": 0.5, "acc": 0.5}, "sandbox": 7})
    tap.ok(st == 400 and "sandbox" in err_msg(b), "complete with a bad sandbox field: 400", b)
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete",
                   {"worker": "w1", "value": 0.5, "values": {"loss": 0.5, "acc": 0.5}, "sandbox": "bwrap"})
    tap.ok(st == 200 and b["state"] == "completed" and b["value"] == 0.5, "complete: 200", b)
    tap.eq(b.get("sandbox"), "bwrap", "the sandbox the worker reported is recorded")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w1", "value": 0.5})
    tap.ok(st == 200 and b.get("recorded_before") is True, "resent complete: 200, recorded before")
    st, b = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w1", "state": "failed"})
    tap.eq(st, 409, "complete of a finished trial with another state: 409")
    st, b = d.call("GET", f"/api/v1/trials/{tid}")
    tap.ok(st == 200 and [r["step"] for r in b["reports"]] == [1, 2] and b["attempt_log"][0]["worker"] == "w1",
           "GET /trials/{id}: reports and attempts", b)
    for key in ("id", "number", "state", "params", "value", "source", "worker", "attempts",
                "created_at", "started_at", "finished_at", "error"):
        if key not in b:
            tap.ok(False, f"trial carries {key}")
            break
    else:
        tap.ok(b["finished_at"].endswith("Z"), "trial carries every field, times in RFC 3339 UTC")
    st, b = d.call("GET", "/api/v1/trials/999999")
    tap.eq(st, 404, "unknown trial: 404")
    st, b = d.call("GET", "/api/v1/trials/abc")
    tap.eq(st, 404, "non-numeric trial id: 404")

    # --- best, trials paging ---
    st, b = d.call("GET", "/api/v1/studies/s1/best")
    tap.ok(st == 200 and b["id"] == tid, "GET /best")
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w2", "count": 3})
    tap.ok(st == 200 and len(b["trials"]) == 3 and all(t["source"] == "random" for t in b["trials"]),
           "suggest count 3 samples three trials", b)
    ids = [t["id"] for t in b["trials"]]
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w3", "wait_s": 0})
    tap.ok(st == 200 and b["trials"] == [] and b["study_state"] == "running",
           "budget all handed out: empty list, study running")
    # long-poll wakes when a trial fails and is not requeued... complete one as failed
    result = {}

    def poll():
        result["t0"] = time.time()
        result["resp"] = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w3", "wait_s": 10})
        result["t1"] = time.time()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    d.call("POST", f"/api/v1/trials/{ids[0]}/complete", {"worker": "w2", "state": "failed", "error": "boom"})
    time.sleep(0.5)
    tap.ok("resp" not in result, "a failed trial does not free budget: the long-poll keeps waiting")
    d.call("POST", "/api/v1/studies/s1/trials", {"params": {"x": 0.5, "n": 1, "opt": "sgd"}})
    th.join()
    st, b = result["resp"]
    tap.ok(st == 200 and len(b["trials"]) == 1 and result["t1"] - result["t0"] < 9.0,
           "a long-poll is answered by an enqueue, before wait_s", result)
    w3 = b["trials"][0]["id"] if b.get("trials") else None
    st, b = d.call("GET", "/api/v1/studies/s1/trials?limit=2")
    tap.ok(st == 200 and len(b["trials"]) == 2 and b["next_after"] == b["trials"][1]["number"]
           and b["total"] == 5, "trials paging: limit and next_after", b)
    st, b2 = d.call("GET", f"/api/v1/studies/s1/trials?limit=2&after={b['next_after']}")
    tap.ok(st == 200 and [t["number"] for t in b2["trials"]] == [2, 3] and b2["next_after"] == 3,
           "trials paging: the next page", b2)
    st, b3 = d.call("GET", "/api/v1/studies/s1/trials?limit=2&after=3")
    tap.ok(st == 200 and [t["number"] for t in b3["trials"]] == [4] and b3["next_after"] is None,
           "trials paging: the last page", b3)
    st, b4 = d.call("GET", "/api/v1/studies/s1/trials?order=desc&limit=2")
    tap.ok(st == 200 and [t["number"] for t in b4["trials"]] == [4, 3], "trials paging: newest first", b4)
    st, b5 = d.call("GET", "/api/v1/studies/s1/trials?source=manual")
    tap.ok(st == 200 and b5["total"] == 2, "source filter", b5)
    st, b = d.call("GET", "/api/v1/studies/s1/trials?state=failed")
    tap.ok(st == 200 and len(b["trials"]) == 1 and b["trials"][0]["error"] == "boom", "state filter")
    st, b = d.call("GET", "/api/v1/studies/s1/trials?state=weird")
    tap.eq(st, 400, "bad state filter: 400")
    st, b = d.call("GET", "/api/v1/studies/s1/trials?limit=x")
    tap.eq(st, 400, "bad limit: 400")
    st, b = d.call("GET", "/api/v1/studies/s1/llm-calls")
    tap.ok(st == 200 and b["calls"] == [], "llm-calls of a classical study is empty")

    # --- patch / finish ---
    st, b = d.call("PATCH", "/api/v1/studies/s1", {"state": "paused"})
    tap.ok(st == 200 and b["state"] == "paused", "PATCH paused")
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w4"})
    tap.ok(st == 200 and b["trials"] == [] and b["study_state"] == "paused", "a paused study hands out nothing")
    st, b = d.call("PATCH", "/api/v1/studies/s1", {"state": "sleeping"})
    tap.eq(st, 400, "PATCH bad state: 400")
    st, b = d.call("PATCH", "/api/v1/studies/s1", {"state": "running", "x": 1})
    tap.eq(st, 400, "PATCH unknown field: 400")
    st, b = d.call("PATCH", "/api/v1/studies/s1", {"state": "running"})
    tap.eq(st, 200, "PATCH running")
    d.call("POST", f"/api/v1/trials/{w3}/complete", {"worker": "w3", "value": 2.0})
    d.call("POST", f"/api/v1/trials/{ids[1]}/complete", {"worker": "w2", "value": 1.0})
    st, b = d.call("GET", "/api/v1/studies/s1")
    c = b["counts"]
    tap.ok(b["state"] == "finished" and c["completed"] == 3 and c["failed"] == 2 and c["running"] == 0,
           "study finishes at max_trials finished trials; the one still running is stopped", c)
    st, b = d.call("POST", f"/api/v1/trials/{ids[2]}/heartbeat", {"worker": "w2"})
    tap.eq((st, b.get("action")), (409, "stop"), "heartbeat of a stopped trial: stop")
    st, b = d.call("PATCH", "/api/v1/studies/s1", {"state": "running"})
    tap.ok(st == 409 and err_code(b) == "budget_spent", "resuming a study whose budget is spent: 409", b)
    st, b = d.call("GET", "/api/v1/studies/s1/trials?limit=1")
    tap.eq(list(b["trials"][0]["params"]), ["x", "n", "opt"], "params keep the spec's order")
    st, b = d.call("POST", "/api/v1/studies/s1/suggest", {"worker": "w5", "wait_s": 5})
    tap.ok(st == 200 and b["trials"] == [] and b["study_state"] == "finished",
           "suggest on a finished study: empty list, finished (no wait)")

    # --- worker cut off after repeated failures ---
    d.call("POST", "/api/v1/studies", simple_spec("s3", max_trials=50))
    for i in range(3):
        st, b = d.call("POST", "/api/v1/studies/s3/suggest", {"worker": "bad"})
        d.call("POST", f"/api/v1/trials/{b['trials'][0]['id']}/complete",
               {"worker": "bad", "state": "failed", "error": "exit status 1"})
    st, b, h = d.call_h("POST", "/api/v1/studies/s3/suggest", {"worker": "bad"})
    tap.ok(st == 429 and h.get("Retry-After") and "failed" in err_msg(b),
           "worker failing 3 times in a row: 429 with Retry-After", (st, b))
    st, b = d.call("POST", "/api/v1/studies/s3/suggest", {"worker": "good"})
    tap.ok(st == 200 and len(b["trials"]) == 1, "another worker still gets trials")

    # --- max_failures ---
    d.call("POST", "/api/v1/studies", simple_spec("s4", max_trials=50,
                                                 budget={"max_trials": 50, "max_failures": 2}))
    for i in range(2):
        st, b = d.call("POST", "/api/v1/studies/s4/suggest", {"worker": f"w{i}"})
        d.call("POST", f"/api/v1/trials/{b['trials'][0]['id']}/complete",
               {"worker": f"w{i}", "state": "failed", "error": "x"})
    st, b = d.call("GET", "/api/v1/studies/s4")
    tap.eq(b["state"], "finished", "study finishes at max_failures")

    # --- max_parallel ---
    d.call("POST", "/api/v1/studies", simple_spec("s5", max_trials=50,
                                                 budget={"max_trials": 50, "max_parallel": 2}))
    got = 0
    for i in range(4):
        st, b = d.call("POST", "/api/v1/studies/s5/suggest", {"worker": f"p{i}"})
        got += len(b["trials"])
    tap.eq(got, 2, "max_parallel bounds the running trials")

    # --- stale lease: requeue then fail ---
    d.call("POST", "/api/v1/studies", simple_spec("s6", max_trials=5))
    st, b = d.call("POST", "/api/v1/studies/s6/suggest", {"worker": "dies"})
    t = b["trials"][0]
    stale = wait_until(lambda: d.call("GET", f"/api/v1/trials/{t['id']}")[1]["state"] == "pending", 10)
    tap.ok(stale, "a trial whose heartbeats stop is requeued pending")
    st, b = d.call("POST", "/api/v1/studies/s6/suggest", {"worker": "w2"})
    tap.ok(b["trials"] and b["trials"][0]["id"] == t["id"] and b["trials"][0]["params"] == t["params"],
           "the requeued trial is handed out again with the same params")
    st, b = d.call("POST", f"/api/v1/trials/{t['id']}/complete", {"worker": "dies", "value": 1})
    tap.eq(st, 409, "a late complete from the worker that lost the lease: 409")
    failed = wait_until(lambda: d.call("GET", f"/api/v1/trials/{t['id']}")[1]["state"] == "failed", 10)
    st, b = d.call("GET", f"/api/v1/trials/{t['id']}")
    tap.ok(failed and "heartbeat" in (b.get("error") or ""),
           "after max_retries the trial fails with the reason", b.get("error"))
    tap.ok([a["outcome"] for a in b["attempt_log"]] == ["stale", "stale"], "attempts record each stale lease",
           b["attempt_log"])

    # --- delete ---
    st, b = d.call("DELETE", "/api/v1/studies/s6")
    tap.eq(st, 200, "DELETE a study")
    st, b = d.call("GET", "/api/v1/studies/s6")
    tap.eq(st, 404, "a deleted study is gone")
    tap.eq(d.sql("SELECT COUNT(*) FROM trials t LEFT JOIN studies s ON s.id = t.study_id WHERE s.id IS NULL")[0][0],
           0, "its trials are gone too")
    st, b = d.call("DELETE", "/api/v1/studies/s6")
    tap.eq(st, 404, "DELETE unknown: 404")

    # --- graceful shutdown ---
    code = d.stop()
    tap.eq(code, 0, "SIGTERM: hpod exits 0")

tap.done()

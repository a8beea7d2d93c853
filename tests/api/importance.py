"""GET /studies/{name}/importance: parameter importances (fanova by default,
gp on request) from the completed trials, computed by a worker thread and kept
per number of completed trials; 202 {"state": "computing"} with Retry-After
while they are computed past the request's wait_s."""
import math
import time

from hpotest import Daemon, Tap, simple_spec

tap = Tap()


def err_code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


bad_202 = []


def importance(d, study, query=""):
    """The 200 answer, asking again as long as it is 202 (as the page does)."""
    for _ in range(100):
        st, b, h = d.call_h("GET", f"/api/v1/studies/{study}/importance{query}")
        if st != 202:
            return st, b
        if b.get("state") != "computing" or h.get("Retry-After") is None:
            bad_202.append((b, dict(h)))
        time.sleep(min(float(h.get("Retry-After", "1")), 0.5))
    return st, b


def complete(d, study, value_of, state="completed"):
    st, b = d.call("POST", f"/api/v1/studies/{study}/suggest", {"worker": "w"})
    t = b["trials"][0]
    body = {"worker": "w", "state": state}
    if state != "failed":
        body["value"] = value_of(t["params"])
    d.call("POST", f"/api/v1/trials/{t['id']}/complete", body)


def dominant(p):
    # x decides the value; n a little; opt nothing
    return 10.0 * (p["x"] + 5.0) / 10.0 + 0.02 * p["n"]


def check_shape(b, study, n_trials, method):
    names = [i["param"] for i in b.get("importances", [])]
    vals = [i["importance"] for i in b.get("importances", [])]
    return (b.get("study") == study and b.get("method") == method and b.get("n_trials") == n_trials
            and b.get("objective") == "loss" and sorted(names) == ["n", "opt", "x"]
            and all(v >= 0 for v in vals) and vals == sorted(vals, reverse=True)
            and abs(sum(vals) - 1) < 1e-9)


with Daemon() as d:
    d.call("POST", "/api/v1/studies", simple_spec("imp", max_trials=100))

    st, b = d.call("GET", "/api/v1/studies/imp/importance")
    tap.ok(st == 200 and b["n_trials"] == 0 and "fewer than 2" in b.get("note", "")
           and [i["importance"] for i in b["importances"]] == [0, 0, 0]
           and sorted(i["param"] for i in b["importances"]) == ["n", "opt", "x"],
           "no trials: 200, every parameter 0, a note saying why", b)

    for _ in range(40):
        complete(d, "imp", dominant)
    st, b = importance(d, "imp")
    tap.ok(st == 200 and check_shape(b, "imp", 40, "fanova") and "note" not in b,
           "fanova over 40 trials: every parameter, descending, summing to 1", b)
    tap.ok(b["importances"][0]["param"] == "x" and b["importances"][0]["importance"] > 0.8,
           "the dominant parameter first, above 0.8", b["importances"])
    tap.ok(b["importances"][-1]["importance"] < 0.1, "the unused one near 0", b["importances"])

    st2, b2, h2 = d.call_h("GET", "/api/v1/studies/imp/importance?wait_s=0")
    tap.ok(st2 == 200 and b2 == b, "asked again at the same count: 200 at once (wait_s=0), the same",
           (st2, b2))

    complete(d, "imp", dominant, state="pruned")
    complete(d, "imp", dominant, state="failed")
    st2, b2 = d.call("GET", "/api/v1/studies/imp/importance?wait_s=0")
    tap.ok(st2 == 200 and b2 == b, "pruned and failed trials do not count: the same report", b2)

    complete(d, "imp", dominant)
    st3, b3, h3 = d.call_h("GET", "/api/v1/studies/imp/importance?wait_s=0")
    tap.ok(st3 == 202 and b3 == {"study": "imp", "method": "fanova", "n_trials": 41,
                                 "state": "computing"} and h3.get("Retry-After") == "1",
           "one more completed trial, wait_s=0: 202 computing for 41 trials, Retry-After", (st3, b3))
    st3, b3 = d.call("GET", "/api/v1/studies/imp/importance?wait_s=30")
    tap.ok(st3 == 200 and check_shape(b3, "imp", 41, "fanova")
           and b3["importances"][0]["param"] == "x",
           "the long-poll answers once the worker has it: n_trials 41", b3)

    st, b = importance(d, "imp", "?method=gp")
    tap.ok(st == 200 and check_shape(b, "imp", 41, "gp") and b["importances"][0]["param"] == "x",
           "method=gp: the GP's length scales rank the dominant parameter first", b)
    st, b = d.call("GET", "/api/v1/studies/imp/importance?method=fanova&wait_s=0")
    tap.ok(st == 200 and b == b3, "each method keeps its own report", b)

    st, b = d.call("GET", "/api/v1/studies/imp/importance?method=shap")
    tap.ok(st == 400 and err_code(b) == "bad_query" and "fanova or gp" in b["error"]["message"],
           "an unknown method: 400 naming the choices", b)
    st, b = d.call("GET", "/api/v1/studies/imp/importance?wait_s=soon")
    tap.ok(st == 400 and err_code(b) == "bad_query", "a malformed wait_s: 400", b)
    st, b = d.call("GET", "/api/v1/studies/nosuch/importance")
    tap.ok(st == 404 and err_code(b) == "not_found", "an unknown study: 404", b)
    st, b = d.call("POST", "/api/v1/studies/imp/importance")
    tap.ok(st == 405, "POST: 405", st)

    d.call("POST", "/api/v1/studies", simple_spec("flat", max_trials=20))
    for _ in range(5):
        complete(d, "flat", lambda p: 1.5)
    st, b = importance(d, "flat")
    tap.ok(st == 200 and b["n_trials"] == 5 and "same value" in b.get("note", "")
           and all(i["importance"] == 0 for i in b["importances"]),
           "a constant objective: 200, all 0, a note saying why", b)

    # the study deleted and made again under the same name: not the old report
    d.call("DELETE", "/api/v1/studies/flat")
    d.call("POST", "/api/v1/studies", simple_spec("flat", max_trials=20))
    for k in range(5):
        complete(d, "flat", lambda p: p["x"])
    st, b = importance(d, "flat")
    tap.ok(st == 200 and b["n_trials"] == 5 and "note" not in b
           and b["importances"][0]["param"] == "x" and not math.isclose(b["importances"][0]["importance"], 0),
           "a study made again under the same name gets its own report", b)
    tap.ok(not bad_202, "every 202 on the way said computing, with Retry-After", bad_202)

tap.done()

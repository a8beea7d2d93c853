"""GET /studies/{name}/trials: order by value (trials without a value last,
both directions, paged by position) and curve=true (every trial's
intermediate values in one answer)."""
from hpotest import Daemon, Tap, simple_spec

tap = Tap()


def err_code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


with Daemon() as d:
    d.call("POST", "/api/v1/studies", simple_spec("ord", max_trials=20))
    values = [3.0, 1.0, None, 2.0, 0.5, None, 4.0]  # None: failed, no value
    ids = []
    for i, v in enumerate(values):
        st, b = d.call("POST", "/api/v1/studies/ord/suggest", {"worker": "w"})
        t = b["trials"][0]
        ids.append(t["id"])
        for step in range(i % 3 + 1):
            d.call("POST", f"/api/v1/trials/{t['id']}/report", {"worker": "w", "step": step, "value": 10.0 - step})
        if v is None:
            d.call("POST", f"/api/v1/trials/{t['id']}/complete", {"worker": "w", "state": "failed", "error": "x"})
        else:
            d.call("POST", f"/api/v1/trials/{t['id']}/complete", {"worker": "w", "value": v})
    st, b = d.call("POST", "/api/v1/studies/ord/suggest", {"worker": "w"})  # stays running, no value

    st, b = d.call("GET", "/api/v1/studies/ord/trials?order=value")
    got = [t["value"] for t in b["trials"]]
    tap.ok(st == 200 and got == [0.5, 1.0, 2.0, 3.0, 4.0, None, None, None] and b["total"] == 8,
           "order=value: ascending, trials without a value last", got)
    st, b = d.call("GET", "/api/v1/studies/ord/trials?order=value_desc")
    got = [t["value"] for t in b["trials"]]
    tap.ok(st == 200 and got == [4.0, 3.0, 2.0, 1.0, 0.5, None, None, None],
           "order=value_desc: descending, trials without a value still last", got)
    st, b = d.call("GET", "/api/v1/studies/ord/trials?order=value&limit=2")
    tap.ok(st == 200 and [t["value"] for t in b["trials"]] == [0.5, 1.0] and b["next_after"] == 2,
           "order=value pages: next_after is the position of the next page", b.get("next_after"))
    st, b2 = d.call("GET", f"/api/v1/studies/ord/trials?order=value&limit=2&after={b['next_after']}")
    tap.ok(st == 200 and [t["value"] for t in b2["trials"]] == [2.0, 3.0] and b2["next_after"] == 4,
           "order=value: the second page", [t["value"] for t in b2["trials"]])
    st, b3 = d.call("GET", "/api/v1/studies/ord/trials?order=value&limit=5&after=5")
    tap.ok(st == 200 and len(b3["trials"]) == 3 and b3["next_after"] is None,
           "order=value: the last page has no next_after", b3.get("next_after"))
    st, b = d.call("GET", "/api/v1/studies/ord/trials?order=value&state=completed&limit=1")
    tap.ok(st == 200 and b["trials"][0]["value"] == 0.5 and b["total"] == 5,
           "order=value with a state filter: the best completed trial first", b)
    st, b = d.call("GET", "/api/v1/studies/ord/trials?order=best")
    tap.ok(st == 400 and err_code(b) == "bad_query", "an unknown order: 400", b)

    st, b = d.call("GET", "/api/v1/studies/ord/trials?curve=true&limit=3")
    curves = [t.get("curve") for t in b["trials"]]
    tap.ok(st == 200 and curves == [[[0, 10.0]], [[0, 10.0], [1, 9.0]], [[0, 10.0], [1, 9.0], [2, 8.0]]],
           "curve=true: each trial's reports as [step, value] in step order", curves)
    st, b = d.call("GET", "/api/v1/studies/ord/trials?limit=3")
    tap.ok(st == 200 and all("curve" not in t for t in b["trials"]), "no curve unless asked")
    st, b = d.call("GET", "/api/v1/studies/ord/trials?curve=true&after=6")
    tap.ok(st == 200 and b["trials"][0]["curve"] == [], "curve=true: a trial without reports has an empty curve",
           b["trials"])
    st, b = d.call("GET", "/api/v1/studies/ord/trials?curve=yes")
    tap.ok(st == 400 and err_code(b) == "bad_query", "curve must be true or false", b)

tap.done()

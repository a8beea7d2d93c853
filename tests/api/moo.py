"""Several objectives and constraints through the API: completes by name (400
naming a missing objective or constraint metric), feasibility, GET .../pareto
against a brute-force front and a hypervolume computed here, the derived
reference point recorded once, ?pareto=true, /best, the study's summary,
export and import, and a pruner watching a named objective."""
import random
import sqlite3

from hpotest import Daemon, Tap

tap = Tap()

OBJS = [{"name": "err", "direction": "minimize"}, {"name": "acc", "direction": "maximize"}]
PARAMS = [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]


def spec(name, max_trials=40, **extra):
    s = {"name": name, "objectives": OBJS, "constraints": [{"name": "mem", "max": 5}],
         "params": PARAMS, "sampler": {"name": "random", "seed": 3},
         "budget": {"max_trials": max_trials, "max_parallel": 4, "max_failures": 5}}
    s.update(extra)
    return s


def code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def message(body):
    return body.get("error", {}).get("message", "") if isinstance(body, dict) else ""


def lease(d, study, worker="w"):
    st, b = d.call("POST", f"/api/v1/studies/{study}/suggest", {"worker": worker})
    return b["trials"][0] if st == 200 and b.get("trials") else None


def complete(d, t, values, worker="w", **extra):
    body = {"worker": worker, "values": values}
    body.update(extra)
    return d.call("POST", f"/api/v1/trials/{t['id']}/complete", body)


def oriented(v):
    return (v[0], -v[1])  # err minimised, acc maximised


def dominates(a, b):
    a, b = oriented(a), oriented(b)
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def brute_front(points):
    """Numbers of the points (number -> (err, acc)) no other dominates."""
    return sorted(n for n, p in points.items()
                  if not any(dominates(q, p) for m, q in points.items() if m != n))


def hv2(points, ref):
    """Hypervolume of (err, acc) points against ref, both minimised after orienting."""
    r = oriented(ref)
    pts = sorted(oriented(p) for p in points if all(x < y for x, y in zip(oriented(p), r)))
    hv, best2 = 0.0, r[1]
    for x, y in pts:
        if y < best2:
            hv += (r[0] - x) * (best2 - y)
            best2 = y
    return hv


def derived_reference(first):
    """max(10, 2m + 2) first feasible completed (err, acc) in completion order."""
    errs, accs = [p[0] for p in first], [p[1] for p in first]
    return [max(errs) + 0.1 * (max(errs) - min(errs)), min(accs) - 0.1 * (max(accs) - min(accs))]


def close(a, b, tol=1e-9):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


with Daemon() as d:
    # --- the spec ---
    st, b = d.call("POST", "/api/v1/studies", spec("bad-gp", sampler={"name": "gp"}))
    tap.ok(st == 400 and code(b) == "bad_spec" and "sampler.name" in message(b)
           and "several objectives" in message(b), "gp on two objectives: 400 naming sampler.name", b)
    st, b = d.call("POST", "/api/v1/studies", spec("bad-pr", pruner={"name": "median", "objective": "loss"}))
    tap.ok(st == 400 and "pruner.objective" in message(b) and "\"loss\"" in message(b),
           "pruner.objective naming no objective: 400", b)
    for name in ("mogp", "motpe"):
        st, b = d.call("POST", "/api/v1/studies", spec("ok-" + name, sampler={"name": name}))
        tap.ok(st == 201, f"sampler {name} is accepted", b)

    # --- completes, feasibility ---
    st, b = d.call("POST", "/api/v1/studies", spec("m"))
    tap.ok(st == 201 and b.get("objective") == "err" and b.get("objectives") == ["err", "acc"]
           and b.get("pareto_size") == 0, "a study of two objectives is created", b)
    t = lease(d, "m")
    tap.ok(t is not None and t.get("objectives") is None and t.get("feasible") is None
           and "objectives" in t, "a running trial: objectives and feasible null", t)
    st, b = complete(d, t, {"err": 0.5, "mem": 1})
    tap.ok(st == 400 and code(b) == "bad_value" and message(b).startswith("values.acc: required"),
           "a completion without an objective: 400 values.acc", b)
    st, b = complete(d, t, {"err": 0.5, "acc": None, "mem": 1})
    tap.ok(st == 400 and message(b).startswith("values.acc: required"), "a null objective: 400", b)
    st, b = complete(d, t, {"err": 0.5, "acc": 0.5})
    tap.ok(st == 400 and message(b).startswith("values.mem: required: a constraint"),
           "a completion without a constraint's metric: 400 values.mem", b)
    st, b = d.call("GET", f"/api/v1/trials/{t['id']}")
    tap.ok(b["state"] == "running", "the refused completions changed nothing", b["state"])

    rng = random.Random(7)
    points, feasible, infeasible, order = {}, set(), set(), []
    reference_seen = []
    first = None
    n = 0
    while True:
        if n > 0:
            t = lease(d, "m")
        if t is None:
            break
        if n == 5:
            complete(d, t, {}, state="failed", error="boom")
            n += 1
            t = None
            continue
        err, acc = round(rng.random(), 6), round(rng.random(), 6)
        mem = round(rng.random() * 8, 3)
        st, b = complete(d, t, {"err": err, "acc": acc, "mem": mem, "other": 1})
        if st != 200:
            tap.ok(False, "completion", b)
            break
        ok = mem <= 5
        (feasible if ok else infeasible).add(t["number"])
        if ok:
            points[t["number"]] = (err, acc)
            order.append((err, acc))
        if n == 0:
            first = b
        if len(order) == 9:
            st, p = d.call("GET", "/api/v1/studies/m/pareto")
            tap.ok(p["reference_point"] is None and p["hypervolume"] is None
                   and p["reference_source"] is None,
                   "9 feasible completed trials: no reference point, no hypervolume yet", p)
        if len(order) >= 10:
            st, p = d.call("GET", "/api/v1/studies/m/pareto")
            reference_seen.append(p["reference_point"])
        n += 1
        t = None
    tap.ok(first["objectives"] == [first["values"]["err"], first["values"]["acc"]]
           and first["value"] == first["values"]["err"] and first["feasible"] is not None,
           "a completed trial: objectives in the spec's order, value the first", first)
    trials = d.trials("m")
    tap.eq(len(trials), 40, "the study ran its budget")
    flags = {tr["number"]: tr["feasible"] for tr in trials if tr["state"] == "completed"}
    tap.ok(all(flags[k] is True for k in feasible) and all(flags[k] is False for k in infeasible)
           and infeasible, "feasible true and false as the constraint says; infeasible trials are kept",
           flags)
    failed = [tr for tr in trials if tr["state"] == "failed"]
    tap.ok(len(failed) == 1 and failed[0]["objectives"] is None and failed[0]["feasible"] is None,
           "a failed trial: objectives and feasible null", failed)

    # --- the Pareto set ---
    st, p = d.call("GET", "/api/v1/studies/m/pareto")
    front = brute_front(points)
    got = [tr["number"] for tr in p["trials"]]
    tap.ok(st == 200 and sorted(got) == front and p["pareto"] is True,
           "/pareto: the feasible non-dominated trials (brute force here)", (got, front))
    firsts = [tr["objectives"][0] for tr in p["trials"]]
    tap.ok(firsts == sorted(firsts), "/pareto: sorted by the first objective, best first", firsts)
    tap.ok(all(tr["feasible"] is True for tr in p["trials"]), "every member is feasible")
    tap.ok(p["objectives"] == OBJS and p["n_completed"] == 39 and p["n_feasible"] == len(feasible),
           "/pareto: objectives, n_completed, n_feasible", {k: p[k] for k in ("objectives", "n_completed", "n_feasible")})
    want_ref = derived_reference(order[:10])
    tap.ok(p["reference_source"] == "derived" and all(close(a, b) for a, b in zip(p["reference_point"], want_ref)),
           "the reference point: worst of the first 10 feasible trials plus a tenth of the range",
           (p["reference_point"], want_ref))
    tap.ok(all(r == reference_seen[0] for r in reference_seen) and len(reference_seen) > 5,
           "the recorded reference point never moves as trials complete", len(reference_seen))
    want_hv = hv2(points.values(), p["reference_point"])
    tap.ok(close(p["hypervolume"], want_hv), "the hypervolume equals one computed here",
           (p["hypervolume"], want_hv))
    st, h = d.call("GET", "/api/v1/studies/m/pareto?history=true")
    hist = h.get("hypervolume_history", [])
    completed = sorted(tr["number"] for tr in trials if tr["state"] == "completed")
    tap.ok([e[0] for e in hist] == completed, "hypervolume_history: one entry per completed trial, by number")
    tap.ok(hist and close(hist[-1][1], p["hypervolume"])
           and all(hist[i][1] <= hist[i + 1][1] + 1e-12 for i in range(len(hist) - 1)),
           "hypervolume_history grows and ends at the hypervolume", hist[-3:])
    k = len(hist) // 2
    upto = [pt for num, pt in points.items() if num <= hist[k][0]]
    tap.ok(close(hist[k][1], hv2(upto, p["reference_point"])), "a middle entry of the history is right",
           (hist[k], hv2(upto, p["reference_point"])))
    st, b = d.call("GET", "/api/v1/studies/m/pareto?history=maybe")
    tap.ok(st == 400 and code(b) == "bad_query", "history=maybe: 400", b)

    st, b = d.call("GET", "/api/v1/studies/m/trials?pareto=true")
    tap.ok(st == 200 and [tr["number"] for tr in b["trials"]] == front and b["total"] == len(front),
           "?pareto=true: the Pareto set by number, with its total", b.get("total"))
    st, b = d.call("GET", "/api/v1/studies/m/trials?pareto=true&limit=2")
    st2, b2 = d.call("GET", f"/api/v1/studies/m/trials?pareto=true&limit=100&after={b['next_after']}")
    tap.ok([tr["number"] for tr in b["trials"] + b2["trials"]] == front, "?pareto=true pages with after")
    st, b = d.call("GET", "/api/v1/studies/m/trials?pareto=true&order=value")
    tap.ok([tr["value"] for tr in b["trials"]] == sorted(points[n][0] for n in front),
           "?pareto=true&order=value: by the first objective")
    st, b = d.call("GET", "/api/v1/studies/m/trials?pareto=yes")
    tap.ok(st == 400 and code(b) == "bad_query", "pareto=yes: 400", b)

    st, b = d.call("GET", "/api/v1/studies/m/best")
    tap.ok(st == 200 and b.get("pareto") is True and [tr["number"] for tr in b["trials"]] == got,
           "/best of a study of two objectives answers its Pareto set", b.get("pareto"))
    st, s = d.call("GET", "/api/v1/studies/m")
    tap.ok(s["pareto_size"] == len(front) and close(s["hypervolume"], p["hypervolume"])
           and s["reference_source"] == "derived" and s["reference_point"] == p["reference_point"]
           and s["best"] is None and s["best_value"] is None,
           "the study: hypervolume, reference point, pareto_size", {k: s.get(k) for k in ("pareto_size", "hypervolume", "reference_source")})
    st, l = d.call("GET", "/api/v1/studies")
    ms = [x for x in l["studies"] if x["name"] == "m"][0]
    tap.ok(ms["pareto_size"] == len(front), "the study list carries pareto_size", ms)
    rows = d.sql("SELECT count(*) FROM trials t JOIN studies s ON s.id = t.study_id "
                 "WHERE s.name = 'm' AND t.feasible = 0")
    tap.eq(rows[0][0], len(infeasible), "the database marks the infeasible trials (feasible = 0)")

    # --- export and import ---
    st, doc = d.call("GET", "/api/v1/studies/m/export")
    tap.ok(st == 200 and doc.get("reference_point") == p["reference_point"]
           and all("objectives" in tr and "feasible" in tr for tr in doc["trials"]),
           "the export carries objectives, feasibility and the recorded reference point")
    doc["spec"]["name"] = "m2"
    st, b = d.call("POST", "/api/v1/studies/import", doc)
    tap.ok(st == 201, "the export imports under another name", b)
    st, p2 = d.call("GET", "/api/v1/studies/m2/pareto")
    tap.ok([tr["number"] for tr in p2["trials"]] == got and p2["reference_point"] == p["reference_point"]
           and p2["reference_source"] == "derived" and close(p2["hypervolume"], p["hypervolume"]),
           "after the round trip: the same front, reference point and hypervolume",
           ([tr["number"] for tr in p2["trials"]], p2["reference_point"]))
    t2 = {tr["number"]: (tr["objectives"], tr["feasible"]) for tr in d.trials("m2")}
    t1 = {tr["number"]: (tr["objectives"], tr["feasible"]) for tr in trials}
    tap.ok(t1 == t2, "after the round trip: every trial's objectives and feasibility")
    bad = dict(doc)
    bad["spec"] = dict(doc["spec"], name="m3")
    bad["trials"] = [dict(tr) for tr in doc["trials"]]
    i = next(i for i, tr in enumerate(bad["trials"]) if tr["state"] == "completed")
    bad["trials"][i]["values"] = {"err": 1.0, "mem": 1.0}
    st, b = d.call("POST", "/api/v1/studies/import", bad)
    tap.ok(st == 400 and f"trials[{i}].values.acc" in message(b), "an import missing an objective: 400 naming it", b)
    bad["trials"] = doc["trials"]
    bad["reference_point"] = [1]
    st, b = d.call("POST", "/api/v1/studies/import", bad)
    tap.ok(st == 400 and "reference_point" in message(b), "a malformed reference point: 400", b)

    # --- a reference point in the spec ---
    d.call("POST", "/api/v1/studies", spec("r", reference_point=[1.0, 0.0], max_trials=3))
    pts = [(0.2, 0.5), (0.6, 0.9), (0.3, 0.4)]
    for err, acc in pts:
        t = lease(d, "r")
        complete(d, t, {"err": err, "acc": acc, "mem": 0})
    st, p = d.call("GET", "/api/v1/studies/r/pareto")
    tap.ok(p["reference_source"] == "spec" and p["reference_point"] == [1.0, 0.0]
           and close(p["hypervolume"], hv2(pts, [1.0, 0.0])) and len(p["trials"]) == 2,
           "a spec's reference point: hypervolume from the first trial", p["hypervolume"])

    # --- a pruner on a named objective ---
    for watched, want in (("acc", ["continue", "prune"]), ("err", ["prune", "prune"])):
        name = "p-" + watched
        d.call("POST", "/api/v1/studies",
               spec(name, pruner={"name": "patience", "threshold": 0.5, "objective": watched}))
        t = lease(d, name)
        acts = []
        for step, vals in enumerate(({"err": 100.0, "acc": 0.9}, {"err": 0.1, "acc": 0.2})):
            st, b = d.call("POST", f"/api/v1/trials/{t['id']}/report",
                           {"worker": "w", "step": step, "values": vals})
            acts.append(b.get("action"))
        tap.eq(acts, want, f"patience pruner watching {watched}: the reports it judges")
    d.call("POST", "/api/v1/studies", spec("p-first", pruner={"name": "patience", "threshold": 0.5}))
    t = lease(d, "p-first")
    st, b = d.call("POST", f"/api/v1/trials/{t['id']}/report", {"worker": "w", "step": 1, "value": 2.0})
    tap.ok(b.get("action") == "prune", "the first objective watched by default, \"value\" standing for it", b)

    # --- a database of the version before: objectives recorded at start-up ---
    st, before = d.call("GET", "/api/v1/studies/m/pareto?history=true")
    d.stop()
    con = sqlite3.connect(d.db, isolation_level=None)
    for q in ("DROP INDEX trials_pareto", "ALTER TABLE trials DROP COLUMN objs",
              "ALTER TABLE trials DROP COLUMN feasible", "ALTER TABLE trials DROP COLUMN violation",
              "ALTER TABLE trials DROP COLUMN pareto", "ALTER TABLE studies DROP COLUMN reference",
              "ALTER TABLE studies DROP COLUMN n_objectives",
              "ALTER TABLE studies DROP COLUMN n_constraints", "PRAGMA user_version = 6"):
        con.execute(q)
    con.close()
    d.start(d.port)
    st, after = d.call("GET", "/api/v1/studies/m/pareto?history=true")
    tap.ok(st == 200 and after == before,
           "an upgraded database: the trials' objectives, feasibility, Pareto set, reference "
           "point and hypervolume as before", (before.get("hypervolume"), after.get("hypervolume")))
    flags2 = {tr["number"]: tr["feasible"] for tr in d.trials("m") if tr["state"] == "completed"}
    tap.eq(flags2, flags, "an upgraded database: every trial's feasibility as before")
    tap.ok("migrated to schema version 7" in d.log() and "Pareto set" in d.log(),
           "the start-up says what it did")

    # --- one objective ---
    one = {"name": "one", "objective": {"name": "loss"}, "params": PARAMS,
           "sampler": {"name": "random"}, "budget": {"max_trials": 3}}
    d.call("POST", "/api/v1/studies", one)
    for v in (3.0, 1.0, 2.0):
        t = lease(d, "one")
        d.call("POST", f"/api/v1/trials/{t['id']}/complete", {"worker": "w", "value": v})
    st, p = d.call("GET", "/api/v1/studies/one/pareto")
    tap.ok(st == 200 and [tr["value"] for tr in p["trials"]] == [1.0] and p["hypervolume"] is None
           and p["reference_point"] is None and p["n_completed"] == 3,
           "/pareto of one objective: its best trial as a front of one", p)
    tap.ok(all("objectives" not in tr and "feasible" not in tr for tr in p["trials"] + d.trials("one")),
           "trials of one objective without constraints carry neither objectives nor feasible")
    st, b = d.call("GET", "/api/v1/studies/one/trials?pareto=true")
    tap.ok([tr["value"] for tr in b["trials"]] == [1.0] and b["total"] == 1, "?pareto=true of one objective: its best")
    st, b = d.call("GET", "/api/v1/studies/one/best")
    tap.ok(b.get("value") == 1.0 and "pareto" not in b, "/best of one objective: unchanged", b)

    con = dict(one, name="con", constraints=[{"name": "mem", "min": 0, "max": 5}])
    d.call("POST", "/api/v1/studies", con)
    for v, mem in ((3.0, 1.0), (1.0, 9.0), (2.0, 4.0)):
        t = lease(d, "con")
        st, b = d.call("POST", f"/api/v1/trials/{t['id']}/complete",
                       {"worker": "w", "value": v, "values": {"mem": mem}})
    st, b = d.call("GET", "/api/v1/studies/con/best")
    tap.ok(b.get("value") == 2.0 and b.get("feasible") is True,
           "one objective with a constraint: /best is the best feasible trial", b)
    st, b = d.call("POST", "/api/v1/studies", dict(one, name="con-gp", sampler={"name": "tpe"},
                                                   constraints=[{"name": "mem", "max": 5}]))
    tap.ok(st == 400 and "constraints" in message(b), "tpe with constraints: 400", b)
tap.done()

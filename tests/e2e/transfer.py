"""hpo export / hpo import: a study with its trials moves between daemons."""
import csv
import io
import json
import os

from hpotest import Daemon, Tap, simple_spec

tap = Tap()

with Daemon() as a, Daemon() as b:
    spec = simple_spec("moving", max_trials=6, lease={"heartbeat_s": 30, "stale_after": 2,
                                                       "max_retries": 1})
    spec["params"].append({"name": "note", "type": "categorical",
                           "choices": ["a,b", "say \"hi\""]})
    a.call("POST", "/api/v1/studies", spec)
    a.call("POST", "/api/v1/studies/moving/trials",
           {"params": {"x": 1.0, "n": 2, "opt": "sgd", "note": "a,b"}})
    made = []
    for i in range(4):
        st, r = a.call("POST", "/api/v1/studies/moving/suggest", {"worker": "w"})
        t = r["trials"][0]
        a.call("POST", f"/api/v1/trials/{t['id']}/report", {"worker": "w", "step": 1, "value": 2.0 + i})
        if i == 3:
            a.call("POST", f"/api/v1/trials/{t['id']}/complete",
                   {"worker": "w", "state": "failed", "error": "boom, \"quoted\"\nline two"})
        else:
            a.call("POST", f"/api/v1/trials/{t['id']}/complete",
                   {"worker": "w", "value": 1.0 + i, "values": {"loss": 1.0 + i, "acc": 0.5}})
        made.append(t["number"])
    st, r = a.call("POST", "/api/v1/studies/moving/suggest", {"worker": "w"})  # one left running

    p = a.hpo("export", "moving")
    tap.eq(p.returncode, 0, "hpo export exits 0")
    doc = json.loads(p.stdout)
    tap.ok(doc.get("format") == "hpod-study" and len(doc["trials"]) == 5,
           "the export holds the spec and every trial", doc.get("trials"))
    tap.ok(all(len(t["reports"]) == 1 for t in doc["trials"][:4]), "each trial carries its reports")
    path = os.path.join(a.tmp, "moving.json")
    with open(path, "w") as f:
        f.write(p.stdout)

    p = b.hpo("import", path)
    tap.ok(p.returncode == 0 and "imported study moving" in p.stdout, "hpo import on another daemon",
           p.stdout + p.stderr)
    st, got = b.call("GET", "/api/v1/studies/moving/export")
    keys = ("number", "state", "params", "value", "values", "source", "error", "worker")
    same = [[{k: t[k] for k in keys} for t in doc["trials"][:4]],
            [{k: t[k] for k in keys} for t in got["trials"][:4]]]
    tap.eq(same[1], same[0], "finished trials arrive with params, values, states, errors and sources")
    tap.eq([r["reports"] for r in got["trials"][:4]], [r["reports"] for r in doc["trials"][:4]],
           "reports arrive with their steps and times")
    tap.eq(got["trials"][4]["state"], "pending", "a trial that was running comes back pending")
    st, best_a = a.call("GET", "/api/v1/studies/moving/best")
    st, best_b = b.call("GET", "/api/v1/studies/moving/best")
    tap.eq((best_b["number"], best_b["value"]), (best_a["number"], best_a["value"]), "same best trial")
    st, r = b.call("POST", "/api/v1/studies/moving/suggest", {"worker": "w2", "count": 2})
    nums = sorted(t["number"] for t in r["trials"])
    tap.eq(nums, [4, 5], "the imported study carries on: the pending trial, then a new number")

    p = b.hpo("import", path)
    tap.ok(p.returncode == 1 and "another name" in p.stderr, "importing onto a taken name: refused",
           p.stderr)
    p = b.hpo("import", path, "--name", "moved-again")
    tap.eq(p.returncode, 0, "import --name gives it another name")
    bad = dict(doc)
    bad["trials"] = [dict(doc["trials"][0], params={"x": 99})]
    bad["spec"] = dict(doc["spec"], name="bad")
    st, r = b.call("POST", "/api/v1/studies/import", bad)
    tap.ok(st == 400 and "trials[0].params" in r["error"]["message"], "a bad trial: 400 naming it", r)
    tap.eq(b.call("GET", "/api/v1/studies/bad")[0], 404, "and nothing of it is kept")
    st, r = b.call("POST", "/api/v1/studies/import", {"spec": doc["spec"]})
    tap.eq(st, 400, "a document that is not an export: 400")

    p = a.hpo("export", "moving", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    tap.ok(p.returncode == 0 and len(rows) == 5, "CSV export: a row per trial", p.stdout)
    tap.ok({"x", "n", "opt", "note", "values.loss", "values.acc", "error"} <= set(rows[0]),
           "CSV columns: parameters, metrics, error", list(rows[0]))
    tap.eq(rows[0]["note"], "a,b", "CSV quotes a value with a comma")
    tap.eq(rows[3]["error"], "boom, \"quoted\"\nline two", "CSV keeps quotes and line breaks")
    p = a.hpo("export", "moving", "--format", "xml")
    tap.eq(p.returncode, 2, "an unknown format is a usage error")

tap.done()

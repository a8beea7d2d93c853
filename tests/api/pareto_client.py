"""hpo best and hpo study show on a study with two objectives and a constraint:
the front as a table (number, each objective, feasible, params) with the
hypervolume and the reference point, the same trials GET /pareto answers; a
one-objective study prints as before."""
import json
import re

from hpotest import Daemon, Tap, simple_spec

tap = Tap()

# (x, acc, latency_ms, mem_gb): #0 and #2 on the front, #1 dominated by #0,
# #3 better than all but over the memory limit, #4 on the front
RESULTS = [(0.5, 0.90, 20.0, 3.0), (1.5, 0.80, 30.0, 3.0), (2.5, 0.85, 10.0, 2.0),
           (3.5, 0.99, 5.0, 9.0), (4.0, 0.95, 40.0, 5.0)]


def run_trials(d, name, results):
    for x, acc, lat, mem in results:
        st, b = d.call("POST", f"/api/v1/studies/{name}/trials", {"params": {"x": x}})
        assert st in (200, 201), (st, b)
        st, b = d.call("POST", f"/api/v1/studies/{name}/suggest", {"worker": "w:0", "count": 1})
        assert st == 200 and b["trials"], (st, b)
        t = b["trials"][0]
        st, b = d.call("POST", f"/api/v1/trials/{t['id']}/complete",
                       {"worker": "w:0", "state": "completed", "value": acc,
                        "values": {"acc": acc, "latency_ms": lat, "mem_gb": mem}})
        assert st == 200, (st, b)


def table_rows(text):
    """The rows under the header that starts with "number" (first cell digits)."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("number")), None)
    if start is None:
        return None, []
    rows = []
    for l in lines[start + 1:]:
        if not re.match(r"^\d+\s", l):
            break
        rows.append(l.split())
    return lines[start].split(), rows


with Daemon() as d:
    spec = {
        "name": "mo",
        "objectives": [{"name": "acc", "direction": "maximize"},
                       {"name": "latency_ms", "direction": "minimize"}],
        "constraints": [{"name": "mem_gb", "max": 6}],
        "reference_point": [0.5, 60],
        "params": [{"name": "x", "type": "float", "low": 0, "high": 5}],
        "sampler": {"name": "random", "seed": 1},
        "budget": {"max_trials": 20, "max_parallel": 2},
    }
    st, b = d.call("POST", "/api/v1/studies", spec)
    tap.eq(st, 201, "two-objective study created")
    run_trials(d, "mo", RESULTS)
    st, p = d.call("GET", "/api/v1/studies/mo/pareto")
    tap.eq(st, 200, "GET /pareto answers")
    want = sorted(t["number"] for t in p.get("trials", []))
    tap.eq(want, [0, 2, 4], "the front is #0, #2 and #4 (#3 is infeasible)")
    # the area the front dominates above (0.5, 60): acc up, latency down
    hv_want = (0.95 - 0.5) * (60 - 40) + (0.90 - 0.5) * (40 - 20) + (0.85 - 0.5) * (20 - 10)
    tap.ok(abs((p.get("hypervolume") or 0) - hv_want) < 1e-9, "the hypervolume of that front",
           (p.get("hypervolume"), hv_want))

    r = d.hpo("best", "mo")
    head, rows = table_rows(r.stdout)
    tap.ok(r.returncode == 0 and head is not None and
           head[:5] == ["number", "acc", "(max)", "latency_ms", "(min)"] and
           head[-2:] == ["feasible", "params"],
           "hpo best: a table with number, each objective with its direction, feasible, params",
           r.stdout + r.stderr)
    tap.eq(sorted(int(row[0]) for row in rows), want, "hpo best: the rows are /pareto's trials")
    by = {int(row[0]): row for row in rows}
    tap.ok(by.get(2, [])[1:4] == ["0.85", "10", "yes"] and by.get(2, [""])[-1] == "x=2.5",
           "hpo best: a row holds the objectives, feasibility and params", by.get(2))
    hv = p.get("hypervolume")
    line = next((l for l in r.stdout.splitlines() if l.startswith("hypervolume")), "")
    tap.ok(hv is not None and line == f"hypervolume {hv:.6g}, reference point [0.5, 60] "
           "(from the spec)",
           "hpo best: the hypervolume and the reference point", (line, hv))
    tap.ok("Pareto front: 3 trials of 5 completed (4 feasible)" in r.stdout,
           "hpo best: front size, completed and feasible counts", r.stdout)
    r2 = d.hpo("--json", "best", "mo")
    tap.ok(r2.returncode == 0 and json.loads(r2.stdout).get("pareto") is True,
           "hpo --json best: the /best answer as is")

    r = d.hpo("study", "show", "mo")
    out = r.stdout
    tap.ok(r.returncode == 0 and "objectives acc (maximize), latency_ms (minimize)" in out and
           "constraint mem_gb <= 6" in out, "hpo study show: objectives and constraints",
           out + r.stderr)
    tap.ok(re.search(r"^front\s+3 trials, hypervolume [0-9.]+, reference point \[0.5, 60\] "
                     r"\(from the spec\)$", out, re.M),
           "hpo study show: front size, hypervolume and reference point", out)
    head, rows = table_rows(out)
    tap.eq(sorted(int(row[0]) for row in rows), want, "hpo study show: the front's table")

    # one objective: as before
    d.call("POST", "/api/v1/studies", simple_spec("one"))
    for x in (1.0, 2.0):
        d.call("POST", "/api/v1/studies/one/trials", {"params": {"x": x, "n": 1, "opt": "sgd"}})
        b = d.call("POST", "/api/v1/studies/one/suggest", {"worker": "w:1", "count": 1})[1]
        d.call("POST", f"/api/v1/trials/{b['trials'][0]['id']}/complete",
               {"worker": "w:1", "state": "completed", "value": x * x})
    r = d.hpo("best", "one")
    tap.ok(r.returncode == 0 and r.stdout.startswith("trial 0: value 1 (completed") and
           "Pareto" not in r.stdout and "hypervolume" not in r.stdout,
           "one objective: hpo best prints the best trial as before", r.stdout)
    r = d.hpo("study", "show", "one")
    tap.ok(r.returncode == 0 and re.search(r"^objective\s+loss \(minimize\)$", r.stdout, re.M) and
           re.search(r"^best\s+loss=1 \(trial 0\)", r.stdout, re.M) and
           "front" not in r.stdout, "one objective: hpo study show as before", r.stdout)
tap.done()

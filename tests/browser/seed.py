"""Seed an hpod database (daemon stopped) for the browser test.

seed.py DB big STUDY N [R]  N finished trials of mixed sources in STUDY, the
                           first R of them (default 0) with 8 intermediate values
seed.py DB llm STUDY       a few LLM calls in STUDY's audit log
seed.py DB dominant STUDY N  N completed trials whose value depends almost
                           only on the study's first parameter (importances)

The studies themselves are created through the API beforehand, so the rows
written here follow the schema the daemon migrated the database to.
"""

import json
import math
import random
import sqlite3
import sys
import time

SOURCES = ["sobol", "gp", "tpe", "llm", "llm", "fallback:gp", "random", "manual"]


def study_row(db, name):
    row = db.execute("SELECT id, spec FROM studies WHERE name = ?", (name,)).fetchone()
    if row is None:
        sys.exit(f"seed.py: no study \"{name}\"")
    return row[0], json.loads(row[1])


def sample(p, rng):
    if p["type"] == "categorical":
        return rng.choice(p["choices"])
    lo, hi = p["low"], p["high"]
    if p.get("log"):
        v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        v = rng.uniform(lo, hi)
    return int(round(v)) if p["type"] == "int" else v


STEPS = 8


def seed_big(db, name, n, with_reports=0):
    sid, spec = study_row(db, name)
    rng = random.Random(7)
    now = int(time.time() * 1000) - n * 1000
    rows = []
    for i in range(n):
        params = {p["name"]: sample(p, rng) for p in spec["params"] if p["type"] != "code"}
        failed = i % 50 == 49
        value = None if failed else sum(abs(math.log10(v)) if isinstance(v, float) and v > 0
                                        else 0.1 for v in params.values()) + rng.random()
        t = now + i * 1000
        rows.append((sid, i, "failed" if failed else "completed", json.dumps(params), value,
                     None if failed else json.dumps({spec["objective"]["name"]: value}),
                     SOURCES[i % len(SOURCES)], f"host{i % 4}:0", 1, t, t + 10, t + 900,
                     "exit status 1" if failed else None))
    db.executemany(
        "INSERT INTO trials (study_id, number, state, params, value, values_json, source, "
        "worker, attempts, created_at, started_at, finished_at, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("UPDATE studies SET next_number = ? WHERE id = ?", (n, sid))
    if with_reports:
        seed_reports(db, sid, with_reports, now)


def seed_reports(db, sid, n, now):
    """STEPS decreasing intermediate values ending at each trial's value."""
    trials = db.execute("SELECT id, value FROM trials WHERE study_id = ? AND number < ? AND value IS NOT NULL",
                        (sid, n)).fetchall()
    rows = []
    for tid, value in trials:
        for step in range(STEPS):
            rows.append((tid, step, value * (1 + (STEPS - 1 - step) / STEPS), now + step))
    db.executemany("INSERT INTO trial_reports (trial_id, step, value, at) VALUES (?, ?, ?, ?)", rows)
    db.executemany("UPDATE trials SET last_step = ?, last_value = ? WHERE id = ?",
                   [(STEPS - 1, value, tid) for tid, value in trials])


def seed_llm(db, name):
    sid, spec = study_row(db, name)
    now = int(time.time() * 1000)
    space = "\n".join(f"- {p['name']}: {p['type']}" for p in spec["params"])
    for k in range(3):
        request = [
            {"role": "system", "content": "You help tune hyperparameters. Answer with JSON."},
            {"role": "user", "content": f"Study: {spec.get('description', '')}\n"
                                        f"Search space:\n{space}\nPropose configuration {k + 1}."},
        ]
        cat = next((p for p in spec["params"] if p["type"] == "categorical"), None)
        reply = json.dumps({"lr": 0.01 * (k + 1), "kernel": cat["choices"][-1] if cat else None})
        db.execute(
            "INSERT INTO llm_calls (study_id, at, provider, model, request, reply, tokens_in, "
            "tokens_out, latency_ms, status, error, trials) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, now + k, "default", "fake-model", json.dumps(request), reply, 420 + k, 31, 850 + k,
             200, "invalid reply: \"<b>kernel</b>\" is not a choice" if k == 2 else None,
             json.dumps([k])))
    db.execute("UPDATE studies SET tokens_in = tokens_in + 1263, tokens_out = tokens_out + 93, "
               "cost_usd = cost_usd + 0.0042 WHERE id = ?", (sid,))


def seed_dominant(db, name, n):
    """The value is 10 * the first parameter (scaled to [0, 1]) plus a
    hundredth of each other one and a little noise: the first parameter
    explains nearly all of the variation, by construction."""
    sid, spec = study_row(db, name)
    rng = random.Random(11)
    now = int(time.time() * 1000) - n * 1000
    params_spec = [p for p in spec["params"] if p["type"] in ("float", "int")]
    rows = []
    for i in range(n):
        unit = [rng.random() for _ in params_spec]
        params = {}
        for p, u in zip(params_spec, unit):
            v = p["low"] + u * (p["high"] - p["low"])
            params[p["name"]] = int(round(v)) if p["type"] == "int" else v
        value = 10 * unit[0] + sum(0.01 * u for u in unit[1:]) + 0.001 * rng.random()
        t = now + i * 1000
        rows.append((sid, i, "completed", json.dumps(params), value,
                     json.dumps({spec["objective"]["name"]: value}), "sobol" if i < 8 else "tpe",
                     "host0:0", 1, t, t + 10, t + 900))
    db.executemany(
        "INSERT INTO trials (study_id, number, state, params, value, values_json, source, "
        "worker, attempts, created_at, started_at, finished_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("UPDATE studies SET next_number = ? WHERE id = ?", (n, sid))


def main():
    db = sqlite3.connect(sys.argv[1])
    with db:
        if sys.argv[2] == "big":
            seed_big(db, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
        elif sys.argv[2] == "llm":
            seed_llm(db, sys.argv[3])
        elif sys.argv[2] == "dominant":
            seed_dominant(db, sys.argv[3], int(sys.argv[4]))
        else:
            sys.exit(f"seed.py: unknown command \"{sys.argv[2]}\"")
    db.close()


if __name__ == "__main__":
    main()

"""Notes on studies and trials (PUT .../note: who may write, bad bodies, text
kept as written, export and import), the trial table as CSV (filters, order,
RFC 4180 quoting, no spreadsheet formula) and the contour grid."""
import csv
import io
import subprocess
import tempfile

from hpotest import HPOD, Daemon, Tap, http

tap = Tap()
MARKUP = '<img src=x onerror=alert(1)> & "quoted" \u00e9\u6f22'

SPEC = {
    "name": "notes",
    "description": "notes and csv",
    "objective": {"name": "loss", "direction": "minimize"},
    "params": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "layers", "type": "int", "low": 1, "high": 4},
        {"name": "tag", "type": "categorical", "choices": ["plain", "=1+2", "-x", "@sum", "a,b", 'say "hi"']},
    ],
    "sampler": {"name": "random", "seed": 2},
    "budget": {"max_trials": 50, "max_parallel": 8, "max_failures": 20},
}


def code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def token(db, role, name):
    p = subprocess.run([HPOD, "--db", db, "token", "add", "--role", role, name],
                       capture_output=True, text=True, timeout=60)
    return p.stdout.strip()


def rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


with tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
    d = Daemon(workdir=tmp)
    admin = token(d.db, "admin", "a")
    worker = token(d.db, "worker", "w")
    reader = token(d.db, "read", "r")
    tap.ok(admin and worker and reader, "three tokens: admin, worker, read")
    with d:
        d.token = admin
        st, _ = d.call("POST", "/api/v1/studies", SPEC)
        tap.eq(st, 201, "study created")
        tags = [c for c in SPEC["params"][2]["choices"]]
        # trials enqueued with chosen params, then run: known values and tags
        for i, tag in enumerate(tags):
            st, b = d.call("POST", "/api/v1/studies/notes/trials",
                           {"params": {"lr": 10 ** -(i % 4 + 1), "layers": i % 4 + 1, "tag": tag}})
        done = []
        for i in range(len(tags)):
            st, b = d.call("POST", "/api/v1/studies/notes/suggest", {"worker": "host:0"})
            t = b["trials"][0]
            if i == 2:
                d.call("POST", f"/api/v1/trials/{t['id']}/complete",
                       {"worker": "host:0", "state": "failed", "error": "boom"})
            else:
                value = -0.5 + i / 10  # negative values stay numbers in the CSV
                d.call("POST", f"/api/v1/trials/{t['id']}/complete", {"worker": "host:0", "value": value})
            done.append(t)

        # --- notes ---
        st, b = d.call("PUT", "/api/v1/studies/notes/note", {"note": MARKUP}, token=admin)
        tap.ok(st == 200 and b["note"] == MARKUP and b["note_at"], "an admin token writes a study's note", b)
        st, b = d.call("GET", "/api/v1/studies/notes", token=reader)
        tap.ok(st == 200 and b["note"] == MARKUP and b["note_at"],
               "the study's answer carries the note as written (markup, quotes, UTF-8)", b.get("note"))
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/1/note", {"note": "=HYPERLINK(\"x\")\nline 2"},
                       token=worker)
        tap.ok(st == 200 and b["number"] == 1 and b["note"].startswith("=HYPERLINK"),
               "a worker token writes a trial's note", b)
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/0/note", {"note": "plain"}, token=reader)
        tap.ok(st == 403, "a read token may not write a note (403)", (st, b))
        st, b = d.call("PUT", "/api/v1/studies/notes/note", {"note": "x"}, token=reader)
        tap.ok(st == 403, "a read token may not write the study's note (403)", (st, b))
        st, b, _ = http(d.url + "/api/v1/studies/notes/note", "PUT", {"note": "x"})
        tap.ok(st == 401, "no token: 401", st)
        trial1 = next(t for t in done if t["number"] == 1)
        st, b = d.call("GET", f"/api/v1/trials/{trial1['id']}", token=reader)
        tap.ok(st == 200 and b["note"] == "=HYPERLINK(\"x\")\nline 2" and b["note_at"],
               "the trial's answer carries its note", b.get("note"))
        st, b = d.call("GET", "/api/v1/studies/notes/trials?limit=5", token=reader)
        tap.ok(st == 200 and [t["note"] for t in b["trials"]][:2] == [None, "=HYPERLINK(\"x\")\nline 2"]
               and b["trials"][0]["note_at"] is None,
               "a page of trials carries notes, null where none", [t["note"] for t in b["trials"]])
        # bad bodies
        for body, want, what in [
            ({"note": 5}, 400, "a number"),
            ({"text": "x"}, 400, "an unknown field"),
            ({}, 400, "no note"),
            ({"note": ["x"]}, 400, "an array"),
        ]:
            st, b = d.call("PUT", "/api/v1/studies/notes/note", body)
            field = "text" if what == "an unknown field" else "note"
            tap.ok(st == want and code(b) == "bad_request" and b["error"]["message"].startswith(field),
                   f"a note body with {what}: 400 naming the field", (st, b))
        st, b = d.call("PUT", "/api/v1/studies/notes/note", raw=b'{"note": "x"')
        tap.ok(st == 400, "a note body that is not JSON: 400", (st, b))
        st, b = d.call("PUT", "/api/v1/studies/notes/note", {"note": "x" * 65537})
        tap.ok(st == 413 and code(b) == "note_too_large", "a note over 64 KiB: 413", (st, code(b)))
        st, b = d.call("PUT", "/api/v1/studies/notes/note", {"note": "y" * 65536})
        tap.ok(st == 200 and len(b["note"]) == 65536, "a note of exactly 64 KiB is kept", st)
        st, b = d.call("PUT", "/api/v1/studies/notes/note", {"note": MARKUP})
        st, b = d.call("PUT", "/api/v1/studies/absent/note", {"note": "x"})
        tap.ok(st == 404, "a note on a study that does not exist: 404", (st, b))
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/999/note", {"note": "x"})
        tap.ok(st == 404 and "999" in b["error"]["message"], "a note on a trial that does not exist: 404", b)
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/abc/note", {"note": "x"})
        tap.ok(st == 404, "a trial number that is not a number: 404", (st, b))
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/3/note", {"note": "gone soon"})
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/3/note", {"note": None})
        tap.ok(st == 200 and b["note"] is None and b["note_at"] is None, "a null note removes it", b)
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/4/note", {"note": "kept"})
        st, b = d.call("PUT", "/api/v1/studies/notes/trials/4/note", {"note": ""})
        tap.ok(st == 200 and b["note"] is None, "an empty note removes it", b)

        p = d.hpo("study", "show", "notes")
        tap.ok(p.returncode == 0 and "note" in p.stdout and "<img src=x" in p.stdout, "hpo study show prints the note",
               p.stdout)

        # --- hpo note ---
        p = d.hpo("note", "notes", "--trial", "5", "from the command line")
        st, b = d.call("GET", "/api/v1/studies/notes/trials?after=4&limit=1")
        tap.ok(p.returncode == 0 and "saved" in p.stdout and b["trials"][0]["note"] == "from the command line",
               "hpo note --trial N TEXT writes a trial's note", p.stdout + p.stderr)
        p = d.hpo("note", "notes", "--trial", "5", "--clear")
        st, b = d.call("GET", "/api/v1/studies/notes/trials?after=4&limit=1")
        tap.ok(p.returncode == 0 and "removed" in p.stdout and b["trials"][0]["note"] is None,
               "hpo note --clear removes it", p.stdout + p.stderr)
        p = d.hpo("note", "notes", "--trial", "5", "--file", "-", input="line 1\nline 2\n")
        st, b = d.call("GET", "/api/v1/studies/notes/trials?after=4&limit=1")
        tap.ok(p.returncode == 0 and b["trials"][0]["note"] == "line 1\nline 2\n", "hpo note --file - reads the text",
               p.stderr)
        d.hpo("note", "notes", "--trial", "5", "--clear")
        p = d.hpo("note", "notes-x", "--file", "-", input="line 1\nline 2\n")
        tap.ok(p.returncode != 0 and "notes-x" in p.stderr, "hpo note on a study that does not exist fails, saying so",
               p.stderr)
        p = d.hpo("note", "notes")
        tap.ok(p.returncode != 0 and "TEXT" in p.stderr, "hpo note without a text is a usage error", p.stderr)
        p = d.hpo("note", "notes", "--trial", "x", "t")
        tap.ok(p.returncode != 0 and "--trial" in p.stderr, "hpo note --trial takes a number", p.stderr)
        d.token = reader
        p = d.hpo("note", "notes", "not allowed")
        d.token = admin
        tap.ok(p.returncode != 0 and ("403" in p.stderr or "role" in p.stderr),
               "hpo note with a read token is refused", p.stderr)

        # --- export and import keep the notes ---
        st, doc = d.call("GET", "/api/v1/studies/notes/export", token=reader)
        tap.ok(st == 200 and doc["note"] == MARKUP and doc["trials"][1]["note"].startswith("=HYPERLINK"),
               "the export carries the study's and the trials' notes", (doc.get("note"), doc["trials"][1].get("note")))
        doc["spec"]["name"] = "notes-copy"
        st, b = d.call("POST", "/api/v1/studies/import", doc)
        tap.eq(st, 201, "the export imports under another name")
        st, b = d.call("GET", "/api/v1/studies/notes-copy")
        tap.ok(b["note"] == MARKUP and b["note_at"] == doc["note_at"], "the imported study keeps its note and its time",
               (b.get("note"), b.get("note_at"), doc.get("note_at")))
        st, b = d.call("GET", "/api/v1/studies/notes-copy/trials?limit=10")
        got = {t["number"]: t["note"] for t in b["trials"] if t["note"]}
        tap.ok(got == {1: "=HYPERLINK(\"x\")\nline 2"}, "the imported trials keep their notes", got)
        bad = dict(doc)
        bad["spec"] = dict(doc["spec"], name="notes-bad")
        bad["note"] = 7
        st, b = d.call("POST", "/api/v1/studies/import", bad)
        tap.ok(st == 400 and "note" in b["error"]["message"], "an import whose note is not text: 400", b)
        bad["note"] = None
        bad["trials"] = [dict(doc["trials"][0], note="z" * 65537)]
        st, b = d.call("POST", "/api/v1/studies/import", bad)
        tap.ok(st == 400 and "trials[0].note" in b["error"]["message"], "an import with an oversized trial note: 400", b)

        # --- CSV ---
        st, text, h = http(d.url + "/api/v1/studies/notes/trials.csv", token=reader)
        tap.ok(st == 200 and h.get("Content-Type", "").startswith("text/csv") and
               "attachment" in h.get("Content-Disposition", ""),
               "trials.csv answers text/csv as an attachment", (st, h.get("Content-Type")))
        tap.ok(isinstance(text, str) and text.endswith("\r\n") and "\r\n" in text.split("\n")[0] + "\n",
               "CSV lines end with CRLF (RFC 4180)")
        table = rows(text)
        head = table[0]
        tap.eq(head, ["number", "state", "value", "lr", "layers", "tag", "source", "worker", "started_at",
                      "finished_at", "duration_s", "note"], "the header names the columns")
        body = table[1:]
        tap.eq([int(r[0]) for r in body], list(range(len(tags))), "one row per trial, by number")
        by_num = {int(r[0]): dict(zip(head, r)) for r in body}
        tap.ok(by_num[0]["value"] == "-0.5" and by_num[0]["state"] == "completed",
               "a negative value stays a number (no guard on numbers)", by_num[0])
        tap.ok(by_num[2]["state"] == "failed" and by_num[2]["value"] == "", "a failed trial has no value", by_num[2])
        tap.eq([by_num[i]["tag"] for i in range(len(tags))], ["plain", "'=1+2", "'-x", "'@sum", "a,b", 'say "hi"'],
               "text starting with = - @ gets an apostrophe; commas and quotes are quoted")
        tap.ok('"\'=1+2"' in text and '"say ""hi"""' in text and '"a,b"' in text,
               "quoting as RFC 4180 writes it (fields quoted, quotes doubled)")
        tap.eq(by_num[1]["note"], "'=HYPERLINK(\"x\")\nline 2", "a note that starts a formula is guarded, its newline kept")
        tap.ok(by_num[0]["lr"] == "0.10000000000000001" or float(by_num[0]["lr"]) == 0.1, "parameters as numbers",
               by_num[0]["lr"])
        tap.ok(float(by_num[0]["duration_s"]) >= 0 and by_num[0]["started_at"].endswith("Z"),
               "times as RFC 3339 and the duration in seconds", by_num[0])
        st, text, _ = http(d.url + "/api/v1/studies/notes/trials.csv?state=completed&order=value_desc", token=reader)
        vals = [float(r[2]) for r in rows(text)[1:]]
        tap.ok(st == 200 and len(vals) == len(tags) - 1 and vals == sorted(vals, reverse=True),
               "the CSV honours the state filter and the order of the list", vals)
        st, text, _ = http(d.url + "/api/v1/studies/notes/trials.csv?source=manual", token=reader)
        tap.ok(st == 200 and len(rows(text)) == 1 + len(tags), "the source filter (enqueued: manual)", len(rows(text)))
        st, text, _ = http(d.url + "/api/v1/studies/notes/trials.csv?source=random", token=reader)
        tap.ok(st == 200 and len(rows(text)) == 1, "a source no trial has: the header alone", text)
        st, text, _ = http(d.url + "/api/v1/studies/notes/trials.csv?source=group:manual&state=failed", token=reader)
        tap.ok(st == 200 and [r[0] for r in rows(text)[1:]] == ["2"], "a source group with a state", text)
        st, b, _ = http(d.url + "/api/v1/studies/notes/trials.csv?source=group:nope", token=reader)
        tap.ok(st == 400 and code(b) == "bad_query", "an unknown source group: 400", b)
        st, b, _ = http(d.url + "/api/v1/studies/notes/trials.csv?order=sideways", token=reader)
        tap.ok(st == 400 and code(b) == "bad_query", "an unknown order: 400", b)
        st, b, _ = http(d.url + "/api/v1/studies/nope/trials.csv", token=reader)
        tap.ok(st == 404, "the CSV of a study that does not exist: 404", st)
        st, b, _ = http(d.url + "/api/v1/studies/notes/trials.csv")
        tap.ok(st == 401, "the CSV needs a token when the daemon has them", st)

        st, b = d.call("POST", "/api/v1/studies", {
            "name": "clash", "objective": {"name": "loss", "direction": "minimize"},
            "params": [{"name": "note", "type": "float", "low": 0, "high": 1},
                       {"name": "state", "type": "categorical", "choices": ["a", "b"]},
                       {"name": "depth", "type": "int", "low": 1, "high": 3}],
            "sampler": {"name": "random", "seed": 1}})
        st, text, _ = http(d.url + "/api/v1/studies/clash/trials.csv", token=reader)
        tap.eq(rows(text)[0], ["number", "state", "value", "params.note", "params.state", "depth", "source",
                               "worker", "started_at", "finished_at", "duration_s", "note"],
               "a parameter named like another column is params.NAME")

        # --- contour ---
        st, b = d.call("GET", "/api/v1/studies/notes/contour?x=lr&y=tag&grid=10", token=reader)
        ok = st == 200 and len(b["z"]) == len(tags) and all(len(r) == 10 for r in b["z"])
        tap.ok(ok, "contour: a row per band of the categorical y, a column per grid point of x", (st, b))
        if ok:
            tap.ok(b["x"]["log"] and b["x"]["values"][0] == 1e-4 and b["x"]["values"][-1] == 1.0 and
                   len(b["x"]["edges"]) == 11 and abs(b["x"]["values"][1] / b["x"]["values"][0] -
                                                       b["x"]["values"][2] / b["x"]["values"][1]) < 1e-9,
                   "a log parameter's grid is even in log space over its search space", b["x"])
            tap.eq(b["y"]["values"], tags, "a categorical axis has its choices as bands")
            tap.eq(b["n_trials"], len(tags) - 1, "the completed trials are the points")
            pts = {p["number"]: p for p in b["points"]}
            p0 = pts[0]
            j = tags.index(p0["y"])
            tap.ok(all(isinstance(v, float) for r in b["z"] for v in r) and
                   min(abs(v - p0["value"]) for v in b["z"][j]) < 0.2,
                   "the grid is smoothed from the trials' values", b["z"][j])
        st, b = d.call("GET", "/api/v1/studies/notes/contour?x=lr&y=layers", token=reader)
        tap.ok(st == 200 and len(b["z"]) == 4 and len(b["z"][0]) == 40 and b["y"]["values"] == [1, 2, 3, 4],
               "grid defaults to 40; an int axis has a point per value when it has fewer", st)
        for q, what in [("x=lr", "no y"), ("x=lr&y=lr", "the same parameter twice"),
                        ("x=lr&y=nope", "an unknown parameter"), ("x=lr&y=layers&grid=2", "a grid below 5"),
                        ("x=lr&y=layers&grid=500", "a grid above 100")]:
            st, b = d.call("GET", f"/api/v1/studies/notes/contour?{q}", token=reader)
            tap.ok(st == 400 and code(b) == "bad_query", f"contour with {what}: 400", (st, b))
tap.done()

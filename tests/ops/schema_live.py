"""Every answer of a running hpod matches the response schema that
schema/openapi.json declares for its route and status, under OpenAPI 3.0.3's
rules: `nullable` adds null only to a `type` beside it, siblings of a `$ref`
are ignored, `date-time` is RFC 3339; and every member of an answer is
declared by its schema (or by an additionalProperties).

Real traffic first: studies created, listed, patched, exported, imported and
deleted, their parameter importances asked for; trials enqueued, leased, heartbeated, reported, completed, pruned and
failed; an LLM study against the scripted provider (audit log with requests);
a code parameter with a sandbox; and error answers (400, 404, 409). Each
answer is validated with python3-jsonschema (Draft 4, the base of OpenAPI
3.0's schema objects) against the converted schema. Every operation of the
document must have been answered 2xx at least once.

A converted schema must also refuse what the document forbids: a study whose
`best` is the string "none" and an exported trial without its number.
"""
import copy
import json
import os
import re
import subprocess
import sys

from hpotest import FAKE_LLM, TOP_SRCDIR, Daemon, Tap, clear_llm_env, http, simple_spec

tap = Tap()
try:
    import jsonschema
except ImportError:
    tap.skip_all("python3-jsonschema not installed (apt-get install python3-jsonschema)")

with open(os.path.join(TOP_SRCDIR, "schema", "openapi.json")) as f:
    doc = json.load(f)

DROP = {"nullable", "example", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs",
        "deprecated"}


def convert(s):
    """An OpenAPI 3.0.3 schema object as a JSON Schema Draft 4 schema."""
    if isinstance(s, list):
        return [convert(x) for x in s]
    if not isinstance(s, dict):
        return s
    if "$ref" in s:  # 3.0: the siblings of a $ref are ignored
        return {"$ref": s["$ref"].replace("#/components/schemas/", "#/definitions/")}
    out = {}
    for k, v in s.items():
        if k in DROP or k.startswith("x-"):
            continue
        if k == "properties":
            out[k] = {p: convert(x) for p, x in v.items()}
        elif k in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[k] = convert(v)
        else:
            out[k] = v
    if s.get("nullable") is True and isinstance(s.get("type"), str):
        out["type"] = [s["type"], "null"]
    return out


definitions = {k: convert(v) for k, v in doc["components"]["schemas"].items()}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
formats = jsonschema.FormatChecker(formats=())


@formats.checks("date-time")
def is_datetime(value):
    return not isinstance(value, str) or bool(RFC3339.match(value))


def validator(schema):
    s = dict(convert(schema), definitions=definitions)
    return jsonschema.Draft4Validator(s, format_checker=formats)


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"][2:].split("/")
        node = doc
        for p in parts:
            node = node[p]
    return node


# The operations: (method, compiled path pattern) -> (template, operation).
operations = {}
for path, item in doc["paths"].items():
    pattern = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")
    for method, op in item.items():
        if method in ("get", "post", "patch", "delete", "put"):
            operations[(method.upper(), path)] = (pattern, op)

answered = {}   # (method, template) -> set of statuses
problems = []   # every mismatch, named


def check(method, url_path, status, body, ctype):
    route = url_path.split("?", 1)[0]
    key = next((k for k, (pat, _op) in operations.items()
                if k[0] == method and pat.match(route)), None)
    if key is None:
        problems.append(f"{method} {route}: no operation in the document")
        return
    answered.setdefault(key, set()).add(status)
    responses = key and operations[key][1].get("responses", {})
    resp = resolve(responses.get(str(status)) or responses.get("default"))
    if resp is None:
        problems.append(f"{method} {route}: status {status} not described")
        return
    content = resp.get("content", {})
    if not content:
        return
    if "application/json" not in content:
        if not any(ctype.startswith(c) for c in content):
            problems.append(f"{method} {route} {status}: {ctype} not among {list(content)}")
        return
    schema = content["application/json"].get("schema")
    if schema is None:
        return
    errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.path))
    for e in errors[:3]:
        where = "/".join(str(p) for p in e.path)
        problems.append(f"{method} {route} {status} at /{where}: {e.message[:300]}")
    for where in undeclared(body, schema, "")[:3]:
        problems.append(f"{method} {route} {status}: {where} is declared nowhere")


def declared(schema):
    """(properties, additionalProperties) of a schema, through $ref and allOf."""
    schema = resolve(schema)
    props = dict(schema.get("properties", {}))
    extra = schema.get("additionalProperties")
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            p, x = declared(part)
            props.update(p)
            extra = extra if extra is not None else x
    return props, extra


def undeclared(value, schema, where):
    """Paths of the object members in value that its schema does not name."""
    out = []
    if isinstance(value, dict):
        props, extra = declared(schema)
        if not props and extra is None:
            return out  # a free-form object
        for k, v in value.items():
            if k in props:
                out += undeclared(v, props[k], f"{where}/{k}")
            elif isinstance(extra, dict):
                out += undeclared(v, extra, f"{where}/{k}")
            elif extra is not True:
                out.append(f"{where}/{k}")
    elif isinstance(value, list):
        items = resolve(schema).get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                out += undeclared(v, items, f"{where}/{i}")
    return out


class Client:
    def __init__(self, d):
        self.d = d

    def __call__(self, method, path, body=None, timeout=30):
        status, parsed, headers = http(self.d.url + path, method, body, timeout=timeout)
        check(method, path, status, parsed, headers.get("Content-Type", ""))
        return status, parsed


clear_llm_env()
fake = subprocess.Popen([sys.executable, FAKE_LLM], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
line = fake.stdout.readline().decode()
furl = line.split()[-1] if line.startswith("fakellm listening on ") else None
tap.ok(furl is not None, "the scripted LLM provider starts", line)
env = {"HPOD_LLM_FORMAT": "openai", "HPOD_LLM_BASE_URL": f"{furl}/v1",
       "HPOD_LLM_MODEL": "fake-model", "HPOD_LLM_API_KEY": "sk-schema-live-0000"}


def drive(c, name, worker, n, how=lambda i: ("completed", None)):
    """Lease, heartbeat, report and finish up to n trials of a study."""
    for i in range(n):
        st, s = c("POST", f"/api/v1/studies/{name}/suggest", {"worker": worker, "wait_s": 5})
        if st != 200 or not s.get("trials"):
            return
        t = s["trials"][0]
        c("POST", f"/api/v1/trials/{t['id']}/heartbeat", {"worker": worker})
        c("POST", f"/api/v1/trials/{t['id']}/report", {"worker": worker, "step": 1, "value": 1.0})
        state, sandbox = how(i)
        body = {"worker": worker, "state": state}
        if state == "completed":
            body["value"] = float(i)
        elif state == "failed":
            body["error"] = "exit status 1: out of memory"
        if sandbox:
            body["sandbox"] = sandbox
        c("POST", f"/api/v1/trials/{t['id']}/complete", body)
        c("GET", f"/api/v1/trials/{t['id']}")


try:
    with Daemon(env=env) as d:
        c = Client(d)
        c("GET", "/healthz")
        c("GET", "/api/v1/version")
        c("GET", "/api/v1/openapi.json")
        # a fresh study: no best trial yet
        c("POST", "/api/v1/studies", simple_spec("fresh", max_trials=4))
        c("POST", "/api/v1/studies", simple_spec("fresh", max_trials=4))     # 200: same spec
        c("POST", "/api/v1/studies", simple_spec("fresh", max_trials=5))     # 409
        c("POST", "/api/v1/studies", {"name": "bad"})                        # 400
        c("GET", "/api/v1/studies/fresh")
        c("GET", "/api/v1/studies/fresh/best")                               # 404: none yet
        c("GET", "/api/v1/studies/fresh/trials")
        c("GET", "/api/v1/studies")
        # a study run through every outcome
        spec = simple_spec("run", max_trials=6)
        spec["pruner"] = {"name": "median"}
        c("POST", "/api/v1/studies", spec)
        c("POST", "/api/v1/studies/run/trials", {"params": {"x": 0.5, "n": 2, "opt": "sgd"}})
        c("POST", "/api/v1/studies/run/trials", {"params": {"x": 9.5}})     # 400
        outcomes = ["completed", "failed", "pruned", "completed", "completed", "completed"]
        drive(c, "run", "w-run:0", 6, lambda i: (outcomes[i], None))
        c("GET", "/api/v1/studies/run")
        c("GET", "/api/v1/studies/run/best")
        c("GET", "/api/v1/studies/fresh/importance")                         # 200, a note
        c("GET", "/api/v1/studies/run/importance?method=gp&wait_s=0")        # 202 computing
        c("GET", "/api/v1/studies/run/importance?wait_s=30")
        c("GET", "/api/v1/studies/run/importance?method=shap")               # 400
        c("GET", "/api/v1/studies/run/trials?state=completed&limit=2")
        c("GET", "/api/v1/studies/run/trials.csv?state=completed&order=value")
        c("GET", "/api/v1/studies/run/trials.csv?order=sideways")            # 400
        c("GET", "/api/v1/studies/run/contour?x=x&y=n&grid=10")
        c("GET", "/api/v1/studies/run/contour?x=x&y=x")                     # 400
        c("PUT", "/api/v1/studies/run/note", {"note": "wide <b>lr</b> range first"})
        c("PUT", "/api/v1/studies/run/note", {"note": 5})                   # 400
        c("PUT", "/api/v1/studies/run/trials/0/note", {"note": "slow node"})
        c("PUT", "/api/v1/studies/run/trials/999/note", {"note": "x"})      # 404
        c("GET", "/api/v1/studies/run")                                     # with its note
        c("GET", "/api/v1/studies")
        # a code parameter, completed from a sandbox
        code = simple_spec("code", max_trials=2)
        code["params"].append({"name": "model", "type": "code", "language": "python",
                               "contract": "define f()", "baseline": "def f():\n    return 1\n"})
        c("POST", "/api/v1/studies", code)
        drive(c, "code", "w-code:0", 2, lambda i: ("completed", "bwrap"))
        c("GET", "/api/v1/studies/code/trials")
        # several objectives and a constraint: the Pareto set, best, export
        mo = simple_spec("moo", max_trials=12)
        mo.pop("objective")
        mo["objectives"] = [{"name": "loss"}, {"name": "acc", "direction": "maximize"}]
        mo["constraints"] = [{"name": "mem", "max": 5}]
        c("POST", "/api/v1/studies", mo)
        c("GET", "/api/v1/studies/moo/pareto")                              # empty, no reference
        for i in range(12):
            st, b = c("POST", "/api/v1/studies/moo/suggest", {"worker": "w-moo:0"})
            t = b["trials"][0]
            c("POST", f"/api/v1/trials/{t['id']}/report",
              {"worker": "w-moo:0", "step": 1, "values": {"loss": 1.0, "acc": 0.1}})
            c("POST", f"/api/v1/trials/{t['id']}/complete",
              {"worker": "w-moo:0", "values": {"loss": (i * 7 % 12) / 12, "acc": (i * 5 % 12) / 12,
                                                "mem": i % 7}})
        c("POST", "/api/v1/trials/1/complete", {"worker": "w-moo:0", "values": {"loss": 1}})  # 400
        c("GET", "/api/v1/studies/moo/pareto?history=true")
        c("GET", "/api/v1/studies/moo/best")
        c("GET", "/api/v1/studies/moo")
        c("GET", "/api/v1/studies/moo/trials?pareto=true&limit=3")
        c("GET", "/api/v1/studies/moo/trials.csv?pareto=true")
        st, exported_mo = c("GET", "/api/v1/studies/moo/export")
        if st == 200:
            exported_mo["spec"]["name"] = "moo-copy"
            c("POST", "/api/v1/studies/import", exported_mo)
        c("GET", "/api/v1/studies/run/pareto")                              # one objective
        # export and import (as another name), then delete
        st, exported = c("GET", "/api/v1/studies/run/export")
        if st == 200:
            copy_doc = copy.deepcopy(exported)
            copy_doc["spec"]["name"] = "run-copy"
            c("POST", "/api/v1/studies/import", copy_doc)
        c("GET", "/api/v1/studies/run-copy/trials")
        c("PATCH", "/api/v1/studies/fresh", {"state": "paused"})
        c("PATCH", "/api/v1/studies/fresh", {"state": "sleeping"})             # 400
        c("PATCH", "/api/v1/studies/fresh", {"state": "running"})
        # the LLM: an audit log with requests, replies and token counts
        http(furl + "/_script", "POST", {"steps": [], "default": {
            "mode": "random_valid", "space": simple_spec("x")["params"], "usage": [300, 20]}})
        llm = simple_spec("byllm", max_trials=2)
        llm["description"] = "a quadratic in x"
        llm["sampler"] = {"name": "llm", "seed": 2}
        llm["llm"] = {"provider": "default"}
        c("POST", "/api/v1/studies", llm)
        drive(c, "byllm", "w-llm:0", 2)
        c("GET", "/api/v1/studies/byllm")
        c("GET", "/api/v1/studies/byllm/llm-calls")
        c("GET", "/api/v1/studies/run/llm-calls")
        # errors
        c("GET", "/api/v1/studies/nope")
        c("GET", "/api/v1/trials/999999")
        c("POST", "/api/v1/trials/1/complete", {"worker": "someone-else:0", "value": 1})
        c("POST", "/api/v1/trials/1/heartbeat", {"worker": "w-run:0"})
        c("POST", "/api/v1/studies/run/suggest", {"worker": "w-run:0", "wait_s": 0})
        c("DELETE", "/api/v1/studies/run-copy")
        c("DELETE", "/api/v1/studies/run-copy")                              # 404
        c("GET", "/metrics")
        log = d.log()
finally:
    fake.terminate()
    fake.wait()

ok2xx = sorted(f"{m} {p}" for (m, p) in operations
               if not any(200 <= s < 300 for s in answered.get((m, p), ())))
tap.ok(not ok2xx, f"every one of the {len(operations)} operations answered 2xx", ok2xx)
statuses = sorted({s for v in answered.values() for s in v})
tap.ok({400, 404, 409} <= set(statuses), "error answers were among them", statuses)
n = sum(len(v) for v in answered.values())
tap.ok(not problems, f"every answer matches its response schema ({n} route and status pairs)",
       "\n".join(problems))
tap.ok("Warning" not in log and "thread pool" not in log,
       "hpod's log has no libmicrohttpd warning", [ln for ln in log.splitlines()
                                                   if "arning" in ln][:3])

# The validation itself refuses what the document forbids.
study_v = validator({"$ref": "#/components/schemas/Study"})
tap.ok(not study_v.is_valid({"name": "s", "best": "none"}) and
       any("best" in list(e.path) for e in study_v.iter_errors({"best": "none"})),
       "a Study whose best is a string is refused")
exp_v = validator({"$ref": "#/components/schemas/StudyExport"})
if st == 200 and exported.get("trials"):
    broken = copy.deepcopy(exported)
    del broken["trials"][0]["number"]
    tap.ok(exp_v.is_valid(exported) and not exp_v.is_valid(broken),
           "an exported trial without its number is refused")
else:
    tap.ok(False, "the export answered trials to break", exported)
tap.done()

"""schema/openapi.json describes exactly the routes of server/api/api.c.

The routing table is read as text: every {"METHOD", "/path", ...} line of
api_routes. Each must be an operation of the document, with the same role,
and each operation of the document must be a route. The document must be
self-consistent ($refs resolve, path parameters are declared, every operation
answers something), and a running daemon must serve it byte for byte.
"""
import json
import os
import re

from hpotest import TOP_SRCDIR, Daemon, Tap, http

tap = Tap()
api_c = os.path.join(TOP_SRCDIR, "server", "api", "api.c")
doc_path = os.path.join(TOP_SRCDIR, "schema", "openapi.json")

with open(api_c) as f:
    source = f.read()
table = re.search(r"api_routes\[\]\s*=\s*\{(.*?)\n\};", source, re.S)
tap.ok(table is not None, "server/api/api.c has an api_routes table")
ROLES = {"ROLE_NONE": "none", "ROLE_READ": "read", "ROLE_WORKER": "worker", "ROLE_ADMIN": "admin"}
routes = {}
for m in re.finditer(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(ROLE_[A-Z]+)\s*,\s*(\w+)\s*,\s*"(\w+)"',
                     table.group(1) if table else ""):
    method, path, role, _handler, name = m.groups()
    routes[(method.lower(), path)] = (ROLES.get(role, role), name)
tap.ok(len(routes) >= 10, f"the table has routes ({len(routes)})")

with open(doc_path, "rb") as f:
    raw = f.read()
try:
    doc = json.loads(raw)
    tap.ok(True, "openapi.json is valid JSON")
except ValueError as e:
    doc = {"paths": {}}
    tap.ok(False, "openapi.json is valid JSON", e)
tap.eq(doc.get("openapi", "")[:2], "3.", "it is an OpenAPI 3 document")
tap.ok(b"??" not in raw, "no \"??\" (it becomes a C string literal)")
tap.ok(raw.endswith(b"\n"), "ends with a newline")

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def norm(path):
    """/api/v1/studies/{name} -> /api/v1/studies/{} as in the table."""
    return re.sub(r"\{[^}]*\}", "{}", path)


described = {}
for path, item in doc.get("paths", {}).items():
    for method, o in item.items():
        if method in HTTP_METHODS:
            described[(method, norm(path))] = (path, o)

missing = sorted(k for k in routes if k not in described)
tap.ok(not missing, "every route of api.c is described", missing)
extra = sorted(k for k in described if k not in routes)
tap.ok(not extra, "every described operation is a route of api.c", extra)

wrong_role = []
for key, (role, _name) in routes.items():
    if key in described:
        got = described[key][1].get("x-hpod-role")
        if got != role:
            wrong_role.append((key, role, got))
tap.ok(not wrong_role, "x-hpod-role of each operation matches the table", wrong_role)

open_ops = [k for k, (role, _n) in routes.items() if role == "none"]
bad_sec = [k for k in open_ops if k in described and described[k][1].get("security") != []]
tap.ok(not bad_sec, "operations open to all have security: []", bad_sec)

ids = [o.get("operationId") for _p, o in described.values()]
tap.ok(all(ids) and len(ids) == len(set(ids)), "operationIds present and unique", ids)
bad_ids = [(k, name, described[k][1].get("operationId")) for k, (_r, name) in routes.items()
           if k in described and described[k][1].get("operationId") != name]
tap.ok(not bad_ids, "each operationId is the route's name in the table", bad_ids)

# Every $ref resolves.
refs = []


def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                refs.append(v)
            else:
                walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


walk(doc)


def resolve(ref):
    if not ref.startswith("#/"):
        return None
    node = doc
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


dangling = sorted({r for r in refs if resolve(r) is None})
tap.ok(refs and not dangling, f"all {len(refs)} $refs resolve", dangling)

# Path parameters declared; responses present; JSON bodies for POST/PATCH.
problems = []
for (method, _n), (path, o) in described.items():
    item = doc["paths"][path]
    declared = {p.get("name") for p in item.get("parameters", []) + o.get("parameters", [])
                if p.get("in") == "path"}
    for name in re.findall(r"\{([^}]*)\}", path):
        if name not in declared:
            problems.append(f"{method} {path}: path parameter {name} not declared")
    if not any(c.startswith("2") for c in o.get("responses", {})):
        problems.append(f"{method} {path}: no 2xx response")
    if method in ("post", "patch"):
        body = o.get("requestBody", {}).get("content", {}).get("application/json")
        if not body or "schema" not in body:
            problems.append(f"{method} {path}: no JSON request body schema")
tap.ok(not problems, "path parameters, responses and request bodies are described", problems)

metrics = described.get(("get", "/metrics"), (None, {}))[1]
tap.ok("text/plain" in metrics.get("responses", {}).get("200", {}).get("content", {}),
       "/metrics is described as text/plain")

schemas = doc.get("components", {}).get("schemas", {})
trial_req = set(schemas.get("Trial", {}).get("required", []))
want = {"id", "number", "state", "params", "value", "source", "worker", "attempts",
        "created_at", "started_at", "finished_at", "error"}
tap.ok(want <= trial_req, "Trial requires the fields DESIGN.md promises", want - trial_req)

# A full validation against the OpenAPI 3.0 schema when the npm package
# @apidevtools/swagger-parser is installed (node_modules of the source tree).
import shutil  # noqa: E402
import subprocess  # noqa: E402

node = shutil.which("node")
validator = os.path.join(TOP_SRCDIR, "node_modules", "@apidevtools", "swagger-parser")
if node and os.path.isdir(validator):
    js = ("require(process.argv[1]).validate(process.argv[2])"
          ".then(() => console.log('valid'))"
          ".catch(e => { console.log(e.message); process.exit(1); })")
    r = subprocess.run([node, "-e", js, validator, doc_path], capture_output=True, text=True,
                       timeout=120)
    tap.ok(r.returncode == 0, "swagger-parser validates openapi.json", r.stdout + r.stderr)
else:
    tap.diag("npm package @apidevtools/swagger-parser not installed: schema validation skipped")

# The daemon serves the same bytes, and the shapes it answers match the schemas.
with Daemon() as d:
    status, body, headers = http(d.url + "/api/v1/openapi.json")
    tap.eq(status, 200, "GET /api/v1/openapi.json answers 200")
    tap.ok(headers.get("Content-Type", "").startswith("application/json"),
           "served as application/json", headers.get("Content-Type"))
    import urllib.request
    with urllib.request.urlopen(d.url + "/api/v1/openapi.json", timeout=30) as r:
        served = r.read()
    tap.ok(served == raw, "the served document equals schema/openapi.json byte for byte",
           f"served {len(served)} bytes, file {len(raw)} bytes (rebuild hpod?)")

    def props_ok(value, schema_name):
        """Every required property of the schema (following allOf) is in value."""
        s = schemas.get(schema_name, {})
        need = set(s.get("required", []))
        for part in s.get("allOf", []):
            if "$ref" in part:
                sub = part["$ref"].rsplit("/", 1)[1]
                need |= set(schemas.get(sub, {}).get("required", []))
                for p2 in schemas.get(sub, {}).get("allOf", []):
                    if "$ref" in p2:
                        need |= set(schemas.get(p2["$ref"].rsplit("/", 1)[1], {}).get("required", []))
            need |= set(part.get("required", []))
        return need - set(value)

    spec = {"name": "oa", "objective": {"name": "loss"},
            "params": [{"name": "x", "type": "float", "low": 0, "high": 1}],
            "budget": {"max_trials": 2}}
    st, study = d.call("POST", "/api/v1/studies", spec)
    tap.eq(props_ok(study, "Study"), set(), "a created study has every field of Study")
    st, got = d.call("GET", "/api/v1/studies/oa")
    tap.eq(props_ok(got, "StudyDetail"), set(), "GET of a study has every field of StudyDetail")
    tap.eq(props_ok(got.get("sources", {}), "TrialSources"), set(),
           "its sources have every field of TrialSources")
    st, sug = d.call("POST", "/api/v1/studies/oa/suggest", {"worker": "w:0"})
    tap.eq(props_ok(sug, "SuggestResponse"), set(), "suggest answers a SuggestResponse")
    trial = sug["trials"][0] if sug.get("trials") else {}
    tap.eq(props_ok(trial, "LeasedTrial"), set(), "a leased trial has every field of LeasedTrial")
    tid = trial.get("id", 0)
    st, done = d.call("POST", f"/api/v1/trials/{tid}/complete", {"worker": "w:0", "value": 0.5})
    tap.eq(props_ok(done, "CompleteResponse"), set(), "complete answers a CompleteResponse")
    st, page = d.call("GET", "/api/v1/studies/oa/trials")
    tap.eq(props_ok(page, "TrialPage"), set(), "the trials page has every field of TrialPage")
    st, err = d.call("GET", "/api/v1/studies/nope")
    tap.eq(props_ok(err, "Error"), set(), "a 404 answers an Error")
    st, calls = d.call("GET", "/api/v1/studies/oa/llm-calls")
    tap.eq(props_ok(calls, "LlmCallPage"), set(), "llm-calls answers an LlmCallPage")
    st, ver = d.call("GET", "/api/v1/version")
    tap.eq(props_ok(ver, "Version"), set(), "version answers a Version")

    def described_props(schema_name):
        """The properties a schema describes, following allOf."""
        s = schemas.get(schema_name, {})
        out = set(s.get("properties", {}))
        for part in s.get("allOf", []):
            sub = schemas.get(part["$ref"].rsplit("/", 1)[1], {}) if "$ref" in part else part
            out |= described_props(part["$ref"].rsplit("/", 1)[1]) if "$ref" in part else set()
            out |= set(sub.get("properties", {}))
        return out

    mo = {"name": "oa-mo", "objectives": [{"name": "a"}, {"name": "b", "direction": "maximize"}],
          "constraints": [{"name": "c", "max": 1}], "reference_point": [2, -1],
          "params": [{"name": "x", "type": "float", "low": 0, "high": 1}],
          "sampler": {"name": "random"}, "budget": {"max_trials": 2}}
    st, study = d.call("POST", "/api/v1/studies", mo)
    st, sug = d.call("POST", "/api/v1/studies/oa-mo/suggest", {"worker": "w:0"})
    tid = sug["trials"][0]["id"] if sug.get("trials") else 0
    st, done = d.call("POST", f"/api/v1/trials/{tid}/complete",
                      {"worker": "w:0", "values": {"a": 0.5, "b": 0.5, "c": 0}})
    tap.eq(set(done) - described_props("TrialDetail") - described_props("CompleteResponse"), set(),
           "a trial of several objectives answers only described fields (objectives, feasible)")
    st, par = d.call("GET", "/api/v1/studies/oa-mo/pareto?history=true")
    tap.eq(props_ok(par, "ParetoSet"), set(), "/pareto answers a ParetoSet")
    tap.eq(set(par) - described_props("ParetoSet"), set(), "/pareto answers only described fields")
    st, got = d.call("GET", "/api/v1/studies/oa-mo")
    tap.eq(set(got) - described_props("StudyDetail"), set(),
           "GET of a study of several objectives answers only described fields")
    st, exp = d.call("GET", "/api/v1/studies/oa-mo/export")
    tap.eq(set(exp) - described_props("StudyExport"), set(), "its export has only described fields")

tap.done()

"""Redocly CLI lints schema/openapi.json under OpenAPI 3.0.3 with
schema/redocly.yaml: the recommended rules with warnings as errors, and an
example on every path parameter (API testing tools build requests from them).

The same lint must refuse a copy with a `nullable` lacking its `type` and a
path parameter without an example, so a lint that passes means something.
Redocly comes from npm (package.json, `npm ci`); without it the test skips.
"""
import json
import os
import shutil
import subprocess
import tempfile

from hpotest import TOP_SRCDIR, Tap

tap = Tap()
redocly = os.path.join(TOP_SRCDIR, "node_modules", ".bin", "redocly")
if not os.path.exists(redocly) or not shutil.which("node"):
    tap.skip_all("Redocly CLI not installed: run scripts/npm.sh (npm ci) in the source tree")
node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
if tuple(int(x) for x in node.lstrip("v").split(".")[:2]) < (18, 17):
    tap.skip_all(f"Redocly CLI needs Node.js 18.17 or later, this is {node}")
config = os.path.join(TOP_SRCDIR, "schema", "redocly.yaml")
doc = os.path.join(TOP_SRCDIR, "schema", "openapi.json")
env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
           NO_COLOR="1")


def lint(path):
    r = subprocess.run([redocly, "lint", "--config", config, "--format", "stylish", path],
                       capture_output=True, text=True, timeout=120, env=env)
    out = "\n".join(ln for ln in (r.stdout + r.stderr).splitlines()
                    if ln.strip() and not ln.lstrip().startswith(("║", "╔", "╚")))
    return r.returncode, out


rc, out = lint(doc)
tap.ok(rc == 0, "redocly lint passes schema/openapi.json (OpenAPI 3.0.3)", out)

with open(doc) as f:
    broken = json.load(f)
broken["paths"]["/api/v1/trials/{id}"]["parameters"][0].pop("example", None)
broken["components"]["schemas"]["Trial"]["properties"]["error"].pop("type", None)
with tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
    path = os.path.join(tmp, "openapi.json")
    with open(path, "w") as f:
        json.dump(broken, f, indent=2)
    rc, out = lint(path)
tap.ok(rc != 0 and "nullable" in out, "it refuses a nullable without its type", out)
tap.ok(rc != 0 and "path-parameter-example" in out, "and a path parameter without an example",
       out)
tap.done()

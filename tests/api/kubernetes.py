"""contrib/kubernetes: the manifests are valid YAML with the fields the README
relies on, and the token bootstrap of the hpod Deployment works with hpod.

Needs PyYAML (Debian package python3-yaml).
"""
import glob
import os
import re
import subprocess
import tempfile

from hpotest import HPOD, TOP_SRCDIR, Tap, http

tap = Tap()
try:
    import yaml
except ImportError:
    tap.skip_all("PyYAML is missing (apt-get install python3-yaml)")

kdir = os.path.join(TOP_SRCDIR, "contrib", "kubernetes")
docs = []
files = sorted(glob.glob(os.path.join(kdir, "*.yaml")))
tap.ok(len(files) >= 2, f"contrib/kubernetes has manifests ({len(files)})")
for path in files:
    try:
        with open(path) as f:
            got = [d for d in yaml.safe_load_all(f) if d is not None]
        ok = all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
                 and d.get("metadata", {}).get("name") for d in got)
        tap.ok(ok and got, f"{os.path.basename(path)}: valid YAML, each object has apiVersion, "
                           f"kind and metadata.name")
        docs.extend(got)
    except yaml.YAMLError as e:
        tap.ok(False, f"{os.path.basename(path)}: valid YAML", e)


def find(kind, pred=lambda d: True):
    return [d for d in docs if d.get("kind") == kind and pred(d)]


def pod_spec(d):
    return d.get("spec", {}).get("template", {}).get("spec", {})


def is_hpod(d):
    return any(c.get("args") and "--listen" in " ".join(map(str, c.get("args", [])))
               for c in pod_spec(d).get("containers", []))


deps = find("Deployment", is_hpod)
tap.eq(len(deps), 1, "one Deployment runs hpod")
dep = deps[0] if deps else {"spec": {}}
spec = dep.get("spec", {})
tap.eq(spec.get("replicas"), 1, "hpod runs as one replica (SQLite has one writer)")
tap.eq(spec.get("strategy", {}).get("type"), "Recreate",
       "strategy Recreate: never two pods on the database")
ps = pod_spec(dep)
cont = next((c for c in ps.get("containers", []) if c.get("args")), {})
args = [str(a) for a in cont.get("args", [])]
tap.ok(bool(cont.get("image")), "the hpod container names an image", cont.get("image"))


def arg_value(args, name):
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


tap.eq(arg_value(args, "--listen"), "0.0.0.0:8080", "hpod's args have --listen 0.0.0.0:8080")
db = arg_value(args, "--db") or ""
mounts = {m["mountPath"]: m["name"] for m in cont.get("volumeMounts", [])}
db_mount = next((p for p in mounts if db.startswith(p.rstrip("/") + "/")), None)
tap.ok(db_mount is not None, f"the database {db!r} lies on a mounted volume", mounts)
vols = {v["name"]: v for v in ps.get("volumes", [])}
claim = vols.get(mounts.get(db_mount, ""), {}).get("persistentVolumeClaim", {}).get("claimName")
pvcs = [p["metadata"]["name"] for p in find("PersistentVolumeClaim")]
tap.ok(claim and claim in pvcs, f"that volume is the PersistentVolumeClaim {claim!r}", pvcs)
port = next((p for p in cont.get("ports", []) if p.get("containerPort") == 8080), None)
tap.ok(port is not None, "the container exposes port 8080")
probe = cont.get("readinessProbe", {}).get("httpGet", {})
tap.eq(probe.get("path"), "/healthz", "readiness is checked on /healthz")
tap.ok("requests" in cont.get("resources", {}), "hpod has resource requests")

labels = dep.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
svcs = find("Service", lambda s: s.get("spec", {}).get("selector")
            and all(labels.get(k) == v for k, v in s["spec"]["selector"].items()))
tap.eq(len(svcs), 1, "a Service selects the hpod pods")
svc = svcs[0] if svcs else {"metadata": {"name": "?"}, "spec": {}}
sport = next(iter(svc.get("spec", {}).get("ports", [])), {})
target = sport.get("targetPort")
tap.ok(target == 8080 or (port and target == port.get("name")),
       "the Service targets hpod's port 8080", sport)
service_url = f"http://{svc['metadata']['name']}:{sport.get('port')}"


def is_worker(d):
    for c in pod_spec(d).get("containers", []):
        words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
        if len(words) >= 2 and os.path.basename(words[0]) == "hpo" and words[1] == "worker":
            return True
    return False


workers = [d for d in docs if d.get("kind") in ("Job", "Deployment") and is_worker(d)]
tap.ok(workers, "a Job or Deployment runs hpo worker")
for w in workers:
    name = f"{w['kind']} {w['metadata']['name']}"
    c = next(c for c in pod_spec(w)["containers"]
             if "worker" in [str(x) for x in (c.get("command") or []) + (c.get("args") or [])])
    words = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
    env = {e["name"]: e for e in c.get("env", [])}
    tap.ok(bool(c.get("image")), f"{name}: names an image")
    tap.ok("--study" in words and "--" in words and words.index("--") < len(words) - 1,
           f"{name}: has --study and a training command after --", words)
    tok = env.get("HPO_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
    tap.ok(tok.get("name") and tok.get("key"), f"{name}: HPO_TOKEN comes from a Secret", tok)
    tap.eq(env.get("HPO_SERVER", {}).get("value"), service_url,
           f"{name}: HPO_SERVER is the hpod Service")
    refs = set(re.findall(r"\$\((\w+)\)", " ".join(words)))
    tap.ok(refs <= set(env), f"{name}: every $(VAR) in its args is in its env", refs - set(env))
    limits = c.get("resources", {}).get("limits", {})
    ngpu = int(limits.get("nvidia.com/gpu", 0))
    tap.ok(ngpu >= 1, f"{name}: resources.limits asks for nvidia.com/gpu", limits)
    gpus = arg_value(words, "--gpus")
    tap.ok(gpus is not None and len(gpus.split(",")) == ngpu,
           f"{name}: --gpus lists as many GPUs as it asks for ({gpus!r}, {ngpu})")
    if w["kind"] == "Job":
        tap.ok(pod_spec(w).get("restartPolicy") in ("OnFailure", "Never"),
               f"{name}: restartPolicy suits a Job")

# The init container's bootstrap gives hpod tokens, once, in the keys the workers read.
init = next((c for c in ps.get("initContainers", []) if c.get("command")), None)
tap.ok(init is not None, "an init container bootstraps the tokens")
if init:
    script = init["command"][-1]
    with tempfile.TemporaryDirectory(prefix="hpotest-") as tmp:
        text = script.replace(db_mount.rstrip("/"), tmp)
        shim = os.path.join(tmp, "bin")
        os.mkdir(shim)
        with open(os.path.join(shim, "hpod"), "w") as f:
            f.write(f'#!/bin/sh\nexec "{HPOD}" "$@"\n')
        os.chmod(os.path.join(shim, "hpod"), 0o755)
        env = dict(os.environ, PATH=shim + os.pathsep + os.environ.get("PATH", ""))
        r1 = subprocess.run(["sh", "-c", text], capture_output=True, text=True, env=env,
                            timeout=60)
        tap.eq(r1.returncode, 0, "the bootstrap script runs")
        envfile = os.path.join(tmp, "bootstrap-tokens.env")
        try:
            with open(envfile) as f:
                first = f.read()
            mode = os.stat(envfile).st_mode & 0o777
        except OSError:
            first, mode = "", None
        tap.eq(mode, 0o600, "bootstrap-tokens.env is readable by its owner only")
        toks = dict(ln.split("=", 1) for ln in first.split())
        want_keys = {w_tok for w_tok in [tok.get("key")] if w_tok}
        tap.ok(want_keys and want_keys <= set(toks),
               "the file has the key the workers' secretKeyRef reads", (toks.keys(), want_keys))
        r2 = subprocess.run(["sh", "-c", text], capture_output=True, text=True, env=env,
                            timeout=60)
        with open(envfile) as f:
            second = f.read()
        tap.ok(r2.returncode == 0 and second == first,
               "a second start keeps the tokens (the script is idempotent)")
        # hpod with the Deployment's args (on loopback) accepts the worker token.
        run_args = [a.replace(db_mount.rstrip("/"), tmp) for a in args]
        i = run_args.index("--listen") if "--listen" in run_args else None
        if i is not None:
            run_args[i + 1] = "127.0.0.1:0"
        p = subprocess.Popen([HPOD] + run_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            tap.ok(line.startswith("hpod listening on "), "hpod starts with those args", line)
            url = line.split()[-1] if line else ""
            spec_ = {"name": "k8s", "params": [{"name": "x", "type": "float", "low": 0, "high": 1}]}
            st, _b, _h = http(url + "/api/v1/studies", "POST", spec_, token=toks.get("admin"))
            tap.eq(st, 201, "the admin token creates a study")
            st, _b, _h = http(url + "/api/v1/studies/k8s/suggest", "POST", {"worker": "pod-0"})
            tap.eq(st, 401, "without a token a worker is refused")
            st, b, _h = http(url + "/api/v1/studies/k8s/suggest", "POST", {"worker": "pod-0"},
                             token=toks.get(tok.get("key", "worker")))
            tap.ok(st == 200 and b.get("trials"), "the worker token gets a trial", b)
        finally:
            p.terminate()
            p.wait(30)

tap.done()

"""contrib/python as a package: pip installs it into a virtual environment
without a network, and its unit tests run against the installed copy (not the
source tree) and a real hpod started on port 0.

Each unittest case becomes one TAP line.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from hpotest import TOP_SRCDIR, Daemon, Tap

tap = Tap()
src = os.path.join(TOP_SRCDIR, "contrib", "python")

# What runs inside the virtual environment: the client's tests, one JSON line
# per case, after checking where hpo_client comes from.
RUNNER = r'''
import json, os, sys, unittest
import hpo_client, hpo_client.optuna
print(json.dumps({"module": hpo_client.__file__, "optuna": hpo_client.optuna.__file__,
                  "version": hpo_client.__version__}), flush=True)

class Result(unittest.TestResult):
    def _out(self, test, ok, detail=None, skip=None):
        print(json.dumps({"id": test.id(), "ok": ok, "detail": detail, "skip": skip}), flush=True)
    def addSuccess(self, test):
        self._out(test, True)
    def addFailure(self, test, err):
        self._out(test, False, self._exc_info_to_string(err, test))
    def addError(self, test, err):
        self._out(test, False, self._exc_info_to_string(err, test))
    def addSkip(self, test, reason):
        self._out(test, True, skip=reason)
    def addExpectedFailure(self, test, err):
        self._out(test, True)
    def addUnexpectedSuccess(self, test):
        self._out(test, False, "unexpected success")

suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
print(json.dumps({"count": suite.countTestCases()}), flush=True)
suite.run(Result())
'''


def ignore(_dir, names):
    return [n for n in names if n in ("build", "__pycache__") or n.endswith(".egg-info")]


tmp = tempfile.mkdtemp(prefix="hpotest-pkg-")
try:
    # Build from a copy: building writes into the source directory.
    shutil.copytree(src, os.path.join(tmp, "src"), ignore=ignore)
    venv = os.path.join(tmp, "venv")
    # Debian's setuptools and wheel come from the system site; no index is asked.
    p = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        tap.skip_all(f"python3 -m venv does not work here: {p.stderr.strip()[-200:]}")
    py = os.path.join(venv, "bin", "python")
    p = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                        os.path.join(tmp, "src")], capture_output=True, text=True, timeout=300,
                       cwd=tmp)
    if not tap.ok(p.returncode == 0, "pip install --no-index --no-build-isolation contrib/python "
                                     "in a virtual environment", p.stdout[-1500:] + p.stderr[-1500:]):
        tap.done()
    p = subprocess.run([py, "-m", "pip", "show", "-f", "hpo-client"], capture_output=True,
                       text=True, timeout=120)
    tap.ok(p.returncode == 0 and "hpo_client/optuna/study.py" in p.stdout
           and "hpo_client/client.py" in p.stdout,
           "pip show lists the client and the Optuna adapter's modules", p.stdout + p.stderr)

    # The tests, away from the source tree: only the installed package can be imported.
    run = os.path.join(tmp, "run")
    shutil.copytree(os.path.join(src, "tests"), os.path.join(run, "tests"), ignore=ignore)
    shutil.copytree(os.path.join(src, "examples"), os.path.join(run, "examples"), ignore=ignore)
    with open(os.path.join(run, "runner.py"), "w") as f:
        f.write(RUNNER)
    with Daemon() as d:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["HPO_SERVER"] = d.url
        p = subprocess.run([py, "runner.py"], capture_output=True, text=True, timeout=900,
                           cwd=run, env=env)
        lines = []
        for ln in p.stdout.splitlines():
            try:
                lines.append(json.loads(ln))
            except ValueError:
                pass
        head = lines[0] if lines else {}
        site = os.path.join(venv, "lib")
        tap.ok(str(head.get("module", "")).startswith(site)
               and str(head.get("optuna", "")).startswith(site),
               "the tests import hpo_client from the virtual environment", head or p.stderr[-2000:])
        count = lines[1].get("count", 0) if len(lines) > 1 else 0
        tap.ok(count >= 25, f"found the client's tests ({count})")
        for r in lines[2:]:
            if r.get("skip"):
                tap.n += 1
                print(f"ok {tap.n} - {r['id']} # SKIP {r['skip']}", flush=True)
            else:
                tap.ok(r["ok"], r["id"], r.get("detail"))
        tap.ok(len(lines) - 2 == count, "every test reported", p.stderr[-3000:])
        if tap.failed:
            tap.diag("hpod log:\n" + d.log()[-3000:])
finally:
    shutil.rmtree(tmp, ignore_errors=True)

tap.done()

"""Four typical Optuna scripts (tests/api/optuna/) run on Optuna itself and on
hpo_client.optuna, the same file with only its import line changed, and what
they print is compared: numbers of trials, states, parameter names per branch,
pruned trials with the default pruner, best_params of the best trial's branch,
callbacks, user attributes, trials_dataframe columns, two processes on one
study, two objectives with a constraints_func (the shape of values and
best_trials, feasibility). Values differ (different samplers); the structure
must not. One difference is by design: hpod's best_trials holds feasible
trials only, Optuna 3.1's every non-dominated complete trial.

The adapter is pip installed into a virtual environment that also sees the
system's Optuna (python3-optuna).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from hpotest import TOP_SRCDIR, Daemon, Tap

tap = Tap()
here = os.path.join(TOP_SRCDIR, "tests", "api", "optuna")
IMPORT = "import optuna\n"
ADAPTER = "import hpo_client.optuna as optuna\n"

p = subprocess.run([sys.executable, "-c", "import optuna, pandas; print(optuna.__version__)"],
                   capture_output=True, text=True, timeout=120)
if p.returncode != 0:
    tap.skip_all("Optuna or pandas is missing (Debian: python3-optuna python3-pandas, "
                 "which scripts/deps.sh --tests installs)")
tap.diag(f"Optuna {p.stdout.strip()}")


def ignore(_dir, names):
    return [n for n in names if n in ("build", "__pycache__") or n.endswith(".egg-info")]


def last_json(text):
    for ln in reversed(text.splitlines()):
        try:
            return json.loads(ln)
        except ValueError:
            continue
    return None


tmp = tempfile.mkdtemp(prefix="hpotest-optuna-")
try:
    shutil.copytree(os.path.join(TOP_SRCDIR, "contrib", "python"), os.path.join(tmp, "src"),
                    ignore=ignore)
    venv = os.path.join(tmp, "venv")
    p = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        tap.skip_all(f"python3 -m venv does not work here: {p.stderr.strip()[-200:]}")
    py = os.path.join(venv, "bin", "python")
    p = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                        os.path.join(tmp, "src")], capture_output=True, text=True, timeout=300,
                       cwd=tmp)
    if not tap.ok(p.returncode == 0, "the adapter installs into a virtual environment",
                  p.stdout[-1000:] + p.stderr[-1000:]):
        tap.done()

    # Each script twice: as written (Optuna) and with the import line changed.
    scripts = {}
    for name in ("branch", "pruning", "shared", "multi"):
        with open(os.path.join(here, name + ".py")) as f:
            text = f.read()
        tap.eq(text.count(IMPORT), 1, f"{name}.py imports optuna once")
        adapted = text.replace(IMPORT, ADAPTER)
        scripts[name] = {"optuna": os.path.join(here, name + ".py"),
                         "hpod": os.path.join(tmp, name + ".py")}
        with open(scripts[name]["hpod"], "w") as f:
            f.write(adapted)
        diff = [(a, b) for a, b in zip(text.splitlines(), adapted.splitlines()) if a != b]
        tap.eq(diff, [("import optuna", "import hpo_client.optuna as optuna")],
               f"{name}.py: the adapter's copy differs by its import line only")

    with Daemon() as d:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HPO_TOKEN")}
        env["HPO_SERVER"] = d.url

        def run(name, side, *args, storage=None):
            e = dict(env)
            if storage:
                e["STORAGE"] = storage
            return subprocess.Popen([py, scripts[name][side]] + list(args), cwd=tmp, env=e,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def output(proc, label, timeout=600):
            out, err = proc.communicate(timeout=timeout)
            summary = last_json(out)
            tap.ok(proc.returncode == 0 and summary is not None, f"{label} runs", err[-3000:])
            return summary or {}

        # 1. Define-by-run with a conditional branch.
        res = {side: output(run("branch", side), f"branch.py on {side}")
               for side in ("optuna", "hpod")}
        o, h = res["optuna"], res["hpod"]
        tap.diag(f"branch.py on Optuna: {json.dumps(o)}")
        tap.diag(f"branch.py on hpod:   {json.dumps(h)}")
        tap.eq((h.get("n_trials"), h.get("states")), (o.get("n_trials"), o.get("states")),
               "branch.py: 30 trials, all complete, on both")
        tap.eq(h.get("branches"), o.get("branches"),
               "branch.py: the same parameter names in each branch")
        for side, r in res.items():
            keys = r.get("best_keys")
            tap.ok(keys in r.get("branches", {}).get(r.get("best_classifier"), []),
                   f"branch.py on {side}: best_params has the parameters of its branch", r)
            tap.ok(r.get("callbacks_match") is True, f"branch.py on {side}: each callback "
                                                     f"got the trial just finished")
            tap.ok(r.get("user_attrs_match") is True,
                   f"branch.py on {side}: user attributes are on the frozen trials")
        tap.eq(h.get("dataframe_columns"), o.get("dataframe_columns"),
               "branch.py: trials_dataframe has the same params_ and user_attrs_ columns")

        # 2. Pruning with report/should_prune, 120 trials, failures caught.
        res = {side: output(run("pruning", side), f"pruning.py on {side}")
               for side in ("optuna", "hpod")}
        o, h = res["optuna"], res["hpod"]
        tap.diag(f"pruning.py on Optuna: {json.dumps(o)}")
        tap.diag(f"pruning.py on hpod:   {json.dumps(h)}")
        for side, r in res.items():
            states = r.get("states", {})
            tap.eq(r.get("n_trials"), 120, f"pruning.py on {side}: n_trials=120 runs 120 trials")
            tap.eq(states.get("FAIL"), 15, f"pruning.py on {side}: the 15 failures are caught "
                                           f"and the study goes on")
            tap.ok(states.get("PRUNED", 0) > 0 and states.get("COMPLETE", 0) > 0,
                   f"pruning.py on {side}: the default pruner prunes some trials "
                   f"({states.get('PRUNED', 0)} of 120)", r)
            tap.ok(r.get("pruned_have_reports") is True and r.get("complete_steps") == [10],
                   f"pruning.py on {side}: intermediate values on the frozen trials, a pruned "
                   f"trial's value is its last one", r)
        tap.eq(h.get("param_names"), o.get("param_names"), "pruning.py: the same parameters")
        tap.ok(h.get("seconds", 99) < 25, f"pruning.py on hpod does not wait out the worker "
                                          f"cut-off after failures ({h.get('seconds')} s)")

        # 3. Two processes on one study, started together, then a summary.
        res = {}
        for side in ("optuna", "hpod"):
            storage = ("sqlite:///" + os.path.join(tmp, "shared.db")) if side == "optuna" \
                else d.url
            # As with Optuna's RDB storage in practice, the storage is set up
            # before workers start (SQLite tables created by two processes at
            # once collide); on hpod this creates nothing, and the two
            # processes below race to create the study.
            first = output(run("shared", side, "shared", "0", storage=storage),
                           f"shared.py set-up on {side}")
            tap.eq(first.get("n_trials"), 0, f"shared.py on {side}: no trials yet")
            procs = [run("shared", side, "shared", "12", storage=storage) for _ in range(2)]
            mine = [output(pr, f"shared.py process {k + 1} on {side}")
                    for k, pr in enumerate(procs)]
            summary = output(run("shared", side, "shared", "0", storage=storage),
                             f"shared.py summary on {side}")
            res[side] = (mine, summary)
            tap.diag(f"shared.py on {side}: {json.dumps(summary)}")
            a, b = (set(m.get("mine", [])) for m in mine)
            tap.ok(len(a) == 12 and len(b) == 12 and not a & b,
                   f"shared.py on {side}: each process told its 12 trials, none twice",
                   [sorted(a), sorted(b)])
            tap.eq(sorted(a | b), summary.get("numbers"),
                   f"shared.py on {side}: the study holds both processes' trials and no other")
            tap.eq(summary.get("states"), ["COMPLETE"], f"shared.py on {side}: all complete")
            tap.ok(summary.get("best_keys") in summary.get("best_branch_keys", []),
                   f"shared.py on {side}: best_params has the parameters of its branch", summary)
        tap.eq(res["hpod"][1].get("branches"), res["optuna"][1].get("branches"),
               "shared.py: the same parameter names in each branch")
        # 4. Two objectives and a constraint (constraints_func).
        res = {side: output(run("multi", side), f"multi.py on {side}")
               for side in ("optuna", "hpod")}
        o, h = res["optuna"], res["hpod"]
        tap.diag(f"multi.py on Optuna: {json.dumps(o)}")
        tap.diag(f"multi.py on hpod:   {json.dumps(h)}")
        same = ["n_trials", "states", "n_complete", "directions", "values_len", "failed_values",
                "constraints_len", "best_type", "best_values_len", "best_params_keys",
                "best_trial_error", "direction_error", "value_error"]
        tap.eq({k: h.get(k) for k in same}, {k: o.get(k) for k in same},
               "multi.py: the same trials, values of two, directions, constraints on the "
               "trials, errors for a single best trial, direction or value")
        tap.ok(o.get("n_complete") == 24 and o.get("failed_values") == ["None"],
               "multi.py: a wrong number of values or a NaN fails the trial on both", o)
        tap.ok(h.get("n_feasible", 0) > 0 and h.get("best_numbers") == h.get("front_feasible"),
               "multi.py on hpod: best_trials is the front of the feasible trials", h)
        tap.ok(h.get("best_all_feasible") is True, "multi.py on hpod: no infeasible trial in "
                                                   "best_trials", h)
        # Optuna 3.1 leaves constraints out of best_trials (its samplers use them)
        tap.ok(o.get("best_numbers") == o.get("front_all"),
               "multi.py on Optuna: best_trials is the front of all complete trials", o)
        if tap.failed:
            tap.diag("hpod log:\n" + d.log()[-3000:])
finally:
    shutil.rmtree(tmp, ignore_errors=True)

tap.done()

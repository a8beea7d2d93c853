"""Two objectives and a constraint: accuracy up, latency down, memory at most
6 (constraints_func returns memory - 6, feasible when <= 0). Prints a JSON
summary: trial states, the shape of values, directions, the constraints kept
on the trials, what best_trials holds, and the errors Optuna raises for a
single best trial or direction. The storage comes from the STORAGE
environment variable when set."""
import json
import math
import os

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def constraints(trial):
    return [trial.user_attrs["mem"] - 6.0]


def objective(trial):
    width = trial.suggest_int("width", 8, 512, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    accuracy = 1.0 - 1.0 / (1.0 + width / 40.0) + (0.02 if optimizer == "adam" else 0.0)
    latency = 2.0 + width / 25.0 + (1.0 if optimizer == "adam" else 0.0)
    trial.set_user_attr("mem", width / 60.0)
    return accuracy, latency


def dominates(a, b):
    """values of a and b: (accuracy up, latency down)."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def front(trials):
    return sorted(t.number for t in trials
                  if not any(dominates(u.values, t.values) for u in trials if u is not t))


def raises(f):
    try:
        f()
    except Exception as e:
        return type(e).__name__
    return None


sampler = optuna.samplers.NSGAIISampler(seed=1, constraints_func=constraints)
study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler,
                            storage=os.environ.get("STORAGE"), study_name="multi")
study.optimize(objective, n_trials=24)
# a wrong number of values fails the trial (Optuna warns), as a NaN does
t = study.ask()
t.suggest_int("width", 8, 512, log=True)
t.suggest_categorical("optimizer", ["sgd", "adam"])
t.set_user_attr("mem", 1.0)
study.tell(t, [0.5])
study.optimize(lambda tr: (objective(tr)[0], math.nan), n_trials=1)

trials = study.trials
complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
cons = [t.system_attrs.get("constraints") for t in complete]
feasible = [t for t, c in zip(complete, cons) if c is not None and all(x <= 0 for x in c)]
best = study.best_trials
summary = {
    "n_trials": len(trials),
    "states": sorted({t.state.name for t in trials}),
    "n_complete": len(complete),
    "directions": [d.name for d in study.directions],
    "values_len": sorted({len(t.values) for t in complete}),
    "failed_values": sorted({repr(t.values) for t in trials if t.state.name == "FAIL"}),
    "constraints_len": sorted({len(c) if c is not None else -1 for c in cons}),
    "n_feasible": len(feasible),
    "n_infeasible": len(complete) - len(feasible),
    "best_type": sorted({type(t).__name__ for t in best}),
    "best_values_len": sorted({len(t.values) for t in best}),
    "best_numbers": sorted(t.number for t in best),
    "best_all_feasible": all(t.number in {f.number for f in feasible} for t in best),
    "front_all": front(complete),
    "front_feasible": front(feasible),
    "best_params_keys": sorted({",".join(sorted(t.params)) for t in best}),
    "best_trial_error": raises(lambda: study.best_trial),
    "direction_error": raises(lambda: study.direction),
    "value_error": raises(lambda: complete[0].value),
}
print(json.dumps(summary))

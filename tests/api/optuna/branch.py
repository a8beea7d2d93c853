"""Define-by-run with a conditional branch: the classifier decides which
parameters exist. Prints a JSON summary of the study on its last line."""
import json
import math

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    classifier = trial.suggest_categorical("classifier", ["svc", "forest"])
    if classifier == "svc":
        c = trial.suggest_float("svc_c", 1e-3, 1e3, log=True)
        kernel = trial.suggest_categorical("svc_kernel", ["rbf", "linear", "poly"])
        if kernel == "poly":
            degree = trial.suggest_int("svc_degree", 2, 5)
            c *= degree
        error = 0.1 + (math.log10(c) - 1) ** 2 / 20 + (0.05 if kernel == "linear" else 0.0)
    else:
        depth = trial.suggest_int("rf_max_depth", 2, 32, log=True)
        trees = trial.suggest_int("rf_n_estimators", 10, 200, step=10)
        error = 0.15 + abs(math.log2(depth) - 3) / 20 + (200 - trees) / 4000
    trial.set_user_attr("branch", classifier)
    return error


seen = []
study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=1))
study.optimize(objective, n_trials=30, callbacks=[lambda s, t: seen.append((t.number, t.params))])
print("best params:", study.best_params)

trials = study.trials
branches = {}
for t in trials:
    branches.setdefault(t.params["classifier"], set()).add(",".join(sorted(t.params)))
try:
    columns = sorted(c for c in study.trials_dataframe().columns
                     if c.startswith(("params_", "user_attrs_")))
except ImportError:
    columns = None
by_number = {t.number: t.params for t in trials}
print(json.dumps({
    "n_trials": len(trials),
    "states": sorted({t.state.name for t in trials}),
    "branches": {k: sorted(v) for k, v in branches.items()},
    "best_classifier": study.best_params["classifier"],
    "best_keys": ",".join(sorted(study.best_params)),
    "callbacks_match": sorted(n for n, _ in seen) == sorted(by_number)
    and all(by_number[n] == p for n, p in seen),
    "user_attrs_match": all(t.user_attrs.get("branch") == t.params["classifier"] for t in trials),
    "dataframe_columns": columns,
}))

"""Several processes on one study (ask and tell). Usage: shared.py STUDY N
runs N trials; N = 0 prints a JSON summary of the whole study. The storage
comes from the STORAGE environment variable."""
import json
import os
import sys

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)

study = optuna.create_study(study_name=sys.argv[1], storage=os.environ["STORAGE"],
                            direction="maximize", load_if_exists=True)
mine = []
for _ in range(int(sys.argv[2])):
    trial = study.ask()
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    accuracy = 0.9 - abs(lr - 0.01) * 2
    if optimizer == "sgd":
        momentum = trial.suggest_float("momentum", 0.0, 0.99)
        accuracy += momentum / 20
    for step in range(3):
        trial.report(accuracy - 0.1 / (step + 1), step)
    study.tell(trial, accuracy)
    mine.append(trial.number)

trials = study.trials
branches = {}
for t in trials:
    # another process's trial may be asked and not yet have its parameters
    if "optimizer" in t.params:
        branches.setdefault(t.params["optimizer"], set()).add(",".join(sorted(t.params)))
summary = {"mine": mine, "n_trials": len(trials),
           "numbers": sorted(t.number for t in trials),
           "states": sorted({t.state.name for t in trials}),
           "branches": {k: sorted(v) for k, v in branches.items()}}
if trials:
    best = study.best_params
    summary["best_keys"] = ",".join(sorted(best))
    summary["best_branch_keys"] = sorted(branches[best["optimizer"]])
print(json.dumps(summary))

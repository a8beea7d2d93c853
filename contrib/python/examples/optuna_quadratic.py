"""An Optuna ask/tell script moved to hpod by changing two lines.

With Optuna it read:

    import optuna
    study = optuna.create_study(direction="minimize")

Run it against a daemon:  HPO_SERVER=http://127.0.0.1:8080 python3 optuna_quadratic.py
"""
import os
import sys

import hpo_client.optuna as optuna  # changed line 1

study = optuna.create_study(direction="minimize",  # changed line 2
                            storage=os.environ.get("HPO_SERVER", "http://127.0.0.1:8080"),
                            study_name=sys.argv[1] if len(sys.argv) > 1 else "quadratic",
                            load_if_exists=True)

for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 20):
    trial = study.ask()
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 5)
    shape = trial.suggest_categorical("shape", ["bowl", "ridge"])
    loss = None
    for step in range(5):
        loss = (x - 2) ** 2 + n + (0.5 if shape == "ridge" else 0.0) + 1.0 / (step + 1)
        trial.report(loss, step)
        if trial.should_prune():
            break
    if trial.should_prune():
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, loss)

print(f"best value {study.best_value:.4f} with {study.best_params}")

"""Pruning with report/should_prune and the default pruner, 120 trials, and
an objective that fails for a while (caught). Prints a JSON summary."""
import json
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)


def objective(trial):
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    width = trial.suggest_int("width", 8, 128, log=True)
    if 40 <= trial.number < 55:
        raise ValueError("the loss diverged")
    loss = 1.0
    for epoch in range(10):
        loss = abs(lr - 0.05) * 5 + 8.0 / width + 1.0 / (epoch + 1)
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return loss


start = time.monotonic()
study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=2))
study.optimize(objective, n_trials=120, catch=(ValueError,))
took = time.monotonic() - start
print("best value:", study.best_value)

trials = study.trials
count = {}
for t in trials:
    count[t.state.name] = count.get(t.state.name, 0) + 1
pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
print(json.dumps({
    "n_trials": len(trials),
    "states": count,
    "pruned_have_reports": all(t.intermediate_values and t.value == t.intermediate_values[t.last_step]
                               for t in pruned),
    "complete_steps": sorted({len(t.intermediate_values) for t in complete}),
    "param_names": sorted({",".join(sorted(t.params)) for t in trials}),
    "seconds": round(took, 1),
}))

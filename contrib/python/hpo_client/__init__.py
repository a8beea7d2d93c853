"""Python client for hpod, the hyperparameter-tuning daemon (standard library only).

- Client: the REST API, one method per endpoint.
- Study, Trial: the ask/tell loop of a training script, with heartbeats.
- hpo_client.optuna: an Optuna-style front end (create_study, ask, tell,
  suggest_float/int/categorical, report, should_prune).
"""
from .asktell import Study, StudyFinished, Trial
from .client import Client, HpoError, Unreachable

__all__ = ["Client", "HpoError", "Unreachable", "Study", "StudyFinished", "Trial"]
__version__ = "0.2.0"

"""Optuna's interface on an hpod daemon.

Change the import line of an Optuna script:

    import hpo_client.optuna as optuna        # was: import optuna

and it runs on hpod: create_study/load_study, Study.optimize/ask/tell,
Trial.suggest_*/report/should_prune, best_params, trials, trials_dataframe,
the samplers, pruners, distributions, exceptions and logging modules. The
daemon is the storage (HPO_SERVER, or storage="http://host:port"); its
sampler and pruner serve every process on the study. See study.py for how the
search space is learned from the objective's suggest_* calls.
"""
from . import distributions, exceptions, logging, pruners, samplers, study, trial
from .distributions import (CategoricalDistribution, DiscreteUniformDistribution,
                            FloatDistribution, IntDistribution, IntLogUniformDistribution,
                            IntUniformDistribution, LogUniformDistribution, UniformDistribution)
from .exceptions import DuplicatedStudyError, OptunaError, StudyFinished, TrialPruned
from .study import (MaxTrialsCallback, Study, StudyDirection, create_study, delete_study,
                    get_all_study_names, load_study)
from .trial import FixedTrial, FrozenTrial, Trial, TrialState, create_trial

from .. import __version__

__all__ = [
    "__version__", "create_study", "load_study", "delete_study", "get_all_study_names",
    "Study", "Trial",
    "FrozenTrial", "FixedTrial", "TrialState", "StudyDirection", "TrialPruned", "StudyFinished",
    "OptunaError", "DuplicatedStudyError", "MaxTrialsCallback", "create_trial",
    "FloatDistribution", "IntDistribution", "CategoricalDistribution", "UniformDistribution",
    "LogUniformDistribution", "DiscreteUniformDistribution", "IntUniformDistribution",
    "IntLogUniformDistribution", "distributions", "exceptions", "logging", "pruners",
    "samplers", "study", "trial",
]

"""Exceptions, as in optuna.exceptions."""


class OptunaError(Exception):
    """Base class of the adapter's errors."""


class TrialPruned(OptunaError):
    """Raise from an objective (after should_prune()) to end the trial as pruned."""


class DuplicatedStudyError(OptunaError):
    """create_study found a study of that name (pass load_if_exists=True to use it)."""


class StorageInternalError(OptunaError):
    """hpod refused or could not serve a request."""


class CLIUsageError(OptunaError):
    pass


class StudyFinished(OptunaError):
    """ask() on a study that hpod finished (its max_trials or max_failures reached)."""


class ExperimentalWarning(Warning):
    pass

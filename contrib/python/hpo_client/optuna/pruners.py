"""Pruners, as in optuna.pruners: each names one of hpod's pruners, which
decide in the daemon from every process's reports.

MedianPruner -> median (the default, as in Optuna), SuccessiveHalvingPruner and
HyperbandPruner -> asha, PatientPruner -> patience, NopPruner -> none.
"""
from .logging import get_logger

_logger = get_logger(__name__)


class BasePruner:
    hpod_name = "none"

    def __init__(self, **settings):
        self.settings = {k: v for k, v in settings.items() if v is not None}

    def to_spec(self):
        return dict(self.settings, name=self.hpod_name)

    def __repr__(self):
        return f"{type(self).__name__}({self.to_spec()!r})"


class NopPruner(BasePruner):
    hpod_name = "none"

    def __init__(self):
        super().__init__()


class MedianPruner(BasePruner):
    hpod_name = "median"

    def __init__(self, n_startup_trials=5, n_warmup_steps=0, interval_steps=1, *, n_min_trials=1):
        super().__init__(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps,
                         interval_steps=interval_steps, n_min_trials=n_min_trials)


class SuccessiveHalvingPruner(BasePruner):
    hpod_name = "asha"

    def __init__(self, min_resource="auto", reduction_factor=4, min_early_stopping_rate=0,
                 bootstrap_count=0):
        if bootstrap_count:
            _logger.warning("SuccessiveHalvingPruner: bootstrap_count is not supported by hpod")
        super().__init__(min_resource=1 if min_resource == "auto" else min_resource,
                         reduction_factor=reduction_factor,
                         min_early_stopping_rate=min_early_stopping_rate)


class HyperbandPruner(BasePruner):
    """hpod runs one asynchronous successive-halving bracket for it."""

    hpod_name = "asha"

    def __init__(self, min_resource=1, max_resource="auto", reduction_factor=3,
                 bootstrap_count=0):
        super().__init__(min_resource=min_resource, reduction_factor=reduction_factor)


class PatientPruner(BasePruner):
    """hpod's patience pruner; a wrapped pruner other than None or NopPruner is
    not combined with it."""

    hpod_name = "patience"

    def __init__(self, wrapped_pruner, patience, min_delta=0.0):
        if wrapped_pruner is not None and not isinstance(wrapped_pruner, NopPruner):
            _logger.warning("PatientPruner: hpod applies patience alone, without %s",
                            type(wrapped_pruner).__name__)
        super().__init__(patience=max(1, int(patience)), min_delta=float(min_delta))


class HpodPruner(BasePruner):
    """Any pruner of hpod by name with its spec settings."""

    def __init__(self, name, **settings):
        self.hpod_name = name
        super().__init__(**settings)


def to_spec(pruner):
    if pruner is None:
        return MedianPruner().to_spec()
    if isinstance(pruner, BasePruner):
        return pruner.to_spec()
    if isinstance(pruner, str):
        return {"name": pruner}
    if isinstance(pruner, dict):
        return dict(pruner)
    raise TypeError(f"pruner: {type(pruner).__name__} has no hpod counterpart; use "
                    f"MedianPruner, SuccessiveHalvingPruner, HyperbandPruner, PatientPruner, "
                    f"NopPruner or HpodPruner")

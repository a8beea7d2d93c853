"""Samplers, as in optuna.samplers: each names one of hpod's samplers, which
runs in the daemon, so that every process on a study shares its model.

TPESampler -> tpe, RandomSampler -> random, QMCSampler -> sobol; hpod's own
gp, auto and llm samplers through HpodSampler(name, **settings). A study with
several objectives or constraints runs hpod's samplers for such studies:
TPESampler and NSGAIISampler -> motpe, CmaEsSampler -> mogp. Samplers keep
Optuna's constraints_func, which create_study takes from them.
"""
from .logging import get_logger

_logger = get_logger(__name__)


class BaseSampler:
    """A sampler of hpod: name and settings of the spec's "sampler" member."""

    hpod_name = "auto"
    hpod_multi_name = None  # the name for several objectives or constraints, if other
    constraints_func = None

    def __init__(self, seed=None, **settings):
        self.seed = seed
        self.settings = settings

    def to_spec(self, multi=False):
        s = {"name": (self.hpod_multi_name or self.hpod_name) if multi else self.hpod_name}
        if self.seed is not None:
            s["seed"] = int(self.seed)
        s.update(self.settings)
        return s

    def reseed_rng(self):
        """Seeds live in the daemon's spec; nothing to do here."""

    def __repr__(self):
        return f"{type(self).__name__}({self.to_spec()!r})"


class TPESampler(BaseSampler):
    """hpod's TPE (multivariate and aware of conditional parameters). Optuna's
    tuning arguments (n_startup_trials, gamma, ...) are accepted and left to
    hpod's defaults."""

    hpod_name = "tpe"
    hpod_multi_name = "motpe"

    def __init__(self, consider_prior=True, prior_weight=1.0, consider_magic_clip=True,
                 consider_endpoints=False, n_startup_trials=10, n_ei_candidates=24, gamma=None,
                 weights=None, seed=None, multivariate=False, group=False,
                 warn_independent_sampling=True, constant_liar=False, constraints_func=None):
        super().__init__(seed=seed)
        self.constraints_func = constraints_func


class NSGAIISampler(BaseSampler):
    """hpod has no NSGA-II: its multi-objective TPE (motpe, which ranks trials
    by non-dominated sorting and hypervolume contribution as Optuna's does)
    serves these studies. Optuna's tuning arguments are accepted and left to
    hpod's defaults; constraints_func is kept."""

    hpod_name = "motpe"
    hpod_multi_name = "motpe"

    def __init__(self, *, population_size=50, mutation_prob=None, crossover=None,
                 crossover_prob=0.9, swapping_prob=0.5, seed=None, constraints_func=None):
        super().__init__(seed=seed)
        self.constraints_func = constraints_func


class RandomSampler(BaseSampler):
    hpod_name = "random"

    def __init__(self, seed=None):
        super().__init__(seed=seed)


class QMCSampler(BaseSampler):
    """hpod's scrambled Sobol sequence."""

    hpod_name = "sobol"

    def __init__(self, *, qmc_type="sobol", scramble=False, seed=None, independent_sampler=None,
                 warn_asynchronous_seeding=True, warn_independent_sampling=True):
        if qmc_type != "sobol":
            _logger.warning("QMCSampler: hpod has only the Sobol sequence (asked: %s)", qmc_type)
        super().__init__(seed=seed)


class CmaEsSampler(BaseSampler):
    """hpod has no CMA-ES: its Gaussian-process sampler serves these studies."""

    hpod_name = "gp"
    hpod_multi_name = "mogp"

    def __init__(self, x0=None, sigma0=None, n_startup_trials=1, independent_sampler=None,
                 warn_independent_sampling=True, seed=None, **kwargs):
        _logger.warning("CmaEsSampler: hpod has no CMA-ES; the study uses hpod's GP sampler")
        super().__init__(seed=seed)


class HpodSampler(BaseSampler):
    """Any sampler of hpod by name (auto, random, sobol, tpe, gp, llm) with its
    spec settings, e.g. HpodSampler("llm", seed=1)."""

    def __init__(self, name, seed=None, **settings):
        self.hpod_name = name
        super().__init__(seed=seed, **settings)


def to_spec(sampler, multi=False):
    """The spec's "sampler" member for a sampler object, an hpod name or a dict;
    multi: for a study with several objectives or constraints."""
    if sampler is None:
        return None
    if isinstance(sampler, BaseSampler):
        return sampler.to_spec(multi)
    if isinstance(sampler, str):
        return {"name": sampler}
    if isinstance(sampler, dict):
        return dict(sampler)
    raise TypeError(f"sampler: {type(sampler).__name__} has no hpod counterpart; use "
                    f"TPESampler, NSGAIISampler, RandomSampler, QMCSampler or HpodSampler")

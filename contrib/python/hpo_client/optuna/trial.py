"""Trials, as in optuna.trial: TrialState, Trial (what ask() hands out),
FrozenTrial (a trial read back) and create_trial (for Study.add_trial)."""
import datetime
import enum
import math
import warnings

from . import _record
from . import distributions as _d
from .logging import get_logger

_logger = get_logger(__name__)


class TrialState(enum.Enum):
    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def is_finished(self):
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

    def __repr__(self):
        return str(self)


HPOD_STATES = {"pending": TrialState.WAITING, "running": TrialState.RUNNING,
               "stale": TrialState.RUNNING, "completed": TrialState.COMPLETE,
               "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
TO_HPOD = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned",
           TrialState.FAIL: "failed"}


def _parse_time(text):
    """An RFC 3339 UTC time as a naive local datetime (what Optuna hands out)."""
    if not text:
        return None
    try:
        t = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            t = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return t.astimezone().replace(tzinfo=None)


class FrozenTrial:
    """A trial as stored: number, state, value(s), params, distributions,
    user_attrs, intermediate_values, datetime_start, datetime_complete."""

    def __init__(self, number, state, value, datetime_start, datetime_complete, params,
                 distributions, user_attrs, system_attrs, intermediate_values, trial_id,
                 *, values=None):
        if value is not None and values is not None:
            raise ValueError("Specify only one of `value` and `values`.")
        self._values = None  # several objectives: their values, in the study's order
        if values is not None:
            values = [None if v is None else float(v) for v in values]
            if len(values) == 1:
                value = values[0]
            else:
                self._values = values
        self.number = number
        self.state = state
        self._value = None if value is None else float(value)
        self.datetime_start = datetime_start
        self.datetime_complete = datetime_complete
        self._params = dict(params)
        self._distributions = dict(distributions)
        self.user_attrs = dict(user_attrs)
        self.system_attrs = dict(system_attrs)
        self.intermediate_values = dict(intermediate_values)
        self._trial_id = trial_id

    @property
    def value(self):
        if self._values is not None:
            raise RuntimeError("This attribute is not available during multi-objective "
                               "optimization.")
        return self._value

    @value.setter
    def value(self, v):
        self._value = None if v is None else float(v)

    @property
    def values(self):
        if self._values is not None:
            return None if any(v is None for v in self._values) else list(self._values)
        return None if self._value is None else [self._value]

    @values.setter
    def values(self, vs):
        if vs is None:
            self._values, self._value = None, None
        elif len(vs) == 1:
            self._values, self._value = None, float(vs[0])
        else:
            self._values, self._value = [float(v) for v in vs], None

    @property
    def params(self):
        return dict(self._params)

    @params.setter
    def params(self, p):
        self._params = dict(p)

    @property
    def distributions(self):
        return dict(self._distributions)

    @distributions.setter
    def distributions(self, d):
        self._distributions = dict(d)

    @property
    def duration(self):
        if self.datetime_start and self.datetime_complete:
            return self.datetime_complete - self.datetime_start
        return None

    @property
    def last_step(self):
        return max(self.intermediate_values) if self.intermediate_values else None

    def report(self, value, step):
        """As Optuna's FrozenTrial.report (for a trial built by create_trial)."""
        self.intermediate_values[int(step)] = float(value)

    def should_prune(self):
        return False

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value

    def set_system_attr(self, key, value):
        self.system_attrs[key] = value

    def suggest_float(self, name, low, high, *, step=None, log=False):
        return self._params[name]

    def suggest_int(self, name, low, high, step=1, log=False):
        return int(self._params[name])

    def suggest_categorical(self, name, choices):
        return self._params[name]

    def __eq__(self, other):
        return isinstance(other, FrozenTrial) and self.__dict__ == other.__dict__

    def __lt__(self, other):
        return self.number < other.number

    def __hash__(self):
        return hash((self.number, self._trial_id))

    def __repr__(self):
        return (f"FrozenTrial(number={self.number}, state={self.state}, values={self.values}, "
                f"datetime_start={self.datetime_start!r}, "
                f"datetime_complete={self.datetime_complete!r}, params={self._params!r}, "
                f"user_attrs={self.user_attrs!r}, "
                f"intermediate_values={self.intermediate_values!r}, "
                f"trial_id={self._trial_id})")


def frozen_from_hpod(data, space, local=None, objectives=None, n_constraints=0):
    """A FrozenTrial of an hpod trial. space: the study's params by name (hpod
    dicts); local: the Trial this process ran, whose record is fresher;
    objectives: the metric names of a study with several objectives (their
    values become the trial's values); n_constraints: how many constraint_i
    metrics the study has (they become system_attrs["constraints"], as in
    Optuna)."""
    extras, dists, unused, attrs, metrics = _record.decode(data.get("values"))
    params, distributions = {}, {}
    for name, value in (data.get("params") or {}).items():
        if name in unused:
            continue
        p = space.get(name)
        dist = _d.from_param(p) if p else None
        if dist is None:
            continue
        params[name] = _d.coerce(dist, value)
        distributions[name] = dist
    for name, value in extras.items():
        dist = dists.get(name)
        params[name] = _d.coerce(dist, value) if dist is not None else value
        if dist is not None:
            distributions[name] = dist
    if local is not None:
        # same values, in the order the objective asked for them
        params = {n: params.get(n, v) for n, v in local.params.items()}
        distributions = dict(local.distributions)
        attrs = dict(local.user_attrs)
    reports = data.get("reports")
    if reports is not None:
        inter = {int(r["step"]): r["value"] for r in reports if r.get("value") is not None}
    elif local is not None:
        inter = dict(local._reports)
    else:
        inter = {}
    state = HPOD_STATES.get(data.get("state"), TrialState.WAITING)
    value = data.get("value")
    if state == TrialState.FAIL or state == TrialState.WAITING or state == TrialState.RUNNING:
        value = None
    values = None
    if objectives and len(objectives) > 1:
        vector = data.get("objectives")
        if not isinstance(vector, list) or len(vector) != len(objectives):
            vector = [metrics.get(n) for n in objectives]
        values = list(vector) if state == TrialState.COMPLETE else [None] * len(objectives)
        value = None
    system = {"hpod:id": data.get("id"), "hpod:source": data.get("source")}
    if data.get("error"):
        system["hpod:error"] = data["error"]
    if n_constraints:
        cons = [metrics.get(f"constraint_{i}") for i in range(n_constraints)]
        if all(c is not None for c in cons):
            system["constraints"] = cons
    if data.get("feasible") is not None:
        system["hpod:feasible"] = data["feasible"]
    return FrozenTrial(data["number"], state, value, _parse_time(data.get("started_at")),
                       _parse_time(data.get("finished_at")), params, distributions, attrs,
                       system, inter, data.get("id"), values=values)


class Trial:
    """What Study.ask() returns. suggest_* give the value hpod chose for this
    trial; a parameter hpod's study does not have (or has for another branch)
    gets a value drawn here, is recorded with the trial, and stays out of the
    trials where the objective did not ask for it."""

    def __init__(self, study, leased=None, fixed=None, rng=None):
        self.study = study
        self._leased = leased  # asktell.Trial, or None for a trial run before the study existed
        self._given = dict(leased.params) if leased else {}
        self._fixed = dict(fixed or {})
        self._rng = rng
        self._params = {}
        self._distributions = {}
        self._from_hpod = set()
        self._reports = {}
        self._pending_reports = {}  # reports kept here until the trial exists on hpod
        self.user_attrs = {}
        self.system_attrs = {}
        self._told = False
        self._frozen = None
        self._history = None  # completed trials, read once for parameters drawn here
        self._started = datetime.datetime.now()
        self._number = leased.number if leased else None

    # ---- identity ----

    @property
    def number(self):
        if self._number is None:
            # run before the study existed: its number is given when it is told
            self.study._ensure_number(self)
        return self._number

    @property
    def params(self):
        return dict(self._params)

    @property
    def distributions(self):
        return dict(self._distributions)

    @property
    def datetime_start(self):
        return self._started

    @property
    def _trial_id(self):
        return self._leased.id if self._leased else None

    # ---- suggest ----

    def _suggest(self, name, dist):
        if name in self._params:
            _d.check_distribution_compatibility(self._distributions[name], dist)
            return self._params[name]
        with self.study._lock:
            value = None
            if name in self._fixed:
                value = self._fixed[name]
                if not dist._contains(value):
                    warnings.warn(f"Fixed parameter '{name}' with value {value!r} is out of "
                                  f"range for distribution {dist}.")
            elif name in self._given and self._hpod_dist_matches(name, dist):
                value = self._given[name]
                self._from_hpod.add(name)
            else:
                value = self.study._draw_outside(name, dist, self)
            value = _d.coerce(dist, value)
            self._params[name] = value
            self._distributions[name] = dist
            self.study._learn(name, dist, self)
        return value

    def _hpod_dist_matches(self, name, dist):
        p = self.study._space.get(name) if self.study._space else None
        if p is None:
            return False
        mine = _d.from_param(p)
        if mine is None or type(mine) is not type(dist) and not (
                isinstance(mine, _d.FloatDistribution) and isinstance(dist, _d.FloatDistribution)
        ) and not (isinstance(mine, _d.IntDistribution) and isinstance(dist, _d.IntDistribution)):
            return False
        if not dist._contains(self._given[name]):
            _logger.warning("parameter %r: hpod's value %r is outside %s; drawing one here",
                            name, self._given[name], dist)
            return False
        return True

    def suggest_float(self, name, low, high, *, step=None, log=False):
        return self._suggest(name, _d.FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name, low, high, step=1, log=False):
        return self._suggest(name, _d.IntDistribution(low, high, log=log, step=step))

    def suggest_categorical(self, name, choices):
        return self._suggest(name, _d.CategoricalDistribution(choices))

    def suggest_uniform(self, name, low, high):
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name, low, high):
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name, low, high, q):
        return self.suggest_float(name, low, high, step=q)

    # ---- reports and attributes ----

    def report(self, value, step):
        """An intermediate value at step; hpod's pruner judges it. A step
        reported twice keeps its first value, as in Optuna."""
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"The `value` argument is of type '{type(value)}' but supposed to "
                            f"be a float.") from None
        step = int(step)
        if step < 0:
            raise ValueError(f"The `step` argument is {step} but cannot be negative.")
        if step in self._reports:
            warnings.warn(f"The reported value is ignored because this `step` {step} is already "
                          f"reported.")
            return
        self._reports[step] = value
        if self._leased is None or not math.isfinite(value):
            return
        try:
            self._leased.report(value, step)
        except Exception as e:  # the daemon is away: keep the value, send it with tell()
            _logger.warning("trial %s: report at step %d not sent (%s)", self._number, step, e)
            self._pending_reports[step] = value

    def should_prune(self):
        return self._leased is not None and self._leased.should_prune()

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value

    def set_system_attr(self, key, value):
        self.system_attrs[key] = value

    def __repr__(self):
        return f"Trial(number={self._number}, params={self._params!r})"


class FixedTrial:
    """A trial whose suggest_* answer given values, to call an objective
    outside a study (as Optuna's FixedTrial)."""

    def __init__(self, params, number=0):
        self.params = dict(params)
        self.number = number
        self.user_attrs = {}
        self.system_attrs = {}
        self.distributions = {}
        self.datetime_start = datetime.datetime.now()

    def _suggest(self, name, dist):
        if name not in self.params:
            raise ValueError(f"The value of the parameter '{name}' is not found. Please set it "
                             f"at the construction of the FixedTrial object.")
        value = self.params[name]
        if not dist._contains(value):
            warnings.warn(f"The value {value} of the parameter '{name}' is out of the range of "
                          f"the distribution {dist}.")
        self.distributions[name] = dist
        return _d.coerce(dist, value)

    def suggest_float(self, name, low, high, *, step=None, log=False):
        return self._suggest(name, _d.FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name, low, high, step=1, log=False):
        return self._suggest(name, _d.IntDistribution(low, high, log=log, step=step))

    def suggest_categorical(self, name, choices):
        return self._suggest(name, _d.CategoricalDistribution(choices))

    def report(self, value, step):
        pass

    def should_prune(self):
        return False

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value

    def set_system_attr(self, key, value):
        self.system_attrs[key] = value


def create_trial(*, state=TrialState.COMPLETE, value=None, values=None, params=None,
                 distributions=None, user_attrs=None, system_attrs=None,
                 intermediate_values=None):
    """A FrozenTrial to pass to Study.add_trial."""
    now = datetime.datetime.now()
    return FrozenTrial(-1, state, value, now, now if state.is_finished() else None,
                       params or {}, distributions or {}, user_attrs or {}, system_attrs or {},
                       intermediate_values or {}, None, values=values)

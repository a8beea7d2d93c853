"""An Optuna-style front end to hpod, for scripts written for Optuna's ask/tell.

Change two lines of such a script:

    import hpo_client.optuna as optuna                         # was: import optuna
    study = optuna.create_study(direction="minimize",          # was: no storage
                                storage="http://hpod:8080", study_name="mlp",
                                load_if_exists=True)

and the rest runs as before:

    for _ in range(50):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4)
        act = trial.suggest_categorical("act", ["relu", "tanh"])
        for epoch in range(10):
            loss = train(lr, layers, act, epoch)
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()     # or study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        study.tell(trial, loss)

hpod needs the search space when the study is created, while Optuna learns it
as the script calls suggest_*. So, when the study does not exist yet and no
search_space is given, the first trial is sampled here at random while the
suggest_* calls are recorded; when it is told, the study is created on hpod
with that space, and the first trial is recorded there as an enqueued trial.
From then on every trial comes from hpod's sampler. A parameter asked for that
is not in the study's space gets a random value here (with a warning) and is
not seen by hpod's sampler: declare such (conditional) parameters up front
with search_space=, or create the study with a spec (`hpo study create`) and
open it with load_study().

create_study(..., search_space={...}) takes Optuna-like distributions:
FloatDistribution(low, high, log=False, step=None), IntDistribution(low, high,
log=False, step=1), CategoricalDistribution(choices), or hpod param dicts.
"""
import enum
import math
import random
import sys
import time

from .asktell import Study as _Study
from .asktell import Trial as _Trial
from .client import Client, HpoError

__all__ = [
    "create_study", "load_study", "delete_study", "Study", "Trial", "FrozenTrial",
    "TrialPruned", "StudyFinished", "FloatDistribution", "IntDistribution",
    "CategoricalDistribution", "TrialState", "StudyDirection",
]


class TrialPruned(Exception):
    """Raise from an objective (or after should_prune()) to prune the trial."""


class StudyFinished(Exception):
    """ask() on a study that hpod has finished (max_trials or max_failures)."""


class TrialState(enum.Enum):
    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4


class StudyDirection(enum.Enum):
    NOT_SET = 0
    MINIMIZE = 1
    MAXIMIZE = 2


class _TrialModule:
    """So that optuna.trial.TrialState works as in Optuna."""
    TrialState = TrialState


trial = _TrialModule()

_STATE_NAMES = {"pending": TrialState.WAITING, "running": TrialState.RUNNING,
                "completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
                "failed": TrialState.FAIL}


class FloatDistribution:
    def __init__(self, low, high, log=False, step=None):
        self.low, self.high, self.log, self.step = float(low), float(high), bool(log), step

    def to_param(self, name):
        p = {"name": name, "type": "float", "low": self.low, "high": self.high}
        if self.log:
            p["log"] = True
        if self.step is not None:
            p["step"] = float(self.step)
        return p


class IntDistribution:
    def __init__(self, low, high, log=False, step=1):
        self.low, self.high, self.log, self.step = int(low), int(high), bool(log), int(step)

    def to_param(self, name):
        p = {"name": name, "type": "int", "low": self.low, "high": self.high}
        if self.log:
            p["log"] = True
        if self.step != 1:
            p["step"] = self.step
        return p


class CategoricalDistribution:
    def __init__(self, choices):
        self.choices = list(choices)

    def to_param(self, name):
        return {"name": name, "type": "categorical", "choices": self.choices}


def _param_of(name, dist):
    if isinstance(dist, dict):
        return dict(dist, name=name)
    return dist.to_param(name)


def _sample(param, rng):
    """A random value of an hpod param dict (for the recording trial and strays)."""
    t = param["type"]
    if t == "categorical":
        return rng.choice(param["choices"])
    low, high = param["low"], param["high"]
    if t == "int":
        step = int(param.get("step", 1))
        if param.get("log"):
            v = int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
            return max(low, min(high, v))
        return low + step * rng.randrange((high - low) // step + 1)
    if param.get("log"):
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if param.get("step"):
        step = param["step"]
        return low + step * rng.randrange(int(math.floor((high - low) / step + 1e-9)) + 1)
    return rng.uniform(low, high)


class FrozenTrial:
    """A finished (or running) trial as read back from hpod."""

    def __init__(self, data):
        self._data = data
        self.number = data["number"]
        self._trial_id = data["id"]
        self.params = dict(data.get("params") or {})
        self.value = data.get("value")
        self.values = None if self.value is None else [self.value]
        self.state = _STATE_NAMES.get(data.get("state"), TrialState.WAITING)
        self.user_attrs = {}
        self.system_attrs = {"hpod_source": data.get("source"), "hpod_id": data["id"]}
        self.intermediate_values = {r["step"]: r["value"] for r in data.get("reports", [])}

    def __repr__(self):
        return (f"FrozenTrial(number={self.number}, state={self.state}, value={self.value}, "
                f"params={self.params!r})")


class Trial:
    """What study.ask() returns: suggest_* give hpod's values for this trial."""

    def __init__(self, study, leased=None, space=None, rng=None):
        self.study = study
        self._leased = leased  # asktell.Trial, or None for the recording trial
        self._space = space  # name -> hpod param dict, or None while recording
        self._rng = rng or random.Random()
        self._given = dict(leased.params) if leased else {}
        self.params = {}
        self.distributions = {}
        self.user_attrs = {}
        self._reports = {}
        self._recorded = []  # params recorded by the first trial, in call order
        self.number = leased.number if leased else 0

    # ---- suggest ----

    def _suggest(self, name, param):
        if name in self.params:
            return self.params[name]
        if self._leased is not None and name in self._given:
            value = self._given[name]
        else:
            if self._leased is not None:
                print(f"hpo_client.optuna: parameter {name!r} is not in study "
                      f"{self.study.study_name!r}'s search space on hpod; it gets a random "
                      f"value that hpod does not see (declare it with search_space=)",
                      file=sys.stderr)
            else:
                self._recorded.append(param)
            value = _sample(param, self._rng)
        if param["type"] == "int":
            value = int(value)
        elif param["type"] == "float":
            value = float(value)
        self.params[name] = value
        self.distributions[name] = param
        return value

    def suggest_float(self, name, low, high, *, step=None, log=False):
        return self._suggest(name, FloatDistribution(low, high, log, step).to_param(name))

    def suggest_int(self, name, low, high, step=1, log=False):
        return self._suggest(name, IntDistribution(low, high, log, step).to_param(name))

    def suggest_categorical(self, name, choices):
        return self._suggest(name, CategoricalDistribution(choices).to_param(name))

    def suggest_uniform(self, name, low, high):
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name, low, high):
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name, low, high, q):
        return self.suggest_float(name, low, high, step=q)

    # ---- reports ----

    def report(self, value, step):
        """An intermediate objective value at step (sent to hpod, whose pruner
        decides); a step reported twice keeps the first value, as in Optuna."""
        step = int(step)
        if step in self._reports:
            return
        self._reports[step] = float(value)
        if self._leased is not None:
            self._leased.report(float(value), step)

    def should_prune(self):
        return self._leased is not None and self._leased.should_prune()

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value

    @property
    def datetime_start(self):
        return self._leased.data.get("started_at") if self._leased else None

    def __repr__(self):
        return f"Trial(number={self.number}, params={self.params!r})"


class Study:
    """An hpod study with Optuna's ask/tell/optimize surface."""

    def __init__(self, study_name, client, direction="minimize", sampler=None, pruner=None,
                 space=None, exists=False, seed=None, max_trials=None, wait_s=20.0,
                 spec_extra=None):
        self.study_name = study_name
        self.client = client
        self._direction = direction
        self._sampler = sampler
        self._pruner = pruner
        self._space = space  # name -> param dict, or None (learn it from the first trial)
        self._exists = exists
        self._seed = seed
        self._max_trials = max_trials
        self._spec_extra = spec_extra or {}
        self._inner = _Study(study_name, client=client, wait_s=wait_s)
        self._rng = random.Random(seed)
        self._recording = None  # the first trial while the space is being learnt
        self._held = []  # leased trials handed out before they were asked for

    # ---- study creation ----

    def _spec(self, params):
        spec = {"name": self.study_name,
                "objective": {"name": "value", "direction": self._direction},
                "params": params}
        if self._sampler:
            spec["sampler"] = ({"name": self._sampler} if isinstance(self._sampler, str)
                               else dict(self._sampler))
            if self._seed is not None and "seed" not in spec["sampler"]:
                spec["sampler"]["seed"] = self._seed
        elif self._seed is not None:
            spec["sampler"] = {"name": "auto", "seed": self._seed}
        if self._pruner:
            spec["pruner"] = ({"name": self._pruner} if isinstance(self._pruner, str)
                              else dict(self._pruner))
        if self._max_trials:
            spec.setdefault("budget", {})["max_trials"] = int(self._max_trials)
        spec.update(self._spec_extra)
        return spec

    def _create(self, params):
        try:
            self.client.create_study(self._spec(params))
        except HpoError as e:
            if e.status != 409:
                raise
            # Another process created it first with another space: use theirs.
        self._exists = True
        self._load_space()

    def _load_space(self):
        spec = self.client.get_study(self.study_name)["spec"]
        self._space = {p["name"]: p for p in spec["params"]}
        self._direction = spec["objective"]["direction"]

    # ---- ask / tell ----

    def ask(self, fixed_distributions=None):
        """The next trial. Raises StudyFinished once hpod finished the study."""
        if fixed_distributions:
            for name, dist in fixed_distributions.items():
                if self._space is None or name not in self._space:
                    raise ValueError("fixed_distributions: declare the space with "
                                     "search_space= instead")
        if not self._exists:
            if self._space is not None:
                self._create(list(self._space.values()))
            elif self._recording is None:
                self._recording = Trial(self, None, None, self._rng)
                return self._recording
            else:
                raise RuntimeError("tell() the first trial before asking for another: its "
                                   "suggest_* calls define the study's search space")
        leased = self._held.pop(0) if self._held else self._inner.ask()
        if leased is None:
            raise StudyFinished(f"study {self.study_name!r} is finished")
        return Trial(self, leased, self._space, self._rng)

    def _trial_of(self, t):
        if isinstance(t, Trial):
            return t
        raise TypeError("tell() takes the Trial returned by ask()")

    def tell(self, trial, values=None, state=None, skip_if_finished=False):
        """Finish a trial: tell(trial, value), or state=TrialState.PRUNED / FAIL."""
        t = self._trial_of(trial)
        if isinstance(values, (list, tuple)):
            if len(values) != 1:
                raise ValueError("hpod studies have one objective")
            values = values[0]
        if state is None:
            state = TrialState.COMPLETE if values is not None else TrialState.FAIL
        if isinstance(state, str):
            state = TrialState[state.upper()]
        if state == TrialState.COMPLETE and (values is None or not math.isfinite(float(values))):
            state, values = TrialState.FAIL, None
        hpod_state = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned",
                      TrialState.FAIL: "failed"}[state]
        last = t._reports[max(t._reports)] if t._reports else None
        if hpod_state == "pruned" and values is None:
            values = last
        if t._leased is None:
            return self._tell_recording(t, hpod_state, values)
        error = "the objective failed" if hpod_state == "failed" else None
        self._inner.tell(t._leased, values, hpod_state, error=error)
        return None

    def _tell_recording(self, t, state, value):
        """The first trial defined the space: create the study, then record it."""
        self._recording = None
        self._create(t._recorded)
        params = {k: v for k, v in t.params.items() if k in self._space}
        try:
            queued = self.client.enqueue(self.study_name, params)
        except HpoError as e:
            print(f"hpo_client.optuna: the first trial is not recorded on hpod: {e.message}",
                  file=sys.stderr)
            return None
        # Lease it back (pending trials go first) and finish it with its result.
        leased = self._inner.ask()
        while leased is not None and leased.id != queued["id"]:
            self._held.append(leased)  # another trial: hand it out on the next ask()
            leased = self._inner.ask(wait=False)
        if leased is None:
            return None
        for step in sorted(t._reports):
            self.client.report(leased.id, leased.worker, step, t._reports[step])
        self._inner.tell(leased, value, state)
        return None

    def optimize(self, func, n_trials=None, timeout=None, catch=(), callbacks=None,
                 gc_after_trial=False, show_progress_bar=False, n_jobs=1):
        """Run func(trial) -> value for n_trials trials, until timeout seconds
        passed, or until hpod finishes the study."""
        start = time.monotonic()
        done = 0
        while n_trials is None or done < n_trials:
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            try:
                t = self.ask()
            except StudyFinished:
                break
            try:
                value = func(t)
            except TrialPruned:
                self.tell(t, state=TrialState.PRUNED)
            except Exception as e:
                self.tell(t, state=TrialState.FAIL)
                if not isinstance(e, tuple(catch) if catch else ()):
                    raise
            else:
                self.tell(t, value)
            done += 1
            for cb in callbacks or ():
                cb(self, self.trials[-1] if self.trials else None)

    # ---- results ----

    @property
    def direction(self):
        return StudyDirection.MAXIMIZE if self._direction == "maximize" else \
            StudyDirection.MINIMIZE

    @property
    def trials(self):
        if not self._exists:
            return []
        return [FrozenTrial(d) for d in self.client.trials(self.study_name)]

    def get_trials(self, deepcopy=True, states=None):
        ts = self.trials
        return [t for t in ts if states is None or t.state in states]

    @property
    def best_trial(self):
        b = self.client.best(self.study_name) if self._exists else None
        if b is None:
            raise ValueError("no trials are completed yet")
        return FrozenTrial(b)

    @property
    def best_value(self):
        return self.best_trial.value

    @property
    def best_params(self):
        return self.best_trial.params

    def enqueue_trial(self, params, user_attrs=None, skip_if_exists=False):
        if not self._exists:
            if self._space is None:
                raise RuntimeError("enqueue_trial needs the search space: pass search_space= "
                                   "to create_study, or tell the first trial first")
            self._create(list(self._space.values()))
        self.client.enqueue(self.study_name, params)


def _client_of(storage):
    if isinstance(storage, Client):
        return storage
    return Client(storage)


def create_study(storage=None, sampler=None, pruner=None, study_name=None, direction=None,
                 load_if_exists=False, directions=None, search_space=None, seed=None,
                 max_trials=None, token=None, spec=None):
    """Optuna's create_study for hpod. storage: the daemon's URL (default
    HPO_SERVER); sampler: an hpod sampler name (auto, random, sobol, tpe, gp,
    llm) or a sampler dict; pruner: none, median, asha or a pruner dict;
    search_space: {name: distribution} to declare the space up front;
    max_trials: the study's budget (hpod's default is 100); spec: more fields
    of the study spec (description, llm, budget, lease ...)."""
    if directions is not None:
        if len(directions) != 1:
            raise ValueError("hpod studies have one objective")
        direction = directions[0]
    if isinstance(direction, StudyDirection):
        direction = direction.name.lower()
    direction = direction or "minimize"
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be minimize or maximize, not {direction!r}")
    client = _client_of(storage)
    if token:
        client.token = token
    if not study_name:
        study_name = f"study-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(1 << 16):04x}"
    for obj in (sampler, pruner):
        if obj is not None and not isinstance(obj, (str, dict)):
            raise TypeError("sampler and pruner are hpod names (e.g. \"tpe\", \"median\") or "
                            "dicts, not Optuna objects")
    space = None
    if search_space:
        space = {n: _param_of(n, d) for n, d in search_space.items()}
    exists = False
    try:
        client.get_study(study_name)
        exists = True
    except HpoError as e:
        if e.status != 404:
            raise
    if exists and not load_if_exists:
        raise ValueError(f"study {study_name!r} already exists on hpod (pass "
                         f"load_if_exists=True to use it)")
    study = Study(study_name, client, direction, sampler, pruner, space, exists, seed,
                  max_trials, spec_extra=spec)
    if exists:
        study._load_space()
    elif space is not None:
        study._create(list(space.values()))
    return study


def load_study(study_name, storage=None, sampler=None, pruner=None, token=None):
    """Open an existing hpod study (created with `hpo study create` or the API)."""
    client = _client_of(storage)
    if token:
        client.token = token
    study = Study(study_name, client, exists=True)
    study._load_space()
    return study


def delete_study(study_name, storage=None):
    _client_of(storage).delete_study(study_name)

"""Studies, as in optuna.study, kept on an hpod daemon.

hpod needs a study's search space when the study is created, while an Optuna
script reveals it one suggest_* call at a time. The adapter learns it:

- When the study does not exist yet, trials run here with values drawn at
  random while their suggest_* calls are recorded. The first one told creates
  the study on hpod together with that trial (one request, so that two
  processes starting at once cannot both create it; the second one records its
  trial in the study the first one made).
- A parameter is taken as conditional on the nearest categorical parameter
  asked before it, for the values that parameter had when it was asked; the
  condition widens as the parameter shows up under other values, and goes
  once every choice has been seen. The study is created with these `when`
  conditions: a parameter first seen in one branch is conditional on that
  branch.
- hpod cannot change a study's space after it was created. A parameter the
  study's space lacks, or that it has only for another branch, gets its value
  here (see _local) and is stored with the trial (see _record); a parameter hpod handed out that the objective did not ask for is
  marked unused. Trials, best_params and callbacks show exactly the
  parameters the objective asked for.
"""
import collections
import datetime
import enum
import gc
import json
import math
import os
import random
import threading
import time

from .. import asktell
from ..client import Client, HpoError
from . import _local
from . import _record
from . import distributions as _d
from . import pruners as _pruners
from . import samplers as _samplers
from .exceptions import DuplicatedStudyError, StorageInternalError, StudyFinished, TrialPruned
from .logging import INFO, get_logger
from .trial import FrozenTrial, Trial, TrialState, TO_HPOD, frozen_from_hpod

_logger = get_logger(__name__)

# Budget of a study the adapter creates: Optuna studies have no trial or
# failure limit, optimize(n_trials=) alone decides how many trials run.
UNLIMITED_TRIALS = 1000000
UNLIMITED_FAILURES = 1000000000
MAX_PARALLEL = 1000


class StudyDirection(enum.Enum):
    NOT_SET = 0
    MINIMIZE = 1
    MAXIMIZE = 2


def _jsonable(v):
    return json.loads(json.dumps(v))


class _Learned:
    """The space as the objective revealed it: distribution and condition of
    each parameter, in the order first seen."""

    def __init__(self):
        self.params = collections.OrderedDict()  # name -> [dist, parent or None, set of values]

    def learn(self, name, dist, asked):
        """asked: the trial's params so far, in order, name included (last)."""
        parent = None
        for other in reversed([n for n in asked if n != name]):
            entry = self.params.get(other)
            if entry is not None and isinstance(entry[0], _d.CategoricalDistribution):
                parent = other
                break
        entry = self.params.get(name)
        if entry is None:
            values = {json.dumps(asked[parent])} if parent else set()
            self.params[name] = [dist, parent, values]
            return
        if entry[1] is None:
            return
        if entry[1] not in asked:
            entry[1], entry[2] = None, set()  # asked without its parent: unconditional
            return
        entry[2].add(json.dumps(asked[entry[1]]))
        pdist = self.params[entry[1]][0]
        if len(entry[2]) >= len(pdist.choices):
            entry[1], entry[2] = None, set()  # seen under every choice

    def to_params(self):
        out = []
        for name, (dist, parent, values) in self.params.items():
            p = dist.to_param(name)
            if parent is not None:
                p["when"] = {parent: [json.loads(v) for v in sorted(values)]}
            out.append(p)
        return out


def _active(param, config):
    when = param.get("when")
    if not when:
        return True
    (parent, values), = when.items()
    if parent not in config:
        return False
    v = config[parent]
    return any(v == w and isinstance(v, bool) == isinstance(w, bool) for w in values)


def _fits(param, value):
    dist = _d.from_param(param)
    return dist is not None and dist._contains(value)


class Study:
    """An hpod study with Optuna's Study interface."""

    def __init__(self, study_name, client, direction="minimize", sampler=None, pruner=None,
                 space=None, exists=False, seed=None, max_trials=None, spec_extra=None,
                 wait_s=20.0, directions=None, names=None, constraints_func=None):
        self.study_name = study_name
        self.client = client
        self._direction = direction
        # every objective: its direction and the metric name it has on hpod
        self._directions = list(directions or [direction])
        self._names = list(names or (["value"] if len(self._directions) == 1 else
                                     [f"value_{i}" for i in range(len(self._directions))]))
        self._constraints_func = constraints_func
        self._n_constraints = None  # known once a trial ran constraints_func, or from hpod
        self.sampler = sampler
        self.pruner = pruner
        self._sampler_spec = _samplers.to_spec(sampler, self._multi_spec()) or \
            {"name": "motpe" if self._multi_spec() else "tpe"}
        if seed is not None and "seed" not in self._sampler_spec:
            self._sampler_spec["seed"] = int(seed)
        self._pruner_spec = _pruners.to_spec(pruner)
        self._declared = space  # list of hpod params given with search_space=, or None
        self._space = None  # name -> hpod param, once the study exists
        self._exists = exists
        self._max_trials = max_trials
        self._spec_extra = spec_extra or {}
        self._inner = asktell.Study(study_name, client=client, wait_s=wait_s,
                                    rename_on_cut_off=True)
        self._rng = random.Random(seed if seed is not None else self._sampler_spec.get("seed"))
        self._lock = threading.RLock()
        self._learned = _Learned()
        self._held = []  # leased trials handed out on the next ask()
        # Held by each suggest this process sends (ask(), and the lease back
        # of a trial it queued itself): a trial queued here must not be leased
        # by another thread of this process between the enqueue and the lease
        # back, or the lease back gets another trial that may never be run.
        self._suggest_lock = threading.Lock()
        self._fixed = {}  # hpod trial id -> (params, user_attrs) of enqueue_trial
        self._local_queue = []  # enqueue_trial before the study exists
        self._local_numbers = 0
        self._frozen = {}  # hpod trial id -> FrozenTrial of a finished trial
        self._stop_flag = False
        self._tl = threading.local()
        self.user_attrs = {}
        self.system_attrs = {}

    # ---- several objectives and constraints ----

    def _multi(self):
        """Several objectives."""
        return len(self._directions) > 1

    def _multi_spec(self):
        """Several objectives or constraints: hpod's samplers for such studies."""
        return self._multi() or self._constraints_func is not None

    def _constraints_unknown(self):
        """A constraints_func whose number of constraints no trial told yet."""
        return self._constraints_func is not None and self._n_constraints is None

    def _objectives_spec(self):
        if not self._multi_spec():
            return {"objective": {"name": "value", "direction": self._direction}}
        out = {"objectives": [{"name": n, "direction": d}
                              for n, d in zip(self._names, self._directions)]}
        if self._n_constraints:
            out["constraints"] = [{"name": f"constraint_{i}", "max": 0}
                                  for i in range(self._n_constraints)]
        return out

    def _values_of(self, value):
        """(values as floats, why refused or None) of what the objective
        returned or tell() was given: one number per objective."""
        n = len(self._directions)
        if self._multi():
            if not isinstance(value, (list, tuple)):
                return None, (f"The number of the values {1} did not match the number of the "
                              f"objectives {n}.")
            if len(value) != n:
                return None, (f"The number of the values {len(value)} did not match the "
                              f"number of the objectives {n}.")
            items = list(value)
        elif isinstance(value, (list, tuple)) and len(value) == 1:
            items = list(value)
        else:
            items = [value]
        out = []
        for v in items:
            try:
                x = float(v)
            except (TypeError, ValueError):
                return None, f"The value {v!r} could not be cast to float."
            if math.isnan(x):
                return None, f"The value {x} is not acceptable."
            out.append(x)
        return out, None

    def _constraint_values(self, t, state, values):
        """constraints_func on the finished trial (as Optuna calls it for
        complete and pruned trials): a list of floats, or None."""
        if self._constraints_func is None or state not in (TrialState.COMPLETE,
                                                            TrialState.PRUNED):
            return None
        frozen = FrozenTrial(t.number, state, None, t.datetime_start, datetime.datetime.now(),
                             t.params, t.distributions, t.user_attrs, {},
                             dict(t._reports), None,
                             values=values if state == TrialState.COMPLETE else None)
        cons = self._constraints_func(frozen)
        try:
            cons = [float(c) for c in cons]
        except (TypeError, ValueError):
            raise ValueError(f"constraints_func must return a sequence of floats, not "
                             f"{cons!r}") from None
        if any(math.isnan(c) for c in cons):
            raise ValueError("Constraint values cannot be NaN.")
        if self._n_constraints is None:
            if not 1 <= len(cons) <= 8:
                raise ValueError(f"constraints_func returned {len(cons)} values; hpod takes "
                                 f"1 to 8 constraints")
            self._n_constraints = len(cons)
        elif len(cons) != self._n_constraints:
            raise ValueError(f"constraints_func returned {len(cons)} values, earlier trials "
                             f"{self._n_constraints}")
        return cons

    def _metrics(self, state, values, cons):
        """The metrics by name a trial's completion carries besides its record."""
        out = {}
        if state == TrialState.COMPLETE and values is not None and self._multi_spec():
            out.update(zip(self._names, values))
        for i, c in enumerate(cons or ()):
            out[f"constraint_{i}"] = c
        return out

    def _frozen_data(self, data, local=None):
        return frozen_from_hpod(data, self._space or {}, local=local,
                                objectives=self._names if self._multi() else None,
                                n_constraints=self._n_constraints or 0)

    # ---- the study on hpod ----

    def _spec(self, params):
        spec = {"name": self.study_name,
                "description": "An Optuna study run through hpo_client.optuna.",
                **self._objectives_spec(),
                "params": params,
                "sampler": dict(self._sampler_spec),
                "pruner": dict(self._pruner_spec),
                "budget": {"max_trials": int(self._max_trials or UNLIMITED_TRIALS),
                           "max_failures": UNLIMITED_FAILURES,
                           "max_parallel": MAX_PARALLEL}}
        for key, value in self._spec_extra.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = dict(spec[key], **value)
            else:
                spec[key] = value
        return spec

    def _load_space(self):
        spec = self.client.get_study(self.study_name)["spec"]
        self._space = collections.OrderedDict((p["name"], p) for p in spec["params"])
        objs = spec.get("objectives") or [spec.get("objective") or
                                          {"name": "value", "direction": "minimize"}]
        self._directions = [o.get("direction", "minimize") for o in objs]
        self._names = [o.get("name", "value") for o in objs]
        self._direction = self._directions[0]
        cons = [c.get("name", "") for c in spec.get("constraints") or ()]
        if cons:
            self._n_constraints = sum(1 for c in cons if c.startswith("constraint_"))
        self._exists = True

    def _create_declared(self):
        try:
            self.client.create_study(self._spec(self._declared))
        except HpoError as e:
            if e.status != 409:
                raise
        self._load_space()

    def _fit(self, params):
        """(config for hpod, extras, unused): the trial's params placed in the
        study's space; active parameters it lacks get a value and are unused."""
        config, unused = {}, set()
        for name, p in self._space.items():
            if not _active(p, config):
                continue
            if name in params and _fits(p, params[name]):
                config[name] = _jsonable(params[name])
                continue
            dist = _d.from_param(p)
            config[name] = dist.sample(self._rng) if dist is not None else p.get("baseline", "")
            unused.add(name)
        extras = {n: v for n, v in params.items() if n not in config or n in unused}
        return config, extras, sorted(unused)

    def _learn(self, name, dist, trial):
        self._learned.learn(name, dist, trial._params)

    def _draw_outside(self, name, dist, trial):
        """A value for a parameter hpod did not choose (see _local)."""
        if not self._exists:
            return dist.sample(self._rng)
        if trial._history is None:
            trial._history = []
            for data in self.client.trials(self.study_name, state="completed"):
                extras, _, unused, _, _ = _record.decode(data.get("values"))
                params = {k: v for k, v in (data.get("params") or {}).items() if k not in unused}
                params.update(extras)
                trial._history.append((params, data.get("value")))
        history = [(p[name], v) for p, v in trial._history if name in p and v is not None]
        return _local.sample(dist, history, self._direction == "maximize", self._rng)

    # ---- ask ----

    def ask(self, fixed_distributions=None):
        """The next trial. Raises StudyFinished once hpod has finished the study
        (only a study with a budget of its own finishes)."""
        leased = None
        with self._lock:
            if not self._exists and self._declared is not None and \
                    not self._constraints_unknown():
                self._create_declared()
            elif not self._exists and _exists(self.client, self.study_name):
                self._load_space()  # another process created it meanwhile
            local = not self._exists
            if local:
                fixed, attrs = self._local_queue.pop(0) if self._local_queue else ({}, {})
                t = Trial(self, None, fixed, self._rng)
                t.user_attrs.update(attrs)
            elif self._held:
                leased = self._held.pop(0)
        if not local:
            if leased is None:
                # While this waits (long poll), hpod has no trial to lease to
                # anyone here: a lease back waiting for the lock loses nothing.
                with self._suggest_lock:
                    leased = self._inner.ask()
            if leased is None:
                raise StudyFinished(f"study {self.study_name!r} is finished on hpod")
            fixed, attrs = self._fixed.pop(leased.id, ({}, {}))
            t = Trial(self, leased, fixed, self._rng)
            t.user_attrs.update(attrs)
        for name, dist in (fixed_distributions or {}).items():
            t._suggest(name, dist)
        return t

    def _ensure_number(self, t):
        with self._lock:
            if t._number is None:
                t._number = self._local_numbers
                self._local_numbers += 1

    # ---- tell ----

    def tell(self, trial, values=None, state=None, skip_if_finished=False):
        """Finish a trial as Optuna does: tell(trial, value), or
        state=TrialState.PRUNED / FAIL. Returns the FrozenTrial."""
        t = trial
        if isinstance(trial, int):
            raise ValueError("tell() takes the Trial that ask() returned (trial numbers are "
                             "known only to the process that asked)")
        if not isinstance(t, Trial):
            raise TypeError("Trial must be a trial object or trial number.")
        if t._told:
            if skip_if_finished:
                return t._frozen
            raise ValueError(f"Cannot tell a {t._frozen.state.name} trial.")
        if isinstance(values, (list, tuple)) and not self._multi():
            if len(values) != 1:
                raise ValueError(f"The number of the values {len(values)} did not match the "
                                 f"number of the objectives 1.")
            values = values[0]
        frozen, _ = self._tell(t, values, state, quiet=False)
        return frozen

    def _tell(self, t, value, state, quiet, error=None):
        """(FrozenTrial, why a value was refused or None)."""
        if isinstance(state, str):
            state = TrialState[state.upper()]
        if state == TrialState.COMPLETE and value is None:
            raise ValueError("No values were told. Values are required when state is "
                             "TrialState.COMPLETE.")
        if state in (TrialState.PRUNED, TrialState.FAIL) and value is not None:
            raise ValueError("Values were told. Values cannot be specified when state is "
                             "TrialState.PRUNED or TrialState.FAIL.")
        if state is not None and state not in TO_HPOD:
            raise ValueError(f"Cannot tell with state {state}.")
        refused = None
        vector = None
        if state is None or state == TrialState.COMPLETE:
            vector, refused = self._values_of(value)
            if refused is not None and state == TrialState.COMPLETE:
                raise ValueError(refused)
            if refused is None:
                state, value = TrialState.COMPLETE, vector[0]
            else:
                state, value = TrialState.FAIL, None
                if not quiet:
                    _logger.warning(refused)
        if state == TrialState.PRUNED and t._reports:
            last = t._reports[max(t._reports)]
            value = last if math.isfinite(last) else None
        if (value is not None and not math.isfinite(value)) or \
                (vector is not None and not all(math.isfinite(x) for x in vector)):
            value = None  # hpod keeps finite values only: an infinite result is recorded bare
            if state == TrialState.COMPLETE:
                state = TrialState.FAIL
                refused = "an infinite value cannot be stored on hpod"
        cons = self._constraint_values(t, state, vector)
        t._metrics = self._metrics(state, vector, cons)
        hpod_state = TO_HPOD[state]
        if error is None and state == TrialState.FAIL:
            error = refused or "the objective failed"
        data = None
        if t._leased is not None:
            self._flush_reports(t)
            unused = [n for n in t._given if n not in t._params]
            extras = {n: v for n, v in t._params.items() if n not in t._from_hpod}
            record = _record.encode(extras, {n: t._distributions[n] for n in extras}, unused,
                                    t.user_attrs)
            record.update(t._metrics)
            data = self._inner.tell(t._leased, value, hpod_state, values=record or None,
                                    error=error)
            if data is None:
                _logger.warning("trial %s: hpod had taken the trial back (lease lost); "
                                "recording its result as a new trial", t._number)
        if data is None:
            data = self._record_finished(t, hpod_state, value, error)
            if data is None:
                _logger.warning("trial %s is not recorded: study %r is finished on hpod",
                                t._number, self.study_name)
                data = {"id": None, "number": -1 if t._number is None else t._number,
                        "state": hpod_state, "value": value, "error": error}
            t._number = data["number"]
        frozen = self._frozen_data(data, local=t)
        t._told = True
        t._frozen = frozen
        if frozen._trial_id is not None:
            with self._lock:
                self._frozen[frozen._trial_id] = frozen
        return frozen, refused

    def _flush_reports(self, t):
        for step in sorted(t._pending_reports):
            try:
                self.client.report(t._leased.id, t._leased.worker, step, t._pending_reports[step])
            except HpoError as e:
                if e.status != 409:
                    raise
        t._pending_reports.clear()

    def _record_finished(self, t, hpod_state, value, error=None):
        """Store a trial run outside a lease (before the study existed, added
        with add_trial, or whose lease was lost): the finished trial's data,
        or None when hpod has finished the study (its budget is used)."""
        params, dists = t._params, t._distributions
        with self._lock:
            if not self._exists:
                data = self._create_with(t, hpod_state, value, error)
                if data is not None:
                    return data
        for _ in range(10):
            if self.client.get_study(self.study_name)["state"] == "finished":
                return None
            config, extras, unused = self._fit(params)
            leased = self._queue_and_lease(config)
            if leased is None:
                continue  # another process took it (and runs it): queue it again
            for step in sorted(t._reports):
                if math.isfinite(t._reports[step]):
                    try:
                        self.client.report(leased.id, leased.worker, step, t._reports[step])
                    except HpoError as e:
                        if e.status != 409:
                            raise
            record = _record.encode(extras, {n: dists[n] for n in extras if n in dists}, unused,
                                    t.user_attrs)
            record.update(getattr(t, "_metrics", {}))
            data = self._inner.tell(leased, value, hpod_state, values=record or None,
                                    error=error)
            if data is not None:
                return data
        raise StorageInternalError(f"trial could not be recorded in study {self.study_name!r}")

    def _queue_and_lease(self, config, timeout=60.0):
        """Queue a trial with config and lease it. Other trials leased meanwhile
        are held for the next ask(). None when another process took it first.

        The enqueue and each lease attempt are made under the suggest lock:
        another thread of this process asking at the same moment would lease
        the queued trial itself, and the suggest here would then lease (or make)
        a trial that is held and, once optimize() has run its n_trials, never
        run or finished."""
        deadline = time.monotonic() + timeout
        trial_id = None
        while True:
            with self._suggest_lock:
                if trial_id is None:
                    trial_id = self.client.enqueue(self.study_name, config)["id"]
                elif self.client.get_trial(trial_id)["state"] != "pending":
                    return None
                leased = self._inner.ask(wait=False)
            if leased is not None:
                if leased.id == trial_id:
                    return leased
                with self._lock:
                    self._held.append(leased)
                continue
            if self.client.get_study(self.study_name)["state"] == "finished":
                return None
            if time.monotonic() >= deadline:
                raise StorageInternalError(f"the trial queued in study {self.study_name!r} was "
                                           f"not handed out within {timeout:.0f} s")
            time.sleep(0.2)

    def _create_with(self, t, hpod_state, value, error):
        """Create the study with the space learned so far and this trial as
        trial 0, in one request. None when another process created it first."""
        params = self._declared if self._declared is not None else self._learned.to_params()
        self._space = collections.OrderedDict((p["name"], p) for p in params)
        config, extras, unused = self._fit(t._params)
        record = _record.encode(extras, {n: t._distributions[n] for n in extras}, unused,
                                t.user_attrs)
        record.update(getattr(t, "_metrics", {}))
        doc = {"format": "hpod-study", "version": 1, "spec": self._spec(params),
               "trials": [{"number": 0, "state": hpod_state, "params": config, "value": value,
                           "source": "manual", "error": error,
                           "values": record or None,
                           "reports": [{"step": s, "value": v}
                                       for s, v in sorted(t._reports.items())
                                       if math.isfinite(v)]}]}
        try:
            self.client.request("POST", "/api/v1/studies/import", doc, retry=False)
        except HpoError as e:
            if e.status != 409:
                self._space = None
                raise
            self._load_space()
            return None
        self._load_space()
        page = self.client.trials_page(self.study_name, limit=1)
        data = self.client.get_trial(page["trials"][0]["id"])
        t._number = data["number"]
        return data

    # ---- optimize ----

    def optimize(self, func, n_trials=None, timeout=None, n_jobs=1, catch=(), callbacks=None,
                 gc_after_trial=False, show_progress_bar=False):
        """Run func(trial) for n_trials trials (this call's count, as in Optuna),
        until timeout seconds passed, stop() was called, or hpod finished the
        study. An exception the objective raises fails its trial and is raised
        again unless it is one of catch."""
        if isinstance(catch, type):
            catch = (catch,)
        catch = tuple(catch or ())
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        self._stop_flag = False
        start = time.monotonic()
        counter = {"n": 0}
        count_lock = threading.Lock()
        errors = []

        def take():
            with count_lock:
                if self._stop_flag or errors:
                    return False
                if n_trials is not None and counter["n"] >= n_trials:
                    return False
                if timeout is not None and time.monotonic() - start >= timeout:
                    return False
                counter["n"] += 1
                return True

        def loop():
            self._tl.in_optimize = True
            try:
                while take():
                    try:
                        frozen = self._run_trial(func, catch)
                    except StudyFinished:
                        _logger.warning("study %r is finished on hpod (its budget is used)",
                                        self.study_name)
                        return
                    finally:
                        if gc_after_trial:
                            gc.collect()
                    for cb in callbacks or ():
                        cb(self, frozen)
            except BaseException as e:
                errors.append(e)
            finally:
                self._tl.in_optimize = False

        if n_jobs <= 1:
            loop()
        else:
            threads = [threading.Thread(target=loop, name=f"optimize-{i}") for i in range(n_jobs)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        if errors:
            raise errors[0]

    def _run_trial(self, func, catch):
        trial = self.ask()
        value, state, err = None, None, None
        try:
            value = func(trial)
        except TrialPruned as e:
            state, err = TrialState.PRUNED, e
        except (Exception, KeyboardInterrupt) as e:
            state, err = TrialState.FAIL, e
        error = f"{type(err).__name__}: {err}" if state == TrialState.FAIL else None
        frozen, refused = self._tell(trial, value if state is None else None, state, quiet=True,
                                     error=error)
        if frozen.state == TrialState.COMPLETE:
            self._log_completed(frozen)
        elif frozen.state == TrialState.PRUNED:
            _logger.info("Trial %d pruned. %s", frozen.number, err or "")
        else:
            _logger.warning("Trial %d failed with parameters: %s because of the following "
                            "error: %s.", frozen.number, frozen.params,
                            repr(err) if err is not None else refused)
        if frozen.state == TrialState.FAIL and err is not None and not isinstance(err, catch):
            raise err
        return frozen

    def _log_completed(self, frozen):
        if not _logger.isEnabledFor(INFO):
            return
        if self._multi():
            _logger.info("Trial %d finished with values: %s and parameters: %s.",
                         frozen.number, frozen.values, frozen.params)
            return
        best = self.client.best(self.study_name)
        _logger.info("Trial %d finished with value: %s and parameters: %s. Best is trial %s "
                     "with value: %s.", frozen.number, frozen.value, frozen.params,
                     best["number"] if best else None, best["value"] if best else None)

    def stop(self):
        """Stop optimize() after the trial in progress (from an objective or a callback)."""
        if not getattr(self._tl, "in_optimize", False):
            raise RuntimeError("`Study.stop` is supposed to be invoked inside an objective "
                               "function or a callback.")
        self._stop_flag = True

    # ---- results ----

    @property
    def direction(self):
        if self._multi():
            raise RuntimeError("A single direction cannot be retrieved from a multi-objective "
                               "study. Consider using Study.directions to retrieve a list "
                               "containing all directions.")
        return StudyDirection.MAXIMIZE if self._direction == "maximize" else \
            StudyDirection.MINIMIZE

    @property
    def directions(self):
        return [StudyDirection.MAXIMIZE if d == "maximize" else StudyDirection.MINIMIZE
                for d in self._directions]

    @property
    def metric_names(self):
        """The names the objectives' values have on hpod."""
        return list(self._names)

    def _frozen_of(self, data):
        """FrozenTrial of an hpod trial row, with its reports once finished."""
        cached = self._frozen.get(data["id"])
        if cached is not None:
            return cached
        state = data.get("state")
        if state in ("completed", "pruned", "failed"):
            if "reports" not in data:
                data = self.client.get_trial(data["id"])
            frozen = self._frozen_data(data)
            with self._lock:
                self._frozen[data["id"]] = frozen
            return frozen
        return self._frozen_data(data)

    def get_trials(self, deepcopy=True, states=None):
        if not self._exists:
            return []
        if self._space is None:
            self._load_space()
        out = [self._frozen_of(d) for d in self.client.trials(self.study_name)]
        if states is not None:
            states = tuple(states)
            out = [t for t in out if t.state in states]
        return out

    @property
    def trials(self):
        return self.get_trials()

    def _single_best(self):
        if self._multi():
            raise RuntimeError("A single best trial cannot be retrieved from a multi-objective "
                               "study. Consider using Study.best_trials to retrieve a list "
                               "containing the best trials.")

    @property
    def best_trial(self):
        self._single_best()
        data = self.client.best(self.study_name) if self._exists else None
        if data is None:
            raise ValueError("Record does not exist.")
        if self._space is None:
            self._load_space()
        return self._frozen_of(data)

    @property
    def best_trials(self):
        """The Pareto front: the completed trials no other dominates; with
        constraints, the feasible ones only (hpod's GET .../pareto)."""
        if not self._multi():
            try:
                return [self.best_trial]
            except ValueError:
                return []
        if not self._exists:
            return []
        if self._space is None:
            self._load_space()
        from ..client import _quote
        front = self.client.request("GET", f"/api/v1/studies/{_quote(self.study_name)}/pareto")
        return [self._frozen_of(d) for d in sorted(front.get("trials") or [],
                                                    key=lambda d: d["number"])]

    @property
    def best_value(self):
        return self.best_trial.value

    @property
    def best_params(self):
        return self.best_trial.params

    def set_user_attr(self, key, value):
        """Kept in this process only: hpod has no study attributes."""
        self.user_attrs[key] = value

    def set_system_attr(self, key, value):
        self.system_attrs[key] = value

    def enqueue_trial(self, params, user_attrs=None, skip_if_exists=False):
        """Queue a trial with these parameter values. On hpod the values of the
        study's space are queued; the others (and user_attrs) are applied when
        this process runs it."""
        params = dict(params)
        if skip_if_exists:
            for t in self.get_trials():
                if t.params == params or all(t.params.get(k, object()) == v
                                             for k, v in params.items()):
                    _logger.info("Trial %d has the same parameters: not queued again",
                                 t.number)
                    return
            if any(f[0] == params for f in self._local_queue):
                return
        with self._lock:
            if not self._exists and self._declared is not None:
                self._create_declared()
            if not self._exists:
                self._local_queue.append((params, dict(user_attrs or {})))
                return
            config, _, _ = self._fit(params)
            queued = self.client.enqueue(self.study_name, config)
            self._fixed[queued["id"]] = (params, dict(user_attrs or {}))

    def add_trial(self, trial):
        """Record a finished FrozenTrial (from create_trial) in the study."""
        if not trial.state.is_finished():
            raise ValueError("add_trial takes a finished trial (COMPLETE, PRUNED or FAIL)")
        missing = [n for n in trial.params if n not in trial.distributions]
        if missing:
            raise ValueError(f"add_trial: no distribution for {missing}")
        t = Trial(self, None, None, self._rng)
        for name, value in trial.params.items():
            dist = trial.distributions[name]
            if not dist._contains(value):
                raise ValueError(f"The value {value!r} of parameter {name!r} is not in {dist}")
            t._params[name] = _d.coerce(dist, value)
            t._distributions[name] = dist
            with self._lock:
                self._learn(name, dist, t)
        t._reports = {int(s): float(v) for s, v in trial.intermediate_values.items()}
        t.user_attrs.update(trial.user_attrs)
        vector = trial.values if trial.state == TrialState.COMPLETE else None
        if self._multi() and trial.state == TrialState.COMPLETE:
            vector, refused = self._values_of(vector)
            if refused is not None:
                raise ValueError(refused)
        value = vector[0] if vector else None
        if trial.state == TrialState.PRUNED and not self._multi():
            value = trial.value
        cons = trial.system_attrs.get("constraints")
        if cons is not None and self._constraints_func is not None:
            cons = [float(c) for c in cons]
            if self._n_constraints is None:
                self._n_constraints = len(cons)
        t._metrics = self._metrics(trial.state, vector, cons)
        data = self._record_finished(t, TO_HPOD[trial.state], value)
        if data is None:
            raise StudyFinished(f"study {self.study_name!r} is finished on hpod")
        t._number = data["number"]
        t._told = True
        frozen = self._frozen_data(data, local=t)
        with self._lock:
            self._frozen[frozen._trial_id] = frozen

    def add_trials(self, trials):
        for t in trials:
            self.add_trial(t)

    def trials_dataframe(self, attrs=("number", "value", "datetime_start", "datetime_complete",
                                      "duration", "params", "user_attrs", "system_attrs",
                                      "state"), multi_index=False):
        """The trials as a pandas DataFrame, with Optuna's columns (params_x,
        user_attrs_y, ...). Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("trials_dataframe needs pandas (pip install pandas, or the "
                              "python3-pandas package)") from None
        trials = self.get_trials(deepcopy=False)
        if not trials:
            return pd.DataFrame()
        if self._multi():
            attrs = tuple("values" if a == "value" else a for a in attrs)
        agg = collections.defaultdict(set)
        records = []
        for t in trials:
            record = {}
            for attr in attrs:
                column = attr[1:] if attr.startswith("_") else attr
                value = getattr(t, attr)
                if isinstance(value, TrialState):
                    value = value.name
                if isinstance(value, dict):
                    for k, v in value.items():
                        record[(column, k)] = v
                        agg[attr].add((column, k))
                elif isinstance(value, list):
                    for i, v in enumerate(value):
                        record[(column, i)] = v
                        agg[attr].add((column, i))
                else:
                    record[(column, "")] = value
                    agg[attr].add((column, ""))
            records.append(record)
        columns = sum((sorted(agg[a], key=lambda c: (str(c[1]),)) for a in attrs if a in agg),
                      [])
        df = pd.DataFrame(records, columns=pd.MultiIndex.from_tuples(columns))
        if not multi_index:
            df.columns = ["_".join(str(c) for c in col if c != "") for col in columns]
        return df

    def __repr__(self):
        if self._multi():
            return f"Study(study_name={self.study_name!r}, directions={self._directions})"
        return f"Study(study_name={self.study_name!r}, direction={self._direction})"


class MaxTrialsCallback:
    """Stop optimize() once the study holds n_trials trials in the given states."""

    def __init__(self, n_trials, states=(TrialState.COMPLETE,)):
        self._n_trials = n_trials
        self._states = states

    def __call__(self, study, trial):
        if len(study.get_trials(deepcopy=False, states=self._states)) >= self._n_trials:
            study.stop()


def _client_of(storage, token=None):
    if isinstance(storage, Client):
        client = storage
    elif isinstance(storage, str) and storage.startswith(("http://", "https://")):
        client = Client(storage)
    else:
        client = Client()
        if storage is not None:
            _logger.warning("storage %r is not an hpod URL: the study is kept by hpod at %s",
                            storage if isinstance(storage, str) else type(storage).__name__,
                            client.server)
    if token:
        client.token = token
    return client


def _direction_name(direction):
    if isinstance(direction, StudyDirection):
        direction = direction.name.lower()
    direction = direction or "minimize"
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"Please set either 'minimize' or 'maximize' to direction, not "
                         f"{direction!r}.")
    return direction


def _exists(client, name):
    try:
        client.get_study(name)
        return True
    except HpoError as e:
        if e.status != 404:
            raise
        return False


def create_study(storage=None, sampler=None, pruner=None, study_name=None, direction=None,
                 load_if_exists=False, *, directions=None, search_space=None, seed=None,
                 max_trials=None, token=None, spec=None, objectives=None, metric_names=None,
                 constraints_func=None):
    """Optuna's create_study on hpod. storage: the daemon's URL (default
    HPO_SERVER; an Optuna storage URL also means HPO_SERVER). sampler and
    pruner: the classes of samplers and pruners, an hpod name, or a spec dict
    (default TPE and the median pruner, as Optuna). hpod extras: search_space
    ({name: distribution}) declares the space up front; seed seeds hpod's
    sampler; max_trials gives the study a budget (none by default); spec adds
    fields of the study spec.

    Several objectives: directions=[...] (1 to 4), as in Optuna; the objective
    returns a tuple, tell() takes a list. On hpod each objective is a metric:
    objectives= (or metric_names=) names them, by default value_0, value_1,
    ... constraints_func (given here or on the sampler, as Optuna's samplers
    take it) maps a finished trial to a sequence of floats, each feasible when
    <= 0; each is reported as the metric constraint_i, which the study
    constrains to max 0."""
    if direction is not None and directions is not None:
        raise ValueError("Specify only one of `direction` and `directions`.")
    names = None
    if directions is not None:
        directions = [_direction_name(d) for d in directions]
        if not 1 <= len(directions) <= 4:
            raise ValueError(f"directions: hpod takes 1 to 4 objectives, not {len(directions)}")
        direction = directions[0]
        if objectives is not None and metric_names is not None:
            raise ValueError("Specify only one of `objectives` and `metric_names`.")
        names = objectives if objectives is not None else metric_names
        if names is not None:
            names = list(names)
            if len(names) != len(directions) or not all(isinstance(n, str) and n
                                                        for n in names):
                raise ValueError(f"objectives: {len(directions)} names expected, one per "
                                 f"direction (got {names!r})")
            if len(set(names)) != len(names):
                raise ValueError(f"objectives: the names must differ (got {names!r})")
            if any(n.startswith("constraint_") for n in names):
                raise ValueError("objectives: names starting with constraint_ are the "
                                 "constraints'")
    elif objectives is not None or metric_names is not None:
        raise ValueError("objectives and metric_names name the objectives of directions=[...]")
    direction = _direction_name(direction)
    if constraints_func is None:
        constraints_func = getattr(sampler, "constraints_func", None)
    if constraints_func is not None and not callable(constraints_func):
        raise TypeError("constraints_func must be callable")
    client = _client_of(storage, token)
    if not study_name:
        study_name = f"optuna-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(1 << 24):06x}"
    space = None
    if search_space:
        space = [d.to_param(n) if isinstance(d, _d.BaseDistribution) else dict(d, name=n)
                 for n, d in search_space.items()]
    exists = _exists(client, study_name)
    if exists and not load_if_exists:
        raise DuplicatedStudyError(f"Another study with name '{study_name}' already exists. "
                                   f"Please specify a different name, or reuse the existing one "
                                   f"by setting `load_if_exists` (for Python API) or "
                                   f"`--skip-if-exists` flag (for CLI).")
    study = Study(study_name, client, direction, sampler, pruner, space, exists, seed,
                  max_trials, spec_extra=spec, directions=directions, names=names,
                  constraints_func=constraints_func)
    if exists:
        study._load_space()
    elif space is not None and not study._constraints_unknown():
        study._create_declared()
    return study


def load_study(study_name=None, storage=None, sampler=None, pruner=None, *, token=None):
    """Open an existing study (made by create_study or hpod's own tools)."""
    if study_name is None:
        raise ValueError("load_study needs study_name")
    client = _client_of(storage, token)
    if not _exists(client, study_name):
        raise KeyError(f"Record does not exist: no study {study_name!r} on hpod")
    study = Study(study_name, client, sampler=sampler, pruner=pruner, exists=True,
                  constraints_func=getattr(sampler, "constraints_func", None))
    study._load_space()
    return study


def delete_study(study_name=None, storage=None, *, token=None):
    _client_of(storage, token).delete_study(study_name)


def get_all_study_names(storage=None, *, token=None):
    return [s["name"] for s in _client_of(storage, token).list_studies()]

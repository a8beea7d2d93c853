"""Distributions of parameters, as in optuna.distributions.

Each one converts to an hpod param (to_param) and back (from_param), samples a
value at random (for parameters hpod's study does not know) and checks that a
value belongs to it.
"""
import json
import math


class BaseDistribution:
    """What every distribution shares."""

    def to_param(self, name):
        raise NotImplementedError

    def sample(self, rng):
        raise NotImplementedError

    def _contains(self, value):
        raise NotImplementedError

    def single(self):
        return False

    def to_internal_repr(self, value):
        return value

    def to_external_repr(self, value):
        return value

    def _attrs(self):
        return dict(self.__dict__)

    def __eq__(self, other):
        return type(self) is type(other) and self._attrs() == other._attrs()

    def __hash__(self):
        return hash((type(self).__name__, json.dumps(self._attrs(), sort_keys=True, default=str)))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._attrs().items())
        return f"{type(self).__name__}({args})"


class FloatDistribution(BaseDistribution):
    def __init__(self, low, high, log=False, step=None):
        if log and step is not None:
            raise ValueError("FloatDistribution: step and log cannot be used together")
        if low > high:
            raise ValueError(f"FloatDistribution: low {low} is greater than high {high}")
        if log and low <= 0:
            raise ValueError(f"FloatDistribution: low must be positive with log=True, not {low}")
        self.low = float(low)
        self.high = float(high)
        self.log = bool(log)
        self.step = None if step is None else float(step)
        if self.step is not None:
            # the highest value reachable from low in whole steps
            n = math.floor((self.high - self.low) / self.step + 1e-9)
            self.high = self.low + n * self.step

    def single(self):
        return self.low == self.high

    def to_param(self, name):
        p = {"name": name, "type": "float", "low": self.low, "high": self.high}
        if self.log:
            p["log"] = True
        if self.step is not None:
            p["step"] = self.step
        return p

    def sample(self, rng):
        if self.single():
            return self.low
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.step is not None:
            n = int(round((self.high - self.low) / self.step))
            return self.low + self.step * rng.randint(0, n)
        return rng.uniform(self.low, self.high)

    def _contains(self, value):
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        if isinstance(value, bool) or not (self.low - 1e-12 <= v <= self.high + 1e-12):
            return False
        if self.step is not None:
            k = (v - self.low) / self.step
            return abs(k - round(k)) < 1e-6
        return True


class IntDistribution(BaseDistribution):
    def __init__(self, low, high, log=False, step=1):
        if log and step != 1:
            raise ValueError("IntDistribution: step must be 1 with log=True")
        if low > high:
            raise ValueError(f"IntDistribution: low {low} is greater than high {high}")
        if log and low < 1:
            raise ValueError(f"IntDistribution: low must be at least 1 with log=True, not {low}")
        self.low = int(low)
        self.high = int(high)
        self.log = bool(log)
        self.step = int(step)
        self.high = self.low + (self.high - self.low) // self.step * self.step

    def single(self):
        return self.low == self.high

    def to_param(self, name):
        p = {"name": name, "type": "int", "low": self.low, "high": self.high}
        if self.log:
            p["log"] = True
        if self.step != 1:
            p["step"] = self.step
        return p

    def sample(self, rng):
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            v = int(round(math.exp(rng.uniform(lo, hi))))
            return max(self.low, min(self.high, v))
        return self.low + self.step * rng.randint(0, (self.high - self.low) // self.step)

    def _contains(self, value):
        if isinstance(value, bool):
            return False
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        if v != int(v) or not (self.low <= v <= self.high):
            return False
        return (int(v) - self.low) % self.step == 0


class CategoricalDistribution(BaseDistribution):
    def __init__(self, choices):
        choices = tuple(choices)
        if not choices:
            raise ValueError("CategoricalDistribution: choices must not be empty")
        for c in choices:
            if c is None or not isinstance(c, (bool, int, float, str)):
                raise ValueError(f"CategoricalDistribution: choice {c!r} is not a string, a "
                                 f"number or a boolean (hpod stores choices as JSON values)")
        self.choices = choices

    def single(self):
        return len(self.choices) == 1

    def to_param(self, name):
        return {"name": name, "type": "categorical", "choices": list(self.choices)}

    def sample(self, rng):
        return self.choices[rng.randrange(len(self.choices))]

    def index(self, value):
        for i, c in enumerate(self.choices):
            if c == value and type(c) is type(value):
                return i
        for i, c in enumerate(self.choices):
            if c == value and not isinstance(c, bool) and not isinstance(value, bool):
                return i
        return -1

    def _contains(self, value):
        return self.index(value) >= 0

    def to_internal_repr(self, value):
        return self.index(value)

    def to_external_repr(self, index):
        return self.choices[int(index)]

    def _attrs(self):
        return {"choices": list(self.choices)}


class UniformDistribution(FloatDistribution):
    def __init__(self, low, high):
        super().__init__(low, high)


class LogUniformDistribution(FloatDistribution):
    def __init__(self, low, high):
        super().__init__(low, high, log=True)


class DiscreteUniformDistribution(FloatDistribution):
    def __init__(self, low, high, q):
        super().__init__(low, high, step=q)

    @property
    def q(self):
        return self.step


class IntUniformDistribution(IntDistribution):
    def __init__(self, low, high, step=1):
        super().__init__(low, high, step=step)


class IntLogUniformDistribution(IntDistribution):
    def __init__(self, low, high, step=1):
        super().__init__(low, high, log=True)


def from_param(param):
    """The distribution of an hpod param dict (float, int or categorical);
    None for a code parameter, which has no Optuna counterpart."""
    t = param.get("type")
    if t == "float":
        return FloatDistribution(param["low"], param["high"], log=param.get("log", False),
                                 step=param.get("step"))
    if t == "int":
        return IntDistribution(param["low"], param["high"], log=param.get("log", False),
                               step=param.get("step", 1))
    if t == "categorical":
        return CategoricalDistribution(param["choices"])
    return None


def distribution_to_json(dist):
    """Optuna's JSON form: {"name": class name, "attributes": {...}}."""
    return json.dumps({"name": type(dist).__name__, "attributes": dist._attrs()})


def json_to_distribution(text):
    d = json.loads(text) if isinstance(text, str) else text
    name, attrs = d["name"], dict(d["attributes"])
    if name in ("FloatDistribution", "UniformDistribution", "LogUniformDistribution",
                "DiscreteUniformDistribution"):
        return FloatDistribution(attrs["low"], attrs["high"], log=attrs.get("log", False),
                                 step=attrs.get("step", attrs.get("q")))
    if name in ("IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"):
        return IntDistribution(attrs["low"], attrs["high"], log=attrs.get("log", False),
                               step=attrs.get("step", 1))
    if name == "CategoricalDistribution":
        return CategoricalDistribution(attrs["choices"])
    raise ValueError(f"unknown distribution {name!r}")


def check_distribution_compatibility(dist_old, dist_new):
    """A parameter asked again must keep its kind (and, for a categorical, its choices)."""
    if type(dist_old) is not type(dist_new) and not (
            isinstance(dist_old, FloatDistribution) and isinstance(dist_new, FloatDistribution)
    ) and not (isinstance(dist_old, IntDistribution) and isinstance(dist_new, IntDistribution)):
        raise ValueError("Cannot set different distribution kind to the same parameter name.")
    if isinstance(dist_old, CategoricalDistribution) and dist_old.choices != dist_new.choices:
        raise ValueError(f"{CategoricalDistribution.__name__} does not support dynamic value "
                         f"space.")


def coerce(dist, value):
    """value in the Python type the distribution hands out."""
    if isinstance(dist, IntDistribution):
        return int(value)
    if isinstance(dist, FloatDistribution):
        return float(value)
    i = dist.index(value)
    return dist.choices[i] if i >= 0 else value

"""Values for the parameters the study's space on hpod lacks.

hpod's sampler chooses the parameters of the study's space. A parameter the
objective asks for beyond it (one that appeared after the study was created)
is drawn here, one parameter at a time as Optuna's TPE does for parameters
outside its joint space: at random for the first trials that have it, then
from a Parzen estimator that prefers values of the best completed trials
(those of the best tenth, at most 25) over the others.
"""
import math

N_STARTUP = 10
N_CANDIDATES = 24


def _n_good(n):
    return max(1, min(int(math.ceil(0.1 * n)), 25))


class _Numeric:
    """A float or int distribution in the space where it is sampled: log for
    log=True, with rounding back to its grid."""

    def __init__(self, dist):
        self.dist = dist
        self.log = dist.log
        self.low = math.log(dist.low) if self.log else float(dist.low)
        self.high = math.log(dist.high) if self.log else float(dist.high)
        if hasattr(dist, "step") and dist.step and not self.log:
            # ints and stepped floats: the interval covers half a step each side
            self.low -= dist.step / 2
            self.high += dist.step / 2
        elif self.log and type(dist).__name__.startswith("Int"):
            self.low = math.log(dist.low - 0.5) if dist.low > 0.5 else self.low
            self.high = math.log(dist.high + 0.5)

    def to_internal(self, v):
        return math.log(v) if self.log else float(v)

    def to_value(self, x):
        v = math.exp(x) if self.log else x
        d = self.dist
        step = getattr(d, "step", None)
        if type(d).__name__.startswith("Int"):
            v = d.low + round((v - d.low) / d.step) * d.step
            return int(min(max(v, d.low), d.high))
        if step:
            v = d.low + round((v - d.low) / step) * step
        return float(min(max(v, d.low), d.high))


def _mixture(points, low, high):
    """(weights, mus, sigmas) of a Gaussian mixture on points plus a flat prior."""
    span = high - low
    n = len(points)
    sigma = max(span * 0.2 * (n + 1) ** -0.2, span * 0.01)
    mus = list(points) + [(low + high) / 2]
    sigmas = [sigma] * n + [span]
    weights = [1.0 / (n + 1)] * (n + 1)
    return weights, mus, sigmas


def _log_pdf(x, mixture, low, high):
    weights, mus, sigmas = mixture
    total = 0.0
    for w, mu, s in zip(weights, mus, sigmas):
        # each kernel truncated to [low, high]
        mass = max(_norm_cdf((high - mu) / s) - _norm_cdf((low - mu) / s), 1e-12)
        density = math.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        total += w * density / mass
    return math.log(max(total, 1e-300))


def _norm_cdf(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _draw(mixture, low, high, rng):
    weights, mus, sigmas = mixture
    k = rng.choices(range(len(weights)), weights)[0]
    for _ in range(100):
        x = rng.gauss(mus[k], sigmas[k])
        if low <= x <= high:
            return x
    return rng.uniform(low, high)


def sample(dist, history, maximize, rng):
    """A value of dist. history: (value of the parameter, objective value) of
    the completed trials that have it."""
    history = [(p, v) for p, v in history if dist._contains(p)]
    if len(history) < N_STARTUP:
        return dist.sample(rng)
    ranked = sorted(history, key=lambda pv: -pv[1] if maximize else pv[1])
    n_good = _n_good(len(ranked))
    good = [p for p, _ in ranked[:n_good]]
    bad = [p for p, _ in ranked[n_good:]]
    if hasattr(dist, "choices"):
        k = len(dist.choices)

        def weights(sample_values):
            counts = [1.0] * k  # a prior count for each choice
            for v in sample_values:
                counts[dist.index(v)] += 1
            s = sum(counts)
            return [c / s for c in counts]

        lw, gw = weights(good), weights(bad)
        candidates = rng.choices(range(k), lw, k=N_CANDIDATES)
        best = max(candidates, key=lambda i: math.log(lw[i]) - math.log(gw[i]))
        return dist.choices[best]
    space = _Numeric(dist)
    lo, hi = space.low, space.high
    if hi <= lo:
        return dist.sample(rng)
    lmix = _mixture([space.to_internal(p) for p in good], lo, hi)
    gmix = _mixture([space.to_internal(p) for p in bad], lo, hi)
    candidates = [_draw(lmix, lo, hi, rng) for _ in range(N_CANDIDATES)]
    best = max(candidates, key=lambda x: _log_pdf(x, lmix, lo, hi) - _log_pdf(x, gmix, lo, hi))
    return space.to_value(best)

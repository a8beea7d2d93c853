"""The three learning-curve tasks of make bench-pruning, all minimised, all
with crossing curves: configurations that start fast often end worse than slow
starters, the case where successive halving throws the winners away.

- mlp: a real training run. A one-hidden-layer tanh MLP trained with SGD and
  momentum (mini-batches of 32) on 400 images of scikit-learn's digits data;
  the value after each of 30 epochs is the log loss on 898 held-out images. A
  large learning rate learns fast and then wanders or overfits; a moderate one
  starts slowly and ends best. Written with numpy so that a whole curve costs
  a fraction of a second.
- synthetic: a family of our own. Each configuration's curve falls from 0.95
  to its final level f as a stretched exponential whose time constant grows as
  the learning rate shrinks (tau = (0.1 / lr)^0.65, longer for big batches);
  f is lowest near lr = 0.005, a slow starter. Gaussian noise of 0.002 plus 3%
  of the value, up to three times more for large learning rates.
- plateau: a family of our own where the slowest useful starts end best, as
  when fine-tuning: each curve falls from 0.95 to its level f exponentially,
  at a speed proportional to the learning rate, and f rises with it (0.05 at
  lr = 1e-4, 0.17 at 1); lr = 1e-3 has settled by step 5, 3e-4 by step 20 and
  ends best, 1e-4 is still falling at step 30. Gaussian noise of 0.002 plus
  2% of the value. Any trial slower than every trial completed so far is a
  slow starter that may end best.

curve(task, params, seed) returns the whole curve (a list of STEPS values);
the benchmark reveals it one step at a time to the pruner under test.
"""
import math
import random

STEPS = 30

SPACES = {
    "mlp": [
        {"name": "lr", "type": "float", "low": 1e-3, "high": 1.0, "log": True},
        {"name": "hidden", "type": "int", "low": 16, "high": 128, "log": True},
        {"name": "l2", "type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    ],
    "plateau": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "width", "type": "int", "low": 8, "high": 512, "log": True},
    ],
    "synthetic": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "width", "type": "int", "low": 8, "high": 512, "log": True},
        {"name": "batch", "type": "categorical", "choices": [16, 64, 256]},
    ],
}

DESCRIPTIONS = {
    "mlp": "one-hidden-layer MLP on the digits data, SGD with momentum, validation log loss "
           "after each of 30 epochs",
    "synthetic": "synthetic learning curves that cross: slow starters end best",
    "plateau": "synthetic learning curves: fast starts settle early on a worse level, the "
               "slowest useful start ends best",
}

_DATA = None


def _digits():
    global _DATA
    if _DATA is None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
        _DATA = (Xtr[:400], ytr[:400], Xva, yva)
    return _DATA


def _mlp(p, seed):
    import numpy as np
    Xtr, ytr, Xva, yva = _digits()
    lr, hidden, l2 = float(p["lr"]), int(p["hidden"]), float(p["l2"])
    rng = np.random.default_rng(seed)
    P = [rng.normal(0, 1 / math.sqrt(64), (64, hidden)), np.zeros(hidden),
         rng.normal(0, 1 / math.sqrt(hidden), (hidden, 10)), np.zeros(10)]
    V = [np.zeros_like(q) for q in P]
    Y = np.eye(10)[ytr]
    out = []
    with np.errstate(all="ignore"):
        for _ in range(STEPS):
            idx = rng.permutation(len(Xtr))
            for s in range(0, len(idx), 32):
                xb, yb = Xtr[idx[s:s + 32]], Y[idx[s:s + 32]]
                W1, b1, W2, b2 = P
                h = np.tanh(xb @ W1 + b1)
                z = h @ W2 + b2
                z -= z.max(1, keepdims=True)
                e = np.exp(z)
                e /= e.sum(1, keepdims=True)
                g = (e - yb) / len(xb)
                gh = (g @ W2.T) * (1 - h * h)
                G = [xb.T @ gh + l2 * W1, gh.sum(0), h.T @ g + l2 * W2, g.sum(0)]
                for i in range(4):
                    V[i] = 0.9 * V[i] - lr * G[i]
                    P[i] += V[i]
            W1, b1, W2, b2 = P
            z = np.tanh(Xva @ W1 + b1) @ W2 + b2
            z -= z.max(1, keepdims=True)
            e = np.exp(z)
            e /= e.sum(1, keepdims=True)
            v = float(-np.mean(np.log(e[np.arange(len(yva)), yva] + 1e-12)))
            out.append(v if math.isfinite(v) and v < 30 else 30.0)
    return out


def _synthetic(p, seed):
    lr, width, batch = float(p["lr"]), int(p["width"]), int(p["batch"])
    u = math.log10(lr)
    tau = (0.1 / lr) ** 0.65 * (batch / 64) ** 0.3
    f = 0.05 + 0.06 * (u + 2.3) ** 2 + 0.02 * ((math.log2(width) - 6) / 3) ** 2
    shake = 1 + 2 * max(0.0, u + 1.5)
    rng = random.Random(f"{seed}:{lr!r}:{width}:{batch}")
    out = []
    for t in range(1, STEPS + 1):
        y = f + (0.95 - f) * math.exp(-((t / tau) ** 0.7))
        out.append(y + rng.gauss(0, (0.002 + 0.03 * y) * shake))
    return out


def _plateau(p, seed):
    lr, width = float(p["lr"]), int(p["width"])
    f = 0.05 + 0.03 * (math.log10(lr) + 4) + 0.01 * ((math.log2(width) - 6) / 3) ** 2
    rng = random.Random(f"{seed}:{lr!r}:{width}")
    out = []
    for t in range(1, STEPS + 1):
        y = f + (0.95 - f) * math.exp(-lr * 2000 * t / 3)
        out.append(y + rng.gauss(0, 0.002 + 0.02 * y))
    return out


def curve(task, params, seed):
    return {"mlp": _mlp, "synthetic": _synthetic, "plateau": _plateau}[task](params, seed)


def configs(task, seed, n):
    """n configurations drawn uniformly (log-uniform where the space says so)."""
    rng = random.Random(f"configs:{task}:{seed}")
    out = []
    for _ in range(n):
        c = {}
        for q in SPACES[task]:
            if q["type"] == "categorical":
                c[q["name"]] = rng.choice(q["choices"])
                continue
            lo, hi = q["low"], q["high"]
            x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if q.get("log") else \
                rng.uniform(lo, hi)
            c[q["name"]] = min(hi, max(lo, round(x))) if q["type"] == "int" else x
        out.append(c)
    return out

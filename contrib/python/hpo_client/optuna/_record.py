"""What an Optuna trial holds beyond hpod's params, kept on the trial itself.

hpod stores, for each trial, the parameters of the study's space and a
"values" object of numbers by name. A trial of a script may also ask for
parameters the study's space on hpod does not have (they appeared after the
study was created), or leave out some that hpod handed it (a branch not
taken), and carry user attributes. These go into "values" under keys that
start with "optuna:" and hold the name (and, when the value is not a number,
the value) as JSON, so that every process reading the trial back sees the
same thing:

    optuna:param:["depth"]                -> 7          (a number)
    optuna:param:["kernel", "poly"]       -> 0          (any other value)
    optuna:dist:["depth", {...}]          -> 0          (its distribution)
    optuna:unused:["degree"]              -> 0          (handed out, not asked)
    optuna:user_attr:["loss_curve"]       -> 0.25 / ["note", "text"] -> 0
"""
import json
import math

from . import distributions as _d

PARAM = "optuna:param:"
DIST = "optuna:dist:"
UNUSED = "optuna:unused:"
USER_ATTR = "optuna:user_attr:"
PREFIX = "optuna:"


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _put(out, prefix, name, value):
    if _is_number(value):
        out[prefix + json.dumps([name])] = value
    else:
        try:
            key = json.dumps([name, value], allow_nan=False)
        except (TypeError, ValueError):
            key = json.dumps([name, repr(value)])
        out[prefix + key] = 0


def encode(extras=None, dists=None, unused=(), user_attrs=None):
    """The "values" object for a trial's completion."""
    out = {}
    for name, value in (extras or {}).items():
        _put(out, PARAM, name, value)
        dist = (dists or {}).get(name)
        if dist is not None:
            out[DIST + json.dumps([name, json.loads(_d.distribution_to_json(dist))])] = 0
    for name in unused:
        out[UNUSED + json.dumps([name])] = 0
    for key, value in (user_attrs or {}).items():
        _put(out, USER_ATTR, key, value)
    return out


def decode(values):
    """(extras, dists, unused, user_attrs, metrics) of a trial's "values"."""
    extras, dists, unused, attrs, metrics = {}, {}, set(), {}, {}
    for key, number in (values or {}).items():
        if not key.startswith(PREFIX):
            metrics[key] = number
            continue
        for prefix in (PARAM, DIST, UNUSED, USER_ATTR):
            if key.startswith(prefix):
                break
        else:
            metrics[key] = number
            continue
        try:
            parts = json.loads(key[len(prefix):])
        except ValueError:
            continue
        if not isinstance(parts, list) or not parts or not isinstance(parts[0], str):
            continue
        name = parts[0]
        value = parts[1] if len(parts) > 1 else number
        if prefix == PARAM:
            extras[name] = value
        elif prefix == DIST and len(parts) > 1:
            try:
                dists[name] = _d.json_to_distribution(parts[1])
            except (KeyError, ValueError, TypeError):
                pass
        elif prefix == UNUSED:
            unused.add(name)
        else:
            attrs[name] = value
    return extras, dists, unused, attrs, metrics

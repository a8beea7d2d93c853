"""Shared bits of the client's tests: they run against the daemon in HPO_SERVER."""
import os
import unittest
import uuid

from hpo_client import Client


def server():
    url = os.environ.get("HPO_SERVER")
    if not url:
        raise unittest.SkipTest("set HPO_SERVER to a running hpod to run these tests")
    return url


def client():
    return Client(server(), retries=2, backoff=0.1)


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def spec(study_name, max_trials=10, **extra):
    s = {"name": study_name,
         "objective": {"name": "loss", "direction": "minimize"},
         "params": [{"name": "x", "type": "float", "low": -5.0, "high": 5.0},
                    {"name": "n", "type": "int", "low": 1, "high": 4},
                    {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]}],
         "sampler": {"name": "random", "seed": 7},
         "budget": {"max_trials": max_trials, "max_parallel": 4}}
    s.update(extra)
    return s

"""hpo_client.optuna: an Optuna ask/tell script runs on hpod (HPO_SERVER)."""
import os
import subprocess
import sys
import unittest

import hpo_client.optuna as optuna

from . import util

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "optuna_quadratic.py")


class OptunaTest(unittest.TestCase):
    def setUp(self):
        self.url = util.server()
        self.c = util.client()

    def test_example_script(self):
        name = util.name("optuna-example")
        env = dict(os.environ, HPO_SERVER=self.url)
        env["PYTHONPATH"] = os.path.join(HERE, "..") + os.pathsep + env.get("PYTHONPATH", "")
        p = subprocess.run([sys.executable, EXAMPLE, name, "8"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("best value", p.stdout)
        study = self.c.get_study(name)
        self.assertEqual([q["name"] for q in study["spec"]["params"]], ["x", "n", "shape"])
        self.assertEqual(study["spec"]["params"][2]["choices"], ["bowl", "ridge"])
        self.assertEqual(study["counts"]["completed"], 8)
        trials = self.c.trials(name)
        self.assertEqual(trials[0]["source"], "manual")  # the recording trial
        self.assertTrue(all(t["source"] != "manual" for t in trials[1:]))
        self.assertEqual(len(self.c.get_trial(trials[3]["id"])["reports"]), 5)

    def test_space_first_and_optimize(self):
        name = util.name("optuna-space")
        study = optuna.create_study(storage=self.url, study_name=name, direction="maximize",
                                    sampler="tpe", seed=3, max_trials=12,
                                    search_space={"lr": optuna.FloatDistribution(1e-4, 1e-1, log=True),
                                                  "layers": optuna.IntDistribution(1, 3),
                                                  "opt": optuna.CategoricalDistribution(["sgd", "adam"])})

        def objective(trial):
            lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
            layers = trial.suggest_int("layers", 1, 3)
            opt = trial.suggest_categorical("opt", ["sgd", "adam"])
            self.assertTrue(1e-4 <= lr <= 1e-1)
            self.assertIsInstance(layers, int)
            if trial.number == 2:
                raise optuna.TrialPruned()
            return -abs(lr - 0.01) + (0.1 if opt == "adam" else 0) + layers

        study.optimize(objective, n_trials=50)  # stops when hpod finishes the study
        spec = self.c.get_study(name)["spec"]
        self.assertEqual(spec["sampler"]["name"], "tpe")
        self.assertEqual(spec["objective"]["direction"], "maximize")
        states = [t.state for t in study.trials]
        self.assertEqual(len(states), 12)
        self.assertEqual(states.count(optuna.TrialState.PRUNED), 1)
        self.assertEqual(study.best_value, max(t.value for t in study.trials
                                               if t.state == optuna.TrialState.COMPLETE))
        self.assertEqual(set(study.best_params), {"lr", "layers", "opt"})
        with self.assertRaises(optuna.StudyFinished):
            study.ask()

    def test_existing_study_needs_load_if_exists(self):
        name = util.name("optuna-exists")
        self.c.create_study(util.spec(name))
        with self.assertRaises(ValueError):
            optuna.create_study(storage=self.url, study_name=name)
        study = optuna.load_study(name, storage=self.url)
        t = study.ask()
        x = t.suggest_float("x", -5.0, 5.0)
        act = t.suggest_categorical("act", ["relu", "tanh"])
        self.assertEqual((x, act), (t._leased.params["x"], t._leased.params["act"]))
        study.tell(t, x * x)
        self.assertEqual(self.c.best(name)["value"], x * x)

    def test_failure_is_recorded(self):
        name = util.name("optuna-fail")
        study = optuna.create_study(storage=self.url, study_name=name,
                                    search_space={"x": optuna.FloatDistribution(0, 1)})

        def objective(trial):
            raise ValueError("nan loss")

        with self.assertRaises(ValueError):
            study.optimize(objective, n_trials=1)
        self.assertEqual([t.state for t in study.trials], [optuna.TrialState.FAIL])


if __name__ == "__main__":
    unittest.main()

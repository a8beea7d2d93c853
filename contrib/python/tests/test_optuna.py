"""hpo_client.optuna: Optuna scripts run on hpod (HPO_SERVER)."""
import importlib.util
import os
import subprocess
import sys
import threading
import time
import unittest

import hpo_client
import hpo_client.optuna as optuna

from . import util

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "optuna_quadratic.py")

optuna.logging.set_verbosity(optuna.logging.WARNING)


class OptunaTest(unittest.TestCase):
    def setUp(self):
        self.url = util.server()
        self.c = util.client()

    def study(self, prefix, **kw):
        return optuna.create_study(storage=self.url, study_name=util.name(prefix), **kw)

    def test_example_script(self):
        name = util.name("optuna-example")
        env = dict(os.environ, HPO_SERVER=self.url)
        # the example imports the same hpo_client as these tests
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(hpo_client.__file__))
        p = subprocess.run([sys.executable, EXAMPLE, name, "8"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("best value", p.stdout)
        study = self.c.get_study(name)
        self.assertEqual([q["name"] for q in study["spec"]["params"]], ["x", "n", "shape"])
        self.assertEqual(study["spec"]["params"][2]["choices"], ["bowl", "ridge"])
        self.assertEqual(study["spec"]["pruner"]["name"], "median")  # Optuna's default
        self.assertEqual(study["spec"]["sampler"]["name"], "tpe")
        self.assertEqual(study["counts"]["completed"] + study["counts"]["pruned"], 8)
        trials = self.c.trials(name)
        self.assertEqual(trials[0]["source"], "manual")  # run before the study existed
        self.assertTrue(all(t["source"] != "manual" for t in trials[1:]))
        self.assertGreaterEqual(len(self.c.get_trial(trials[0]["id"])["reports"]), 1)

    def test_space_first_and_optimize(self):
        name = util.name("optuna-space")
        study = optuna.create_study(storage=self.url, study_name=name, direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=3), max_trials=12,
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

        study.optimize(objective, n_trials=50)  # hpod ends the study at its max_trials
        spec = self.c.get_study(name)["spec"]
        self.assertEqual(spec["sampler"], {"name": "tpe", "seed": 3})
        self.assertEqual(spec["objective"]["direction"], "maximize")
        states = [t.state for t in study.trials]
        self.assertEqual(len(states), 12)
        self.assertEqual(states.count(optuna.TrialState.PRUNED), 1)
        self.assertEqual(study.best_value, max(t.value for t in study.trials
                                               if t.state == optuna.TrialState.COMPLETE))
        self.assertEqual(set(study.best_params), {"lr", "layers", "opt"})
        self.assertEqual(study.best_trials, [study.best_trial])
        with self.assertRaises(optuna.StudyFinished):
            study.ask()

    def test_existing_study_needs_load_if_exists(self):
        name = util.name("optuna-exists")
        self.c.create_study(util.spec(name))
        with self.assertRaises(optuna.exceptions.DuplicatedStudyError):
            optuna.create_study(storage=self.url, study_name=name)
        with self.assertRaises(KeyError):
            optuna.load_study(study_name=util.name("absent"), storage=self.url)
        study = optuna.load_study(study_name=name, storage=self.url)
        t = study.ask()
        x = t.suggest_float("x", -5.0, 5.0)
        act = t.suggest_categorical("act", ["relu", "tanh"])
        self.assertEqual((x, act), (t._leased.params["x"], t._leased.params["act"]))
        frozen = study.tell(t, x * x)
        self.assertEqual(frozen.params, {"x": x, "act": act})  # n was handed out, never asked
        self.assertEqual(self.c.best(name)["value"], x * x)
        self.assertEqual(study.best_params, {"x": x, "act": act})

    def test_failure_is_recorded(self):
        study = self.study("optuna-fail", search_space={"x": optuna.FloatDistribution(0, 1)})

        def objective(trial):
            trial.suggest_float("x", 0, 1)
            raise ValueError("nan loss")

        with self.assertRaises(ValueError):
            study.optimize(objective, n_trials=3)
        self.assertEqual([t.state for t in study.trials], [optuna.TrialState.FAIL])
        self.assertIn("nan loss", self.c.trials(study.study_name)[0]["error"])

    def test_conditional_space_learned_from_the_branch(self):
        study = self.study("optuna-branch", sampler="random", seed=5)
        # the first trial takes the "forest" branch: its parameters are
        # conditional on it, and the "svc" ones appear later
        study.enqueue_trial({"classifier": "forest", "depth": 4})

        def objective(trial):
            c = trial.suggest_categorical("classifier", ["svc", "forest"])
            if c == "svc":
                x = trial.suggest_float("svc_c", 1e-3, 1e3, log=True)
                return abs(x - 10) / 100
            d = trial.suggest_int("depth", 2, 32, log=True)
            return 1 + abs(d - 8) / 10

        study.optimize(objective, n_trials=24)
        spec = self.c.get_study(study.study_name)["spec"]
        self.assertEqual(spec["params"][1]["name"], "depth")
        self.assertEqual(spec["params"][1]["when"], {"classifier": ["forest"]})
        trials = study.trials
        self.assertEqual(trials[0].params, {"classifier": "forest", "depth": 4})
        branches = {}
        for t in trials:
            branches.setdefault(t.params["classifier"], set()).add(tuple(sorted(t.params)))
        self.assertEqual(branches, {"forest": {("classifier", "depth")},
                                    "svc": {("classifier", "svc_c")}})
        # another process sees the same trials, and best_params keeps svc_c
        other = optuna.load_study(study_name=study.study_name, storage=self.url)
        self.assertEqual([t.params for t in other.trials], [t.params for t in trials])
        best = other.best_trial
        self.assertEqual(best.params["classifier"], "svc")
        self.assertEqual(set(best.params), {"classifier", "svc_c"})
        self.assertIsInstance(best.distributions["svc_c"], optuna.FloatDistribution)

    def test_parameter_asked_in_one_branch_stays_out_of_the_other(self):
        study = self.study("optuna-unused", sampler="random", seed=2,
                           search_space={"kind": optuna.CategoricalDistribution(["a", "b"]),
                                         "depth": optuna.IntDistribution(1, 9)})

        def objective(trial):
            kind = trial.suggest_categorical("kind", ["a", "b"])
            if kind == "a":
                return trial.suggest_int("depth", 1, 9)
            return 0.5

        study.optimize(objective, n_trials=12)
        for t in optuna.load_study(study_name=study.study_name, storage=self.url).trials:
            want = {"kind", "depth"} if t.params["kind"] == "a" else {"kind"}
            self.assertEqual(set(t.params), want)
        self.assertEqual(study.best_params, {"kind": "b"})

    def test_parameters_outside_the_space_learn_from_the_results(self):
        # b, n and c are not in the study's space on hpod: the adapter draws
        # them, at random first, then preferring values of the best trials
        study = self.study("optuna-outside", sampler=optuna.samplers.RandomSampler(seed=4),
                           search_space={"a": optuna.FloatDistribution(0, 1)})

        def objective(trial):
            trial.suggest_float("a", 0, 1)
            b = trial.suggest_float("b", 0, 1)
            n = trial.suggest_int("n", 1, 64, log=True)
            c = trial.suggest_categorical("c", ["x", "y", "z"])
            return (b - 0.8) ** 2 + (0 if c == "z" else 0.3) + abs(n - 8) / 64

        study.optimize(objective, n_trials=60)
        spec = self.c.get_study(study.study_name)["spec"]
        self.assertEqual([p["name"] for p in spec["params"]], ["a"])
        first, last = study.trials[:10], study.trials[-20:]
        self.assertEqual({tuple(sorted(t.params)) for t in study.trials}, {("a", "b", "c", "n")})
        # the first ten are drawn at random; uniform draws would keep the mean
        # loss where it was (about 0.5)
        mean_first = sum(t.value for t in first) / len(first)
        mean_last = sum(t.value for t in last) / len(last)
        self.assertLess(mean_last, 0.5 * mean_first, (mean_first, mean_last))
        self.assertTrue(all(isinstance(t.params["n"], int) and 1 <= t.params["n"] <= 64
                            for t in first + last))

    def test_callbacks_get_the_trial_this_process_finished(self):
        study_name = util.name("optuna-callbacks")
        optuna.create_study(storage=self.url, study_name=study_name,
                            search_space={"x": optuna.FloatDistribution(-1, 1)})
        ran, seen, errors = [], [], []

        def worker(k):
            try:
                s = optuna.load_study(study_name=study_name, storage=self.url)

                def objective(trial):
                    x = trial.suggest_float("x", -1, 1)
                    time.sleep(0.01 * (k + 1))
                    ran.append((k, trial.number, x))
                    return x * x

                s.optimize(objective, n_trials=8,
                           callbacks=[lambda st, fr: seen.append((k, fr.number, fr.params["x"]))])
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(seen), sorted(ran))
        self.assertEqual(len({n for _, n, _ in seen}), 24)

    def test_n_jobs_and_log_lines(self):
        import logging as std_logging

        lines = []

        class Keep(std_logging.Handler):
            def emit(self, record):
                lines.append(record.getMessage())

        keep = Keep()
        optuna.logging.get_logger("hpo_client.optuna").addHandler(keep)
        optuna.logging.set_verbosity(optuna.logging.INFO)
        try:
            study = self.study("optuna-jobs")
            seen = []
            study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=12, n_jobs=3,
                           callbacks=[lambda s, fr: seen.append(fr.number)])
        finally:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            optuna.logging.get_logger("hpo_client.optuna").removeHandler(keep)
        self.assertEqual(sorted(seen), list(range(12)),
                         [(t.number, str(t.state), t.user_attrs) for t in study.trials])
        self.assertEqual(len(study.trials), 12)
        finished = [ln for ln in lines if " finished with value: " in ln]
        self.assertEqual(len(finished), 12, lines)
        self.assertRegex(finished[-1], r"^Trial \d+ finished with value: [-0-9.e]+ and parameters: "
                                       r"\{'x': [-0-9.e]+\}\. Best is trial \d+ with value: ")

    def test_n_jobs_trials_run_before_the_study_existed_are_leased_back(self):
        # Three threads run their first trial before the study exists; the
        # later two queue theirs on hpod and lease them back while the first
        # thread asks for trials. A slow enqueue widens that window: the queued
        # trial must not go to another thread, nor a trial be left leased.
        class SlowEnqueue(hpo_client.Client):
            def enqueue(self, name, params):
                queued = super().enqueue(name, params)
                time.sleep(0.3)
                return queued

        study = optuna.create_study(storage=SlowEnqueue(self.url),
                                    study_name=util.name("optuna-jobs-queued"))
        first = set()

        def objective(trial):
            x = trial.suggest_float("x", -1, 1)
            name = threading.current_thread().name
            if name not in first:
                first.add(name)
                time.sleep(0.3 + (0.8 if name == "optimize-2" else 0))
            return x * x

        seen = []
        study.optimize(objective, n_trials=12, n_jobs=3,
                       callbacks=[lambda s, fr: seen.append(fr.number)])
        trials = [(t.number, t.state.name) for t in study.trials]
        self.assertEqual(sorted(seen), list(range(12)), trials)
        self.assertEqual(trials, [(n, "COMPLETE") for n in range(12)])

    def test_user_attrs_and_intermediate_values_are_stored(self):
        study = self.study("optuna-attrs", pruner=optuna.pruners.NopPruner())

        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            for step in range(4):
                trial.report(x + step, step)
            trial.set_user_attr("note", "trial %d" % trial.number)
            trial.set_user_attr("score", 0.5)
            trial.set_user_attr("shape", [1, 2])
            return x

        study.optimize(objective, n_trials=3)
        other = optuna.load_study(study_name=study.study_name, storage=self.url)
        for t in other.trials:
            self.assertEqual(t.user_attrs, {"note": "trial %d" % t.number, "score": 0.5,
                                            "shape": [1, 2]})
            x = t.params["x"]
            self.assertEqual(t.intermediate_values, {s: x + s for s in range(4)})
            self.assertEqual(t.last_step, 3)
            self.assertIsNotNone(t.datetime_complete)

    def test_n_trials_beyond_the_default_budget_and_catch(self):
        study = self.study("optuna-budget")

        def objective(trial):
            x = trial.suggest_float("x", -5, 5)
            if 30 <= trial.number < 45:
                raise ValueError("diverged")
            return (x - 1) ** 2

        start = time.monotonic()
        study.optimize(objective, n_trials=120, catch=(ValueError,))
        took = time.monotonic() - start
        states = [t.state for t in study.trials]
        self.assertEqual(len(states), 120)  # hpod's default max_trials is 100
        self.assertEqual(states.count(optuna.TrialState.FAIL), 15)  # its max_failures is 10
        self.assertLess(took, 25, "a worker cut off after failures waited")  # cut-off: 30 s

    def test_stop_and_max_trials_callback(self):
        study = self.study("optuna-stop", search_space={"x": optuna.FloatDistribution(0, 1)})
        with self.assertRaises(RuntimeError):
            study.stop()

        def objective(trial):
            if trial.number == 4:
                trial.study.stop()
            return trial.suggest_float("x", 0, 1)

        study.optimize(objective, n_trials=10)
        self.assertEqual(len(study.trials), 5)
        cb = optuna.study.MaxTrialsCallback(7, states=(optuna.TrialState.COMPLETE,))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=10, callbacks=[cb])
        self.assertEqual(len(study.trials), 7)

    def test_add_trial_and_enqueue_trial(self):
        study = self.study("optuna-add", direction="maximize")
        dists = {"x": optuna.FloatDistribution(0, 10), "k": optuna.CategoricalDistribution([1, 2])}
        study.add_trial(optuna.create_trial(params={"x": 3.0, "k": 2}, distributions=dists,
                                            value=9.0, user_attrs={"from": "notebook"},
                                            intermediate_values={0: 1.0, 1: 4.0}))
        study.add_trial(optuna.create_trial(params={"x": 1.0, "k": 1}, distributions=dists,
                                            state=optuna.TrialState.PRUNED,
                                            intermediate_values={0: 0.5}))
        trials = study.trials
        self.assertEqual([t.state for t in trials],
                         [optuna.TrialState.COMPLETE, optuna.TrialState.PRUNED])
        self.assertEqual(trials[0].params, {"x": 3.0, "k": 2})
        self.assertEqual(trials[0].user_attrs, {"from": "notebook"})
        self.assertEqual(trials[0].intermediate_values, {0: 1.0, 1: 4.0})
        self.assertEqual(trials[1].value, 0.5)  # a pruned trial keeps its last value
        # y is not in the study's space on hpod: this process applies it
        study.enqueue_trial({"x": 7.5, "k": 1, "y": "left"}, user_attrs={"why": "hunch"})
        t = study.ask()
        got = (t.suggest_float("x", 0, 10), t.suggest_categorical("k", [1, 2]),
               t.suggest_categorical("y", ["left", "right"]))
        self.assertEqual(got, (7.5, 1, "left"))
        frozen = study.tell(t, 1.0)
        self.assertEqual(frozen.user_attrs, {"why": "hunch"})
        self.assertEqual(frozen.params, {"x": 7.5, "k": 1, "y": "left"})

    def test_result_kept_when_the_lease_was_lost(self):
        study = self.study("optuna-lease", search_space={"x": optuna.FloatDistribution(0, 1)},
                           spec={"lease": {"heartbeat_s": 0.2, "stale_after": 2,
                                           "max_retries": 0}})
        t = study.ask()
        x = t.suggest_float("x", 0, 1)
        t._leased._end()  # no more heartbeats: the daemon takes the trial back
        first = t._leased.id
        deadline = time.time() + 10
        while self.c.get_trial(first)["state"] == "running" and time.time() < deadline:
            time.sleep(0.2)
        self.assertNotEqual(self.c.get_trial(first)["state"], "running")
        frozen = study.tell(t, 0.25)
        self.assertEqual(frozen.state, optuna.TrialState.COMPLETE)
        self.assertNotEqual(frozen._trial_id, first)
        done = self.c.trials(study.study_name, state="completed")
        self.assertEqual([(d["params"]["x"], d["value"]) for d in done], [(x, 0.25)])

    def test_tell_after_the_study_was_finished(self):
        study = self.study("optuna-finished", search_space={"x": optuna.FloatDistribution(0, 1)})
        t = study.ask()
        t.suggest_float("x", 0, 1)
        self.c.set_study_state(study.study_name, "finished")
        start = time.monotonic()
        frozen = study.tell(t, 0.5)  # the daemon refuses it: not recorded, no wait
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual((frozen.state, frozen.value), (optuna.TrialState.COMPLETE, 0.5))
        self.assertEqual(self.c.trials(study.study_name, state="completed"), [])
        with self.assertRaises(optuna.StudyFinished):
            study.ask()

    def test_trials_dataframe(self):
        if importlib.util.find_spec("pandas") is None:
            self.skipTest("pandas is not installed")
        study = self.study("optuna-df")

        def objective(trial):
            a = trial.suggest_categorical("a", ["p", "q"])
            trial.set_user_attr("tag", a)
            return trial.suggest_float("b", 0, 1)

        study.optimize(objective, n_trials=4)
        df = study.trials_dataframe()
        self.assertEqual(len(df), 4)
        for col in ("number", "value", "datetime_start", "datetime_complete", "duration",
                    "params_a", "params_b", "user_attrs_tag", "state"):
            self.assertIn(col, df.columns)
        self.assertEqual(list(df["state"]), ["COMPLETE"] * 4)
        self.assertEqual(list(df["params_a"]), list(df["user_attrs_tag"]))
        multi = study.trials_dataframe(attrs=("number", "params"), multi_index=True)
        self.assertIn(("params", "b"), multi.columns)

    def test_fixed_trial_runs_an_objective_outside_a_study(self):
        def objective(trial):
            kind = trial.suggest_categorical("kind", ["a", "b"])
            return trial.suggest_int("n", 1, 9) * (2 if kind == "b" else 1)

        self.assertEqual(objective(optuna.trial.FixedTrial({"kind": "b", "n": 4})), 8)
        with self.assertRaises(ValueError):
            objective(optuna.trial.FixedTrial({"kind": "a"}))

    def test_samplers_and_pruners_become_the_spec(self):
        study = self.study("optuna-spec", sampler=optuna.samplers.RandomSampler(seed=11),
                           pruner=optuna.pruners.SuccessiveHalvingPruner(),
                           search_space={"x": optuna.FloatDistribution(0, 1)})
        spec = self.c.get_study(study.study_name)["spec"]
        self.assertEqual(spec["sampler"], {"name": "random", "seed": 11})
        self.assertEqual((spec["pruner"]["name"], spec["pruner"]["reduction_factor"]), ("asha", 4))
        study = self.study("optuna-spec2", pruner=optuna.pruners.MedianPruner(n_warmup_steps=3),
                           search_space={"x": optuna.FloatDistribution(0, 1)})
        self.assertEqual(self.c.get_study(study.study_name)["spec"]["pruner"]["n_warmup_steps"], 3)
        with self.assertRaises(TypeError):
            self.study("optuna-spec3", sampler=object())

    def test_several_objectives_and_constraints(self):
        def constraints(trial):
            return [trial.params["w"] - 6.0]

        study = self.study("optuna-mo", directions=["maximize", "minimize"],
                           objectives=["acc", "ms"], constraints_func=constraints,
                           search_space={"w": optuna.FloatDistribution(0, 10)},
                           sampler=optuna.samplers.RandomSampler(seed=4))
        self.assertEqual(study.directions, [optuna.study.StudyDirection.MAXIMIZE,
                                            optuna.study.StudyDirection.MINIMIZE])
        study.optimize(lambda t: (t.suggest_float("w", 0, 10), 2 * t.suggest_float("w", 0, 10)),
                       n_trials=8)
        spec = self.c.get_study(study.study_name)["spec"]
        self.assertEqual(spec["objectives"], [{"name": "acc", "direction": "maximize"},
                                              {"name": "ms", "direction": "minimize"}])
        self.assertEqual(spec["constraints"], [{"name": "constraint_0", "max": 0}])
        self.assertEqual(spec["sampler"]["name"], "random")
        trials = study.trials
        self.assertEqual(len(trials), 8)
        for t in trials:
            self.assertEqual(t.values, [t.params["w"], 2 * t.params["w"]])
            self.assertEqual(t.system_attrs["constraints"], [t.params["w"] - 6.0])
            with self.assertRaises(RuntimeError):
                t.value
        # every trial is on the front of (w, 2w) with w up and 2w down; the
        # feasible ones (w <= 6) only
        best = sorted(t.number for t in study.best_trials)
        self.assertEqual(best, sorted(t.number for t in trials if t.params["w"] <= 6))
        for attr in ("best_trial", "best_value", "best_params", "direction"):
            with self.assertRaises(RuntimeError):
                getattr(study, attr)
        # a wrong number of values fails the trial; told as complete it is refused
        t = study.ask()
        t.suggest_float("w", 0, 10)
        with self.assertRaises(ValueError):
            study.tell(t, [1.0], state=optuna.trial.TrialState.COMPLETE)
        self.assertEqual(study.tell(t, [1.0, 2.0, 3.0]).state, optuna.trial.TrialState.FAIL)
        # another process opens it with its objectives and constraints
        again = optuna.load_study(study_name=study.study_name, storage=self.url)
        self.assertEqual(again.metric_names, ["acc", "ms"])
        self.assertEqual(len(again.best_trials), len(best))
        df = again.trials_dataframe(attrs=("number", "value", "state"))
        self.assertIn("values_0", df.columns)

    def test_several_objectives_default_names_and_bad_input(self):
        study = self.study("optuna-mo2", directions=["minimize", "minimize", "maximize"])
        study.optimize(lambda t: (t.suggest_int("n", 1, 5), 1.0, 2.0), n_trials=3)
        spec = self.c.get_study(study.study_name)["spec"]
        self.assertEqual([o["name"] for o in spec["objectives"]],
                         ["value_0", "value_1", "value_2"])
        self.assertEqual(spec["sampler"]["name"], "motpe")  # TPE for several objectives
        self.assertEqual({len(t.values) for t in study.trials}, {3})
        for bad in ({"objectives": ["a"]}, {"objectives": ["a", "a"]},
                    {"objectives": ["a", "b"], "metric_names": ["a", "b"]},
                    {"objectives": ["a", "constraint_0"]}):
            with self.assertRaises(ValueError):
                self.study("optuna-bad", directions=["minimize", "maximize"], **bad)
        with self.assertRaises(ValueError):
            self.study("optuna-bad", directions=["minimize"] * 5)
        with self.assertRaises(ValueError):
            self.study("optuna-bad", direction="minimize", directions=["minimize"])
        with self.assertRaises(ValueError):
            self.study("optuna-bad", objectives=["a"])

    def test_constraints_func_on_the_sampler(self):
        sampler = optuna.samplers.NSGAIISampler(seed=2,
                                                constraints_func=lambda t: [1.0, -1.0])
        study = self.study("optuna-mo3", directions=["minimize", "maximize"], sampler=sampler)
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=3)
        spec = self.c.get_study(study.study_name)["spec"]
        self.assertEqual(spec["sampler"]["name"], "motpe")
        self.assertEqual(len(spec["constraints"]), 2)
        self.assertEqual(study.best_trials, [])  # nothing feasible
        self.assertEqual(len(study.trials), 3)


if __name__ == "__main__":
    unittest.main()

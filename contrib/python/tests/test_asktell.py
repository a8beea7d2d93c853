"""hpo_client.Study: the ask/tell helper against a real daemon (HPO_SERVER)."""
import time
import unittest

from hpo_client import Study

from . import util


class AskTellTest(unittest.TestCase):
    def setUp(self):
        self.c = util.client()

    def test_run_until_finished(self):
        name = util.name("run")
        study = Study.create(util.spec(name, max_trials=6), client=self.c)
        seen = []

        def objective(trial):
            seen.append(trial.params)
            return (trial.params["x"] - 1) ** 2 + trial.params["n"]

        self.assertEqual(study.run(objective), 6)
        self.assertIsNone(study.ask())  # finished: no more trials
        info = study.info()
        self.assertEqual(info["state"], "finished")
        self.assertEqual(info["counts"]["completed"], 6)
        best = min((p["x"] - 1) ** 2 + p["n"] for p in seen)
        self.assertAlmostEqual(study.best()["value"], best)

    def test_batch_asks_get_different_trials(self):
        name = util.name("batch")
        study = Study.create(util.spec(name, max_trials=10), client=self.c)
        a, b, c = study.ask(), study.ask(), study.ask()
        self.assertEqual(len({a.id, b.id, c.id}), 3)
        self.assertEqual(len({a.worker, b.worker, c.worker}), 3)
        for t in (a, b, c):
            study.tell(t, 1.0)
        self.assertEqual(study.info()["counts"]["completed"], 3)

    def test_heartbeats_keep_a_slow_trial(self):
        name = util.name("slow")
        s = util.spec(name, max_trials=3, lease={"heartbeat_s": 0.2, "stale_after": 2,
                                                 "max_retries": 0})
        study = Study.create(s, client=self.c)
        t = study.ask()
        time.sleep(1.5)  # several lease lengths
        done = study.tell(t, 0.5)
        self.assertIsNotNone(done)
        self.assertEqual(done["state"], "completed")
        self.assertEqual(done["attempts"], 1)

    def test_failed_and_pruned(self):
        name = util.name("states")
        study = Study.create(util.spec(name, max_trials=5), client=self.c)
        t = study.ask()
        self.assertEqual(study.tell(t, state="failed", error="out of memory")["error"],
                         "out of memory")
        t = study.ask()
        self.assertEqual(t.report(4.0, step=1), "continue")
        self.assertFalse(t.should_prune())
        done = study.tell(t)  # no value: pruned, keeping the last report
        self.assertEqual(done["state"], "pruned")
        self.assertEqual(done["value"], 4.0)

    def test_stop_when_study_finished(self):
        name = util.name("stop")
        s = util.spec(name, lease={"heartbeat_s": 0.2, "stale_after": 3, "max_retries": 0})
        study = Study.create(s, client=self.c)
        t = study.ask()
        self.c.set_study_state(name, "finished")
        deadline = time.time() + 5
        while not t.should_prune() and time.time() < deadline:
            time.sleep(0.1)
        self.assertTrue(t.should_prune())
        self.assertIsNone(study.tell(t, 1.0))  # the daemon had already stopped it

    def test_objective_exception_fails_trial(self):
        name = util.name("boom")
        study = Study.create(util.spec(name), client=self.c)

        def objective(trial):
            raise RuntimeError("diverged")

        with self.assertRaises(RuntimeError):
            study.run(objective)
        failed = study.trials(state="failed")
        self.assertEqual(len(failed), 1)
        self.assertIn("diverged", failed[0]["error"])


if __name__ == "__main__":
    unittest.main()

"""hpo_client.Client against a real daemon (HPO_SERVER)."""
import unittest

from hpo_client import Client, HpoError, Unreachable

from . import util


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.c = util.client()

    def test_service(self):
        self.assertEqual(self.c.healthz(), {"status": "ok"})
        self.assertEqual(self.c.version()["name"], "hpod")
        self.assertIn("# TYPE", self.c.metrics())

    def test_create_is_idempotent_and_conflicts(self):
        name = util.name("create")
        s = self.c.create_study(util.spec(name))
        self.assertEqual(s["name"], name)
        self.assertEqual(s["state"], "running")
        self.assertEqual(self.c.create_study(util.spec(name))["name"], name)
        with self.assertRaises(HpoError) as cm:
            self.c.create_study(util.spec(name, max_trials=11))
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "name_taken"))
        self.assertIn(name, [x["name"] for x in self.c.list_studies()])

    def test_bad_spec_names_the_field(self):
        with self.assertRaises(HpoError) as cm:
            self.c.create_study(util.spec(util.name("bad"), max_trials=0))
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("budget.max_trials", cm.exception.message)

    def test_suggest_report_complete(self):
        name = util.name("loop")
        self.c.create_study(util.spec(name, max_trials=2))
        r = self.c.suggest(name, "py:0")
        self.assertEqual(len(r["trials"]), 1)
        t = r["trials"][0]
        self.assertEqual(set(t["params"]), {"x", "n", "act"})
        self.assertIsInstance(t["params"]["n"], int)
        self.assertEqual(self.c.heartbeat(t["id"], "py:0"), "continue")
        self.assertEqual(self.c.report(t["id"], "py:0", 1, 3.0), "continue")
        done = self.c.complete(t["id"], "py:0", 2.5, values={"loss": 2.5, "acc": 0.5})
        self.assertEqual(done["state"], "completed")
        self.assertEqual(done["value"], 2.5)
        self.assertEqual(done["reports"][0]["value"], 3.0)
        # a resend is answered, not refused
        self.assertTrue(self.c.complete(t["id"], "py:0", 2.5)["recorded_before"])
        # another worker cannot finish it
        with self.assertRaises(HpoError) as cm:
            self.c.complete(t["id"], "py:1", 1.0)
        self.assertEqual(cm.exception.status, 409)
        self.assertEqual(self.c.best(name)["id"], t["id"])

    def test_enqueue_is_checked_and_served_first(self):
        name = util.name("enq")
        self.c.create_study(util.spec(name))
        with self.assertRaises(HpoError) as cm:
            self.c.enqueue(name, {"x": 50.0, "n": 1, "act": "relu"})
        self.assertEqual(cm.exception.code, "bad_params")
        q = self.c.enqueue(name, {"x": 1.5, "n": 2, "act": "tanh"})
        self.assertEqual(q["source"], "manual")
        got = self.c.suggest(name, "py:0")["trials"][0]
        self.assertEqual(got["id"], q["id"])
        self.assertEqual(got["params"], {"x": 1.5, "n": 2, "act": "tanh"})

    def test_trials_pages(self):
        name = util.name("pages")
        self.c.create_study(util.spec(name))
        for i in range(5):
            self.c.enqueue(name, {"x": float(i), "n": 1, "act": "relu"})
        page = self.c.trials_page(name, limit=2)
        self.assertEqual(len(page["trials"]), 2)
        self.assertEqual(page["total"], 5)
        self.assertIsNotNone(page["next_after"])
        all_trials = self.c.trials(name)
        self.assertEqual([t["number"] for t in all_trials], [0, 1, 2, 3, 4])
        self.assertEqual(len(self.c.trials(name, state="completed")), 0)
        self.assertIsNone(self.c.best(name))

    def test_pause_resume_delete(self):
        name = util.name("state")
        self.c.create_study(util.spec(name))
        self.assertEqual(self.c.pause(name)["state"], "paused")
        r = self.c.suggest(name, "py:0")
        self.assertEqual((r["trials"], r["study_state"]), ([], "paused"))
        self.assertEqual(self.c.resume(name)["state"], "running")
        self.assertTrue(self.c.delete_study(name)["deleted"])
        with self.assertRaises(HpoError) as cm:
            self.c.get_study(name)
        self.assertEqual(cm.exception.status, 404)

    def test_unreachable(self):
        c = Client("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2)
        with self.assertRaises(Unreachable):
            c.healthz()


if __name__ == "__main__":
    unittest.main()

"""Run contrib/python's own unit tests against a real hpod started on port 0.

Each unittest case becomes one TAP line.
"""
import os
import sys
import unittest

from hpotest import TOP_SRCDIR, Daemon, Tap

tap = Tap()
pkg_dir = os.path.join(TOP_SRCDIR, "contrib", "python")
if pkg_dir not in sys.path:
    sys.path.insert(0, pkg_dir)


class TapResult(unittest.TestResult):
    """Print one TAP line per test."""

    def __init__(self):
        super().__init__()
        self.outcome = {}

    def addSuccess(self, test):
        tap.ok(True, test.id())

    def addFailure(self, test, err):
        tap.ok(False, test.id(), self._exc_info_to_string(err, test))

    def addError(self, test, err):
        tap.ok(False, test.id(), self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        tap.n += 1
        print(f"ok {tap.n} - {test.id()} # SKIP {reason}", flush=True)

    def addExpectedFailure(self, test, err):
        tap.ok(True, test.id())

    def addUnexpectedSuccess(self, test):
        tap.ok(False, test.id(), "unexpected success")


with Daemon() as d:
    os.environ["HPO_SERVER"] = d.url
    suite = unittest.defaultTestLoader.discover(os.path.join(pkg_dir, "tests"),
                                                top_level_dir=pkg_dir)
    tap.ok(suite.countTestCases() >= 10, f"found the client's tests ({suite.countTestCases()})")
    suite.run(TapResult())
    if tap.failed:
        tap.diag("hpod log:\n" + d.log()[-3000:])

tap.done()

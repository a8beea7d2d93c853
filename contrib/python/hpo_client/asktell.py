"""Ask/tell on top of hpod: the trial loop of a training script.

    from hpo_client import Study
    study = Study.create(spec)                  # or Study("name") for an existing one
    while (trial := study.ask()) is not None:   # None once the study is finished
        for epoch in range(10):
            loss = train_one_epoch(**trial.params)
            if trial.report(loss, step=epoch) == "prune":
                study.tell(trial, state="pruned")
                break
        else:
            study.tell(trial, loss)

While a trial is out, a background thread sends its heartbeats so that the
lease does not expire however long an epoch takes.
"""
import itertools
import os
import socket
import threading
import time

from .client import Client, HpoError, Unreachable


class StudyFinished(Exception):
    """The study is finished: no more trials will be handed out."""


class Trial:
    """A leased trial: id, number, params, and the worker id that holds it."""

    def __init__(self, study, data, worker):
        self.study = study
        self.data = data
        self.id = data["id"]
        self.number = data["number"]
        self.params = dict(data.get("params") or {})
        self.source = data.get("source")
        self.worker = worker
        self.heartbeat_s = float(data.get("heartbeat_s") or 30)
        self.action = "continue"  # last answer of a report or heartbeat
        self.stopped = False  # the daemon said stop (study finished, lease lost)
        self.finished = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"hpo-heartbeat-{self.id}",
                                        daemon=True)
        self._thread.start()

    def _beat(self):
        client = self.study.client
        interval = max(0.05, self.heartbeat_s)
        while not self._stop.wait(interval):
            try:
                if client.heartbeat(self.id, self.worker) == "stop":
                    self.stopped = True
            except HpoError as e:
                if e.status == 409:
                    self.stopped = True
                    return
            except Unreachable:
                pass  # keep trying; the lease survives a few missed beats

    def _end(self):
        self._stop.set()
        self.finished = True

    def report(self, value, step, values=None):
        """Send an intermediate value; returns "continue" or "prune"."""
        try:
            self.action = self.study.client.report(self.id, self.worker, step, value, values)
        except HpoError as e:
            if e.status != 409:
                raise
            self.stopped = True
            self.action = "prune"
        return self.action

    def should_prune(self):
        """True once the daemon answered a report with prune, or wants the trial stopped."""
        return self.action == "prune" or self.stopped

    def __repr__(self):
        return f"Trial(id={self.id}, number={self.number}, params={self.params!r})"


_instances = itertools.count()


def _default_worker():
    """host-pid, and -N for the N-th Study after the first in this process, so
    that two Study objects never share a worker id (hpod hands a worker that
    asks again its running trial back)."""
    n = next(_instances)
    base = f"{socket.gethostname()}-{os.getpid()}"
    return base if n == 0 else f"{base}-{n}"


class Study:
    """A study on an hpod daemon, seen from a training script."""

    def __init__(self, name, client=None, worker=None, wait_s=20.0, rename_on_cut_off=False):
        self.name = name
        self.client = client or Client()
        base = worker or os.environ.get("HPO_WORKER") or _default_worker()
        self.worker_base = base
        self._first_base = base
        self.wait_s = wait_s
        # A worker whose last trials failed is cut off for a while (429). With
        # rename_on_cut_off, ask() goes on at once under a new worker id instead
        # of waiting: for callers that expect failures and decide themselves.
        self.rename_on_cut_off = rename_on_cut_off
        self._renames = 0
        self._slots = set()  # slot numbers of trials that are out
        self._lock = threading.Lock()

    @classmethod
    def create(cls, spec, client=None, **kw):
        """Create (or, with the same spec, reuse) a study and return it."""
        client = client or Client()
        client.create_study(spec)
        return cls(spec["name"], client=client, **kw)

    def _take_slot(self):
        with self._lock:
            n = 0
            while n in self._slots:
                n += 1
            self._slots.add(n)
            return n

    def _give_slot(self, worker):
        slot = int(worker.rsplit(":", 1)[1])
        with self._lock:
            self._slots.discard(slot)

    def ask(self, wait=True):
        """Lease the next trial. Waits (long-polls) while none can be handed out
        yet; returns None when the study is finished, or when wait is False
        and no trial is ready now."""
        slot = self._take_slot()
        worker = f"{self.worker_base}:{slot}"
        try:
            while True:
                try:
                    reply = self.client.suggest(self.name, worker, 1,
                                                self.wait_s if wait else 0)
                except HpoError as e:
                    if e.status == 429 and e.code == "worker_cut_off" and self.rename_on_cut_off:
                        self._give_slot(worker)
                        with self._lock:
                            self._renames += 1
                            self.worker_base = f"{self._first_base}~{self._renames}"
                        slot = self._take_slot()
                        worker = f"{self.worker_base}:{slot}"
                        continue
                    if e.status == 429 and wait:
                        time.sleep(e.retry_after or 5)
                        continue
                    raise
                if reply["trials"]:
                    return Trial(self, reply["trials"][0], worker)
                if reply["study_state"] == "finished" or not wait:
                    self._give_slot(worker)
                    return None
                time.sleep(min(max(reply.get("retry_after_s") or 0, 0), 30))
        except BaseException:
            self._give_slot(worker)
            raise

    def tell(self, trial, value=None, state=None, values=None, error=None):
        """Finish a trial. state: completed (default when value is given), failed
        or pruned (default when value is None). Returns the finished trial, or
        None when the daemon had already taken the trial back (409)."""
        if state is None:
            state = "completed" if value is not None else "pruned"
        trial._end()
        try:
            return self.client.complete(trial.id, trial.worker, value, state, values, error)
        except HpoError as e:
            if e.status == 409:
                return None
            raise
        finally:
            self._give_slot(trial.worker)

    def run(self, objective, n_trials=None):
        """Call objective(trial) -> value for each trial until the study finishes
        (or n_trials ran). An exception fails the trial and is raised again."""
        done = 0
        while n_trials is None or done < n_trials:
            trial = self.ask()
            if trial is None:
                break
            try:
                value = objective(trial)
            except Exception as e:
                self.tell(trial, state="failed", error=f"{type(e).__name__}: {e}")
                raise
            self.tell(trial, value, state="pruned" if value is None else "completed")
            done += 1
        return done

    def info(self):
        return self.client.get_study(self.name)

    def best(self):
        return self.client.best(self.name)

    def trials(self, state=None):
        return self.client.trials(self.name, state=state)

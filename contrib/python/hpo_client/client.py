"""A thin client for hpod's REST API (standard library only).

    from hpo_client import Client
    c = Client("http://127.0.0.1:8080")          # or HPO_SERVER / HPO_TOKEN
    c.create_study({"name": "demo", "params": [...]})
    reply = c.suggest("demo", worker="me:0", wait_s=20)
    for t in reply["trials"]:
        c.report(t["id"], "me:0", step=1, value=0.5)
        c.complete(t["id"], "me:0", value=0.25)

Every method returns the decoded JSON answer. A refusal by the daemon raises
HpoError (status, code, message); a daemon that cannot be reached raises
Unreachable once the retries are used up.
"""
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_SERVER = "http://127.0.0.1:8080"


class HpoError(Exception):
    """hpod answered with an error: status, code and message from its JSON body."""

    def __init__(self, status, code, message, retry_after=None, body=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.body = body


class Unreachable(Exception):
    """hpod could not be reached (connection refused, timeout, DNS ...)."""


def _quote(segment):
    return urllib.parse.quote(str(segment), safe="")


class Client:
    """One hpod daemon. server: base URL (default HPO_SERVER, else
    http://127.0.0.1:8080); token: bearer token (default HPO_TOKEN); retries:
    how many times a call that could not reach the daemon is tried again, with
    a doubling delay starting at backoff seconds."""

    def __init__(self, server=None, token=None, timeout=60.0, retries=5, backoff=0.5):
        self.server = (server or os.environ.get("HPO_SERVER") or DEFAULT_SERVER).rstrip("/")
        self.token = token if token is not None else (os.environ.get("HPO_TOKEN") or None)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    # ---- transport ----

    def request(self, method, path, body=None, query=None, timeout=None, retry=True):
        """Send one request; the decoded JSON answer (or text for text/plain)."""
        url = self.server + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        delay = self.backoff
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                    return self._decode(r.read(), r.headers.get("Content-Type", ""))
            except urllib.error.HTTPError as e:
                raw = e.read()
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = {}
                err = parsed.get("error", {}) if isinstance(parsed, dict) else {}
                ra = e.headers.get("Retry-After") if e.headers else None
                if e.code == 503 and attempt + 1 < attempts:
                    # storage busy or unavailable for a moment: wait as told
                    time.sleep(min(float(ra) if ra else delay, 30.0))
                    delay = min(delay * 2, 30.0)
                    continue
                raise HpoError(e.code, err.get("code", "http_%d" % e.code),
                               err.get("message", raw.decode(errors="replace")[:200]),
                               float(ra) if ra else None, parsed) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                if attempt + 1 >= attempts:
                    raise Unreachable(f"cannot reach hpod at {self.server}: "
                                      f"{getattr(e, 'reason', e)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise Unreachable(f"cannot reach hpod at {self.server}")

    @staticmethod
    def _decode(raw, content_type):
        if content_type.startswith("application/json"):
            return json.loads(raw)
        return raw.decode(errors="replace")

    # ---- studies ----

    def create_study(self, spec):
        """Create a study from a spec (dict); the study. The same spec again is
        fine (idempotent); another spec under the same name raises HpoError 409."""
        return self.request("POST", "/api/v1/studies", spec)

    def list_studies(self):
        return self.request("GET", "/api/v1/studies")["studies"]

    def get_study(self, name):
        return self.request("GET", f"/api/v1/studies/{_quote(name)}")

    def set_study_state(self, name, state):
        """state: running, paused or finished."""
        return self.request("PATCH", f"/api/v1/studies/{_quote(name)}", {"state": state})

    def pause(self, name):
        return self.set_study_state(name, "paused")

    def resume(self, name):
        return self.set_study_state(name, "running")

    def delete_study(self, name):
        return self.request("DELETE", f"/api/v1/studies/{_quote(name)}")

    def trials_page(self, name, state=None, after=None, limit=None, source=None, order=None):
        """One page: {"trials": [...], "next_after": n or None, "total": n}."""
        return self.request("GET", f"/api/v1/studies/{_quote(name)}/trials",
                            query={"state": state, "after": after, "limit": limit,
                                   "source": source, "order": order})

    def trials(self, name, state=None, source=None):
        """Every trial of a study (following next_after), in number order."""
        out, after = [], None
        while True:
            page = self.trials_page(name, state=state, after=after, limit=1000, source=source)
            out.extend(page["trials"])
            after = page.get("next_after")
            if after is None:
                return out

    def best(self, name):
        """The best completed trial, or None when none has completed yet."""
        try:
            return self.request("GET", f"/api/v1/studies/{_quote(name)}/best")
        except HpoError as e:
            if e.status == 404 and e.code == "no_trials":
                return None
            raise

    def enqueue(self, name, params):
        """Queue a trial with these parameters; the pending trial."""
        return self.request("POST", f"/api/v1/studies/{_quote(name)}/trials",
                            {"params": params}, retry=False)

    def llm_calls(self, name, after=None, limit=None):
        return self.request("GET", f"/api/v1/studies/{_quote(name)}/llm-calls",
                            query={"after": after, "limit": limit})

    # ---- the worker side ----

    def suggest(self, name, worker, count=1, wait_s=0):
        """Lease up to count trials: {"trials", "study_state", "retry_after_s"}."""
        body = {"worker": worker, "count": count}
        if wait_s:
            body["wait_s"] = wait_s
        return self.request("POST", f"/api/v1/studies/{_quote(name)}/suggest", body,
                            timeout=max(self.timeout, wait_s + 30))

    def get_trial(self, trial_id):
        return self.request("GET", f"/api/v1/trials/{int(trial_id)}")

    def heartbeat(self, trial_id, worker):
        """"continue" or "stop"."""
        return self.request("POST", f"/api/v1/trials/{int(trial_id)}/heartbeat",
                            {"worker": worker})["action"]

    def report(self, trial_id, worker, step, value=None, values=None):
        """An intermediate value at step; "continue" or "prune"."""
        body = {"worker": worker, "step": int(step)}
        if value is not None:
            body["value"] = float(value)
        if values:
            body["values"] = values
        return self.request("POST", f"/api/v1/trials/{int(trial_id)}/report", body)["action"]

    def complete(self, trial_id, worker, value=None, state="completed", values=None, error=None):
        """Finish a trial (completed, failed or pruned); the finished trial."""
        body = {"worker": worker, "state": state}
        if value is not None:
            body["value"] = float(value)
        if values:
            body["values"] = values
        if error is not None:
            body["error"] = str(error)
        return self.request("POST", f"/api/v1/trials/{int(trial_id)}/complete", body)

    # ---- service ----

    def version(self):
        return self.request("GET", "/api/v1/version")

    def healthz(self):
        return self.request("GET", "/healthz")

    def metrics(self):
        return self.request("GET", "/metrics")

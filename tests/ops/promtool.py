"""`promtool check metrics` (Debian package prometheus) passes a /metrics
scrape taken after real traffic: requests on many routes, a study run to the
end, an expired lease, an offloaded request. The counters a dashboard alerts
on are there before their first event, at 0; request latency is in seconds
with fractional sums; every metric has HELP and TYPE.

promtool must refuse a scrape in the old shapes (a counter without _total, a
metric without HELP, a unit abbreviated), so that its pass means something.
"""
import re
import shutil
import subprocess
import time

from hpotest import Daemon, Tap, http, simple_spec, wait_until

tap = Tap()
promtool = shutil.which("promtool")
if not promtool:
    tap.skip_all("promtool not installed (apt-get install prometheus)")


def check(text):
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def value(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


with Daemon() as d:
    st, fresh, _ = http(d.url + "/metrics")
    tap.eq(value(fresh, "hpod_lease_expired_total"), 0.0,
           "hpod_lease_expired_total is 0 from the start")
    tap.eq(value(fresh, "hpod_offloaded_requests_total"), 0.0,
           "hpod_offloaded_requests_total is 0 from the start")
    rc, out = check(fresh)
    tap.ok(rc == 0 and not out, "promtool passes the scrape of a fresh daemon", out)

    spec = simple_spec("prom", max_trials=4)
    spec["lease"] = {"heartbeat_s": 1, "stale_after": 1, "max_retries": 2}
    d.call("POST", "/api/v1/studies", spec)
    d.call("GET", "/api/v1/studies/nope")
    # a lease left to expire
    st, s = d.call("POST", "/api/v1/studies/prom/suggest", {"worker": "lost:0"})
    expired = wait_until(lambda: value(http(d.url + "/metrics")[1],
                                       "hpod_lease_expired_total") == 1.0, timeout=20)
    tap.ok(expired, "an expired lease counts in hpod_lease_expired_total")
    for i in range(8):
        st, s = d.call("POST", "/api/v1/studies/prom/suggest", {"worker": "w:0", "wait_s": 2})
        if not s.get("trials"):
            break
        t = s["trials"][0]
        d.call("POST", f"/api/v1/trials/{t['id']}/report", {"worker": "w:0", "step": 1,
                                                             "value": 1.0})
        d.call("POST", f"/api/v1/trials/{t['id']}/complete", {"worker": "w:0", "value": 0.5})
    d.call("GET", "/api/v1/studies/prom/export")
    d.call("GET", "/api/v1/studies")
    time.sleep(0.2)
    st, text, _ = http(d.url + "/metrics")
    rc, out = check(text)
    tap.ok(rc == 0 and not out, "promtool passes the scrape after traffic", out)
    names = set(re.findall(r"^([a-z_]+)(?:\{| )", text, re.M))
    helped = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    typed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    bare = {re.sub(r"_(bucket|sum|count)$", "", n) if typed.get(
        re.sub(r"_(bucket|sum|count)$", "", n)) == "histogram" else n for n in names}
    tap.ok(bare and bare <= helped and bare <= set(typed),
           "every metric has HELP and TYPE lines", bare - (helped & set(typed)))
    tap.eq(typed.get("hpod_http_request_duration_seconds"), "histogram",
           "request latency is the histogram hpod_http_request_duration_seconds")
    sums = [float(v) for v in re.findall(
        r'^hpod_http_request_duration_seconds_sum\{[^}]*\} (\S+)$', text, re.M)]
    tap.ok(sums and all(0 < v < 60 for v in sums) and any(v != int(v) for v in sums),
           "its sums are fractional seconds, none 0", sums[:8])
    tap.ok(re.search(r'^hpod_llm_tokens_total\{study="prom",direction="in"\} 0$', text, re.M),
           "hpod_llm_tokens_total is a counter named with _total")
    tap.ok(value(text, "hpod_offloaded_requests_total") >= 1,
           "the export counts in hpod_offloaded_requests_total")

old = """# HELP hpod_http_request_duration_ms Request latency in milliseconds.
# TYPE hpod_http_request_duration_ms histogram
hpod_http_request_duration_ms_bucket{route="healthz",status="200",le="1"} 1
hpod_http_request_duration_ms_bucket{route="healthz",status="200",le="+Inf"} 1
hpod_http_request_duration_ms_sum{route="healthz",status="200"} 0.000
hpod_http_request_duration_ms_count{route="healthz",status="200"} 1
# TYPE hpod_lease_expired_total counter
hpod_lease_expired_total 1
# HELP hpod_llm_tokens LLM tokens used by study and direction.
# TYPE hpod_llm_tokens counter
hpod_llm_tokens{study="s",direction="in"} 300
"""
rc, out = check(old)
tap.ok(rc != 0 and "hpod_llm_tokens" in out and "_total" in out,
       "promtool refuses a counter without _total", out)
tap.ok("hpod_lease_expired_total no help text" in out, "and a metric without help text", out)
tap.ok("hpod_http_request_duration_ms" in out and "abbreviated" in out,
       "and an abbreviated unit", out)
tap.done()

#!/usr/bin/python3
"""TAP test of the scripted fake LLM server itself (tests/fake-llm/fakellm.py),
so that the daemon's tests can rely on it: script from a file, both wire
formats, usage counts, error steps, random valid configurations, request log."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TOP = os.environ.get("TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FAKE = os.path.join(TOP, "tests", "fake-llm", "fakellm.py")

SPACE = [
    {"name": "C", "type": "float", "low": 0.001, "high": 1000, "log": True},
    {"name": "kernel", "type": "categorical", "choices": ["rbf", "poly"]},
    {"name": "degree", "type": "int", "low": 2, "high": 5, "when": {"kernel": ["poly"]}},
    {"name": "n", "type": "int", "low": 8, "high": 64, "step": 8},
]

results = []


def check(ok, name):
    results.append((bool(ok), name))


def post(url, obj, headers=None):
    data = json.dumps(obj).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def main():
    script = {"steps": [{"config": {"C": 1.5}, "usage": [11, 3]},
                        {"reply": "hello", "model": "other"},
                        {"status": 429, "retry_after": 2}],
              "default": {"mode": "random_valid", "space": SPACE}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(script, f)
        path = f.name
    proc = subprocess.Popen([sys.executable, FAKE, path], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        check(line.startswith("fakellm listening on http://127.0.0.1:"), "prints its address")
        base = line.rsplit(" ", 1)[-1]
        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

        st, _, body = post(base + "/v1/chat/completions", chat, {"Authorization": "Bearer k1"})
        check(st == 200 and body["choices"][0]["message"]["content"] == '{"C": 1.5}',
              "openai step answers the config as JSON text")
        check(body["usage"]["prompt_tokens"] == 11 and body["usage"]["completion_tokens"] == 3,
              "openai usage as scripted")

        st, _, body = post(base + "/v1/messages", dict(chat, max_tokens=10), {"x-api-key": "k2"})
        check(st == 200 and body["content"][0]["text"] == "hello" and body["model"] == "other",
              "anthropic step answers text blocks")

        st, headers, body = post(base + "/v1/chat/completions", chat)
        check(st == 429 and headers.get("Retry-After") == "2", "status step with Retry-After")

        valid = True
        for _ in range(30):
            st, _, body = post(base + "/v1/chat/completions", chat)
            cfg = json.loads(body["choices"][0]["message"]["content"])
            if not (0.001 <= cfg["C"] <= 1000 and cfg["kernel"] in ("rbf", "poly")
                    and ("degree" in cfg) == (cfg["kernel"] == "poly")
                    and cfg["n"] % 8 == 0 and 8 <= cfg["n"] <= 64):
                valid = False
        check(valid, "random_valid default honours ranges, steps and conditions")

        reqs = get(base + "/_requests")
        check(len(reqs) == 33, "every chat request is logged (%d)" % len(reqs))
        check(reqs[0]["headers"].get("authorization") == "Bearer k1"
              and reqs[1]["headers"].get("x-api-key") == "k2", "headers are logged")
        check(reqs[1]["body"]["max_tokens"] == 10, "bodies are logged as JSON")

        post(base + "/_script", {"steps": [], "reject_response_format": True})
        st, _, body = post(base + "/v1/chat/completions",
                           dict(chat, response_format={"type": "json_object"}))
        check(st == 400 and "response_format" in body["error"]["message"],
              "reject_response_format refuses JSON mode")
        st, _, body = post(base + "/v1/chat/completions", chat)
        check(st == 500 and "exhausted" in body["error"]["message"],
              "an exhausted script without a default answers 500")
        check(len(get(base + "/_requests")) == 2, "/_script clears the log")

        # reasoning forms, usage omitted, a dated model name
        post(base + "/_script", {"steps": [
            {"config": {"C": 2}, "think": "draft {\"C\": 9}", "usage": False,
             "model": "m-2024-07-18"},
            {"config": {"C": 3}, "reasoning": "I think 3"},
            {"config": {"C": 4}, "reasoning": "hmm"}]})
        st, _, body = post(base + "/v1/chat/completions", chat)
        msg = body["choices"][0]["message"]
        check(msg["content"] == '<think>draft {"C": 9}</think>\n{"C": 2}' and "usage" not in body
              and body["model"] == "m-2024-07-18", "think step, usage false, dated model")
        st, _, body = post(base + "/v1/chat/completions", chat)
        msg = body["choices"][0]["message"]
        check(msg["reasoning_content"] == "I think 3" and msg["content"] == '{"C": 3}',
              "openai reasoning_content")
        st, _, body = post(base + "/v1/messages", dict(chat, max_tokens=10))
        check([b["type"] for b in body["content"]] == ["thinking", "text"]
              and body["content"][0]["thinking"] == "hmm", "anthropic thinking block")

        # forced tool calls and answers valid by the sent schema
        schema = {"type": "object", "properties": {
            "reasoning": {"type": "string"},
            "C": {"type": "number", "minimum": 0.5, "maximum": 2},
            "kernel": {"enum": ["rbf", "poly"]},
            "degree": {"type": "integer", "minimum": 2, "maximum": 5}},
            "required": ["reasoning", "C", "kernel"], "additionalProperties": False,
            "allOf": [{"if": {"properties": {"kernel": {"enum": ["poly"]}},
                              "required": ["kernel"]},
                       "then": {"required": ["degree"]},
                       "else": {"not": {"required": ["degree"]}}}]}
        post(base + "/_script", {"steps": [], "default": {"mode": "schema_valid"}})
        ok = True
        for _ in range(20):
            st, _, body = post(base + "/v1/chat/completions", dict(chat, response_format={
                "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
            cfg = json.loads(body["choices"][0]["message"]["content"])
            ok = ok and 0.5 <= cfg["C"] <= 2 and cfg["kernel"] in ("rbf", "poly") and \
                ("degree" in cfg) == (cfg["kernel"] == "poly") and \
                isinstance(cfg["reasoning"], str)
        check(ok, "schema_valid answers values valid by the sent schema")
        st, _, body = post(base + "/v1/messages", dict(
            chat, max_tokens=10, tools=[{"name": "t", "input_schema": schema}],
            tool_choice={"type": "tool", "name": "t"}))
        blk = body["content"][0]
        check(st == 200 and blk["type"] == "tool_use" and blk["name"] == "t"
              and 0.5 <= blk["input"]["C"] <= 2 and body["stop_reason"] == "tool_use",
              "a forced tool call is answered by tool_use with the config as input")
        st, _, body = post(base + "/v1/chat/completions", chat)
        check(st == 400, "schema_valid without a schema in the request: 400")
        post(base + "/_script", {"steps": [], "default": {"mode": "random_valid"}})
        st, _, body = post(base + "/v1/chat/completions", dict(chat, guided_json=schema))
        cfg = json.loads(body["choices"][0]["message"]["content"])
        check(st == 200 and 0.5 <= cfg["C"] <= 2 and cfg["kernel"] in ("rbf", "poly"),
              "random_valid without a space follows the request's schema")

        # "aim": a note on each configuration (several objectives)
        post(base + "/_script", {"steps": [
            {"config": {"C": 1}, "aim": "fast"},
            {"configs": [{"C": 2}, {"C": 3}], "aim": "accurate"},
            {"mode": "random_valid", "space": SPACE, "aim": "a gap"}]})
        answers = []
        for _ in range(3):
            st, _, body = post(base + "/v1/chat/completions", chat)
            answers.append(json.loads(body["choices"][0]["message"]["content"]))
        check(answers[0] == {"aim": "fast", "C": 1} and
              answers[1] == {"configs": [{"aim": "accurate", "C": 2},
                                         {"aim": "accurate", "C": 3}]} and
              answers[2]["aim"] == "a gap" and "kernel" in answers[2],
              "aim is added to each configuration of config, configs and random_valid")

        # json_schema refused, json_object accepted
        post(base + "/_script", {"steps": [], "default": {"config": {"C": 1}},
                                 "reject_json_schema": True})
        st, _, body = post(base + "/v1/chat/completions", dict(chat, response_format={
            "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
        check(st == 400 and "json_schema" in body["error"]["message"],
              "reject_json_schema refuses a json_schema request")
        st, _, body = post(base + "/v1/chat/completions", dict(chat, guided_json=schema))
        check(st == 400, "reject_json_schema refuses guided_json too")
        st, _, body = post(base + "/v1/chat/completions",
                           dict(chat, response_format={"type": "json_object"}))
        check(st == 200, "reject_json_schema accepts json_object")

        # latency: fixed, and a seeded heavy tail within bounds
        post(base + "/_script", {"steps": [], "default": {"config": {"C": 1}}, "latency": 0.3})
        t0 = time.monotonic()
        post(base + "/v1/chat/completions", chat)
        check(time.monotonic() - t0 >= 0.3, "fixed latency delays the answer")
        # the heavy tail itself, drawn without sleeping
        sys.path.insert(0, os.path.dirname(FAKE))
        import fakellm  # pylint: disable=import-outside-toplevel
        draws = []
        for seed in (7, 7, 8):
            sc = fakellm.Script()
            sc.load({"seed": seed, "latency": {"dist": "heavy", "min": 2, "max": 60}})
            draws.append([sc.latency_s() for _ in range(2000)])
        a = draws[0]
        med = sorted(a)[len(a) // 2]
        check(min(a) >= 2 and max(a) <= 60, "heavy latency stays within [min, max]")
        check(draws[0] == draws[1] and draws[0] != draws[2], "heavy latency is seeded")
        check(med < 4 and sum(a) / len(a) > med * 1.3 and sum(x > 30 for x in a) >= 10,
              "heavy latency: most answers fast, a long tail up to the max "
              "(median %.1f s, mean %.1f s)" % (med, sum(a) / len(a)))
    finally:
        proc.terminate()
        proc.wait()
        os.unlink(path)

    print("1..%d" % len(results))
    for i, (ok, name) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())

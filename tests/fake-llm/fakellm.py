#!/usr/bin/python3
"""A scripted stand-in for an LLM provider, for tests.

Speaks the OpenAI chat-completions format (POST .../chat/completions) and the
Anthropic messages format (POST .../messages) on 127.0.0.1, port 0 by default,
and prints "fakellm listening on http://127.0.0.1:PORT" once it accepts
requests. Standard library only.

Usage: fakellm.py [SCRIPT.json] [--port N]

A script is a JSON list of steps, or an object {"steps": [...], "default":
STEP, "reject_response_format": false, "seed": 1}. Each request to a chat
endpoint consumes the next step; once they run out the default step answers
(an HTTP 500 when there is none). A step is one of:

  {"reply": "text"}                 answer this text
  {"config": {...}}                 answer the object as JSON text
  {"configs": [{...}, ...]}         answer {"configs": [...]} as JSON text
  {"status": 429, "retry_after": 1, "body": {...}}   an HTTP error status
  {"fault": "timeout", "seconds": 5}    wait, then answer (past the client timeout)
  {"fault": "slow_drip", "delay": 0.2}  send the body one byte per delay
  {"fault": "reset"}                close the connection without an answer
  {"fault": "malformed"}            a 200 whose body is not JSON
  {"fault": "truncated"}            a 200 whose JSON body is cut in half
  {"fault": "short_body"}           Content-Length promises more than is sent
  {"fault": "empty_choices"}        a well-formed answer with no choices/content
  {"fault": "huge", "mb": 5}        a 200 with a body of that many MiB
  {"fault": "echo_key"}             a 401 whose message repeats the API key sent
  {"mode": "random_valid", "space": [params as in a study spec]}
                                    answer a random configuration valid in the space
                                    (without "space": valid by the request's schema)
  {"mode": "schema_valid"}          answer a random value valid by the JSON Schema the
                                    request sent (response_format json_schema,
                                    guided_json, format, or the forced tool's
                                    input_schema); a 400 when it sent none

Any answering step may add "delay": seconds (wait before answering),
"usage": [prompt_tokens, completion_tokens] or "usage": false (no usage in
the answer), "model": "name" (the model the answer names, e.g. a dated
snapshot), "think": "text" (the content starts with <think>text</think>),
"reasoning": "text" (OpenAI: a reasoning_content field; Anthropic: a
thinking block before the text) and "no_tool": true (answer an Anthropic
forced tool call with plain text instead of a tool_use block) and "aim":
"text" (each configuration answered by "config", "configs" or "random_valid"
gets an "aim" field with this text, the trade-off a configuration of a study
with several objectives aims at; "schema_valid" fills a required "aim" from
the schema like any string). An Anthropic
request with a forced tool choice is otherwise answered by a tool_use block
whose input is the answer's JSON.

Script-level options: "reject_response_format": true answers a request
carrying response_format with a 400 naming it; "reject_json_schema": true
answers a request constrained by a JSON Schema (response_format json_schema,
guided_json, a schema in format, or tools) with a 400 and accepts
response_format json_object; neither consumes a step. "latency": seconds, or
{"dist": "heavy", "min": 2, "max": 60} (a Pareto tail cut to [min, max],
drawn from the script's seed), delays every chat answer besides the steps'
own "delay". "usage": false omits usage from every answer.

Control endpoints: POST /_script (replace the script, clear the log),
GET /_requests (every chat request so far: path, headers, body, time),
GET /_stats (requests, max_in_flight), POST /_reset (clear the log).
"""

import json
import math
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    def __init__(self):
        self.lock = threading.Lock()
        self.load([])

    def load(self, obj):
        with self.lock:
            if isinstance(obj, list):
                obj = {"steps": obj}
            self.steps = list(obj.get("steps", []))
            self.default = obj.get("default")
            self.reject_response_format = bool(obj.get("reject_response_format", False))
            self.reject_json_schema = bool(obj.get("reject_json_schema", False))
            self.latency = obj.get("latency")
            self.usage = obj.get("usage", True)
            self.rng = random.Random(obj.get("seed", 1))
            self.requests = []
            self.in_flight = 0
            self.max_in_flight = 0

    def next_step(self):
        with self.lock:
            if self.steps:
                return self.steps.pop(0)
            return self.default

    def latency_s(self):
        """Seconds every answer waits, drawn from the script's distribution."""
        with self.lock:
            lat = self.latency
            if lat is None:
                return 0.0
            if isinstance(lat, (int, float)):
                return float(lat)
            lo, hi = float(lat.get("min", 0)), float(lat.get("max", 60))
            if lat.get("dist") == "heavy":
                alpha = float(lat.get("alpha", 1.2))
                u = 1.0 - self.rng.random()
                return min(hi, max(lo, lo / u ** (1.0 / alpha) if lo > 0 else hi * (1 - u)))
            return self.rng.uniform(lo, hi)

    def enter(self, record):
        with self.lock:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self):
        with self.lock:
            self.in_flight -= 1


SCRIPT = Script()


def random_value(p, rng):
    t = p.get("type")
    if t in ("float", "int"):
        lo, hi = float(p["low"]), float(p["high"])
        if p.get("log"):
            x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            x = rng.uniform(lo, hi)
        step = p.get("step")
        if t == "int":
            step = step or 1
        if step:
            k = round((x - lo) / step)
            x = lo + k * step
            while x > hi:
                x -= step
        x = min(max(x, lo), hi)
        return int(round(x)) if t == "int" else x
    if t == "categorical":
        return rng.choice(p["choices"])
    if t == "code":
        return p.get("baseline", "")
    raise ValueError("unknown param type %r" % t)


def random_config(params, rng):
    cfg = {}
    for p in params:
        when = p.get("when")
        if when:
            ok = all(k in cfg and cfg[k] in v for k, v in when.items())
            if not ok:
                continue
        cfg[p["name"]] = random_value(p, rng)
    return cfg


def request_schema(request):
    """The JSON Schema a request constrains its answer to, or None."""
    rf = request.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        return (rf.get("json_schema") or {}).get("schema")
    if isinstance(request.get("guided_json"), dict):
        return request["guided_json"]
    if isinstance(request.get("format"), dict):
        return request["format"]
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        return tools[0].get("input_schema")
    return None


def schema_value(schema, rng):
    """A random value valid by a (small) JSON Schema: what hpod sends."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    t = schema.get("type")
    if t == "object":
        props = schema.get("properties", {})
        out = {}
        for name in schema.get("required", []):
            out[name] = schema_value(props[name], rng)
        for clause in schema.get("allOf", []):
            cond = clause.get("if", {})
            ok = all(k in out and out[k] in v.get("enum", []) for k, v in
                     cond.get("properties", {}).items())
            if ok:
                for name in clause.get("then", {}).get("required", []):
                    out[name] = schema_value(props[name], rng)
        return out
    if t == "array":
        n = schema.get("minItems", 1)
        return [schema_value(schema["items"], rng) for _ in range(n)]
    if t == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 10)))
    if t == "number":
        return rng.uniform(float(schema.get("minimum", 0)), float(schema.get("maximum", 1)))
    if t == "string":
        return "a short note"
    if t == "boolean":
        return rng.random() < 0.5
    return None


def constrained(request):
    """Whether a request asks for a JSON Schema (in any dialect)."""
    return request_schema(request) is not None


def count_tokens(text):
    return max(1, len(text) // 4)


def wrap(fmt, text, request, step):
    model = step.get("model") or request.get("model") or "fake-model"
    usage = step.get("usage")
    if usage:
        tin, tout = usage
    else:
        tin = count_tokens(json.dumps(request.get("messages", "")) + str(request.get("system", "")))
        tout = count_tokens(text)
    no_usage = usage is False or (usage is None and SCRIPT.usage is False)
    if step.get("think") is not None:
        text = "<think>%s</think>\n%s" % (step["think"], text)
    reasoning = step.get("reasoning")
    if fmt == "openai":
        msg = {"role": "assistant", "content": text}
        if reasoning is not None:
            msg["reasoning_content"] = reasoning
        out = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                      "total_tokens": tin + tout},
        }
        if no_usage:
            del out["usage"]
        return out
    content = []
    if reasoning is not None:
        content.append({"type": "thinking", "thinking": reasoning, "signature": "fake"})
    choice = request.get("tool_choice") or {}
    tool_input = None
    if choice.get("type") == "tool" and not step.get("no_tool"):
        try:
            tool_input = json.loads(text)
        except ValueError:
            tool_input = None
    if isinstance(tool_input, dict):
        content.append({"type": "tool_use", "id": "toolu_fake", "name": choice.get("name"),
                        "input": tool_input})
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": text})
        stop = "end_turn"
    out = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "usage": {"input_tokens": tin, "output_tokens": tout},
    }
    if no_usage:
        del out["usage"]
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/_requests":
            with SCRIPT.lock:
                data = list(SCRIPT.requests)
            self.send_json(200, data)
        elif self.path == "/_stats":
            with SCRIPT.lock:
                data = {"requests": len(SCRIPT.requests), "max_in_flight": SCRIPT.max_in_flight,
                        "steps_left": len(SCRIPT.steps)}
            self.send_json(200, data)
        else:
            self.send_json(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        raw = self.read_body()
        if self.path == "/_script":
            try:
                SCRIPT.load(json.loads(raw or b"[]"))
            except (ValueError, AttributeError) as e:
                self.send_json(400, {"error": {"message": str(e)}})
                return
            self.send_json(200, {"ok": True})
            return
        if self.path == "/_reset":
            with SCRIPT.lock:
                SCRIPT.requests = []
                SCRIPT.max_in_flight = 0
            self.send_json(200, {"ok": True})
            return
        if self.path.endswith("/chat/completions"):
            fmt = "openai"
        elif self.path.endswith("/messages"):
            fmt = "anthropic"
        else:
            self.send_json(404, {"error": {"message": "no such path"}})
            return
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        record = {"path": self.path, "format": fmt, "time": time.time(),
                  "headers": {k.lower(): v for k, v in self.headers.items()},
                  "body": request if request is not None else raw.decode("utf-8", "replace")}
        SCRIPT.enter(record)
        self.counted = True
        try:
            self.answer(fmt, request)
        finally:
            self.uncount()

    def uncount(self):
        # a request stops counting as in flight when its answer starts: the
        # client may send its next one as soon as it has read this one, before
        # this thread runs again
        if getattr(self, "counted", False):
            self.counted = False
            SCRIPT.leave()

    def send_response(self, *args, **kwargs):
        self.uncount()
        super().send_response(*args, **kwargs)

    def answer(self, fmt, request):
        if not isinstance(request, dict):
            self.send_json(400, {"error": {"message": "request body is not a JSON object"}})
            return
        if SCRIPT.reject_response_format and "response_format" in request:
            self.send_json(400, {"error": {"message":
                                           "response_format is not supported by this server",
                                           "type": "invalid_request_error"}})
            return
        if SCRIPT.reject_json_schema and constrained(request):
            self.send_json(400, {"error": {"message":
                                           "json_schema is not supported by this server; use "
                                           "response_format json_object",
                                           "type": "invalid_request_error"}})
            return
        step = SCRIPT.next_step()
        if step is None:
            self.send_json(500, {"error": {"message": "fakellm: script exhausted"}})
            return
        lat = SCRIPT.latency_s()
        if lat > 0:
            time.sleep(lat)
        if step.get("delay"):
            time.sleep(float(step["delay"]))
        fault = step.get("fault")
        if "status" in step:
            extra = {}
            if "retry_after" in step:
                extra["Retry-After"] = str(step["retry_after"])
            body = step.get("body") or {"error": {"message": "fake status %d" % step["status"]}}
            self.send_json(int(step["status"]), body, extra)
            return
        if fault == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.connection.close()
            return
        if fault == "malformed":
            self.send_raw(200, b"<html>this is not JSON</html>")
            return
        if fault == "truncated":
            whole = json.dumps(wrap(fmt, '{"x": 1}', request, step)).encode()
            self.send_raw(200, whole[: len(whole) // 2])
            return
        if fault == "short_body":
            whole = json.dumps(wrap(fmt, '{"x": 1}', request, step)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(whole)))
            self.end_headers()
            self.wfile.write(whole[: len(whole) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "empty_choices":
            obj = wrap(fmt, "", request, step)
            if fmt == "openai":
                obj["choices"] = []
            else:
                obj["content"] = []
            self.send_json(200, obj)
            return
        if fault == "huge":
            size = int(float(step.get("mb", 5)) * 1048576)
            self.send_json(200, wrap(fmt, "x" * size, request, step))
            return
        if fault == "echo_key":
            key = self.headers.get("x-api-key") or self.headers.get("Authorization", "")
            self.send_json(401, {"error": {"message": "invalid api key %s" % key,
                                           "type": "authentication_error"}})
            return
        if fault == "timeout":
            time.sleep(float(step.get("seconds", 5)))
            step = {"reply": step.get("reply", "{}")}
        if step.get("mode") == "schema_valid" and request_schema(request) is None:
            self.send_json(400, {"error": {"message": "fakellm: schema_valid step, but the "
                                           "request sent no JSON Schema"}})
            return
        text = self.step_text(step, request)
        body = json.dumps(wrap(fmt, text, request, step)).encode()
        if fault == "slow_drip":
            delay = float(step.get("delay_per_byte", step.get("drip", 0.2)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(delay)
            return
        self.send_raw(200, body)

    def step_text(self, step, request=None):
        if step.get("mode") == "schema_valid" or (
                step.get("mode") == "random_valid" and "space" not in step and
                request_schema(request or {}) is not None):
            with SCRIPT.lock:
                value = schema_value(request_schema(request), SCRIPT.rng)
            return json.dumps(value)
        if "reply" in step:
            return step["reply"]
        aim = step.get("aim")

        def noted(cfg):
            return dict({"aim": aim}, **cfg) if aim is not None else cfg
        if "config" in step:
            return json.dumps(noted(step["config"]))
        if "configs" in step:
            return json.dumps({"configs": [noted(c) for c in step["configs"]]})
        if step.get("mode") == "random_valid":
            with SCRIPT.lock:
                cfg = random_config(step["space"], SCRIPT.rng)
            return json.dumps(noted(cfg))
        return "{}"

    def send_raw(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that time out or are reset on purpose: nothing to report
        pass


def main(argv):
    port = 0
    script = None
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == "--port":
            port = int(args.pop(0))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            script = a
    if script:
        with open(script) as f:
            SCRIPT.load(json.load(f))
    server = Server(("127.0.0.1", port), Handler)
    print("fakellm listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

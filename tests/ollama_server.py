"""A small, faithful Ollama server for tests and benchmarks (no model: deterministic text from prompt and seed).

It speaks Ollama's wire protocol as the official `ollama` client sees it (see shared/FACTS.md, "Ollama"):
POST /api/generate and /api/chat (non-streaming JSON and streaming NDJSON, chunked), GET /api/tags, POST /api/show
(with model_info), GET /api/ps, GET /api/version, HEAD and GET / ("Ollama is running"), and the OpenAI-compatible
POST /v1/chat/completions (JSON or SSE with `stream: true`) and GET /v1/models. Errors carry Ollama's status codes
and texts: unknown model 404, queue full 503, bad JSON 400, mid-stream `{"error": ...}` lines with HTTP 200.

Knobs: latency per request (and per token), parallel slots with a bounded queue (beyond it: 503), injected faults
(503 / 500 / slow reply / dropped connection / mid-stream error) at a seeded rate or from a function of the request
number, installed models, a model load time, "chatty" replies (preambles, fences, sign-offs) for the reply cleaner,
and replies that ignore a JSON schema. It records stats: requests seen, max concurrent in flight, per-request timings.
Two test-only endpoints, `GET /_stats` and `POST /_reset`, expose them to other processes.

    with OllamaServer(latency=0.2, parallel=8) as srv:    # 127.0.0.1, a free port
        ollama.Client(srv.url, timeout=10).generate("llama3.1:8b", "a haiku", options={"seed": 1})
        srv.stats.max_in_flight

    python tests/ollama_server.py --port 11500 --latency 0.2 --parallel 8     # for benchmarks and browser tests
"""
from __future__ import annotations
import argparse, hashlib, json, random, re, select, socket, threading, time, uuid
from collections import Counter
from dataclasses import dataclass, field, asdict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ['OllamaServer', 'ServerStats', 'DEFAULT_MODELS', 'FAULTS', 'free_port', 'make_text']

DEFAULT_MODELS = ("llama3.1:8b", "qwen2.5:7b")
FAULTS = ("503", "500", "slow", "drop", "midstream")
BUSY = "server busy, please try again.  maximum pending requests exceeded"
RUN_ERROR = "an error was encountered while running the model: unexpected EOF"
GEN_PATHS = ("/api/generate", "/api/chat", "/v1/chat/completions")

def free_port() -> int:
    "A TCP port on 127.0.0.1 with nothing listening on it (for 'server down' tests)."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _now() -> str: return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")

def _full_name(name: str) -> str: return name if ":" in name else f"{name}:latest"

# ---------------------------------------------------------------------------------------------------------------------
# Deterministic text: a seeded mini-generator whose paragraph varies with the prompt and the seed.
_STOP = set("a an the and or but of to in on at for with about from by as is are was be this that these those it its "
            "write short long one two three some any each every into than then them they their there here your you "
            "please give make create generate describe explain tell list sample text paragraph words word about style audience tone using".split())
_OPEN = ["In the early morning", "Every season", "Most people agree that", "Some say", "Long ago", "By the river",
         "At the end of the day", "Without a doubt", "Now and then", "Once in a while", "Step by step", "After a while"]
_SUBJ = ["the old baker", "a curious child", "the quiet village", "our neighbour", "the small team", "a patient teacher",
         "the traveller", "the young gardener", "a careful cook", "the little robot", "my grandmother", "the captain"]
_VERB = ["discovers", "remembers", "prepares", "explains", "finds", "builds", "carries", "watches", "follows", "shares",
         "mixes", "paints", "opens", "gathers", "notices", "describes"]
_ADJ = ["warm", "bright", "gentle", "simple", "golden", "fresh", "quiet", "sudden", "careful", "tiny", "ancient",
        "crisp", "soft", "clever", "humble", "steady"]
_NOUN = ["bread", "garden", "letter", "storm", "recipe", "lantern", "harbour", "forest", "kitchen", "song", "journey",
         "window", "market", "mountain", "secret", "promise", "map", "clock"]
_TAIL = ["before the sun goes down", "with a smile", "for the whole family", "as the rain begins", "one more time",
         "while the kettle sings", "under the old bridge", "in a single afternoon", "without saying a word",
         "just as everyone hoped", "and nothing is the same again", "with great care"]

def _topic_words(prompt: str) -> list[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", prompt)]
    return [w for w in words if w not in _STOP][:12] or ["story"]

def _sentence(rng: random.Random, topic: list[str]) -> str:
    t = rng.choice(topic)
    forms = [lambda: f"{rng.choice(_OPEN)}, {rng.choice(_SUBJ)} {rng.choice(_VERB)} a {rng.choice(_ADJ)} {t} {rng.choice(_TAIL)}",
             lambda: f"{rng.choice(_SUBJ).capitalize()} {rng.choice(_VERB)} the {rng.choice(_ADJ)} {rng.choice(_NOUN)} and the {t}",
             lambda: "The {} is {} and {}, like".format(t, *rng.sample(_ADJ, 2)) + f" a {rng.choice(_NOUN)} {rng.choice(_TAIL)}",
             lambda: f"{rng.choice(_OPEN)}, the {rng.choice(_ADJ)} {t} {rng.choice(_VERB)} {rng.choice(_SUBJ)} {rng.choice(_TAIL)}",
             lambda: f"Nobody forgets how {rng.choice(_SUBJ)} {rng.choice(_VERB)} a {t} {rng.choice(_TAIL)}"]
    s = rng.choice(forms)()
    return s[0].upper() + s[1:] + rng.choice([".", ".", ".", "!"])

def _rng(*parts) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big"))

def make_text(prompt: str, seed, num_predict: int | None = 150, model: str = "") -> tuple[str, bool]:
    "Deterministic text for (`prompt`, `seed`): about `num_predict` words at most; `True` when it stopped at the limit."
    rng, topic = _rng(model, prompt, seed), _topic_words(prompt)
    limit = num_predict if num_predict and num_predict > 0 else 400
    target = rng.randint(max(1, limit // 2), limit + limit // 3)
    words: list[str] = []
    while len(words) < min(target, limit): words += _sentence(rng, topic).split()   # stops at a sentence end...
    hit = len(words) >= limit                                                        # ...unless num_predict cuts it
    return " ".join(words[:limit]), hit

def _chatty(rng: random.Random, text: str, prompt: str) -> str:
    "Wrap `text` the way chat models do: a preamble, fences or quotes, a sign-off."
    what = _topic_words(prompt)[0]
    kind = rng.randrange(5)
    if kind == 0: return f"Sure! Here is a short piece about {what}:\n\n{text}\n\nI hope you enjoy it!"
    if kind == 1: return f"Here's a {what} for you:\n\n```\n{text}\n```"
    if kind == 2: return f'"{text}"'
    if kind == 3: return f"## A {what.title()}\n\n{text}\n\nLet me know if you'd like another one."
    return f"Certainly! {text}"

def _from_schema(rng: random.Random, schema, topic: list[str]):
    "A JSON value that satisfies (a practical subset of) a JSON schema."
    if not isinstance(schema, dict): return {"response": " ".join(rng.choice(topic) for _ in range(5))}
    if "enum" in schema: return rng.choice(schema["enum"])
    t = schema.get("type", "object")
    if isinstance(t, list): t = next((x for x in t if x != "null"), "string")
    if t == "object":
        props = schema.get("properties") or {}
        if not props: return {"response": " ".join(rng.choice(topic) for _ in range(5))}
        return {k: _from_schema(rng, v, topic) for k, v in props.items()}
    if t == "integer": return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 100)))
    if t == "number": return round(rng.uniform(float(schema.get("minimum", 0)), float(schema.get("maximum", 1))), 3)
    if t == "boolean": return rng.random() < 0.5
    if t == "array": return [_from_schema(rng, schema.get("items", {"type": "string"}), topic) for _ in range(rng.randint(1, 3))]
    return _sentence(rng, topic)

# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class ServerStats:
    "What the server saw. `log` has one entry per generation request (see `OllamaServer._record`)."
    requests: int = 0                 # generation requests seen (generate, chat, v1 chat)
    in_flight: int = 0                # generation requests being handled now (queued or running)
    max_in_flight: int = 0            # the most at once
    active: int = 0                   # holding a slot now
    max_active: int = 0
    queued: int = 0                   # waiting for a slot now
    rejected: int = 0                 # 503 because the queue was full
    faults: Counter = field(default_factory=Counter)
    status: Counter = field(default_factory=Counter)
    paths: Counter = field(default_factory=Counter)  # every request by path, checks included
    log: list = field(default_factory=list)

    def summary(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "log"}
        d["faults"], d["status"], d["paths"] = dict(self.faults), {str(k): v for k, v in self.status.items()}, dict(self.paths)
        d["log"] = self.log
        return d

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True
    def handle_error(self, request, client_address):
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)): super().handle_error(request, client_address)

class _Fault(Exception): pass

class OllamaServer:
    "A threaded HTTP server on 127.0.0.1 that answers like Ollama (and its OpenAI-compatible API)."
    def __init__(self, port: int = 0, *, models=DEFAULT_MODELS, latency: float = 0.0, token_latency: float = 0.0,
                 parallel: int = 1, max_queue: int = 512, fault_rate: float = 0.0, faults=FAULTS, seed: int = 0,
                 fault_fn=None, slow_seconds: float = 3.0, load_time: float = 0.0, chatty: float = 0.0,
                 json_fail_rate: float = 0.0, version: str = "0.11.4", record_log: bool = True):
        self.port, self.models, self.latency, self.token_latency = port, list(models), latency, token_latency
        self.parallel, self.max_queue, self.fault_rate, self.faults = parallel, max_queue, fault_rate, tuple(faults)
        self.fault_fn, self.slow_seconds, self.load_time, self.chatty = fault_fn, slow_seconds, load_time, chatty
        self.json_fail_rate, self.version, self.record_log = json_fail_rate, version, record_log
        bad = set(self.faults) - set(FAULTS)
        if bad: raise ValueError(f"unknown fault kinds {sorted(bad)}; choose from {FAULTS}")
        self._fault_rng, self._lock, self._slots = random.Random(seed), threading.Lock(), threading.Semaphore(parallel)
        self._stop, self._loaded, self.stats, self._httpd, self._thread = threading.Event(), {}, ServerStats(), None, None
        self.t0 = time.monotonic()

    # -- lifecycle ----------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str: return f"http://127.0.0.1:{self.port}"

    def start(self) -> OllamaServer:
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = _Server(("127.0.0.1", self.port), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._httpd: self._httpd.shutdown(); self._httpd.server_close(); self._httpd = None

    def __enter__(self): return self.start()
    def __exit__(self, *exc): self.stop()

    def reset_stats(self):
        with self._lock: self.stats = ServerStats(in_flight=self.stats.in_flight, active=self.stats.active, queued=self.stats.queued)

    # -- behaviour ----------------------------------------------------------------------------------------------------
    def find_model(self, name: str | None) -> str | None:
        if not name: return None
        full = _full_name(name)
        return next((m for m in self.models if _full_name(m) == full), None)

    def choose_fault(self, n: int, body: dict) -> str | None:
        if self.fault_fn is not None: return self.fault_fn(n, body)
        if self.fault_rate <= 0: return None
        with self._lock:
            if self._fault_rng.random() >= self.fault_rate: return None
            return self._fault_rng.choice(self.faults)

    def sleep(self, seconds: float, conn=None) -> bool:
        "Sleep up to `seconds`; return False early if the server stops or the client hung up (Ollama cancels then)."
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stop.wait(min(left, 0.05)): return False
            if conn is not None and seconds > 0.1 and _hung_up(conn): return False
        return True

def _hung_up(conn) -> bool:
    try:
        r, _, _ = select.select([conn], [], [], 0)
        return bool(r) and conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError): return True

# ---------------------------------------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True     # as Go's net/http: no 40 ms Nagle/delayed-ACK stall between headers and body
    server_version, sys_version = "ollama-test", ""
    app: OllamaServer

    def log_message(self, *args): pass

    # -- plumbing -----------------------------------------------------------------------------------------------------
    def _send(self, status: int, body, ctype="application/json; charset=utf-8", extra=None):
        data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Date", self.date_time_string())
        for k, v in (extra or {}).items(): self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)
        self.app.stats.status[status] += 1

    def _error(self, status: int, msg: str):
        if self.path.startswith("/v1/"): self._send(status, {"error": {"message": msg, "type": "api_error", "param": None, "code": None}})
        else: self._send(status, {"error": msg})

    def _start_stream(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        self.app.stats.status[200] += 1

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data)); self.wfile.flush()

    def _end_stream(self): self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw.strip(): return None, "missing request body"
        try: body = json.loads(raw)
        except json.JSONDecodeError as e: return None, f"invalid character at offset {e.pos}: {e.msg}"
        if not isinstance(body, dict): return None, "json: cannot unmarshal into Go value of type api.Request"
        return body, None

    # -- routes -------------------------------------------------------------------------------------------------------
    def do_HEAD(self):
        self.app.stats.paths[f"HEAD {self.path}"] += 1
        if self.path == "/": self._send(200, "Ollama is running", "text/plain; charset=utf-8")
        else: self._send(404, "404 page not found", "text/plain")

    def do_GET(self):
        app, path = self.app, self.path.split("?")[0]
        app.stats.paths[f"GET {path}"] += 1
        if path == "/": return self._send(200, "Ollama is running", "text/plain; charset=utf-8")
        if path == "/api/version": return self._send(200, {"version": app.version})
        if path == "/api/tags": return self._send(200, {"models": [self._model_entry(m) for m in app.models]})
        if path == "/api/ps": return self._send(200, {"models": [self._model_entry(m, ps=True) for m in app._loaded]})
        if path == "/v1/models":
            return self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 1735689600,
                                                              "owned_by": "library"} for m in app.models]})
        if path == "/_stats":
            with app._lock: return self._send(200, app.stats.summary())
        if path in GEN_PATHS or path == "/api/show": return self._send(405, "405 method not allowed", "text/plain")
        self._send(404, "404 page not found", "text/plain")

    def do_POST(self):
        app, path = self.app, self.path.split("?")[0]
        app.stats.paths[f"POST {path}"] += 1
        if path == "/_reset": app.reset_stats(); return self._send(200, {"ok": True})
        if path not in GEN_PATHS and path != "/api/show":
            if path in ("/api/tags", "/api/version", "/", "/v1/models"): return self._send(405, "405 method not allowed", "text/plain")
            return self._send(404, "404 page not found", "text/plain")
        body, err = self._body()
        if err: return self._error(400, err)
        if path == "/api/show": return self._show(body)
        self._generate(path, body)

    def _model_entry(self, name, ps=False):
        fam = name.split(":")[0].rstrip("0123456789.") or "llama"
        digest = hashlib.sha256(name.encode()).hexdigest()
        d = {"name": name, "model": name, "modified_at": "2025-01-01T12:00:00.000000Z" if not ps else None,
             "size": 4_920_753_328, "digest": digest,
             "details": {"parent_model": "", "format": "gguf", "family": fam, "families": [fam],
                         "parameter_size": "8.0B", "quantization_level": "Q4_K_M"}}
        if ps: d.pop("modified_at"); d.update(expires_at="2099-01-01T00:00:00Z", size_vram=4_920_753_328, context_length=4096)
        return d

    def _show(self, body):
        name = body.get("model") or body.get("name") or ""
        m = self.app.find_model(name)
        if m is None: return self._error(404, f"model '{name}' not found")
        e = self._model_entry(m)
        fam = e["details"]["family"]
        self._send(200, {"license": "test license", "modelfile": f"FROM {m}\n", "parameters": "temperature 0.8",
                         "template": "{{ .Prompt }}", "details": e["details"], "modified_at": e["modified_at"],
                         "model_info": {"general.architecture": fam, "general.parameter_count": 8_030_261_248,
                                        f"{fam}.context_length": 131072, f"{fam}.embedding_length": 4096},
                         "capabilities": ["completion"]})

    # -- generation ---------------------------------------------------------------------------------------------------
    def _generate(self, path, body):
        app, st = self.app, self.app.stats
        openai, chat = path.startswith("/v1/"), path != "/api/generate"
        t_arrive = time.monotonic()
        with app._lock:
            st.requests += 1; n = st.requests
            st.in_flight += 1; st.max_in_flight = max(st.max_in_flight, st.in_flight)
        rec = {"n": n, "path": path, "model": body.get("model"), "stream": body.get("stream"),
               "t_arrive": t_arrive - app.t0, "status": None, "fault": None}
        try:
            self._generate_inner(path, body, openai, chat, n, rec)
        finally:
            rec["t_end"] = time.monotonic() - app.t0
            with app._lock:
                st.in_flight -= 1
                if app.record_log: st.log.append(rec)

    def _generate_inner(self, path, body, openai, chat, n, rec):
        app, st = self.app, self.app.stats
        # what was asked
        if openai:
            opts = {"temperature": body.get("temperature"), "num_predict": body.get("max_tokens", body.get("max_completion_tokens")),
                    "seed": body.get("seed")}
            rf = body.get("response_format") or {}
            fmt = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else ("json" if rf.get("type") == "json_object" else None)
        else:
            opts, fmt = dict(body.get("options") or {}), body.get("format")
        if chat:
            msgs = body.get("messages")
            if not isinstance(msgs, list): msgs = []
            msgs = [m for m in msgs if isinstance(m, dict)]
            prompt = "\n".join(str(m.get("content", "")) for m in msgs if m.get("role") != "system")
            system = "\n".join(str(m.get("content", "")) for m in msgs if m.get("role") == "system")
        else: prompt, system = str(body.get("prompt") or ""), str(body.get("system") or "")
        rec.update(prompt=prompt, system=system, seed=opts.get("seed"), options=opts, keep_alive=body.get("keep_alive"), format=fmt)
        if "stream" not in body and not openai:
            rec["note"] = "client did not send 'stream'"    # the official client always does; Ollama then streams
        stream = bool(body.get("stream", not openai))
        name = body.get("model")
        if not name: rec["status"] = 400; return self._error(400, "model is required")
        model = app.find_model(name)
        if model is None:
            rec["status"] = 404; return self._error(404, f'model "{name}" not found, try pulling it first')
        fault = app.choose_fault(n, body)
        rec["fault"] = fault
        if fault: 
            with app._lock: st.faults[fault] += 1
        if fault == "503": rec["status"] = 503; return self._error(503, BUSY)
        # the queue, then a slot
        with app._lock:
            full = st.queued >= app.max_queue
            if full: st.rejected += 1
            else: st.queued += 1
        if full: rec["status"] = 503; return self._error(503, BUSY)
        app._slots.acquire()
        with app._lock:
            st.queued -= 1; st.active += 1; st.max_active = max(st.max_active, st.active)
        rec["t_start"] = time.monotonic() - app.t0
        try:
            self._run(model, prompt, system, opts, fmt, stream, openai, chat, fault, rec, body)
        except (BrokenPipeError, ConnectionResetError):
            rec["status"] = rec["status"] or "client gone"
        finally:
            with app._lock: st.active -= 1
            app._slots.release()

    def _run(self, model, prompt, system, opts, fmt, stream, openai, chat, fault, rec, body):
        app = self.app
        t0 = time.monotonic()
        load = 0.0
        with app._lock:
            if model not in app._loaded: app._loaded[model] = True; load = app.load_time
        if load: app.sleep(load)
        seed = opts.get("seed")
        if seed is None: seed = random.getrandbits(31)                  # like Ollama: no seed, random text
        num_predict = opts.get("num_predict")
        rng = _rng("extra", model, system, prompt, seed)
        if fmt:
            hit = False
            if rng.random() < app.json_fail_rate: text = "Sure! The score is high because the text reads well."
            else: text = json.dumps(_from_schema(rng, fmt if isinstance(fmt, dict) else None, _topic_words(prompt)))
        elif not prompt.strip():
            text, hit = "", False                                        # an empty prompt only loads the model
        else:
            text, hit = make_text(prompt, seed, num_predict, model + system)
            if rng.random() < app.chatty: text = _chatty(rng, text, prompt)
        words = text.split(" ") if text else []
        gen_time = app.latency + app.token_latency * len(words)
        if fault == "drop":
            app.sleep(gen_time / 2)
            rec["status"] = "dropped"; self.close_connection = True
            try: self.connection.shutdown(socket.SHUT_RDWR)
            except OSError: pass
            return
        if fault == "500":
            app.sleep(gen_time / 2)
            rec["status"] = 500; return self._error(500, RUN_ERROR)
        if fault == "slow":
            gen_time = max(gen_time, app.slow_seconds)
        if fault == "midstream" and not stream:
            app.sleep(gen_time / 2); rec["status"] = 500; return self._error(500, RUN_ERROR)
        reason = "length" if hit else ("load" if not text and not fmt else "stop")
        n_prompt = len(prompt.split())
        def stats(elapsed):
            ns = int(elapsed * 1e9)
            return {"total_duration": ns, "load_duration": int(load * 1e9), "prompt_eval_count": n_prompt,
                    "prompt_eval_duration": ns // 20, "eval_count": len(words), "eval_duration": ns - ns // 20 - int(load * 1e9)}
        if not stream:
            if not app.sleep(gen_time, self.connection): rec["status"] = "client gone"; self.close_connection = True; return
            rec["status"] = 200
            if openai: return self._send(200, self._openai_reply(model, text, reason, n_prompt, len(words)))
            out = {"model": model, "created_at": _now()}
            if chat: out["message"] = {"role": "assistant", "content": text}
            else: out["response"] = text
            out.update(done=True, done_reason=reason)
            if not chat: out["context"] = [int(b) for b in hashlib.sha256(text.encode()).digest()[:16]]
            out.update(stats(time.monotonic() - t0))
            return self._send(200, out)
        # streaming: NDJSON (Ollama) or SSE (OpenAI), word by word
        self._start_stream("text/event-stream" if openai else "application/x-ndjson")
        rec["status"] = 200
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] or [""]
        per = gen_time / max(1, len(pieces))
        cid = f"chatcmpl-{uuid.uuid4().hex[:8]}"
        stop_at = len(pieces) // 2 if fault == "midstream" else None
        for i, p in enumerate(pieces):
            if fault == "slow" and i == 0:
                if not app.sleep(app.slow_seconds, self.connection): self.close_connection = True; return
            elif per and not app.sleep(per): return
            if stop_at is not None and i == stop_at:
                rec["status"] = "midstream error"
                err = {"error": {"message": RUN_ERROR}} if openai else {"error": RUN_ERROR}
                self._chunk((f"data: {json.dumps(err)}\n\n" if openai else json.dumps(err) + "\n").encode())
                return self._end_stream()
            if openai:
                delta = {"role": "assistant", "content": p} if i == 0 else {"content": p}
                self._chunk(f"data: {json.dumps(self._openai_chunk(cid, model, delta, None))}\n\n".encode())
            else:
                part = {"model": model, "created_at": _now()}
                if chat: part["message"] = {"role": "assistant", "content": p}
                else: part["response"] = p
                part["done"] = False
                self._chunk((json.dumps(part) + "\n").encode())
        if openai:
            self._chunk(f"data: {json.dumps(self._openai_chunk(cid, model, {}, 'length' if hit else 'stop'))}\n\n".encode())
            self._chunk(b"data: [DONE]\n\n")
        else:
            last = {"model": model, "created_at": _now()}
            if chat: last["message"] = {"role": "assistant", "content": ""}
            else: last["response"] = ""
            last.update(done=True, done_reason=reason)
            if not chat: last["context"] = [int(b) for b in hashlib.sha256(text.encode()).digest()[:16]]
            last.update(stats(time.monotonic() - t0))
            self._chunk((json.dumps(last) + "\n").encode())
        self._end_stream()

    def _openai_reply(self, model, text, reason, n_prompt, n_out):
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "length" if reason == "length" else "stop"}],
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}}

    def _openai_chunk(self, cid, model, delta, finish):
        return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_ollama", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

# ---------------------------------------------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="ollama_server.py", description="A faithful Ollama test server on 127.0.0.1.")
    p.add_argument("--port", type=int, default=11434, help="port on 127.0.0.1 (0: a free one, printed)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    p.add_argument("--token-latency", type=float, default=0.0, help="extra seconds per generated word")
    p.add_argument("--parallel", type=int, default=1, help="parallel slots (OLLAMA_NUM_PARALLEL)")
    p.add_argument("--max-queue", type=int, default=512, help="queued requests before 503 (OLLAMA_MAX_QUEUE)")
    p.add_argument("--fault-rate", type=float, default=0.0, help="fraction of generation requests that fail")
    p.add_argument("--faults", default=",".join(FAULTS), help=f"comma list of fault kinds from {','.join(FAULTS)}")
    p.add_argument("--slow-seconds", type=float, default=3.0, help="how long a 'slow' fault takes")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="installed models, comma separated")
    p.add_argument("--chatty", type=float, default=0.0, help="fraction of replies wrapped in preambles / fences")
    p.add_argument("--no-log", action="store_true", help="do not keep a per-request log (long benchmarks)")
    a = p.parse_args(argv)
    srv = OllamaServer(a.port, models=[m for m in a.models.split(",") if m], latency=a.latency,
                       token_latency=a.token_latency, parallel=a.parallel, max_queue=a.max_queue,
                       fault_rate=a.fault_rate, faults=[f for f in a.faults.split(",") if f], seed=a.seed,
                       slow_seconds=a.slow_seconds, chatty=a.chatty, record_log=not a.no_log).start()
    print(f"ollama test server listening on {srv.url}", flush=True)
    try:
        while True: time.sleep(3600)
    except KeyboardInterrupt: pass
    finally: srv.stop()

if __name__ == "__main__": main()

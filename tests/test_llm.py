"""The LLM client layer against the faithful test server: happy path, injected faults, server down, missing model,
overlap up to the concurrency bound, several hosts, streaming, structured output, the OpenAI-compatible backend."""
import asyncio, time
import pytest
import ollama
from ollama_server import OllamaServer, free_port
from gptdata.config import Timeouts
from gptdata.llm import (LLMRequest, LLMResult, OllamaClient, OpenAIClient, RetryPolicy, LLMBatchStopped, JUDGE_SCHEMA,
                         server_status, check_server, clean_reply)

pytestmark = pytest.mark.timeout(60)
FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05)

def run(coro): return asyncio.run(coro)

async def batch(client, requests):
    async with client: return await client.generate_many(requests)

def reqs(n, topic="ships"): return [LLMRequest(f"Write a short story about {topic} number {i}", seed=1000 + i, key=i) for i in range(n)]

# -- happy path ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("chat", [False, True])
def test_happy_path(ollama_server, stream, chat):
    srv = ollama_server(latency=0.01, parallel=4, chatty=0.5)
    res = run(batch(OllamaClient(srv.url, concurrency=4, stream=stream, chat=chat, clean=True), reqs(24)))
    assert [r.request.key for r in res] == list(range(24))
    assert all(isinstance(r, LLMResult) and r.ok and r.attempts == 1 and r.text for r in res)
    assert all(r.eval_tokens and r.done_reason in ("stop", "length") for r in res)
    assert not any(r.text.startswith(("Sure", "Here", "Certainly", '"', "```", "#")) for r in res)
    log = srv.stats.log
    assert len(log) == 24 and all(e["stream"] is stream for e in log)
    assert {e["options"]["temperature"] for e in log} == {0.8} and {e["options"]["num_predict"] for e in log} == {150}
    assert {e["keep_alive"] for e in log} == {"30m"}
    assert len({e["seed"] for e in log}) == 24                           # a distinct seed per request

def test_deterministic_text(ollama_server):
    srv = ollama_server()
    a, b, c = run(batch(OllamaClient(srv.url), [LLMRequest("a poem about rain", seed=1), LLMRequest("a poem about rain", seed=1),
                                                LLMRequest("a poem about rain", seed=2)]))
    assert a.text == b.text != c.text

def test_timeouts_are_always_set(ollama_server):
    srv = ollama_server()
    c = OllamaClient(srv.url, timeouts=Timeouts(request=12, connect=3))
    async def go():
        async with c: return c._clients[c.hosts[0]]._client.timeout
    t = run(go())
    assert (t.read, t.connect) == (12, 3)

# -- concurrency -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bound", [1, 3, 8])
def test_requests_overlap_up_to_the_bound(ollama_server, bound):
    srv = ollama_server(latency=0.05, parallel=8)
    res = run(batch(OllamaClient(srv.url, concurrency=bound), reqs(4 * bound)))
    assert all(r.ok for r in res)
    assert srv.stats.max_in_flight == bound                              # really overlapped, never beyond the bound

def test_queue_full_503_is_retried(ollama_server):
    srv = ollama_server(latency=0.05, parallel=1, max_queue=1)           # client sends 4: two are rejected at a time
    res = run(batch(OllamaClient(srv.url, concurrency=4, retry=RetryPolicy(attempts=10, backoff=0.02, max_backoff=0.1)), reqs(8)))
    assert srv.stats.rejected > 0 and all(r.ok for r in res) and any(r.attempts > 1 for r in res)

def test_several_hosts_share_by_free_capacity(ollama_server):
    big, small = ollama_server(latency=0.05, parallel=6), ollama_server(latency=0.05, parallel=2)
    res = run(batch(OllamaClient([big.url, small.url], concurrency=[6, 2]), reqs(64)))
    assert all(r.ok for r in res)
    assert big.stats.max_in_flight == 6 and small.stats.max_in_flight == 2
    assert big.stats.requests > 2 * small.stats.requests                # ~3:1, by free slots

def test_a_dead_host_among_several(ollama_server):
    srv = ollama_server(latency=0.01, parallel=4)
    dead = f"http://127.0.0.1:{free_port()}"
    res = run(batch(OllamaClient([dead, srv.url], concurrency=[4, 4], retry=FAST), reqs(40)))
    assert all(r.ok for r in res) and srv.stats.requests == 40

# -- faults ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_20_percent_faults_nothing_lost(ollama_server, stream):
    srv = ollama_server(latency=0.01, parallel=4, fault_rate=0.2, seed=7, slow_seconds=1.0)
    n = 100
    res = run(batch(OllamaClient(srv.url, concurrency=4, stream=stream, timeouts=Timeouts(request=0.3), retry=FAST), reqs(n)))
    assert len(res) == n and sorted(r.request.key for r in res) == list(range(n))
    for r in res:
        assert r.ok or (not r.ok and r.attempts == FAST.attempts and r.error)
    assert set(srv.stats.faults) == {"503", "500", "slow", "drop", "midstream"}
    assert sum(r.attempts > 1 for r in res) >= 10
    assert sum(r.ok for r in res) >= n - 3

def test_persistent_faults_are_recorded_as_failed(ollama_server):
    srv = ollama_server(fault_fn=lambda n, body: "500" if "doomed" in str(body) else None)
    rq = [LLMRequest("fine story", seed=1), LLMRequest("doomed story", seed=2), LLMRequest("fine tale", seed=3)]
    res = run(batch(OllamaClient(srv.url, retry=FAST), rq))
    assert [r.ok for r in res] == [True, False, True]
    bad = res[1]
    assert bad.status == 500 and "unexpected EOF" in bad.error and bad.attempts == 4 and bad.to_dict()["request"]["seed"] == 2

def test_failure_cap_stops_the_batch(ollama_server):
    srv = ollama_server(fault_rate=1.0, faults=["500"])
    res = run(batch(OllamaClient(srv.url, concurrency=2, retry=RetryPolicy(attempts=2, backoff=0.01, max_failures=3)), reqs(50)))
    assert all(not r.ok for r in res)
    assert sum(r.attempts == 0 for r in res) > 30                      # never sent
    assert all("not sent: the batch stopped after" in r.error for r in res if r.attempts == 0)
    assert srv.stats.requests < 30

def test_astream_raises_when_stopped(ollama_server):
    srv = ollama_server(fault_rate=1.0, faults=["503"])
    async def go():
        got = []
        async with OllamaClient(srv.url, retry=RetryPolicy(attempts=1, max_failures=2)) as c:
            with pytest.raises(LLMBatchStopped, match="failed requests"):
                async for r in c.astream(iter(lambda: LLMRequest("endless"), None)): got.append(r)
        return got
    got = run(go())
    assert 3 <= len(got) <= 8 and all(r.status == 503 for r in got)

def test_slow_reply_times_out_then_retries(ollama_server):
    srv = ollama_server(fault_fn=lambda n, body: "slow" if n == 1 else None, slow_seconds=2.0)
    t = time.perf_counter()
    r = run(OllamaClient(srv.url, timeouts=Timeouts(request=0.2), retry=FAST).generate("a story", seed=5))
    assert r.ok and r.attempts == 2 and time.perf_counter() - t < 1.5

# -- server down, missing model ----------------------------------------------------------------------------------------
def test_server_down():
    host = f"127.0.0.1:{free_port()}"
    st = server_status(host, "llama3.1:8b", Timeouts(check=2, connect=1))
    assert not st and not st.reachable and "cannot reach Ollama" in st.message and "ollama serve" in st.message
    assert check_server(host, "llama3.1:8b") is False
    r = run(OllamaClient(host, retry=FAST).generate("a story", seed=1))
    assert not r.ok and r.status is None and r.attempts == 4 and "connection failed" in r.error

def test_missing_model(ollama_server):
    srv = ollama_server(parallel=2)
    st = server_status(srv.url, "mistral:7b")
    assert st.reachable and not st.model_present and "ollama pull mistral:7b" in st.message and "llama3.1:8b" in st.message
    assert check_server(srv.url, "llama3.1") is False and check_server(srv.url, "qwen2.5:7b") is True
    res = run(batch(OllamaClient(srv.url, "mistral:7b", concurrency=2, retry=FAST), reqs(20)))
    assert res[0].status == 404 and res[0].fatal and "ollama pull mistral:7b" in res[0].error and res[0].attempts == 1
    assert srv.stats.requests <= 2 and sum(r.attempts == 0 for r in res) >= 18

def test_bad_json_is_400(ollama_server):
    import httpx
    srv = ollama_server()
    r = httpx.post(srv.url + "/api/generate", content=b"{nope")
    assert r.status_code == 400 and "error" in r.json()

# -- structured output -----------------------------------------------------------------------------------------------
def test_structured_output_validated_and_reseeded(ollama_server):
    srv = ollama_server(json_fail_rate=0.5)
    async def go():
        async with OllamaClient(srv.url, retry=RetryPolicy(attempts=6, backoff=0.01)) as c:
            return [await c.generate_json(f"Rate this text: sample {i}", seed=i) for i in range(12)]
    res = run(go())
    assert all(r.ok and 1 <= r.data["score"] <= 10 and isinstance(r.data["reason"], str) for r in res)
    assert any(r.attempts > 1 and r.seed != r.request.seed for r in res)  # an invalid reply was retried with a new seed
    assert all(e["format"] == JUDGE_SCHEMA for e in srv.stats.log)

# -- OpenAI-compatible backend -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_openai_backend(ollama_server, stream):
    srv = ollama_server(latency=0.01, parallel=4, fault_rate=0.2, faults=["503", "500", "drop"], seed=3, chatty=0.5)
    res = run(batch(OpenAIClient(srv.url, "qwen2.5:7b", concurrency=4, stream=stream, clean=True, retry=FAST), reqs(30)))
    assert all(r.ok and r.text for r in res) and srv.stats.max_in_flight == 4
    assert {e["options"]["num_predict"] for e in srv.stats.log} == {150} and all(e["path"] == "/v1/chat/completions" for e in srv.stats.log)
    j = run(OpenAIClient(srv.url, "qwen2.5:7b", retry=FAST).generate_json("Judge: 'hello'", seed=1))
    assert j.ok and 1 <= j.data["score"] <= 10
    bad = run(OpenAIClient(srv.url, "nope", retry=FAST).generate("x", seed=1))
    assert not bad.ok and bad.status == 404 and bad.fatal
    assert server_status(srv.url, "qwen2.5:7b", backend="openai").ok

# -- the test server itself --------------------------------------------------------------------------------------------
def test_server_speaks_ollama(ollama_server):
    srv = ollama_server()
    c = ollama.Client(srv.url, timeout=5)
    assert {m.model for m in c.list().models} == {"llama3.1:8b", "qwen2.5:7b"}
    assert c.show("llama3.1:8b").modelinfo["general.architecture"] == "llama"
    with pytest.raises(ollama.ResponseError) as e: c.generate("nope", "x")
    assert e.value.status_code == 404 and e.value.error == 'model "nope" not found, try pulling it first'
    parts = list(c.generate("llama3.1:8b", "a story", options={"seed": 1, "num_predict": 20}, stream=True))
    whole = c.generate("llama3.1:8b", "a story", options={"seed": 1, "num_predict": 20})
    assert "".join(p.response for p in parts) == whole.response and parts[-1].done and whole.eval_count <= 20
    import httpx
    assert httpx.get(srv.url).text == "Ollama is running" and httpx.head(srv.url).status_code == 200
    assert "version" in httpx.get(srv.url + "/api/version").json()

def test_server_script_runs():
    import subprocess, sys, httpx, pathlib
    port = free_port()
    p = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).parent / "ollama_server.py"), "--port", str(port),
                          "--latency", "0.01", "--parallel", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert "listening on" in p.stdout.readline()
        assert check_server(f"127.0.0.1:{port}", "llama3.1:8b")
        assert run(OllamaClient(f"127.0.0.1:{port}").generate("hello world story", seed=1)).ok
    finally: p.kill(); p.wait()

def test_clean_reply_on_server_chatter():
    assert clean_reply("Sure! Here is a short piece about cats:\n\nCats nap.\n\nI hope you enjoy it!") == "Cats nap."

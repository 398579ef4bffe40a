"""Throughput of gptdata's Ollama client against a server with 8 parallel slots and 200 ms a request.

The test server (tests/ollama_server.py) runs in a subprocess on 127.0.0.1, so this process's CPU time is the client's
alone. Each repeat runs, side by side:
  ours        gptdata.llm.OllamaClient(concurrency=8).generate_many(N requests)   (official ollama.AsyncClient inside)
  bare        ollama.AsyncClient under an asyncio.Semaphore: the floor, no retries or records
  sequential  a plain loop of ollama.Client().generate, the design this replaces
and a sequential loop of our client (concurrency=1) to measure per-request latency overhead.
Ideal: 8 slots / 0.2 s = 40 requests/s. Targets (issue 6): ours >= 90% of ideal; client overhead < 2 ms a request.
Run: .venv/bin/python bench/bench_ollama.py [--repeats 5] [--requests 200]
"""
import argparse, asyncio, statistics, subprocess, sys, time
from pathlib import Path
import httpx, ollama
from gptdata.config import Timeouts
from gptdata.llm import LLMRequest, OllamaClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from ollama_server import free_port

SLOTS, LATENCY, MODEL = 8, 0.2, "llama3.1:8b"
TIMEOUTS = Timeouts.preset("gpu")

def start_server(port):
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ollama_server.py"), "--port", str(port), "--latency", str(LATENCY),
                          "--parallel", str(SLOTS), "--no-log"], stdout=subprocess.PIPE, text=True)
    assert "listening" in p.stdout.readline()
    return p

def requests(n, offset):
    return [LLMRequest(f"Write a short recipe number {offset + i} for a rainy day", seed=offset + i) for i in range(n)]

async def run_ours_one_at_a_time(host, n, offset):
    async with OllamaClient(host, MODEL, concurrency=1, timeouts=TIMEOUTS) as c:
        await c.generate("warm up the connections", seed=-1)
        return [(await c.generate(r)).seconds for r in requests(n, offset)]

async def run_ours(host, n, offset, concurrency=SLOTS):
    async with OllamaClient(host, MODEL, concurrency=concurrency, timeouts=TIMEOUTS) as c:
        await c.generate("warm up the connections", seed=-1)
        cpu, t = time.process_time(), time.perf_counter()
        res = await c.generate_many(requests(n, offset))
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert all(r.ok for r in res), [r for r in res if not r.ok][:3]
    return n / wall, cpu / n, [r.seconds for r in res]

async def run_raw_async(host, n, offset):
    "The floor: the bare ollama.AsyncClient under an asyncio.Semaphore (no retries, records, host pool)."
    c = ollama.AsyncClient(host, timeout=httpx.Timeout(TIMEOUTS.request, connect=TIMEOUTS.connect))
    sem = asyncio.Semaphore(SLOTS)
    async def one(r):
        async with sem:
            return await c.generate(MODEL, r.prompt, options={"seed": r.seed, "num_predict": 150, "temperature": 0.8}, keep_alive="30m")
    await c.generate(MODEL, "warm up", options={"seed": -1})
    cpu, t = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests(n, offset)))
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    await c.close()
    return n / wall, cpu / n

def run_sequential(host, n, offset):
    c = ollama.Client(host, timeout=httpx.Timeout(TIMEOUTS.request, connect=TIMEOUTS.connect))
    c.generate(MODEL, "warm up", options={"seed": -1, "num_predict": 150})
    lat, t = [], time.perf_counter()
    for r in requests(n, offset):
        t1 = time.perf_counter()
        c.generate(MODEL, r.prompt, options={"seed": r.seed, "num_predict": 150, "temperature": 0.8})
        lat.append(time.perf_counter() - t1)
    wall = time.perf_counter() - t
    c.close()
    return n / wall, lat

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200, help="requests per repeat for the concurrent client")
    ap.add_argument("--sequential", type=int, default=20, help="requests per repeat for the sequential loops")
    a = ap.parse_args(argv)
    port = free_port(); srv = start_server(port); host = f"http://127.0.0.1:{port}"
    ideal = SLOTS / LATENCY
    rps, cpu, seq_rps, seq_lat, our_lat, raw_rps, raw_cpu = [], [], [], [], [], [], []
    try:
        for k in range(a.repeats):
            off = k * 10_000
            r, c, _ = asyncio.run(run_ours(host, a.requests, off)); rps.append(r); cpu.append(c)
            r, c = asyncio.run(run_raw_async(host, a.requests, off + 3000)); raw_rps.append(r); raw_cpu.append(c)
            s, lat = run_sequential(host, a.sequential, off + 5000); seq_rps.append(s); seq_lat += lat
            our_lat += asyncio.run(run_ours_one_at_a_time(host, a.sequential, off + 7000))
    finally:
        srv.kill(); srv.wait()
    ours, seq = statistics.median(rps), statistics.median(seq_rps)
    ms = lambda xs: 1000 * statistics.median(xs)
    print(f"server: {SLOTS} slots x {LATENCY*1000:.0f} ms (ideal {ideal:.0f} req/s), subprocess on 127.0.0.1; "
          f"median of {a.repeats} repeats ({a.requests} concurrent + {a.sequential}+{a.sequential} sequential requests each)")
    print(f"ours (OllamaClient, concurrency {SLOTS}) : {ours:6.2f} req/s = {ours/ideal:6.1%} of ideal   (target >= 90%)   "
          f"[min {min(rps):.2f}, max {max(rps):.2f}]")
    print(f"sequential ollama.Client loop         : {seq:6.2f} req/s = {seq/ideal:6.1%} of ideal")
    print(f"ratio ours / sequential               : {ours/seq:6.2f}x")
    rr = statistics.median(raw_rps)
    print(f"bare ollama.AsyncClient + Semaphore   : {rr:6.2f} req/s = {rr/ideal:6.1%} of ideal   (ours / bare: {ours/rr:.3f})")
    oc, rc = 1000*statistics.median(cpu), 1000*statistics.median(raw_cpu)
    print(f"client CPU per request                : ours {oc:.2f} ms, bare AsyncClient {rc:.2f} ms; "
          f"gptdata's own layer {oc - rc:+.2f} ms   (target: ours < 2 ms)")
    print(f"latency over the server's {LATENCY*1000:.0f} ms, one request at a time: ours {ms(our_lat) - 1000*LATENCY:.2f} ms, "
          f"raw ollama.Client {ms(seq_lat) - 1000*LATENCY:.2f} ms (both include the server's own HTTP handling)")
    print(f"slot cycle overhead at full load      : {1000*(SLOTS/ours - LATENCY):6.2f} ms per request")
    return ours / ideal

if __name__ == "__main__": main()

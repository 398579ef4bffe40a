"""Template generation speed and memory.

1. 100k tokens of `Template` generation, token counting included (median of 5 per domain), side by side with raw
   tiktoken `encode_ordinary_batch` counting of the same text: tokenization is the physical limit here.
   Target (issue 3): <= 1 s for 100k tokens on this 2-core machine.
2. 10M tokens streamed into a `SampleStore` by `gptdata generate` in a subprocess: its peak RSS (getrusage of
   children, ru_maxrss) and wall time. Target: peak RSS < 300 MB.

Run: .venv/bin/python bench/bench_templates.py [--big-tokens 10000000] [--skip-big]
"""
import argparse, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path
from gptdata.generator import DataGenerator
from gptdata.templates import Template

PROMPTS = {"cooking": "vegetarian weeknight dinner recipes", "poetry": "melancholy poems about the sea in autumn",
           "technical": "REST API documentation for a payments service", "general": "short explanations and stories for curious kids"}
GPTDATA = "import sys; from gptdata.cli import main; sys.exit(main(sys.argv[1:]))"

def bench_100k(tokens=100_000, repeats=5):
    print(f"== {tokens:,} tokens of Template generation, counting included (median of {repeats})")
    print(f"{'domain':<10} {'ours s':>7} {'samples/s':>10} {'tokens/s':>11} {'raw count s':>12} {'ours/raw':>9}")
    rows = []
    for domain, prompt in PROMPTS.items():
        gen = DataGenerator(prompt, domain=domain)
        enc, threads = gen.tokenizer.enc, gen.tokenizer.num_threads
        Template().generate(gen, 2_000)  # warm up: grammar compiled, prompt context cached
        t_ours, t_raw = [], []
        for _ in range(repeats):
            t = time.perf_counter(); samples = Template().generate(gen, tokens); t_ours.append(time.perf_counter() - t)
            texts = [s.text for s in samples]
            t = time.perf_counter(); n_raw = sum(len(o) for o in enc.encode_ordinary_batch(texts, num_threads=threads)); t_raw.append(time.perf_counter() - t)
        n = sum(s.n_tokens for s in samples)
        assert n == n_raw
        mo, mr = statistics.median(t_ours), statistics.median(t_raw)
        rows.append((domain, mo, len(samples), n, mr))
        print(f"{domain:<10} {mo:7.3f} {len(samples)/mo:10,.0f} {n/mo:11,.0f} {mr:12.4f} {mo/mr:8.1f}x")
    worst = max(r[1] for r in rows)
    print(f"slowest domain: {worst:.3f} s per {tokens:,} tokens (target <= 1 s)")
    return rows

def bench_big(tokens=10_000_000):
    print(f"\n== {tokens:,} tokens streamed into a store by `gptdata generate` in a subprocess")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)/"big.jsonl"
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", GPTDATA, "generate", PROMPTS["cooking"], "--tokens", str(tokens),
                            "--out", str(out), "--no-progress"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode: sys.exit(f"gptdata generate failed: {p.stderr}")
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
        size_mb = out.stat().st_size / 1e6
    print(p.stdout.strip())
    print(f"wall {wall:.1f} s ({tokens/wall:,.0f} tokens/s), file {size_mb:,.0f} MB, peak RSS {rss_mb:.0f} MB (target < 300 MB)")
    return wall, rss_mb

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-tokens", type=int, default=10_000_000)
    ap.add_argument("--skip-big", action="store_true")
    a = ap.parse_args()
    bench_100k()
    if not a.skip_big: bench_big(a.big_tokens)

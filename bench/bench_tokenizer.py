"""Token counting throughput: gptdata's `Tokenizer.count_batch` vs raw tiktoken `encode_ordinary_batch`.

Both count the same ~20 MB corpus with the same encoding and thread count, interleaved, in one process.
Target (issue 2): ours >= 90% of raw tiktoken's throughput.  Run: .venv/bin/python bench/bench_tokenizer.py
"""
import statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from corpus import english_corpus
from gptdata.tokenizer import get_tokenizer

def main(n_bytes=20_000_000, repeats=5):
    texts = english_corpus(n_bytes)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tok = get_tokenizer()
    enc, threads = tok.enc, tok.num_threads
    def ours(): return sum(tok.count_batch(texts))
    def raw(): return sum(len(o) for o in enc.encode_ordinary_batch(texts, num_threads=threads))
    assert ours() == raw()
    t_ours, t_raw = [], []
    for _ in range(repeats):
        for fn, acc in ((ours, t_ours), (raw, t_raw)):
            t = time.perf_counter(); n = fn(); acc.append(time.perf_counter() - t)
    mo, mr = statistics.median(t_ours), statistics.median(t_raw)
    print(f"corpus: {len(texts):,} samples, {mb:.1f} MB, {n:,} tokens; {threads} threads; median of {repeats}")
    print(f"gptdata count_batch        : {mb/mo:6.1f} MB/s  {n/mo/1e6:5.2f} M tokens/s")
    print(f"tiktoken encode_ordinary_batch: {mb/mr:6.1f} MB/s  {n/mr/1e6:5.2f} M tokens/s")
    print(f"ratio ours/raw throughput  : {mr/mo:.3f}  (target >= 0.90)")
    return mr/mo

if __name__ == "__main__": main()

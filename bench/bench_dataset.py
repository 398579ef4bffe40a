"""Training-time data loading: gptdata's DataLoader path and `get_batch` vs a nanoGPT-style `get_batch`.

All on the same ~10M-token uint16 train.bin, interleaved, in one process; batches of 64 x 256.
  baseline: nanoGPT's train.py get_batch (new np.memmap per call, per-row slice + astype + torch.stack, for x and y),
            and the same with the memmap opened once (a fairer baseline);
  ours    : gptdata.get_batch, and iterating TextDataset.dataloader(64) (stride 1, shuffled);
also a plain torch DataLoader(ds, batch_size=64, shuffle=True) (per-item __getitem__ + default collate).
Target (issue 4): ours >= 1.5x the nanoGPT-style batches/s. Also reports ds[i] latency, a full epoch at
stride=block_size, and peak RSS of a streaming token-file build in a subprocess (--stream-tokens, default 20M).

Run: .venv/bin/python bench/bench_dataset.py [--tokens 10e6] [--stream-tokens 20e6] [--repeats 7] [--rebuild]
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from corpus import english_corpus
from gptdata.dataset import TextDataset, get_batch, write_token_files, read_meta

B, T = 64, 256
WORK = Path(os.environ.get("GPTDATA_BENCH_DIR", "/tmp/gptdata_bench"))

def repeats_for(texts, n_tokens:float) -> int:
    "How many passes over `texts` give about `n_tokens` tokens."
    from gptdata.tokenizer import get_tokenizer
    return max(1, round(n_tokens / (sum(get_tokenizer().count_batch(texts)) + len(texts))))

def build(n_tokens:int, rebuild:bool) -> Path:
    "A compact (uint16) token folder of at least `n_tokens` train tokens from local English-like text."
    d = WORK/f"tok_{n_tokens}"
    if (d/"meta.json").exists() and not rebuild: return d
    texts = english_corpus(5_000_000)
    def stream():  # repeat the corpus (with distinct ids) until ~n_tokens / 0.9 tokens, so train.bin holds ~n_tokens
        for k in range(repeats_for(texts, n_tokens / 0.9)):
            for t in texts: yield f"{t} [{k}]"
    t0 = time.perf_counter()
    m = write_token_files(stream(), d, compact=True, block_size=T)
    print(f"built {d}: {m['train_tokens']:,} train tokens, vocab {m['vocab_size']:,}, {m['dtype']} in {time.perf_counter() - t0:.1f} s")
    return d

def nanogpt_get_batch(data_dir:Path):
    "nanoGPT train.py, verbatim in spirit: a new memmap each call, then per-row slices."
    data = np.memmap(data_dir/"train.bin", dtype=np.uint16, mode="r")
    ix = torch.randint(len(data) - T, (B,))
    x = torch.stack([torch.from_numpy((data[i:i+T]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i+1:i+1+T]).astype(np.int64)) for i in ix])
    return x, y

def make_nanogpt_cached(data_dir:Path):
    data = np.memmap(data_dir/"train.bin", dtype=np.uint16, mode="r")
    def f():
        ix = torch.randint(len(data) - T, (B,))
        x = torch.stack([torch.from_numpy((data[i:i+T]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i+1:i+1+T]).astype(np.int64)) for i in ix])
        return x, y
    return f

def looping(loader):
    "A function returning the next batch of `loader`, restarting it when exhausted."
    state = {"it": iter(loader)}
    def f():
        try: return next(state["it"])
        except StopIteration: state["it"] = iter(loader); return next(state["it"])
    return f

def rate(fn, n:int) -> float:
    t = time.perf_counter()
    for _ in range(n): fn()
    return n / (time.perf_counter() - t)

def bench_batches(d:Path, repeats:int, n:int):
    ds = TextDataset.from_dir(d, "train", block_size=T)
    from torch.utils.data import DataLoader
    fns = {
        "nanoGPT get_batch (memmap per call)": lambda: nanogpt_get_batch(d),
        "nanoGPT get_batch (memmap once)": make_nanogpt_cached(d),
        "gptdata get_batch": lambda: get_batch("train", B, T, data_dir=d),
        "gptdata ds.dataloader(64)": looping(ds.dataloader(B, seed=0)),
        "torch DataLoader(ds, 64, shuffle)": looping(DataLoader(ds, batch_size=B, shuffle=True)),
    }
    x, y = fns["gptdata get_batch"](); assert x.shape == (B, T) and torch.equal(x[:, 1:], y[:, :-1])
    for f in fns.values(): rate(f, 20)  # warm up (page cache, first memmap)
    rates = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items(): rates[k].append(rate(f, n))
    med = {k: statistics.median(v) for k, v in rates.items()}
    base, base2 = med["nanoGPT get_batch (memmap per call)"], med["nanoGPT get_batch (memmap once)"]
    print(f"\nbatches of {B} x {T} from {len(ds.data):,} tokens ({ds.data.dtype}); median of {repeats} x {n} batches")
    for k, v in med.items():
        print(f"  {k:38s}: {v:9,.0f} batches/s  ({v * B * T / 1e6:6.1f} M tokens/s)  x{v / base:5.2f} vs nanoGPT, x{v / base2:5.2f} vs memmap-once")
    return med, ds

def bench_item(ds, repeats:int):
    idx = np.random.default_rng(0).integers(0, len(ds), 2000)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for i in idx: ds[int(i)]
        ts.append((time.perf_counter() - t) / len(idx))
    print(f"\nds[i] latency (block_size {T}): median {statistics.median(ts) * 1e6:.1f} us")

def bench_epoch(d:Path, repeats:int):
    ds = TextDataset.from_dir(d, "train", block_size=T, stride=T)
    dl = ds.dataloader(B, seed=0)
    ts = []
    for _ in range(max(3, repeats // 2)):
        t = time.perf_counter(); nb = sum(1 for _ in dl); ts.append(time.perf_counter() - t)
    m = statistics.median(ts)
    print(f"\nfull epoch, stride=block_size={T}: {len(ds):,} windows, {nb:,} batches in {m:.2f} s (median): "
          f"{nb / m:,.0f} batches/s, {len(ds) * T / m / 1e6:.0f} M tokens/s")

STREAM_CHILD = r'''
import json, sys, time
def hwm():  # this process's peak RSS in MB (VmHWM; ru_maxrss would include the parent's peak inherited at fork)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
from gptdata.dataset import write_token_files
src, out, compact = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
import gptdata.tokenizer; gptdata.tokenizer.get_tokenizer()
rss0 = hwm()
t = time.perf_counter()
m = write_token_files(src, out, compact=compact, block_size=256)
print(json.dumps({"s": time.perf_counter() - t, "rss0_mb": rss0, "peak_mb": hwm(),
                  "tokens": m["train_tokens"] + m["val_tokens"], "dtype": m["dtype"], "vocab": m["vocab_size"]}))
'''

def bench_stream(n_tokens:int):
    "Write a JSONL store of ~n_tokens (streamed), then build token files from it in a fresh process; report peak RSS."
    from gptdata.samples import Sample
    src = WORK/f"stream_{n_tokens}.jsonl"
    if not src.exists():
        texts = english_corpus(5_000_000)
        with open(src.with_suffix(".tmp"), "w", encoding="utf-8") as f:
            for k in range(repeats_for(texts, n_tokens)):
                for t in texts: f.write(json.dumps(Sample(f"{t} [{k}]", method="template").to_dict(), ensure_ascii=False) + "\n")
        os.replace(src.with_suffix(".tmp"), src)
    print(f"\nstreaming build from {src} ({src.stat().st_size / 1e6:,.0f} MB JSONL), fresh process each:")
    for compact in (False, True):
        r = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(src), str(WORK/f"stream_out_{int(compact)}"), str(int(compact))],
                           capture_output=True, text=True)
        if r.returncode: print(r.stderr[-2000:]); raise SystemExit(1)
        o = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"  compact={compact!s:5}: {o['tokens']:,} tokens ({o['dtype']}, vocab {o['vocab']:,}) in {o['s']:.0f} s "
              f"({o['tokens'] / o['s'] / 1e6:.2f} M tokens/s); peak RSS {o['peak_mb']:.0f} MB (after imports {o['rss0_mb']:.0f} MB; limit 500)")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=float, default=10e6)
    ap.add_argument("--stream-tokens", type=float, default=20e6, help="0 to skip the streaming build")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--rebuild", action="store_true")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    d = build(int(a.tokens), a.rebuild)
    med, ds = bench_batches(d, a.repeats, a.batches)
    bench_item(ds, a.repeats)
    bench_epoch(d, a.repeats)
    base = med["nanoGPT get_batch (memmap per call)"]
    print(f"\nratios vs nanoGPT-style get_batch: get_batch x{med['gptdata get_batch'] / base:.1f}, "
          f"dataloader x{med['gptdata ds.dataloader(64)'] / base:.1f} (target >= 1.5)")
    if a.stream_tokens: bench_stream(int(a.stream_tokens))

if __name__ == "__main__": main()

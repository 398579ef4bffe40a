"""Refiner speed: heuristic scoring vs datatrove's Gopher filters, our MinHash LSH vs datasketch, and a full refine.

All on the same samples (the LARGE preset's 100k-token initial set), interleaved, in one process; medians of N runs.
Targets (issue 5): scoring throughput >= 1x datatrove's GopherQualityFilter + GopherRepetitionFilter;
refining 100k tokens (score, dedup, select) <= 1 s.
Samples: the template generator's when gptdata.generator exists, else varied text: the test server's seeded
generator for three domains plus prose/doc chunks from installed packages (bench/corpus.py).
Needs `pip install datatrove spacy` (benchmark only; datatrove's English word tokenizer is spacy's).   Run: .venv/bin/python bench/bench_refiner.py
"""
import statistics, sys, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent)); sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from gptdata.config import ModelSize
from gptdata.tokenizer import get_tokenizer
from gptdata.quality import QualityScorer
from gptdata.dedup import near_duplicate_clusters
from gptdata.refiner import DataRefiner

PROMPTS = ["vegetarian soup recipes", "short poems about the sea", "python programming tips"]

def make_samples(n_tokens: int) -> tuple[list[str], str]:
    tok = get_tokenizer()
    try:
        from gptdata.generator import DataGenerator
        from gptdata.templates import Template
        out = []
        for p in PROMPTS:
            out += [s.text for s in DataGenerator(p).generate_samples(n_tokens // len(PROMPTS), Template())]
        return out, "template generator"
    except Exception as e:  # not landed yet (or failed): varied text
        why = f"{type(e).__name__}"
    from ollama_server import make_text
    from corpus import english_corpus
    out, total, k = [], 0, 0
    prose = english_corpus(400_000, sample_chars=700)
    while total < n_tokens:
        t = make_text(PROMPTS[k % 3], k, num_predict=60 + 15 * (k % 9))[0] if k % 2 else prose[k // 2]
        if k % 25 == 0 and out: t = out[-1]  # some exact repeats, as generators produce
        out.append(t); total += tok.count(t); k += 1
    return out, f"varied text (test-server generator + package docs; no template generator: {why})"

def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

def main(repeats: int = 7):
    texts, source = make_samples(ModelSize.LARGE.initial_tokens)
    n = len(texts)
    print(f"samples: {n:,} ({source}), {sum(map(len, texts)):,} chars, median of {repeats} runs")

    # 1. heuristic scoring vs datatrove Gopher quality + repetition
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
        gq, gr = GopherQualityFilter(min_doc_words=5), GopherRepetitionFilter()
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        def datatrove_run():
            return [gq.filter(d) is True and gr.filter(d) is True for d in docs]
        datatrove_run()
    except ImportError as e:
        datatrove_run = None
        print(f"datatrove baseline unavailable ({e}); pip install datatrove spacy")
    scorer = QualityScorer(PROMPTS[0])
    def ours(): return [a.ok for a in scorer.assess_many(texts)]
    ours()
    t_ours, t_dt = [], []
    for _ in range(repeats):
        t_ours.append(median_time(ours, 1))
        if datatrove_run: t_dt.append(median_time(datatrove_run, 1))
    mo = statistics.median(t_ours)
    print(f"\n[scoring] ours: all signals + {len(scorer.rules)} rules      {n/mo:9,.0f} samples/s ({mo*1000:.0f} ms)")
    if datatrove_run:
        md = statistics.median(t_dt)
        print(f"[scoring] datatrove GopherQuality+GopherRepetition {n/md:9,.0f} samples/s ({md*1000:.0f} ms)")
        print(f"[scoring] throughput ratio ours/datatrove: {md/mo:.2f}x  (target >= 1.0)")

    # 2. near-duplicate clustering vs datasketch MinHash + MinHashLSH (same shingles: 5 word n-grams, 128 perms, 0.8)
    from datasketch import MinHash, MinHashLSH
    from gptdata.dedup import normalize
    def datasketch_run():
        lsh, hs = MinHashLSH(threshold=0.8, num_perm=128), []
        for i, t in enumerate(texts):
            w = normalize(t).split(); k = min(5, len(w))
            m = MinHash(num_perm=128, seed=1)
            m.update_batch([" ".join(w[j:j+k]).encode() for j in range(len(w) - k + 1)])
            lsh.insert(str(i), m); hs.append(m)
        return [lsh.query(m) for m in hs]
    def ours_dedup(): return near_duplicate_clusters(texts)
    t_o, t_d = [], []
    for _ in range(repeats):
        t_o.append(median_time(ours_dedup, 1)); t_d.append(median_time(datasketch_run, 1))
    a, b = statistics.median(t_o), statistics.median(t_d)
    print(f"\n[dedup] ours (numpy MinHash + LSH, verified)   {n/a:9,.0f} samples/s ({a*1000:.0f} ms)")
    print(f"[dedup] datasketch MinHash + MinHashLSH       {n/b:9,.0f} samples/s ({b*1000:.0f} ms)")
    print(f"[dedup] speed ratio ours/datasketch: {b/a:.1f}x")

    # 3. full refine of the LARGE preset's initial set to its final budget (score, dedup, select; no judge)
    ref = DataRefiner(PROMPTS[0], diversity=False)
    def refine():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ref.refine_samples(texts, ModelSize.LARGE.final_tokens)
    refine()
    mr = median_time(refine, repeats)
    rep = ref.last_report
    print(f"\n[refine] {n:,} samples, {sum(r['n_tokens'] for r in rep.rows):,} tokens -> {rep.selected_tokens:,} "
          f"selected (target {rep.target_tokens:,}, shortfall {rep.shortfall:,}): {mr*1000:.0f} ms, {n/mr:,.0f} samples/s "
          f"(target <= 1000 ms)")
    print(f"[refine] outcomes: {rep.counts()}")

if __name__ == "__main__": main()

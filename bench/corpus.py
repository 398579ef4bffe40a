"Benchmark corpora built from text already on this machine (no downloads)."
import random, sys, sysconfig
from pathlib import Path

def english_corpus(n_bytes:int=20_000_000, sample_chars:int=600, seed:int=0) -> list[str]:
    "About `n_bytes` of English-like text in samples of ~`sample_chars`, from the docs and sources of installed packages."
    roots = [Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["stdlib"])]
    chunks, size = [], 0
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.suffix not in {".py", ".txt", ".md", ".rst"} or not p.is_file(): continue
            try: t = p.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError): continue
            for i in range(0, len(t), sample_chars):
                chunks.append(t[i:i+sample_chars]); size += len(chunks[-1])
            if size >= n_bytes: break
        if size >= n_bytes: break
    random.Random(seed).shuffle(chunks)
    return chunks

if __name__ == "__main__":
    c = english_corpus(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    print(len(c), "samples,", sum(map(len, c)), "chars")

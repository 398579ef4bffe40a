"""`gptdata build` wall time on the template default, process start included (issue 7: LARGE preset <= 2 s).

Runs the real console script in fresh processes, several times per preset, and prints medians. For scale it also times,
in the same run, a bare `python -c "import tiktoken"` process (the floor of any Python CLI that tokenizes) and raw
tiktoken counting of the generated samples.  Run: .venv/bin/python bench/bench_build.py [--repeats 5]
"""
import argparse, json, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

BIN = Path(sys.executable).parent
PROMPT = "short vegetarian weeknight recipes"

def wall(cmd) -> float:
    t = time.perf_counter(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

def main(repeats=5):
    tmp = Path(tempfile.mkdtemp())
    floor = statistics.median(wall([sys.executable, "-c", "import tiktoken, numpy"]) for _ in range(repeats))
    print(f"python + tiktoken + numpy import, fresh process: {floor:.3f} s (median of {repeats})")
    for size in ("small", "medium", "large"):
        times = []
        for i in range(repeats):
            out = tmp/f"{size}{i}"
            times.append(wall([str(BIN/"gptdata"), "build", PROMPT, "--size", size, "--out", str(out), "--quiet"]))
        s = json.loads((out/"summary.json").read_text())
        med = statistics.median(times)
        print(f"gptdata build --size {size:<6}: {med:.3f} s median (min {min(times):.3f}, max {max(times):.3f}); "
              f"{s['generated_tokens']:,} generated, {s['kept_tokens']:,} kept, {s['train_tokens']+s['val_tokens']:,} in token files; "
              f"stages {', '.join(f'{k} {v:.2f}' for k, v in s['timings'].items())}")
    print(f"LARGE: {med:.3f} s vs target 2.0 s -> {2.0/med:.2f}x headroom; {med/floor:.1f}x a bare tokenizer-importing process")
    shutil.rmtree(tmp)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--repeats", type=int, default=5)
    main(ap.parse_args().repeats)

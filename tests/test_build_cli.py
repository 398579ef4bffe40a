"`gptdata build` end to end: the output contract, determinism, reuse, resume after kill -9, and one-line user errors."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from ollama_server import free_port
from gptdata.samples import read_samples
from gptdata.tokenizer import get_tokenizer

GPTDATA = "import sys; from gptdata.cli import main; sys.exit(main(sys.argv[1:]))"  # the `gptdata` command
PROMPT = "short vegetarian weeknight recipes"
SMALL = ("--initial-tokens", "6000", "--final-tokens", "3000")
CONTRACT = {"samples.jsonl", "refined.jsonl", "train.bin", "val.bin", "meta.json"}

def cmd(*args): return [sys.executable, "-c", GPTDATA, "build", *map(str, args)]

def run(*args, timeout=180):
    "Run `gptdata build ARGS` in a fresh interpreter; (exit code, stdout, stderr)."
    p = subprocess.run(cmd(*args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr

def assert_one_line_error(rc, out, err, *needles):
    assert rc == 2, (rc, out, err)
    assert err.count("\n") == 1 and err.startswith("gptdata build: error:") and "Traceback" not in err, err
    for n in needles: assert n in err, err

def test_build_writes_the_contract(tmp_path):
    d = tmp_path/"recipes"
    rc, out, err = run(PROMPT, "--out", d, "--size", "small")
    assert rc == 0, err
    assert [l.split()[0] for l in out.splitlines()] == ["plan", "generate", "refine", "tokenize", "total"], out
    assert CONTRACT | {"summary.json", "README.md", "report.html", "refine_report.jsonl"} <= {p.name for p in d.iterdir()}
    meta = json.loads((d/"meta.json").read_text())
    for k in ("encoding", "vocab_size", "dtype", "train_tokens", "val_tokens", "domain", "method"): assert k in meta, k
    assert (meta["encoding"], meta["dtype"], meta["domain"], meta["method"]) == ("cl100k_base", "uint32", "cooking", "template")
    train, val = (np.fromfile(d/f"{s}.bin", dtype=meta["dtype"]) for s in ("train", "val"))
    assert (len(train), len(val)) == (meta["train_tokens"], meta["val_tokens"])
    assert 14_000 <= len(train) + len(val) - meta["train_samples"] - meta["val_samples"] <= 15_000  # the SMALL final budget
    # the token files hold exactly the refined samples, each followed by the end-of-text id
    tok = get_tokenizer()
    decoded = [t for a in (train, val) for t in tok.decode(a).split("<|endoftext|>")[:-1]]
    assert sorted(decoded) == sorted(s.text for s in read_samples(d/"refined.jsonl"))
    summary = json.loads((d/"summary.json").read_text())
    assert summary["kept_samples"] + sum(summary["rejected"].values()) == summary["generated_samples"]

def test_same_seed_same_files_and_rerun_reuses(tmp_path):
    a, b, c = tmp_path/"a", tmp_path/"b", tmp_path/"c"
    for d, seed in ((a, 3), (b, 3), (c, 4)): assert run("melancholy autumn poems", "--out", d, *SMALL, "--seed", seed)[0] == 0
    for f in ("train.bin", "val.bin"): assert (a/f).read_bytes() == (b/f).read_bytes(), f
    same = lambda d: [(s.id, s.text, s.params, s.seed) for s in read_samples(d/"refined.jsonl")]  # all but the creation time
    assert same(a) == same(b)
    assert (a/"train.bin").read_bytes() != (c/"train.bin").read_bytes()
    before = {f: (a/f).stat().st_mtime_ns for f in ("train.bin", "refined.jsonl")}
    assert run("melancholy autumn poems", "--out", a, *SMALL, "--seed", 3)[0] == 0
    assert json.loads((a/"summary.json").read_text())["reused"] == ["refine", "tokenize"]
    assert {f: (a/f).stat().st_mtime_ns for f in before} == before

@pytest.mark.parametrize("args,needle", [
    (("--size", "huge"), "invalid choice"),
    (("--initial-tokens", "1000", "--final-tokens", "2000"), "cannot exceed initial tokens"),
    (("--initial-tokens", "0"), "must be positive"),
    (("--initial-tokens", "ten"), "invalid int value"),
    (("--domain", "knitting"), "unknown domain 'knitting'"),
    (("--seed", "-1"), "non-negative"),
    (("--method", "carrier-pigeon"), "invalid choice"),
])
def test_user_errors_are_one_line_and_write_nothing(tmp_path, args, needle):
    d = tmp_path/"out"
    assert_one_line_error(*run(PROMPT, "--out", d, *args), needle)
    assert not d.exists()  # checked before anything is created

def test_unwritable_or_file_output(tmp_path):
    assert_one_line_error(*run(PROMPT, "--out", "/proc/gptdata-out", *SMALL), "choose a folder you can write to")
    (tmp_path/"f").write_text("x")
    assert_one_line_error(*run(PROMPT, "--out", tmp_path/"f", *SMALL), "is a file")
    assert (tmp_path/"f").read_text() == "x"

def test_empty_prompt_and_other_prompt_in_same_folder(tmp_path):
    assert_one_line_error(*run("  ", "--out", tmp_path/"e", *SMALL), "prompt is empty")
    d = tmp_path/"d"
    assert run(PROMPT, "--out", d, *SMALL)[0] == 0
    before = (d/"samples.jsonl").read_bytes()
    assert_one_line_error(*run("REST API reference docs", "--out", d, *SMALL), "was made for the prompt")
    assert (d/"samples.jsonl").read_bytes() == before

def test_ollama_unreachable_no_fallback_is_a_user_error(tmp_path):
    d = tmp_path/"o"
    rc, out, err = run(PROMPT, "--out", d, *SMALL, "--method", "ollama", "--host", f"http://127.0.0.1:{free_port()}", "--no-fallback")
    assert_one_line_error(rc, out, err)
    assert not (CONTRACT - {"samples.jsonl"}) & {p.name for p in d.iterdir()}

def test_ollama_unreachable_falls_back_to_templates(tmp_path):
    d = tmp_path/"o"
    rc, out, err = run(PROMPT, "--out", d, *SMALL, "--method", "ollama", "--host", f"http://127.0.0.1:{free_port()}")
    assert rc == 0, err
    assert "template" in err.lower()  # the fallback is announced, not silent
    assert {s.method for s in read_samples(d/"samples.jsonl")} == {"template"}

def test_ollama_build_through_the_test_server(tmp_path, ollama_server):
    srv = ollama_server(latency=0.01, parallel=4)
    d = tmp_path/"o"
    rc, out, err = run(PROMPT, "--out", d, "--initial-tokens", "3000", "--final-tokens", "1200", "--method", "ollama",
                       "--host", srv.url, "--gen-model", "llama3.1:8b")
    assert rc == 0, err
    meta = json.loads((d/"meta.json").read_text())
    assert meta["method"] == "ollama" and meta["train_tokens"] > 0
    assert {s.model for s in read_samples(d/"samples.jsonl")} == {"llama3.1:8b"}

def test_kill_9_mid_build_then_resume(tmp_path, ollama_server):
    srv = ollama_server(latency=0.05, parallel=2)
    d = tmp_path/"k"
    args = (PROMPT, "--out", d, "--initial-tokens", "8000", "--final-tokens", "3000", "--method", "ollama", "--host", srv.url)
    p = subprocess.Popen(cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store, t0 = d/"samples.jsonl", time.time()
    while time.time() - t0 < 60 and (not store.exists() or store.read_bytes().count(b"\n") < 5): time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    n_before = store.read_bytes().count(b"\n")
    assert 5 <= n_before and not (d/"meta.json").exists()  # stopped mid-generation, nothing that looks finished
    rc, out, err = run(*args)
    assert rc == 0, err
    ids = [s.id for s in read_samples(store)]
    assert len(ids) == len(set(ids)) and len(ids) >= n_before  # nothing lost, nothing twice
    assert sum(s.n_tokens for s in read_samples(store)) >= 8000 and (d/"meta.json").exists()

def test_repeated_host_spreads_requests_over_servers(tmp_path, ollama_server):
    a, b = ollama_server(latency=0.02, parallel=2), ollama_server(latency=0.02, parallel=2)
    rc, out, err = run(PROMPT, "--out", tmp_path/"m", "--initial-tokens", "4000", "--final-tokens", "1500", "--method", "ollama",
                       "--host", a.url, "--host", b.url, "--concurrency", "2")
    assert rc == 0, err
    n = [srv.stats.requests for srv in (a, b)]
    assert min(n) > 0 and max(srv.stats.max_active for srv in (a, b)) <= 2, n  # both servers worked, within their slots

def test_build_with_llm_judge_caches_judgements(tmp_path, ollama_server):
    srv = ollama_server(latency=0.0, parallel=4)
    d = tmp_path/"j"
    args = (PROMPT, "--out", d, "--initial-tokens", "3000", "--final-tokens", "1200", "--host", srv.url, "--judge",
            "--refine-model", "qwen2.5:7b")
    rc, out, err = run(*args)
    assert rc == 0, err
    judged = [json.loads(l) for l in (d/"refine_report.jsonl").read_text().splitlines()]
    assert any(r.get("judge") is not None for r in judged)  # the judge's ratings reached the report
    asked = srv.stats.requests
    assert asked > 0 and (d/"judge_cache.jsonl").exists()
    rc, out, err = run(PROMPT, "--out", d, "--initial-tokens", "3000", "--final-tokens", "1500", "--host", srv.url, "--judge",
                       "--refine-model", "qwen2.5:7b")  # a new final budget: refine again, but every judgement is cached
    assert rc == 0, err
    assert srv.stats.requests == asked

"""The `Ollama` / `OpenAI` generation methods end to end against the faithful test server: into a store, 20% faults
(none lost), server down (fallback or a clear error), missing model, failure cap, kill -9 mid-run then resume."""
import json, os, signal, subprocess, sys, textwrap, time, warnings
from pathlib import Path
from types import SimpleNamespace
import pytest
from ollama_server import free_port
from gptdata.core import GptdataError
from gptdata.config import Timeouts
from gptdata.samples import SampleStore, read_samples
from gptdata.tokenizer import get_tokenizer
from gptdata.llm import Ollama, OpenAI, RetryPolicy, FallbackWarning, check_ollama_cli

pytestmark = pytest.mark.timeout(120)
PROMPT = "Write simple vegetarian recipes"
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)

def make_gen(host, prompt=PROMPT, domain="cooking", seed=0, timeouts=Timeouts(request=2, connect=1, check=2)):
    "A DataGenerator when gptdata.generator exists, else the duck-typed equivalent the method protocol needs."
    try:
        from gptdata.generator import DataGenerator
        return DataGenerator(prompt, ollama_host=host, timeouts=timeouts, domain=domain, seed=seed)
    except ImportError:
        return SimpleNamespace(prompt=prompt, domain=domain, seed=seed, tokenizer=get_tokenizer(), ollama_host=host, timeouts=timeouts)

def failures(store_path):
    p = Path(str(store_path) + ".failures.jsonl")
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []

def test_happy_path_into_a_store(ollama_server, tmp_path):
    srv = ollama_server(latency=0.01, parallel=4, chatty=0.5)
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    m = Ollama(concurrency=4)
    new = m.generate(make_gen(srv.url), 5000, store)
    assert store.n_tokens >= 5000 and len(new) == len(store) == m.summary.samples and m.summary.failed == 0
    on_disk = list(read_samples(store.path))
    assert [s.id for s in on_disk] == [s.id for s in new]
    assert all(s.method == "ollama" and s.model == "llama3.1:8b" and s.domain == "cooking" for s in on_disk)
    assert all({"form", "dish", "style", "audience", "llm_seed"} <= set(s.params) for s in on_disk)
    assert all(s.n_tokens == get_tokenizer().count(s.text) for s in on_disk)
    assert not any(s.text.startswith(("Sure", "Here", "Certainly", '"', "```", "#")) for s in on_disk)
    log = srv.stats.log
    assert len({e["seed"] for e in log}) == len(log) and len({e["prompt"] for e in log}) == len(log)  # all different
    assert srv.stats.max_in_flight == 4 and {e["keep_alive"] for e in log} == {"30m"}
    assert {e["options"]["num_predict"] for e in log} == {150} and {e["options"]["temperature"] for e in log} == {0.8}
    assert m.generate(make_gen(srv.url), 5000, store) == []                   # already done: nothing sent
    assert len(srv.stats.log) == len(log) + 0

def test_20_percent_faults_none_lost(ollama_server, tmp_path):
    srv = ollama_server(latency=0.01, parallel=4, fault_rate=0.2, seed=5, slow_seconds=1.0)
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    m = Ollama(concurrency=4, retry=RetryPolicy(attempts=2, backoff=0.01, max_failures=0.5),
               timeouts=Timeouts(request=0.3, connect=1, check=2))
    m.generate(make_gen(srv.url), 8000, store)
    fails = failures(store.path)
    assert store.n_tokens >= 8000 and m.summary.failed == len(fails) and sum(srv.stats.faults.values()) >= 5
    stored = [s.seed for s in read_samples(store.path)]
    failed = [f["index"] for f in fails]
    assert len(set(stored)) == len(stored) and not set(stored) & set(failed)          # no duplicates, never both
    assert all(f["attempts"] == 2 and f["error"] and "params" in f for f in fails)
    done = set(stored) | set(failed)
    holes = set(range(max(done) + 1)) - done                 # requests cancelled when the budget was met
    assert len(holes) <= 2 * 4 + 2 and all(h > max(done) - 40 for h in holes)

def test_server_down_falls_back_or_fails(tmp_path):
    gen = make_gen(f"127.0.0.1:{free_port()}")
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    with pytest.warns(FallbackWarning, match="cannot reach Ollama.*falling back"):
        new = Ollama().generate(gen, 500, store)
    assert store.n_tokens >= 500 and {s.method for s in new} == {"template"}
    with pytest.raises(GptdataError, match="cannot reach Ollama.*ollama serve"):
        Ollama(fallback=False).generate(gen, 500, SampleStore(tmp_path / "t.jsonl", prompt=PROMPT))

def test_missing_model(ollama_server, tmp_path):
    srv = ollama_server()
    with pytest.raises(GptdataError, match=r"ollama pull mistral:7b"):
        Ollama("mistral:7b").generate(make_gen(srv.url), 500, SampleStore(tmp_path / "s.jsonl", prompt=PROMPT))
    assert srv.stats.requests == 0                                            # checked before sending anything

def test_failure_cap_stops_with_a_resumable_error(ollama_server, tmp_path):
    srv = ollama_server(fault_rate=1.0, faults=["500"])
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    with pytest.raises(GptdataError, match="stopped after .* failed requests.*rerun the same command"):
        Ollama(retry=RetryPolicy(attempts=2, backoff=0.01, max_failures=5)).generate(make_gen(srv.url), 5000, store)
    assert 6 <= len(failures(store.path)) <= 6 + 4          # the cap, plus requests already in flight (window 2*1+2)

def test_a_dead_host_is_skipped(ollama_server, tmp_path, capsys):
    srv = ollama_server(latency=0.01, parallel=4)
    gen = make_gen([f"127.0.0.1:{free_port()}", srv.url])
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    Ollama(concurrency=4).generate(gen, 2000, store)
    assert store.n_tokens >= 2000 and "warning: skipping" in capsys.readouterr().err

def test_resume_does_not_repeat_failed_requests(ollama_server, tmp_path):
    from gptdata.llm import request_params
    doomed, flaky = request_params(make_gen("x"), 0)[1], [True]
    def fault(n, body):                  # request 0 fails in the first run only
        return "500" if body["options"]["seed"] == doomed and flaky[0] else None
    srv = ollama_server(latency=0.01, parallel=2, fault_fn=fault)
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    m = Ollama(concurrency=1, retry=RetryPolicy(attempts=2, backoff=0.01))
    m.generate(make_gen(srv.url), 1500, store)
    assert [f["index"] for f in failures(store.path)] == [0]
    flaky[0] = False
    m.generate(make_gen(srv.url), 3000, store)
    assert 0 not in {s.seed for s in read_samples(store.path)}                # not asked again
    Ollama(concurrency=1, retry_failed=True).generate(make_gen(srv.url), store.n_tokens + 300, store)
    assert 0 in {s.seed for s in read_samples(store.path)}                    # unless asked to

def test_openai_method(ollama_server, tmp_path):
    srv = ollama_server(latency=0.01, parallel=4, chatty=0.5, fault_rate=0.1, faults=["503", "500"], seed=1)
    store = SampleStore(tmp_path / "s.jsonl", prompt=PROMPT)
    new = OpenAI("qwen2.5:7b", concurrency=4, retry=FAST).generate(make_gen(srv.url), 3000, store)
    assert store.n_tokens >= 3000 and {s.method for s in new} == {"openai"} and {s.model for s in new} == {"qwen2.5:7b"}
    assert all(e["path"] == "/v1/chat/completions" for e in srv.stats.log)

def test_generate_cli_with_ollama(ollama_server, tmp_path):
    from gptdata.cli import main
    srv = ollama_server(latency=0.01, parallel=1)
    out = tmp_path / "s.jsonl"
    assert main(["generate", PROMPT, "--tokens", "2000", "--out", str(out), "--method", "ollama", "--host", srv.url,
                 "--gen-model", "qwen2.5:7b"]) == 0
    samples = list(read_samples(out))
    assert sum(s.n_tokens for s in samples) >= 2000 and {(s.method, s.model) for s in samples} == {("ollama", "qwen2.5:7b")}
    assert main(["generate", PROMPT, "--tokens", "2000", "--out", str(tmp_path / "t.jsonl"), "--method", "ollama",
                 "--host", f"127.0.0.1:{free_port()}", "--no-fallback"]) == 2

def test_check_ollama_cli(ollama_server, capsys):
    srv = ollama_server()
    assert check_ollama_cli(["--host", srv.url, "--model", "llama3.1:8b"]) == 0
    assert "is up" in capsys.readouterr().out
    assert check_ollama_cli(["--host", srv.url, "--model", "mistral:7b"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ollama pull mistral:7b" in err
    assert check_ollama_cli(["--host", f"127.0.0.1:{free_port()}"]) == 2
    assert "cannot reach" in capsys.readouterr().err
    assert check_ollama_cli(["--host", srv.url, "--model", "qwen2.5:7b", "--openai"]) == 0

SCRIPT = textwrap.dedent('''
    import sys
    sys.path.insert(0, {tests!r})
    from test_ollama_generation import make_gen, PROMPT
    from gptdata.samples import SampleStore
    from gptdata.llm import Ollama
    url, path, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
    Ollama(concurrency=4).generate(make_gen(url), tokens, SampleStore(path, prompt=PROMPT))
''')

def test_kill_9_mid_run_then_resume(ollama_server, tmp_path):
    srv = ollama_server(latency=0.03, parallel=4, chatty=0.3)
    script = tmp_path / "run.py"; script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    path, target = tmp_path / "s.jsonl", 30_000
    p = subprocess.Popen([sys.executable, str(script), srv.url, str(path), str(target)], env={**os.environ, "PYTHONPATH": os.getcwd()})
    deadline = time.time() + 60
    while time.time() < deadline and (not path.exists() or path.read_bytes().count(b"\n") < 40): time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    before = path.read_bytes()
    assert before.count(b"\n") >= 40 and p.returncode == -signal.SIGKILL
    sent_before = srv.stats.requests
    with warnings.catch_warnings(): warnings.simplefilter("ignore")               # a torn last line is reported
    store = SampleStore(path, prompt=PROMPT)
    m = Ollama(concurrency=4)
    m.generate(make_gen(srv.url), target, store)
    after = path.read_bytes()
    complete = before[:before.rfind(b"\n") + 1]
    assert after.startswith(complete)                                            # nothing stored was lost
    samples = list(read_samples(path))
    assert len({s.id for s in samples}) == len(samples) and len({s.seed for s in samples}) == len(samples)  # no duplicates
    assert store.n_tokens >= target and m.summary.skipped == complete.count(b"\n")
    assert srv.stats.requests - sent_before < len(samples) - m.summary.skipped + 2 * 4 + 2    # stored ones not asked again
    # the resumed store holds what one uninterrupted run writes for the same request numbers
    ref = SampleStore(tmp_path / "ref.jsonl", prompt=PROMPT)
    Ollama(concurrency=4).generate(make_gen(srv.url), target, ref)
    ref_text = {s.seed: s.text for s in read_samples(ref.path)}
    common = [s for s in samples if s.seed in ref_text]
    assert len(common) >= 0.8 * len(samples) and all(ref_text[s.seed] == s.text for s in common)

"Refiner behaviour outside the notebooks: selection bounds, shortfall, dedup, judge cache and fallbacks, CLI."
import copy, json, sys, warnings
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parent))
from ollama_server import OllamaServer
from gptdata.core import GptdataError
from gptdata.samples import Sample, SampleStore
from gptdata.refiner import DataRefiner, refine_cli, select_to_budget

PROMPT = "short texts about the sea, the harbour and the night"
def corpus(n=60, seed=0):
    "`n` varied texts from the test server's generator that pass the rules on their own."
    from ollama_server import make_text
    from gptdata.quality import QualityScorer
    qs, out, k = QualityScorer(PROMPT), [], seed * 10_000
    while len(out) < n:
        t = make_text(PROMPT, k, num_predict=40 + 20 * (k % 5))[0]; k += 1
        if qs.assess(t).ok: out.append(t)
    return out

@pytest.fixture(scope="module")
def refiner(): return DataRefiner(PROMPT, diversity=False)

@pytest.mark.parametrize("target", [50, 333, 1000, 1500])
def test_selection_bounds(refiner, target):
    texts = corpus()
    kept = refiner.refine_samples(texts, target)
    rep = refiner.last_report
    total = sum(s.n_tokens for s in kept)
    assert total == rep.selected_tokens <= target
    unselected = [r["n_tokens"] for r in rep.rows if r["verdict"] == "unselected"]
    if unselected: assert target - total < max(unselected)  # within one sample's length of the target
    assert rep.shortfall == 0

def test_select_to_budget_property():
    import random
    rng = random.Random(1)
    for _ in range(200):
        n = [rng.randint(1, 50) for _ in range(rng.randint(1, 30))]
        s = [rng.random() for _ in n]
        t = rng.randint(1, 600)
        sel = select_to_budget(n, s, t)
        tot = sum(n[i] for i in sel)
        assert tot <= t
        rest = [n[i] for i in range(len(n)) if i not in sel]
        if rest: assert t - tot < max(rest)

def test_shortfall_reported(refiner):
    texts = corpus(10)
    with pytest.warns(UserWarning, match="short of"):
        kept = refiner.refine_samples(texts, 100_000)
    rep = refiner.last_report
    assert len(kept) == 10 and rep.shortfall == 100_000 - rep.selected_tokens > 0
    assert rep.summary()["shortfall"] == rep.shortfall

def test_dedup_keeps_best_member(refiner):
    good = ("The old keeper watches the silver water, and the harbour sleeps under the cold stars of the night; "
            "the tide returns the small boats to the long pier.")
    worse = good.replace("; ", " ").replace(".", "") + " and"  # same words, truncated ending: lower score
    texts = [worse, "The captain calls the young sailor home before the storm reaches the sleeping harbour.", good]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = refiner.refine_samples(texts + corpus(5), 10_000)
    rows = refiner.last_report.rows
    assert rows[2]["verdict"] == "selected"
    assert rows[0]["verdict"] in ("duplicate", "rejected")
    # a pure near-duplicate pair, both passing: the higher score wins wherever it sits
    a = "The lighthouse keeper climbs the stairs every evening and lights the great lamp above the quiet harbour tonight."
    b = a.replace("tonight.", "tonight")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refiner.refine_samples([b, a], 10_000)
    r = refiner.last_report.rows
    best = max((0, 1), key=lambda i: r[i]["score"])
    assert r[best]["verdict"] == "selected" and r[1 - best]["verdict"] in ("duplicate", "rejected")

def test_strings_and_samples_input_not_modified(refiner):
    texts = corpus(8)
    samples = [Sample(t, domain="general", params={"i": i}) for i, t in enumerate(texts[:4])] + texts[4:]
    before = copy.deepcopy(samples)
    kept = refiner.refine_samples(samples, 300)
    assert samples == before  # neither the list nor its Sample records changed
    assert all(s.n_tokens is None for s in samples[:4])
    assert all(isinstance(s, Sample) and s.n_tokens for s in kept)
    ids = {s.id for s in kept}
    assert ids <= {Sample.of(x).id for x in samples}

@pytest.mark.parametrize("bad,msg", [([], "no samples"), ("a string", "list"), ([1, 2], "Sample")])
def test_bad_inputs(refiner, bad, msg):
    with pytest.raises(GptdataError, match=msg): refiner.refine_samples(bad, 100)

@pytest.mark.parametrize("target", [0, -5, 1.5, True])
def test_bad_target(refiner, target):
    with pytest.raises(GptdataError, match="target_tokens"): refiner.refine_samples(corpus(3), target)

def test_garbage_recorded_not_crashing(refiner):
    texts = ["", "   ", "\x00\x01\x02\x03\x89PNG\x1a", "\ufffd\ufffd\ufffd abc", "%%%% #### $$$$ ****"] + corpus(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = refiner.refine_samples(texts, 1000)
    rows = refiner.last_report.rows
    assert all(r["verdict"] == "rejected" and r["reason"] for r in rows[:5])
    assert len(kept) == 3

def test_judge_cache_second_run_asks_nothing(tmp_path):
    texts = corpus(12)
    cache = tmp_path / "judge.jsonl"
    with OllamaServer(parallel=4) as srv:
        r = DataRefiner(PROMPT, ollama_host=srv.url, judge_cache=cache, diversity=False, min_judge_score=1)
        r.refine_samples(texts, 400, use_ollama=True)
        first = srv.stats.requests
        assert first == 12 and r.last_report.judge["asked"] == 12
        assert all(row["judge"] is not None for row in r.last_report.rows)
        srv.reset_stats()
        r2 = DataRefiner(PROMPT, ollama_host=srv.url, judge_cache=cache, diversity=False, min_judge_score=1)
        r2.refine_samples(texts, 400, use_ollama=True)
        assert srv.stats.requests == 0
        assert r2.last_report.judge["cached"] == 12 and r2.last_report.judge["asked"] == 0
        assert [x["score"] for x in r.last_report.rows] == [x["score"] for x in r2.last_report.rows]
        # another model is another key
        srv.reset_stats()
        r2.refine_samples(texts, 400, use_ollama=True, model="llama3.1:8b")
        assert srv.stats.requests == 12

def test_invalid_judge_json_falls_back_and_is_counted(tmp_path):
    texts = corpus(10)
    with OllamaServer(json_fail_rate=1.0) as srv:
        r = DataRefiner(PROMPT, ollama_host=srv.url, diversity=False)
        with pytest.warns(UserWarning, match="invalid"):
            r.refine_samples(texts, 400, use_ollama=True)
    rep = r.last_report
    assert rep.judge["invalid"] == 10 and rep.judge["asked"] == 10
    assert all(row["judge"] is None and row["score"] == row["heuristic"] for row in rep.rows)

def test_judge_server_down_falls_back():
    from ollama_server import free_port
    r = DataRefiner(PROMPT, ollama_host=f"http://127.0.0.1:{free_port()}", diversity=False)
    with pytest.warns(UserWarning, match="failed"):
        kept = r.refine_samples(corpus(3), 400, use_ollama=True)
    assert r.last_report.judge["failed"] == 3 and len(kept) == 3

def _store(path, texts, prompt=PROMPT):
    with SampleStore(path, prompt=prompt) as st:
        for i, t in enumerate(texts): st.add(Sample(t, params={"i": i}))

def test_cli_writes_outputs(tmp_path, capsys):
    src = tmp_path / "samples.jsonl"; _store(src, corpus(40))
    out = tmp_path / "refined.jsonl"
    assert refine_cli([str(src), "--tokens", "800", "--out", str(out)]) == 0
    kept = [json.loads(l) for l in out.read_text().splitlines()]
    assert kept and sum(k["n_tokens"] for k in kept) <= 800
    for ext in ("csv", "json", "png"): assert (tmp_path / f"refined.report.{ext}").exists()
    summary = json.loads((tmp_path / "refined.report.json").read_text())
    assert summary["selected_tokens"] == sum(k["n_tokens"] for k in kept)
    assert "kept" in capsys.readouterr().out

def test_cli_non_utf8_lines_are_reported(tmp_path, capsys):
    src = tmp_path / "samples.jsonl"; _store(src, corpus(10))
    with open(src, "ab") as f: f.write(b'{"text": "\xff\xfe broken"}\n')
    out = tmp_path / "refined.jsonl"
    assert refine_cli([str(src), "--tokens", "200", "--out", str(out), "--no-plots"]) == 0
    assert "unreadable line" in capsys.readouterr().err

@pytest.mark.parametrize("args,msg", [
    (["--tokens", "0"], "positive"),
    (["--tokens", "x"], "invalid int"),
    ([], "required"),
])
def test_cli_user_errors(tmp_path, capsys, args, msg):
    src = tmp_path / "samples.jsonl"; _store(src, corpus(5))
    out = tmp_path / "refined.jsonl"
    assert refine_cli([str(src), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()

def test_cli_missing_input_and_prompt(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert refine_cli([str(tmp_path / "nope.jsonl"), "--tokens", "10", "--out", str(out)]) == 2
    assert "no sample file" in capsys.readouterr().err
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps(Sample(t).to_dict()) + "\n" for t in corpus(3)))
    assert refine_cli([str(plain), "--tokens", "10", "--out", str(out)]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert refine_cli([str(plain), "--tokens", "10", "--out", str(out), "--prompt", PROMPT, "--no-plots"]) == 0

def test_cli_shortfall_exit_zero_with_warning(tmp_path, capsys):
    src = tmp_path / "samples.jsonl"; _store(src, corpus(5))
    out = tmp_path / "refined.jsonl"
    assert refine_cli([str(src), "--tokens", "100000", "--out", str(out), "--no-plots"]) == 0
    cap = capsys.readouterr()
    assert "short" in cap.out and "short of" in cap.err

"Template generation: diversity targets over 100k tokens per built-in domain, determinism, crash-safe resume, user grammars."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

GPTDATA = "import sys; from gptdata.cli import main; sys.exit(main(sys.argv[1:]))"  # the `gptdata` command
from gptdata.generator import DataGenerator
from gptdata.metrics import diversity_report, diversity_table
from gptdata.samples import SampleStore, read_samples
from gptdata.templates import Template, Grammar, register_grammar, sample_params, get_grammar

TOKENS = 100_000
PROMPTS = {  # one representative request per built-in domain (the printed table), then more requests, also asserted
    "cooking": "vegetarian weeknight dinner recipes",
    "poetry": "melancholy poems about the sea in autumn",
    "technical": "REST API documentation for a payments service",
    "general": "short explanations and stories for curious kids",
}
MORE = [("cooking", "thai curry with chicken"), ("poetry", "haiku about frogs in the rain"),
        ("technical", "changelog for a python library"), ("general", "letters from a lighthouse keeper"),
        ("cooking", "recipes"), ("general", "anything at all")]
TARGETS = dict(exact_dups=0, near_dup_share=0.01, top_opening_share=0.05, gzip_ratio=4.0)

def check_targets(name, r):
    assert r["exact_dups"] == TARGETS["exact_dups"], (name, r)
    assert r["near_dup_share"] <= TARGETS["near_dup_share"], (name, r)
    assert r["top_opening_share"] <= TARGETS["top_opening_share"], (name, r)
    assert r["gzip_ratio"] <= TARGETS["gzip_ratio"], (name, r)

def generate(domain, prompt, tokens=TOKENS, seed=0):
    return DataGenerator(prompt, domain=domain, seed=seed).generate_samples(tokens)

def test_diversity_targets_per_domain():
    corpora = {d: generate(d, p) for d, p in PROMPTS.items()}
    table = diversity_table(corpora)
    table["tokens"] = [sum(s.n_tokens for s in corpora[d]) for d in table.index]
    with __import__("pandas").option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        print(f"\nTemplate diversity over {TOKENS:,} tokens per domain (targets: {TARGETS}):\n{table}")
    for d, samples in corpora.items():
        assert sum(s.n_tokens for s in samples) >= TOKENS
        check_targets(d, diversity_report(samples))

@pytest.mark.parametrize("domain,prompt", MORE)
def test_diversity_targets_more_requests(domain, prompt):
    r = diversity_report(generate(domain, prompt))
    print(f"\n{domain} / {prompt!r}: {r}")
    check_targets(f"{domain}/{prompt}", r)

def test_deterministic():
    a, b = generate("poetry", "winter poems", 5_000), generate("poetry", "winter poems", 5_000)
    assert [(s.id, s.text, s.params, s.seed, s.n_tokens) for s in a] == [(s.id, s.text, s.params, s.seed, s.n_tokens) for s in b]
    c = generate("poetry", "winter poems", 5_000, seed=1)
    assert not {s.id for s in a} & {s.id for s in c}
    # in a fresh interpreter too: nothing depends on hash() randomisation or the global random state
    code = ("import random; random.seed(123); from gptdata.generator import DataGenerator;"
            "print([s.id for s in DataGenerator('winter poems', domain='poetry').generate_samples(5_000)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONHASHSEED": "7"}).stdout
    assert eval(out) == [s.id for s in a]

def test_samples_record_their_provenance():
    samples = generate("cooking", "vegetarian weeknight dinners", 3_000)
    tok = DataGenerator("x").tokenizer
    assert [s.n_tokens for s in samples] == tok.count_batch([s.text for s in samples])
    assert [s.seed for s in samples] == list(range(len(samples)))
    for s in samples:
        assert s.method == "template" and s.domain == "cooking" and s.model is None
        assert {"form", "dish", "ingredients", "technique", "time", "occasion"} <= set(s.params)
        assert s.params["diet"] == "vegetarian" and s.params["focus"] == ["vegetarian", "weeknight", "dinners"]
    assert len({s.params["form"] for s in samples}) >= 4

def test_the_prompt_steers():
    plain = [s.params["emotion"] for s in generate("poetry", "poems", 20_000)]
    steered = [s.params["emotion"] for s in generate("poetry", "melancholy poems", 20_000)]
    assert steered.count("melancholy") / len(steered) > 0.25 > plain.count("melancholy") / len(plain)
    texts = " ".join(s.text for s in generate("technical", "GraphQL webhooks", 20_000))
    assert "GraphQL" in texts and "webhooks" in texts.lower()

def test_sample_params_api():
    import random
    p = sample_params("technical", random.Random(4), "REST payments")
    assert p == sample_params("technical", random.Random(4), "REST payments")
    assert {"form", "component", "operation", "parameters", "failure"} <= set(p)
    assert json.loads(json.dumps(p)) == p  # JSON-ready for LLM prompts and the store

def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-c", GPTDATA, "generate", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)

def test_resume_after_sigkill(tmp_path):
    out, n = tmp_path/"s.jsonl", 1_500_000
    args = ["vegetarian weeknight dinners", "--tokens", str(n), "--out", str(out), "--no-progress"]
    p = _cli(*args)
    deadline = time.time() + 60
    while (not out.exists() or out.stat().st_size < 200_000) and time.time() < deadline and p.poll() is None: time.sleep(0.01)
    p.send_signal(signal.SIGKILL); p.wait(30)
    assert p.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise n"
    killed = sum(1 for _ in open(out, "rb"))
    p = _cli(*args); so, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    samples = list(read_samples(out))
    ids = [s.id for s in samples]
    assert len(ids) == len(set(ids)), "duplicate ids after resume"
    assert sum(s.n_tokens for s in samples) >= n and len(samples) > killed
    assert [s.seed for s in samples] == list(range(len(samples)))  # the seed sequence continued without a gap
    # the resumed file holds exactly what one uninterrupted run makes
    whole = DataGenerator("vegetarian weeknight dinners").generate_samples(n)
    assert ids == [s.id for s in whole]
    p = _cli(*args); so, se = p.communicate(timeout=120)
    assert p.returncode == 0 and "nothing to do" in so

@pytest.fixture
def user_domains():
    "Domains a test registers are unregistered afterwards, so other suites' detection is unaffected."
    from gptdata.domains import register_domain, unregister_domain
    names = []
    def reg(name, keywords): names.append(name); return register_domain(name, keywords, replace=True)
    yield reg
    for n in names: unregister_domain(n)

def test_user_defined_grammar(user_domains):
    register_domain = user_domains
    register_domain("beekeeping", ["hive", "honey", "beekeeper", "queen", "swarm"])
    register_grammar("beekeeping", Grammar(
        forms={"log": "Hive {hive}, {month}: {task} {Result}", "tip": "{T:task} {when}. {Why}"},
        rules={"hives": "A|B|C|D|E", "months": "March|April|May|June|July", "task": "checked the queen|added a super|fed syrup|split the colony",
               "when": "on a warm afternoon|before noon|after a nectar flow|every {7..10} days",
               "result": ["Calm bees.", "{2..9} frames of brood.", "Smelled of {clover|lime|heather} honey.", "Notes: {focus}."],
               "why": ["Swarms leave in {May|June}.", "The colony {grows|slows} {fast|down}."]},
        features={"hive": "hives", "month": "months"}))
    gen = DataGenerator("beekeeping log for organic honey", domain="beekeeping")
    samples = gen.generate_samples(2_000)
    assert sum(s.n_tokens for s in samples) >= 2_000
    assert all(s.domain == "beekeeping" and {"form", "hive", "month"} <= set(s.params) for s in samples)
    assert any("organic" in s.text for s in samples)  # a request word woven in through {focus}
    # a user domain without a grammar writes with the general grammar, about its keywords
    register_domain("falconry", ["falcon", "hood", "jesses", "lure", "mews"])
    fs = DataGenerator("falconry for beginners", domain="falconry").generate_samples(2_000)
    assert {s.params["topic"] for s in fs} <= {"falcon", "hood", "jesses", "lure", "mews"}
    assert get_grammar("falconry").form_names == get_grammar("general").form_names

def test_a_grammar_too_small_for_the_budget_raises(user_domains):
    from gptdata.core import GptdataError
    user_domains("tiny", ["tiny"])
    register_grammar("tiny", Grammar({"only": "one {a|b} text"}, {}))
    with pytest.raises(GptdataError, match="repeated samples"): DataGenerator("tiny", domain="tiny").generate_samples(1_000)

"Accuracy of `detect_domain` on labelled prompts, its speed on a 1 MB prompt, and the `gptdata detect` command line."
import json, random, string, subprocess, sys, time
from pathlib import Path
import pytest
from gptdata.core import GptdataError
from gptdata.domains import detect_domain, detect_cli, list_domains, _real_words

DATA = Path(__file__).parent/"data"/"domain_prompts.tsv"
MIN_ACCURACY = 0.90

def load_prompts(path=DATA) -> dict[str, list[tuple[str, str]]]:
    "Labelled prompts by set: '# set: NAME' lines start a set; other '#' lines are comments."
    sets, name = {}, "default"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# set:"): name = line.split(":", 1)[1].split()[0]; continue
        if not line.strip() or line.startswith("#"): continue
        label, sep, prompt = line.partition("\t")
        assert sep and prompt.strip(), f"{path.name}:{n}: expected label<TAB>prompt, got {line!r}"
        sets.setdefault(name, []).append((label, prompt))
    return sets

def accuracy(rows) -> tuple[float, list[str]]:
    wrong = []
    for label, prompt in rows:
        m = detect_domain(prompt)
        if m.domain != label: wrong.append(f"  {label} -> {m.domain} ({m.confidence:.2f}): {prompt!r}  matched={m.matched}")
    return 1 - len(wrong)/len(rows), wrong

def test_prompt_file_is_well_formed():
    rows = [r for rs in load_prompts().values() for r in rs]
    assert len(rows) >= 160
    labels = [l for l, _ in rows]
    assert set(labels) <= set(list_domains())
    counts = {d: labels.count(d) for d in ("cooking", "poetry", "technical", "general")}
    assert min(counts.values()) >= 0.2*len(rows), counts  # roughly balanced
    norm = [" ".join(p.lower().split()) for _, p in rows]
    assert len(set(norm)) == len(norm), "duplicate prompts"

def test_accuracy():
    sets = load_prompts()
    results = {name: accuracy(rows) for name, rows in sets.items()}
    total = sum(len(r) for r in sets.values())
    overall = sum(acc*len(sets[name]) for name, (acc, _) in results.items())/total
    for name, (acc, wrong) in results.items():
        print(f"{name}: accuracy {acc:.3f} on {len(sets[name])} prompts")
        for w in wrong: print(w)
    print(f"overall: accuracy {overall:.3f} on {total} prompts")
    assert overall >= MIN_ACCURACY
    for name, (acc, _) in results.items(): assert acc >= MIN_ACCURACY, f"{name} set: {acc:.3f}"

def test_indirect_prompts():
    for prompt, want in [("a bakery's weekend specials", "cooking"), ("error codes for a payment API", "technical"),
                         ("melancholy autumn poems", "poetry"), ("history of the roman empire", "general")]:
        assert detect_domain(prompt).domain == want, prompt

def test_no_evidence_is_general_with_low_confidence():
    m = detect_domain("zxq blorf")
    assert m.domain == "general" and m.confidence < 0.5 and m.matched == {}

def test_bad_input():
    with pytest.raises(GptdataError, match="empty"): detect_domain(" \n\t ")
    with pytest.raises(ValueError): detect_domain("")
    with pytest.raises(TypeError, match="bytes"): detect_domain(b"recipes")

def _one_mb(seed=0):
    "1 MB of words: real ones, misspelt ones (the costly path) and gibberish, so most words are distinct."
    rnd = random.Random(seed); real = sorted(_real_words()) or ["recipe", "poem", "server", "history"]
    def word():
        w = rnd.choice(real); r = rnd.random()
        if r < 0.4: i = rnd.randrange(len(w)); return w[:i] + rnd.choice(string.ascii_lowercase) + w[i+1:]
        if r < 0.6: return "".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(4, 12)))
        return w
    text = " ".join(word() for _ in range(140_000)) + " Our bakery's sourdough recipes. "
    return text[-1_000_000:]

def test_one_megabyte_prompt_is_fast():
    text = _one_mb()
    assert len(text) == 1_000_000
    detect_domain("warm up the index")
    t = time.perf_counter(); m = detect_domain(text); dt = time.perf_counter() - t
    print(f"1 MB prompt ({len(set(text.split())):,} distinct words): {m.domain} in {dt*1000:.0f} ms")
    assert dt < 1.0
    t = time.perf_counter(); detect_domain("recipes " * 125_000); dt = time.perf_counter() - t
    print(f"1 MB of one repeated word: {dt*1000:.0f} ms")
    assert dt < 1.0

def test_cli_human_output(capsys):
    assert detect_cli(["melancholy autumn poems"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert out[0] == "domain: poetry" and out[1].startswith("confidence: ") and "melancholy" in out[2]

def test_cli_json(capsys):
    assert detect_cli(["error codes for a payment API", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["domain"] == "technical" and 0 <= d["confidence"] <= 1
    assert set(d["scores"]) == set(list_domains()) and "api" in d["matched"]["technical"]

@pytest.mark.parametrize("argv", [[""], ["   "], []])
def test_cli_user_errors(capsys, argv):
    assert detect_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gptdata detect: error:")

def test_cli_in_a_subprocess():
    code = "import sys; from gptdata.domains import detect_cli; sys.exit(detect_cli(sys.argv[1:]))"
    ok = subprocess.run([sys.executable, "-c", code, "vegitarian receipes", "--json"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["domain"] == "cooking"
    bad = subprocess.run([sys.executable, "-c", code, ""], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr

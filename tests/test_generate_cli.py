"`gptdata generate`: exit codes, one-line errors, and nothing on disk lost or half-written on bad input."
import hashlib, json, subprocess, sys
from pathlib import Path
import pytest

GPTDATA = "import sys; from gptdata.cli import main; sys.exit(main(sys.argv[1:]))"  # the `gptdata` command
from gptdata.generator import generate_cli

PROMPT = "vegetarian weeknight dinners"

def run(*args):
    "Run `gptdata generate ARGS` in a fresh interpreter; (exit code, stdout, stderr)."
    p = subprocess.run([sys.executable, "-c", GPTDATA, "generate", *map(str, args)], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr

def snapshot(folder:Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}

def assert_one_line_error(rc, out, err, *needles):
    assert rc == 2, (rc, out, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("gptdata generate: error:"), err
    assert "Traceback" not in err
    for n in needles: assert n in err, err

def test_generates_and_continues(tmp_path):
    out = tmp_path/"s.jsonl"
    rc, so, se = run(PROMPT, "--tokens", "20k", "--out", out)
    assert rc == 0 and so.count("\n") == 1 and "+20," in so and "domain cooking" in so, (so, se)
    assert "generating" in se  # the progress bar goes to stderr
    rc, so, _ = run(PROMPT, "--tokens", "30000", "--out", out, "--no-progress")
    assert rc == 0 and "now" in so
    lines = out.read_text().splitlines()
    total = sum(json.loads(l)["n_tokens"] for l in lines)
    assert 30_000 <= total < 31_000
    meta = json.loads((tmp_path/"s.jsonl.meta.json").read_text())
    assert meta["prompt"] == PROMPT and meta["encoding"] == "cl100k_base" and meta["domain"] == "cooking"
    rc, so, _ = run(PROMPT, "--tokens", "25000", "--out", out)
    assert rc == 0 and "nothing to do" in so

@pytest.mark.parametrize("tokens,needle", [("0", "positive"), ("-5", "positive"), ("10000000001", "above the limit"),
                                           ("abc", "argument --tokens: must be a whole number"), ("1.5", "argument --tokens: must be a whole number")])
def test_bad_tokens(tmp_path, tokens, needle):
    rc, so, se = run(PROMPT, "--tokens", tokens, "--out", tmp_path/"s.jsonl")
    assert_one_line_error(rc, so, se, needle)
    assert list(tmp_path.iterdir()) == []  # nothing created

def test_unknown_domain(tmp_path):
    rc, so, se = run(PROMPT, "--tokens", "1000", "--out", tmp_path/"s.jsonl", "--domain", "astrology")
    assert_one_line_error(rc, so, se, "unknown domain 'astrology'", "cooking")
    assert list(tmp_path.iterdir()) == []

@pytest.mark.parametrize("where", ["missing folder", "a folder", "not writable"])
def test_unwritable_out(tmp_path, where):
    out = {"missing folder": tmp_path/"nope"/"s.jsonl", "a folder": tmp_path, "not writable": Path("/proc/s.jsonl")}[where]
    before = snapshot(tmp_path)
    rc, so, se = run(PROMPT, "--tokens", "1000", "--out", out)
    assert_one_line_error(rc, so, se, str(out.parent) if where == "missing folder" else str(out))
    assert snapshot(tmp_path) == before

def test_store_for_another_prompt_is_left_alone(tmp_path):
    out = tmp_path/"s.jsonl"
    assert run(PROMPT, "--tokens", "3000", "--out", out, "--no-progress")[0] == 0
    before = snapshot(tmp_path)
    rc, so, se = run("melancholy poems", "--tokens", "9000", "--out", out)
    assert_one_line_error(rc, so, se, "made for the prompt", PROMPT)
    assert snapshot(tmp_path) == before  # byte for byte

def test_store_for_another_encoding_or_domain_is_left_alone(tmp_path):
    out = tmp_path/"s.jsonl"
    assert run(PROMPT, "--tokens", "3000", "--out", out, "--no-progress")[0] == 0
    before = snapshot(tmp_path)
    rc, so, se = run(PROMPT, "--tokens", "9000", "--out", out, "--domain", "poetry")
    assert_one_line_error(rc, so, se, "holds 'cooking' samples")
    assert snapshot(tmp_path) == before
    meta = tmp_path/"s.jsonl.meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "encoding": "o200k_base"}))
    before = snapshot(tmp_path)
    rc, so, se = run(PROMPT, "--tokens", "9000", "--out", out)
    assert_one_line_error(rc, so, se, "o200k_base")
    assert snapshot(tmp_path) == before

def test_unavailable_llm_method_is_a_clear_error(tmp_path):
    rc, so, se = run(PROMPT, "--tokens", "1000", "--out", tmp_path/"s.jsonl", "--method", "nonsense")
    assert_one_line_error(rc, so, se, "--method")

def test_in_process_exit_codes(tmp_path, capsys):
    assert generate_cli([PROMPT, "--tokens", "1k", "--out", str(tmp_path/"a.jsonl"), "--no-progress"]) == 0
    assert generate_cli([PROMPT, "--tokens", "0", "--out", str(tmp_path/"b.jsonl")]) == 2
    assert generate_cli([PROMPT, "--out", str(tmp_path/"b.jsonl")]) == 2  # --tokens is required
    err = capsys.readouterr().err
    assert "required: --tokens" in err and not (tmp_path/"b.jsonl").exists()

"""Headless tests of the widget app: set widget values, click buttons, wait for the worker thread, check the outputs.

The fake build has `build()`'s signature and honours `callback` and `cancel`; the real-build tests run the pipeline
on a small template budget (they skip only while `gptdata.pipeline` does not exist yet).
"""
import importlib.util, json, threading, time, types
from pathlib import Path
import pytest
import matplotlib
matplotlib.use("Agg")
import pandas as pd
from gptdata.core import GptdataError
from gptdata.widgets import GptdataApp

HAVE_PIPELINE = importlib.util.find_spec("gptdata.pipeline") is not None
needs_pipeline = pytest.mark.skipif(not HAVE_PIPELINE, reason="gptdata.pipeline is not written yet")

class BuildCancelled(Exception): "Named like gptdata.pipeline's: the app takes it for a clean stop."

class FakeBuild:
    "Records the options it got; writes samples one by one, reports progress, stops on `cancel`."
    def __init__(self, n=30, delay=0.0, fail=None, gate=None):
        self.n, self.delay, self.fail, self.gate, self.calls = n, delay, fail, gate, []
    def __call__(self, prompt, out_dir, callback=None, cancel=None, **opts):
        self.calls.append(dict(prompt=prompt, out_dir=out_dir, **opts))
        out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
        callback("plan", 0, 0, {})
        with open(out/"samples.jsonl", "w") as f:
            for i in range(self.n):
                if self.gate is not None: self.gate.wait(5)
                if cancel.is_set(): raise BuildCancelled("cancelled")
                if self.fail and i == self.n//2: raise self.fail
                f.write(json.dumps({"id": f"s{i}", "text": f"text {i} of {prompt}"}) + "\n"); f.flush()
                callback("generate", i + 1, self.n, {"tokens": 10*(i + 1), "tokens_per_s": 100.0, "eta_s": 0.1})
                time.sleep(self.delay)
        for name in ("train.bin", "val.bin"): (out/name).write_bytes(b"\0"*8)
        (out/"meta.json").write_text(json.dumps({"train_tokens": 12_345, "val_tokens": 1_234}))
        callback("done", 1, 1, {})
        return types.SimpleNamespace(out_dir=out, prompt=prompt, domain="cooking", confidence=0.8, method="template",
            initial_tokens=opts.get("initial_tokens"), final_tokens=opts.get("final_tokens"), train_tokens=12_345,
            val_tokens=1_234, generated_samples=self.n, kept_samples=self.n - 3, rejected={"too_short": 3},
            timings={"generate": 0.1}, files={"train.bin": str(out/"train.bin")},
            load_snippet=f"from gptdata import TextDataset; ds = TextDataset.from_dir({str(out)!r}, block_size=64)",
            table=lambda: pd.DataFrame({"stage": ["generated", "kept"], "tokens": [300, 270]}))

def fake_report(out_dir):
    rows = [json.loads(l) for l in open(Path(out_dir)/"samples.jsonl")]
    return pd.DataFrame([{**r, "verdict": "rejected" if i < 3 else "kept", "reason": "too_short" if i < 3 else "",
                          "score": 0.5, "n_tokens": 4} for i, r in enumerate(rows)])

def fake_figures(out_dir):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(); ax.plot([1, 2, 3]); return [fig]

def make_app(build, **kw):
    return GptdataApp(build_fn=build, report_fn=fake_report, figures_fn=fake_figures,
                      method_fn=lambda kind, gen, ref: (kind, gen, ref), **kw)

def test_form_to_build_options(tmp_path):
    b = FakeBuild()
    app = make_app(b)
    app.prompt.value = "  bread recipes with flour and yeast "
    assert "<b>cooking</b>" in app.detected.value
    app.domain.value, app.size.value, app.seed.value = "cooking", "medium", 7
    assert (app.initial_tokens.value, app.final_tokens.value) == (50_000, 25_000)
    app.final_tokens.value = 20_000
    app.out_dir.value = str(tmp_path/"out")
    app.generate.click()
    assert app.wait(10)
    c = b.calls[0]
    assert (c["prompt"], c["out_dir"], c["size"], c["domain"], c["seed"]) == ("bread recipes with flour and yeast", tmp_path/"out", "medium", "cooking", 7)
    assert (c["initial_tokens"], c["final_tokens"], c["method"], c["ollama_host"]) == (50_000, 20_000, ("template", "llama3.1:8b", "qwen2.5:7b"), None)

def test_ollama_options():
    b = FakeBuild()
    app = make_app(b, prompt="poems", method="ollama", host="http://127.0.0.1:1", gen_model="g:1", refine_model="r:2")
    app.out_dir.value = "/tmp/unused-gptdata-widgets"
    app._options()  # no error
    assert app._options()["method"] == ("ollama", "g:1", "r:2") and app._options()["ollama_host"] == "http://127.0.0.1:1"

def test_results_and_files(tmp_path):
    app = make_app(FakeBuild(), prompt="recipes", out_dir=str(tmp_path/"d"))
    app.generate.click(); assert app.wait(10)
    assert app.status.value.startswith("done in") and app.progress.value == app.progress.max
    assert "12,345 train + 1,234 val tokens" in app.summary.value and "<table" in app.summary.value
    assert "TextDataset.from_dir" in app.load_code.value
    assert len(app.plots.outputs) == 1 and "image/png" in app.plots.outputs[0]["data"]
    assert app.sample_filter.options[0][0] == "kept (27)" and len(app.samples.options) == 27
    app.sample_filter.value = "rejected"
    assert len(app.samples.options) == 3 and "too_short" in app.sample_text.value
    app.samples.value = app.samples.options[1][1]
    assert "text 1 of recipes" in app.sample_text.value
    app.sample_filter.value = "all"
    assert len(app.samples.options) == 30
    assert all((tmp_path/"d"/f).exists() for f in ("train.bin", "val.bin", "meta.json", "samples.jsonl"))
    assert app.error.layout.display == "none" and app.results.layout.display is None

def test_kernel_responsive_and_stop(tmp_path):
    gate = threading.Event()
    app = make_app(FakeBuild(n=1000, delay=0.002, gate=gate), prompt="recipes", out_dir=str(tmp_path/"s"))
    app.generate.click()
    assert app.running and app.generate.disabled and not app.stop.disabled and app.prompt.disabled
    app.prompt.value = "poems with rhyme and verse"  # the main thread still handles widget events: detection updates
    assert "<b>poetry</b>" in app.detected.value
    gate.set(); time.sleep(0.2)
    app.stop.click(); assert app.wait(10)
    n = int(app.status.value.split()[1].replace(",", ""))
    assert app.status.value.startswith("stopped; ") and "samples kept on disk" in app.status.value
    assert 0 < n < 1000 and n == len((tmp_path/"s"/"samples.jsonl").read_text().splitlines())
    assert (app.generate.disabled, app.stop.disabled, app.prompt.disabled) == (False, True, False)
    assert app.results.layout.display == "none" and app.last_error is None and app.error.layout.display == "none"

@pytest.mark.parametrize("err,shown", [(GptdataError("cannot write to output folder '/x'; choose another"), "cannot write to output folder"),
                                       (RuntimeError("boom"), "RuntimeError: boom")])
def test_build_errors_show(tmp_path, err, shown):
    app = make_app(FakeBuild(fail=err), prompt="recipes", out_dir=str(tmp_path/"e"))
    app.generate.click(); assert app.wait(10)
    assert shown in app.error.value and app.error.layout.display is None and app.status.value == "failed"
    assert ("traceback" in app.error.value) == (not isinstance(err, GptdataError))  # user errors: one line
    assert not app.generate.disabled and app.stop.disabled
    app.prompt.value = ""  # a new click clears the old error and shows the new one
    app.generate.click()
    assert "the request is empty" in app.error.value and "boom" not in app.error.value

@pytest.mark.parametrize("field,value,shown", [("out_dir", " ", "the output folder is empty"),
                                               ("initial_tokens", 0, "initial tokens must be positive"),
                                               ("final_tokens", 90_000, "cannot exceed initial tokens")])
def test_form_errors_never_start(field, value, shown):
    b = FakeBuild()
    app = make_app(b, prompt="recipes", out_dir="/tmp/unused-gptdata-widgets")
    getattr(app, field).value = value
    app.generate.click()
    assert shown in app.error.value and not app.running and not b.calls and not app.generate.disabled

def test_method_error_shows():
    app = GptdataApp(prompt="recipes", out_dir="/tmp/unused-gptdata-widgets", build_fn=FakeBuild(),
                     method_fn=lambda *a: (_ for _ in ()).throw(ImportError("no module named gptdata.templates")))
    app.generate.click()
    assert "ImportError: no module named gptdata.templates" in app.error.value and not app.generate.disabled

def test_check_server(ollama_server):
    srv = ollama_server(models=("llama3.1:8b",))
    app = GptdataApp(method="ollama", host=srv.url, gen_model="llama3.1:8b", refine_model="qwen2.5:7b")
    app.check_button.click(); app._check_thread.join(30)
    assert "✓ llama3.1:8b:" in app.check_result.value
    assert "✗ qwen2.5:7b:" in app.check_result.value and "ollama pull qwen2.5:7b" in app.check_result.value
    assert not app.check_button.disabled

@needs_pipeline
def test_real_build(tmp_path):
    app = GptdataApp(prompt="short vegetarian recipes with seasonal vegetables", out_dir=str(tmp_path/"real"))
    app.domain.value = "cooking"
    updates = []
    app.status.observe(lambda ch: updates.append(ch["new"]), "value")
    app.generate.click(); assert app.wait(120)
    assert app.last_error is None, app.error.value
    assert app.status.value.startswith("done in")
    assert any(u.startswith("generate") for u in updates)
    meta = json.loads((tmp_path/"real"/"meta.json").read_text())
    assert f"{meta['train_tokens']:,} train + {meta['val_tokens']:,} val tokens" in app.summary.value
    assert all((tmp_path/"real"/f).exists() for f in ("samples.jsonl", "refined.jsonl", "train.bin", "val.bin", "meta.json"))
    assert app.report_df is not None and (app.report_df["verdict"] == "kept").any()
    assert len(app.samples.options) > 0 and app.plots.outputs
    assert "plots unavailable" not in str(app.plots.outputs) and "unavailable" not in app.sample_info.value

@needs_pipeline
def test_real_build_stop_and_resume(tmp_path):
    app = GptdataApp(prompt="short vegetarian recipes", out_dir=str(tmp_path/"r"))
    app.size.value = "large"
    seen = threading.Event()
    app.status.observe(lambda ch: ch["new"].startswith("generate") and seen.set(), "value")
    app.generate.click()
    seen.wait(60); app.stop.click(); assert app.wait(60)
    assert app.last_error is None, app.error.value
    # either it stopped (and says how many samples are on disk) or it had already finished
    assert app.status.value.startswith(("stopped; ", "done in")), app.status.value
    app.generate.click(); assert app.wait(120)   # the rerun resumes and finishes
    assert app.status.value.startswith("done in") and (tmp_path/"r"/"train.bin").exists()

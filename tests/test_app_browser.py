"""Real-browser test of the widget app: Voila serves nbs/app.ipynb on 127.0.0.1, Debian's Chromium (driven by
Playwright) fills the form, clicks Generate, waits for the results, and checks the summary against the files written.

Needs /usr/bin/chromium (`apt-get install -y chromium`); never `playwright install`. The browser may only talk to
127.0.0.1: every other request is aborted (and counted: the test fails if there was any).
Set GPTDATA_UPDATE_SCREENSHOT=1 to copy the screenshot to nbs/images/app.png (the docs' picture of the app).
"""
import importlib.util, json, os, shutil, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path
from urllib.parse import urlparse
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium")

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def serve(notebook:Path, tmp_path:Path):
    "Serve `notebook` with Voila on 127.0.0.1 (kernel cwd: its folder); yields its URL."
    port, log = free_port(), open(tmp_path/"voila.log", "w")
    env = {**os.environ, "MPLBACKEND": "Agg", "JUPYTER_CONFIG_DIR": str(tmp_path/"jcfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path/"jrt"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
                             "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--show_tracebacks=True"],
                            cwd=notebook.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None: pytest.fail(f"voila exited with {proc.returncode}:\n{(tmp_path/'voila.log').read_text()}")
            try:
                with urllib.request.urlopen(url + "voila/static/", timeout=2): break
            except urllib.error.HTTPError: break           # the server answers (a 403/404 is an answer)
            except OSError:
                if time.monotonic() > deadline: pytest.fail(f"voila did not start:\n{(tmp_path/'voila.log').read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        log.close()

@pytest.fixture
def voila(tmp_path):
    "nbs/app.ipynb, the app as users get it, with the real pipeline."
    yield from serve(ROOT/"nbs"/"app.ipynb", tmp_path)

FAKE_APP = """import sys; sys.path.insert(0, {tests!r})
from test_widgets import FakeBuild, fake_report, fake_figures
from gptdata.widgets import GptdataApp
app = GptdataApp(prompt="short vegetarian recipes", out_dir={out!r}, build_fn=FakeBuild(n=5000, delay=0.01),
                 report_fn=fake_report, figures_fn=fake_figures, method_fn=lambda *a: a[0])
app"""

@pytest.fixture
def voila_slow_fake(tmp_path):
    "An app whose build is a slow fake (tests/test_widgets.py), to test Stop in the browser."
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FAKE_APP.format(tests=str(ROOT/"tests"), out=str(tmp_path/"slow")))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path/"nb").mkdir()
    nbformat.write(nb, tmp_path/"nb"/"slow_app.ipynb")
    yield from serve(tmp_path/"nb"/"slow_app.ipynb", tmp_path)

def unexpected(blocked):
    "Blocked requests other than the Font Awesome stylesheets that Voila's page template links from a CDN."
    return [u for u in blocked if not u.startswith("https://cdn.jsdelivr.net/npm/@fortawesome/")]

@pytest.fixture
def page(tmp_path):
    "A Chromium page that can reach 127.0.0.1 only; `page.blocked` lists every other URL it tried."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1100, "height": 1200})
        blocked = []
        def route(r):
            if urlparse(r.request.url).hostname == "127.0.0.1": r.continue_()
            else: blocked.append(r.request.url); r.abort()
        ctx.route("**/*", route)
        pg = ctx.new_page()
        pg.blocked = blocked
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()

@pytest.mark.skipif(importlib.util.find_spec("gptdata.pipeline") is None, reason="gptdata.pipeline is not written yet")
def test_app_builds_in_browser(voila, page, tmp_path):
    out = tmp_path/"dataset"
    t0 = time.monotonic()
    page.goto(voila)
    page.locator(".gptdata-generate").wait_for(state="visible")
    page.locator(".gptdata-prompt textarea").fill("short vegetarian recipes with seasonal vegetables and spices")
    page.locator(".gptdata-detected").filter(has_text="cooking").wait_for()   # live detection from the kernel
    page.locator(".gptdata-domain select").select_option("cooking")
    page.locator(".gptdata-size button", has_text="medium").click()
    page.locator(".gptdata-size .mod-active", has_text="medium").wait_for()
    from playwright.sync_api import expect
    expect(page.locator(".gptdata-initial input")).to_have_value("50000")   # filled from ModelSize by the kernel
    expect(page.locator(".gptdata-final input")).to_have_value("25000")
    page.locator(".gptdata-out input").fill(str(out))
    page.locator(".gptdata-out input").press("Tab")
    page.get_by_role("button", name="Generate").click()
    status = page.locator(".gptdata-status")
    status.filter(has_text="done in").or_(status.filter(has_text="failed")).or_(page.locator(".gptdata-error:visible")).wait_for(timeout=120_000)
    err = page.locator(".gptdata-error")
    assert not err.is_visible(), err.inner_text()
    summary = page.locator(".gptdata-summary").inner_text()
    meta = json.loads((out/"meta.json").read_text())
    assert f"{meta['train_tokens']:,} train + {meta['val_tokens']:,} val tokens" in summary
    assert str(out) in summary
    assert all((out/f).stat().st_size > 0 for f in ("train.bin", "val.bin", "meta.json"))
    assert "TextDataset" in page.locator(".gptdata-load").inner_text()
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    elapsed = time.monotonic() - t0
    shot = tmp_path/"app.png"
    page.locator(".gptdata-app").screenshot(path=str(shot))
    if os.environ.get("GPTDATA_UPDATE_SCREENSHOT") == "1":
        (ROOT/"nbs"/"images").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT/"nbs"/"images"/"app.png")
    # the samples tab lists kept samples; the rejected ones carry their reasons
    page.get_by_role("tab", name="Samples").click()
    page.locator(".gptdata-samples select option").first.wait_for(state="attached")
    assert page.locator(".gptdata-samples select option").count() > 0
    assert unexpected(page.blocked) == [], page.blocked
    print(f"browser build: {elapsed:.1f} s from page load to results")

def test_stop_in_browser(voila_slow_fake, page, tmp_path):
    page.goto(voila_slow_fake)
    page.get_by_role("button", name="Generate").click()
    page.locator(".gptdata-status", has_text="generate").wait_for()
    bar = page.locator(".gptdata-progress .progress-bar")
    bar.wait_for()
    page.get_by_role("button", name="Stop").click()
    status = page.locator(".gptdata-status", has_text="stopped;")
    status.wait_for(timeout=30_000)
    n = int(status.inner_text().split()[1].replace(",", ""))
    assert 0 < n < 5000 and n == len((tmp_path/"slow"/"samples.jsonl").read_text().splitlines())
    assert page.get_by_role("button", name="Generate").is_enabled() and not page.get_by_role("button", name="Stop").is_enabled()
    assert not page.locator(".gptdata-error").is_visible(), page.locator(".gptdata-error").inner_text()
    assert unexpected(page.blocked) == [], page.blocked

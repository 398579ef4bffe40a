"""The documentation site: built offline from the notebooks (tools/build_docs.py), complete, self-contained, with
working links, and readable in a real browser (headless Chromium, every request off 127.0.0.1 blocked)."""
import ast, json, shutil, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT/"tools"/"build_docs.py"
sys.path.insert(0, str(ROOT/"tools"))
import build_docs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

def run_build(*args, timeout=900):
    return subprocess.run([sys.executable, str(BUILD), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    "The site built from nbs/ into a temporary directory (--keep-going, so one broken notebook hides no other check)."
    out = tmp_path_factory.mktemp("site")/"_docs"
    r = run_build("--out", out, "--keep-going")
    assert out.exists(), f"tools/build_docs.py wrote nothing:\n{r.stdout}\n{r.stderr[-8000:]}"
    return out, r

@pytest.fixture(scope="module")
def site(built): return built[0]

def test_the_build_succeeds(built):
    "Every notebook goes through nbdev's docs processing (a failure here fails `nbdev_docs` with Quarto too)."
    _, r = built
    assert r.returncode == 0, f"tools/build_docs.py failed:\n{r.stdout}\n{r.stderr[-8000:]}"

class Page(HTMLParser):
    "The parts of an HTML page the checks need: ids, links, resource references, inline styles, title, text."
    def __init__(self, text):
        super().__init__(); self.ids, self.links, self.resources, self.styles, self.text = set(), [], [], [], []
        self.title, self._in = "", None
        self.feed(text)
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"): self.ids.add(a["id"])
        if tag == "a" and a.get("name"): self.ids.add(a["name"])
        if tag == "a" and a.get("href") is not None: self.links.append(("a", a["href"]))
        if tag in ("img", "script", "iframe", "source", "video", "audio", "embed") and a.get("src"): self.resources.append((tag, a["src"]))
        if tag == "link" and a.get("href"): self.resources.append((tag, a["href"]))
        if tag == "object" and a.get("data"): self.resources.append((tag, a["data"]))
        if a.get("style"): self.styles.append(a["style"])
        self._in = tag
    def handle_endtag(self, tag): self._in = None
    def handle_data(self, data):
        if self._in == "title": self.title += data
        elif self._in == "style": self.styles.append(data)
        else: self.text.append(data)

def pages(site): return {p.name: Page(p.read_text(encoding="utf-8")) for p in sorted(site.glob("*.html"))}

def module_notebooks():
    return [(p, build_docs.default_exp(p)) for p in sorted((ROOT/"nbs").glob("*.ipynb")) if build_docs.default_exp(p)]

def public_names(module):
    "The module's `__all__` (as nbdev writes it) and which of those are top-level functions or classes."
    tree = ast.parse((ROOT/"gptdata"/(module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    names, defs = [], set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = [ast.literal_eval(e) for e in node.value.elts]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): defs.add(node.name)
    return names, defs

def test_every_notebook_has_a_page(site):
    for section, nbs in build_docs.site_sections():
        for nb in nbs: assert (site/build_docs.page_name(nb)).exists(), f"{nb.name} has no page {build_docs.page_name(nb)}"
    assert (site/"index.html").exists() and (site/"styles.css").exists() and (site/"_static"/"lab.css").exists()

def test_module_pages_list_their_public_names(site):
    "Every `#| default_exp` notebook has a page naming each of `__all__`; functions and classes get a show_doc block."
    mods = module_notebooks()
    assert mods, "no module notebooks found"
    problems = []
    for nb, module in mods:
        page = site/build_docs.page_name(nb)
        if not page.exists(): problems.append(f"{nb.name} (module {module}) has no page"); continue
        p = Page(page.read_text(encoding="utf-8")); text = " ".join(p.text)
        names, defs = public_names(module)
        if not names: problems.append(f"gptdata/{module}.py has no __all__ (run nbdev_export)")
        missing = [n for n in names if n not in text]
        if missing: problems.append(f"{page.name} does not mention {missing} from gptdata.{module}.__all__")
        undocumented = [n for n in names if n in defs and n.lower() not in p.ids]
        if undocumented: problems.append(f"{page.name} has no show_doc entry (id) for {undocumented}")
    assert not problems, "\n".join(problems)

def test_processing_matches_nbdev(site):
    "Hidden and export cells are gone, Quarto directives do not leak, show_doc tables render, outputs stay."
    ps = pages(site)
    for name, p in ps.items():
        text = "\n".join(p.text)
        for leak in ("nbdev_export()", "#| export", "#| hide", "#| default_exp", "#| echo:", "#| output:", "{target=", ":::"):
            assert leak not in text, f"{name} shows {leak!r}"
    config = Page((site/"config.html").read_text(encoding="utf-8"))
    text = "".join(config.text)
    assert "plan_budget" in config.ids and "def plan_budget(" in text    # show_doc: signature with docments
    assert "whose parameters the data is for" in text
    assert "class ModelSize" not in text                                 # the #| export source itself is not shown
    assert "compute-optimal 240,000,000" in text                         # an output kept from the notebook

def external(url): return urlsplit(url).scheme in ("http", "https") or url.startswith("//")

def test_no_resource_from_another_host(site):
    "Reading the site needs no request off this machine: no CDN script, stylesheet, image or CSS url()."
    import re
    bad = []
    for name, p in pages(site).items():
        bad += [(name, tag, url) for tag, url in p.resources if external(url)]
        bad += [(name, "style", u) for s in p.styles for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", s)]
        bad += [(name, "@import", s[:80]) for s in p.styles if "@import" in s]
    for css in site.rglob("*.css"):
        s = css.read_text(encoding="utf-8")
        bad += [(css.name, "url", u) for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", s)]
        bad += [(css.name, "@import", l) for l in s.splitlines() if l.strip().startswith("@import")]
    assert not bad, bad

def test_internal_links_resolve(site):
    """Every relative <a href>, <img src>, <link href> and <script src> points at a file that exists, and every
    #fragment at an id on that page."""
    ps, broken = pages(site), []
    for name, p in ps.items():
        for tag, url in p.links + p.resources:
            u = urlsplit(url)
            if u.scheme in ("http", "https", "mailto", "data") or url.startswith("//"): continue
            assert not u.scheme, f"{name}: unexpected link scheme in {url!r}"
            target = (site/name).parent/unquote(u.path) if u.path else site/name
            if not target.exists(): broken.append((name, tag, url, "no such file")); continue
            if u.fragment and target.suffix == ".html":
                tp = ps.get(target.name) if target.parent == site else Page(target.read_text(encoding="utf-8"))
                if u.fragment not in tp.ids: broken.append((name, tag, url, "no such id"))
    assert not broken, "\n".join(map(str, broken))

def sidebar_order():
    return [build_docs.page_name(nb) for _, nbs in build_docs.site_sections() for nb in nbs]

def nav_links(page:Path):
    class Nav(HTMLParser):
        def __init__(self): super().__init__(); self.depth, self.hrefs, self.in_nav = 0, [], False
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "nav" and "gd-sidebar" in a.get("class", ""): self.in_nav = True
            if self.in_nav and tag == "ul": self.depth += 1
            if self.in_nav and tag == "a" and "gd-home" not in a.get("class", "") and self.depth == 1: self.hrefs.append(a["href"])
        def handle_endtag(self, tag):
            if self.in_nav and tag == "ul": self.depth -= 1
            if tag == "nav": self.in_nav = False
    n = Nav(); n.feed(page.read_text(encoding="utf-8")); return n.hrefs

def test_sidebar_yml_lists_the_notebooks_present():
    "nbs/sidebar.yml (what Quarto reads) is up to date: landing page, tutorials, modules in order."
    have = (ROOT/"nbs"/"sidebar.yml").read_text()
    assert have == build_docs.sidebar_yml(), "nbs/sidebar.yml is stale: run .venv/bin/python tools/build_docs.py --sidebar"

def test_every_page_has_the_sidebar_in_order(site):
    want = sidebar_order()
    assert want[0] == "index.html"
    for name in want:
        if (site/name).exists(): assert nav_links(site/name) == want, f"{name}: navigation differs from sidebar.yml's order"

def test_quarto_config_is_what_nbdev_expects():
    "The Quarto files nbdev_docs reads: _quarto.yml pulls in nbdev.yml and sidebar.yml; nbdev.yml matches settings.ini."
    import yaml
    from nbdev.config import get_config
    from nbdev.quarto import _nbdev_yml
    q = yaml.safe_load((ROOT/"nbs"/"_quarto.yml").read_text())
    assert q["project"]["type"] == "website" and set(q["metadata-files"]) == {"nbdev.yml", "sidebar.yml"}
    assert q["format"]["html"]["css"] == "styles.css" and (ROOT/"nbs"/"styles.css").exists()
    cfg = get_config(path=ROOT)
    vals = {k: cfg[k] for k in ["title", "description", "branch", "git_url", "doc_host", "doc_baseurl"]}
    assert (ROOT/"nbs"/"nbdev.yml").read_text() == _nbdev_yml.format(doc_path=cfg.doc_path.name, **vals)
    side = yaml.safe_load((ROOT/"nbs"/"sidebar.yml").read_text())["website"]["sidebar"]["contents"]
    listed = [c for c in side if isinstance(c, str)] + [x for c in side if isinstance(c, dict) for x in c["contents"]]
    assert all((ROOT/"nbs"/f).exists() for f in listed)

def test_index_is_not_exported():
    assert build_docs.default_exp(ROOT/"nbs"/"index.ipynb") is None

def _nb(*cells):
    return json.dumps({"cells": [{"cell_type": t, "metadata": {}, "source": s, **({"outputs": [], "execution_count": None} if t == "code" else {})}
                                  for t, s in cells], "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
                       "nbformat": 4, "nbformat_minor": 5})

def test_a_failing_notebook_is_named_and_fails_the_build(tmp_path):
    nbs = tmp_path/"nbs"; nbs.mkdir()
    (nbs/"index.ipynb").write_text(_nb(("markdown", "# Home\n\n> A test site."), ("markdown", "See [the module](07_broken.ipynb).")))
    (nbs/"07_broken.ipynb").write_text(_nb(("code", "#| default_exp broken"), ("markdown", "# broken\n\n> Fails."),
                                           ("code", "#| export\ndef f(): pass\nraise RuntimeError('boom in an export cell')")))
    (nbs/"08_garbled.ipynb").write_text('{"cells": [')
    out = tmp_path/"_docs"
    r = run_build("--nbs", nbs, "--out", out, timeout=300)
    assert r.returncode == 1
    assert "07_broken.ipynb" in r.stderr and "boom in an export cell" in r.stderr and "08_garbled.ipynb" in r.stderr
    assert not out.exists(), "a failed build must not leave a half-written site"
    r = run_build("--nbs", nbs, "--out", out, "--keep-going", timeout=300)
    assert r.returncode == 1 and (out/"index.html").exists() and not (out/"broken.html").exists()

@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install -y chromium; CI installs it)")
def test_landing_page_in_chromium(site, tmp_path):
    "Render the landing page headless: title, visible sidebar links, the plot loads, no request leaves the machine."
    from playwright.sync_api import sync_playwright
    off_machine, failed = [], []
    def gate(route):
        u = urlsplit(route.request.url)
        if u.scheme in ("file", "data") or u.hostname == "127.0.0.1": route.continue_()
        else: off_machine.append(route.request.url); route.abort()
    shot = tmp_path/"landing.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            ctx.route("**/*", gate)
            page = ctx.new_page()
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto((site/"index.html").as_uri(), wait_until="load")
            assert page.title() == "gptdata"
            links = page.locator("nav.gd-sidebar > ul > li > a")
            assert links.count() == len(sidebar_order())
            for i in range(links.count()): assert links.nth(i).is_visible(), f"sidebar link {i} is not visible"
            assert page.locator("nav.gd-sidebar a.gd-current").inner_text() == "gptdata"
            assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)"), "an image did not load"
            assert page.locator("img").count() >= 1, "the landing page has no picture"
            page.screenshot(path=str(shot), full_page=True)
            page.locator("nav.gd-sidebar a", has_text="config").first.click()
            page.wait_for_load_state("load")
            assert page.url.endswith("/config.html") and page.title() == "config"
        finally: browser.close()
    assert not off_machine, f"the site asked for other hosts: {off_machine}"
    assert not failed, f"requests failed: {failed}"
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ROOT/"_docs").mkdir(exist_ok=True)
    shutil.copy2(shot, ROOT/"_docs"/"landing.png")

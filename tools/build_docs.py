#!/usr/bin/env python
"""Build the gptdata documentation site offline, without Quarto.

    .venv/bin/python tools/build_docs.py                  # nbs/*.ipynb -> _docs/ (browsable HTML, no network)
    .venv/bin/python tools/build_docs.py --out DIR        # build somewhere else
    .venv/bin/python tools/build_docs.py --sidebar        # rewrite nbs/sidebar.yml from the notebooks present
    .venv/bin/python tools/build_docs.py --keep-going     # write the pages that built even if one notebook failed

Each notebook goes through nbdev's own docs processors (`nbdev.processors.FilterDefaults`, as `nbdev_proc_nbs` and
`nbdev_docs` use them: frontmatter from the H1 and `>` summary, `show_doc` tables for every exported function and
class, `#| hide` and `#| export` cells removed, doclinks on backticked names, outputs kept). The Quarto-only markup
that leaves behind (`#| echo: false`, `#| output: asis`, `#| code-fold`, `{target=...}` link attributes, `:::` divs)
is then translated, and nbconvert's lab template renders each page with a navigation sidebar in the order of
`nbs/sidebar.yml`. Nothing on a page loads from another host: the template's require.js, MathJax, mermaid and
widget-manager scripts are left out and the stylesheets are local files.

Pages are named as Quarto names them (`nbs/01_config.ipynb` -> `config.html`), so nbdev's doclinks work offline.
A notebook that fails to process is named on stderr and the exit status is 1; the output directory is only
replaced when every page built (unless --keep-going).
"""
from __future__ import annotations
import argparse, ast, html, os, re, shutil, sys, tempfile, time, traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/"nbs"
_re_module_nb = re.compile(r"^\d\d_.+\.ipynb$")
_re_default_exp = re.compile(r"^\s*#\|\s*default_exp\s+(\S+)", re.MULTILINE)

# ---------------------------------------------------------------------------------------------------------------
# The pages and their order (shared by the sidebar.yml that Quarto reads and the offline navigation)

def page_name(nb:Path) -> str:
    "The HTML file Quarto writes for `nb` (nbdev's rule: `01_config.ipynb` -> `config.html`)."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb.name)).name

def _read_json(p:Path) -> dict:
    import json
    return json.loads(p.read_text(encoding="utf-8"))

def nb_title(nb:Path) -> str:
    "The page title nbdev gives `nb`: its first H1 (or a title in raw frontmatter), else the file stem."
    from nbdev.frontmatter import _md2dict, _fm2dict
    for c in _read_json(nb).get("cells", []):
        src = "".join(c.get("source", []))
        d = _fm2dict(src) if c["cell_type"] == "raw" else _md2dict(src) if c["cell_type"] == "markdown" else {}
        if d.get("title"): return str(d["title"])
    return nb.stem

def default_exp(nb:Path) -> str|None:
    "The module `nb` exports to (its `#| default_exp`), or None."
    for c in _read_json(nb).get("cells", []):
        if c["cell_type"] != "code": continue
        m = _re_default_exp.search("".join(c.get("source", [])))
        if m: return m.group(1)
    return None

def site_sections(nbs:Path=NBS) -> list[tuple[str|None, list[Path]]]:
    "[(section, notebooks)]: the landing page, then the tutorials, then the module notebooks in number order."
    index = nbs/"index.ipynb"
    if not index.exists(): raise SystemExit(f"error: {index} is missing; the landing page is built from it")
    top = sorted(p for p in nbs.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    modules = [p for p in top if _re_module_nb.match(p.name)]
    rest = [p for p in top if p not in modules and p != index]
    key = lambda p: (0 if p.name.startswith("tutorial_") else 1 if p.name == "app.ipynb" else 2, p.name)
    return [(None, [index]), ("Tutorials", sorted(rest, key=key)), ("Modules", modules)]

def sidebar_yml(nbs:Path=NBS) -> str:
    "The text of `nbs/sidebar.yml` for the notebooks present (Quarto's `website.sidebar.contents`)."
    lines = ["website:", "  sidebar:", "    contents:"]
    for section, pages in site_sections(nbs):
        if not pages: continue
        if section is None: lines += [f"      - {p.name}" for p in pages]; continue
        lines += [f"      - section: {section}", "        contents:"] + [f"          - {p.name}" for p in pages]
    return "\n".join(lines) + "\n"

# ---------------------------------------------------------------------------------------------------------------
# From a notebook to an nbconvert-ready notebook (runs in a worker process: nbdev executes export cells)

_re_quarto_opt = re.compile(r"^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")
_re_attr_link = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)\{([^}\n]*)\}")
_re_fence_open = re.compile(r"^:::+\s*\{?\s*\.?([\w-]*)[^}]*\}?\s*$")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

def _split_quarto_opts(src:str) -> tuple[dict, str]:
    "Leading `#| key: value` lines of a processed code cell (nbdev leaves Quarto's there), and the code after them."
    opts, lines = {}, src.splitlines()
    while lines and (m := _re_quarto_opt.match(lines[0])):
        opts[m.group(1)] = m.group(2).strip("'\""); lines.pop(0)
    return opts, "\n".join(lines)

def _code_html(s:str) -> str: return re.sub(r"`([^`]+)`", lambda m: f"<code>{html.escape(m.group(1))}</code>", html.escape(s, quote=False))

def _pandoc_md(src:str) -> str:
    "Markdown with Pandoc-only syntax turned into what nbconvert's CommonMark renderer understands."
    src = _re_attr_link.sub(lambda m: f'<a href="{html.escape(m.group(2))}" {m.group(3)}>{_code_html(m.group(1))}</a>', src)
    out, opened = [], []                                  # `::: {.callout-note}` ... `:::` -> <div class=...>
    for line in src.splitlines():
        s = line.strip()
        if s == ":::" or s.startswith(":::") and _re_fence_open.match(s):
            if s.strip(":").strip():
                cls = _re_fence_open.match(s).group(1) or "fenced"
                opened.append(len(out)); out += [f'<div class="{cls}">', ""]
            elif opened: opened.pop(); out += ["", "</div>"]
            continue
        out.append(line)
    for i in reversed(opened): del out[i:i+2]            # a div left open in this cell (nbdev's boxify) is dropped
    return "\n".join(out)

def _unlink_code(md:str) -> str:
    "Doclinks nbdev put inside fenced code (show_doc signatures) would print as raw markdown: keep the name only."
    parts = re.split(r"(^```.*?^```)", md, flags=re.MULTILINE|re.DOTALL)
    return "".join(re.sub(r"\[`([^`\]]+)`\]\([^)\s]+\)", r"\1", p) if p.startswith("```") else p for p in parts)

def _showdoc_names(md:str) -> list[str]: return re.findall(r"^#{1,6}\s+(\S+)\s*$", md, flags=re.MULTILINE)

def _module_all(module:str) -> list[str]:
    "The module's `__all__`, read from the exported file (not imported)."
    p = ROOT/"gptdata"/(module.replace(".", "/") + ".py")
    if not p.exists(): return []
    for node in ast.parse(p.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [ast.literal_eval(e) for e in node.value.elts]
    return []

def to_site_nb(src:Path):
    "`src` after nbdev's docs processing, rewritten for nbconvert; returns (notebook, frontmatter, show_doc names)."
    from execnb.nbio import read_nb, mk_cell
    from nbdev.processors import FilterDefaults, insert_warning
    from nbdev.frontmatter import _fm2dict
    module = default_exp(src)
    nb = read_nb(src)
    FilterDefaults()(nb)
    fm = dict(getattr(nb, "frontmatter_", {}) or {})
    cells, documented = [], []
    for c in nb.cells:
        if c.cell_type == "raw" and _fm2dict(c.source): continue           # the frontmatter nbdev inserted
        if c.cell_type == "markdown" and c.source.strip() == insert_warning.content: continue
        if c.cell_type == "markdown":
            c.source = _pandoc_md(c.source); cells.append(c); continue
        if c.cell_type != "code": cells.append(c); continue
        opts, c.source = _split_quarto_opts(c.source)
        if opts.get("include") == "false": continue
        outs = []
        for o in c.get("outputs", []):
            data = o.get("data")
            if data is not None and _WIDGET_VIEW in data:
                data.pop(_WIDGET_VIEW)
                if not data: continue
            outs.append(o)
        c.outputs = [] if opts.get("output") == "false" else outs
        if opts.get("output") == "asis":                                   # show_doc: its markdown is the page
            md = "\n".join("".join(o["data"]["text/markdown"]) if "text/markdown" in o.get("data", {}) else
                            "".join(o.get("text", "")) if o.get("output_type") == "stream" else "" for o in c.outputs)
            md = _pandoc_md(_unlink_code(md.replace("\n---\n", "\n").removeprefix("---\n")))
            if opts.get("echo") != "false": cells.append(mk_cell(c.source, "code"))
            names = _showdoc_names(md) if re.match(r"\s*show_doc\(", c.source) else []
            documented += names
            cells.append(mk_cell(f'<div class="gd-doc">\n\n{md}\n\n</div>' if names else md, "markdown")); continue
        if opts.get("echo") == "false": c.metadata.setdefault("transient", {})["remove_source"] = True
        if "code-fold" in opts:
            c.metadata["gd_fold"] = opts["code-fold"]; c.metadata["gd_summary"] = opts.get("code-summary", "Code")
        if not c.source.strip() and not c.outputs: continue
        cells.append(c)
    head = f"# {fm.get('title', src.stem)}\n"
    if fm.get("description"): head += f'\n<div class="description">\n\n{fm["description"]}\n\n</div>\n'
    if module:
        names = _module_all(module)
        if names:
            shown = {n.lower() for n in documented}
            items = [f"[`{n}`](#{n.lower()})" if n.lower() in shown else f"`{n}`" for n in names]
            head += f'\n<div class="gd-api">\n\n**`gptdata.{module}`** exports: ' + " · ".join(items) + "\n\n</div>\n"
    nb.cells = [mk_cell(head, "markdown")] + cells
    nb.metadata.pop("widgets", None)                                    # widget state would pull a CDN manager
    nb.metadata["title"] = fm.get("title", src.stem)
    return nb, fm, documented

# ---------------------------------------------------------------------------------------------------------------
# nbconvert: the lab template without its CDN scripts, with a navigation sidebar

TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block notebook_css %}
<link rel="stylesheet" href="_static/lab.css">
<link rel="stylesheet" href="styles.css">
{% endblock notebook_css %}
{%- block body_header -%}
<body class="jp-Notebook gd-body" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<!--GD_NAV-->
<main class="gd-main">
{%- endblock body_header -%}
{% block input_group -%}
{%- if cell.metadata.get('gd_fold') -%}
<details class="gd-fold"{{ ' open' if cell.metadata.gd_fold == 'show' else '' }}><summary>{{ cell.metadata.gd_summary | e }}</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input_group %}
"""

_re_heading = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)<a class="anchor-link" href="#([^"]*)">(.*?)</a></h\1>', re.DOTALL)

def pandoc_id(text:str) -> str:
    "Pandoc's auto identifier (what Quarto uses): lower case, spaces to dashes, only [\\w.-], from the first letter."
    s = re.sub(r"[^\w\s.-]", "", text.strip().lower())
    s = re.sub(r"\s+", "-", s)
    return re.sub(r"^[^a-z]+", "", s) or "section"

def _fix_headings(page:str, documented:set) -> tuple[str, list]:
    "Give headings Quarto's ids (show_doc headings: nbdev's `name.lower()`, the target of doclinks); list the H2s."
    seen, h2s = {}, []
    def sub(m):
        level, inner = m.group(1), m.group(3)
        text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
        hid = text.lower() if text in documented else pandoc_id(text)
        if hid in seen: seen[hid] += 1; hid = f"{hid}-{seen[hid]}"
        else: seen[hid] = 0
        if level == "2": h2s.append((hid, text))
        return f'<h{level} id="{html.escape(hid)}">{inner}<a class="anchor-link" href="#{html.escape(hid)}">{m.group(5)}</a></h{level}>'
    return _re_heading.sub(sub, page), h2s

def _fix_links(page:str, pages:dict, site_url:str) -> str:
    "Doc links to the published site become relative; links to notebooks point at their pages."
    def sub(m):
        attr, url, mark = m.group(1), html.unescape(m.group(2)), ""
        if site_url and url.startswith(site_url + "/"): url, mark = url[len(site_url) + 1:], ' data-gd-doclink="1"'

        path, frag = (url.split("#", 1) + [""])[:2]
        if not re.match(r"^[a-z][a-z0-9+.-]*:", path) and path.endswith(".ipynb"):
            name = Path(path).name
            url = pages.get(name, page_name(Path(name))) + (f"#{frag}" if frag else "")
            url = str(Path(path).parent/url) if "/" in path else url
        return f'{attr}="{html.escape(url)}"{mark}'
    return re.sub(r'\b(href|src)="([^"]*)"', sub, page)

def render_page(src:str, out_dir:str, pages:dict, site_url:str) -> dict:
    "Worker: process one notebook and write its page (nav added later). Returns what the nav needs."
    os.environ["IN_TEST"] = "1"                      # as nbdev's own docs workers do
    src, out_dir = Path(src), Path(out_dir)
    # cwd: the project root, where nbdev_docs runs (and nbdev's get_config finds settings.ini), so a notebook that
    # fails here fails `nbdev_docs` with Quarto too
    os.chdir(ROOT)
    import warnings; warnings.filterwarnings("ignore", message="Found cells containing imports")
    import matplotlib; matplotlib.use("Agg")
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    nb, fm, documented = to_site_nb(src)
    exp = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"gd_page.html.j2": TEMPLATE})],
                       template_file="gd_page.html.j2", exclude_input_prompt=True, exclude_output_prompt=True,
                       embed_images=False)
    import nbformat
    from execnb.nbio import nb2str
    nb = nbformat.reads(nb2str(nb), as_version=4)    # nbformat's node types: multi-line outputs joined, as nbconvert expects
    body, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": fm.get("title", src.stem)}})
    body, h2s = _fix_headings(body, set(documented))
    body = _fix_links(body, pages, site_url)
    name = pages[src.name]
    (out_dir/name).write_text(body, encoding="utf-8")
    return {"page": name, "title": fm.get("title", src.stem), "h2s": h2s}

def _worker(args):
    try: return render_page(*args), None
    except BaseException: return None, traceback.format_exc()

_re_doclink = re.compile(r'href="([^"#]*)#([^"]*)" data-gd-doclink="1"')

def _fix_doclink_targets(page:str, ids:dict) -> str:
    """nbdev links every backticked name it knows, methods and private helpers included, though show_doc only writes
    an anchor for public top-level names: point such a link at its class (`#budget.of` -> `#budget`), or the page."""
    def sub(m):
        target, frag = m.group(1), html.unescape(m.group(2))
        have = ids.get(target)
        if have is None or frag in have: return m.group(0)
        while "." in frag and frag not in have: frag = frag.rsplit(".", 1)[0]
        return f'href="{target}' + (f'#{html.escape(frag)}"' if frag in have else '"') + ' data-gd-doclink="1"'
    return _re_doclink.sub(sub, page)

def nav_html(sections, pages, titles, current:str, h2s) -> str:
    "The sidebar: every page in sidebar.yml order; the current page is marked and lists its sections."
    out = ['<nav class="gd-sidebar" aria-label="Site navigation">', '<a class="gd-home" href="index.html">gptdata</a>']
    for section, nbs in sections:
        if not nbs: continue
        if section: out.append(f'<div class="gd-section">{html.escape(section)}</div>')
        out.append("<ul>")
        for p in nbs:
            name = pages[p.name]
            cur = ' class="gd-current" aria-current="page"' if name == current else ""
            out.append(f'<li><a href="{name}"{cur}>{html.escape(titles.get(name, p.stem))}</a>')
            if name == current and h2s:
                out.append('<ul class="gd-toc">' + "".join(f'<li><a href="#{html.escape(i)}">{html.escape(t)}</a></li>' for i, t in h2s) + "</ul>")
            out.append("</li>")
        out.append("</ul>")
    return "\n".join(out + ["</nav>"])

# ---------------------------------------------------------------------------------------------------------------

def _site_url() -> str:
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    return f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip("/")

def _lab_css() -> str:
    import nbconvert
    from jupyter_core.paths import jupyter_path
    for d in jupyter_path("nbconvert", "templates", "lab", "static"):
        p = Path(d)
        if (p/"index.css").exists(): return (p/"index.css").read_text() + "\n" + (p/"theme-light.css").read_text()
    raise SystemExit(f"error: nbconvert {nbconvert.__version__}'s lab template CSS was not found")

def build(out:Path, nbs:Path=NBS, workers:int=2, keep_going:bool=False) -> int:
    "Build the site into `out`; returns the exit status (1 when any notebook failed)."
    t0 = time.time()
    sections = site_sections(nbs)
    nb_list = [p for _, ps in sections for p in ps]
    pages = {p.name: page_name(p) for p in nb_list}
    dup = {v for v in pages.values() if list(pages.values()).count(v) > 1}
    if dup: raise SystemExit(f"error: several notebooks would write {sorted(dup)}; rename one of them")
    if (nbs/"sidebar.yml").exists() and (nbs/"sidebar.yml").read_text() != sidebar_yml(nbs):
        print("warning: nbs/sidebar.yml does not list the notebooks present; run: .venv/bin/python tools/build_docs.py --sidebar", file=sys.stderr)
    out = out.resolve()
    tmp = Path(tempfile.mkdtemp(prefix=".docs-", dir=out.parent if out.parent.exists() else None))
    try:
        site_url = _site_url()
        jobs = [(str(p), str(tmp), pages, site_url) for p in nb_list]
        # A fresh process per notebook, as nbdev's docs workers: IPython takes over `__main__` in a worker and
        # one notebook's imports or widgets must not leak into the next page. Workers import this file by name.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import build_docs
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=get_context("spawn"), max_tasks_per_child=1) as ex:
            results = list(ex.map(build_docs._worker, jobs))
        failed = [(p, err) for p, (_, err) in zip(nb_list, results) if err]
        done = {r["page"]: r for r, _ in results if r}
        titles = {k: r["title"] for k, r in done.items()}
        text = {name: (tmp/name).read_text(encoding="utf-8") for name in done}
        ids = {name: set(map(html.unescape, re.findall(r'\bid="([^"]*)"', t))) for name, t in text.items()}
        for name, r in done.items():
            t = _fix_doclink_targets(text[name].replace("<!--GD_NAV-->", nav_html(sections, pages, titles, name, r["h2s"]), 1), {**ids, "": ids[name]})
            (tmp/name).write_text(t, encoding="utf-8")
        (tmp/"_static").mkdir()
        (tmp/"_static"/"lab.css").write_text(_lab_css(), encoding="utf-8")
        if (nbs/"styles.css").exists(): shutil.copy2(nbs/"styles.css", tmp/"styles.css")
        if (nbs/"images").is_dir(): shutil.copytree(nbs/"images", tmp/"images")
        for p, err in failed:
            print(f"error: {p.relative_to(nbs.parent) if p.is_relative_to(nbs.parent) else p} failed to build:\n{err}", file=sys.stderr)
        if failed and not keep_going:
            print(f"docs not written: {len(failed)} of {len(nb_list)} notebooks failed "
                  f"({', '.join(p.name for p, _ in failed)}); fix them or pass --keep-going", file=sys.stderr)
            return 1
        if out.exists(): shutil.rmtree(out)
        tmp.rename(out)
        print(f"wrote {len(done)} pages to {out} in {time.time()-t0:.1f} s"
              + (f"; FAILED: {', '.join(p.name for p, _ in failed)}" if failed else ""))
        return 1 if failed else 0
    finally:
        if tmp.exists(): shutil.rmtree(tmp, ignore_errors=True)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, default=ROOT/"_docs", help="output directory (default: _docs)")
    ap.add_argument("--nbs", type=Path, default=NBS, help="notebook directory (default: nbs)")
    ap.add_argument("--sidebar", action="store_true", help="only rewrite NBS/sidebar.yml from the notebooks present")
    ap.add_argument("--workers", type=int, default=2, help="notebooks processed in parallel (default: 2)")
    ap.add_argument("--keep-going", action="store_true", help="write the pages that built even when a notebook failed (exit status stays 1)")
    a = ap.parse_args(argv)
    if a.sidebar:
        (a.nbs/"sidebar.yml").write_text(sidebar_yml(a.nbs)); print(f"wrote {a.nbs/'sidebar.yml'}"); return 0
    return build(a.out, a.nbs, a.workers, a.keep_going)

if __name__ == "__main__": sys.exit(main())

"""What makes a report bundle attachable: pages that stand alone, and ``report.html``, one file
holding the index and every notebook's page.

nbconvert's default page loads require.js and MathJax from a public CDN when it is opened, so
an attachment would tell a third party that someone read it and render differently offline;
the ``standalone`` template drops those scripts (images are embedded as ``data:`` URIs).
``external_references`` is what the tests use to prove no page reaches outside its bundle.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from ses_runbook.core import files

TEMPLATES = Path(__file__).with_name("templates")
_REFERENCE = re.compile(
    r"""(?:(?<![\w-])(?:src|href|action|poster|data|srcset)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])([^"')\s>]+)""",
    re.I,
)


def html_exporter(**options: Any) -> Any:
    """nbconvert's lab HTML exporter on the standalone template. The notebook is validated once,
    after the preprocessors, rather than after each of the twelve (a quarter of a page's CPU)."""
    # deferred: nbconvert and jinja2 (0.5 s): only when pages are rendered
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file="standalone.html.j2",
        extra_template_paths=[str(TEMPLATES)],
        optimistic_validation=True,
        **options,
    )


# What a notebook's HTML and markdown may keep in an exported page: structure, tables, inline styles
# (CSS properties bleach allows, no url()), links that only navigate, and images embedded as data:.
_TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2",
     "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "small", "span", "strong",
     "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "caption"}
)  # fmt: skip
_ATTRIBUTES = {"class", "style", "title", "colspan", "rowspan", "align", "alt", "width", "height", "id"}
_DROPPED_OUTPUTS = (
    "image/svg+xml",
    "application/javascript",
    "text/javascript",
    "application/vnd.jupyter.widget-view+json",
)


def _allowed(tag: str, name: str, value: str) -> bool:
    if name == "href":
        return tag == "a" and (value.startswith("#") or re.match(r"^(https?|mailto):", value, re.I) is not None)
    if name == "src":
        return tag == "img" and re.match(r"^data:image/(png|jpeg|gif|webp);", value, re.I) is not None
    return name in _ATTRIBUTES


def clean_html(text: str) -> str:
    """HTML from a notebook someone else ran, safe to show: no script, no event handler, no form,
    no frame, nothing fetched from elsewhere (images only as ``data:``, CSS without ``url()``)."""
    # deferred: bleach (nbconvert's own sanitiser) and its CSS parser: only when a page is exported
    import bleach
    from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer

    return bleach.clean(
        text,
        tags=_TAGS,
        attributes=_allowed,
        protocols={"http", "https", "mailto", "data"},
        css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES),
        strip=True,
        strip_comments=True,
    )


def sanitize_notebook(nb: Any) -> int:
    """Make a teammate's notebook safe to export, in place: markdown cells and HTML and markdown
    outputs rendered to HTML and cleaned (``clean_html``), raw cells cleaned, script-bearing outputs
    (SVG, JavaScript, widgets) dropped. Returns how many outputs were dropped."""
    # deferred: nbconvert's markdown renderer: only when a page is exported
    from nbconvert.filters.markdown import markdown2html

    dropped = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = clean_html(markdown2html(cell.source))
            cell.pop("attachments", None)
        elif cell.cell_type == "raw":
            cell.source = clean_html(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not isinstance(data, dict):
                continue
            for kind in _DROPPED_OUTPUTS:
                if data.pop(kind, None) is not None:
                    dropped += 1
            markdown = data.pop("text/markdown", None)
            if markdown is not None:
                data["text/html"] = markdown2html("".join(markdown) if isinstance(markdown, list) else markdown)
            if "text/html" in data:
                page = data["text/html"]
                data["text/html"] = clean_html("".join(page) if isinstance(page, list) else page)
    return dropped


def external_references(text: str, bundle_files: set[str] | None = None) -> list[str]:
    """Every src/href/url() in a page that is neither embedded (``data:``), an anchor, nor a file
    of the bundle (when ``bundle_files`` is given, relative names must be among them)."""
    found = []
    for ref in _REFERENCE.findall(text):
        ref = html.unescape(ref)
        if ref.startswith(("data:", "#", "about:blank")):
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:|^//", ref, re.I):
            found.append(ref)
            continue
        if bundle_files is not None and ref.split("#")[0].split("?")[0] not in bundle_files:
            found.append(ref)
    return found


def _body(page: str) -> str:
    match = re.search(r"<body[^>]*>(.*)</body>", page, re.S | re.I)
    return match.group(1) if match else page


def _styles(page: str) -> str:
    return "".join(re.findall(r"<style[^>]*>.*?</style>", page, re.S | re.I))


def write_report_html(out_dir: Path, summary: dict[str, Any], index_page: str) -> str:
    """``report.html``: the index, then every notebook's page, in one self-contained file.

    Links between pages become in-page anchors; the executed ``.ipynb`` files stay in the
    bundle (a single attachment has no room for them, and the pages show their outputs)."""
    styles, sections = "", []
    anchors = {}
    for nb in summary["notebooks"]:
        if nb.get("html"):
            anchors[nb["html"]] = f"#nb-{nb['name']}"
    index_body = _body(index_page)
    for target, anchor in anchors.items():
        index_body = index_body.replace(f"href='{html.escape(target)}'", f"href='{anchor}'")
    index_body = re.sub(r"""href=['"][^'"#]+\.ipynb['"]""", "", index_body)
    index_body = index_body.replace("href='report.html'", "href='#top'")
    for nb in summary["notebooks"]:
        if not nb.get("html") or not (out_dir / nb["html"]).is_file():
            continue
        page = (out_dir / nb["html"]).read_text(encoding="utf-8")
        styles = styles or _styles(page)
        sections.append(
            f"<section id='nb-{html.escape(nb['name'])}' class='jp-Notebook' style='border-top:4px solid #444;margin-top:24px'>"
            f"<p><a href='#top'>back to the index</a></p>{_body(page)}</section>"
        )
    title = html.escape(
        f"SES runbook report {summary['run'].get('label') or ''} {summary['run'].get('started', '')}".strip()
    )
    text = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{styles}"
        "<style>body{font-family:sans-serif;margin:16px}</style></head>"
        f"<body><div id='top'>{index_body}</div>{''.join(sections)}</body></html>"
    )
    files.write_text(out_dir / "report.html", text)
    return "report.html"

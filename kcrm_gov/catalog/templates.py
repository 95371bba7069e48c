"""Small rendering helpers shared by the catalog pages: escaping, badges, links and the stylesheet."""

from __future__ import annotations

import posixpath
import re

from .artifacts import ERROR, FAIL, PASS, UNKNOWN, WARN

CSS_URI = "assets/kcrm-gov/catalog.css"

STYLESHEET = """\
/* kcrm-gov catalog: badges and the schema tree (served locally, no external fonts or scripts). */
.kg-badge { display: inline-block; padding: 0 .45em; border-radius: .2rem; font-size: .68rem;
  font-weight: 700; line-height: 1.5; letter-spacing: .02em; vertical-align: middle; white-space: nowrap; }
.kg-pii { background: #b71c1c; color: #fff; }
.kg-pass { background: #2e7d32; color: #fff; }
.kg-warn { background: #f9a825; color: #1a1a1a; }
.kg-fail, .kg-error { background: #c62828; color: #fff; }
.kg-never, .kg-unknown, .kg-skipped { background: #757575; color: #fff; }
.kg-none { background: transparent; color: var(--md-default-fg-color--light);
  box-shadow: inset 0 0 0 1px currentColor; }
.kg-class-public { background: #e0f2f1; color: #004d40; }
.kg-class-internal { background: #e3f2fd; color: #0d47a1; }
.kg-class-confidential { background: #fff3e0; color: #e65100; }
.kg-class-restricted { background: #fce4ec; color: #880e4f; }
.kg-tree { font-family: var(--md-code-font-family); white-space: pre; color: var(--md-default-fg-color--light); }
.md-typeset .kg-table td { vertical-align: top; }
.md-typeset .kg-schema td:first-child, .md-typeset .kg-pii-register td:first-child,
.md-typeset .kg-lineage td:first-child { white-space: nowrap; }
.md-typeset .kg-schema td:nth-child(5) code { word-break: break-all; }
.md-typeset .kg-facts td:first-child { font-weight: 700; white-space: nowrap; }
.md-typeset .kg-facts table { min-width: 50%; }
.md-typeset .kg-chart { margin: 1em 0; }
.md-typeset .kg-chart img { max-width: 100%; height: auto; }
.md-typeset .kg-chart figcaption { font-size: .7rem; color: var(--md-default-fg-color--light); }
"""

_ENTITIES = {"*": "&#42;", "_": "&#95;", "[": "&#91;", "]": "&#93;", "\\": "&#92;", "|": "&#124;",
             "#": "&#35;", "!": "&#33;", "{": "&#123;", "}": "&#125;", "`": "&#96;",
             "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_MARKUP = re.compile(r"[*_\[\]\\|#!{}`&<>\"']")
_CODE = re.compile(r"`([^`]+)`")


def esc(text: object) -> str:
    """Text as inert HTML that Markdown will not reinterpret (no emphasis, links, tables or attrs)."""
    return _MARKUP.sub(lambda m: _ENTITIES[m.group(0)], str(text))


def inline(text: str | None) -> str:
    """Prose from a contract: HTML-escaped, whitespace folded, `backticks` rendered as code."""
    if not text:
        return ""
    text = " ".join(str(text).split())
    out, last = [], 0
    for match in _CODE.finditer(text):
        out.append(esc(text[last:match.start()]))
        out.append(f"<code>{esc(match.group(1))}</code>")
        last = match.end()
    out.append(esc(text[last:]))
    return "".join(out)


def code(text: object) -> str:
    return f"<code>{esc(text)}</code>"


def badge(text: str, kind: str, title: str | None = None) -> str:
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="kg-badge kg-{kind}"{tip}>{esc(text)}</span>'


PII_BADGE = badge("PII", "pii", "Personal data (tagged pii): values are never shown in the catalog")
NO_SLA_BADGE = badge("no SLA", "none", "The contract declares no freshness SLA: there is nothing to measure")


def outcome_badge(outcome: str | None) -> str:
    """A PASS / WARN / FAIL / ERROR badge, or NEVER RUN for ``None``."""
    if outcome is None:
        return badge("never run", "never", "No result recorded yet")
    labels = {PASS: "pass", WARN: "warn", FAIL: "fail", ERROR: "error", UNKNOWN: "unknown"}
    kind = outcome if outcome in labels else UNKNOWN
    return badge(labels.get(kind, outcome), kind)


def build_badge(status: str | None) -> str:
    if status is None:
        return badge("never run", "never", "Never built by kcrm-gov")
    kind = {"success": PASS, "error": FAIL, "skipped": "skipped"}.get(status, UNKNOWN)
    return badge(status, kind)


def classification_badge(level: str | None) -> str:
    if not level:
        return badge("unclassified", "unknown")
    return badge(level, f"class-{level.lower()}" if level.lower() in (
        "public", "internal", "confidential", "restricted") else "unknown")


class Urls:
    """Relative links between pages, as mkdocs will publish them (directory URLs or ``.html``)."""

    def __init__(self, use_directory_urls: bool = True) -> None:
        self.directory_urls = use_directory_urls
        self._paths: dict[tuple[str, str], str] = {}  # (from, to): the relative path (pages link a lot)

    def url(self, uri: str) -> str:
        """The published URL (relative to the site root) of the page at ``uri`` (a ``.md`` path)."""
        stem = uri[:-3] if uri.endswith(".md") else uri
        if not uri.endswith(".md"):
            return uri
        if stem == "index" or stem.endswith("/index"):
            base = stem[: -len("index")]
            return base if self.directory_urls else base + "index.html"
        return stem + "/" if self.directory_urls else stem + ".html"

    def href(self, from_uri: str, to_uri: str, anchor: str | None = None) -> str:
        """A relative href from the page ``from_uri`` to ``to_uri`` (and an optional anchor)."""
        rel = self._paths.get((from_uri, to_uri))
        if rel is None:
            rel = self._paths[from_uri, to_uri] = self._relative(from_uri, to_uri)
        return rel + (f"#{anchor}" if anchor else "")

    def _relative(self, from_uri: str, to_uri: str) -> str:
        here = self.url(from_uri)
        here_dir = here if here.endswith("/") or not here else posixpath.dirname(here)
        target = self.url(to_uri)
        rel = posixpath.relpath(target or ".", here_dir.rstrip("/") or ".")
        if (target.endswith("/") or not target) and not rel.endswith("/"):
            rel += "/"
        return rel

    def a(self, from_uri: str, to_uri: str, text: str, anchor: str | None = None, *, is_code: bool = False) -> str:
        label = code(text) if is_code else esc(text)
        return f'<a href="{esc(self.href(from_uri, to_uri, anchor))}">{label}</a>'


# Generated HTML blocks are marked so that the catalog plugin can keep them out of Markdown's way
# (kcrm_gov.catalog.plugin): Markdown passes a raw-HTML block through untouched, but only after parsing
# it tag by tag, twice (Python-Markdown's md_in_html and mkdocs' anchor collector), which was a third of
# the catalog's build time. Contract text cannot forge a mark: esc() turns every "<" into "&lt;".
HTML_MARK = "<!--kg:html-->"
"""Opens a generated HTML block that the site's search indexes (tables)."""
GRAPHIC_MARK = "<!--kg:graphic-->"
"""Opens a generated HTML block kept out of the search index (the lineage graph's SVG: labels, not text)."""
END_MARK = "<!--/kg-->"


def html_block(html: str, *, indexed: bool = True) -> str:
    """``html`` (one or more complete block-level elements) as a marked raw-HTML block: valid Markdown
    on its own, and set aside by the catalog plugin while mkdocs renders the page."""
    return f"{HTML_MARK if indexed else GRAPHIC_MARK}\n{html.rstrip()}\n{END_MARK}\n"


def html_table(headers: list[str], rows: list[list[str]], css: str | None = None,
               row_classes: list[str | None] | None = None) -> str:
    """An HTML table (cells already rendered) as one raw-HTML block Markdown leaves untouched."""
    # the table itself stays class-less so mkdocs-material styles it; the wrapper carries ours
    out = [f'<div class="kg-table {css}">' if css else '<div class="kg-table">', "<table>"]
    if any(headers):
        out.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes and i < len(row_classes) else None
        out.append((f'<tr class="{rc}">' if rc else "<tr>") + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    out.append("</div>")
    return html_block("\n".join(out))


def fence(text: str, lang: str, indent: int = 0) -> str:
    """A fenced code block (fence longer than any backtick run inside), indented for tabs."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = f"{ticks}{lang}\n{text.rstrip()}\n{ticks}\n"
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in body.splitlines(keepends=True))

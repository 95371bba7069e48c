"""The ``kcrm-gov-catalog`` mkdocs plugin: the catalog's pages, generated at build time.

Registered by the package (entry point ``mkdocs.plugins``), so a plain ``mkdocs build`` or
``mkdocs serve`` in the project produces the catalog. The pages are handed to mkdocs as
in-memory files (``File.generated``): nothing is written into ``docs/``.

``mkdocs.yml``::

    plugins:
      - search
      - kcrm-gov-catalog:
          project_dir: .        # the kcrm-gov project (default: the folder of mkdocs.yml)
          git_history: true     # contract version history from git
          column_lineage: true  # use kcrm_gov.lineage when it is installed
          charts: true          # marts charts (static SVG) from the latest build's warehouse

Navigation: each ``layers/<layer>/index.md`` entry of ``nav`` becomes a section holding that layer's
table pages, and the source and team pages follow ``sources/index.md`` and ``teams/index.md``.

Search: a table is found by its bare name (``accounts``) as well as its full one (``core.accounts``).
The search index splits words on ``.`` and ``_`` too (:data:`SEARCH_SEPARATOR`, given to
mkdocs-material's ``search`` plugin unless ``mkdocs.yml`` sets its own ``separator``), and each table
page is boosted in search by how short its name is (:func:`search_boost`), so that ``users`` lists
``core.users`` before ``stg.zendesk__users``, whose title holds ``users`` too. The lineage graphs are not
indexed (their labels are names, not text; the table under each graph lists the same tables).

Speed: the HTML a generated page is mostly made of (tables, the lineage graph) is set aside while
Markdown renders the page and put back after (:meth:`CatalogPlugin.set_aside`), which leaves the pages
as they were and builds the site about a quarter faster.
"""

from __future__ import annotations

import re
import secrets
import time
from html import unescape
from pathlib import Path
from typing import Any

from mkdocs.config import config_options as opt
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority, get_plugin_logger
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from ..errors import KcrmGovError
from .charts import draw_charts
from .diagram import STYLES as DIAGRAM_STYLES
from .pages import OVERVIEW_MARKER, CatalogData, collect, nav_children, overview, render_site, table_uri
from .templates import CSS_URI, END_MARK, GRAPHIC_MARK, HTML_MARK, STYLESHEET, Urls

log = get_plugin_logger(__name__)

# mkdocs-material's recommended separator without its camelCase rule (which would split "HubSpot"):
# whitespace, punctuation, "_" and "." (not before a digit, so 1.0.0 stays whole), and escaped < >.
SEARCH_SEPARATOR = r'[\s\-_,:!=\[\]()"`/]+|\.(?!\d)|&[lg]t;'
_NAME_WORDS = re.compile(r"[._\-\s]+")
# A code block as Pygments renders it, and the tags it wraps every token in.
_CODE_BLOCK = re.compile(r'<div class="[^"]*\bhighlight\b[^"]*"><pre>.*?</pre></div>', re.S)
_SPAN_TAG = re.compile(r"</?span\b[^>]*>")
# A generated HTML block (kcrm_gov.catalog.templates.html_block), from its mark at the start of a line
_HTML_BLOCK = re.compile(rf"^({re.escape(HTML_MARK)}|{re.escape(GRAPHIC_MARK)})\n(.*?)\n{re.escape(END_MARK)}\n",
                         re.S | re.M)
# The tags mkdocs-material's search parser keeps in the index (its Parser.keep); it keeps only the text of
# any other tag. A block holding none of the tags it treats specially (headings open sections, pre keeps
# whitespace, some skip what they hold) is indexed the same without its other tags: see _text_for_search.
_TAG = re.compile(r"(<[^>]*>)")
_KEPT_TAG = re.compile(r"</?(?:p|code|pre|li|ol|ul|sub|sup)[\s>/]")
_BOUNDARY = "<!---->"  # an empty comment: ends the parser's text chunk (it ignores comments)
_SEARCH_SPECIAL = re.compile(r"<(?:h[1-6]|pre|script|style|object)\b|data-search-exclude|linenodiv")
# the anchors a block holds, as mkdocs collects them from raw HTML (an id, or an <a name>)
_ANCHOR = re.compile(r'<[a-zA-Z][^>]*?\sid="([^"]*)"|<a\s[^>]*?\bname="([^"]*)"')


def search_boost(table: str) -> float:
    """The search boost of the page of ``layer.table``: 1.25 for a one-word name, less for longer ones.

    mkdocs-material's search does not weigh a title by its length, so every table whose name holds
    the word searched for (``users``: ``core.users``, ``raw.zendesk__users``, ``stg.zendesk__users``)
    would score the same; the shorter the name, the closer it is to exactly what was typed. The boost
    only breaks such ties: a title match outweighs any number of matches in the text a thousandfold,
    so it barely moves table pages against the other pages for anything else.
    """
    words = [w for w in _NAME_WORDS.split(table.split(".", 1)[-1]) if w]
    return round(1 + 0.25 / max(1, len(words)), 3)


def search_text(html: str) -> str:
    """``html`` (without the tags :data:`_SEARCH_SPECIAL` finds) as mkdocs-material's search parser
    indexes it, with only the tags that parser keeps: what it makes of the result is what it makes of
    ``html``. It keeps the text of every other tag, and appends each text chunk as one piece: a chunk with
    text as it is (line breaks as spaces), a whitespace-only one as one space unless the piece before
    is whitespace too. So text chunks only a dropped tag separated are joined, and a whitespace-only
    chunk stays a chunk of its own (between empty comments), unless the parser would drop it anyway."""
    out: list[str] = []
    space_last: bool | None = None  # whether the parser's last piece is whitespace (None: not known here)
    for part in _TAG.split(html):
        if not part:
            continue
        if part.startswith("<"):
            if _KEPT_TAG.match(part):
                out.append(part)
                space_last = None  # it appends the tag, or drops an empty element's pieces
        elif not unescape(part).isspace():
            out.append(part)
            space_last = False
        elif not space_last:
            out.append(f"{_BOUNDARY}{part}{_BOUNDARY}")
            space_last = True
    return "".join(out)


class CatalogConfig(Config):
    project_dir = opt.Optional(opt.Type(str))
    git_history = opt.Type(bool, default=True)
    column_lineage = opt.Type(bool, default=True)
    charts = opt.Type(bool, default=True)


class CatalogPlugin(BasePlugin[CatalogConfig]):
    """Generate a page per table, the layer/source/team indexes, the PII register, glossary and metrics."""

    def __init__(self) -> None:
        self.data: CatalogData | None = None
        self.root: Path | None = None
        self.seconds = 0.0
        self.boosts: dict[str, float] = {}  # src_uri of a table page: its search boost
        self.highlighted: dict[str, list[str]] = {}  # src_uri of a page being indexed: its code blocks
        self.aside: dict[str, list[tuple[bool, str]]] = {}  # src_uri of a page: its HTML blocks (indexed?, html)
        self.nonce = secrets.token_hex(4)  # in the placeholders of the blocks set aside: nothing else has it
        # a table as the search read it: its search text between two placeholders of the table's index
        self._searched = re.compile(rf"<!--kg:{self.nonce}:(\d+)-->.*?<!--kg:{self.nonce}:\1-->", re.S)

    # --- configuration ------------------------------------------------------------------------
    @event_priority(50)  # before mkdocs-material's search plugin fills in its default separator
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        base = Path(config.config_file_path).parent if config.config_file_path else Path.cwd()
        self.root = (base / (self.config.project_dir or ".")).resolve()
        if CSS_URI not in config.extra_css:
            config.extra_css.append(CSS_URI)
        for name, plugin in config.plugins.items():
            search = getattr(plugin, "config", None)
            if name.rsplit("/", 1)[-1] == "search" and getattr(search, "separator", "") is None:
                search.separator = SEARCH_SEPARATOR  # type: ignore[union-attr]
        return config

    def _project_root(self) -> Path:
        assert self.root is not None, "on_config has not run"
        return self.root

    # --- pages --------------------------------------------------------------------------------
    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        from ..project import Project

        start = time.perf_counter()
        try:
            project = Project.load(self._project_root())
            self.data = collect(project, git_history=self.config.git_history,
                                column_lineage=self.config.column_lineage)
        except KcrmGovError as exc:
            raise PluginError(f"kcrm-gov-catalog: {exc}") from None
        if self.config.charts:
            self.data.charts = draw_charts(project)
            for uri, svg in self.data.charts.assets().items():
                files.append(File.generated(config, uri, content=svg))
            log.info("drew %d of %d charts in %.2f s%s", len(self.data.charts.assets()), len(self.data.charts.charts),
                     self.data.charts.seconds, f" ({self.data.charts.note})" if self.data.charts.note else "")
        has_home = files.get_file_from_path("index.md") is not None
        pages = render_site(self.data, Urls(config.use_directory_urls), home=not has_home)
        for uri, markdown in pages.items():
            existing = files.get_file_from_path(uri)
            if existing is not None:
                raise PluginError(f"kcrm-gov-catalog: docs/{uri} would hide the generated page of the same "
                                  "name; remove or rename it")
            files.append(File.generated(config, uri, content=markdown))
        self.boosts = {table_uri(c.qualified_name): search_boost(c.qualified_name) for c in self.data.contracts()}
        if files.get_file_from_path(CSS_URI) is None:
            files.append(File.generated(config, CSS_URI, content=STYLESHEET + DIAGRAM_STYLES))
        self._expand_nav(config, nav_children(self.data))
        # The DAG's validity is `kcrm-gov check`'s job (CI fails there); the catalog documents what it
        # can read, flags the problems on the home page and does not fail the site build over them.
        for problem in self.data.lineage.problems:
            log.info("the DAG has a problem (the catalog shows the edges it could read): %s", problem)
        # An unreadable results file (a run's fault, not the docs'): pages say so where the result would
        # be and `kcrm-gov catalog build` prints it as a warning, but it does not fail a strict build.
        for problem in self.data.artifacts.problems:
            log.info("run artifact ignored: %s", problem)
        self.seconds = time.perf_counter() - start
        log.info("generated %d catalog pages for %d tables in %.2f s", len(pages), len(project.contracts),
                 self.seconds)
        return files

    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str | None:
        boost = self.boosts.get(page.file.src_uri)
        if boost is not None:  # mkdocs-material's search reads the boost of a page from its meta
            search = page.meta.setdefault("search", {})
            if isinstance(search, dict):
                search.setdefault("boost", boost)
        if OVERVIEW_MARKER in markdown and self.data is not None:
            markdown = markdown.replace(OVERVIEW_MARKER, overview(self.data, page.file.src_uri))
        return self.set_aside(markdown, page.file.src_uri)

    # --- generated HTML -----------------------------------------------------------------------
    # A generated page is mostly HTML (tables, the lineage graph's SVG), which Markdown parses tag by
    # tag only to pass it through. Each marked block waits outside the Markdown as a placeholder
    # (a comment, which Markdown passes through as it is) and comes back into the page's HTML after:
    # tables before the search plugin indexes the page, graphics after it. The anchors a block holds
    # are added to those mkdocs validates links against, as it would have collected them itself.
    def _placeholder(self, index: int) -> str:
        return f"<!--kg:{self.nonce}:{index}-->"

    def set_aside(self, markdown: str, uri: str) -> str:
        """``markdown`` (of the page at ``uri``) with each generated HTML block replaced by a placeholder."""
        blocks: list[tuple[bool, str]] = []

        def put(match: re.Match[str]) -> str:
            blocks.append((match.group(1) == HTML_MARK, match.group(2)))
            return self._placeholder(len(blocks) - 1) + "\n"

        markdown = _HTML_BLOCK.sub(put, markdown)
        if blocks:
            self.aside[uri] = blocks
        return markdown

    def put_back(self, content: str, uri: str, *, indexed: bool) -> str:
        """The HTML ``content`` of the page at ``uri`` with its (``indexed``, or graphic) blocks back."""
        blocks = self.aside.get(uri, [])
        for index, (kind, html) in enumerate(blocks):
            if kind == indexed:
                content = content.replace(self._placeholder(index), html, 1)
        return content

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str | None:
        blocks = self.aside.get(page.file.src_uri)
        if not blocks:
            return html
        anchors = {unescape(a or b) for _, block in blocks for a, b in _ANCHOR.findall(block)}
        page.present_anchor_ids = (page.present_anchor_ids or set()) | anchors
        return self.put_back(html, page.file.src_uri, indexed=True)

    # --- search -------------------------------------------------------------------------------
    # Pygments wraps every token of a code block in a <span>: a table page (its SQL, DDL and checks) holds
    # ~4,500 of them, and mkdocs-material's search parser walked them tag by tag for half the site's build
    # time. That parser keeps no <span>, only the text inside, so it is handed each code block without
    # them (the same index, parsed three times faster) and the page gets its highlighting back after.
    # The generated tables likewise: the parser keeps none of their table, link or badge tags, so it is
    # handed their text and kept tags only, between two placeholders, and the tables come back after.
    @event_priority(100)  # before the search plugin indexes the page
    def _text_for_search(self, context: Any, /, *, page: Page, config: MkDocsConfig, nav: Any) -> Any:
        content = page.content or ""
        blocks = _CODE_BLOCK.findall(content)
        if blocks:
            self.highlighted[page.file.src_uri] = blocks
            content = _CODE_BLOCK.sub(lambda m: _SPAN_TAG.sub("", m.group(0)), content)
        for index, (indexed, html) in enumerate(self.aside.get(page.file.src_uri, [])):
            at = content.find(html) if indexed and not _SEARCH_SPECIAL.search(html) else -1
            if at >= 0:  # as put back (another plugin may have changed it: then it is indexed as it is)
                mark = self._placeholder(index)
                content = f"{content[:at]}{mark}{search_text(html)}{mark}{content[at + len(html):]}"
        page.content = content
        return context

    @event_priority(-100)  # after it
    def _markup_after_search(self, context: Any, /, *, page: Page, config: MkDocsConfig, nav: Any) -> Any:
        blocks = self.highlighted.pop(page.file.src_uri, None)
        if blocks and page.content:  # a page without code blocks was left as it was
            originals = iter(blocks)
            page.content = _CODE_BLOCK.sub(lambda m: next(originals, m.group(0)), page.content)
        aside = self.aside.get(page.file.src_uri)
        if page.content and aside:
            page.content = self._searched.sub(lambda m: aside[int(m.group(1))][1], page.content)
            page.content = self.put_back(page.content, page.file.src_uri, indexed=False)
        self.aside.pop(page.file.src_uri, None)
        return context

    on_page_context = CombinedEvent(_text_for_search, _markup_after_search)

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        root = self._project_root()
        for name in ("contracts", "models", "catalog", "checks", "kcrm_gov.yml"):
            path = root / name
            if path.exists():
                server.watch(str(path))
        return server

    # --- navigation ---------------------------------------------------------------------------
    @staticmethod
    def _expand_nav(config: MkDocsConfig, children: dict[str, list[tuple[str, str]]]) -> None:
        """Hang generated pages under their index entries in ``nav`` (no-op without an explicit nav)."""
        if not config.nav:
            return
        listed: set[str] = set()

        def collect_uris(items: Any) -> None:
            if isinstance(items, str):
                listed.add(items)
            elif isinstance(items, list):
                for item in items:
                    collect_uris(item)
            elif isinstance(items, dict):
                for value in items.values():
                    collect_uris(value)

        collect_uris(config.nav)

        def expand(items: list[Any]) -> list[Any]:
            out: list[Any] = []
            for i, item in enumerate(items):
                title, uri = (None, item) if isinstance(item, str) else (
                    next(iter(item.items())) if isinstance(item, dict) and len(item) == 1 else (None, None))
                if isinstance(uri, list):
                    out.append({title: expand(uri)})
                    continue
                extra = [{t: c} for t, c in children.get(uri, []) if c not in listed] if isinstance(uri, str) else []
                if not extra:
                    out.append(item)
                elif i == 0 and isinstance(uri, str) and uri.endswith("index.md"):
                    # a section's index page: its children follow it
                    out.append(item)
                    out.extend(extra)
                else:  # a page that becomes a section: itself first, then its children
                    path = Path(str(uri))
                    out.append({title or (path.parent.name if path.stem == "index" else path.stem): [uri, *extra]})
            return out

        config.nav = expand(config.nav)

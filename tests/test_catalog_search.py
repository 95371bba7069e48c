"""Catalog search finds a table by its bare name first (issue 13, item 7).

mkdocs-material's default search separator splits words on spaces and hyphens only, so
``core.accounts`` was one word and searching ``users`` did not find ``core.users``. The catalog now
splits on ``.`` and ``_`` too, and boosts each table page by how short its name is, so a table whose
name is exactly the word searched for comes before the tables whose names merely contain it.

The ranking test runs mkdocs-material's own search worker (lunr and all, from the built site) under
Node.js on the generated ``search/search_index.json``: the same code the browser runs, without a
browser. It is skipped where ``node`` is not installed; the index tests run everywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_project, with_warm_state

from kcrm_gov.catalog.pages import table_uri
from kcrm_gov.catalog.site import build_site
from kcrm_gov.project import Project

NODE = shutil.which("node") or shutil.which("nodejs")

# Loads the site's search worker into a bare context, sends it the index, then each query; prints
# {query: [location of the best item of each result group, in order]}.
RANK_JS = r"""
const fs = require("fs"), path = require("path"), vm = require("vm");
const [site, ...queries] = process.argv.slice(2);
const dir = path.join(site, "assets/javascripts/workers");
const worker = fs.readdirSync(dir).find(f => /^search\..*\.js$/.test(f));
let listener = null, reply = null;
const ctx = {console, Promise, Set, Map, Object, Array, Uint16Array, RegExp, JSON, Math, Error, TypeError,
             addEventListener: (type, fn) => { listener = fn; }, postMessage: m => { reply = m; },
             importScripts: () => {}};
ctx.self = ctx; ctx.globalThis = ctx;
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(path.join(dir, worker), "utf8"), ctx);
const index = JSON.parse(fs.readFileSync(path.join(site, "search/search_index.json"), "utf8"));
(async () => {
  await listener({data: {type: 0, data: {config: index.config, docs: index.docs, options: {suggest: false}}}});
  if (!reply || reply.type !== 1) throw new Error("the search worker did not get ready: " + JSON.stringify(reply));
  const out = {};
  for (const q of queries) {
    await listener({data: {type: 2, data: q}});
    if (reply.type !== 3) throw new Error("unexpected reply: " + JSON.stringify(reply));
    out[q] = reply.data.items.map(group => group[0].location);
  }
  process.stdout.write(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, warm_state: Path) -> dict[str, Any]:
    project_dir = with_warm_state(copy_project(tmp_path_factory.mktemp("search") / "project"), warm_state)
    out = project_dir / "site-out"
    build_site(project_dir, site_dir=out, strict=True)
    index = json.loads((out / "search" / "search_index.json").read_text())
    return {"dir": project_dir, "site": out, "index": index, "project": Project.load(project_dir)}


def page_url(name: str) -> str:
    return table_uri(name).removesuffix(".md") + "/"


def bare(name: str) -> str:
    return name.split(".", 1)[1]


def words(text: str, separator: str) -> list[str]:
    """``text`` split as mkdocs-material's tokenizer splits it (lowercase, no empty words)."""
    return [w.lower() for w in re.split(separator, text) if w]


# --- the index -----------------------------------------------------------------------------------
def test_every_table_title_holds_its_bare_name_as_separate_words(site: dict[str, Any]) -> None:
    separator = site["index"]["config"]["separator"]
    assert words("core.accounts", separator) == ["core", "accounts"]
    assert words("stg.hubspot__contacts", separator) == ["stg", "hubspot", "contacts"]
    assert words("version 1.0.0", separator) == ["version", "1.0.0"]  # a dot before a digit does not split
    titles = {doc["location"]: doc["title"] for doc in site["index"]["docs"]}
    for name in site["project"].contracts:
        title = titles[page_url(name)]  # the page itself: its h1
        assert words(title, separator) == [name.split(".")[0], *words(bare(name), separator)], name


def test_table_pages_are_boosted_by_how_short_their_name_is(site: dict[str, Any]) -> None:
    from kcrm_gov.catalog.plugin import search_boost

    boosts: dict[str, set[float]] = {}
    for doc in site["index"]["docs"]:
        boosts.setdefault(doc["location"].split("#", 1)[0], set()).add(doc.get("boost", 1))
    for name in site["project"].contracts:
        assert boosts[page_url(name)] == {search_boost(name)}, name  # the page and each of its sections
    assert search_boost("core.users") > search_boost("stg.zendesk__users") > search_boost(
        "stg.hubspot__deal_pipeline_stages") > 1
    assert boosts["glossary/"] == {1}  # hand-written and other generated pages are not boosted


def test_the_plugin_supplies_the_separator_when_mkdocs_yml_sets_none(tmp_path: Path) -> None:
    from mkdocs.config import load_config

    from kcrm_gov.catalog.plugin import SEARCH_SEPARATOR
    from kcrm_gov.catalog.site import quiet_mkdocs_banner

    quiet_mkdocs_banner()
    project_dir = copy_project(tmp_path / "project")
    mkdocs = project_dir / "mkdocs.yml"
    text = mkdocs.read_text()
    plain = re.sub(r"  - search:\n(?:      .*\n)+", "  - search\n", text)
    assert plain != text and "separator" not in plain
    for content, expected in ((plain, SEARCH_SEPARATOR),
                              (plain.replace("  - search\n", "  - search:\n      separator: '[\\s]+'\n"), r"[\s]+")):
        mkdocs.write_text(content)
        config = load_config(str(mkdocs))
        config = config.plugins.on_config(config)
        assert config.plugins["material/search"].config.separator == expected  # mkdocs.yml's own wins


def test_code_blocks_are_indexed_as_mkdocs_material_indexes_them_and_keep_their_highlighting(
        tmp_path: Path) -> None:
    """The plugin hands the search parser each code block without Pygments' <span> tags (half the site's
    build time was that parser walking them) and puts them back after: the index entries and the page
    must be exactly what mkdocs-material's search alone makes of the highlighted page."""
    from types import SimpleNamespace

    import markdown
    from mkdocs.config import load_config

    from kcrm_gov.catalog.site import quiet_mkdocs_banner

    quiet_mkdocs_banner()
    config = load_config(str(copy_project(tmp_path / "project") / "mkdocs.yml"))
    config = config.plugins.on_config(config)
    text = ("# core.accounts\n\n## SQL {#sql}\n\n```sql\nSELECT account_key, 'a < b' AS x -- why\n"
            "FROM core.accounts\n```\n\nBetween the blocks, `inline code`.\n\n"
            "```yaml\nchecks for accounts:\n  - row_count > 0\n```\n")
    html = markdown.markdown(text, extensions=config.markdown_extensions, extension_configs=config.mdx_configs)
    assert html.count('<span class="') > 20  # highlighted by Pygments, token by token

    def page() -> Any:
        return SimpleNamespace(content=html, meta={}, toc=[], url="tables/core/accounts/", title="core.accounts",
                               file=SimpleNamespace(src_uri="tables/core/accounts.md"))

    search = config.plugins["material/search"]
    alone, through_all = page(), page()
    search.on_page_context({}, page=alone, config=config, nav=None)  # mkdocs-material on its own
    expected = list(search.search_index.entries)
    search.search_index.entries.clear()
    seen: list[str] = []
    original = search.search_index.add_entry_from_context
    search.search_index.add_entry_from_context = lambda p: (seen.append(p.content), original(p))
    config.plugins.on_page_context({}, page=through_all, config=config, nav=None)  # every plugin, in its order
    assert seen and "<span" not in seen[0]  # the parser was handed the blocks without their tags
    assert search.search_index.entries == expected
    assert any("SELECT account_key" in e["text"] for e in expected)
    assert through_all.content == alone.content  # highlighting and all


# --- ranking, by mkdocs-material's own search code -------------------------------------------------
@pytest.mark.skipif(NODE is None, reason="needs Node.js to run mkdocs-material's search worker")
def test_search_lists_the_table_first_for_its_bare_and_full_name(site: dict[str, Any], tmp_path: Path) -> None:
    names = sorted(site["project"].contracts)
    queries = sorted({*names, *(bare(n) for n in names), "accounts", "users", "merged_contact_ids"})
    script = tmp_path / "rank.js"
    script.write_text(RANK_JS)
    done = subprocess.run([NODE, str(script), str(site["site"]), *queries], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    ranked = {q: [location.split("#", 1)[0] for location in hits] for q, hits in json.loads(done.stdout).items()}
    assert ranked["accounts"][0] == "tables/core/accounts/", ranked["accounts"][:5]
    assert ranked["users"][0] == "tables/core/users/", ranked["users"][:5]
    assert "tables/stg/hubspot__contacts/" in ranked["merged_contact_ids"]  # a column still finds its table
    wrong = []
    for name in names:
        if ranked[name][:1] != [page_url(name)]:
            wrong.append(f"{name}: {ranked[name][:3]}")
        # raw and stg share table names: either of the two is the table searched for
        same_bare = {page_url(n) for n in names if bare(n) == bare(name)}
        if not ranked[bare(name)] or ranked[bare(name)][0] not in same_bare:
            wrong.append(f"{bare(name)}: {ranked[bare(name)][:3]}")
    assert not wrong, "\n".join(wrong)

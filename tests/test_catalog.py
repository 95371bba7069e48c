"""The catalog site (issue 7), tested on the built HTML of the real project.

One module-scoped build of a private copy of the project, after a real (small) run:
``raw.hubspot__owners`` is created on the local DuckDB target with a few synthetic rows whose
loader sync is a year old, its generated Soda checks are scanned for real (freshness fails), and
``stg.hubspot__owners`` is really built from it. The site must then show that failing check,
that build and its rows, badge every PII column, show no value of any column, and index every
table and column for search. An end-to-end test drives headless Chromium through chromedriver's
WebDriver HTTP API (no Python browser libraries).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, copy_project, with_warm_state

from kcrm_gov.build import RunResult, now_iso, run_model, write_run_results
from kcrm_gov.catalog.pages import column_anchor, table_uri
from kcrm_gov.catalog.site import build_site
from kcrm_gov.engines import open_engine
from kcrm_gov.project import Project

RAW, STG = "raw.hubspot__owners", "stg.hubspot__owners"
# Synthetic values written into the warehouse: none of them may appear anywhere in the site.
SENTINELS = ("zq.sentinel.owner@example.invalid", "Zqfirstsentinel", "Zqlastsentinel", "Zq Sentinel Team")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts"
ANCHOR_LINK = ("core.accounts", "account_key")  # a column a hand-written page of the built site links to


def _page_path(site: Path, name: str) -> Path:
    return site / table_uri(name).removesuffix(".md") / "index.html"


def _text(markup: str) -> str:
    """Visible text of an HTML fragment (tags dropped, entities decoded, whitespace folded)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _squash(text: str) -> str:
    """``text`` without any whitespace (highlighted code splits tokens into spans)."""
    return re.sub(r"\s+", "", text)


def _section(markup: str, anchor: str) -> str:
    """The HTML from the heading with id ``anchor`` to the next heading of the same level (h2)."""
    start = markup.index(f'id="{anchor}"')
    end = markup.find("<h2", start)
    return markup[start: end if end != -1 else len(markup)]


def _seed_and_scan(project_dir: Path) -> dict[str, Any]:
    """A small real run: raw.hubspot__owners with stale rows, a real Soda scan, a real stg build."""
    from kcrm_gov.checks.scan import run_tests, write_test_results

    project = Project.load(project_dir)
    contract = project.contracts[RAW]
    rows = [(101, 7, 9001, SENTINELS[0], SENTINELS[1], SENTINELS[2], SENTINELS[3], True),
            (102, 7, 9002, "zq.second@example.invalid", "Zqsecond", "Zqowner", SENTINELS[3], False)]
    with open_engine(project) as engine:
        engine.ensure_schema("raw")
        engine.create_table(contract, replace=True)
        relation = engine.relation("raw", contract.table)
        # teams are not on the owner row: stg.hubspot__owners reads them from owner_team + team
        for name in ("raw.hubspot__teams", "raw.hubspot__owner_teams"):
            engine.create_table(project.contracts[name], replace=True)
        engine.execute(f"INSERT INTO {engine.relation('raw', 'hubspot__teams')} (id, name, _fivetran_synced, "
                       "_fivetran_deleted) VALUES (1, ?, TIMESTAMPTZ '2023-02-01 12:00:00+00', FALSE)", [SENTINELS[3]])
        for owner_id, portal, user, email, first, last, _team, active in rows:
            engine.execute(
                f"INSERT INTO {relation} (owner_id, portal_id, user_id_including_inactive, email, first_name, "
                "last_name, is_active, created_at, updated_at, _fivetran_synced, _fivetran_deleted) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, TIMESTAMPTZ '2023-01-05 10:00:00+00', TIMESTAMPTZ '2023-02-01 10:00:00+00', "
                "TIMESTAMPTZ '2023-02-01 12:00:00+00', FALSE)",
                [owner_id, portal, user, email, first, last, active])
            engine.execute(
                f"INSERT INTO {engine.relation('raw', 'hubspot__owner_teams')} (owner_id, team_id, is_team_primary, "
                "_fivetran_synced, _fivetran_deleted) VALUES (?, 1, TRUE, TIMESTAMPTZ '2023-02-01 12:00:00+00', FALSE)",
                [owner_id])
        test_run = run_tests(project, engine, [RAW], now=datetime(2024, 2, 1, tzinfo=UTC))
        write_test_results(project, test_run)
        from kcrm_gov.governance.freshness import evaluate, write_results

        fresh_run = evaluate(project, engine, [RAW], now=datetime(2024, 2, 1, tzinfo=UTC))
        write_results(project, fresh_run)
        build_run = RunResult(run_id="catalog-test", command="build", target=engine.target.name,
                              engine=engine.kind, started_at=now_iso())
        engine.ensure_schema("stg")
        build_run.models.append(run_model(project, engine, STG))
        build_run.finished_at = now_iso()
        write_run_results(project, build_run)
    return {"test": test_run, "build": build_run.models[0], "freshness": fresh_run}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, warm_state: Path) -> dict[str, Any]:
    """The real project (copied, no git) after the small run, and its catalog built strictly by
    ``kcrm-gov catalog build`` (one mkdocs build for every test of the site: each costs ~20 s)."""
    from click.testing import CliRunner

    from kcrm_gov.cli import cli

    project_dir = with_warm_state(copy_project(tmp_path_factory.mktemp("catalog") / "project"), warm_state)
    run = _seed_and_scan(project_dir)
    # a hand-written page links to a column of a generated page: the strict build validates anchors
    # (mkdocs.yml), and that column's anchor exists only in the HTML of the page's schema table
    governance = project_dir / "docs" / "governance" / "index.md"
    governance.write_text(governance.read_text() + f"\n[{ANCHOR_LINK[1]}](../{table_uri(ANCHOR_LINK[0])}"
                          f"#{column_anchor(ANCHOR_LINK[1])})\n")
    site = project_dir / "site-out"
    result = CliRunner().invoke(cli, ["--project-dir", str(project_dir), "catalog", "build", "-q",
                                      "--site-dir", str(site)], obj={})
    assert result.exit_code == 0, result.output
    return {"dir": project_dir, "site": site, "cli": result, "project": Project.load(project_dir), **run}


# --- the build itself ---------------------------------------------------------------------------
def test_strict_build_has_a_page_per_table(built: dict[str, Any]) -> None:
    project: Project = built["project"]
    for name in project.contracts:
        assert _page_path(built["site"], name).is_file(), f"no page for {name}"
    for page in ("layers/raw", "layers/stg", "layers/core", "sources/hubspot", "teams/revops", "pii", "glossary",
                 "metrics", "governance", "governance/rules"):
        assert (built["site"] / page / "index.html").is_file(), page
    assert not (REPO / "docs" / "tables").exists(), "generated pages must not be written into docs/"


def test_cli_build_is_strict_and_reports(built: dict[str, Any]) -> None:
    result = built["cli"]  # strict: any mkdocs warning would have failed it (see the broken-link test)
    assert result.exit_code == 0, result.output
    assert "catalog built" in result.output
    assert _page_path(built["site"], STG).is_file()


def test_strict_build_fails_on_a_broken_link(tmp_path: Path, warm_state: Path) -> None:
    project_dir = with_warm_state(copy_project(tmp_path / "project"), warm_state)
    (project_dir / "docs" / "broken.md").write_text("# Broken\n\n[nowhere](missing-page.md)\n")
    from kcrm_gov.catalog.site import CatalogError

    with pytest.raises(CatalogError) as caught:
        build_site(project_dir, site_dir=tmp_path / "site", strict=True)
    assert caught.value.exit_code == 1


# --- a table page carries every part of issue 7, point 2 -----------------------------------------
def test_table_page_has_every_part(built: dict[str, Any]) -> None:
    project: Project = built["project"]
    contract = project.contracts["stg.hubspot__contacts"]
    markup = _page_path(built["site"], contract.qualified_name).read_text()
    for anchor in ("what", "who", "schema", "trust", "lineage", "how", "change"):
        assert f'id="{anchor}"' in markup, anchor

    what = _text(_section(markup, "what"))
    for part in ("Purpose", "Usage", "Limitations", "Layer", "stg", "Status", contract.status, "Contract version",
                 contract.version, "Tags", *contract.tags):
        assert part in what, part
    assert _text(contract.model.description.purpose)[:80] in what

    who = _text(_section(markup, "who"))
    assert "Revenue Operations" in who and "Maria Chen" in who and "#data-revops" in who

    schema = _section(markup, "schema")
    for path, column in contract.all_columns():
        row = re.search(rf'<tr id="{column_anchor(path)}"[^>]*>(.*?)</tr>', schema, re.S)
        assert row, path
        cells = _text(row.group(1))
        assert column.bigquery_type in cells or column.fields, path
        assert column.duckdb_type in cells or column.fields, path
        assert column.classification in cells, path
        if column.required:
            assert "yes" in cells
    assert "PK 1" in _text(schema)

    trust = _section(markup, "trust")
    assert re.search(r"freshness ?: 24 h measured on hubspot__contacts\.synced_at", _text(trust))
    assert "never run" in _text(trust)  # no freshness, no quality results for this table yet

    lineage = _section(markup, "lineage")
    graph = re.search(r'<svg class="kg-graph".*?</svg>', lineage, re.S).group(0)
    assert ">raw.hubspot__contacts</text>" in graph and 'class="kg-graph-node kg-graph-current"' in graph
    assert 'href="../../raw/hubspot__contacts/"' in graph  # upstream node links to its page
    assert 'id="column-lineage"' in lineage
    assert "merged_contact_ids" in _text(lineage.split('id="column-lineage"')[1])

    how = _section(markup, "how")
    code = _squash(_text(how))
    assert "Model SQL" in how and "QUALIFYROW_NUMBER()OVER(PARTITIONBYid" in code
    assert "BigQuery DDL" in how and "CREATETABLE`kcrm-analytics-prod.kcrm_stg.hubspot__contacts`" in code
    assert "PRIMARYKEY(contact_id)NOTENFORCED" in code
    assert "DuckDB DDL" in how and "Soda checks" in how
    if (built["dir"] / "checks" / "stg" / "hubspot__contacts.yml").is_file():
        assert "checks for hubspot__contacts" in _text(how)

    change = _text(_section(markup, "change"))
    assert "not in a git repository" in change and contract.version in change


def test_nested_ga4_fields_are_a_tree(built: dict[str, Any]) -> None:
    markup = _page_path(built["site"], "raw.ga4__events").read_text()
    row = re.search(r'<tr id="col-event_params-value-string_value"[^>]*>(.*?)</tr>', markup, re.S)
    assert row and 'class="kg-tree"' in row.group(1) and "└─" not in _text(row.group(1)).split("string_value")[1]
    assert 'id="col-event_params-value-double_value"' in markup  # the last field of the struct


# --- trust: the real run --------------------------------------------------------------------------
def test_failing_check_shows_as_failing(built: dict[str, Any]) -> None:
    failed = [c for t in built["test"].tables for c in t.checks if c.outcome == "fail"]
    assert failed, "the stale sync must fail the real freshness check"
    markup = _page_path(built["site"], RAW).read_text()
    quality = _section(markup, "trust").split('id="quality"')[1].split('id="build"')[0]
    for check in failed:
        row = next(r for r in re.findall(r"<tr>(.*?)</tr>", quality, re.S) if check.name in _text(r))
        assert 'class="kg-badge kg-fail"' in row and "fail" in _text(row)
    assert any("pass" in _text(r) for r in re.findall(r"<tr>(.*?)</tr>", quality, re.S))  # row_count passed
    home = (built["site"] / "index.html").read_text()
    health = _text(_section(home, "health"))
    assert "raw.hubspot__owners : 1 failing checks" in health


def test_last_freshness_result_is_shown(built: dict[str, Any]) -> None:
    if built["freshness"] is None:
        pytest.skip("kcrm_gov.governance.freshness is not in this checkout")
    result = next(r for r in built["freshness"].results if r.table == RAW)
    assert result.status == "breach", result.message
    fresh = _section(_page_path(built["site"], RAW).read_text(), "trust").split('id="freshness"')[1]
    fresh = fresh.split('id="quality"')[0]
    assert 'class="kg-badge kg-fail"' in fresh and result.age in _text(fresh)


def test_last_build_shows_when_and_rows(built: dict[str, Any]) -> None:
    model = built["build"]
    assert model.status == "success", model.error
    build = _text(_section(_page_path(built["site"], STG).read_text(), "trust").split('id="build"')[1])
    assert "success" in build and f"Rows written {model.rows_written:,}" in build
    assert model.started_at[:10] in build


def test_raw_and_unbuilt_tables_say_never_run(built: dict[str, Any]) -> None:
    trust = _text(_section(_page_path(built["site"], "stg.hubspot__deals").read_text(), "trust"))
    assert trust.count("never run") >= 3  # freshness, quality, build


# --- PII ---------------------------------------------------------------------------------------
def test_pii_columns_are_badged_and_no_values_are_shown(built: dict[str, Any]) -> None:
    project: Project = built["project"]
    for name in (RAW, "stg.hubspot__contacts", "raw.ga4__events"):
        markup = _page_path(built["site"], name).read_text()
        for path, column in project.contracts[name].all_columns():
            row = re.search(rf'<tr id="{column_anchor(path)}"[^>]*>(.*?)</tr>', markup, re.S).group(1)
            assert ('class="kg-badge kg-pii"' in row) == column.is_pii, path
    register = _text((built["site"] / "pii" / "index.html").read_text())
    for name, contract in project.contracts.items():
        for path, column in contract.all_columns():
            if column.is_pii:
                assert f"{name}.{path}" in register
    # the warehouse holds the sentinels; the site must not, anywhere (pages, search index, assets)
    for file in built["site"].rglob("*"):
        if file.is_file() and file.suffix in (".html", ".json", ".xml", ".js", ".css"):
            text = file.read_text(errors="ignore")
            for value in SENTINELS:
                assert value not in text, f"{value} leaked into {file}"


# --- search and offline -----------------------------------------------------------------------
def test_search_index_holds_every_table_and_column(built: dict[str, Any]) -> None:
    project: Project = built["project"]
    docs = json.loads((built["site"] / "search" / "search_index.json").read_text())["docs"]
    by_page: dict[str, str] = {}
    for doc in docs:
        page = doc["location"].split("#", 1)[0]
        by_page[page] = by_page.get(page, "") + " " + doc.get("title", "") + " " + _text(doc.get("text", ""))
    for name, contract in project.contracts.items():
        page = table_uri(name).removesuffix(".md") + "/"
        assert page in by_page, name
        text = by_page[page]
        assert name in text
        for _, column in contract.all_columns():
            assert column.name in text, f"{name}.{column.name} not in the search index"


def test_generated_html_is_whole_and_the_lineage_graph_is_not_searched(built: dict[str, Any]) -> None:
    """The plugin keeps generated HTML blocks out of Markdown while mkdocs renders a page: every block is
    back in its page (no placeholder or mark left), and the lineage graphs' SVG is not in the search
    index (its labels ran together into one word soup), while the tables are."""
    for file in built["site"].rglob("*.html"):
        assert "<!--kg:" not in file.read_text() and "<!--/kg-->" not in file.read_text(), file
    markup = _page_path(built["site"], ANCHOR_LINK[0]).read_text()
    assert f'<tr id="{column_anchor(ANCHOR_LINK[1])}"' in markup  # the link's target (see the fixture)
    assert re.search(r'<svg class="kg-graph".*?</svg></div>', _section(markup, "lineage"), re.S)
    link = re.search(r'href="([^"]*#col-account_key)"', (built["site"] / "governance" / "index.html").read_text())
    assert link and link.group(1) == "../tables/core/accounts/#col-account_key"
    docs = json.loads((built["site"] / "search" / "search_index.json").read_text())["docs"]
    lineage = {d["location"]: d["text"] for d in docs
               if d["location"].startswith("tables/") and d["location"].endswith("/#lineage")}
    assert len(lineage) == len(built["project"].contracts)
    for location, text in lineage.items():
        assert text.startswith("Upstream (2 hops)"), (location, text[:200])  # the graph's labels were first
        assert not re.search(r"[a-z0-9_]\.[a-z0-9_]+(raw|stg|core|enr|retl|marts)\.", text), location


def test_search_indexes_a_tables_text_as_it_would_index_the_table(built: dict[str, Any]) -> None:
    """The search plugin is handed each generated table as its text and the tags it keeps
    (``search_text``): for every table of the built site, in the contexts a page gives it, mkdocs-material's
    own parser makes the same sections of the text as of the table."""
    from material.plugins.search.plugin import Parser

    from kcrm_gov.catalog.plugin import search_text

    def indexed(markup: str) -> list[tuple[list[str], str]]:
        parser = Parser()
        parser.feed(markup)
        parser.close()
        return [(section.title, "".join(section.text)) for section in parser.data]

    tables = {m.group(0) for file in built["site"].rglob("index.html")
              for m in re.finditer(r'<div class="kg-table[^"]*">\n<table>.*?</table>\n</div>', file.read_text(), re.S)}
    assert len(tables) > 500
    for table in tables:
        text = search_text(table)
        assert len(text) < len(table)
        for before, after in (("<h2 id=\"s\">S</h2><p>x</p>\n", "\n\n<p>after</p>"), ("", " tail <code>y</code>")):
            assert indexed(before + table + after) == indexed(f"{before}<!--a-->{text}<!--b-->{after}"), table[:300]


def test_setting_generated_html_aside_changes_no_page(built: dict[str, Any]) -> None:
    """What mkdocs makes of a page with its HTML blocks set aside and put back is what it makes of the
    page as it is, for the largest generated pages (their tables, graphs, tabs and admonitions)."""
    import markdown
    from mkdocs.config import load_config

    from kcrm_gov.catalog.pages import collect, render_site
    from kcrm_gov.catalog.plugin import CatalogPlugin
    from kcrm_gov.catalog.templates import Urls

    config = load_config(str(built["dir"] / "mkdocs.yml"))
    pages = render_site(collect(built["project"], git_history=False), Urls(True))
    plugin = CatalogPlugin()
    for uri in ("pii.md", table_uri("core.accounts"), table_uri("raw.ga4__events"), "layers/core/index.md"):
        def convert(text: str) -> str:
            return markdown.Markdown(extensions=config["markdown_extensions"],
                                     extension_configs=config["mdx_configs"]).convert(text)

        aside = plugin.set_aside(pages[uri], uri)
        assert len(aside) < len(pages[uri]) / 2, uri  # most of a generated page is its HTML
        html = plugin.put_back(plugin.put_back(convert(aside), uri, indexed=True), uri, indexed=False)
        unmarked = re.sub(r"^<!--/?kg(:html|:graphic)?-->\n", "", pages[uri], flags=re.M)
        assert html == convert(unmarked), uri


def test_site_works_offline(built: dict[str, Any]) -> None:
    for file in built["site"].rglob("*.html"):
        text = file.read_text()
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, file
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text), file


# --- git history -------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_version_history_from_git(tmp_path: Path, warm_state: Path) -> None:
    project_dir = with_warm_state(copy_project(tmp_path / "project"), warm_state)
    shutil.copy2(REPO / ".gitignore", project_dir / ".gitignore")  # the caches stay out of git, as in a clone
    contract = project_dir / "contracts" / "stg" / "hubspot__owners.odcs.yaml"
    env = {**os.environ, "GIT_AUTHOR_NAME": "Maria Chen", "GIT_AUTHOR_EMAIL": "maria.chen@kcrm.io",
           "GIT_COMMITTER_NAME": "Maria Chen", "GIT_COMMITTER_EMAIL": "maria.chen@kcrm.io"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(project_dir), *args], check=True, capture_output=True, env=env)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "Add the owners contracts")
    text = contract.read_text()
    old = re.search(r"^version: (\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
    major, minor, _ = old.split(".")
    new = f"{major}.{int(minor) + 1}.0"
    contract.write_text(text.replace(f"version: {old}", f"version: {new}", 1))
    git("commit", "-q", "-am", "Owners: document team_name")
    # plain `mkdocs build --strict`: the plugin is found through the package's entry point
    done = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-q", "-d",
                           str(tmp_path / "site")], cwd=project_dir, capture_output=True, text=True,
                          env={**env, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    change = _section(_page_path(tmp_path / "site", STG).read_text(), "change")
    rows = [_text(r) for r in re.findall(r"<tr>(.*?)</tr>", change, re.S) if "<th>" not in r]
    assert len(rows) == 2
    assert new in rows[0] and "Owners: document team_name" in rows[0]
    assert old in rows[1] and "Add the owners contracts" in rows[1]
    assert "Maria Chen" in rows[0]


# --- end to end in headless Chromium -------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _WebDriver:
    """The few W3C WebDriver commands the test needs, over plain HTTP to chromedriver."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if body is None and method == "POST":
            body = {}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def s(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call(method, f"/session/{self.session}{path}", body)

    def find(self, css: str) -> str:
        found = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def wait(self, script: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.s("POST", "/execute/sync", {"script": script, "args": []})
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for: {script}")


@pytest.fixture
def served_site(built: dict[str, Any]) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(built["site"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
def test_search_in_headless_chromium(served_site: str, tmp_path: Path) -> None:
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    web = _WebDriver(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if web.call("GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
        web.session = web.call("POST", "/session", caps)["sessionId"]
        web.s("POST", "/url", {"url": served_site + "tables/stg/hubspot__contacts/"})
        assert "stg.hubspot__contacts" in web.s("GET", "/title")
        assert web.wait("return document.querySelectorAll('.kg-badge.kg-pii').length")
        # search for a column that only this table has
        web.s("POST", f"/element/{web.find('label.md-search__icon, .md-search__input')}/click")
        query = web.find("input.md-search__input")
        web.s("POST", f"/element/{query}/value", {"text": "merged_contact_ids"})
        hits = web.wait("const a = [...document.querySelectorAll('.md-search-result__item a')];"
                        "return a.length ? a.map(x => x.href) : null;")
        assert any("tables/stg/hubspot__contacts/" in h for h in hits), hits
        # a table by its bare name: its page is the first result (issue 13), not one that merely mentions it
        for word, page in (("accounts", "tables/core/accounts/"), ("users", "tables/core/users/")):
            typed = web.s("POST", "/execute/sync", {"script": "return document.querySelector("
                                                              "'input.md-search__input').value.length;", "args": []})
            web.s("POST", f"/element/{query}/value", {"text": "\ue003" * typed + word})  # backspaces, then the word
            first = ("const a = document.querySelector('.md-search-result__item a');"
                     f"return a && a.href.includes({json.dumps('/' + page)}) ? a.href : null;")
            try:
                web.wait(first, timeout=10)
                time.sleep(1.0)  # the results of the last keystroke, not of a prefix typed on the way
                assert web.s("POST", "/execute/sync", {"script": first, "args": []})
            except AssertionError:
                shown = web.s("POST", "/execute/sync", {"script": "return [...document.querySelectorAll("
                                                                  "'.md-search-result__item a')].map(x => x.href)"
                                                                  ".slice(0, 5);", "args": []})
                raise AssertionError(f"searching {word!r}: the first result is not {page}: {shown}") from None
        ARTIFACTS.mkdir(exist_ok=True)
        png = base64.b64decode(web.s("GET", "/screenshot"))
        shot = ARTIFACTS / "catalog-search.png"
        shot.write_bytes(png)
        assert png.startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    finally:
        if web.session:
            with contextlib.suppress(OSError):
                web.s("DELETE", "")
        driver.terminate()
        driver.wait(timeout=10)

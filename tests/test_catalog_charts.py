"""The catalog's marts charts (static SVG drawn at build time), on a copy of the seeded warehouse.

One module-scoped strict catalog build of a copy of the session's seeded warehouse. The
SVGs must exist, parse as XML, show the figures of the warehouse (queried independently here) and
reference no URL; the pages must embed them; and headless Chromium must render them with no
request to any host but the local server.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import json
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_project, copy_warehouse, query_rows, with_warm_state
from test_catalog import CHROMEDRIVER, CHROMIUM, _free_port, _WebDriver

from kcrm_gov.catalog.charts import CHART_DIR, CHARTS, NO_BUILD, _refused_columns, draw_charts
from kcrm_gov.catalog.pages import collect, render_site, table_uri
from kcrm_gov.catalog.site import build_site
from kcrm_gov.project import Project

SVG_NS = "http://www.w3.org/2000/svg"
ALLOWED_URLS = {SVG_NS, "http://www.w3.org/1999/xlink"}  # the SVG's own namespaces, not requests

@pytest.fixture(scope="module")
def site(seeded_warehouse: Path, tmp_path_factory: pytest.TempPathFactory, warm_state: Path) -> dict[str, Any]:
    root = with_warm_state(copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("charts") / "p"), warm_state)
    start = time.perf_counter()
    result = build_site(root, site_dir=root / "site-out", strict=True)  # raises on any mkdocs warning
    return {"root": root, "site": result.site_dir, "seconds": time.perf_counter() - start}


def _svg(site: dict[str, Any], key: str) -> str:
    return (site["site"] / CHART_DIR / f"{key}.svg").read_text(encoding="utf-8")


def _texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{{{SVG_NS}}}text")]


def _labels(svg: str, kind: str) -> list[str]:
    """The aria-labels of the marks of one kind (``bar``, ``rect mark``): one per bar or cell, with its values."""
    return [e.get("aria-label", "") for e in ET.fromstring(svg).iter()
            if e.get("aria-roledescription") == kind]


def test_every_chart_is_valid_offline_svg(site: dict[str, Any]) -> None:
    for chart in CHARTS:
        svg = _svg(site, chart.key)
        root = ET.fromstring(svg)  # well-formed XML
        assert root.tag == f"{{{SVG_NS}}}svg"
        assert set(re.findall(r"https?://[^\s\"'<>)]+", svg)) <= ALLOWED_URLS, chart.key
        assert "@font-face" not in svg and "url(" not in svg.replace("url(#", ""), chart.key
        assert chart.title.split()[0].lower() in svg.lower() or _texts(svg), chart.key


def test_mrr_movements_show_the_warehouse_figures(site: dict[str, Any]) -> None:
    months = query_rows(site["root"], "SELECT month_start, SUM(churned_mrr), SUM(closing_mrr_usd) "
                                      "FROM marts.revenue_mrr_monthly GROUP BY 1 ORDER BY 1")[-24:]
    svg = _svg(site, "mrr-movements")
    texts = _texts(svg)
    last, churned, closing = months[-1]
    assert f"Closing MRR {last:%B %Y}: ${closing:,.0f}; the line is net new MRR" in texts
    bars = _labels(svg, "bar")
    assert len(bars) == 5 * len(months)  # new, expansion, reactivation, contraction, churned per month
    assert {f"{m:%Y-%m}" for m, _, _ in months} <= set(texts)  # one x label per month
    assert {"New", "Expansion", "Reactivation", "Contraction", "Churned"} <= set(texts)
    churn_bar = next(b for b in bars if f"month: {last:%Y-%m};" in b and b.endswith("movement: Churned"))
    shown = re.search(r"MRR change \(USD\): (−?)([\d.]+)(k?);", churn_bar)  # "~s" format: −55.9799k
    assert shown, churn_bar
    value = float(shown.group(2)) * (1000 if shown.group(3) else 1) * (-1 if shown.group(1) else 1)
    assert value == pytest.approx(float(churned), rel=1e-5)
    page = (site["site"] / "tables/marts/revenue_mrr_monthly/index.html").read_text()
    assert f'src="../../../{CHART_DIR}/mrr-movements.svg"' in page
    assert f"as of {last:%B %Y}" in page
    assert f"<td>{last:%Y-%m}</td>" in page and f"<td>${closing:,.0f}</td>" in page  # the figures table


def test_retention_cohorts_and_trials_show_the_warehouse_figures(site: dict[str, Any]) -> None:
    last, nrr, grr = query_rows(site["root"], "SELECT month_start, nrr, grr FROM marts.revenue_retention_monthly "
                                              "WHERE nrr IS NOT NULL ORDER BY 1 DESC LIMIT 1")[0]
    assert f"{last:%B %Y}: NRR {nrr * 100:.1f} %, GRR {grr * 100:.1f} %" in _texts(_svg(site, "revenue-retention"))
    cells = query_rows(site["root"], "SELECT COUNT(*) FROM marts.revenue_cohorts WHERE months_since < 24 AND "
                                     "cohort_month IN (SELECT DISTINCT cohort_month FROM marts.revenue_cohorts "
                                     "ORDER BY 1 DESC LIMIT 24)")[0][0]
    assert len(_labels(_svg(site, "cohort-retention"), "rect mark")) == cells > 0
    last, trials = query_rows(site["root"], "SELECT month_start, trials FROM marts.trial_conversion_monthly "
                                            "ORDER BY 1 DESC LIMIT 1")[0]
    subtitle = (f"Rates of the trials whose window has closed; {last:%B %Y}: {trials:,} trials, recent months "
                "have had less time to convert")
    assert subtitle in _texts(_svg(site, "trial-conversion"))


def test_funnel_chart_adds_up_the_last_twelve_cohorts(site: dict[str, Any]) -> None:
    texts = _texts(_svg(site, "funnel"))
    stages = ("Touches", "New contacts", "MQLs", "SQLs", "Opportunities", "Won")
    assert [t for t in texts if t in stages] == list(stages)
    # each stage summed over channels and the last 12 MQL cohort months, queried here independently
    [totals] = query_rows(site["root"], """
        SELECT SUM(touches), SUM(new_contacts), SUM(mql_contacts), SUM(sql_contacts), SUM(opportunity_contacts),
               SUM(won_contacts)
        FROM marts.funnel_monthly
        WHERE month_start > (SELECT MAX(month_start) FROM marts.funnel_monthly) - INTERVAL 12 MONTH""")
    assert all(totals)
    labels = [f"{totals[0]:,.0f}"] + [f"{n:,.0f} ({100 * n / p:.1f} % of {stages[i]})"
                                      for i, (p, n) in enumerate(itertools.pairwise(totals))]
    for label in labels:
        assert label in texts, (label, texts)
    assert "Cohorts January 2023 to December 2023, conversion counted in the MQL's month" in texts
    metrics = (site["site"] / "metrics/index.html").read_text()
    assert 'id="chart-funnel"' in metrics and f"{CHART_DIR}/funnel.svg" in metrics


def test_charts_sit_on_their_metric_and_table_pages(site: dict[str, Any]) -> None:
    metrics = (site["site"] / "metrics/index.html").read_text()
    for chart in CHARTS:
        assert metrics.count(f'<figure class="kg-chart" id="chart-{chart.key}">') == 1, chart.key
        page = (site["site"] / table_uri(chart.table).removesuffix(".md") / "index.html").read_text()
        assert f"{CHART_DIR}/{chart.key}.svg" in page, chart.table
    # the other MRR metrics link to the chart under MRR instead of repeating it
    assert metrics.count("chart-mrr-movements") == 8


def test_no_chart_reads_personal_or_restricted_data(site: dict[str, Any]) -> None:
    project = Project.load(site["root"])
    for chart in CHARTS:
        contract = project.contracts[chart.table]
        assert _refused_columns(contract, chart.query(contract).columns) == [], chart.key
    contacts = project.contracts["core.contacts"]
    pii = [c.name for c in contacts.columns if c.is_pii]
    assert pii and _refused_columns(contacts, pii) == pii  # a chart reading one would not be drawn


def test_without_a_warehouse_the_pages_say_no_build_yet(tmp_path: Path) -> None:
    project = Project.load(copy_project(tmp_path / "p"))
    charts = draw_charts(project)
    assert charts.note == NO_BUILD and not charts.assets()
    data = collect(project, git_history=False, column_lineage=False)
    data.charts = charts
    pages = render_site(data)
    assert f"Chart (MRR movements): {NO_BUILD}." in pages["metrics.md"]
    assert f"Chart (NRR and GRR): {NO_BUILD}." in pages[table_uri("marts.revenue_retention_monthly")]
    assert "<img" not in pages["metrics.md"]


# --- headless Chromium -------------------------------------------------------------------------
@pytest.fixture
def served(site: dict[str, Any]) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(site["site"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
def test_charts_render_in_headless_chromium_without_other_hosts(served: str, tmp_path: Path) -> None:
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    web = _WebDriver(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if web.call("GET", "/status").get("ready"):
                    break
            if time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"performance": "ALL"}}}}  # every request the pages make, in the log
        web.session = web.call("POST", "/session", caps)["sessionId"]
        for page, expected in (("metrics/", len(CHARTS)), ("tables/marts/revenue_mrr_monthly/", 1),
                               ("tables/marts/revenue_retention_monthly/", 1)):
            web.s("POST", "/url", {"url": served + page})
            web.wait("return document.readyState === 'complete'")
            images = web.wait("const i = [...document.querySelectorAll('figure.kg-chart img')];"
                              "return i.length && i.every(x => x.complete) ? "
                              "i.map(x => [x.src, x.naturalWidth]) : null;")
            assert len(images) == expected, (page, images)
            assert all(width > 0 for _, width in images), (page, images)
        urls = set()
        for entry in web.s("POST", "/se/log", {"type": "performance"}):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.add(message["params"]["request"]["url"])
        assert any(u.endswith("/mrr-movements.svg") for u in urls), urls  # the log did record the requests
        # chrome:// and data: are the browser's own; anything on the network must be the local server
        other = {u for u in urls if u.split(":", 1)[0] in ("http", "https", "ws", "wss") and not u.startswith(served)}
        assert not other, f"requests to other hosts: {sorted(other)}"
    finally:
        if web.session:
            with contextlib.suppress(OSError):
                web.s("DELETE", "")
        driver.terminate()
        driver.wait(timeout=10)

"""The catalog's trust status (issue 13, item 7): results merged across runs, and "no SLA".

Real runs on the mini project (raw.src__items -> stg.src__items -> core.items; only the raw table has
a freshness SLA): ``kcrm-gov test`` on everything and then ``kcrm-gov test -s core.items`` must leave
every table with its quality result in the catalog, not "never run" for the two the second run did not
select; the same for ``kcrm-gov freshness -s``. A table without a freshness SLA says "no SLA" (table
page, layer table, overview), never "never run".
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import miniproject
import pytest
from click.testing import CliRunner, Result

from kcrm_gov.catalog.pages import CatalogData, collect, layer_uri, render_site, table_uri
from kcrm_gov.cli import cli
from kcrm_gov.project import Project

TABLES = ("raw.src__items", "stg.src__items", "core.items")
NOW = "2023-01-02T06:00:00Z"  # the mini rows were synced on 2023-01-02: fresh


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    root = miniproject.make(tmp_path / "mini")
    miniproject.load_raw(root, miniproject.ROWS)
    assert run(root, "build").exit_code == 0
    return root


def run(root: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def catalog(root: Path) -> tuple[CatalogData, dict[str, str]]:
    data = collect(Project.load(root), git_history=False, column_lineage=False)
    return data, render_site(data)


def text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def glance(page: str, what: str) -> str:
    """The status ``what`` (checks, freshness, build) in a table page's at-a-glance line."""
    line = next(line for line in page.splitlines() if line.startswith("<p>Layer "))
    part = next(p for p in line.split(" · ") if text(p).startswith(what + " "))
    return text(part).removeprefix(what + " ")


def subsection(page: str, anchor: str) -> str:
    """A table page's ``### ... {#anchor}`` part of the Trust section, as text."""
    start = page.index(f"{{#{anchor}}}")
    end = page.find("\n### ", start)
    return text(page[start + len(anchor) + 3: end if end != -1 else len(page)])


def row_cells(markup: str, first_cell: str) -> list[str]:
    """The cells (as text) of the HTML table row whose first cell reads ``first_cell``."""
    for row in re.findall(r"<tr>(.*?)</tr>", markup, re.S):
        cells = [text(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row for {first_cell}")


# --- quality: merged across runs -----------------------------------------------------------------
def test_selective_test_run_keeps_the_other_tables_quality_results(mini: Path) -> None:
    run(mini, "test", "--now", NOW)
    everything, pages = catalog(mini)
    assert set(everything.artifacts.checks) == set(TABLES)
    before = {t: sorted((c.name, c.outcome) for c in everything.artifacts.checks[t]) for t in TABLES}

    assert run(mini, "test", "--now", NOW, "-s", "core.items").exit_code == 0
    latest = json.loads((mini / ".kcrm" / "test_results.json").read_text())
    assert [t["table"] for t in latest["tables"]] == ["core.items"]  # the latest file holds one table ...

    data, pages = catalog(mini)  # ... and the catalog still shows every table's last result
    assert set(data.artifacts.checks) == set(TABLES)
    assert {t: sorted((c.name, c.outcome) for c in data.artifacts.checks[t]) for t in TABLES} == before
    # core.items' checks are those of the second run, the others those of the first
    first = json.loads(sorted((mini / ".kcrm" / "runs").glob("*-test-*.json"))[0].read_text())
    assert {c.when for c in data.artifacts.checks["core.items"]} == {latest["finished_at"]}
    assert {c.when for c in data.artifacts.checks["raw.src__items"]} == {first["finished_at"]}
    for table in TABLES:
        page = pages[table_uri(table)]
        assert "never run" not in glance(page, "checks"), table
        assert "No quality results" not in subsection(page, "quality"), table
        layer = pages[layer_uri(table.split(".")[0])]
        assert "never run" not in row_cells(layer, table)[7], table  # the Checks column


def test_a_newer_run_of_a_table_replaces_its_older_result(mini: Path) -> None:
    run(mini, "test", "--now", NOW)
    # the raw table's checks fail on a later scan: the catalog shows that run, not the first one
    late = "2023-06-01T00:00:00Z"
    run(mini, "test", "--now", late, "-s", "raw.src__items")
    data, _ = catalog(mini)
    freshness_check = next(c for c in data.artifacts.checks["raw.src__items"] if "fresh" in c.name)
    assert freshness_check.outcome == "fail"
    assert set(data.artifacts.checks) == set(TABLES)


def test_an_unreadable_latest_file_hides_older_results_instead_of_showing_them(mini: Path) -> None:
    run(mini, "test", "--now", NOW)
    run(mini, "test", "--now", NOW, "-s", "core.items")
    latest = mini / ".kcrm" / "test_results.json"
    latest.write_text(latest.read_text()[:100])  # truncated: that run may have replaced any result
    data, pages = catalog(mini)
    assert data.artifacts.checks == {}
    assert "test_results.json is unreadable" in data.artifacts.unreadable["quality"]
    assert glance(pages[table_uri("stg.src__items")], "checks") == "unreadable"


# --- freshness: merged across runs, and "no SLA" -----------------------------------------------------
def test_selective_freshness_run_keeps_the_other_results(mini: Path) -> None:
    assert run(mini, "freshness", "--now", NOW).exit_code == 0
    data, _ = catalog(mini)
    assert set(data.artifacts.freshness) == {"raw.src__items"}
    run(mini, "freshness", "--now", NOW, "-s", "core.items")  # measures nothing: core.items has no SLA
    latest = json.loads((mini / ".kcrm" / "freshness_results.json").read_text())
    assert latest["tables"] == []
    data, pages = catalog(mini)
    assert data.artifacts.freshness["raw.src__items"].outcome == "pass"
    assert glance(pages[table_uri("raw.src__items")], "freshness") == "pass"


def test_tables_without_a_freshness_sla_say_no_sla(mini: Path) -> None:
    project = Project.load(mini)
    assert project.contracts["raw.src__items"].sla("freshness") is not None
    assert project.contracts["core.items"].sla("freshness") is None
    _, pages = catalog(mini)  # nothing measured yet
    assert glance(pages[table_uri("raw.src__items")], "freshness") == "never run"
    for table in ("stg.src__items", "core.items"):
        page = pages[table_uri(table)]
        assert glance(page, "freshness") == "no SLA", table
        assert "never run" not in subsection(page, "freshness"), table
        assert "no freshness SLA" in subsection(page, "freshness"), table
        layer = pages[layer_uri(table.split(".")[0])]
        assert row_cells(layer, table)[-1] == "no SLA", table  # the Freshness column

    assert run(mini, "freshness", "--now", NOW).exit_code == 0
    _, pages = catalog(mini)
    assert glance(pages[table_uri("raw.src__items")], "freshness") == "pass"
    assert glance(pages[table_uri("core.items")], "freshness") == "no SLA"
    overview = pages["index.md"]
    assert row_cells(overview, "raw")[-1] == "1 pass"
    for layer in ("stg", "core"):  # no table of these layers has an SLA
        assert row_cells(overview, layer)[-1] == "no SLA", layer

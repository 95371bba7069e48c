"""`kcrm-gov generate lookml`: the Looker views and explores of the marts, parsed back with `lkml`.

Every generated file is parsed with the `lkml` package (Looker's grammar, not ours) and compared
with the contracts and with catalog/metrics.yml read here directly as YAML, so a measure is checked
against its metric's own words, not against the generator's reading of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import lkml
import yaml
from click.testing import CliRunner
from conftest import REPO

from kcrm_gov.cli import cli
from kcrm_gov.project import Project


def _plain(quoted_value: str) -> str:
    """A LookML string's text: lkml keeps the backslash escapes as written, so undo them."""
    return re.sub(r"\\(.)", r"\1", quoted_value)


def _folded(text: str | None) -> str:
    return " ".join((text or "").split())


def _invoke(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--project-dir", str(root), *args])


def _parsed(root: Path) -> dict[str, dict[str, Any]]:
    """``{file name: lkml's parse}`` of every file under lookml/."""
    return {p.name: lkml.load(p.read_text()) for p in sorted((root / "lookml").rglob("*.lkml"))}


def _expected_measures(metrics: dict[str, Any], table: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """``{column: (metric key, aggregation as written, metric)}`` for the columns of marts.<table>
    that metrics.yml binds (read independently of kcrm_gov.metrics)."""
    out = {}
    for key, metric in metrics.items():
        for ref in metric.get("columns") or []:
            _, tbl, column = ref.split(".")
            if tbl != table:
                continue
            declared = metric["aggregation"]
            if isinstance(declared, dict) and ref in declared:
                declared = declared[ref]
            out[column] = (key, declared, metric)
    return out


def test_every_mart_gets_a_view_that_matches_its_contract_and_metrics(project_dir: Path) -> None:
    result = _invoke(project_dir, "generate", "lookml", "--check")
    assert result.exit_code == 0, result.output  # the committed files are what the generator writes
    project = Project.load(project_dir)
    metrics = yaml.safe_load((project_dir / "catalog/metrics.yml").read_text())["metrics"]
    parsed = _parsed(project_dir)
    marts = project.layer("marts")
    assert {f"{c.table}.view.lkml" for c in marts} | {
        f"{c.table}.explore.lkml" for c in marts if c.source != "reference"} == set(parsed)
    totals = {"views": 0, "dimensions": 0, "measures": 0, "hidden": 0}
    for contract in marts:
        (view,) = parsed[f"{contract.table}.view.lkml"]["views"]
        assert view["name"] == contract.table
        assert view["sql_table_name"] == f"`kcrm-analytics-prod.kcrm_marts.{contract.table}`"
        fields = {f["name"]: f for f in [*view.get("dimensions", []), *view.get("dimension_groups", [])]}
        key = contract.primary_key
        compound = len(key) > 1 or contract.column(key[0]).logical_type in ("date", "timestamp")
        assert set(fields) == {c.name for c in contract.columns} | ({"primary_key"} if compound else set())
        keyed = [name for name, f in fields.items() if f.get("primary_key") == "yes"]
        assert keyed == (["primary_key"] if compound else key)
        if compound:
            assert all(f"${{TABLE}}.{name} AS STRING" in fields["primary_key"]["sql"] for name in key)
        for col in contract.columns:
            field = fields[col.name]
            assert _plain(field["label"]) == col.business_name
            assert _plain(field["description"]) == _folded(col.description)
            assert (field.get("hidden") == "yes") == col.holds_sensitive, (contract.table, col.name)
            assert field["sql"].strip() == f"${{TABLE}}.{col.name}"
            if col.logical_type in ("date", "timestamp"):
                assert field["type"] == "time" and "month" in field["timeframes"]
            else:
                assert field["type"] == {"string": "string", "integer": "number", "number": "number",
                                         "boolean": "yesno"}[col.logical_type]
        # each measure is its metric's: name, type, the column it reads, its description
        expected = _expected_measures(metrics, contract.table)
        measures = {m["name"]: m for m in view.get("measures", [])}
        assert len(measures) == len(expected)
        for column, (key_, declared, metric) in expected.items():
            if isinstance(declared, dict):  # a ratio of sums of columns of the same table
                m = measures[f"overall_{column}"]
                assert m["type"] == "number"
                sql = m["sql"]
                for part in ("numerator", "denominator", "subtract"):
                    if part in declared:
                        assert f"SUM(${{TABLE}}.{declared[part]})" in sql, (key_, sql)
                assert sql.startswith(f"{declared['scale']} * SAFE_DIVIDE(" if "scale" in declared else "SAFE_DIVIDE(")
            else:
                m = measures[f"{ {'sum': 'total'}.get(declared, declared)}_{column}"]
                assert m["type"] == declared
                if declared == "count":
                    assert m["filters__all"] == [[{column: "-NULL"}]]  # COUNT(column): rows where it is set
                else:
                    assert m["sql"].strip() == f"${{TABLE}}.{column}"
            assert _plain(m["group_label"]) == metric["name"]
            assert _folded(metric["description"]) in _plain(m["description"])
        totals["views"] += 1
        totals["dimensions"] += len(fields)
        totals["measures"] += len(measures)
        totals["hidden"] += sum(f.get("hidden") == "yes" for f in fields.values())
    # the totals, counted from the contracts and metrics.yml alone: a dimension per column plus a hidden key
    # dimension per compound key; a measure per bound column; hidden = sensitive columns + compound keys
    compounds = sum(len(c.primary_key) > 1 or c.column(c.primary_key[0]).logical_type in ("date", "timestamp")
                    for c in marts)
    bound = {ref for m in metrics.values() for ref in m.get("columns") or []}
    assert totals == {
        "views": len(marts),
        "dimensions": sum(len(c.columns) for c in marts) + compounds,
        "measures": len(bound),
        "hidden": sum(col.holds_sensitive for c in marts for col in c.columns) + compounds}, totals
    assert totals["views"] >= 18 and totals["measures"] >= 58
    (explore,) = parsed["revenue_mrr_monthly.explore.lkml"]["explores"]
    assert parsed["revenue_mrr_monthly.explore.lkml"]["includes"] == ["../views/revenue_mrr_monthly.view.lkml"]
    assert _plain(explore["label"]) == "MRR bridge by month, segment and plan"
    # a few measures written out by hand
    views = {f: d["views"][0] for f, d in parsed.items() if "views" in d}
    cs = {m["name"]: m for m in views["cs_health_monthly.view.lkml"]["measures"]}
    assert cs["overall_nps"]["sql"].strip() == (
        "100 * SAFE_DIVIDE((SUM(${TABLE}.nps_promoters) - SUM(${TABLE}.nps_detractors)), SUM(${TABLE}.nps_responses))")
    assert cs["overall_csat"]["value_format_name"] == "percent_1"
    assert cs["total_churned_customers"]["value_format_name"] == "decimal_0"  # a count, not the rate's percent
    mrr = {m["name"]: m for m in views["revenue_mrr_monthly.view.lkml"]["measures"]}
    assert (mrr["total_closing_mrr_usd"]["type"], mrr["total_closing_mrr_usd"]["value_format_name"]) == ("sum", "usd")
    assert mrr["overall_arpa_usd"]["sql"].strip() == \
        "SAFE_DIVIDE(SUM(${TABLE}.closing_mrr_usd), SUM(${TABLE}.customers))"
    # the PII column (the CSM's name) is hidden; the metrics' money columns are confidential, hidden
    # as dimensions, while their measures stay visible
    seg = {d["name"]: d for d in views["account_segmentation.view.lkml"]["dimensions"]}
    assert seg["csm_name"]["hidden"] == "yes" and "hidden" not in seg["segment"]
    assert "hidden" not in mrr["total_closing_mrr_usd"]


HOSTILE = ('Say "hi" ;; } dimension: injected { sql: ${TABLE}.x ;; } {{ _user_attributes }} {% if %} '
           'back\\slash\nnext line')


def test_hostile_contract_and_metric_text_stays_one_string(project_dir: Path) -> None:
    contract = project_dir / "contracts/marts/product_engagement_daily.odcs.yaml"
    text = contract.read_text()
    old = "        businessName: Segment\n"
    assert old in text
    contract.write_text(text.replace(old, f"        businessName: {json.dumps(HOSTILE)}\n", 1))
    metrics = project_dir / "catalog/metrics.yml"
    text = metrics.read_text()
    old = "    description: Users with a tracked action in the 7 days ending on the day.\n"
    assert old in text
    metrics.write_text(text.replace(old, f"    description: {json.dumps(HOSTILE)}\n"))
    result = _invoke(project_dir, "generate", "lookml")
    assert result.exit_code == 0, result.output
    (view,) = lkml.load((project_dir / "lookml/views/product_engagement_daily.view.lkml").read_text())["views"]
    dims = {d["name"]: d for d in view["dimensions"]}
    assert set(dims) == {"primary_key", "segment", "dau", "wau", "mau", "stickiness"}  # nothing injected
    assert {m["name"] for m in view["measures"]} == {"total_dau", "total_wau", "total_mau", "overall_stickiness"}
    # the text comes back as written, on one line, with Liquid's openers broken so Looker shows them
    shown = _folded(HOSTILE).replace("{{", "{ {").replace("{%", "{ %")
    assert _plain(dims["segment"]["label"]) == shown
    assert dims["segment"]["sql"].strip() == "${TABLE}.segment"
    (wau,) = [m for m in view["measures"] if m["name"] == "total_wau"]
    assert _plain(wau["description"]) == shown and wau["sql"].strip() == "${TABLE}.wau"


def test_a_column_name_that_is_not_an_identifier_is_refused(project_dir: Path) -> None:
    contract = project_dir / "contracts/marts/product_engagement_daily.odcs.yaml"
    contract.write_text(contract.read_text().replace("      - name: stickiness\n",
                                                     '      - name: "x ;; } dimension: y {"\n', 1))
    result = _invoke(project_dir, "generate", "lookml")
    assert result.exit_code == 2, result.output
    assert "is not a safe identifier" in result.output
    assert "dimension: y" not in (project_dir / "lookml/views/product_engagement_daily.view.lkml").read_text()


def test_check_reports_stale_lookml_and_lint_checks_aggregations(project_dir: Path) -> None:
    metrics = project_dir / "catalog/metrics.yml"
    text = metrics.read_text()
    old = "    description: Run-rate annual value of the subscription base.\n"
    assert old in text and "    aggregation: sum\n" in text
    metrics.write_text(text.replace(old, "    description: Run-rate annual value.\n"))
    result = _invoke(project_dir, "generate", "lookml", "--check")
    assert result.exit_code == 1
    assert "lookml/views/revenue_mrr_monthly.view.lkml: changed" in result.output
    assert '+    description: "Run-rate annual value."' in result.output
    assert _invoke(project_dir, "generate", "lookml").exit_code == 0
    assert _invoke(project_dir, "generate", "lookml", "--check").exit_code == 0
    # an aggregation that is not one, a ratio over a missing column, a metric bound with none
    text = metrics.read_text()
    arr = "    columns: [marts.revenue_mrr_monthly.arr_usd]\n    aggregation: sum\n"
    arpa = "    aggregation: {numerator: closing_mrr_usd, denominator: customers}\n"
    mrr = "    columns: [marts.revenue_mrr_monthly.closing_mrr_usd, marts.revenue_mrr_monthly.opening_mrr_usd]\n" \
          "    aggregation: sum\n"
    assert arr in text and arpa in text and mrr in text
    metrics.write_text(text.replace(arr, arr.replace("sum", "median"))
                       .replace(arpa, arpa.replace("customers}", "paying}"))
                       .replace(mrr, mrr.replace("    aggregation: sum\n", "")))
    result = _invoke(project_dir, "lint", "--json")
    assert result.exit_code == 1
    found = sorted(f["message"] for f in json.loads(result.stdout)["findings"] if f["rule"] == "KG020")
    assert len(found) == 4, found  # mrr's two columns, arr, arpa
    assert any("arr_usd': aggregation must be one of sum, average" in m for m in found)
    assert any("the ratio's column 'paying' is not a column of marts.revenue_mrr_monthly" in m for m in found)
    assert sum("no aggregation: declare `aggregation:`" in m for m in found) == 2


def test_help_explains_what_is_generated() -> None:
    result = CliRunner().invoke(cli, ["generate", "lookml", "--help"])
    assert result.exit_code == 0
    for phrase in ("lookml/views/<table>.view.lkml", "dimension_group", "`hidden: yes`", "primary_key",
                   "catalog/metrics.yml", "aggregation", "kcrm-gov check", "--out"):
        assert phrase in result.output, phrase
    assert (REPO / "docs/governance/lookml.md").is_file()

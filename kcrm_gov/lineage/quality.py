"""Soda results as OpenLineage input-dataset facets (``dataQualityAssertions``, ``dataQualityMetrics``).

``kcrm-gov test`` writes ``.kcrm/test_results.json``. This module reads it when present and turns
each tested table's checks into facets. It accepts the shapes a Soda-based writer naturally
produces, so that it does not depend on one exact layout:

* ``{"tables": [{"table": "stg.x", "checks": [...], "errors": [...]}]}``: what ``kcrm-gov test``
  writes (:class:`kcrm_gov.checks.scan.TestRun`); or ``{"tables": {"stg.x": {"checks": [...]}}}``;
* ``{"checks": [...]}`` (or a top-level list, or ``{"results"|"scans": [...]}``) whose checks name
  their table (``"table": "stg.x"``, or ``"table": "x"`` with ``"layer"``/``"dataSource"``).

A check: ``name``, ``outcome`` (``pass``/``warn``/``fail``/``error``; or ``status``, or a boolean
``passed``/``success``), ``column`` or ``columns``, ``kind`` (or ``type``/``metric``), ``rule`` or
``definition`` (the SodaCL), ``description``, ``severity`` and ``value`` (or ``diagnostics.value``).
``row_count`` checks become ``dataQualityMetrics.rowCount``; ``required`` / ``missing_count`` ones
``columnMetrics.<column>.nullCount``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger(__name__)

RESULTS_FILE = Path("test_results.json")  # under the state dir (.kcrm/)


@dataclass
class TableQuality:
    """The latest test results of one table."""

    table: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    tested_at: str | None = None
    scan_errors: list[str] = field(default_factory=list)

    @property
    def errored(self) -> bool:
        """Whether a check could not be evaluated (the scan itself went wrong)."""
        return bool(self.errors())

    def errors(self) -> list[str]:
        """Names of the checks that could not be evaluated."""
        return [*self.scan_errors,
                *(str(c.get("name") or c.get("definition") or "check") for c in self.checks if _outcome(c) == "error")]

    def assertions_facet(self) -> Any | None:
        from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa

        out = []
        for check in self.checks:
            outcome = _outcome(check)
            if outcome in ("error", "unknown"):
                continue  # a check that did not evaluate asserts nothing
            value = _value(check)
            assertion = str(check.get("kind") or check.get("type") or _metric_of(check) or check.get("name")
                            or "check")
            rule = check.get("rule") or check.get("definition")
            description = check.get("description") or check.get("definition")
            out.append(dqa.Assertion(
                assertion=assertion, success=outcome == "pass", column=_column(check),
                severity=str(check.get("severity") or ("warn" if outcome == "warn" else "error")),
                name=str(check["name"]) if check.get("name") else None,
                description=str(description).strip() if description else None,
                actual=None if value is None or isinstance(value, (dict, list)) else str(value),
                content=str(rule).strip() if rule else None,
                contentType="sodacl" if rule else None))
        return dqa.DataQualityAssertionsDatasetFacet(assertions=out) if out else None

    def metrics_facet(self) -> Any | None:
        from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

        rows: int | None = None
        columns: dict[str, dqm.ColumnMetrics] = {}
        for item in [*self.metrics, *self.checks]:
            metric = str(item.get("kind") or "") or _metric_of(item)
            value = _value(item)
            column = _column(item)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or _outcome(item) == "error":
                continue
            if metric == "row_count" and not column:
                rows = int(value)
            elif metric in ("missing_count", "null_count", "required") and column:
                columns.setdefault(column, dqm.ColumnMetrics()).nullCount = int(value)
            elif metric == "distinct_count" and column:
                columns.setdefault(column, dqm.ColumnMetrics()).distinctCount = int(value)
        if rows is None and not columns:
            return None
        return dqm.DataQualityMetricsInputDatasetFacet(columnMetrics=columns, rowCount=rows)

    def input_facets(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        assertions = self.assertions_facet()
        if assertions is not None:
            out["dataQualityAssertions"] = assertions
        metrics = self.metrics_facet()
        if metrics is not None:
            out["dataQualityMetrics"] = metrics
        return out


def _outcome(check: dict[str, Any]) -> str:
    for key in ("outcome", "status", "result"):
        if isinstance(check.get(key), str):
            word = check[key].lower()
            return {"passed": "pass", "ok": "pass", "success": "pass", "failed": "fail", "warning": "warn",
                    "failure": "fail"}.get(word, word)
    for key in ("passed", "success", "ok"):
        if isinstance(check.get(key), bool):
            return "pass" if check[key] else "fail"
    return "unknown"


def _column(check: dict[str, Any]) -> str | None:
    if check.get("column"):
        return str(check["column"])
    columns = check.get("columns")
    return str(columns[0]) if isinstance(columns, list) and len(columns) == 1 else None


def _value(check: dict[str, Any]) -> Any:
    diagnostics = check.get("diagnostics")
    if isinstance(diagnostics, dict) and "value" in diagnostics:
        return diagnostics["value"]
    for key in ("value", "actual", "check_value"):
        if key in check:
            return check[key]
    return None


def _metric_of(item: dict[str, Any]) -> str | None:
    for key in ("metric", "metricName", "metric_name"):
        if item.get(key):
            return str(item[key])
    metrics = item.get("metrics")
    if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], str):
        # Soda identities look like "metric-<datasource>-<table>-<column>-missing_count"
        return metrics[0].rsplit("-", 1)[-1]
    definition = str(item.get("definition") or item.get("name") or "")
    for name in ("row_count", "missing_count", "duplicate_count", "invalid_count", "distinct_count", "freshness"):
        if definition.startswith(name) or f" {name}" in definition:
            return name
    return None


def _table_name(project: Project, item: dict[str, Any], default: str | None = None) -> str | None:
    name = item.get("table") or item.get("dataset") or default
    if not name:
        return None
    name = str(name)
    if name in project.contracts:
        return name
    layer = item.get("layer") or item.get("dataSource") or item.get("data_source")
    if layer and f"{layer}.{name}" in project.contracts:
        return f"{layer}.{name}"
    matches = [q for q, c in project.contracts.items() if c.table == name]
    return matches[0] if len(matches) == 1 else None


def parse_results(project: Project, data: Any) -> dict[str, TableQuality]:
    """``{layer.table: TableQuality}`` from a parsed results document (see the module docstring)."""
    out: dict[str, TableQuality] = {}

    def table_entry(name: str) -> TableQuality:
        return out.setdefault(name, TableQuality(table=name))

    def add_flat(items: Any, default_table: str | None = None, when: str | None = None) -> None:
        for item in items or []:
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("checks"), list):  # one table's (or one scan's) results
                name = _table_name(project, item, default_table)
                add_flat(item["checks"], name, item.get("finished_at"))
                add_metrics(item.get("metrics"), name)
                if name and isinstance(item.get("errors"), list):
                    table_entry(name).scan_errors.extend(str(e) for e in item["errors"])
                continue
            name = _table_name(project, item, default_table)
            if name:
                entry = table_entry(name)
                entry.checks.append(item)
                entry.tested_at = entry.tested_at or when

    def add_metrics(items: Any, default_table: str | None) -> None:
        for item in items or []:
            if isinstance(item, dict):
                name = _table_name(project, item, default_table)
                if name:
                    table_entry(name).metrics.append(item)

    if isinstance(data, list):
        add_flat(data)
        return out
    if not isinstance(data, dict):
        return out
    tables = data.get("tables")
    if isinstance(tables, dict):
        for name, entry in tables.items():
            if isinstance(entry, dict):
                add_flat([{**entry, "checks": entry.get("checks") or []}], name)
    elif isinstance(tables, list):
        add_flat(tables)
    for key in ("checks", "results", "scans"):
        if isinstance(data.get(key), list):
            add_flat(data[key])
    add_metrics(data.get("metrics"), None)
    return out


def load_results(project: Project) -> dict[str, TableQuality]:
    """The latest test results, by table; empty when ``kcrm-gov test`` has not run (or wrote junk)."""
    path = project.state_dir / RESULTS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable test results %s: %s", path, exc)
        return {}
    return parse_results(project, data)

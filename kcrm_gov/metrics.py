"""Metric definitions (``catalog/metrics.yml``) and the marts columns each one is bound to.

A metric's ``columns:`` lists ``marts.<table>.<column>`` references: the dashboard-facing columns
that hold the number. ``sources:`` may name tables not built yet (the catalog marks them planned),
but a bound column must be a column of a contracted marts table: lint (KG020) reports a reference
that is not, at its line of ``metrics.yml``. The catalog reads the bindings the other way round, so
a bound column's description links to its metric without any contract repeating it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from .errors import KcrmGovError, Location
from .project import Project
from .yamlsource import YamlDocument, read_yaml

METRICS_FILE = Path("catalog") / "metrics.yml"
BOUND_LAYER = "marts"
"""Metrics are bound to dashboard-facing columns only: the layer BI tools and the exec team read."""

AGGREGATIONS = ("sum", "average", "max", "min", "count", "count_distinct")
"""How a BI tool may aggregate a bound column over many rows (``aggregation:`` of a metric). A rate
or average column is not additive: it is recomputed as a ratio of additive columns of its table,
written ``{numerator: <column>, denominator: <column>}`` (SUM(numerator) / SUM(denominator)), with
optionally ``subtract: <column>`` (SUM(numerator) - SUM(subtract) over the denominator, as NPS is)
and ``scale: <number>`` (the ratio times it, e.g. 100 for a score out of 100)."""

RATIO_KEYS = frozenset({"numerator", "denominator", "subtract", "scale"})


@dataclass(frozen=True)
class Aggregation:
    """How one bound column aggregates: ``kind`` is one of :data:`AGGREGATIONS` or ``"ratio"``
    (then ``numerator`` and ``denominator`` name two columns of the same table)."""

    kind: str
    numerator: str | None = None
    denominator: str | None = None
    subtract: str | None = None
    scale: float | int = 1

    @property
    def columns(self) -> list[str]:
        """The columns a ratio reads (none for the other kinds, which read the bound column)."""
        return [c for c in (self.numerator, self.subtract, self.denominator) if c is not None]


@dataclass(frozen=True)
class Binding:
    """One ``columns:`` entry of a metric: ``layer.table.column`` and where it is written."""

    metric: str
    ref: str
    location: Location

    @property
    def table(self) -> str:
        return ".".join(self.ref.split(".")[:2])

    @property
    def column(self) -> str:
        return ".".join(self.ref.split(".")[2:])


def read_metrics_document(project: Project) -> YamlDocument | None:
    """``catalog/metrics.yml`` parsed with positions, or None when the project has none (raises
    :class:`~kcrm_gov.errors.ContractError` for a file that cannot be read as YAML)."""
    path = project.root / METRICS_FILE
    if not path.is_file():
        return None
    return read_yaml(path, METRICS_FILE)


def bound_columns(metric: dict[str, Any]) -> list[str]:
    """The ``columns:`` references of one metric entry (strings only; lint reports the rest)."""
    columns = metric.get("columns")
    return [c for c in columns if isinstance(c, str)] if isinstance(columns, list) else []


def aggregation_of(metric: dict[str, Any], ref: str) -> Aggregation | None:
    """The aggregation a metric declares for its bound column ``ref``, or None when it declares
    none usable (lint reports why: :func:`binding_problems`).

    ``aggregation:`` is one value for every bound column, or a mapping ``{marts.t.c: value}``; a
    value is a name of :data:`AGGREGATIONS` or ``{numerator: <column>, denominator: <column>}``.
    """
    declared = metric.get("aggregation")
    if _per_column(declared):
        declared = declared.get(ref)
    if isinstance(declared, str) and declared in AGGREGATIONS:
        return Aggregation(declared)
    if not isinstance(declared, dict) or not {"numerator", "denominator"} <= set(declared) <= RATIO_KEYS:
        return None
    names = [declared[k] for k in ("numerator", "denominator", "subtract") if k in declared]
    scale = declared.get("scale", 1)
    if not all(isinstance(n, str) for n in names) or isinstance(scale, bool) or not isinstance(scale, int | float):
        return None
    return Aggregation("ratio", declared["numerator"], declared["denominator"], declared.get("subtract"), scale)


def _per_column(declared: object) -> TypeGuard[dict[str, Any]]:
    """True when ``aggregation:`` is a mapping per bound column (not one ratio for all)."""
    return isinstance(declared, dict) and not (set(declared) & RATIO_KEYS)


def _aggregation_problem(project: Project, metric: dict[str, Any], ref: str) -> str | None:
    """Why the aggregation declared for the (valid) bound column ``ref`` is unusable, or None."""
    declared = metric.get("aggregation")
    if declared is None:
        return (f"column '{ref}': no aggregation: declare `aggregation:` ({', '.join(AGGREGATIONS)}, or "
                "{numerator: <column>, denominator: <column>} for a rate), or a mapping per bound column")
    aggregation = aggregation_of(metric, ref)
    if aggregation is None:
        return (f"column '{ref}': aggregation must be one of {', '.join(AGGREGATIONS)} or a ratio "
                "{numerator: <column>, denominator: <column>[, subtract: <column>][, scale: <number>]} (for "
                "every bound column, or a mapping per bound column)")
    if aggregation.kind == "ratio":
        contract = project.contracts.get(".".join(ref.split(".")[:2]))
        for part in aggregation.columns:
            if contract is not None and contract.column(str(part)) is None:
                return f"column '{ref}': the ratio's column '{part}' is not a column of {contract.qualified_name}"
    return None


def metrics_by_column(metrics: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """``{"marts.table.column": [metric key, ...]}``: which metrics each bound column holds."""
    out: dict[str, list[str]] = {}
    for key, metric in metrics.items():
        for ref in bound_columns(metric):
            if key not in out.setdefault(ref, []):
                out[ref].append(key)
    return out


def binding_problems(project: Project) -> Iterator[tuple[Location, str]]:
    """Every ``columns:`` entry of ``catalog/metrics.yml`` that does not name a column of a contracted
    marts table, with its location (a malformed file or entry is reported too, never raised)."""
    try:
        doc = read_metrics_document(project)
    except KcrmGovError as exc:
        yield exc.location or Location(METRICS_FILE, 1, 1), f"catalog/metrics.yml cannot be read: {exc.message}"
        return
    if doc is None:
        return
    metrics = doc.data.get("metrics") if isinstance(doc.data, dict) else None
    if not isinstance(metrics, dict):
        yield doc.location(), "catalog/metrics.yml must hold a `metrics:` mapping"
        return
    for key, metric in metrics.items():
        if not isinstance(metric, dict) or "columns" not in metric:
            continue  # a metric not bound yet is allowed; the catalog reports a malformed entry
        columns = metric["columns"]
        if not isinstance(columns, list):
            yield doc.location("metrics", key, "columns"), (
                f"metric '{key}': columns must be a list of {BOUND_LAYER}.<table>.<column> references")
            continue
        seen: set[str] = set()
        for i, ref in enumerate(columns):
            where = doc.location("metrics", key, "columns", i)
            problem = _reference_problem(project, ref)
            if problem:
                yield where, f"metric '{key}': {problem}"
            elif ref in seen:
                yield where, f"metric '{key}': column '{ref}' is listed twice"
            elif f"{BOUND_LAYER}.{str(ref).split('.')[1]}" not in project.unreadable:
                problem = _aggregation_problem(project, metric, str(ref))
                if problem:
                    yield (doc.location("metrics", key, "aggregation") if "aggregation" in metric else where,
                           f"metric '{key}': {problem}")
            seen.add(str(ref))
        declared = metric.get("aggregation")
        if _per_column(declared):
            for ref in declared:
                if ref not in columns:
                    yield doc.location("metrics", key, "aggregation", ref), (
                        f"metric '{key}': aggregation names '{ref}', which is not one of its columns")


def _reference_problem(project: Project, ref: object) -> str | None:
    """Why ``ref`` is not a bindable column reference, or None."""
    if not isinstance(ref, str) or ref.count(".") != 2:
        return f"{ref!r} is not a {BOUND_LAYER}.<table>.<column> reference"
    layer, table, column = ref.split(".")
    if layer != BOUND_LAYER:
        return (f"column '{ref}' is in layer '{layer}': metrics are bound to {BOUND_LAYER} columns (name "
                "other tables under sources:)")
    name = f"{layer}.{table}"
    if name in project.unreadable:
        return None  # that contract's own finding says what is wrong
    contract = project.contracts.get(name)
    if contract is None:
        return (f"column '{ref}': table {name} does not exist (no contracts/{layer}/{table}.odcs.yaml); a "
                "planned table may be named under sources:, a bound column must exist")
    if contract.column(column) is None:
        known = ", ".join(c.name for c in contract.columns)
        return f"column '{ref}': {name} has no column '{column}' (its columns: {known})"
    return None

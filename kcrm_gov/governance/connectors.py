"""Raw contracts against what their loader really lands.

``catalog/connectors/<source>.yml`` holds, per source, the column list of each table the loader
writes, taken from a cited source (Fivetran's dbt source packages' column macros, Fivetran's ERD,
Google's GA4 export schema). ``catalog/connectors/raw_contracts.yml`` says which connector table
each raw contract models and lists the columns known not to match it yet, each with the reason.

:func:`column_gaps` compares the two: a raw column that is in no connector list and not declared
a known gap is an invented or renamed column, and a declared gap that now matches is stale. Both
are findings, so the known-gap list can only shrink.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Location
from ..project import Project
from ..yamlsource import YamlDocument, read_yaml

CONNECTORS_DIR = Path("catalog") / "connectors"
MAPPING_FILE = CONNECTORS_DIR / "raw_contracts.yml"


@dataclass(frozen=True)
class ConnectorTable:
    """One table a loader lands, with the columns (dotted paths for nested fields) a cited source shows."""

    source: str
    name: str
    columns: frozenset[str]
    verified: bool
    """False for ``tables_unverified:`` (the table exists, its column list is only partly evidenced)."""


@dataclass(frozen=True)
class ColumnGap:
    """A raw contract column that does not match its connector table's column list."""

    contract: str
    column: str
    problem: str
    where: Location

    def __str__(self) -> str:
        return f"{self.where}: {self.contract}.{self.column}: {self.problem}"


def load_connector_tables(root: Path) -> dict[str, ConnectorTable]:
    """Every connector table as ``<source>.<table>``, from ``catalog/connectors/*.yml``."""
    tables: dict[str, ConnectorTable] = {}
    for path in sorted((root / CONNECTORS_DIR).glob("*.yml")):
        if path.name == MAPPING_FILE.name:
            continue
        doc = read_yaml(path, path.relative_to(root)).data
        source = str(doc["source"])
        for section, verified in (("tables", True), ("tables_unverified", False)):
            for name, table in (doc.get(section) or {}).items():
                columns = frozenset(str(c["name"]) for c in table.get("columns") or [])
                tables[f"{source}.{name}"] = ConnectorTable(source, str(name), columns, verified)
    return tables


def load_mapping(root: Path) -> YamlDocument:
    """``raw_contracts.yml``: per raw contract its connector ``table`` (or null and a ``reason``), ``known_gaps``."""
    return read_yaml(root / MAPPING_FILE, MAPPING_FILE)


def column_gaps(project: Project) -> list[ColumnGap]:
    """Every raw column missing from its connector table and not declared, and every stale declaration."""
    tables = load_connector_tables(project.root)
    doc = load_mapping(project.root)
    mapping: dict[str, Any] = dict(doc.data.get("contracts") or {})
    findings: list[ColumnGap] = []
    raw = {c.qualified_name: c for c in project.layer("raw")}
    for name in sorted(set(mapping) - set(raw)):
        findings.append(ColumnGap(name, "*", "mapped but there is no such raw contract",
                                  doc.location("contracts", name)))
    for name, contract in sorted(raw.items()):
        entry = mapping.get(name)
        if entry is None:
            findings.append(ColumnGap(name, "*", f"not mapped to a connector table in {MAPPING_FILE}",
                                      contract.location()))
            continue
        here = doc.location("contracts", name)
        target = entry.get("table")
        if target is None:  # no connector schema to compare with: the reason says why
            if not entry.get("reason"):
                findings.append(ColumnGap(name, "*", "mapped to no connector table without a reason", here))
            continue
        table = tables.get(str(target))
        if table is None:
            findings.append(ColumnGap(name, "*", f"connector table {target} is in no {CONNECTORS_DIR} file", here))
            continue
        known: dict[str, str] = dict(entry.get("known_gaps") or {})
        columns = {path: column for path, column in contract.all_columns()}
        for path, column in columns.items():
            where = contract.location(*column.yaml_path)
            if path in table.columns:
                if path in known:
                    findings.append(ColumnGap(name, path, f"declared a known gap but {target} has it (stale)",
                                              doc.location("contracts", name, "known_gaps", path)))
            elif path not in known:
                unverified = "" if table.verified else " (whose column list is unverified)"
                findings.append(ColumnGap(name, path, f"not a column of {target}{unverified}", where))
        for path in sorted(set(known) - set(columns)):
            findings.append(ColumnGap(name, path, "declared a known gap but the contract has no such column",
                                      doc.location("contracts", name, "known_gaps", path)))
    return findings

"""A tiny, self-contained kcrm-gov project for testing the build machinery in isolation.

raw.src__items  ->  stg.src__items  ->  core.items
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def contract_yaml(layer: str, table: str, columns: list[tuple[str, str, bool]], pk: list[str],
                  source: str | None = "src") -> str:
    """A governance-complete ODCS contract; columns are (name, BigQuery type, required)."""
    logical = {"INT64": "integer", "STRING": "string", "NUMERIC": "number", "TIMESTAMP": "timestamp",
               "DATE": "date", "BOOL": "boolean", "FLOAT64": "number"}
    props = []
    for name, bq_type, required in columns:
        lines = [f"      - name: {name}", f"        logicalType: {logical[bq_type]}",
                 f"        physicalType: {bq_type}", f"        description: The {name} column.",
                 "        classification: internal"]
        if required or name in pk:
            lines.append("        required: true")
        if name in pk:
            lines += ["        primaryKey: true", f"        primaryKeyPosition: {pk.index(name) + 1}"]
        props.append("\n".join(lines))
    custom = [f"  - property: layer\n    value: {layer}", "  - property: materialization\n    value: table"]
    if source:
        custom.append(f"  - property: source\n    value: {source}")
    sla = ""
    if layer == "raw":
        sla = ("slaProperties:\n  - property: freshness\n    value: 24\n    unit: h\n"
               f"    element: {table}._fivetran_synced\n")
    return contract_text(layer, table, "\n".join(props) + "\n", sla=sla, custom="\n".join(custom) + "\n",
                         purpose=f"Test table {table}.", description=f"Test table {table}.")


def contract_text(layer: str, table: str, properties: str, *, sla: str, custom: str, purpose: str,
                  description: str) -> str:
    """The ODCS envelope every test contract shares around its ``properties`` text."""
    return f"""apiVersion: v3.2.0
kind: DataContract
id: kcrm.{layer}.{table}
name: {layer}.{table}
version: 1.0.0
status: active
tenant: kcrm
domain: sales
description:
  purpose: {purpose}
  usage: Tests only.
  limitations: None.
team:
  name: revops
  members:
    - username: maria.chen
      role: data steward
schema:
  - name: {table}
    physicalName: {table}
    physicalType: table
    description: {description}
    properties:
{properties}{sla}customProperties:
{custom}"""


RAW_COLUMNS = [("id", "INT64", True), ("name", "STRING", False), ("amount", "NUMERIC", False),
               ("_fivetran_synced", "TIMESTAMP", True)]
STG_COLUMNS = [("item_id", "INT64", True), ("item_name", "STRING", False), ("amount", "NUMERIC", False)]
CORE_COLUMNS = [("item_id", "INT64", True), ("item_name", "STRING", True), ("amount_usd", "NUMERIC", False)]

STG_SQL = """SELECT
  CAST(id AS INT64) AS item_id,
  TRIM(name) AS item_name,
  amount
FROM raw.src__items
QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
"""
CORE_SQL = """SELECT item_id, COALESCE(item_name, 'unknown') AS item_name, amount AS amount_usd
FROM stg.src__items
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make(root: Path) -> Path:
    """Write the mini project into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "catalog", root / "catalog")
    write(root, "kcrm_gov.yml", "name: mini\ndefault_target: local\ntargets:\n  local:\n    type: duckdb\n"
          "    path: .kcrm/warehouse.duckdb\n    threads: 2\n")
    write(root, "contracts/raw/src__items.odcs.yaml", contract_yaml("raw", "src__items", RAW_COLUMNS,
                                                                    ["id", "_fivetran_synced"]))
    write(root, "contracts/stg/src__items.odcs.yaml", contract_yaml("stg", "src__items", STG_COLUMNS, ["item_id"]))
    write(root, "contracts/core/items.odcs.yaml", contract_yaml("core", "items", CORE_COLUMNS, ["item_id"],
                                                                source=None))
    write(root, "models/stg/src__items.sql", STG_SQL)
    write(root, "models/core/items.sql", CORE_SQL)
    # the mini project has its own source list, and none of K CRM's marts columns to bind metrics to
    write(root, "catalog/sources.yml", "sources:\n  src:\n    name: Test source\n")
    unbind_metrics(root)
    return root


def unbind_metrics(root: Path) -> None:
    """Drop the metrics' ``columns:`` bindings (and their ``aggregation:``) from a copied catalog/metrics.yml:
    a project without K CRM's marts tables has no columns to bind them to (lint KG020 would refuse them)."""
    import yaml

    metrics = root / "catalog/metrics.yml"
    doc = yaml.safe_load(metrics.read_text())
    for metric in doc["metrics"].values():
        metric.pop("columns", None)  # and how a BI tool aggregates them, which names the bound columns
        metric.pop("aggregation", None)
    metrics.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def load_raw(root: Path, rows: list[tuple]) -> None:
    """Put rows (id, name, amount, synced ISO text) into raw.src__items."""
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa

    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project
    from kcrm_gov.typemap import to_arrow

    project = Project.load(root)
    contract = project.contract("raw.src__items")
    schema = pa.schema([pa.field(c.name, to_arrow(c.data_type)) for c in contract.columns])
    data = pa.Table.from_pylist([
        {"id": i, "name": n, "amount": None if a is None else Decimal(str(a)),
         "_fivetran_synced": dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC)} for i, n, a, s in rows
    ], schema=schema)
    with open_engine(project) as engine:
        engine.write_arrow(contract, data)


ROWS = [
    (1, " Alpha ", 10.5, "2023-01-01T00:00:00"),
    (1, "Alpha", 11.25, "2023-01-02T00:00:00"),  # a re-sync: the later row wins
    (2, "Beta", None, "2023-01-01T00:00:00"),
    (3, None, 3, "2023-01-01T00:00:00"),
]

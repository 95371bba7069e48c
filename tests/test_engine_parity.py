"""The same slice of the DAG built on DuckDB and on BigQuery gives the same tables.

raw → stg → core for two sources (HubSpot: products and owners; QuickBooks: invoices and
payments), on seeded data: DuckDB (transpiled SQL) and the BigQuery engine (the real
google-cloud-bigquery client against the bqemulator server that `.ci/run` starts) must agree on
row counts and on a checksum of every column. Skipped without KCRM_GOV_BQ_ENDPOINT.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.bigquery

ENDPOINT = os.environ.get("KCRM_GOV_BQ_ENDPOINT")
if not ENDPOINT:
    pytest.skip("KCRM_GOV_BQ_ENDPOINT is not set (no BigQuery API emulator)", allow_module_level=True)

from conftest import copy_project  # noqa: E402

from kcrm_gov import typemap  # noqa: E402
from kcrm_gov.build import build  # noqa: E402
from kcrm_gov.config import Target  # noqa: E402
from kcrm_gov.dag import build_dag, select  # noqa: E402
from kcrm_gov.engines.bigquery import BigQueryEngine  # noqa: E402
from kcrm_gov.engines.duckdb import DuckDBEngine  # noqa: E402
from kcrm_gov.project import Project  # noqa: E402
from kcrm_gov.seed import seed  # noqa: E402

# reference__internal_domains: a reference table (a CSV built as UNNEST over typed STRUCTs)
SLICE = ["+core.products", "+core.users", "+core.invoices", "+core.payments", "stg.reference__internal_domains"]
T = typemap.T


def checksum_sql(engine, contract) -> str:
    """One row: the row count and, per column, a checksum both engines compute identically."""
    parts = ["COUNT(*) AS n"]
    for col in contract.columns:
        name, kind = col.name, col.data_type.this
        if kind in (T.BIGINT, T.INT, T.DECIMAL, T.BIGDECIMAL, T.DOUBLE, T.FLOAT):
            expr = f"ROUND(CAST(SUM({name}) AS FLOAT64), 2)"
        elif kind in (T.TEXT, T.VARCHAR):
            expr = f"SUM(LENGTH({name})) * 1000003 + COUNT(DISTINCT {name})"
        elif kind == T.BOOLEAN:
            expr = f"COUNTIF({name})"
        elif kind in (T.DATE, T.TIMESTAMP, T.TIMESTAMPTZ):
            expr = f"CAST(COUNT(DISTINCT {name}) AS STRING) || '|' || CAST(MIN({name}) AS STRING) || '|' || " \
                   f"CAST(MAX({name}) AS STRING)"
        else:  # arrays and structs: how many are present
            expr = f"COUNT({name})"
        parts.append(f"{expr} AS c_{name}")
    table = engine.table_sql(contract.layer, contract.table).sql(dialect="bigquery")
    return engine.prepare(f"SELECT {', '.join(parts)} FROM {table}")


def same(key: str, duck: dict, bq: dict, contract) -> bool:
    """Equal, except that the emulator stores NUMERIC with 3 decimals (.ci/BQEMULATOR.md, a gap of the
    emulator, not of BigQuery): a NUMERIC sum may differ by half a thousandth per row, and amounts
    converted with a 3-decimal exchange rate by 0.01 % of the total."""
    column = contract.column(key[2:]) if key.startswith("c_") else None
    if column is not None and column.data_type.this in (T.DECIMAL, T.BIGDECIMAL) and None not in (duck[key], bq[key]):
        return abs(duck[key] - bq[key]) <= max(duck["n"] * 0.0005 + 0.01, abs(duck[key]) * 1e-4)
    return str(duck[key]) == str(bq[key])


def test_slice_builds_identically_on_duckdb_and_bigquery(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    project = Project.load(root)
    dag = build_dag(project)
    tables = select(project, dag, SLICE)
    assert {"stg.hubspot__products", "stg.quickbooks__invoices", "core.invoices", "core.products"} <= set(tables)

    local = DuckDBEngine(project, Target(name="local", type="duckdb", path=root / ".kcrm" / "w.duckdb"))
    raw = [project.contracts[t] for t in tables if t.startswith("raw.")]
    seed(project, local, scale=0.2, seed=7, tables=[c.qualified_name for c in raw])
    duck_run = build(project, local, dag, tables, threads=1)
    assert duck_run.ok, [m.error for m in duck_run.models if m.error]

    prefix = f"kp{uuid.uuid4().hex[:8]}_"
    remote = BigQueryEngine(project, Target(name="emulator", type="bigquery", api_endpoint=ENDPOINT,
                                            project=os.environ.get("KCRM_GOV_BQ_PROJECT", "kcrm-test"),
                                            dataset_prefix=prefix))
    try:
        for contract in raw:  # the very same raw rows, loaded through the BigQuery client
            rows = local.query_arrow(f"SELECT * FROM {local.relation(contract.layer, contract.table)}")
            assert remote.write_arrow(contract, rows) == rows.num_rows
        bq_run = build(project, remote, dag, tables, threads=1)
        assert bq_run.ok, [m.error for m in bq_run.models if m.error]

        compared = 0
        for table in tables:
            contract = project.contracts[table]
            duck = local.query_arrow(checksum_sql(local, contract)).to_pylist()[0]
            bq = remote.query_arrow(checksum_sql(remote, contract)).to_pylist()[0]
            assert duck["n"] > 0, table
            differing = {k: (duck[k], bq[k]) for k in duck if not same(k, duck, bq, contract)}
            assert not differing, f"{table}: {differing}"
            compared += 1
        assert compared == len(tables)
    finally:
        for dataset in list(remote.client.list_datasets(retry=remote.retry, timeout=10)):
            if dataset.dataset_id.startswith(prefix):
                remote.client.delete_dataset(dataset.reference, delete_contents=True, not_found_ok=True,
                                             retry=remote.retry, timeout=10)
        remote.close()
        local.close()

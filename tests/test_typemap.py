"""The type mapping every generator uses: contract type -> BigQuery, DuckDB, Arrow."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from kcrm_gov import typemap
from kcrm_gov.project import Project

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("bigquery", "duckdb_type", "logical"),
    [
        ("INT64", "BIGINT", "integer"),
        ("STRING", "TEXT", "string"),
        ("BOOL", "BOOLEAN", "boolean"),
        ("FLOAT64", "DOUBLE", "number"),
        ("NUMERIC", "DECIMAL(38, 9)", "number"),
        ("NUMERIC(10, 2)", "DECIMAL(10, 2)", "number"),
        ("DATE", "DATE", "date"),
        ("TIMESTAMP", "TIMESTAMPTZ", "timestamp"),
        ("JSON", "JSON", "string"),
        ("ARRAY<STRUCT<key STRING, value NUMERIC>>", "STRUCT(key TEXT, value DECIMAL(38, 9))[]", "array"),
    ],
)
def test_type_renders_for_each_engine(bigquery: str, duckdb_type: str, logical: str) -> None:
    dt = typemap.parse_bigquery_type(bigquery)
    assert typemap.to_bigquery(dt) == bigquery
    assert typemap.to_duckdb(dt) == duckdb_type
    assert typemap.logical_type_of(dt) == logical


def test_numeric_keeps_bigquery_precision_in_duckdb() -> None:
    """BigQuery NUMERIC is DECIMAL(38, 9); DuckDB's default DECIMAL(18, 3) would round money."""
    dt = typemap.to_duckdb(typemap.parse_bigquery_type("NUMERIC"))
    value = duckdb.sql(f"SELECT CAST('12345678901234.123456789' AS {dt})").fetchone()[0]
    assert value == Decimal("12345678901234.123456789")


@pytest.mark.parametrize("text", ["STRING; DROP TABLE x", "INT64 NOT NULL", "STRING x", "INTEGR", "VARCHAR2(10)"])
def test_not_a_bigquery_type_is_refused(text: str) -> None:
    with pytest.raises(typemap.TypeError_):
        typemap.parse_bigquery_type(text)


def test_ga4_nested_type_walks_into_every_engine() -> None:
    contract = Project.load(REPO).contract("raw.ga4__events")
    params = contract.column("event_params")
    assert params.bigquery_type.startswith("ARRAY<STRUCT<key STRING, value STRUCT<string_value STRING")
    assert "event_params.value.int_value" in dict(contract.all_columns())
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t (p {params.duckdb_type})")
    con.execute("INSERT INTO t VALUES ([{'key': 'page_location', 'value': {'string_value': 'https://x', "
                "'int_value': NULL, 'float_value': NULL, 'double_value': NULL}}])")
    assert con.execute("SELECT p[1].value.string_value FROM t").fetchone()[0] == "https://x"
    arrow = typemap.to_arrow(params.data_type)
    assert str(arrow).startswith("list<item: struct<key: string, value: struct<string_value: string")

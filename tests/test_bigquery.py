"""The BigQuery engine against the bqemulator server (`.ci/run` starts it and sets
KCRM_GOV_BQ_ENDPOINT / KCRM_GOV_BQ_PROJECT). Without the endpoint the whole module is skipped.

Each run uses its own dataset prefix, so runs (and the lead's build tests) never collide on one
emulator. What the emulator cannot do is listed in .ci/BQEMULATOR.md; the tests assert the
engine's side of each gap (what it sends) where the emulator drops what it receives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.bigquery

ENDPOINT = os.environ.get("KCRM_GOV_BQ_ENDPOINT")
if not ENDPOINT:
    pytest.skip("KCRM_GOV_BQ_ENDPOINT is not set (no BigQuery API emulator)", allow_module_level=True)

import pyarrow as pa  # noqa: E402

from kcrm_gov import typemap  # noqa: E402
from kcrm_gov.config import Target  # noqa: E402
from kcrm_gov.contracts import Contract  # noqa: E402
from kcrm_gov.ddl import bigquery as bqddl  # noqa: E402
from kcrm_gov.engines import EngineError  # noqa: E402
from kcrm_gov.engines.bigquery import BigQueryEngine, schema_field_type  # noqa: E402
from kcrm_gov.policy_tags import column_policy_tags  # noqa: E402
from kcrm_gov.project import Project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GCP_PROJECT = os.environ.get("KCRM_GOV_BQ_PROJECT", "kcrm-test")
UNREACHABLE_BOUND_S = 8.0  # a correctness guarantee (the target's 3 s, not the default 120 s), not a benchmark
T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.load(REPO, strict=False)


@pytest.fixture(scope="module")
def engine(project: Project):
    prefix = f"kt{uuid.uuid4().hex[:8]}_"
    target = Target(name="emulator", type="bigquery", project=GCP_PROJECT, api_endpoint=ENDPOINT,
                    dataset_prefix=prefix)
    eng = BigQueryEngine(project, target)
    assert eng.emulator_compat
    yield eng
    for dataset in list(eng.client.list_datasets(retry=eng.retry, timeout=10)):
        if dataset.dataset_id.startswith(prefix):
            eng.client.delete_dataset(dataset.reference, delete_contents=True, not_found_ok=True,
                                      retry=eng.retry, timeout=10)
    eng.close()


class Spy:
    """Records the arguments of a client method while still calling it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> None:
        self.calls: list[tuple[tuple, dict]] = []
        real = getattr(obj, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((args, kwargs))
            return real(*args, **kwargs)

        monkeypatch.setattr(obj, name, wrapper)


def arrow(contract: Contract, rows: list[dict]) -> pa.Table:
    """Rows as an Arrow table in the contract's column order and types."""
    return pa.table({c.name: pa.array([r.get(c.name) for r in rows], typemap.to_arrow(c.data_type))
                     for c in contract.columns})


def derived(contract: Contract, layer: str, table: str, columns: list[str], **props: Any) -> Contract:
    """A model's contract made from a raw one: the same columns (a subset), another layer."""
    copy = dataclasses.replace(contract, layer=layer, table=table,
                               columns=[contract.column(n) for n in columns])
    copy.__dict__["properties"] = {**contract.properties, "layer": layer, **props}
    return copy


def deal_rows(n: int, *, start: int = 1) -> list[dict]:
    return [{"deal_id": i, "portal_id": 7, "is_deleted": i % 5 == 0, "owner_id": 100 + i % 3,
             "property_amount": Decimal(f"{i}.25"), "property_createdate": T0,
             "_fivetran_synced": T0 + dt.timedelta(hours=i), "_fivetran_deleted": False}
            for i in range(start, start + n)]


def ga4_rows() -> list[dict]:
    def params(session: int, page: str) -> list[dict]:
        return [{"key": "ga_session_id", "value": {"int_value": session}},
                {"key": "page_location", "value": {"string_value": page}}]

    return [{"event_date": "20240301", "event_timestamp": 1709294400000000 + i, "event_name": name,
             "event_params": params(1000 + i, f"https://www.kcrm.io/{name}"), "event_bundle_sequence_id": i,
             "user_pseudo_id": f"ga.{i % 2}", "user_properties": [],
             "device": {"category": "desktop", "web_info": {"browser": "Chrome", "hostname": "www.kcrm.io"}},
             "geo": {"country": "Germany"}, "stream_id": "s1", "platform": "WEB", "_loaded_at": T0}
            for i, name in enumerate(["page_view", "session_start", "form_submit"])]


def schema_paths(fields: list, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        out[f"{prefix}{f.name}"] = f
        out.update(schema_paths(list(f.fields), f"{prefix}{f.name}."))
    return out


# --- raw tables from contracts ------------------------------------------------------------------
def test_every_raw_table_is_created_from_its_contract(engine: BigQueryEngine, project: Project) -> None:
    raw = bqddl.creation_order(project.layer("raw"))
    for contract in raw:
        engine.create_table(contract, replace=True)
    assert set(engine.iter_tables("raw")) == {c.table for c in raw}
    for contract in raw:
        table = engine.client.get_table(engine._ref("raw", contract.table), retry=engine.retry, timeout=10)
        actual = schema_paths(table.schema)
        assert list(actual) == [p for p, _ in contract.all_columns()], contract.table
        for path, column in contract.all_columns():
            field = actual[path]
            if "." not in path:  # the type the emulator created is the contract's
                assert typemap.to_bigquery(typemap.parse_bigquery_type(schema_field_type(field))) == \
                    column.bigquery_type, path
                assert (field.mode == "REQUIRED") == column.required, path
            # column descriptions (dropped from DDL by the emulator) are restored through the API
            assert field.description == column.description.strip(), path
        assert table.labels == bqddl.table_labels(contract)
        assert table.description == " ".join(contract.description.split())
        assert table.clustering_fields == (contract.cluster_by or None)


def test_write_arrow_replace_and_append(engine: BigQueryEngine, project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    assert engine.write_arrow(deals, arrow(deals, deal_rows(10))) == 10
    assert engine.row_count(deals) == 10
    assert engine.write_arrow(deals, arrow(deals, deal_rows(5, start=11)), mode="append") == 5
    assert engine.row_count(deals) == 15
    assert engine.write_arrow(deals, arrow(deals, deal_rows(10)), mode="replace") == 10
    assert engine.row_count(deals) == 10
    got = engine.query_arrow(f"SELECT deal_id, property_amount, _fivetran_synced FROM "
                             f"{engine.relation('raw', 'hubspot__deals')} WHERE deal_id = 3")
    assert got.to_pylist() == [{"deal_id": 3, "property_amount": Decimal("3.25"),
                                "_fivetran_synced": T0 + dt.timedelta(hours=3)}]
    with pytest.raises(EngineError, match="does not fit its contract"):
        engine.write_arrow(deals, pa.table({"deal_id": [1]}), mode="append")
    with pytest.raises(EngineError, match=r"does not fit its contract.*non-nullable"):
        engine.write_arrow(deals, arrow(deals, [{**deal_rows(1)[0], "deal_id": None}]), mode="append")
    assert engine.row_count(deals) == 10


def test_ga4_nested_fields_load_query_and_policy_tags(engine: BigQueryEngine, project: Project,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ga4 = project.contract("raw.ga4__events")
    updates = Spy(monkeypatch, engine.client, "update_table")
    assert engine.write_arrow(ga4, arrow(ga4, ga4_rows())) == 3
    got = engine.query_arrow(
        f"SELECT e.event_name, p.value.int_value AS session, e.device.web_info.browser AS browser "
        f"FROM {engine.relation('raw', 'ga4__events')} AS e, UNNEST(e.event_params) AS p "
        "WHERE p.key = 'ga_session_id' ORDER BY session")
    assert got.to_pylist() == [{"event_name": n, "session": 1000 + i, "browser": "Chrome"}
                               for i, n in enumerate(["page_view", "session_start", "form_submit"])]

    # policy tags: what the engine sends, nested leaves included
    expected = column_policy_tags(ga4, engine.taxonomy)
    assert {"event_params.value.string_value", "user_properties.value.string_value",
            "collected_traffic_source.gclid", "user_id", "user_pseudo_id"} == set(expected)
    assert engine.apply_policy_tags(ga4) == expected
    table, fields = updates.calls[-1][0]
    assert "schema" in fields
    sent = schema_paths(table.schema)
    sent_tags = {p: list(f.policy_tags.names) for p, f in sent.items() if f.policy_tags and f.policy_tags.names}
    assert sent_tags == {p: [t] for p, t in expected.items()}
    # what the emulator keeps: nested descriptions yes; policy tags it drops (.ci/BQEMULATOR.md).
    # Real BigQuery returns them; either way a tag that comes back must be the one sent.
    stored = schema_paths(engine.client.get_table(engine._ref("raw", "ga4__events")).schema)
    assert stored["event_params.value.string_value"].description.startswith("Value when the parameter is text")
    for path, field in stored.items():
        if field.policy_tags and field.policy_tags.names:
            assert list(field.policy_tags.names) == [expected[path]]


def test_policy_tags_reach_the_table_after_create(engine: BigQueryEngine, project: Project,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    contacts = project.contract("raw.hubspot__contacts")
    updates = Spy(monkeypatch, engine.client, "update_table")
    engine.create_table(contacts, replace=True)
    table, _ = updates.calls[-1][0]
    sent = {p: list(f.policy_tags.names) for p, f in schema_paths(table.schema).items()
            if f.policy_tags and f.policy_tags.names}
    assert sent == {p: [t] for p, t in column_policy_tags(contacts, engine.taxonomy).items()}
    assert sent  # contacts hold personal data


# --- building a model ---------------------------------------------------------------------------
def test_model_round_trip(engine: BigQueryEngine, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    deals = project.contract("raw.hubspot__deals")
    engine.write_arrow(deals, arrow(deals, deal_rows(10)))
    model = derived(deals, "stg", "bqtest__deals", ["deal_id", "owner_id", "property_amount",
                                                     "property_createdate", "_fivetran_synced"])
    source = engine.table_sql("raw", "hubspot__deals").sql(dialect="bigquery")
    sql = engine.prepare(f"SELECT deal_id, owner_id, property_amount * 2 AS property_amount, "
                         f"property_createdate, _fivetran_synced FROM {source} WHERE NOT is_deleted")
    actual = engine.model_schema(sql)
    assert [c.name for c in actual] == [c.name for c in model.columns]
    for column in actual:
        assert column.data_type == model.column(column.name).data_type, column.name
        assert engine.type_text(column.data_type) == model.column(column.name).bigquery_type
    assert isinstance(engine.dry_run(sql), int)  # the emulator always says 0 bytes

    queries = Spy(monkeypatch, engine.client, "query")
    stats = engine.replace_table(model, sql)
    labels = [kw["job_config"].labels for _, kw in queries.calls]
    statements = [args[0] for args, _ in queries.calls]
    assert stats.rows_written == 8 and isinstance(stats.bytes_processed, int)
    assert engine.row_count(model) == 8
    assert labels and all(lab["kcrm_model"] == "stg__bqtest__deals" and lab["kcrm_layer"] == "stg"
                          for lab in labels)
    assert any(s.startswith("CREATE OR REPLACE TABLE `") and "__kcrm_build__bqtest__deals" in s
               for s in statements)
    assert not engine.table_exists("stg", "__kcrm_build__bqtest__deals")
    table = engine.client.get_table(engine._ref("stg", "bqtest__deals"))
    assert table.labels == bqddl.table_labels(model)
    assert table.schema[0].description == model.columns[0].description.strip()
    got = engine.query_arrow(f"SELECT property_amount FROM {engine.relation('stg', 'bqtest__deals')} "
                             "WHERE deal_id = 2")
    assert got.to_pylist() == [{"property_amount": Decimal("4.50")}]


def test_nested_model_schema_matches_the_contract(engine: BigQueryEngine, project: Project) -> None:
    ga4 = project.contract("raw.ga4__events")
    if not engine.table_exists("raw", "ga4__events"):
        engine.write_arrow(ga4, arrow(ga4, ga4_rows()))
    source = engine.table_sql("raw", "ga4__events").sql(dialect="bigquery")
    actual = engine.model_schema(f"SELECT event_name, event_params, user_properties, device FROM {source}")
    for column in actual:
        assert column.data_type == ga4.column(column.name).data_type, column.name


def test_failed_model_keeps_the_live_table(engine: BigQueryEngine, project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    model = derived(deals, "stg", "bqtest__kept", ["deal_id", "_fivetran_synced"])
    source = engine.relation("raw", "hubspot__deals")
    engine.replace_table(model, f"SELECT deal_id, _fivetran_synced FROM {source}")
    before = engine.row_count(model)
    with pytest.raises(EngineError, match=r"build stg\.bqtest__kept"):
        engine.replace_table(model, f"SELECT no_such_column AS deal_id, _fivetran_synced FROM {source}")
    # a NULL in a required column fails too (BigQuery's CTAS refuses it; on the emulator the engine checks)
    with pytest.raises(EngineError, match="deal_id"):
        engine.replace_table(model, f"SELECT CAST(NULL AS INT64) AS deal_id, _fivetran_synced FROM {source}")
    assert engine.row_count(model) == before
    assert not engine.table_exists("stg", "__kcrm_build__bqtest__kept")


def test_quality_checks_run_through_sodas_bigquery_data_source(engine: BigQueryEngine, project: Project) -> None:
    """`kcrm-gov test` on a BigQuery target: the generated BigQuery checks, Soda's BigQuery data
    source configured from the target, a planted duplicate key and orphan owner caught, the rest
    passing, failed-row samples kept with PII masked."""
    from kcrm_gov.checks.scan import MASK, run_tests

    deals, owners = project.contract("raw.hubspot__deals"), project.contract("raw.hubspot__owners")
    rows = deal_rows(10)
    rows.append(dict(rows[2]))  # deal 3 twice: a duplicate primary key
    engine.write_arrow(deals, arrow(deals, rows))
    # owners 100 and 101 only (101 twice): the deals of owner 102 (2, 5, 8) are orphans
    engine.write_arrow(owners, arrow(owners, [{"owner_id": o, "email": f"owner{o}@kcrm.io", "_fivetran_synced": T0,
                                              "_fivetran_deleted": False} for o in (100, 101, 101)]))
    for name in ("raw.hubspot__companies", "raw.hubspot__deal_pipeline_stages"):
        contract = project.contract(name)
        if not engine.table_exists(contract.layer, contract.table):
            engine.create_table(contract)

    run = run_tests(project, engine, ["raw.hubspot__deals", "raw.hubspot__owners", "stg.zendesk__users"],
                    now=T0 + dt.timedelta(hours=12))
    results = {t.table: t for t in run.tables}
    assert results["stg.zendesk__users"].outcome == "error"  # never loaded here: named, not scanned
    assert "does not exist" in results["stg.zendesk__users"].errors[0]
    deal_checks = {c.name: c for c in results["raw.hubspot__deals"].checks}
    failed = {name for name, c in deal_checks.items() if c.outcome != "pass"}
    assert failed == {"primary_key: deal_id", "reference: owner_id -> hubspot__owners.owner_id"}, \
        {n: (c.outcome, c.message) for n, c in deal_checks.items() if c.outcome != "pass"}
    assert deal_checks["row_count"].value == 11
    assert deal_checks["reference: owner_id -> hubspot__owners.owner_id"].value == 3
    assert deal_checks["schema"].outcome == "pass"  # BigQuery's own type names, read from its metadata
    orphans = deal_checks["reference: owner_id -> hubspot__owners.owner_id"]
    owner = orphans.sample_columns.index("owner_id")
    assert orphans.samples and {row[owner] for row in orphans.samples} == {102}
    owner_checks = {c.name: c for c in results["raw.hubspot__owners"].checks}
    assert {n for n, c in owner_checks.items() if c.outcome != "pass"} == {"primary_key: owner_id"}
    duplicates = owner_checks["primary_key: owner_id"]
    assert duplicates.samples, "failed rows are sampled"
    emails = [row[duplicates.sample_columns.index("email")] for row in duplicates.samples]
    assert emails and all(e == MASK for e in emails) and "owner101@kcrm.io" not in str(run.to_dict())
    # freshness against the run's clock: a day and a half later the deals breach their 24 h SLA
    late = run_tests(project, engine, ["raw.hubspot__deals"], now=T0 + dt.timedelta(hours=48))
    fresh = next(c for c in late.tables[0].checks if c.name.startswith("freshness"))
    assert fresh.outcome == "fail"


def test_ingestion_time_tables_are_not_built_from_queries(engine: BigQueryEngine, project: Project) -> None:
    ga4 = project.contract("raw.ga4__events")
    model = derived(ga4, "stg", "bqtest__ga4", ["event_name", "stream_id"])
    with pytest.raises(EngineError, match="ingestion-time"):
        engine.replace_table(model, f"SELECT event_name, stream_id FROM {engine.relation('raw', 'ga4__events')}")


def test_bad_sql_is_a_clear_error(engine: BigQueryEngine) -> None:
    with pytest.raises(EngineError, match="query"):
        engine.execute("SELEC 1")
    engine.execute("SELECT ? AS a, ? AS b", [1, "x"])
    assert engine.query_arrow("SELECT 1 AS one").to_pylist() == [{"one": 1}]
    assert engine.table_exists("nope", "nothing") is False
    with engine.transaction():
        pass


# --- failures that must come quickly ------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_fails_fast(project: Project) -> None:
    target = Target(name="dead", type="bigquery", project=GCP_PROJECT,
                    api_endpoint=f"http://127.0.0.1:{_closed_port()}", dataset_prefix="dead_",
                    api_deadline=3, api_timeout=3)  # the target's bounds (kcrm_gov.yml) are the ones used
    engine = BigQueryEngine(project, target)
    # the metadata API (tables.get) and the jobs API (jobs.insert): each gives up on its own
    for call in (lambda: engine.create_table(project.contract("raw.hubspot__owners")),
                 lambda: engine.query_arrow("SELECT 1")):
        start = time.monotonic()
        with pytest.raises(EngineError, match=r"cannot reach BigQuery at http://127\.0\.0\.1:"):
            call()
        assert time.monotonic() - start < UNREACHABLE_BOUND_S


def test_missing_credentials_are_a_clear_error(project: Project, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    target = Target(name="prod", type="bigquery", project="kcrm-analytics-prod", location="EU")
    with pytest.raises(EngineError, match="no Google credentials for target 'prod'"):
        BigQueryEngine(project, target)

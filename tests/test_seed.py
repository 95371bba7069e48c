"""The synthetic sources: volumes, determinism, cross-source alignment and the mess."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from kcrm_gov.cli import cli
from kcrm_gov.engines.duckdb import DuckDBEngine
from kcrm_gov.project import Project
from kcrm_gov.seed import SeedError, build_world, generate, generators, seed, seed_to_files
from kcrm_gov.seed.hubspot import company_plan

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.load(REPO)


@pytest.fixture(scope="module")
def warehouse(project: Project, tmp_path_factory: pytest.TempPathFactory):
    """Seed scale 1 once into a temporary DuckDB file; the tests query it."""
    path = tmp_path_factory.mktemp("seed") / "warehouse.duckdb"
    engine = DuckDBEngine(project, replace(project.config.target(), path=path))
    results = seed(project, engine, scale=1.0, seed=42)
    yield engine, results
    engine.close()


def q(engine: DuckDBEngine, sql: str) -> list[tuple]:
    return engine.con.execute(sql).fetchall()


def one(engine: DuckDBEngine, sql: str):
    return engine.con.execute(sql).fetchone()[0]


# normalised domain of a URL, a domain or an email address (the matching stg will do)
DOMAIN = ("regexp_replace(regexp_replace(lower(trim({0})), '^(https?://)?(www\\.)?|/+$', '', 'g'), "
          "'^.*@', '')")


# --- volumes ------------------------------------------------------------------------------------
VOLUMES = [
    # companies of distinct normalised domains: the seed's duplicate companies share their account's
    ("hubspot__companies", f"COUNT(DISTINCT {DOMAIN.format('property_domain')})", "", 2_000),
    ("hubspot__contacts", "COUNT(DISTINCT id)", "", 8_000),
    ("hubspot__leads", "COUNT(DISTINCT id)", "", 5_000),
    ("hubspot__deals", "COUNT(DISTINCT deal_id)", "", 5_000),
    ("hubspot__products", "COUNT(DISTINCT id)", "", 12),
    ("hubspot__owners", "COUNT(DISTINCT owner_id)", "", 120),
    ("mixpanel__events", "COUNT(DISTINCT _fivetran_id)", "WHERE name NOT IN ('Session Start', 'Feature Used')",
     150_000),
    ("mixpanel__events", "COUNT(DISTINCT _fivetran_id)", "WHERE name = 'Session Start'", 100_000),
    ("mixpanel__events", "COUNT(DISTINCT _fivetran_id)", "WHERE name = 'Feature Used'", 50_000),
    # 30,000 marketing touches are GA4 sessions (user_pseudo_id + ga_session_id), of several events each
    ("ga4__events", "COUNT(DISTINCT user_pseudo_id || '.' || CAST(list_filter(event_params, "
     "p -> p.key = 'ga_session_id')[1].value.int_value AS VARCHAR))", "", 30_000),
    ("zendesk__tickets", "COUNT(DISTINCT id)", "", 20_000),
    ("zendesk__nps_responses", "COUNT(DISTINCT id)", "", 2_500),
    ("cs__churn_events", "COUNT(DISTINCT churn_event_id)", "", 300),
]


@pytest.mark.parametrize(("table", "measure", "where", "expected"), VOLUMES,
                         ids=[f"{v[0]}-{v[3]}" for v in VOLUMES])
def test_volumes_at_scale_1(warehouse, table: str, measure: str, where: str, expected: int) -> None:
    engine, _ = warehouse
    assert one(engine, f"SELECT {measure} FROM raw.{table} {where}") == expected


def test_billing_events_are_invoices_plus_payments(warehouse) -> None:
    engine, _ = warehouse
    invoices = one(engine, "SELECT COUNT(DISTINCT id) FROM raw.quickbooks__invoices")
    payments = one(engine, "SELECT COUNT(DISTINCT id) FROM raw.quickbooks__payments")
    assert invoices + payments == 24_000
    assert 9_000 < invoices < 15_000


def test_every_raw_contract_is_seeded_with_its_exact_columns(project: Project, warehouse) -> None:
    engine, results = warehouse
    assert {r.table for r in results} == {c.qualified_name for c in project.layer("raw")}
    assert not [r for r in results if r.skipped]
    for contract in project.layer("raw"):
        columns = engine.columns("raw", contract.table)
        assert [c[0] for c in columns] == [c.name for c in contract.columns], contract.table
        assert one(engine, f"SELECT COUNT(*) FROM raw.{contract.table}") > 0
        for name, _, nullable in columns:
            assert nullable is not contract.column(name).required, f"{contract.table}.{name}"


def test_primary_keys_hold(project: Project, warehouse) -> None:
    engine, _ = warehouse
    for contract in project.layer("raw"):
        key = ", ".join(contract.primary_key)
        dupes = one(engine, f"SELECT COUNT(*) FROM (SELECT {key} FROM raw.{contract.table} GROUP BY ALL "
                            f"HAVING COUNT(*) > 1)")
        assert dupes == 0, contract.table


def test_scale_multiplies_row_bearing_tables_only(project: Project) -> None:
    world = build_world(7, 0.1)
    counts = {}
    for name in ("hubspot__companies", "hubspot__products", "hubspot__owners", "mixpanel__events",
                 "zendesk__nps_responses"):
        tables = list(generate(project.contract(f"raw.{name}"), world))
        key = project.contract(f"raw.{name}").primary_key[0]
        counts[name] = len(set(pa.concat_tables(tables).column(key).to_pylist()))
    counts["hubspot__companies"] -= len(company_plan(world)["dup_id"])  # the planted duplicates
    assert counts == {"hubspot__companies": 200, "hubspot__products": 12, "hubspot__owners": 120,
                      "mixpanel__events": 30_000, "zendesk__nps_responses": 250}


# --- determinism ------------------------------------------------------------------------------
def checksums(project: Project, seed_value: int, scale: float) -> dict[str, str]:
    world = build_world(seed_value, scale)
    out = {}
    for contract in project.layer("raw"):
        digest = hashlib.sha256()
        for chunk in generate(contract, world):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, chunk.schema) as writer:
                writer.write_table(chunk)
            digest.update(sink.getvalue().to_pybytes())
        out[contract.table] = digest.hexdigest()
    return out


def test_same_seed_gives_identical_data_and_another_seed_does_not(project: Project) -> None:
    first = checksums(project, 42, 0.5)
    assert checksums(project, 42, 0.5) == first
    other = checksums(project, 43, 0.5)
    differ = {t for t in first if first[t] != other[t]}
    # products and pipeline stages are the catalogue, not drawn at random (except their sync times)
    assert len(differ) >= len(first) - 2


def test_seeded_warehouse_matches_in_memory_generation(project: Project, warehouse) -> None:
    engine, _ = warehouse
    contract = project.contract("raw.zendesk__tickets")
    expected = pa.concat_tables(list(generate(contract, build_world(42, 1.0))))
    got = engine.con.execute("SELECT * FROM raw.zendesk__tickets").to_arrow_table()
    assert got.cast(expected.schema).equals(expected)


@pytest.mark.parametrize(("table", "module", "knob", "size"), [
    ("ga4__events", "ga4", "CHUNK_ROWS", 997),
    ("zendesk__ticket_field_history", "zendesk", "HISTORY_TICKETS", 97),
])
def test_streamed_seed_equals_in_memory_generation(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   table: str, module: str, knob: str, size: int) -> None:
    """A big table written in many small chunks (as a big scale streams it) holds the same values, in
    the same order, as the table generated whole in memory: the chunk size changes no value."""
    import importlib

    contract = project.contract(f"raw.{table}")
    whole = list(generate(contract, build_world(42, 0.1)))
    assert len(whole) == 1
    monkeypatch.setattr(importlib.import_module(f"kcrm_gov.seed.{module}"), knob, size)
    monkeypatch.setattr("kcrm_gov.engines.duckdb.SEED_COMMIT_BYTES", 1)  # and one commit per chunk
    streamed = list(generate(contract, build_world(42, 0.1)))
    assert len(streamed) > 10
    assert pa.concat_tables(streamed).equals(whole[0])
    engine = DuckDBEngine(project, replace(project.config.target(), path=tmp_path / "warehouse.duckdb"))
    try:
        [result] = seed(project, engine, scale=0.1, seed=42, tables=[table])
        got = engine.con.execute(f"SELECT * FROM raw.{table}").to_arrow_table()
    finally:
        engine.close()
    assert result.rows == whole[0].num_rows
    assert got.cast(whole[0].schema).equals(whole[0])


@pytest.mark.parametrize("commit_bytes", [None, 1], ids=["one transaction", "committed chunk by chunk"])
def test_a_generator_failing_mid_table_leaves_the_previous_table(project: Project, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 commit_bytes: int | None) -> None:
    """The error of the generator thread is raised in the writer, the half-written table is dropped (the
    live one is untouched), whether its chunks were committed to the staging table or not, and the
    generator thread is gone."""
    import threading

    from kcrm_gov.seed import hubspot

    if commit_bytes:
        monkeypatch.setattr("kcrm_gov.engines.duckdb.SEED_COMMIT_BYTES", commit_bytes)
    engine = DuckDBEngine(project, replace(project.config.target(), path=tmp_path / "warehouse.duckdb"))
    try:
        seed(project, engine, scale=0.1, seed=42, tables=["hubspot__owners"])
        real = hubspot.TABLES["hubspot__owners"]

        def broken(w, rng, shape):  # two good chunks, then the generator fails
            yield real(w, rng, shape).slice(0, 10)
            yield real(w, rng, shape).slice(10, 10)
            raise SeedError("generator broke mid-table")

        monkeypatch.setitem(hubspot.TABLES, "hubspot__owners", broken)
        with pytest.raises(SeedError, match="broke mid-table"):
            seed(project, engine, scale=0.1, seed=42, tables=["hubspot__owners", "hubspot__products"])
        assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__owners") == 120
        # the chunk that was written went to a staging table, which is gone
        assert one(engine, "SELECT COUNT(*) FROM information_schema.tables "
                           "WHERE starts_with(table_name, '__kcrm_seed__')") == 0
        assert not [t for t in threading.enumerate() if t.name == "kcrm-gov-seed-generate"]
    finally:
        engine.close()


# --- one company, five systems ----------------------------------------------------------------
def test_every_paid_quickbooks_customer_maps_to_one_hubspot_company(warehouse) -> None:
    engine, _ = warehouse
    rows = q(engine, f"""
        WITH paid AS (SELECT DISTINCT customer_id FROM raw.quickbooks__payments),
        customers AS (SELECT id, coalesce({DOMAIN.format('website')}, {DOMAIN.format('email')}) AS domain,
                             {DOMAIN.format('email')} AS email_domain
                      FROM raw.quickbooks__customers WHERE id IN (SELECT customer_id FROM paid)
                      QUALIFY row_number() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1),
        companies AS (SELECT DISTINCT {DOMAIN.format('property_domain')} AS domain
                      FROM raw.hubspot__companies WHERE NOT is_deleted AND NOT _fivetran_deleted)
        -- one company domain (duplicates share it): the customer's, else its billing email's (a rebrand)
        SELECT c.id, COUNT(DISTINCT coalesce(h.domain, e.domain)) FROM customers c
        LEFT JOIN companies h ON h.domain = c.domain LEFT JOIN companies e ON e.domain = c.email_domain
        GROUP BY c.id""")
    assert len(rows) > 800
    assert {n for _, n in rows} == {1}


def test_product_users_are_hubspot_contacts_by_email(warehouse) -> None:
    engine, _ = warehouse
    emails = "(SELECT lower(trim(property_email)) FROM raw.hubspot__contacts)"
    unknown = one(engine, f"""SELECT COUNT(DISTINCT distinct_id) FROM raw.mixpanel__events
                             WHERE distinct_id NOT LIKE '$device:%' AND distinct_id NOT IN {emails}""")
    assert unknown == 0
    assert one(engine, "SELECT COUNT(DISTINCT distinct_id) FROM raw.mixpanel__events") > 2_000
    assert one(engine, f"SELECT COUNT(*) FROM raw.ga4__events WHERE user_id NOT IN {emails}") == 0
    assert one(engine, "SELECT COUNT(DISTINCT user_id) FROM raw.ga4__events") > 500
    # a GA4 user id is a Mixpanel distinct id: the same person in both systems
    assert one(engine, """SELECT COUNT(DISTINCT user_id) FROM raw.ga4__events WHERE user_id IN
                          (SELECT distinct_id FROM raw.mixpanel__events)""") > 300


def test_churned_accounts_stop_logging_in_and_paying(warehouse) -> None:
    engine, _ = warehouse
    churned = f"""SELECT {DOMAIN.format('company_domain')} AS domain, min(churned_at) AS churned_at
                  FROM raw.cs__churn_events WHERE churn_type = 'full' GROUP BY 1"""
    assert one(engine, f"SELECT COUNT(*) FROM ({churned})") > 150
    late_events = one(engine, f"""
        SELECT COUNT(*) FROM raw.mixpanel__events e JOIN ({churned}) c
          ON e.distinct_id LIKE '%@' || c.domain WHERE e.time > c.churned_at""")
    logins_before = one(engine, f"""
        SELECT COUNT(*) FROM raw.mixpanel__events e JOIN ({churned}) c
          ON e.distinct_id LIKE '%@' || c.domain WHERE e.time <= c.churned_at""")
    assert late_events == 0
    assert logins_before > 1_000
    # invoices after a churn only for a win-back: a won "Win-back" deal, billed from its close date
    winbacks = f"""SELECT {DOMAIN.format('c.property_domain')} AS domain, min(d.property_closedate) AS back_at
                  FROM raw.hubspot__deals d
                  JOIN raw.hubspot__deal_companies dc ON dc.deal_id = d.deal_id
                  JOIN raw.hubspot__companies c ON c.id = dc.company_id
                  WHERE d.property_dealname LIKE '% - Win-back' AND d.property_hs_is_closed_won GROUP BY 1"""
    late_invoices, won_back = engine.con.execute(f"""
        SELECT COUNT(*) FILTER (WHERE w.domain IS NULL OR i.transaction_date < CAST(w.back_at AS DATE)),
               COUNT(DISTINCT w.domain)
        FROM raw.quickbooks__invoices i
        JOIN raw.quickbooks__customers k ON k.id = i.customer_id
        JOIN ({churned}) c ON coalesce({DOMAIN.format('k.website')}, {DOMAIN.format('k.email')})
                              = c.domain
        LEFT JOIN ({winbacks}) w ON w.domain = c.domain
        WHERE i.transaction_date > CAST(c.churned_at AS DATE) AND NOT i._fivetran_deleted""").fetchone()
    assert late_invoices == 0
    assert won_back > 0


def test_won_deals_close_into_invoices(warehouse) -> None:
    engine, _ = warehouse
    won, invoiced = engine.con.execute(f"""
        WITH won AS (SELECT DISTINCT d.deal_id, CAST(d.property_closedate AS DATE) AS closed,
                            {DOMAIN.format('h.property_domain')} AS domain
                     FROM raw.hubspot__deals d
                     JOIN raw.hubspot__deal_companies dc ON dc.deal_id = d.deal_id AND dc.type_id = 5
                     JOIN raw.hubspot__companies h ON h.id = dc.company_id
                     WHERE d.property_hs_is_closed_won AND d.property_dealtype = 'newbusiness'
                       AND d.property_closedate >= TIMESTAMP '2022-01-01'),
        inv AS (SELECT i.transaction_date, coalesce({DOMAIN.format('k.website')},
                       {DOMAIN.format('k.email')}) AS domain, {DOMAIN.format('k.email')} AS email_domain
                FROM raw.quickbooks__invoices i JOIN raw.quickbooks__customers k ON k.id = i.customer_id)
        -- billed on the company's domain, or (a rebrand, a subsidiary billed under its parent's
        -- domain) with a billing email at it
        SELECT COUNT(DISTINCT deal_id),
               COUNT(DISTINCT deal_id) FILTER (WHERE EXISTS (
                   SELECT 1 FROM inv WHERE won.domain IN (inv.domain, inv.email_domain)
                                       AND inv.transaction_date = won.closed))
        FROM won""").fetchone()
    assert won > 500
    assert invoiced == won


# --- the mess -----------------------------------------------------------------------------------
def test_the_loaders_grain_and_soft_deletes_are_present(project: Project, warehouse) -> None:
    """Fivetran's default soft-delete mode: one row per record (the connector's key holds, without
    ``_fivetran_synced``), some records rewritten after their first sync, deleted rows kept."""
    engine, _ = warehouse
    fivetran = [c for c in project.layer("raw") if "_fivetran_synced" in [col.name for col in c.columns]]
    assert len(fivetran) > 25
    for contract in fivetran:
        history_mode = "_fivetran_start" in contract.primary_key
        assert "_fivetran_synced" not in contract.primary_key, contract.table
        key = ", ".join(contract.primary_key)
        rows, distinct = engine.con.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT ({key})) FROM raw.{contract.table}").fetchone()
        assert rows == distinct, f"{contract.table}: {rows - distinct} rows repeat a record"
        if history_mode:  # several rows per record, one of them active
            assert one(engine, f"SELECT COUNT(*) FROM raw.{contract.table} WHERE _fivetran_active") > 0
    # records changed after their first sync: synced well after they were last created
    assert one(engine, """SELECT COUNT(*) FROM raw.hubspot__contacts
                          WHERE _fivetran_synced > property_createdate + INTERVAL 2 DAY""") > 50
    assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__contacts WHERE _fivetran_deleted") > 20
    assert one(engine, "SELECT COUNT(*) FROM raw.zendesk__ticket_tags WHERE _fivetran_deleted") > 100
    assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__companies WHERE is_deleted") > 5
    assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__deals WHERE is_deleted") > 5


def test_messy_emails_and_domains_are_present(warehouse) -> None:
    engine, _ = warehouse
    assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__contacts WHERE property_email <> trim(property_email)") > 50
    assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__contacts WHERE property_email <> lower(property_email)") > 200
    assert one(engine, "SELECT COUNT(*) FROM raw.quickbooks__customers WHERE website LIKE 'http%'") > 100
    assert one(engine, "SELECT COUNT(*) FROM raw.cs__churn_events WHERE company_domain LIKE 'www.%'") > 10


def test_null_amounts_currencies_and_test_accounts_are_present(warehouse) -> None:
    engine, _ = warehouse
    assert one(engine, "SELECT COUNT(*) FROM raw.quickbooks__payments WHERE total_amount IS NULL") > 20
    assert one(engine, "SELECT COUNT(*) FROM raw.hubspot__deals WHERE property_amount IS NULL") > 20
    assert {r[0] for r in q(engine, "SELECT DISTINCT currency_id FROM raw.quickbooks__invoices")} == {
        "USD", "EUR", "GBP"}
    assert one(engine, "SELECT COUNT(*) FROM raw.quickbooks__invoices WHERE currency_id = 'USD' "
                       "AND exchange_rate <> 1") == 0
    tests = {r[0] for r in q(engine, "SELECT DISTINCT property_domain FROM raw.hubspot__companies "
                                     "WHERE property_domain LIKE '%kcrm.io'")}
    assert "kcrm.io" in tests and len(tests) >= 3
    assert one(engine, "SELECT COUNT(*) FROM raw.mixpanel__events WHERE distinct_id LIKE '%kcrm.io'") > 0
    assert one(engine, "SELECT COUNT(*) FROM raw.quickbooks__customers WHERE website LIKE '%kcrm.io%'") == 0


def test_ga4_days_arrive_up_to_three_days_late(warehouse) -> None:
    engine, _ = warehouse
    lag_min, lag_max, late = engine.con.execute("""
        SELECT min(_loaded_at - (strptime(event_date, '%Y%m%d') + INTERVAL 1 DAY)),
               max(_loaded_at - (strptime(event_date, '%Y%m%d') + INTERVAL 1 DAY)),
               COUNT(*) FILTER (WHERE _loaded_at > strptime(event_date, '%Y%m%d') + INTERVAL 2 DAY)
        FROM raw.ga4__events""").fetchone()
    assert lag_min.total_seconds() > 0
    assert lag_max.total_seconds() <= 3 * 86_400
    assert late > 100


def test_mixpanel_properties_is_json_text(warehouse) -> None:
    engine, _ = warehouse
    assert one(engine, "SELECT COUNT(*) FROM raw.mixpanel__events WHERE NOT json_valid(properties)") == 0
    sample = one(engine, "SELECT properties FROM raw.mixpanel__events WHERE name = 'Feature Used' LIMIT 1")
    props = json.loads(sample)
    assert {"$insert_id", "$device_id", "feature", "plan"} <= set(props)
    assert one(engine, """SELECT COUNT(*) FROM raw.mixpanel__events
                          WHERE json_extract_string(properties, '$."$insert_id"') <> insert_id""") == 0


def test_nested_ga4_records(warehouse) -> None:
    engine, _ = warehouse
    keys = {r[0] for r in q(engine, "SELECT DISTINCT unnest(event_params).key FROM raw.ga4__events")}
    assert {"page_location", "ga_session_id", "engagement_time_msec", "form_id", "value"} <= keys
    assert one(engine, "SELECT COUNT(*) FROM raw.ga4__events WHERE user_id IS NOT NULL "
                       "AND len(user_properties) = 0") == 0
    assert one(engine, "SELECT COUNT(*) FROM raw.ga4__events WHERE collected_traffic_source IS NOT NULL") > 1_000


# --- files and the CLI --------------------------------------------------------------------------
def test_seed_to_files_writes_one_file_per_table(project: Project, tmp_path: Path) -> None:
    results = seed_to_files(project, tmp_path, "jsonl", scale=0.02, seed=1,
                            tables=["hubspot__owners", "ga4__events"])
    assert [Path(r.path).name for r in results] == ["ga4__events.jsonl", "hubspot__owners.jsonl"]
    lines = Path(results[0].path).read_text().splitlines()
    assert len(lines) == results[0].rows > 3 * 600  # 600 GA4 sessions of several events each
    assert isinstance(json.loads(lines[0])["event_params"], list)


def test_csv_writes_nested_columns_as_json_text(project: Project, tmp_path: Path) -> None:
    import csv

    (result,) = seed_to_files(project, tmp_path, "csv", scale=0.01, tables=["ga4__events"])
    with open(result.path, newline="") as f:
        row = next(csv.DictReader(f))
    assert json.loads(row["device"])["category"] in ("desktop", "mobile", "tablet")


def test_bad_arguments_are_clear_errors(project: Project, tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="scale"):
        seed_to_files(project, tmp_path, "parquet", scale=0)
    with pytest.raises(SeedError, match="format"):
        seed_to_files(project, tmp_path, "xlsx")
    with pytest.raises(SeedError, match="no raw contract"):
        seed_to_files(project, tmp_path, "parquet", tables=["nope"])
    assert set(generators()) == {c.table for c in project.layer("raw")}


def test_cli_seed(project_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--project-dir", str(project_dir), "seed", "--scale", "0.01", "--table",
                                 "hubspot__owners", "--table", "zendesk__tickets", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {t["table"]: t["rows"] > 0 for t in data["tables"]} == {"raw.hubspot__owners": True,
                                                                  "raw.zendesk__tickets": True}
    assert (project_dir / ".kcrm" / "warehouse.duckdb").exists()
    result = runner.invoke(cli, ["--project-dir", str(project_dir), "seed", "--scale", "0.01", "--out",
                                 str(project_dir / "export"), "--format", "csv", "--table", "cs__churn_events"])
    assert result.exit_code == 0, result.output
    assert "raw.cs__churn_events" in result.stdout
    assert (project_dir / "export" / "cs__churn_events.csv").exists()
    result = runner.invoke(cli, ["--project-dir", str(project_dir), "seed", "--scale", "-1"])
    assert result.exit_code == 2
    assert "scale" in result.stderr


@pytest.mark.parametrize(("own", "expected"), [(None, "953.6 MiB"), ("2GB", "1.8 GiB")])
def test_the_seed_caps_duckdbs_memory_unless_the_target_sets_it(project: Project, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, own: str | None,
                                                                 expected: str) -> None:
    """`kcrm-gov seed` opens the warehouse with SEED_MEMORY_LIMIT (it only appends: a bigger buffer pool
    would only cache written blocks), and a memory_limit the target sets wins."""
    from kcrm_gov.engines import open_engine
    from kcrm_gov.seed import SEED_MEMORY_LIMIT

    monkeypatch.setenv("KCRM_GOV_LOCAL__PATH", str(tmp_path / "warehouse.duckdb"))
    if own:
        monkeypatch.setenv("KCRM_GOV_LOCAL__MEMORY_LIMIT", own)
    with open_engine(Project.load(project.root), "local", building=True, memory_limit=SEED_MEMORY_LIMIT) as engine:
        assert one(engine, "SELECT current_setting('memory_limit')") == expected

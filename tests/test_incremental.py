"""Incremental models (issue 18, item 2): an incremental build equals a full build of the same data.

A mini project of its own (raw.src__events -> stg.src__events -> core.src__daily) on the tiny
machinery of ``miniproject``: the stg model is incremental on the loader's clock (``_fivetran_synced``,
lookback 3 days, source key ``id``), the daily aggregate on event time (``event_date``, lookback 2
days). Each test builds in full once, changes the raw data, builds incrementally and compares every
row with a ``--full-refresh`` build of a copy of the same warehouse.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import miniproject
import pytest
from click.testing import CliRunner
from conftest import query_rows, run_cli

from kcrm_gov.cli import cli

NOW = "2023-01-10T06:00:00Z"
RAW_COLUMNS = [("id", "INT64", True), ("name", "STRING", False), ("event_at", "TIMESTAMP", True),
               ("_fivetran_deleted", "BOOL", True), ("_fivetran_synced", "TIMESTAMP", True)]
STG_COLUMNS = [("event_id", "INT64", True), ("event_name", "STRING", False), ("event_at", "TIMESTAMP", True),
               ("event_date", "DATE", True), ("synced_at", "TIMESTAMP", True)]
DAILY_COLUMNS = [("activity_date", "DATE", True), ("events", "INT64", True), ("named_events", "INT64", True)]
STG_SQL = """WITH latest AS (
  SELECT *
  FROM raw.src__events
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
)
SELECT id AS event_id, TRIM(name) AS event_name, event_at, DATE(event_at) AS event_date,
  _fivetran_synced AS synced_at
FROM latest
WHERE NOT _fivetran_deleted
"""
DAILY_SQL = """SELECT event_date AS activity_date, COUNT(*) AS events,
  CAST(COUNTIF(event_name IS NOT NULL) AS INT64) AS named_events
FROM stg.src__events
GROUP BY event_date
"""
STG_INCREMENTAL = """  - property: incremental
    value:
      timeColumn: synced_at
      lookback: {value: 3, unit: days}
      sources:
        - {table: raw.src__events, timeColumn: _fivetran_synced, key: [id]}
"""
DAILY_INCREMENTAL = """  - property: incremental
    value:
      timeColumn: activity_date
      lookback: {value: 2, unit: days}
      sources:
        - {table: stg.src__events, timeColumn: event_date}
"""


def make(root: Path) -> Path:
    """The mini project plus the incremental tables."""
    miniproject.make(root)
    contract = miniproject.contract_yaml
    miniproject.write(root, "contracts/raw/src__events.odcs.yaml",
                      contract("raw", "src__events", RAW_COLUMNS, ["id", "_fivetran_synced"]))
    miniproject.write(root, "contracts/stg/src__events.odcs.yaml",
                      contract("stg", "src__events", STG_COLUMNS, ["event_id"]) + STG_INCREMENTAL)
    miniproject.write(root, "contracts/core/src__daily.odcs.yaml",
                      contract("core", "src__daily", DAILY_COLUMNS, ["activity_date"]) + DAILY_INCREMENTAL)
    miniproject.write(root, "models/stg/src__events.sql", STG_SQL)
    miniproject.write(root, "models/core/src__daily.sql", DAILY_SQL)
    return root


def raw_rows(contract: Any, rows: list[tuple[int, str | None, str, bool, str]]) -> Any:
    """Rows ``(id, name, event_at, deleted, synced_at)`` (ISO times, UTC) as an Arrow table of raw.src__events."""
    import pyarrow as pa

    from kcrm_gov.typemap import to_arrow

    schema = pa.schema([pa.field(c.name, to_arrow(c.data_type)) for c in contract.columns])

    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    return pa.Table.from_pylist([{"id": i, "name": n, "event_at": at(e), "_fivetran_deleted": d,
                                  "_fivetran_synced": at(s)} for i, n, e, d, s in rows], schema=schema)


def load(root: Path, rows: list[tuple[int, str | None, str, bool, str]]) -> None:
    """Append rows ``(id, name, event_at, deleted, synced_at)`` (ISO times, UTC) to raw.src__events."""
    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project

    project = Project.load(root)
    contract = project.contract("raw.src__events")
    with open_engine(project) as engine:
        engine.write_arrow(contract, raw_rows(contract, rows), mode="append")


def history() -> list[tuple[int, str | None, str, bool, str]]:
    """Eight days of three events each, each loaded ten hours after it happened."""
    rows = []
    for day in range(1, 9):
        for n in range(3):
            event = f"2023-01-0{day}T{10 + n}:00:00"
            rows.append((day * 10 + n, f" e{day}-{n} " if n else None, event, False, event.replace("T1", "T2")))
    return rows


def snapshot(root: Path, table: str) -> list[tuple[Any, ...]]:
    return query_rows(root, f"SELECT * FROM {table} ORDER BY ALL")


def checksum(root: Path, table: str) -> str:
    """A digest of the bag of ``table``'s rows (count, and the sum of each whole row's hash): equal tables,
    equal checksums; a changed, missing or repeated row changes it."""
    return str(query_rows(root, f"SELECT count(*), sum(hash(t)) FROM {table} AS t")[0])


def full_build_of(root: Path, dest: Path) -> Path:
    """A copy of the project and its warehouse, rebuilt with --full-refresh."""
    shutil.copytree(root, dest)
    run_cli(dest, "build", "--full-refresh", now=NOW)
    return dest


def incremental_rows(root: Path, table: str) -> int | None:
    """Rows the last build wrote for ``table`` (the window's rows for an incremental build)."""
    import json

    results = json.loads((root / ".kcrm/build_results.json").read_text())
    return next(m["rows_written"] for m in results["models"] if m["table"] == table)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make(tmp_path / "p")
    load(root, history())
    miniproject.load_raw(root, miniproject.ROWS)
    run_cli(root, "build", now=NOW)
    return root


def test_incremental_equals_full_after_appends_late_rows_and_deletes(project: Path, tmp_path: Path) -> None:
    load(project, [
        (91, "new", "2023-01-09T10:00:00", False, "2023-01-09T11:00:00"),  # an append: a new day
        (92, "late", "2023-01-02T10:00:00", False, "2023-01-09T12:00:00"),  # event time a week back, loaded now
        (71, "renamed", "2023-01-07T11:00:00", False, "2023-01-09T12:00:00"),  # re-synced inside the lookback
        (11, "renamed too", "2023-01-01T11:00:00", False, "2023-01-09T12:00:00"),  # re-synced, first synced long ago
        (12, None, "2023-01-01T12:00:00", True, "2023-01-09T12:00:00"),  # soft-deleted, first synced long ago
        (81, None, "2023-01-08T11:00:00", True, "2023-01-09T12:00:00"),  # soft-deleted inside the lookback
    ])
    run_cli(project, "build", now=NOW)
    # the window: rows synced since 2023-01-05T20:00 (the high-water mark minus 3 days), not the whole table
    assert incremental_rows(project, "stg.src__events") == 12
    full = full_build_of(project, tmp_path / "full")
    stg = snapshot(project, "stg.src__events")
    assert stg == snapshot(full, "stg.src__events")
    assert checksum(project, "stg.src__events") == checksum(full, "stg.src__events")
    ids = {row[0] for row in stg}
    assert {91, 92, 11, 71} <= ids and not {12, 81} & ids
    assert {row[0]: row[1] for row in stg}[11] == "renamed too"
    # the daily aggregate is incremental on event time: day 2's late event came 7 days after it happened,
    # beyond its 2-day lookback, so day 2 is stale until a full refresh; every other day matches
    daily, daily_full = snapshot(project, "core.src__daily"), snapshot(full, "core.src__daily")
    differing = sorted({r[0] for r in set(daily) ^ set(daily_full)})
    assert differing == [dt.date(2023, 1, 1), dt.date(2023, 1, 2)]  # the late event and the far deletion
    assert (dt.date(2023, 1, 9), 1, 1) in daily and (dt.date(2023, 1, 8), 2, 1) in daily  # inside the lookback
    run_cli(project, "build", "--full-refresh", "--select", "core.src__daily", now=NOW)
    assert checksum(project, "core.src__daily") == checksum(full, "core.src__daily")
    # a second run with nothing new changes nothing
    run_cli(project, "build", now=NOW)
    assert checksum(project, "stg.src__events") == checksum(full, "stg.src__events")


def test_a_contract_change_needs_full_refresh(project: Path) -> None:
    path = project / "contracts/stg/src__events.odcs.yaml"
    path.write_text(miniproject.contract_yaml("stg", "src__events", [*STG_COLUMNS, ("event_hour", "INT64", False)],
                                              ["event_id"]) + STG_INCREMENTAL)
    hour = "  _fivetran_synced AS synced_at, EXTRACT(HOUR FROM event_at) AS event_hour"
    (project / "models/stg/src__events.sql").write_text(STG_SQL.replace("  _fivetran_synced AS synced_at", hour))
    result = CliRunner().invoke(cli, ["--project-dir", str(project), "build", "--select", "stg.src__events"],
                                env={"KCRM_GOV_NOW": NOW})
    assert result.exit_code == 1
    assert "stg.src__events is incremental and its contract's columns or unique key changed" in result.output
    assert "--full-refresh" in result.output
    assert [c[0] for c in query_rows(project, "DESCRIBE stg.src__events")][-1] == "synced_at"  # left as it was
    run_cli(project, "build", "--full-refresh", "--select", "stg.src__events", now=NOW)
    assert query_rows(project, "SELECT COUNT(event_hour) FROM stg.src__events")[0][0] == 24
    run_cli(project, "build", "--select", "stg.src__events", now=NOW)  # incremental again from here


def test_a_crash_mid_merge_leaves_the_previous_table(project: Path) -> None:
    from kcrm_gov.build import build
    from kcrm_gov.engines.duckdb import DuckDBEngine
    from kcrm_gov.project import Project

    class CrashAfterDelete(DuckDBEngine):
        """The real engine, failing on the first statement after the merge's DELETE ran."""

        deleted = False

        def execute(self, sql: str, params: list[Any] | None = None) -> None:
            if self.deleted:
                raise RuntimeError("the process died mid-merge")
            super().execute(sql, params)
            self.deleted = sql.startswith("DELETE FROM \"stg\"")

    before = checksum(project, "stg.src__events")
    load(project, [(91, "new", "2023-01-09T10:00:00", False, "2023-01-09T11:00:00"),
                   (11, None, "2023-01-01T11:00:00", True, "2023-01-09T12:00:00")])
    proj = Project.load(project)
    engine = CrashAfterDelete(proj, proj.config.target())
    try:
        with pytest.raises(RuntimeError, match="mid-merge"):
            build(proj, engine, proj.dag.valid(), ["stg.src__events"])
        assert engine.deleted
    finally:
        engine.close()
    assert checksum(project, "stg.src__events") == before
    run_cli(project, "build", "--select", "stg.src__events", now=NOW)
    assert 91 in {r[0] for r in snapshot(project, "stg.src__events")}


def test_a_merge_that_would_repeat_a_key_is_refused(project: Path) -> None:
    """A unique key that is not the primary key, and no source key: a row re-synced long after its first
    sync comes back in the window while its old version is kept. DuckDB's key index used to refuse the
    merged table; the build's key check must, and leave the table as it was."""
    path = project / "contracts/stg/src__events.odcs.yaml"
    loose = STG_INCREMENTAL.replace("      sources:", "      uniqueKey: [event_id, synced_at]\n      sources:")
    path.write_text(path.read_text().replace(STG_INCREMENTAL, loose.replace(", key: [id]", "")))
    run_cli(project, "build", "--full-refresh", "--select", "stg.src__events", now=NOW)
    before = checksum(project, "stg.src__events")
    load(project, [(11, "renamed", "2023-01-01T11:00:00", False, "2023-01-09T12:00:00")])
    result = CliRunner().invoke(cli, ["--project-dir", str(project), "build", "--select", "stg.src__events"],
                                env={"KCRM_GOV_NOW": NOW})
    assert result.exit_code == 1, result.output
    assert ("primary key (event_id) of the contract is not unique in the merged table (rows kept from the "
            "previous build have the same key): 1 key value repeated") in result.output
    assert "renamed" not in result.output
    assert checksum(project, "stg.src__events") == before


APPENDED = [
    (91, "new", "2023-01-09T10:00:00", False, "2023-01-09T11:00:00"),
    (92, "late", "2023-01-02T10:00:00", False, "2023-01-09T12:00:00"),
    (71, "renamed", "2023-01-07T11:00:00", False, "2023-01-09T12:00:00"),
    (11, "renamed too", "2023-01-01T11:00:00", False, "2023-01-09T12:00:00"),
    (12, None, "2023-01-01T12:00:00", True, "2023-01-09T12:00:00"),
    (81, None, "2023-01-08T11:00:00", True, "2023-01-09T12:00:00"),
]


def test_the_bigquery_merge_is_generated_from_the_contract(tmp_path: Path) -> None:
    """The MERGE's shape: every clause there, every identifier quoted, the cutoff the only literal."""
    import sqlglot
    from sqlglot import exp

    from kcrm_gov.incremental import merge_statement
    from kcrm_gov.project import Project

    contract = Project.load(make(tmp_path / "p")).contracts["stg.src__events"]
    text = merge_statement(contract, exp.table_("src__events", db="kcrm_stg", catalog="p"),
                           exp.table_("__kcrm_build__src__events", db="kcrm_stg", catalog="p"),
                           {"raw.src__events": exp.table_("src__events", db="kcrm_raw", catalog="p")},
                           dt.datetime(2023, 1, 5, 22, tzinfo=dt.UTC)).sql(dialect="bigquery")
    merge = sqlglot.parse_one(text, read="bigquery")
    assert isinstance(merge, exp.Merge)
    whens = [w.sql(dialect="bigquery") for w in merge.args["whens"].expressions]
    assert whens[0] == "WHEN MATCHED AND `s`.`__kcrm_gone` THEN DELETE"
    assert whens[1].startswith("WHEN MATCHED THEN UPDATE SET `event_name` = `s`.`event_name`")
    assert whens[2].startswith("WHEN NOT MATCHED AND NOT `s`.`__kcrm_gone` THEN INSERT (`event_id`, `event_name`")
    assert whens[3] == ("WHEN NOT MATCHED BY SOURCE AND `t`.`synced_at` >= CAST('2023-01-05T22:00:00+00:00' AS "
                        "TIMESTAMP) THEN DELETE")
    assert "SELECT `id` AS `event_id` FROM p.kcrm_raw.src__events WHERE `_fivetran_synced` >= CAST(" in text
    assert [lit.this for lit in merge.find_all(exp.Literal)] == ["2023-01-05T22:00:00+00:00"] * 2


@pytest.mark.bigquery
@pytest.mark.skipif(not os.environ.get("KCRM_GOV_BQ_ENDPOINT"), reason="KCRM_GOV_BQ_ENDPOINT is not set")
def test_incremental_merge_on_the_bigquery_emulator(tmp_path: Path) -> None:
    """The same appends, late rows and deletions through a real MERGE on the emulator: equal to a full build."""
    import uuid

    from kcrm_gov.build import build
    from kcrm_gov.config import Target
    from kcrm_gov.engines.bigquery import BigQueryEngine
    from kcrm_gov.project import Project

    proj = Project.load(make(tmp_path / "p"))
    prefix = f"ki{uuid.uuid4().hex[:8]}_"
    engine = BigQueryEngine(proj, Target(name="emulator", type="bigquery", dataset_prefix=prefix,
                                         project=os.environ.get("KCRM_GOV_BQ_PROJECT", "kcrm-test"),
                                         api_endpoint=os.environ["KCRM_GOV_BQ_ENDPOINT"]))
    raw = proj.contracts["raw.src__events"]

    def load_bq(rows: list[tuple[int, str | None, str, bool, str]], mode: str) -> None:
        engine.write_arrow(raw, raw_rows(raw, rows), mode=mode)

    def rows() -> list[tuple[Any, ...]]:
        data = engine.query_arrow(f"SELECT * FROM {engine.relation('stg', 'src__events')}").to_pylist()
        return sorted(tuple(row.values()) for row in data)

    dag = proj.dag.valid()
    try:
        load_bq(history(), "replace")
        assert build(proj, engine, dag, ["stg.src__events"]).ok
        assert engine.stored_fingerprint(proj.contracts["stg.src__events"])
        load_bq(APPENDED, "append")
        merged = build(proj, engine, dag, ["stg.src__events"])
        assert merged.ok, merged.models[0].error
        assert merged.models[0].rows_written == 14  # rows the MERGE changed, not the table's 24
        incremental = rows()
        assert build(proj, engine, dag, ["stg.src__events"], full_refresh=True).ok
        assert incremental == rows() and len(incremental) == 24
    finally:
        for dataset in list(engine.client.list_datasets(retry=engine.retry, timeout=10)):
            if dataset.dataset_id.startswith(prefix):
                engine.client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        engine.close()


def test_the_mixpanel_event_models_on_the_seeded_warehouse(seeded_warehouse: Path, tmp_path: Path) -> None:
    """The real event models: a new day, years-late events, and events re-exported under another name
    (from usage to login: they must leave core.usage_events). Every model on the loader's clock equals
    --full-refresh row for row. enr.account_usage_daily, on event time with a 7-day lookback, equals it
    on every day of its window and differs only on the old days of the late and moved events."""
    from conftest import connect_warehouse, copy_warehouse

    root = copy_warehouse(seeded_warehouse, tmp_path / "p")
    with connect_warehouse(root, read_only=False) as con:
        con.execute("""INSERT INTO raw.mixpanel__events BY NAME
            SELECT * REPLACE (_fivetran_id || '~next' AS _fivetran_id, insert_id || '~next' AS insert_id,
                              time + INTERVAL 1 DAY AS time, _fivetran_synced + INTERVAL 1 DAY AS _fivetran_synced)
            FROM raw.mixpanel__events
            WHERE time >= (SELECT max(time) FROM raw.mixpanel__events) - INTERVAL 1 DAY""")
        synced = "(SELECT max(_fivetran_synced) + INTERVAL 1 DAY FROM raw.mixpanel__events)"
        late = con.execute(f"""INSERT INTO raw.mixpanel__events BY NAME
            SELECT * REPLACE (_fivetran_id || '~late' AS _fivetran_id, insert_id || '~late' AS insert_id,
                              {synced} AS _fivetran_synced)
            FROM raw.mixpanel__events WHERE name = 'Report Created' ORDER BY time LIMIT 3 RETURNING _fivetran_id"""
                           ).fetchall()
        moved = con.execute(f"""INSERT INTO raw.mixpanel__events BY NAME
            SELECT * REPLACE ('Session Start' AS name, {synced} AS _fivetran_synced)
            FROM raw.mixpanel__events WHERE name = 'Report Created' ORDER BY time DESC LIMIT 2 OFFSET 5000
            RETURNING _fivetran_id""").fetchall()
    assert len(late) == 3 and len(moved) == 2
    models = ["stg.mixpanel__events", "core.usage_events", "core.login_events", "core.feature_adoption_events",
              "enr.account_usage_daily"]
    daily = "SELECT * FROM enr.account_usage_daily ORDER BY account_key, activity_date"
    before = max(r[1] for r in query_rows(root, daily))
    run_cli(root, "build", *[arg for m in models for arg in ("-s", m)])
    assert incremental_rows(root, "stg.mixpanel__events") < 10_000  # the window, not the 300,000 rows
    full = tmp_path / "full"
    full.mkdir()
    shutil.copytree(root, full / "p")
    run_cli(full / "p", "build", "--full-refresh", *[arg for m in models for arg in ("-s", m)])
    for table in models[:-1]:
        assert checksum(root, table) == checksum(full / "p", table), table
    def days(at: Path) -> set[tuple[Any, ...]]:  # the arrays as tuples, so that rows can be compared as a set
        return {tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in query_rows(at, daily)}

    incremental_days, full_days = days(root), days(full / "p")
    assert max(r[1] for r in incremental_days) == before + dt.timedelta(days=1)  # the new day is in
    cutoff = before - dt.timedelta(days=7)
    assert {r for r in incremental_days if r[1] >= cutoff} == {r for r in full_days if r[1] >= cutoff}
    ids = ", ".join(f"'{i}'" for (i,) in late + moved)
    touched = set(query_rows(root, f"""SELECT account_key, event_date FROM core.usage_events
        WHERE event_id IN ({ids}) AND account_key IS NOT NULL AND NOT is_internal
        UNION SELECT account_key, event_date FROM core.login_events
        WHERE event_id IN ({ids}) AND account_key IS NOT NULL AND NOT is_internal"""))
    differing = {(r[0], r[1]) for r in incremental_days ^ full_days}
    assert differing and differing <= touched and all(day < cutoff for _, day in differing)
    usage = {r[0] for r in query_rows(root, "SELECT event_id FROM core.usage_events")}
    logins = {r[0] for r in query_rows(root, "SELECT event_id FROM core.login_events")}
    assert {i for (i,) in late} <= usage
    assert {i for (i,) in moved} <= logins and not {i for (i,) in moved} & usage

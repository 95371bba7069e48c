"""SodaCL generation and ``kcrm-gov test``: real soda-core on real DuckDB data.

A small self-contained project (two raw tables with a foreign key, an allowed-values rule, a
PII column, a freshness SLA and a ``type: sql`` rule; a stg and a core model) is loaded, then
one defect of each kind is planted and must be caught by the check generated for it and by
no other. The shipped contracts' committed check files are run through the upstream ``soda
scan`` command line as they are.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import miniproject
import pytest
from click.testing import CliRunner
from conftest import REPO, copy_project

from kcrm_gov.checks import generate_all, generate_checks, stale_checks, write_checks
from kcrm_gov.checks.scan import MASK, run_tests, scan_tables
from kcrm_gov.cli import cli
from kcrm_gov.engines import open_engine
from kcrm_gov.project import Project

SODA = Path(sys.executable).parent / "soda"
SYNCED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2024, 1, 1, 6, tzinfo=dt.UTC)
SECRET = "ceo@secret.example"

CUSTOMERS = [("id", "INT64", True), ("email", "STRING", False), ("tier", "STRING", True),
             ("_fivetran_synced", "TIMESTAMP", True)]
ORDERS = [("order_id", "INT64", True), ("customer_id", "INT64", False), ("amount", "NUMERIC", False),
          ("_fivetran_synced", "TIMESTAMP", True)]
STG_ORDERS = [("order_id", "INT64", True), ("customer_id", "INT64", False), ("amount", "NUMERIC", False)]
STG_SQL = """SELECT order_id, customer_id, amount
FROM raw.src__orders
QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY _fivetran_synced DESC) = 1
"""
CORE_SQL = "SELECT order_id, customer_id, amount FROM stg.src__orders\n"
NEGATIVE_RULE = """        quality:
          - type: sql
            description: Amounts are never negative.
            query: SELECT COUNT(*) FROM ${table} WHERE ${column} < 0
            mustBe: 0
"""


def _patch(text: str, column: str, extra: str = "", classification: str | None = None) -> str:
    """Add lines to one column of a ``miniproject.contract_yaml`` contract."""
    marker = f"        description: The {column} column.\n"
    assert marker in text
    head, tail = text.split(marker, 1)
    if classification:
        tail = tail.replace("        classification: internal\n",
                            f"        classification: {classification}\n        tags: [pii]\n", 1)
    end = tail.find("      - name:")
    end = end if end >= 0 else tail.find("\n", tail.find("classification")) + 1
    block, rest = tail[:end], tail[end:]
    if not block.endswith("\n"):
        block += "\n"
    return head + marker + block + extra + rest


def make_project(root: Path) -> Path:
    """The test project: raw.src__customers, raw.src__orders -> stg.src__orders -> core.orders."""
    miniproject.make(root)
    for rel in ("contracts/raw/src__items.odcs.yaml", "contracts/stg/src__items.odcs.yaml",
                "contracts/core/items.odcs.yaml", "models/stg/src__items.sql", "models/core/items.sql"):
        (root / rel).unlink()
    customers = miniproject.contract_yaml("raw", "src__customers", CUSTOMERS, ["id", "_fivetran_synced"])
    customers = _patch(customers, "email", classification="confidential")
    customers = _patch(customers, "tier", """        quality:
          - type: library
            metric: invalidValues
            arguments:
              validValues: [free, pro]
            mustBe: 0
            description: The two plans.
""")
    orders = miniproject.contract_yaml("raw", "src__orders", ORDERS, ["order_id", "_fivetran_synced"])
    orders = _patch(orders, "customer_id", """        relationships:
          - type: foreignKey
            to: src__customers.id
""")
    orders = _patch(orders, "amount", NEGATIVE_RULE)
    orders = orders.replace("    properties:\n", """    quality:
      - type: sql
        name: some_customers
        description: Orders come from at least one customer (a user-defined metric).
        query: SELECT COUNT(DISTINCT customer_id) FROM ${table}
        mustBeGreaterThan: 0
      - type: library
        metric: rowCount
        mustBeLessThan: 1000
        severity: warning
    properties:
""", 1)
    stg = miniproject.contract_yaml("stg", "src__orders", STG_ORDERS, ["order_id"])
    stg = _patch(stg, "amount", NEGATIVE_RULE)
    core = miniproject.contract_yaml("core", "orders", STG_ORDERS, ["order_id"], source=None)
    miniproject.write(root, "contracts/raw/src__customers.odcs.yaml", customers)
    miniproject.write(root, "contracts/raw/src__orders.odcs.yaml", orders)
    miniproject.write(root, "contracts/stg/src__orders.odcs.yaml", stg)
    miniproject.write(root, "contracts/core/orders.odcs.yaml", core)
    miniproject.write(root, "models/stg/src__orders.sql", STG_SQL)
    miniproject.write(root, "models/core/orders.sql", CORE_SQL)
    return root


def load(root: Path, customers: list[tuple], orders: list[tuple]) -> None:
    import pyarrow as pa

    from kcrm_gov.typemap import to_arrow

    project = Project.load(root)
    with open_engine(project) as engine:
        for name, rows in (("raw.src__customers", customers), ("raw.src__orders", orders)):
            contract = project.contract(name)
            schema = pa.schema([pa.field(c.name, to_arrow(c.data_type)) for c in contract.columns])
            data = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
            engine.write_arrow(contract, data)


GOOD_CUSTOMERS = [(1, "a@example.com", "free", SYNCED), (2, SECRET, "pro", SYNCED)]
GOOD_ORDERS = [(10, 1, Decimal("5.00"), SYNCED), (11, 2, Decimal("7.50"), SYNCED), (12, None, None, SYNCED)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test project with clean data loaded and built (copied by tests that plant defects)."""
    root = make_project(tmp_path_factory.mktemp("checks") / "project")
    load(root, GOOD_CUSTOMERS, GOOD_ORDERS)
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "build", "--no-seed", "--json"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def warehouse(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built project."""
    import shutil

    dest = tmp_path / "project"
    shutil.copytree(built, dest)
    return dest


def failing(root: Path, tables: list[str] | None = None) -> dict[str, set[str]]:
    """``{table: names of checks that did not pass}`` after scanning ``tables`` (default: all)."""
    project = Project.load(root)
    with open_engine(project, read_only=True) as engine:
        results = scan_tables(project, engine, tables or [c.qualified_name for c in project.ordered()], now=NOW)
    return {r.table: {c.name for c in r.checks if c.outcome != "pass"} for r in results}


def plant(root: Path, *statements: str) -> None:
    """Run SQL on the warehouse; ``unconstrain raw.t`` first rebuilds ``raw.t`` without its
    NOT NULL / PRIMARY KEY constraints (BigQuery does not enforce them; DuckDB would refuse)."""
    import duckdb

    con = duckdb.connect(str(root / ".kcrm" / "warehouse.duckdb"))
    try:
        con.execute("SET TimeZone='UTC'")
        for sql in statements:
            if sql.startswith("unconstrain "):
                schema, table = sql.split()[1].split(".")
                con.execute(f"CREATE TABLE {schema}.tmp_{table} AS SELECT * FROM {schema}.{table}")
                con.execute(f"DROP TABLE {schema}.{table}")
                con.execute(f"ALTER TABLE {schema}.tmp_{table} RENAME TO {table}")
            else:
                con.execute(sql)
    finally:
        con.close()


# --- generation -----------------------------------------------------------------------------------
def test_generated_checks_cover_the_contract(built: Path) -> None:
    project = Project.load(built)
    checks = {tc.qualified_name: tc for tc in generate_all(project)}
    orders = {s.name: s for s in checks["raw.src__orders"].specs}
    assert list(orders) == [
        "schema", "row_count", "required: order_id", "required: _fivetran_synced",
        "primary_key: order_id, _fivetran_synced", "reference: customer_id -> src__customers.id",
        "freshness: _fivetran_synced", "quality: amount #1", "quality: table #1 some_customers", "quality: table #2"]
    assert orders["primary_key: order_id, _fivetran_synced"].key == "duplicate_count(order_id, _fivetran_synced) = 0"
    assert orders["quality: amount #1"].key == "failed rows"  # COUNT(*) ... WHERE with mustBe 0: samples
    assert orders["quality: amount #1"].config == {"fail condition": "amount < 0"}
    assert orders["quality: table #1 some_customers"].key == "rule_table_0 > 0"  # a user-defined metric
    assert "raw.src__orders" in orders["quality: table #1 some_customers"].config["rule_table_0 query"]
    assert orders["quality: table #2"].severity == "warn"
    assert orders["quality: table #2"].config == {"warn": "when >= 1000"}
    text = checks["raw.src__orders"].text
    assert text.startswith("# Generated by kcrm-gov from contracts/raw/src__orders.odcs.yaml "
                           "(kcrm.raw.src__orders, version 1.0.0).\n# Do not edit")
    assert "checks for src__orders:\n" in text
    assert "amount: decimal(38,9)" in text and "_fivetran_synced: timestamp with time zone" in text
    assert "freshness(_fivetran_synced) < 24h" in text
    line = orders["quality: amount #1"].line
    assert "- type: sql" in (built / "contracts/raw/src__orders.odcs.yaml").read_text().splitlines()[line - 1]
    # deterministic
    assert generate_checks(project) == generate_checks(Project.load(built))


def test_bigquery_checks_use_bigquery_types_and_names(built: Path) -> None:
    project = Project.load(built)
    from kcrm_gov.config import Target

    target = Target(name="prod", type="bigquery", project="kcrm-test", dataset_prefix="kcrm_")
    checks = generate_all(project, "bigquery", target=target)
    (orders,) = [tc for tc in checks if tc.qualified_name == "raw.src__orders"]
    assert "amount: NUMERIC" in orders.text and "_fivetran_synced: TIMESTAMP" in orders.text
    assert "FROM `kcrm-test`.`kcrm_raw`.`src__orders`" in orders.text  # the table qualified for BigQuery


def test_every_shipped_contract_generates_and_the_committed_files_are_in_sync() -> None:
    project = Project.load(REPO)
    generated = generate_checks(project)
    assert len(generated) == len(project.contracts)
    stale = stale_checks(project, generated)
    assert not stale, "\n".join(s.diff for s in stale)


# --- the upstream soda CLI -----------------------------------------------------------------------
def _soda_scan(config: str, source: str, files: list[Path], home: Path, cwd: Path) -> subprocess.CompletedProcess:
    (home / ".soda").mkdir(parents=True, exist_ok=True)
    (home / ".soda" / "config.yml").write_text("send_anonymous_usage_stats: false\nuser_cookie_id: kcrm-test\n")
    cfg = cwd / f"{source}.yml"
    cfg.write_text(config)
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run([str(SODA), "scan", "-d", source, "-c", str(cfg), "-v", f"NOW={NOW.isoformat()}",
                           *map(str, files)], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_soda_cli_accepts_every_shipped_check_file(tmp_path: Path) -> None:
    """The committed files, as they are, on a warehouse holding every contract's (empty) table:
    every check is parsed and evaluated (fails are expected: the tables are empty), no errors."""
    root = copy_project(tmp_path / "project")
    project = Project.load(root)
    with open_engine(project) as engine:
        for contract in project.ordered():
            engine.create_table(contract)
    expected = {tc.qualified_name: len(tc.specs) for tc in generate_all(project)}
    home = tmp_path / "home"
    for layer in sorted({c.layer for c in project.contracts.values()}):
        files = sorted((root / "checks" / layer).glob("*.yml"))
        config = (f"data_source kcrm_{layer}:\n  type: duckdb\n  path: {root / '.kcrm' / 'warehouse.duckdb'}\n"
                  f"  read_only: true\n  schema: {layer}\n")
        proc = _soda_scan(config, f"kcrm_{layer}", files, home, tmp_path)
        out = proc.stdout + proc.stderr
        assert proc.returncode in (0, 1, 2), out  # 3 would mean errors (a file Soda could not run)
        summary = re.search(r"(\d+) failures?\. (\d+) warnings?\. (\d+) errors?\. (\d+) pass", out)
        assert summary, out
        failures, warnings, errors, passes = map(int, summary.groups())
        assert errors == 0, out
        assert failures + warnings + passes == sum(n for t, n in expected.items() if t.startswith(f"{layer}.")), out
        assert "Traceback" not in out


def test_soda_cli_passes_on_clean_data(warehouse: Path, tmp_path: Path) -> None:
    built = warehouse
    home = tmp_path / "home"
    for layer in ("raw", "stg", "core"):
        config = (f"data_source kcrm_{layer}:\n  type: duckdb\n  path: {built / '.kcrm' / 'warehouse.duckdb'}\n"
                  f"  read_only: true\n  schema: {layer}\n")
        write_checks(Project.load(built), generate_checks(Project.load(built)))
        proc = _soda_scan(config, f"kcrm_{layer}", sorted((built / "checks" / layer).glob("*.yml")), home, tmp_path)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: the rowCount warning is a warn
    assert not (Path.home() / ".soda" / "kcrm-test").exists()


# --- planted defects ------------------------------------------------------------------------------
def test_clean_warehouse_passes(built: Path) -> None:
    assert failing(built) == {"raw.src__customers": set(), "raw.src__orders": set(), "stg.src__orders": set(),
                              "core.orders": set()}


DEFECTS = {
    "duplicate key": (["unconstrain raw.src__customers",
                       "INSERT INTO raw.src__customers SELECT * FROM raw.src__customers WHERE id = 1"],
                      "raw.src__customers", "primary_key: id, _fivetran_synced"),
    "null in a required column": (["unconstrain raw.src__customers",
                                   "UPDATE raw.src__customers SET tier = NULL WHERE id = 1"],
                                  "raw.src__customers", "required: tier"),
    "value outside the allowed set": (["UPDATE raw.src__customers SET tier = 'gold' WHERE id = 2"],
                                      "raw.src__customers", "quality: tier #1"),
    "orphan foreign key": (["UPDATE raw.src__orders SET customer_id = 99 WHERE order_id = 11"],
                           "raw.src__orders", "reference: customer_id -> src__customers.id"),
    "stale table": (["UPDATE raw.src__customers SET _fivetran_synced = _fivetran_synced - INTERVAL 3 DAY"],
                    "raw.src__customers", "freshness: _fivetran_synced"),
    "broken sql rule": (["UPDATE stg.src__orders SET amount = -1 WHERE order_id = 10"],
                        "stg.src__orders", "quality: amount #1"),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_is_caught_by_its_check_and_only_by_it(warehouse: Path, defect: str) -> None:
    statements, table, check = DEFECTS[defect]
    plant(warehouse, *statements)
    found = failing(warehouse)
    assert found == {t: ({check} if t == table else set()) for t in found}


def _check_outcomes(root: Path, tables: list[str]) -> dict[str, dict[str, tuple[str, str | None]]]:
    project = Project.load(root)
    with open_engine(project, read_only=True) as engine:
        results = scan_tables(project, engine, tables, now=NOW)
    return {r.table: {c.name: (c.outcome, c.message) for c in r.checks} for r in results}


def test_a_schema_failure_names_the_columns(warehouse: Path) -> None:
    plant(warehouse, "unconstrain raw.src__orders", "ALTER TABLE raw.src__orders ALTER COLUMN amount TYPE DOUBLE")
    project = Project.load(warehouse)
    with open_engine(project, read_only=True) as engine:
        result = scan_tables(project, engine, ["raw.src__orders"], now=NOW)[0]
    schema = next(c for c in result.checks if c.name == "schema")
    assert schema.outcome == "fail"
    assert schema.message == "amount is double, the contract says decimal(38,9)"
    assert schema.value == "amount (double)"


def test_a_missing_referenced_table_errors_only_the_reference(warehouse: Path) -> None:
    plant(warehouse, "DROP TABLE raw.src__customers")
    orders = _check_outcomes(warehouse, ["raw.src__orders"])["raw.src__orders"]
    reference = "reference: customer_id -> src__customers.id"
    outcome, message = orders.pop(reference)
    assert outcome == "error" and "raw.src__customers does not exist" in message
    assert {o for o, _ in orders.values()} == {"pass"}, orders  # the table's other checks still ran


def test_a_query_that_stops_soda_is_confined_to_its_table(warehouse: Path) -> None:
    # the referenced column is gone: Soda's reference query fails and Soda abandons the whole scan
    plant(warehouse, "unconstrain raw.src__customers", "ALTER TABLE raw.src__customers RENAME COLUMN id TO cid")
    results = _check_outcomes(warehouse, ["raw.src__customers", "raw.src__orders"])
    orders = results["raw.src__orders"]
    outcome, message = orders.pop("reference: customer_id -> src__customers.id")
    assert outcome == "error" and "id" in message
    assert {o for o, _ in orders.values()} == {"pass"}, orders
    customers = results["raw.src__customers"]
    assert customers["schema"] == ("fail", "missing columns: id")
    assert customers["row_count"][0] == "pass" and customers["freshness: _fivetran_synced"][0] == "pass"


def test_failed_row_samples_mask_pii(warehouse: Path) -> None:
    plant(warehouse, "UPDATE raw.src__customers SET tier = 'gold' WHERE id = 2")
    result = CliRunner().invoke(cli, ["--project-dir", str(warehouse), "test", "--now", NOW.isoformat(), "--json",
                                      "-s", "raw.src__customers"])
    assert result.exit_code == 1, result.output
    run = json.loads(result.stdout)
    (check,) = [c for t in run["tables"] for c in t["checks"] if c["outcome"] == "fail"]
    assert check["name"] == "quality: tier #1" and check["value"] == 1 and check["failed_rows"] == 1
    row = dict(zip(check["sample_columns"], check["samples"][0], strict=True))
    assert row["tier"] == "gold" and row["email"] == MASK and row["id"] == 2
    artifact = (warehouse / ".kcrm" / "test_results.json").read_text()
    assert SECRET not in result.output and SECRET not in artifact
    assert json.loads(artifact)["run_id"] == run["run_id"]
    human = CliRunner().invoke(cli, ["--project-dir", str(warehouse), "test", "--now", NOW.isoformat(),
                                     "-s", "raw.src__customers"])
    assert human.exit_code == 1 and "quality: tier #1" in human.output and SECRET not in human.output
    assert "src__customers.odcs.yaml:" in human.output and "Traceback" not in human.output
    assert run["tables"][0]["key_columns"] == ["id", "_fivetran_synced"]


def test_printed_samples_show_the_key_and_the_checked_columns() -> None:
    from kcrm_gov.commands.quality import sample_columns

    available = ["deal_id", "deal_name", "deal_type", "pipeline_id", "stage_id", "owner_id", "amount", "synced_at"]
    assert sample_columns(available, ["deal_id", "amount"]) == ["deal_id", "deal_name", "deal_type", "amount"]
    assert sample_columns(available, ["deal_id", "owner_id", "amount", "synced_at", "stage_id"]) == \
        ["deal_id", "stage_id", "owner_id", "amount", "synced_at"]  # all wanted ones, in the row's order
    assert sample_columns(["a", "b"], ["zz"]) == ["a", "b"]


def test_test_command_exit_codes_and_warnings(built: Path) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(built), "test", "--now", NOW.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["ok"] and run["counts"]["fail"] == 0 and run["counts"]["pass"] > 20
    # the wall clock: the data is from 2024, so the freshness SLA is breached -> exit 1
    result = CliRunner().invoke(cli, ["--project-dir", str(built), "test", "--json", "-s", "raw.src__customers"])
    assert result.exit_code == 1
    names = {c["name"] for t in json.loads(result.stdout)["tables"] for c in t["checks"] if c["outcome"] == "fail"}
    assert names == {"freshness: _fivetran_synced"}


def test_only_warnings_exit_zero(warehouse: Path) -> None:
    project = Project.load(warehouse)
    write_checks(project, generate_checks(project))
    contract = warehouse / "contracts/raw/src__orders.odcs.yaml"
    contract.write_text(contract.read_text().replace("mustBeLessThan: 1000", "mustBeLessThan: 2"))
    result = CliRunner().invoke(cli, ["--project-dir", str(warehouse), "test", "--now", NOW.isoformat(), "--json",
                                      "-s", "raw.src__orders"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["counts"]["warn"] == 1 and run["counts"]["fail"] == 0
    # the committed file no longer matches the contract: the run says so (and ran the contract's checks)
    assert run["notes"] == ["checks/raw/src__orders.yml is stale: ran the checks its contract generates now "
                            "(run `kcrm-gov generate checks`)"]


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    load(root, GOOD_CUSTOMERS, GOOD_ORDERS)
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "test", "--now", NOW.isoformat(),
                                      "-s", "stg.src__orders"])
    assert result.exit_code == 1
    assert "stg.src__orders does not exist on target 'local'" in result.output
    assert "Traceback" not in result.output


def test_build_test_skips_the_downstream_of_a_failing_table(warehouse: Path) -> None:
    plant(warehouse, "UPDATE raw.src__orders SET amount = -3 WHERE order_id = 12")
    env = {"KCRM_GOV_NOW": NOW.isoformat()}
    result = CliRunner().invoke(cli, ["--project-dir", str(warehouse), "build", "--test", "--no-seed", "--json"],
                                env=env)
    assert result.exit_code == 1, result.output
    models = {m["table"]: m for m in json.loads(result.stdout)["models"]}
    assert models["stg.src__orders"]["status"] == "error"
    assert "quality checks failed (quality: amount #1)" in models["stg.src__orders"]["error"]
    assert models["core.orders"]["status"] == "skipped"
    run = json.loads((warehouse / ".kcrm" / "test_results.json").read_text())
    assert [t["table"] for t in run["tables"]] == ["stg.src__orders"]
    # clean data: everything builds and is tested
    plant(warehouse, "UPDATE raw.src__orders SET amount = 3 WHERE order_id = 12")
    result = CliRunner().invoke(cli, ["--project-dir", str(warehouse), "build", "--test", "--no-seed", "--json"],
                                env=env)
    assert result.exit_code == 0, result.output
    run = json.loads((warehouse / ".kcrm" / "test_results.json").read_text())
    assert [t["table"] for t in run["tables"]] == ["stg.src__orders", "core.orders"]


def test_run_tests_never_touches_home(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Soda's config is taken from .kcrm/soda/config.yml; a fresh process with an empty HOME
    gets no ~/.soda, no traceback and no network (telemetry off)."""
    home = tmp_path / "home"
    home.mkdir()
    code = ("import datetime as dt, sys; from kcrm_gov.project import Project; "
            "from kcrm_gov.engines import open_engine; from kcrm_gov.checks.scan import run_tests; "
            f"p = Project.load(__import__('pathlib').Path({str(built)!r})); "
            "e = open_engine(p, read_only=True); "
            "r = run_tests(p, e, ['raw.src__orders'], now=dt.datetime(2024, 1, 1, 6, tzinfo=dt.UTC)); "
            "from soda.telemetry.soda_telemetry import SodaTelemetry; "
            "print(r.exit_code, SodaTelemetry.get_instance()._SodaTelemetry__send)")
    env = {**os.environ, "HOME": str(home), "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False"]
    assert proc.stderr == ""
    assert list(home.iterdir()) == []
    assert (built / ".kcrm" / "soda" / "config.yml").is_file()


# --- staleness ------------------------------------------------------------------------------------
def test_generate_checks_check_and_the_gate_detect_a_stale_file(built: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "project"
    shutil.copytree(built, root)
    runner = CliRunner()
    result = runner.invoke(cli, ["--project-dir", str(root), "generate", "checks"])
    assert result.exit_code == 0, result.output
    assert (root / "checks/raw/src__orders.yml").is_file()
    assert runner.invoke(cli, ["--project-dir", str(root), "generate", "checks", "--check"]).exit_code == 0
    path = root / "checks/raw/src__orders.yml"
    path.write_text(path.read_text().replace("row_count > 0", "row_count > 5"))
    (root / "checks/raw/gone.yml").write_text("# Generated by kcrm-gov from contracts/raw/gone.odcs.yaml\n")
    result = runner.invoke(cli, ["--project-dir", str(root), "generate", "checks", "--check"])
    assert result.exit_code == 1
    assert "-  - row_count > 5:" in result.output and "+  - row_count > 0:" in result.output
    assert "stale: checks/raw/src__orders.yml: changed" in result.output
    assert "stale: checks/raw/gone.yml: orphaned" in result.output

    from kcrm_gov.gate.steps import checks_step

    step = checks_step(Project.load(root))
    assert not step.ok and step.exit_code == 1
    assert any("checks/raw/src__orders.yml" in d and "+  - row_count > 0:" in d for d in step.details)

    result = runner.invoke(cli, ["--project-dir", str(root), "generate", "checks"])
    assert "wrote checks/raw/src__orders.yml" in result.output and "removed checks/raw/gone.yml" in result.output
    assert checks_step(Project.load(root)).ok


def test_a_rule_that_cannot_be_generated_names_the_contract_line(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    contract = root / "contracts/raw/src__orders.odcs.yaml"
    contract.write_text(contract.read_text().replace("metric: rowCount", "metric: meanValue"))
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "generate", "checks"])
    assert result.exit_code == 2
    line = next(i for i, text in enumerate(contract.read_text().splitlines(), 1) if "meanValue" in text) - 1
    assert f"contracts/raw/src__orders.odcs.yaml:{line}:" in result.output
    assert "library metric 'meanValue' is not supported" in result.output


# --- the seeded warehouse -------------------------------------------------------------------------
@pytest.mark.slow
def test_all_checks_on_the_seeded_warehouse(seeded_warehouse: Path) -> None:
    """On the real project seeded (scale 1) and built (the session's warehouse, read only), run every
    generated check, freshness measured at the seed's last sync. See the report for the
    contract/data mismatches found."""
    from kcrm_gov.seed.common import SYNC_END

    project = Project.load(seeded_warehouse)
    now = dt.datetime.fromtimestamp(SYNC_END / 1e6, tz=dt.UTC)
    with open_engine(project, read_only=True) as engine:
        run = run_tests(project, engine, [c.qualified_name for c in project.ordered()], now=now)
    problems = [f"{t.table}: {c.name} = {c.value} ({c.message})" for t in run.tables for c in t.checks
                if c.outcome in ("fail", "error")]
    assert not problems, "\n".join(problems)


# --- the cache of generated and parsed checks ----------------------------------------------------
def _outcomes(root: Path, now: dt.datetime = NOW) -> dict[tuple[str, str], tuple[str, Any]]:
    project = Project.load(root)
    with open_engine(project, read_only=True) as engine:
        run = run_tests(project, engine, [c.qualified_name for c in project.ordered()], now=now)
    return {(t.table, c.name): (c.outcome, c.value) for t in run.tables for c in t.checks}


def test_a_warm_run_gives_the_results_of_a_cold_one(warehouse: Path) -> None:
    import shutil

    from kcrm_gov import cache

    shutil.rmtree(warehouse / ".kcrm" / "cache", ignore_errors=True)
    cache.forget_in_memory()
    cold = _outcomes(warehouse)
    assert list((warehouse / ".kcrm" / "cache" / "sodacl").glob("*.pickle"))
    cache.forget_in_memory()  # from disk, as the next process would
    warm = _outcomes(warehouse)
    assert warm == cold
    # freshness is measured against the run's own clock, not the one the entry was parsed with
    later = _outcomes(warehouse, NOW + dt.timedelta(days=30))
    stale = [key for key, (outcome, _) in later.items() if key[1].startswith("freshness")]
    assert stale and all(later[key][0] in ("warn", "fail") for key in stale)
    assert gc.isenabled()  # paused during the scan only


# --- nested fields ----------------------------------------------------------------------------------
def test_nested_fields_required_and_allowed_values_are_checked(tmp_path: Path) -> None:
    """GA4's nested fields: a required STRUCT member two levels down, a required field of each
    ARRAY<STRUCT> element, and allowed values on a STRUCT member; one bad row each, each caught
    by its own check (failed rows, on the engine's own nested syntax) and by no other."""
    root = copy_project(tmp_path / "p")
    path = root / "contracts" / "raw" / "ga4__events.odcs.yaml"
    text = path.read_text()
    for old, new in (
        ("              description: Parameter name, e.g. page_location or ga_session_id.\n",
         "              description: Parameter name, e.g. page_location or ga_session_id.\n"
         "              required: true\n"),
        ("            description: Device category (desktop, mobile, tablet).\n",
         "            description: Device category (desktop, mobile, tablet).\n"
         "            enum: [{value: desktop}, {value: mobile}, {value: tablet}]\n"),
        ("                description: Browser name (Chrome, Safari, Edge, Firefox, ...).\n",
         "                description: Browser name (Chrome, Safari, Edge, Firefox, ...).\n"
         "                required: true\n"),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)
    project = Project.load(root)
    checks = {s.name: s for s in generate_all(project, "duckdb", tables=["raw.ga4__events"])[0].specs}
    nested = {"required: event_params.key", "allowed_values: device.category", "required: device.web_info.browser"}
    assert nested <= set(checks)
    assert "UNNEST" in checks["required: event_params.key"].config["fail condition"]
    bigquery = {s.name: s for s in generate_all(project, "bigquery", tables=["raw.ga4__events"])[0].specs}
    import sqlglot

    for name in nested:  # BigQuery's own SQL, as sqlglot's BigQuery dialect reads it
        sqlglot.parse_one(f"SELECT 1 FROM t WHERE {bigquery[name].config['fail condition']}", read="bigquery")

    good = ("{'key': 'page_location', 'value': {'string_value': 'https://kcrm.io/'}}",
            "{'category': 'desktop', 'web_info': {'browser': 'Chrome'}}")
    rows = [good,
            ("{'key': NULL, 'value': {'string_value': 'x'}}", good[1]),  # an element without its key
            (good[0], "{'category': 'fridge', 'web_info': {'browser': 'Chrome'}}"),  # not an allowed category
            (good[0], "{'category': 'mobile', 'web_info': {'browser': NULL}}"),  # browser missing
            (good[0], "{'category': 'mobile', 'web_info': NULL}")]  # no web_info at all: nothing required
    with open_engine(project) as engine:
        contract = project.contracts["raw.ga4__events"]
        engine.create_table(contract)
        table = engine.relation("raw", "ga4__events")
        for i, (param, device) in enumerate(rows):
            engine.execute(f"INSERT INTO {table} (event_date, event_timestamp, event_name, event_params, "
                           "event_bundle_sequence_id, user_pseudo_id, device, stream_id, platform, _loaded_at) "
                           f"VALUES ('20231231', {i}, 'page_view', [{param}], {i}, 'u{i}', {device}, 's', 'WEB', "
                           "TIMESTAMP '2024-01-01 00:00:00+00')")
        results = scan_tables(project, engine, ["raw.ga4__events"], now=NOW)
    outcomes = {c.name: c for c in results[0].checks}
    failed = {name for name, c in outcomes.items() if c.outcome != "pass"}
    assert failed == nested, {n: (outcomes[n].outcome, outcomes[n].message) for n in failed}
    assert all(outcomes[name].failed_rows == 1 for name in nested)


def test_generate_checks_for_another_target_goes_elsewhere(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    before = {p: p.read_text() for p in (root / "checks").rglob("*.yml")}
    out = tmp_path / "bq"
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "generate", "checks", "--target", "prod",
                                      "--out", str(out), "-s", "raw.hubspot__deals"])
    assert result.exit_code == 0, result.output
    text = (out / "raw" / "hubspot__deals.yml").read_text()
    assert "SodaCL v3 for bigquery" in text and "deal_id: INT64" in text
    assert {p: p.read_text() for p in (root / "checks").rglob("*.yml")} == before  # the committed ones untouched
    refused = CliRunner().invoke(cli, ["--project-dir", str(root), "generate", "checks", "--target", "prod"])
    assert refused.exit_code == 2 and "--out" in refused.output

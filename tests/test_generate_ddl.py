"""`kcrm-gov generate ddl`: every table's DDL for both engines, from the contracts."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import sqlglot
from click.testing import CliRunner

from kcrm_gov import LAYERS
from kcrm_gov.cli import cli
from kcrm_gov.project import Project

REPO = Path(__file__).resolve().parent.parent


def generate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(REPO), "generate", "ddl", *args])
    return result.exit_code, result.output


def test_bigquery_ddl_for_every_table_parses_and_carries_a_schema_file() -> None:
    code, out = generate("--target", "prod", "--json")
    assert code == 0, out
    files = json.loads(out)
    project = Project.load(REPO)
    assert {p for p in files if p.endswith(".sql")} == {f"{c.layer}/{c.table}.sql" for c in project.ordered()}
    for path, text in files.items():
        if path.endswith(".sql"):
            statement = sqlglot.parse_one(text, read="bigquery")
            assert isinstance(statement, sqlglot.exp.Create), path
            assert "`kcrm-analytics-prod.kcrm_" in text
        else:
            assert isinstance(json.loads(text), list)
    ga4 = json.loads(files["raw/ga4__events.schema.json"])
    params = next(f for f in ga4 if f["name"] == "event_params")
    assert params["type"] == "RECORD" and params["mode"] == "REPEATED"
    user_id = next(f for f in ga4 if f["name"] == "user_id")
    assert user_id["policyTags"]["names"], "a PII column carries its policy tag"


def test_duckdb_ddl_for_every_table_executes(tmp_path: Path) -> None:
    code, out = generate("--out", str(tmp_path / "ddl"))
    assert code == 0 and "wrote" in out
    con = duckdb.connect()
    for layer in LAYERS:
        con.execute(f"CREATE SCHEMA {layer}")
    files = sorted((tmp_path / "ddl").rglob("*.sql"))
    assert len(files) == len(Project.load(REPO).contracts)
    for file in files:
        con.execute(file.read_text())
    comment = con.execute("SELECT comment FROM duckdb_columns() WHERE schema_name = 'core' AND "
                          "table_name = 'accounts' AND column_name = 'account_key'").fetchone()[0]
    assert comment and "domain" in comment.lower()


def test_select_limits_the_tables() -> None:
    code, out = generate("--select", "core.accounts")
    assert code == 0
    assert out.count("CREATE TABLE") == 1 and '"core"."accounts"' in out

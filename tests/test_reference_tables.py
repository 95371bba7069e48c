"""Reference tables: models/<layer>/<table>.csv becomes a governed table (like a dbt seed).

Built through the real engine from the mini project: typed by the contract, enforced, readable by
its own layer, every value an inert literal, every bad file refused at file:line with the column,
the warehouse left as it was, and a changed row shown by `kcrm-gov diff` with what it reaches.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import miniproject
import pytest
from click.testing import CliRunner
from conftest import warehouse_path

from kcrm_gov.cli import cli
from kcrm_gov.governance.diff import diff_projects
from kcrm_gov.governance.diff.render import to_markdown
from kcrm_gov.project import Project

POINTS_COLUMNS = [("code", "STRING", True), ("points", "INT64", True), ("weight", "NUMERIC", False),
                  ("active", "BOOL", False), ("starts_on", "DATE", False)]
POINTS_CSV = """code,points,weight,active,starts_on
Alpha,10,0.25,true,2023-01-01
Beta,-5,1.125,false,
"Gamma, the third",0,,TRUE,2024-02-29
"""
SCORED_COLUMNS = [("item_id", "INT64", True), ("points", "INT64", False)]
SCORED_SQL = """SELECT CAST(i.id AS INT64) AS item_id, MAX(p.points) AS points
FROM raw.src__items AS i
LEFT JOIN stg.src__points AS p ON p.code = TRIM(i.name)
GROUP BY i.id
"""


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    root = miniproject.make(tmp_path / "mini")
    miniproject.write(root, "contracts/stg/src__points.odcs.yaml",
                      miniproject.contract_yaml("stg", "src__points", POINTS_COLUMNS, ["code"]))
    miniproject.write(root, "models/stg/src__points.csv", POINTS_CSV)
    miniproject.write(root, "contracts/stg/src__scored.odcs.yaml",
                      miniproject.contract_yaml("stg", "src__scored", SCORED_COLUMNS, ["item_id"]))
    miniproject.write(root, "models/stg/src__scored.sql", SCORED_SQL)
    miniproject.load_raw(root, miniproject.ROWS)
    return root


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
    return result.exit_code, result.output


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / ".kcrm" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_reference_file_builds_typed_by_its_contract(mini: Path) -> None:
    code, out = run(mini, "build", "--select", "stg.src__points")
    assert code == 0, out
    assert query(mini, "SELECT * FROM stg.src__points ORDER BY code") == [
        ("Alpha", 10, Decimal("0.25"), True, date(2023, 1, 1)),
        ("Beta", -5, Decimal("1.125"), False, None),
        ("Gamma, the third", 0, None, True, date(2024, 2, 29)),
    ]
    types = dict(query(mini, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = 'stg' AND table_name = 'src__points'"))
    assert types["points"] == "BIGINT" and types["active"] == "BOOLEAN" and types["starts_on"] == "DATE"
    assert types["weight"].startswith("DECIMAL")


def test_its_own_layer_reads_it_and_the_dag_orders_it_first(mini: Path) -> None:
    project = Project.load(mini)
    assert project.dag.problems == []
    assert "stg.src__points" in project.dag.upstream["stg.src__scored"]
    code, out = run(mini, "build", "--select", "+stg.src__scored")
    assert code == 0, out
    assert query(mini, "SELECT item_id, points FROM stg.src__scored ORDER BY item_id") == [
        (1, 10), (2, -5), (3, None)]


def test_another_stg_table_is_still_not_readable_from_stg(mini: Path) -> None:
    miniproject.write(mini, "models/stg/src__scored.sql",
                      "SELECT item_id, CAST(NULL AS INT64) AS points FROM stg.src__items")
    problems = [str(p) for p in Project.load(mini).dag.problems]
    assert any("layer violation: stg.src__scored reads stg.src__items" in p for p in problems)


def test_a_value_is_an_inert_literal(mini: Path) -> None:
    hostile = "x'); DROP TABLE stg.src__items; --"
    miniproject.write(mini, "models/stg/src__points.csv",
                      f'code,points,weight,active,starts_on\n"{hostile}",1,,,\n"back\\slash ""q""",2,,,\n')
    code, out = run(mini, "build", "--select", "stg.src__items stg.src__points")
    assert code == 0, out
    assert query(mini, "SELECT code FROM stg.src__points ORDER BY points") == [(hostile,), ('back\\slash "q"',)]
    assert query(mini, "SELECT COUNT(*) FROM stg.src__items") == [(3,)]


@pytest.mark.parametrize(("csv", "where", "message"), [
    ("code,points,weight,active,starts_on\nAlpha,ten,,,\n", ":2", "column 'points': 'ten' is not a INT64"),
    ("code,points,weight,active,starts_on\nAlpha,1,,maybe,\n", ":2", "column 'active': 'maybe' is not a BOOL"),
    ("code,points,weight,active,starts_on\nAlpha,1,,,2023-02-30\n", ":2", "'2023-02-30' is not a DATE"),
    ("code,points,weight,active,starts_on\nAlpha,1,NaN,,\n", ":2", "'NaN' is not a NUMERIC"),
    ("code,points,weight,active,starts_on\n,1,,,\n", ":2", "column 'code' is required but empty"),
    ("code,points,weight,active,starts_on\nAlpha,1,,\n", ":2", "4 values where the header names 5 columns"),
    ("code,points,weight,active\nAlpha,1,,\n", ":1", "the header has no column 'starts_on'"),
    ("code,points,weight,active,starts_on,bonus\nA,1,,,,2\n", ":1", "column 'bonus' is not in the contract"),
    ("code,points,points,active,starts_on\nA,1,1,,\n", ":1", "column 'points' is named twice"),
    ('code,points,weight,active,starts_on\n"Alpha,1,,,\n', "", "malformed CSV"),
    ("", ":1", "the file is empty"),
])
def test_a_bad_file_is_refused_at_its_line_and_loses_nothing(mini: Path, csv: str, where: str,
                                                             message: str) -> None:
    assert run(mini, "build", "--select", "stg.src__points")[0] == 0
    before = query(mini, "SELECT * FROM stg.src__points ORDER BY code")
    miniproject.write(mini, "models/stg/src__points.csv", csv)
    code, out = run(mini, "build", "--select", "stg.src__points")
    assert code != 0
    assert f"models/stg/src__points.csv{where}" in out and message in out, out
    assert "Traceback" not in out
    assert query(mini, "SELECT * FROM stg.src__points ORDER BY code") == before


def test_a_classified_value_is_never_shown(mini: Path) -> None:
    contract = mini / "contracts/stg/src__points.odcs.yaml"
    text = contract.read_text()
    # classify the points column as confidential
    head, tail = text.split("      - name: points\n", 1)
    contract.write_text(head + "      - name: points\n" + tail.replace("classification: internal",
                                                                        "classification: confidential", 1))
    miniproject.write(mini, "models/stg/src__points.csv",
                      "code,points,weight,active,starts_on\nAlpha,s3cr3t-value,,,\n")
    code, out = run(mini, "build", "--select", "stg.src__points")
    assert code != 0 and "column 'points': the value is not a INT64" in out
    assert "s3cr3t-value" not in out


def test_an_oversized_file_is_refused(mini: Path) -> None:
    rows = "".join(f"c{i},{i},,,\n" for i in range(10_001))
    miniproject.write(mini, "models/stg/src__points.csv", "code,points,weight,active,starts_on\n" + rows)
    code, out = run(mini, "build", "--select", "stg.src__points")
    assert code != 0 and "more than 10,000 rows" in out


def test_diff_lists_each_changed_row_and_what_it_reaches(mini: Path, tmp_path: Path) -> None:
    base_root = tmp_path / "base"
    shutil.copytree(mini, base_root, ignore=shutil.ignore_patterns(".kcrm"))
    miniproject.write(mini, "models/stg/src__points.csv", """code,points,weight,active,starts_on
Alpha,12,0.25,true,2023-01-01
"Gamma, the third",0,,TRUE,2024-02-29
Delta,3,,,
""")
    report = diff_projects(Project.load(base_root, strict=False), Project.load(mini, strict=False))
    [table] = [t for t in report.tables if t.table == "stg.src__points"]
    messages = sorted(c.message for c in table.changes)
    assert messages == [
        "models/stg/src__points.csv: row added (code=Delta)",
        "models/stg/src__points.csv: row code=Alpha: points '10' -> '12'",
        "models/stg/src__points.csv: row removed (code=Beta)",
    ]
    assert table.impact is not None and "stg.src__scored" in table.impact.tables
    assert {a.username for a in table.impact.approvers} == {"maria.chen"}
    assert table.version is not None and table.version.ok  # data, not the contract: no version bump
    comment = to_markdown(report)
    section = comment.split("### Reference data changed and what it reaches", 1)[1]
    assert "row code=Alpha: points '10' -> '12'" in section and "`stg.src__scored`" in section


def test_the_shipped_internal_domain_list_builds(tmp_path: Path) -> None:
    from conftest import copy_project

    root = copy_project(tmp_path / "project")
    # --no-seed: the table reads only its CSV; without it an empty raw layer is seeded in full first
    code, out = run(root, "build", "--no-seed", "--select", "stg.reference__internal_domains")
    assert code == 0, out
    path = warehouse_path(root)
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT domain, includes_subdomains FROM stg.reference__internal_domains "
                           "ORDER BY domain").fetchall()
    assert rows == [("kcrm.com", True), ("kcrm.io", True)]


def test_only_known_types_reach_the_generated_sql(mini: Path) -> None:
    contract = mini / "contracts/stg/src__points.odcs.yaml"
    text = contract.read_text()
    head, tail = text.split("      - name: starts_on\n", 1)
    # a hostile type is refused when the contract loads; a real BigQuery type a reference file cannot
    # hold (JSON) is refused at the file, before any SQL is written
    contract.write_text(head + "      - name: starts_on\n"
                        + tail.replace("physicalType: DATE", "physicalType: \"DATE) AS x FROM read_text('/x') --\"", 1))
    code, out = run(mini, "build", "--select", "stg.src__points")
    assert code != 0 and "is not a BigQuery type" in out
    as_json = tail.replace("logicalType: date\n        physicalType: DATE",
                           "logicalType: object\n        physicalType: JSON", 1)
    contract.write_text(head + "      - name: starts_on\n" + as_json)
    code, out = run(mini, "build", "--select", "stg.src__points")
    assert code != 0 and "models/stg/src__points.csv:1" in out and "type 'JSON' cannot be written" in out, out

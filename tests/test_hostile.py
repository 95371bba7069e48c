"""The PR gate under attack: contracts and models written by a hostile contributor.

`kcrm-gov lint`, `check` and `test` run on every pull request, on BigQuery with production
credentials. Each case below plants one attack in a small project whose people table holds
planted personal data, runs the command a pull request would run, and asserts that

* the attack is refused with the file and line (and the documented exit code), or runs inert;
* a marker file that the payload would create does not exist (nothing ran);
* no planted value appears in any output: the console, ``.kcrm/runs``, the results files and
  the OpenLineage events.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from miniproject import contract_text, make

from kcrm_gov.cli import cli

PLANTED_EMAIL = "planted.secret@pii.example"
PLANTED_NAME = "Plantedname Secretsson"
PLANTED_CODE = "PLANTEDCODE-4242"
PLANTED = (PLANTED_EMAIL, PLANTED_NAME, PLANTED_CODE, "planted.secret")

PEOPLE_COLUMNS = """\
      - name: id
        logicalType: integer
        physicalType: INT64
        description: The person's id.
        classification: internal
        required: true
        primaryKey: true
        primaryKeyPosition: 1
      - name: email
        logicalType: string
        physicalType: STRING
        description: The person's e-mail address.
        classification: confidential
        tags: [pii]
      - name: full_name
        logicalType: string
        physicalType: STRING
        description: The person's name.
        classification: restricted
        tags: [pii]
      - name: role
        logicalType: string
        physicalType: STRING
        description: The person's sales role.
        classification: internal
        customProperties:
          - property: allowedValues
            value: [SDR, AE]
      - name: signup_code
        logicalType: string
        physicalType: STRING
        description: The code the person signed up with.
        classification: confidential
"""


def people_contract(layer: str, extra_columns: str = "", synced: bool = True) -> str:
    """A governance-complete contract for ``<layer>.src__people``."""
    columns = PEOPLE_COLUMNS + extra_columns
    sla = ""
    if synced:
        columns += """\
      - name: _fivetran_synced
        logicalType: timestamp
        physicalType: TIMESTAMP
        description: When the loader synced the row.
        classification: internal
        required: true
"""
        sla = ("slaProperties:\n  - property: freshness\n    value: 24\n    unit: h\n"
               "    element: src__people._fivetran_synced\n")
    custom = (f"  - property: layer\n    value: {layer}\n  - property: materialization\n    value: table\n"
              "  - property: source\n    value: src\n")
    return contract_text(layer, "src__people", columns, sla=sla, custom=custom,
                         purpose="People, for the hostile tests.", description="People.")


STG_PEOPLE_SQL = """SELECT
  id,
  email,
  full_name,
  role,
  signup_code,
  _fivetran_synced
FROM raw.src__people
"""

PEOPLE_ROWS = [
    (1, PLANTED_EMAIL, PLANTED_NAME, "SDR", PLANTED_CODE),
    (2, "ann@example.com", "Ann Example", "AE", "ABC-1"),
    (3, None, None, None, None),
]


def load_people(root: Path, rows: list[tuple] = PEOPLE_ROWS) -> None:
    import pyarrow as pa

    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project
    from kcrm_gov.typemap import to_arrow

    project = Project.load(root)
    contract = project.contract("raw.src__people")
    schema = pa.schema([pa.field(c.name, to_arrow(c.data_type)) for c in contract.columns])
    synced = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    data = pa.Table.from_pylist([{"id": i, "email": e, "full_name": n, "role": r, "signup_code": c,
                                  "_fivetran_synced": synced} for i, e, n, r, c in rows], schema=schema)
    with open_engine(project) as engine:
        engine.write_arrow(contract, data)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini project plus a people table with planted PII, built and checked once."""
    root = make(tmp_path_factory.mktemp("hostile") / "project")
    write(root, "contracts/raw/src__people.odcs.yaml", people_contract("raw"))
    write(root, "contracts/stg/src__people.odcs.yaml", people_contract("stg"))
    write(root, "models/stg/src__people.sql", STG_PEOPLE_SQL)
    from miniproject import ROWS, load_raw

    load_raw(root, ROWS)
    load_people(root)
    result = invoke(root, "build", "--no-seed")
    assert result.exit_code == 0, result.output
    result = invoke(root, "generate", "checks")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the built project (warehouse included) that a test may attack."""
    root = tmp_path / "project"
    shutil.copytree(built, root, ignore=shutil.ignore_patterns("cache"))
    for old in (root / ".kcrm" / "runs").glob("*"):
        old.unlink()  # outputs of this test only
    for name in ("build_results.json", "test_results.json", "freshness_results.json"):
        (root / ".kcrm" / name).unlink(missing_ok=True)
    events = root / ".kcrm" / "lineage"
    if events.exists():
        shutil.rmtree(events)
    yield root


NOW = "2024-01-02T06:00:00Z"
"""The people were synced on 2024-01-01: `test` measures freshness from here."""


def invoke(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], env={"KCRM_GOV_NOW": NOW, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"a traceback instead of a message: {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    return result


def marker(tmp_path: Path) -> Path:
    """The file a payload would create if it ran."""
    return tmp_path / "pwned.txt"


def outputs(root: Path, result: Result) -> str:
    """Everything a run left for people and tools to read: the console, the run artifacts, the
    results files and the lineage events (not the warehouse, where the data belongs)."""
    texts = [result.output]
    state = root / ".kcrm"
    for path in sorted(state.rglob("*")) if state.exists() else []:
        if path.is_file() and path.suffix in (".json", ".jsonl", ".log", ".txt", ".yml"):
            texts.append(path.read_text(errors="replace"))
    for folder in (root / "lineage" / "events",):
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file():
                texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def assert_clean(root: Path, result: Result, tmp_path: Path) -> None:
    """Nothing ran, and no planted value left the warehouse."""
    assert not marker(tmp_path).exists(), "the payload ran"
    text = outputs(root, result)
    for value in PLANTED:
        assert value not in text, f"planted value {value!r} in the output"


def set_in_contract(root: Path, rel: str, old: str, new: str) -> Path:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def popen(tmp_path: Path) -> str:
    """A Soda template payload that creates the marker file if it is ever rendered."""
    return "${ lipsum.__globals__.os.popen('touch " + str(marker(tmp_path)) + "').read() }"


STG_PEOPLE = "contracts/stg/src__people.odcs.yaml"
ROLE_ENUM = "            value: [SDR, AE]\n"  # the role column's allowed values


def add_role_rule(root: Path, rule_yaml: str) -> Path:
    """Add a quality rule (YAML lines at 10 spaces) to stg.src__people's role column."""
    return set_in_contract(root, STG_PEOPLE, ROLE_ENUM, ROLE_ENUM + "        quality:\n" + rule_yaml)


def add_table_rule(root: Path, rule_yaml: str) -> Path:
    return set_in_contract(root, STG_PEOPLE, "    properties:\n", "    quality:\n" + rule_yaml + "    properties:\n")


# --- 1. Soda templates in contract text --------------------------------------------------------------
@pytest.mark.parametrize("where", ["validValues", "name", "pattern"])
def test_template_in_contract_text_is_refused_by_lint_check_and_test(project: Path, tmp_path: Path,
                                                                     where: str) -> None:
    payload = popen(tmp_path)
    rules = {
        "validValues": f'          - {{type: library, metric: invalidValues, mustBe: 0, arguments: {{validValues: '
                       f'[SDR, "{payload}"]}}}}\n',
        "name": f'          - {{type: library, metric: invalidValues, mustBe: 0, name: "{payload}", '
                'arguments: {validValues: [SDR, AE]}}\n',
        "pattern": f'          - {{type: library, metric: invalidValues, mustBe: 0, arguments: {{pattern: '
                   f'"{payload}"}}}}\n',
    }
    path = add_role_rule(project, rules[where])
    line = line_of(path, "lipsum")
    lint = invoke(project, "lint")
    assert lint.exit_code == 1
    assert f"{STG_PEOPLE}:{line}:" in lint.output and "KG015" in lint.output and "template syntax" in lint.output
    check = invoke(project, "check")
    assert check.exit_code == 1 and f"{STG_PEOPLE}:{line}:" in check.output
    test = invoke(project, "test", "-s", "stg.src__people")
    assert test.exit_code != 0 and f"{STG_PEOPLE}:{line}:" in test.output and "template syntax" in test.output
    assert_clean(project, test, tmp_path)


def test_env_var_template_prints_no_environment_variable(project: Path, tmp_path: Path) -> None:
    secret = "planted-secret-token-9981"
    add_role_rule(project, '          - {type: library, metric: invalidValues, mustBe: 0, name: '
                           '"${ env_var(\'KCRM_HOSTILE_SECRET\') }", arguments: {validValues: [SDR, AE]}}\n')
    result = invoke(project, "test", "-s", "stg.src__people", env={"KCRM_HOSTILE_SECRET": secret})
    assert result.exit_code != 0 and "template syntax" in result.output
    assert secret not in outputs(project, result)
    assert_clean(project, result, tmp_path)


def test_template_in_a_quality_query_is_refused_but_own_placeholders_work(project: Path, tmp_path: Path) -> None:
    add_table_rule(project, "      - type: sql\n        query: SELECT COUNT(*) FROM ${table} WHERE role = 'SDR'\n"
                            "        mustBeGreaterThan: 0\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    assert invoke(project, "test", "-s", "stg.src__people").exit_code == 0  # ${table} is kcrm-gov's, replaced
    path = set_in_contract(project, STG_PEOPLE, "WHERE role = 'SDR'", f"WHERE role = '{popen(tmp_path)}'")
    result = invoke(project, "lint")
    assert result.exit_code == 1 and f"{STG_PEOPLE}:{line_of(path, 'lipsum')}:" in result.output
    assert_clean(project, invoke(project, "test", "-s", "stg.src__people"), tmp_path)


def test_jinja_statement_in_an_allowed_value_is_refused(project: Path, tmp_path: Path) -> None:
    path = set_in_contract(project, STG_PEOPLE, ROLE_ENUM,
                           "            value: [SDR, AE, \"{% for x in range(99999999) %}{% endfor %}\"]\n")
    result = invoke(project, "lint")
    assert result.exit_code == 1 and f"{STG_PEOPLE}:{line_of(path, 'range(')}:" in result.output
    test = invoke(project, "test", "-s", "stg.src__people")
    assert test.exit_code != 0 and "template syntax" in test.output


def test_template_syntax_in_prose_is_allowed(project: Path) -> None:
    set_in_contract(project, STG_PEOPLE, "description: The person's sales role.",
                    "description: \"The sales role (not a ${ template } and not {{ this }}).\"")
    assert invoke(project, "lint").exit_code == 0


# --- 2. models reading files, other layers, or anything but contracted tables ----------------------
STG_MODEL = "models/stg/src__people.sql"


@pytest.mark.parametrize("source", [
    "read_csv('/etc/passwd', header = false)",
    "read_text('/etc/passwd')",
    "read_parquet('/etc/passwd')",
    "read_json_auto('/etc/passwd')",
    "read_blob('/etc/passwd')",
    "sniff_csv('/etc/passwd')",
    "query('SELECT string_agg(email, \\',\\') FROM stg.src__people')",
    "query_table('raw.src__people')",
    "EXTERNAL_QUERY('conn', 'SELECT 1')",
    "generate_series(1, 3)",
])
def test_model_table_function_is_refused_with_file_line_col(project: Path, tmp_path: Path, source: str) -> None:
    write(project, STG_MODEL, f"SELECT 1 AS id\nFROM raw.src__people\nCROSS JOIN {source}\n")
    result = invoke(project, "check")
    assert result.exit_code == 1
    assert f"{STG_MODEL}:3:12: table function" in result.output and "is not allowed" in result.output
    build = invoke(project, "build", "--no-seed", "-s", "stg.src__people")
    assert build.exit_code == 1 and f"{STG_MODEL}:3:12" in build.output
    assert "root:" not in build.output  # no line of /etc/passwd
    assert_clean(project, build, tmp_path)


def test_model_reading_a_string_literal_as_a_file_is_refused(project: Path) -> None:
    write(project, STG_MODEL, "SELECT *\nFROM '/etc/passwd'\n")
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_MODEL}:2:6:" in result.output and "looks like a file" in result.output


def test_model_copying_another_layer_through_unnest_is_a_layer_violation(project: Path) -> None:
    # a subquery hidden inside UNNEST is a read like any other: stg may not read core
    write(project, STG_MODEL, "SELECT e AS email\nFROM UNNEST((SELECT ARRAY_AGG(item_name) FROM core.items)) AS e\n")
    result = invoke(project, "check")
    assert result.exit_code == 1
    assert f"{STG_MODEL}:2:" in result.output and "layer violation: stg.src__people reads core.items" in result.output


def test_model_with_a_three_part_name_is_refused(project: Path) -> None:
    write(project, STG_MODEL, "SELECT *\nFROM `other-project.raw.src__people`\n")
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_MODEL}:2:" in result.output and "<layer>.<table>" in result.output


def test_model_with_a_second_statement_is_refused(project: Path, tmp_path: Path) -> None:
    write(project, STG_MODEL, STG_PEOPLE_SQL.rstrip() + ";\nDROP TABLE raw.src__people;\n")
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_MODEL}:1:1: a model must be exactly one SELECT" in result.output
    build = invoke(project, "build", "--no-seed", "-s", "stg.src__people")
    assert build.exit_code == 1 and f"{STG_MODEL}:1:1" in build.output
    import duckdb

    with duckdb.connect(str(project / ".kcrm" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM raw.src__people").fetchone() == (3,)  # nothing was dropped


def test_model_calling_error_with_row_values_is_refused(project: Path, tmp_path: Path) -> None:
    write(project, STG_MODEL, STG_PEOPLE_SQL.replace("  email,", "  IF(id = 1, ERROR(CONCAT('x', email)), email) "
                                                                  "AS email,"))
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_MODEL}:3:" in result.output and "ERROR() is not allowed" in result.output
    build = invoke(project, "build", "--no-seed", "-s", "stg.src__people")
    assert build.exit_code == 1
    assert_clean(project, build, tmp_path)


def test_reading_functions_the_compiler_missed_still_fail_at_the_engine(project: Path) -> None:
    from kcrm_gov.engines import open_engine
    from kcrm_gov.engines.base import EngineError
    from kcrm_gov.project import Project

    secret = project / "secret.csv"
    secret.write_text("a\nplanted\n")
    with open_engine(Project.load(project)) as engine:
        for sql in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'",
                    f"SELECT * FROM read_text('{secret}')", "SELECT * FROM glob('/etc/*')",
                    f"COPY (SELECT 1) TO '{project / 'out.csv'}'", f"ATTACH '{project / 'other.duckdb'}' AS o",
                    "SET enable_external_access = true", "SET lock_configuration = false", "INSTALL httpfs",
                    "LOAD httpfs"):
            with pytest.raises(EngineError) as raised:
                engine.query_arrow(sql)
            assert "planted" not in str(raised.value)
        assert not (project / "out.csv").exists() and not (project / "other.duckdb").exists()
        # the engine still works: its own tables are readable
        assert engine.query_arrow("SELECT COUNT(*) AS n FROM stg.src__people").column(0)[0].as_py() == 3


# --- 3. values that are SQL, not data ------------------------------------------------------------------
def test_allowed_value_with_a_quote_is_one_literal(project: Path) -> None:
    set_in_contract(project, STG_PEOPLE, ROLE_ENUM, "            value: [SDR, AE, \"Partner's AE\"]\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    checks = (project / "checks/stg/src__people.yml").read_text()
    assert "'Partner''s AE'" in checks
    result = invoke(project, "test", "-s", "stg.src__people", "--json")
    assert result.exit_code == 0, result.output


def test_allowed_value_that_is_sql_injection_stays_a_value(project: Path) -> None:
    # if the value were pasted into SQL, `OR 1=1` would make every row valid and the check pass;
    # as one literal, the row with role NULL... and row 1 ('SDR') is not in the list: it fails
    set_in_contract(project, STG_PEOPLE, ROLE_ENUM, "            value: [AE, \"x') OR 1=1; --\"]\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    result = invoke(project, "test", "-s", "stg.src__people", "--json")
    assert result.exit_code == 1
    import json

    checks = {c["name"]: c for c in json.loads(result.output)["tables"][0]["checks"]}
    assert checks["allowed_values: role"]["outcome"] == "fail" and checks["allowed_values: role"]["value"] == 1


def test_date_bound_that_is_sql_is_refused_with_its_line(project: Path, tmp_path: Path) -> None:
    path = set_in_contract(project, STG_PEOPLE, "        description: When the loader synced the row.\n",
                           "        description: When the loader synced the row.\n        logicalTypeOptions:\n"
                           "          minimum: \"2020-01-01') OR TRUE OR ('\"\n")
    line = line_of(path, "minimum")
    result = invoke(project, "generate", "checks")  # unusable input: 2
    assert result.exit_code == 2 and f"{STG_PEOPLE}:{line}:" in result.output and "ISO date" in result.output
    check = invoke(project, "check")
    assert check.exit_code == 1 and f"{STG_PEOPLE}:{line}:" in check.output
    test = invoke(project, "test", "-s", "stg.src__people")
    assert test.exit_code == 2 and "ISO date" in test.output
    assert_clean(project, test, tmp_path)


def test_date_bound_is_one_literal_and_checked(project: Path) -> None:
    set_in_contract(project, STG_PEOPLE, "        description: When the loader synced the row.\n",
                    "        description: When the loader synced the row.\n        logicalTypeOptions:\n"
                    "          minimum: \"2024-01-01T13:00:00Z\"\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    assert "_fivetran_synced < '2024-01-01T13:00:00Z'" in (project / "checks/stg/src__people.yml").read_text()
    result = invoke(project, "test", "-s", "stg.src__people", "--json")
    import json

    checks = {c["name"]: c for c in json.loads(result.output)["tables"][0]["checks"]}
    assert checks["min: _fivetran_synced"]["outcome"] == "fail" and checks["min: _fivetran_synced"]["value"] == 3


def test_pattern_with_quotes_and_backslashes_is_one_literal(project: Path) -> None:
    set_in_contract(project, STG_PEOPLE, "        description: The code the person signed up with.\n",
                    "        description: The code the person signed up with.\n        logicalTypeOptions:\n"
                    "          pattern: \"^[A-Z]+-\\\\d+$|^it's$\"\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    result = invoke(project, "test", "-s", "stg.src__people", "--json")
    import json

    checks = {c["name"]: c for c in json.loads(result.output)["tables"][0]["checks"]}
    assert checks["pattern: signup_code"]["outcome"] == "pass", checks["pattern: signup_code"]


def test_column_name_that_is_sql_is_refused_by_lint_and_the_generator(project: Path, tmp_path: Path) -> None:
    path = set_in_contract(project, STG_PEOPLE, "      - name: role\n", "      - name: \"role) = 0 OR (1\"\n")
    lint = invoke(project, "lint")
    assert lint.exit_code == 1 and f"{STG_PEOPLE}:{line_of(path, 'OR (1')}:" in lint.output and "KG011" in lint.output
    test = invoke(project, "test", "-s", "stg.src__people")
    assert test.exit_code != 0 and "is not a safe identifier" in test.output
    assert_clean(project, test, tmp_path)


def test_relationship_target_that_is_sql_is_refused(project: Path) -> None:
    path = set_in_contract(project, STG_PEOPLE, ROLE_ENUM,
                           ROLE_ENUM + "        relationships:\n"
                           "          - to: \"src__items.item_id) OR (1=1\"\n            type: foreignKey\n")
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_PEOPLE}:{line_of(path, 'OR (1=1')}:" in result.output


# --- 4. quality SQL and custom Soda checks -------------------------------------------------------------
@pytest.mark.parametrize("query, reason", [
    ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", "table function read_csv"),
    ("SELECT COUNT(*) FROM ${table} WHERE email IN (SELECT content FROM read_text('/etc/passwd'))",
     "table function read_text"),
    ("SELECT COUNT(*) FROM main.secrets", "<layer>.<table>"),
    ("SELECT COUNT(*) FROM raw._quarantine", "which no contract defines"),
    ("SELECT COUNT(*) FROM ${table} WHERE ERROR(email) IS NULL", "ERROR() is not allowed"),
    ("SELECT COUNT(*) FROM ${table}; DROP TABLE stg.src__people", "exactly one SELECT"),
])
def test_quality_sql_is_held_to_the_model_allow_list(project: Path, tmp_path: Path, query: str, reason: str) -> None:
    path = add_table_rule(project, f"      - type: sql\n        query: \"{query}\"\n        mustBe: 0\n")
    line = line_of(path, "query:")
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_PEOPLE}:{line}:" in result.output and reason in result.output
    test = invoke(project, "test", "-s", "stg.src__people")
    assert test.exit_code != 0 and reason in test.output
    assert_clean(project, test, tmp_path)


def test_custom_soda_check_carrying_sql_is_refused(project: Path, tmp_path: Path) -> None:
    path = add_table_rule(project, "      - type: custom\n        engine: soda\n        implementation: |\n"
                                   "          failed rows:\n"
                                   "            fail query: SELECT * FROM read_csv('/etc/passwd')\n")
    result = invoke(project, "check")
    assert result.exit_code == 1 and f"{STG_PEOPLE}:{line_of(path, 'implementation')}:" in result.output
    assert "may not carry SQL" in result.output


def test_custom_soda_check_with_an_alias_bomb_is_refused_quickly(project: Path) -> None:
    bomb = "".join(f"            l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else '1'}]\n" for i in range(9))
    add_table_rule(project, "      - type: custom\n        engine: soda\n        implementation: |\n"
                            "          row_count > 0:\n" + bomb)
    start = time.perf_counter()
    result = invoke(project, "check")
    assert time.perf_counter() - start < 10
    assert result.exit_code == 1 and "anchor" in result.output


# --- 5. bounded parsing --------------------------------------------------------------------------------
BOMB = """lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize("text, line, reason", [
    (people_contract("stg") + BOMB, None, "anchor '&a' is not allowed"),
    (people_contract("stg") + "x: [" * 200 + "]" * 200 + "\n", None, "nested more than 64 levels"),
    (people_contract("stg").replace("  purpose: People", "  purpose: &p People"), 10, "anchor '&p'"),
    (people_contract("stg") + "# " + "x" * (1024 * 1024) + "\n", 1, "at most 1,048,576 bytes"),
])
def test_hostile_yaml_ends_fast_with_exit_2_and_a_location(project: Path, text: str, line: int | None,
                                                           reason: str) -> None:
    path = write(project, STG_PEOPLE, text)
    expected = line or len(people_contract("stg").splitlines()) + 1
    for command in ("lint", "check"):
        start = time.perf_counter()
        result = invoke(project, command)
        assert time.perf_counter() - start < 5
        assert result.exit_code == 2, result.output
        assert f"{STG_PEOPLE}:{expected}:" in result.output and reason in result.output
    assert path.exists()


def test_lint_of_an_alias_bomb_takes_under_a_second_in_process(project: Path) -> None:
    from kcrm_gov.errors import ContractError
    from kcrm_gov.yamlsource import parse_yaml

    start = time.perf_counter()
    with pytest.raises(ContractError, match="anchor"):
        parse_yaml(BOMB, Path("bomb.yaml"))
    assert time.perf_counter() - start < 1.0


# --- 6. no planted value in errors, logs, run results or lineage -------------------------------------
def test_build_error_casting_pii_carries_no_value(project: Path, tmp_path: Path) -> None:
    write(project, STG_MODEL, STG_PEOPLE_SQL.replace("  id,", "  CAST(email AS INT64) + id AS id,"))
    result = invoke(project, "build", "--no-seed", "-s", "stg.src__people")
    assert result.exit_code == 1
    assert "Bad int64 value in CAST(email AS INT64)" in result.output
    assert_clean(project, result, tmp_path)
    events = list((project / ".kcrm").rglob("*.jsonl")) + list((project / "lineage").rglob("*.json*"))
    assert events and any("errorMessage" in path.read_text() for path in events)


def test_build_error_from_the_engine_is_scrubbed(project: Path, tmp_path: Path) -> None:
    # DuckDB's own conversion message quotes the value; the scrubbed one keeps the column
    write(project, STG_MODEL, STG_PEOPLE_SQL.replace("  id,", "  id + CAST(CAST(full_name AS DATE) AS INT64) AS id,"))
    result = invoke(project, "build", "--no-seed", "-s", "stg.src__people")
    assert result.exit_code == 1 and "full_name" in result.output and "<redacted>" in result.output
    assert_clean(project, result, tmp_path)


def test_duplicate_key_of_pii_is_reported_by_count(project: Path, tmp_path: Path) -> None:
    write(project, STG_MODEL, STG_PEOPLE_SQL + "UNION ALL\n" + STG_PEOPLE_SQL)
    result = invoke(project, "build", "--no-seed", "-s", "stg.src__people")
    assert result.exit_code == 1 and "is not unique in the model's output: 3 key values repeated" in result.output
    assert_clean(project, result, tmp_path)


def test_quality_rule_failing_at_run_time_carries_no_value(project: Path, tmp_path: Path) -> None:
    add_table_rule(project, "      - type: sql\n        query: SELECT COUNT(*) FROM ${table} WHERE "
                            "CAST(full_name AS INT64) > 0\n        mustBe: 0\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    result = invoke(project, "test", "-s", "stg.src__people")
    assert result.exit_code == 1
    assert_clean(project, result, tmp_path)


def test_failed_rows_of_pii_columns_are_masked(project: Path, tmp_path: Path) -> None:
    set_in_contract(project, STG_PEOPLE, ROLE_ENUM, "            value: [AE]\n")
    assert invoke(project, "generate", "checks").exit_code == 0
    result = invoke(project, "test", "-s", "stg.src__people", "--json")
    assert result.exit_code == 1 and "***" in result.output
    assert_clean(project, result, tmp_path)


def test_load_of_a_bad_row_carries_no_value(project: Path, tmp_path: Path) -> None:
    csv = write(project, "people.csv", "id,email,full_name,role,signup_code,_fivetran_synced\n"
                                       f"x9,{PLANTED_EMAIL},{PLANTED_NAME},SDR,{PLANTED_CODE},2024-01-02 00:00:00\n")
    result = invoke(project, "load", "raw.src__people", str(csv), "--json")
    assert result.exit_code == 0 and '"quarantined": 1' in result.output
    assert_clean(project, result, tmp_path)


def test_load_of_a_garbled_file_carries_no_value(project: Path, tmp_path: Path) -> None:
    csv = write(project, "people.csv", "id,email,full_name,role,signup_code,_fivetran_synced\n"
                                       f"1,\"{PLANTED_EMAIL},{PLANTED_NAME},SDR\n")
    result = invoke(project, "load", "raw.src__people", str(csv))
    assert result.exit_code == 2 and "people.csv" in result.output
    assert_clean(project, result, tmp_path)


def test_freshness_of_a_sensitive_element_shows_no_value(project: Path, tmp_path: Path) -> None:
    set_in_contract(project, STG_PEOPLE, "        description: When the loader synced the row.\n        "
                                         "classification: internal\n",
                    "        description: When the loader synced the row.\n        classification: restricted\n")
    result = invoke(project, "freshness", "-s", "stg.src__people", "--now", "2024-01-02T06:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    assert "2024-01-01T12:00:00" not in outputs(project, result)
    assert_clean(project, result, tmp_path)


# --- the engines' own scrubbing ---------------------------------------------------------------------
@pytest.mark.parametrize("message, value", [
    ("Conversion Error: Could not convert string 'ann@example.com' to INT64 when casting from source column email",
     "ann@example.com"),
    ("Conversion Error: Type INT64 with value 5551234567 can't be cast because the value is out of range for the "
     "destination type INT32", "5551234567"),
    ('Invalid Input Error: Could not parse string "Ann Smith" according to format specifier "%Y"\nAnn Smith\n ^',
     "Ann Smith"),
    ('Constraint Error: PRIMARY KEY or UNIQUE constraint violation: duplicate key "Ann Smith"', "Ann Smith"),
    ("Bad int64 value: Ann Smith", "Ann Smith"),
    ('Invalid Input Error: Malformed JSON at byte 1 of input: unexpected character.  Input: "{Ann"', "{Ann"),
    ("Out of Range Error: Overflow in multiplication of INT64 (5551234567 * 1000)!", "5551234567"),
])
def test_scrub_removes_values_and_keeps_names(message: str, value: str) -> None:
    from kcrm_gov.redact import scrub, sql_words

    keep = sql_words("SELECT CAST(email AS INT64), strptime(name, '%Y') FROM t", "duckdb") | {"email"}
    scrubbed = scrub(message, keep)
    assert value not in scrubbed and "<redacted>" in scrubbed
    assert "Error" in scrubbed or "Bad int64" in scrubbed
    if "column email" in message:
        assert "column email" in scrubbed


def test_scrub_keeps_identifiers_from_the_sql() -> None:
    from kcrm_gov.redact import scrub, sql_words

    message = 'Binder Error: Referenced column "emial" not found in FROM clause!\nCandidate bindings: "email"'
    assert scrub(message, sql_words("SELECT emial FROM t", "duckdb") | {"email"}) == message


def test_outputs_helper_would_see_a_leak(project: Path, tmp_path: Path) -> None:
    # the grep is only worth something if a planted value in any artifact is found
    (project / ".kcrm" / "runs").mkdir(parents=True, exist_ok=True)
    (project / ".kcrm" / "runs" / "probe.json").write_text(f'{{"x": "{PLANTED_EMAIL}"}}')
    result = invoke(project, "lint")
    with pytest.raises(AssertionError, match="planted value"):
        assert_clean(project, result, tmp_path)
    assert re.search("planted", outputs(project, result))

"""Contract text through every generator, for arbitrary strings (Hypothesis).

Allowed values, patterns, descriptions and rule names arrive in pull requests. Whatever
characters they hold (quotes, backslashes, newlines, unicode, template syntax), each output
must parse (sqlglot for SQL, YAML and Soda Core's own parser for SodaCL) and keep the value as
one inert literal; text that Soda would evaluate as a template is refused instead.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
import yaml
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from kcrm_gov.checks.sodacl import CheckGenerationError, generate_table_checks
from kcrm_gov.config import Target
from kcrm_gov.contracts import Contract, parse_contract
from kcrm_gov.escape import template_marker
from kcrm_gov.yamlsource import parse_yaml

# Quotes, backslashes, newlines, unicode and template syntax, mixed with anything else
SPECIAL = ["'", '"', "\\", "\n", "\r\n", "\t", "${", "{{", "{%", "{#", "}", "$", "%", "?", ";", "--", "/*", "`",
           "é", "✓", "\u2028", "😀", " ", "%s", "{x}", "') OR 1=1 --", "\\'"]
TEXT = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(min_size=0, max_size=8)), min_size=1, max_size=6) \
    .map("".join).filter(lambda s: s.strip() != "" and "\x00" not in s)  # NUL: refused by the loader (below)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DUCKDB = Target(name="local", type="duckdb")
BIGQUERY = Target(name="prod", type="bigquery", project="kcrm-test", dataset_prefix="kcrm_")


def contract_with(column: dict[str, Any], table_quality: list[dict[str, Any]] | None = None,
                  description: str = "People.") -> Contract:
    """A contract built from Python values, written as YAML and read back through kcrm-gov's loader."""
    schema: dict[str, Any] = {
        "name": "src__people", "physicalName": "src__people", "physicalType": "table", "description": description,
        "properties": [
            {"name": "id", "logicalType": "integer", "physicalType": "INT64", "description": "Id.",
             "classification": "internal", "required": True, "primaryKey": True, "primaryKeyPosition": 1},
            {"name": "role", "logicalType": "string", "physicalType": "STRING", "description": description,
             "classification": "internal", **column},
        ]}
    if table_quality:
        schema["quality"] = table_quality
    data = {"apiVersion": "v3.2.0", "kind": "DataContract", "id": "kcrm.stg.src__people", "name": "stg.src__people",
            "version": "1.0.0", "status": "active", "schema": [schema]}
    # escaped (not allow_unicode): PyYAML's own emitter writes U+0085 unescaped, which YAML then reads as a break
    doc = parse_yaml(yaml.safe_dump(data), Path("contracts/stg/src__people.odcs.yaml"))
    return parse_contract(doc, "stg", "src__people")


def soda_checks(text: str) -> list[Any]:
    """The check configurations Soda Core's own parser builds from SodaCL ``text``."""
    from kcrm_gov.checks.scan import soda_offline
    from kcrm_gov.checks.soda_parser import add_sodacl

    soda_offline(Path(".kcrm"))
    from soda.scan import Scan

    scan = Scan()
    scan.set_data_source_name("kcrm_stg")
    add_sodacl(scan, text, "checks/stg/src__people.yml")
    errors = [log for log in scan._logs.logs if str(getattr(log.level, "name", log.level)) == "ERROR"]
    assert not errors, [str(e.message) for e in errors]
    return [check for cfg in scan._sodacl_cfg.data_source_scan_cfgs.values() for table in cfg.tables_cfgs.values()
            for partition in table.partition_cfgs for check in partition.check_cfgs]


def check_named(text: str, prefix: str) -> dict[str, Any]:
    """The SodaCL check (YAML-parsed) whose name starts with ``prefix``."""
    loaded = yaml.safe_load(text)
    ((_, items),) = loaded.items()
    for item in items:
        ((key, config),) = item.items()
        if str(config.get("name", "")).startswith(prefix):
            return {"key": key, **config}
    raise AssertionError(f"no check named {prefix!r}")


def literals(sql: str, dialect: str) -> list[str]:
    return [lit.this for lit in sqlglot.parse_one(sql, read=dialect).find_all(exp.Literal) if lit.is_string]


def generated(contract: Contract, target: Target) -> str | None:
    """The checks' SodaCL, or None when the generator refused the contract."""
    try:
        return generate_table_checks(contract, target, {"id": "bigint", "role": "varchar"}).text
    except CheckGenerationError as exc:
        assert "template syntax" in exc.message and exc.location is not None and exc.location.line > 0
        return None


@SETTINGS
@given(value=TEXT)
def test_allowed_value_is_one_inert_literal(value: str) -> None:
    contract = contract_with({"customProperties": [{"property": "allowedValues", "value": ["SDR", value]}]})
    for target in (DUCKDB, BIGQUERY):
        text = generated(contract, target)
        if template_marker(value):
            assert text is None, "template syntax reached the SodaCL"
            continue
        assert text is not None
        condition = check_named(text, "allowed_values: role")["fail condition"]
        assert literals(condition, target.type) == ["SDR", value]
        if target is DUCKDB:
            (soda,) = [c for c in soda_checks(text) if c.name == "allowed_values: role"]
            assert soda.fail_condition_sql_expr == condition  # Soda reads it back unchanged
            con = duckdb.connect()
            con.execute("CREATE TABLE t (role VARCHAR)")
            con.execute("INSERT INTO t VALUES (?), (?), (?)", [value, "SDR", value + "x"])
            failed = con.execute(f"SELECT role FROM t WHERE {condition}").fetchall()
            assert failed == [(value + "x",)]  # only the value that is not allowed fails


@SETTINGS
@given(pattern=TEXT)
def test_pattern_is_one_inert_literal(pattern: str) -> None:
    contract = contract_with({"logicalTypeOptions": {"pattern": pattern}})
    for target in (DUCKDB, BIGQUERY):
        text = generated(contract, target)
        if template_marker(pattern):
            assert text is None
            continue
        assert text is not None
        condition = check_named(text, "pattern: role")["fail condition"]
        assert literals(condition, target.type) == [pattern]
        regex = next(sqlglot.parse_one(condition, read=target.type).find_all(exp.RegexpLike))
        assert regex.expression.this == pattern


@SETTINGS
@given(name=TEXT, value=TEXT)
def test_rule_name_and_invalid_value_stay_inert(name: str, value: str) -> None:
    rule = {"type": "library", "metric": "invalidValues", "mustBe": 0, "name": name,
            "arguments": {"invalidValues": [value]}}
    contract = contract_with({"quality": [rule]})
    text = generated(contract, DUCKDB)
    if template_marker(name) or template_marker(value):
        assert text is None
        return
    assert text is not None
    check = check_named(text, "quality: role #1")
    assert check["name"] == "quality: role #1 " + " ".join(name.split())  # one line, the name's own words
    assert literals(check["fail condition"], "duckdb") == [value]
    names = [c.name for c in soda_checks(text)]
    assert check["name"] in names


@SETTINGS
@given(description=TEXT)
def test_description_is_one_literal_in_ddl_and_inert_in_the_catalog(description: str) -> None:
    from kcrm_gov.catalog.templates import inline
    from kcrm_gov.ddl import bigquery as bigquery_ddl
    from kcrm_gov.ddl import duckdb as duckdb_ddl

    contract = contract_with({}, description=description)
    # DuckDB: the statements run, and the comment reads back as written
    con = duckdb.connect()
    con.execute("CREATE SCHEMA stg")
    for statement in duckdb_ddl.create_table(contract, "stg"):
        con.execute(statement)
    comments = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'src__people'").fetchone()
    assert comments == (description.strip(),)
    (role_comment,) = con.execute("SELECT comment FROM duckdb_columns() WHERE column_name = 'role'").fetchone()
    assert role_comment == description.strip()
    # BigQuery: OPTIONS(description=...) parses, with the (folded) description as one literal
    sql = bigquery_ddl.create_table(contract, "kcrm-test", "kcrm_stg")
    folded = " ".join(description.split())
    assert folded in literals(sql, "bigquery")
    # catalog: no markup survives, and the text reads back as written (whitespace folded)
    shown = inline(description)
    bare = re.sub(r"&#?\w+;", "", shown.replace("<code>", "").replace("</code>", ""))
    assert not set(bare) & set("<>*_[]|`{}#&!\\"), shown  # only entities and our own <code> tags
    assert html.unescape(shown.replace("<code>", "`").replace("</code>", "`")) == folded


@SETTINGS
@given(query_value=TEXT)
def test_quality_sql_literal_survives_translation(query_value: str) -> None:
    assume("\r" not in query_value)  # YAML folds a lone CR in a plain scalar; it is not SQL's business
    literal = exp.Literal.string(query_value).sql(dialect="bigquery")
    rule = {"type": "sql", "query": f"SELECT COUNT(*) FROM ${{table}} WHERE role = {literal}", "mustBe": 0}
    contract = contract_with({}, table_quality=[rule])
    for target in (DUCKDB, BIGQUERY):
        text = generated(contract, target)
        if template_marker(query_value, placeholders=True):
            assert text is None
            continue
        assert text is not None
        condition = check_named(text, "quality: table #1")["fail condition"]
        assert literals(condition, target.type) == [query_value]


def test_the_property_tests_exercise_refusals_and_literals() -> None:
    # the strategy produces both kinds of input: template syntax, and plain text with quotes and breaks
    assert template_marker(find(TEXT, lambda s: template_marker(s) is not None))
    plain = find(TEXT, lambda s: not template_marker(s) and "'" in s and "\\" in s and "\n" in s)
    assert "'" in plain and "\\" in plain


def test_a_nul_character_is_refused_by_the_loader_with_its_line() -> None:
    from kcrm_gov.errors import ContractError

    with pytest.raises(ContractError, match="NUL") as raised:
        contract_with({"customProperties": [{"property": "allowedValues", "value": ["a\x00b"]}]})
    assert raised.value.location is not None and raised.value.location.line > 1


@pytest.mark.parametrize("value", ["${ 7*7 }", "{{ 7*7 }}", "{% if 1 %}x{% endif %}", "{# c #}"])
def test_template_syntax_is_refused_with_its_line(value: str) -> None:
    contract = contract_with({"customProperties": [{"property": "allowedValues", "value": [value]}]})
    with pytest.raises(CheckGenerationError, match="template syntax") as raised:
        generate_table_checks(contract, DUCKDB, {})
    assert raised.value.location is not None and raised.value.location.line > 1

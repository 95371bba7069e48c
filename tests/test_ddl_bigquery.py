"""BigQuery DDL, JSON table schema and policy tags from the shipped contracts (no emulator needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from kcrm_gov import typemap
from kcrm_gov.contracts import Contract
from kcrm_gov.ddl import bigquery as bq
from kcrm_gov.errors import ConfigError
from kcrm_gov.policy_tags import column_policy_tags, load_taxonomy, parse_taxonomy
from kcrm_gov.project import Project

REPO = Path(__file__).resolve().parent.parent

PROJECT = "kcrm-analytics-prod"
TAXONOMY = "projects/kcrm-analytics-prod/locations/eu/taxonomies/4723016593188261547"
CONFIDENTIAL = f"{TAXONOMY}/policyTags/2841937710464230118"
RESTRICTED = f"{TAXONOMY}/policyTags/6093515247826159940"
PII = f"{TAXONOMY}/policyTags/8150327916502843571"

# Every leaf of raw.ga4__events that must carry a policy tag, and which (nested paths included).
GA4_TAGS = {
    "event_params.value.string_value": CONFIDENTIAL,
    "user_id": PII,  # restricted + pii: the stricter pii tag wins
    "user_pseudo_id": PII,  # confidential + pii
    "user_properties.value.string_value": CONFIDENTIAL,
    "collected_traffic_source.gclid": CONFIDENTIAL,
}


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.load(REPO, strict=False)


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy(REPO)


def contracts(project: Project) -> list[Contract]:
    return project.ordered()


def with_properties(contract: Contract, **props: object) -> Contract:
    """A copy of ``contract`` whose top-level customProperties are changed."""
    copy = dataclasses.replace(contract)
    copy.__dict__["properties"] = {**contract.properties, **props}
    return copy


def column_defs(node: exp.Expression, prefix: str = "") -> dict[str, exp.ColumnDef]:
    """Every ColumnDef of a parsed CREATE (top-level and nested) by dotted path."""
    out: dict[str, exp.ColumnDef] = {}
    defs = node.expressions if isinstance(node, (exp.Schema, exp.DataType)) else []
    for d in defs:
        if isinstance(d, exp.DataType):  # ARRAY<STRUCT<...>>: the element type
            out.update(column_defs(d, prefix))
        elif isinstance(d, exp.ColumnDef):
            path = f"{prefix}{d.name}"
            out[path] = d
            kind = d.args.get("kind")
            if kind is not None:
                out.update(column_defs(kind, path + "."))
    return out


def description_of(d: exp.ColumnDef) -> str | None:
    for constraint in d.args.get("constraints") or []:
        kind = constraint.args.get("kind")  # not `.kind`: compiled sqlglot types it as a constraint kind
        if isinstance(kind, exp.Properties):
            for prop in kind.expressions:
                if prop.name == "description":
                    return prop.args["value"].this
    return None


def not_null(d: exp.ColumnDef) -> bool:
    return any(isinstance(c.args.get("kind"), exp.NotNullColumnConstraint) for c in d.args.get("constraints") or [])


# --- every shipped contract -----------------------------------------------------------------------
def test_every_contract_ddl_parses_and_round_trips(project: Project) -> None:
    shipped = contracts(project)
    assert len(shipped) >= 20
    for contract in shipped:
        for compat in (False, True):
            ddl = bq.create_table(contract, PROJECT, f"kcrm_{contract.layer}", key_constraints=not compat,
                                  nested_required=not compat)
            create = sqlglot.parse_one(ddl, read="bigquery")
            assert isinstance(create, exp.Create), contract.qualified_name
            table = create.this.this
            assert (table.catalog, table.db, table.name) == (PROJECT, f"kcrm_{contract.layer}", contract.table)
            defs = column_defs(create.this)
            paths = [p for p, _ in contract.all_columns()]
            assert list(defs) == paths, contract.qualified_name
            for path, column in contract.all_columns():
                d = defs[path]
                # the type the DDL spells is the contract's type, nested fields included
                assert typemap.to_bigquery(_without_constraints(d.args["kind"])) == column.bigquery_type, path
                assert description_of(d) == " ".join(column.description.split()), path
                top = "." not in path
                expected_not_null = column.required and column.data_type.this != exp.DataType.Type.ARRAY and (
                    top or not compat)
                assert not_null(d) == expected_not_null, path
            keys = list(create.this.find_all(exp.PrimaryKey))
            if contract.primary_key and not compat:
                assert [i.name for i in keys[0].expressions] == contract.primary_key
                assert "NOT ENFORCED" in ddl
            else:
                assert not keys
            assert ("FOREIGN KEY" in ddl) == (not compat and bool(bq.foreign_keys(contract)))


def _without_constraints(dt: exp.DataType) -> exp.DataType:
    copy = dt.copy()
    for d in copy.find_all(exp.ColumnDef):
        d.set("constraints", None)
    return copy


def test_ga4_nested_fields_in_ddl(project: Project) -> None:
    ga4 = project.contract("raw.ga4__events")
    ddl = bq.create_table(ga4, PROJECT, "kcrm_raw")
    defs = column_defs(sqlglot.parse_one(ddl, read="bigquery").this)
    for path in ("event_params.key", "event_params.value.string_value", "event_params.value.double_value",
                 "user_properties.value.set_timestamp_micros", "device.web_info.browser",
                 "collected_traffic_source.gclid"):
        assert description_of(defs[path]), path
    assert defs["event_params"].args["kind"].sql("bigquery").startswith("ARRAY<STRUCT<key STRING")
    assert "PARTITION BY _PARTITIONDATE" in ddl
    assert "CLUSTER BY event_name, user_pseudo_id" in ddl
    assert ("'classification', 'restricted'") in ddl  # user_id is restricted
    assert "PRIMARY KEY (user_pseudo_id, event_timestamp, event_name, event_bundle_sequence_id) NOT ENFORCED" in ddl


def test_keys_partitioning_clustering_and_options(project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    ddl = bq.create_table(deals, PROJECT, "kcrm_raw", replace=True)
    assert ddl.startswith(f"CREATE OR REPLACE TABLE `{PROJECT}.kcrm_raw.hubspot__deals` (")
    assert "PRIMARY KEY (deal_id) NOT ENFORCED" in ddl
    assert (f"FOREIGN KEY (owner_id) REFERENCES `{PROJECT}.kcrm_raw.hubspot__owners`(owner_id) NOT ENFORCED"
            in ddl)
    assert "PARTITION BY DATE(_fivetran_synced)" in ddl
    assert "CLUSTER BY deal_id" in ddl
    create = sqlglot.parse_one(ddl, read="bigquery")
    fks = list(create.find_all(exp.ForeignKey))
    assert {fk.expressions[0].name for fk in fks} == {"deal_pipeline_stage_id", "owner_id"}
    labels = bq.table_labels(deals)
    assert labels == {"layer": "raw", "domain": "sales", "owner": "revops", "classification": "confidential"}
    assert "labels=[('layer', 'raw'), ('domain', 'sales'), ('owner', 'revops'), ('classification', " \
           "'confidential')]" in ddl


@pytest.mark.parametrize(("granularity", "expected"), [
    ("DAY", "DATE(_fivetran_synced)"),
    ("MONTH", "TIMESTAMP_TRUNC(_fivetran_synced, MONTH)"),
    ("HOUR", "TIMESTAMP_TRUNC(_fivetran_synced, HOUR)"),
])
def test_timestamp_partition_granularity(project: Project, granularity: str, expected: str) -> None:
    deals = with_properties(project.contract("raw.hubspot__deals"), partitionGranularity=granularity)
    assert bq.partition_expression(deals) == expected
    sqlglot.parse_one(bq.create_table(deals, PROJECT, "kcrm_raw"), read="bigquery")


def test_date_and_ingestion_partitioning(project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    as_date = dataclasses.replace(deals, columns=[
        dataclasses.replace(c, data_type=typemap.parse_bigquery_type("DATE")) if c.partitioned else c
        for c in deals.columns])
    assert bq.partition_expression(as_date) == "_fivetran_synced"
    assert bq.partition_expression(with_properties(as_date, partitionGranularity="MONTH")) == \
        "DATE_TRUNC(_fivetran_synced, MONTH)"
    with pytest.raises(bq.DdlError, match="HOUR"):
        bq.partition_expression(with_properties(as_date, partitionGranularity="HOUR"))
    ingestion = with_properties(deals, partitioning="ingestion_time")
    assert bq.partition_expression(ingestion) == "_PARTITIONDATE"
    assert bq.partition_expression(with_properties(ingestion, partitionGranularity="MONTH")) == \
        "TIMESTAMP_TRUNC(_PARTITIONTIME, MONTH)"
    # BigQuery refuses to CTAS into an ingestion-time partitioned table: say so before it does
    with pytest.raises(bq.DdlError, match="ingestion-time"):
        bq.create_table(ingestion, PROJECT, "kcrm_raw", as_select="SELECT 1")


def test_bad_partitioning_and_clustering_are_refused(project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    with pytest.raises(bq.DdlError, match="partitionGranularity"):
        bq.create_table(with_properties(deals, partitionGranularity="WEEK"), PROJECT, "kcrm_raw")
    with pytest.raises(bq.DdlError, match="unknown top-level columns: nope"):
        bq.create_table(with_properties(deals, clusterBy=["deal_id", "nope"]), PROJECT, "kcrm_raw")
    with pytest.raises(bq.DdlError, match="at most 4"):
        bq.create_table(with_properties(deals, clusterBy=["deal_id"] * 5), PROJECT, "kcrm_raw")


def test_as_select_and_strings_are_escaped(project: Project) -> None:
    owners = project.contract("raw.hubspot__owners")
    nasty = "it's a \\ back'slash\nand a newline, `ticks` and \"quotes\""
    first = dataclasses.replace(owners.columns[0], description=nasty)
    contract = dataclasses.replace(owners, columns=[first, *owners.columns[1:]])
    ddl = bq.create_table(contract, PROJECT, "kcrm_raw", replace=True, table="__kcrm_build__x",
                          as_select="SELECT * FROM `p.d.t`")
    create = sqlglot.parse_one(ddl, read="bigquery")
    assert create.this.this.name == "__kcrm_build__x"
    assert isinstance(create.expression, exp.Select)
    # descriptions are folded to one line (as YAML folds them) and survive quoting exactly
    assert description_of(column_defs(create.this)[first.name]) == " ".join(nasty.split())


def test_reserved_words_are_quoted(project: Project) -> None:
    owners = project.contract("raw.hubspot__owners")
    odd = dataclasses.replace(owners.columns[0], name="select")
    contract = with_properties(dataclasses.replace(owners, columns=[odd]), clusterBy=["select"])
    ddl = bq.create_table(contract, PROJECT, "kcrm_raw")
    assert "`select` INT64" in ddl and "CLUSTER BY `select`" in ddl
    sqlglot.parse_one(ddl, read="bigquery")


def test_foreign_keys_stay_in_the_layer(project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    refs = ("hubspot__deals.deal_id", "stg.x.y", "raw.hubspot__owners.owner_id")
    col = dataclasses.replace(deals.columns[0], references=refs)
    contract = dataclasses.replace(deals, columns=[col])
    # a self-reference and a reference into another dataset are not BigQuery foreign keys
    assert bq.foreign_keys(contract) == [("deal_id", "hubspot__owners", "owner_id")]


def test_creation_order_puts_referenced_tables_first(project: Project) -> None:
    ordered = [c.table for c in bq.creation_order(project.layer("raw"))]
    assert len(ordered) == len(project.layer("raw"))
    for contract in project.layer("raw"):
        for _, ref_table, _ in bq.foreign_keys(contract):
            assert ordered.index(ref_table) < ordered.index(contract.table), (contract.table, ref_table)


def test_label_values_are_sanitised() -> None:
    assert bq.label_value("Marketing Ops/EU") == "marketing_ops_eu"
    assert bq.label_value("raw__Hubspot__deals") == "raw__hubspot__deals"
    assert len(bq.label_value("x" * 100)) == 63


# --- JSON schema and policy tags ------------------------------------------------------------------
def _walk(fields: list[dict], prefix: str = "") -> dict[str, dict]:
    out = {}
    for f in fields:
        path = f"{prefix}{f['name']}"
        out[path] = f
        out.update(_walk(f.get("fields", []), path + "."))
    return out


def test_ga4_nested_fields_in_json_schema_and_policy_tags(project: Project, taxonomy) -> None:
    ga4 = project.contract("raw.ga4__events")
    assert column_policy_tags(ga4, taxonomy) == GA4_TAGS
    schema = bq.json_schema(ga4, taxonomy)
    fields = _walk(schema)
    assert list(fields) == [p for p, _ in ga4.all_columns()]
    assert fields["event_params"]["type"] == "RECORD" and fields["event_params"]["mode"] == "REPEATED"
    assert fields["event_params.value"]["type"] == "RECORD" and fields["event_params.value"]["mode"] == "NULLABLE"
    assert fields["event_params.value.int_value"]["type"] == "INTEGER"
    assert fields["event_params.value.double_value"]["type"] == "FLOAT"
    assert fields["device.web_info"]["type"] == "RECORD"
    assert fields["event_timestamp"]["mode"] == "REQUIRED"
    assert fields["_loaded_at"]["type"] == "TIMESTAMP"
    tagged = {p: f["policyTags"]["names"] for p, f in fields.items() if "policyTags" in f}
    assert tagged == {p: [t] for p, t in GA4_TAGS.items()}
    assert all("fields" not in fields[p] for p in tagged)  # leaves only
    assert all(f.get("description") for f in fields.values())


def test_json_schema_of_every_contract_is_accepted_by_the_client(project: Project, taxonomy) -> None:
    from google.cloud.bigquery import SchemaField

    for contract in contracts(project):
        schema = bq.json_schema(contract, taxonomy)
        parsed = [SchemaField.from_api_repr(f) for f in schema]
        assert [f.to_api_repr() for f in parsed] == [_client_repr(f) for f in schema], contract.qualified_name
        types = {f["type"] for f in _walk(schema).values()}
        assert types <= {"INTEGER", "STRING", "BOOLEAN", "FLOAT", "NUMERIC", "BIGNUMERIC", "TIMESTAMP", "DATE",
                         "DATETIME", "TIME", "JSON", "BYTES", "RECORD"}, contract.qualified_name


def _client_repr(field: dict) -> dict:
    """What the client writes back for a field we wrote (it adds nothing, drops nothing)."""
    from google.cloud.bigquery import SchemaField

    return SchemaField.from_api_repr(field).to_api_repr()


def test_numeric_precision_in_json_schema(project: Project) -> None:
    deals = project.contract("raw.hubspot__deals")
    amount = dataclasses.replace(deals.column("property_amount"),
                                 data_type=typemap.parse_bigquery_type("NUMERIC(12, 2)"))
    [field] = bq.json_schema(dataclasses.replace(deals, columns=[amount]))
    assert field | {"description": None} == {"name": "property_amount", "type": "NUMERIC", "mode": "NULLABLE",
                                             "precision": "12", "scale": "2", "description": None}


def test_taxonomy_file_and_rules(taxonomy) -> None:
    assert taxonomy.resource == TAXONOMY
    assert taxonomy.tag_for("confidential") == CONFIDENTIAL
    assert taxonomy.tag_for("restricted") == RESTRICTED
    assert taxonomy.tag_for("internal") is None and taxonomy.tag_for("public") is None
    assert taxonomy.tag_for("internal", pii=True) == PII
    assert taxonomy.tag_for(None) is None


def test_taxonomy_errors_name_the_problem(tmp_path: Path) -> None:
    where = Path("catalog/policy_tags.yml")
    with pytest.raises(ConfigError, match="taxonomy resource name"):
        parse_taxonomy({"taxonomy": {"resource": "taxonomies/1"}}, where)
    with pytest.raises(ConfigError, match="not a classification"):
        parse_taxonomy({"taxonomy": {"resource": TAXONOMY}, "policyTags": {"secret": {"id": "1"}}}, where)
    with pytest.raises(ConfigError, match="numeric policy tag id"):
        parse_taxonomy({"taxonomy": {"resource": TAXONOMY}, "policyTags": {"restricted": {"id": "abc"}}}, where)
    (tmp_path / "catalog").mkdir()
    assert load_taxonomy(tmp_path) is None
    (tmp_path / "catalog" / "policy_tags.yml").write_text("taxonomy:\n  resource: nope\n")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(tmp_path)
    assert info.value.location is not None and info.value.location.line == 2


def test_classification_is_inherited_by_unclassified_leaves(project: Project, taxonomy) -> None:
    ga4 = project.contract("raw.ga4__events")
    params = ga4.column("event_params")
    value = next(f for f in params.fields if f.name == "value")
    bare = [dataclasses.replace(f, classification=None) for f in value.fields]
    params2 = dataclasses.replace(params, fields=[dataclasses.replace(value, fields=bare)])
    tags = column_policy_tags(dataclasses.replace(ga4, columns=[params2]), taxonomy)
    # value is confidential, so its unclassified leaves are too; key stays internal
    assert tags == {f"event_params.value.{f.name}": CONFIDENTIAL for f in bare}

"""The account-shaped reverse-ETL tables (issue 17): retl.hubspot__companies, retl.salesforce__accounts,
retl.gainsight__companies and the enr.account_profile they share.

Built through the real engine on the seeded scale-1 world: one row per destination key; every HubSpot
company of every real account exactly once; row_hash is the hash of exactly the written fields; every
mapped field exists in the shipped property list; and a known-answer rebuild: one account's MRR, NPS and
tickets changed by hand give hand-computed values, change the row_hash of that account's rows only (all
its HubSpot companies), while a rebuild with unchanged inputs leaves every row_hash as it was.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import clone_row, connect_warehouse, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.contracts import Contract
from kcrm_gov.project import Project

RETL = ("retl.hubspot__companies", "retl.salesforce__accounts", "retl.gainsight__companies")
REBUILD = "enr.account_mrr_monthly enr.account_profile " + " ".join(RETL)


def _retl_contracts(root: Path) -> dict[str, Contract]:
    project = Project.load(root)
    return {name: project.contract(name) for name in RETL}


def _hashes(root: Path) -> dict[str, dict[object, tuple[str, str]]]:
    """Per retl table: destination key -> (account_key, row_hash)."""
    out: dict[str, dict[object, tuple[str, str]]] = {}
    for name, contract in _retl_contracts(root).items():
        assert contract.destination is not None
        key = contract.destination.key_column
        found = rows(root, f"SELECT {key}, account_key, row_hash FROM {name}")
        out[name] = {k: (account, h) for k, account, h in found}
    return out


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with the four tables' checks run on it."""
    run_cli(seeded_warehouse, "test", "--select", "enr.account_profile " + " ".join(RETL))
    return seeded_warehouse


def test_one_row_per_destination_key_and_every_company_once(warehouse: Path) -> None:
    [(profiled, real, companies, hubspot, distinct_ids, salesforce, gainsight, paid)] = rows(warehouse, """
        SELECT (SELECT COUNT(DISTINCT account_key) FROM enr.account_profile),
               (SELECT COUNT(*) FROM core.accounts WHERE NOT is_internal AND hubspot_company_id IS NOT NULL),
               (SELECT COUNT(*) FROM core.account_company_map AS m JOIN core.accounts AS a USING (account_key)
                WHERE NOT a.is_internal AND NOT m.is_internal),
               (SELECT COUNT(*) FROM retl.hubspot__companies),
               (SELECT COUNT(DISTINCT hubspot_company_id) FROM retl.hubspot__companies),
               (SELECT COUNT(DISTINCT account_key) FROM retl.salesforce__accounts),
               (SELECT COUNT(DISTINCT account_key) FROM retl.gainsight__companies),
               (SELECT COUNT(*) FROM enr.account_profile WHERE lifecycle IN ('customer', 'churned'))""")
    assert real > 1000 and profiled == real
    assert hubspot == distinct_ids == companies > real  # some domains have duplicate companies
    assert salesforce == real and gainsight == paid > 500
    for name in ("retl.salesforce__accounts", "retl.gainsight__companies"):
        [(n, keys)] = rows(warehouse, f"SELECT COUNT(*), COUNT(DISTINCT account_key) FROM {name}")
        assert n == keys
    # every company id of each real account exactly once, under its own account; no internal company
    [(missing, extra, internal)] = rows(warehouse, """
        WITH expected AS (
          SELECT m.hubspot_company_id, m.account_key FROM core.account_company_map AS m
          JOIN core.accounts AS a USING (account_key) WHERE NOT a.is_internal)
        SELECT (SELECT COUNT(*) FROM (SELECT * FROM expected EXCEPT SELECT hubspot_company_id, account_key
                                      FROM retl.hubspot__companies)),
               (SELECT COUNT(*) FROM (SELECT hubspot_company_id, account_key FROM retl.hubspot__companies
                                      EXCEPT SELECT * FROM expected)),
               (SELECT COUNT(*) FROM retl.hubspot__companies AS h JOIN core.account_company_map AS m
                  USING (hubspot_company_id) WHERE m.is_internal)""")
    assert (missing, extra, internal) == (0, 0, 0)


def test_row_hash_is_the_hash_of_exactly_the_written_fields(warehouse: Path) -> None:
    for name, contract in _retl_contracts(warehouse).items():
        destination = contract.destination
        assert destination is not None
        written = [m.column for m in destination.written]
        assert "row_hash" not in destination.columns and destination.key_column not in written
        struct = ", ".join(f"{c} := {c}" for c in written)  # mapping order, as the model writes the STRUCT
        [(total, wrong)] = rows(warehouse, f"""
            SELECT COUNT(*), COUNT(*) FILTER (WHERE row_hash != md5(CAST(to_json(struct_pack({struct})) AS VARCHAR)))
            FROM {name}""")
        assert total > 500 and wrong == 0, name


def test_every_mapped_field_exists_in_the_property_list(warehouse: Path) -> None:
    for name, contract in _retl_contracts(warehouse).items():
        destination = contract.destination
        assert destination is not None
        path = warehouse / "catalog" / "destinations" / destination.system / f"{destination.object}.yml"
        listed = yaml.safe_load(path.read_text())
        assert (listed["system"], listed["object"]) == (destination.system, destination.object)
        properties = {p["name"]: p for p in listed["properties"]}
        columns = {c.name: c for _, c in contract.all_columns()}
        assert properties[destination.match_key].get("unique") is True, name
        for mapping in destination.fields:
            assert mapping.column in columns, (name, mapping.column)
            assert mapping.field in properties, (name, mapping.field)
            prop, column = properties[mapping.field], columns[mapping.column]
            assert not (mapping.write and prop.get("readOnly")), (name, mapping.field)
            if prop.get("options"):  # a picklist / enumeration: the column may only hold declared values
                assert column.accepted_values, (name, mapping.column)
                assert set(column.accepted_values) <= set(prop["options"]), (name, mapping.column)
        for _, column in contract.all_columns():  # nothing restricted or personal leaves the warehouse
            assert column.classification in destination.allowed_classifications, (name, column.name)
            assert not column.is_pii, (name, column.name)


def test_one_accounts_changed_inputs_change_exactly_its_rows(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "project")
    before = _hashes(root)
    # a rebuild with unchanged inputs: every row_hash as it was
    run_cli(root, "build", "--select", REBUILD)
    assert _hashes(root) == before

    # a paying account with two HubSpot companies, one customer billed in the data's last month
    [(key, as_of, month)] = rows(root, """
        SELECT p.account_key, p.as_of_date, p.mrr_month FROM enr.account_profile AS p
        WHERE p.lifecycle = 'customer'
          AND (SELECT COUNT(*) FROM retl.hubspot__companies AS h WHERE h.account_key = p.account_key) = 2
          AND (SELECT COUNT(*) FROM core.account_mrr_months AS m
               WHERE m.account_key = p.account_key AND m.month_start = p.mrr_month AND NOT m.is_internal) = 1
        ORDER BY p.account_key LIMIT 1""")
    with connect_warehouse(root, read_only=False) as con:
        # MRR: its last month's constant-currency MRR becomes 1234.56
        con.execute("UPDATE core.account_mrr_months SET mrr_usd_constant = 1234.56 "
                    "WHERE account_key = ? AND month_start = ?", [key, month])
        # NPS: a detractor answer on the as-of date, after any earlier one; one after the as-of date and an
        # internal one are not its latest
        where = "account_key IS NOT NULL AND NOT is_internal"
        for rid, score, at, internal in ((-1, 3, f"{as_of} 23:00:00", False), (-2, 10, f"{as_of} 23:59:00", True),
                                         (-3, 9, "2099-01-01 00:00:00", False)):
            clone_row(con, "core.nps_responses", {"nps_response_id": rid, "account_key": key, "score": score,
                                                  "responded_at": at, "is_internal": internal}, where)
        # tickets: all its tickets solved, then two open ones by the as-of date; one opened after it and an
        # internal one do not count
        con.execute("UPDATE core.tickets SET is_solved = TRUE, status = 'solved' WHERE account_key = ?", [key])
        where = "account_key IS NOT NULL AND NOT is_internal"
        for tid, created, internal in ((-1, f"{as_of} 08:00:00", False), (-2, "2020-01-01 08:00:00", False),
                                       (-3, f"{as_of} 09:00:00", True), (-4, "2099-01-01 08:00:00", False)):
            clone_row(con, "core.tickets", {"ticket_id": tid, "account_key": key, "is_solved": False,
                                            "status": "open", "created_at": created, "is_internal": internal}, where)
    run_cli(root, "build", "--select", REBUILD)

    [profile] = rows(root, f"""SELECT mrr_usd, arr_usd, last_nps_score, last_nps_date, open_tickets
                               FROM enr.account_profile WHERE account_key = '{key}'""")
    assert profile == (Decimal("1234.56"), Decimal("14814.72"), 3, as_of, 2)
    hubspot = rows(root, f"SELECT mrr_usd, arr_usd FROM retl.hubspot__companies WHERE account_key = '{key}'")
    assert hubspot == [(Decimal("1234.56"), Decimal("14814.72"))] * 2
    [gainsight] = rows(root, f"""SELECT mrr_usd, arr_usd, last_nps_score, last_nps_date, open_tickets
                                 FROM retl.gainsight__companies WHERE account_key = '{key}'""")
    assert gainsight == profile
    [salesforce] = rows(root, f"SELECT mrr_usd, arr_usd FROM retl.salesforce__accounts WHERE account_key = '{key}'")
    assert salesforce == (Decimal("1234.56"), Decimal("14814.72"))

    after = _hashes(root)
    for name in RETL:
        assert after[name].keys() == before[name].keys(), name  # no record added or lost
        changed = {k for k in before[name] if after[name][k] != before[name][k]}
        mine = {k for k, (account, _) in before[name].items() if account == key}
        assert changed == mine and mine, name  # exactly this account's rows: both companies on HubSpot
    assert len({k for k, (account, _) in before["retl.hubspot__companies"].items() if account == key}) == 2
    run_cli(root, "test", "--select", "enr.account_profile " + " ".join(RETL))

"""``kcrm-gov sync`` end to end on the real seeded project (issue 17's "done when"), not the mini one.

Every retl table of the seeded scale-1 warehouse is pushed to a local HubSpot and Salesforce
(:mod:`destination_server`, through the real client libraries); Gainsight is export-only and reported
as skipped. Then the retl layer is rebuilt with unchanged inputs: the plan has zero changes for every
table. Then one account's MRR changes in core and the chain it flows through is rebuilt: the plan has
updates for exactly that account's rows (both its HubSpot companies, its Salesforce account) and
nothing else; Gainsight, never acknowledged, stays all inserts, with only that account's row_hash moved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SEED_NOW, connect_warehouse, copy_warehouse, run_cli
from conftest import query_rows as rows
from destination_server import DestinationServer

from kcrm_gov.cli import cli

RETL = ("retl.gainsight__companies", "retl.hubspot__companies", "retl.hubspot__contacts",
        "retl.hubspot__lead_routing", "retl.hubspot__usage_triggers", "retl.salesforce__accounts")
PUSHED = tuple(t for t in RETL if "gainsight" not in t)
CHANGES = ("insert", "update", "delete", "archive")


def _sync(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "sync", *args], env={"KCRM_GOV_NOW": SEED_NOW})
    return result.exit_code, result.output


def _plan(root: Path) -> dict[str, dict[str, Any]]:
    code, out = _sync(root, "plan", "--json")
    assert code == 0, out
    return {d["table"]: d for d in json.loads(out)["destinations"]}


def _changes(plan: dict[str, Any]) -> dict[str, list[str]]:
    return {op: keys for op, keys in plan["keys"].items() if keys}


def test_push_everything_then_only_one_accounts_rows_change(seeded_warehouse: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_warehouse(seeded_warehouse, tmp_path / "p")
    sizes = dict(rows(root, " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in RETL)))
    hubspot, salesforce = DestinationServer(), DestinationServer(tls_dir=tmp_path / "tls")
    monkeypatch.setenv("KCRM_GOV_HUBSPOT_BASE_URL", hubspot.url)
    monkeypatch.setenv("KCRM_GOV_HUBSPOT_TOKEN", "pat-test")
    monkeypatch.setenv("KCRM_GOV_SALESFORCE_INSTANCE_URL", salesforce.url)
    monkeypatch.setenv("KCRM_GOV_SALESFORCE_SESSION_ID", "sf-test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", salesforce.ca)
    try:
        code, out = _sync(root, "push")
    finally:
        hubspot.close()
        salesforce.close()
    assert code == 0, out
    assert ("skipped: retl.gainsight__companies: push to gainsight is not implemented; use `kcrm-gov sync export`"
            in out)
    # every pushed table's every row acknowledged once, under its destination; nothing from Gainsight
    state = dict(rows(root, "SELECT object, COUNT(*) FROM sync.sync_state GROUP BY 1"))
    assert state == {"companies": sizes["retl.hubspot__companies"], "contacts": sizes["retl.hubspot__contacts"],
                     "leads": sizes["retl.hubspot__lead_routing"],
                     "p_kcrm_usage_triggers": sizes["retl.hubspot__usage_triggers"],
                     "Account": sizes["retl.salesforce__accounts"]}
    assert rows(root, "SELECT COUNT(*) FROM sync.sync_batches WHERE status <> 'acknowledged'") == [(0,)]

    # the retl layer rebuilt with unchanged inputs: nothing to send anywhere
    run_cli(root, "build", "--select", "enr.account_profile layer:retl")
    unchanged = _plan(root)
    assert set(unchanged) == set(RETL)
    for table in PUSHED:
        assert _changes(unchanged[table]) == {}, table
        assert unchanged[table]["counts"]["unchanged"] == sizes[table], table
    gainsight = unchanged["retl.gainsight__companies"]  # never acknowledged: still every row an insert
    assert gainsight["counts"]["insert"] == sizes["retl.gainsight__companies"]
    hashes = dict(rows(root, "SELECT account_key, row_hash FROM retl.gainsight__companies"))

    # one paying account with two HubSpot companies: its last month's MRR changes in core
    [(key, month)] = rows(root, """
        SELECT p.account_key, p.mrr_month FROM enr.account_profile AS p
        WHERE p.lifecycle = 'customer'
          AND (SELECT COUNT(*) FROM retl.hubspot__companies AS h WHERE h.account_key = p.account_key) = 2
          AND (SELECT COUNT(*) FROM core.account_mrr_months AS m
               WHERE m.account_key = p.account_key AND m.month_start = p.mrr_month AND NOT m.is_internal) = 1
        ORDER BY p.account_key LIMIT 1""")
    companies = sorted(str(c) for (c,) in rows(root, f"SELECT hubspot_company_id FROM retl.hubspot__companies "
                                                     f"WHERE account_key = '{key}'"))
    with connect_warehouse(root, read_only=False) as con:
        con.execute("UPDATE core.account_mrr_months SET mrr_usd_constant = mrr_usd_constant + 1000 "
                    "WHERE account_key = ? AND month_start = ?", [key, month])
    run_cli(root, "build", "--select", "enr.account_mrr_monthly enr.account_profile layer:retl")
    changed = _plan(root)
    expected = {"retl.hubspot__companies": companies, "retl.salesforce__accounts": [key]}
    for table in PUSHED:
        assert _changes(changed[table]) == ({"update": expected[table]} if table in expected else {}), table
    hs, sf = changed["retl.hubspot__companies"], changed["retl.salesforce__accounts"]
    assert hs["topFields"] == [{"field": "kcrm_arr_usd", "records": 2}, {"field": "kcrm_mrr_usd", "records": 2}]
    assert sf["topFields"] == [{"field": "KCRM_ARR_USD__c", "records": 1}, {"field": "KCRM_MRR_USD__c", "records": 1}]
    after = dict(rows(root, "SELECT account_key, row_hash FROM retl.gainsight__companies"))
    assert after.keys() == hashes.keys() and {k for k in hashes if after[k] != hashes[k]} == {key}

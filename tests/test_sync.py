"""``kcrm-gov sync plan|export|push`` on the retl mini project, against a local HubSpot / Salesforce.

The real client libraries (hubspot-api-client, simple-salesforce) talk HTTP(S) to
:mod:`destination_server` on 127.0.0.1; the state lives in the mini project's DuckDB warehouse.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED_NOW, connect_warehouse, query_rows
from destination_server import DestinationServer
from retl_mini import build, items, make_retl

HUBSPOT = "retl.hubspot__companies"
SALESFORCE = "retl.salesforce__accounts"
HOSTILE = 'Acme, "Inc"\nline two'  # a value the csv and json modules must escape


@pytest.fixture(scope="module")
def mini_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The retl mini project with 250 items (3 HubSpot batches), built once for this module."""
    root = make_retl(tmp_path_factory.mktemp("retl-mini") / "p")
    rows = items(250)
    rows[2] = (3, HOSTILE, 4.5, rows[2][3])
    build(root, rows)
    return root


@pytest.fixture
def mini(mini_base: Path, tmp_path: Path) -> Path:
    """A private copy of the built mini project."""
    return Path(shutil.copytree(mini_base, tmp_path / "p"))


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DestinationServer, DestinationServer]]:
    """A local HubSpot (http) and Salesforce (https), with the environment pointing at them."""
    hubspot, salesforce = DestinationServer(), DestinationServer(tls_dir=tmp_path / "tls")
    monkeypatch.setenv("KCRM_GOV_HUBSPOT_BASE_URL", hubspot.url)
    monkeypatch.setenv("KCRM_GOV_HUBSPOT_TOKEN", "pat-secret-token")
    monkeypatch.setenv("KCRM_GOV_SALESFORCE_INSTANCE_URL", salesforce.url)
    monkeypatch.setenv("KCRM_GOV_SALESFORCE_SESSION_ID", "sf-secret-session")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", salesforce.ca)
    yield hubspot, salesforce
    hubspot.close()
    salesforce.close()


def cli(root: Path, *args: str) -> tuple[int, str]:
    """``kcrm-gov --project-dir root ARGS``: (exit code, output)."""
    from click.testing import CliRunner

    from kcrm_gov.cli import cli as group

    result = CliRunner().invoke(group, ["--project-dir", str(root), *args], env={"KCRM_GOV_NOW": SEED_NOW})
    return result.exit_code, result.output


def plan(root: Path, *select: str) -> dict[str, dict[str, Any]]:
    """``sync plan --json`` by table."""
    code, out = cli(root, "sync", "plan", "--json", *(a for s in select for a in ("--select", s)))
    assert code == 0, out
    return {d["table"]: d for d in json.loads(out)["destinations"]}


def push(root: Path, after_batch: Any = None, sleep: Any = None, select: tuple[str, ...] = (HUBSPOT,)) -> Any:
    """The library push on ``select`` with tiny backoffs (the CLI's path, minus the exit)."""
    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project
    from kcrm_gov.sync.plan import SyncState
    from kcrm_gov.sync.plan import plan as do_plan
    from kcrm_gov.sync.push import RetryPolicy
    from kcrm_gov.sync.push import push as do_push

    project = Project.load(root)
    with open_engine(project) as engine:
        return do_push(do_plan(project, engine, list(select)), SyncState(engine),
                       policy=RetryPolicy(backoff=0.01, retry_after_max=2, poll=0), sleep=sleep or (lambda s: None),
                       after_batch=after_batch)


def sent_ids(server: DestinationServer) -> Counter[str]:
    """Every record id of every upsert request the server received, counted."""
    return Counter(i["id"] for r in server.calls("/batch/upsert") for i in r["body"]["inputs"])


def sync_runs(root: Path) -> list[tuple[str, str, str, int | None]]:
    """The sync jobs' OpenLineage events: (job, eventType, output namespace, rowCount sent)."""
    path = root / ".kcrm" / "lineage" / "events" / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return [(e["job"]["name"], e["eventType"], e["outputs"][0]["namespace"],
             e["outputs"][0].get("outputFacets", {}).get("outputStatistics", {}).get("rowCount"))
            for e in events if e["job"]["name"].startswith("sync.")]


def edit(root: Path, sql: str) -> None:
    """Change core.items, then rebuild both retl tables."""
    with connect_warehouse(root, read_only=False) as con:
        con.execute(sql)
    code, out = cli(root, "build", "--select", HUBSPOT, "--select", SALESFORCE)
    assert code == 0, out


def test_plan_push_update_delete_round_trip(mini: Path, servers: tuple[DestinationServer, DestinationServer],
                                           tmp_path: Path) -> None:
    hubspot, salesforce = servers
    first = plan(mini)
    for table in (HUBSPOT, SALESFORCE):  # one insert per key, nothing else
        assert first[table]["counts"] == {"insert": 250, "update": 0, "delete": 0, "archive": 0, "unchanged": 0,
                                          "kept": 0}
        assert first[table]["keys"]["insert"] == sorted(str(i) for i in range(1, 251))
    code, text = cli(mini, "sync", "plan")
    assert code == 0 and HOSTILE.splitlines()[0] not in text and "Item 1" not in text, text  # keys and counts only

    # export: 3 HubSpot files of 100/100/50, one Salesforce CSV; the hostile value survives both encoders
    code, out = cli(mini, "sync", "export", "--out", str(tmp_path / "out"))
    assert code == 0, out
    files = sorted((tmp_path / "out/hubspot.kcrm-test.companies").iterdir())
    bodies = [json.loads(f.read_text()) for f in files]
    assert [f.name for f in files] == ["0001-upsert.json", "0002-upsert.json", "0003-upsert.json"]
    assert [len(b["inputs"]) for b in bodies] == [100, 100, 50]
    three = next(i for b in bodies for i in b["inputs"] if i["id"] == "3")
    assert three == {"idProperty": "kcrm_item_id", "id": "3", "properties": {"name": HOSTILE, "kcrm_amount_usd": "4.5"}}
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out/salesforce.kcrm-test.Account/0001-upsert.csv")
                                           .read_text(), newline="")))
    assert len(rows) == 250 and rows[0] == {"Kcrm_Item_Id__c": "1", "Name": "Item 1", "Amount_USD__c": "1.5"}
    assert next(r for r in rows if r["Kcrm_Item_Id__c"] == "3")["Name"] == HOSTILE

    code, out = cli(mini, "sync", "push")
    assert code == 0, out
    assert "pat-secret-token" not in out and "sf-secret-session" not in out
    assert all(r["auth"] == "Bearer pat-secret-token" for r in hubspot.requests)
    assert sent_ids(hubspot) == Counter(str(i) for i in range(1, 251))
    uploads = salesforce.calls("/batches", "PUT")
    assert len(uploads) == 1 and len(list(csv.DictReader(io.StringIO(uploads[0]["body"])))) == 250
    # each table's sync is an OpenLineage run from the retl table to its destination, with the records sent
    assert sync_runs(mini) == [(f"sync.{HUBSPOT}", "START", "hubspot://kcrm-test", None),
                               (f"sync.{HUBSPOT}", "COMPLETE", "hubspot://kcrm-test", 250),
                               (f"sync.{SALESFORCE}", "START", "salesforce://kcrm-test", None),
                               (f"sync.{SALESFORCE}", "COMPLETE", "salesforce://kcrm-test", 250)]
    assert query_rows(mini, "SELECT system, COUNT(*), COUNT(DISTINCT key_value) FROM sync.sync_state GROUP BY 1 "
                            "ORDER BY 1") == [("hubspot", 250, 250), ("salesforce", 250, 250)]
    assert query_rows(mini, "SELECT system, kind, records, acknowledged, status FROM sync.sync_batches "
                            "ORDER BY system, started_at") == [("hubspot", "upsert", 100, 100, "acknowledged"),
                                                               ("hubspot", "upsert", 100, 100, "acknowledged"),
                                                               ("hubspot", "upsert", 50, 50, "acknowledged"),
                                                               ("salesforce", "upsert", 250, 250, "acknowledged")]

    # a second plan after a successful push: nothing to send
    again = plan(mini)
    assert {t: d["counts"]["unchanged"] for t, d in again.items()} == {HUBSPOT: 250, SALESFORCE: 250}
    assert all(sum(d["counts"][op] for op in ("insert", "update", "delete", "archive")) == 0 for d in again.values())

    # one changed row: exactly one update of exactly that field; one deleted row: one delete (a clear)
    edit(mini, "UPDATE core.items SET amount_usd = 99 WHERE item_id = 7; DELETE FROM core.items WHERE item_id = 9")
    changed = plan(mini)
    for table, field in ((HUBSPOT, "kcrm_amount_usd"), (SALESFORCE, "Amount_USD__c")):
        assert changed[table]["counts"] | {"unchanged": 0} == {"insert": 0, "update": 1, "delete": 1, "archive": 0,
                                                               "unchanged": 0, "kept": 0}
        assert changed[table]["counts"]["unchanged"] == 248
        assert changed[table]["keys"]["update"] == ["7"] and changed[table]["keys"]["delete"] == ["9"]
        assert changed[table]["topFields"][0] == {"field": field, "records": 2}  # the update and the clear
    before = len(hubspot.requests)
    code, out = cli(mini, "sync", "push")
    assert code == 0, out
    (last,) = hubspot.requests[before:]
    assert last["body"]["inputs"] == [
        {"idProperty": "kcrm_item_id", "id": "7", "properties": {"name": "Item 7", "kcrm_amount_usd": "99"}},
        {"idProperty": "kcrm_item_id", "id": "9", "properties": {"name": "", "kcrm_amount_usd": ""}}]
    sf_rows = list(csv.DictReader(io.StringIO(salesforce.calls("/batches", "PUT")[-1]["body"])))
    assert sf_rows == [{"Kcrm_Item_Id__c": "7", "Name": "Item 7", "Amount_USD__c": "99"},
                       {"Kcrm_Item_Id__c": "9", "Name": "#N/A", "Amount_USD__c": "#N/A"}]
    assert query_rows(mini, "SELECT COUNT(*) FROM sync.sync_state WHERE key_value = '9'") == [(0,)]
    final = plan(mini)
    assert all(d["counts"]["unchanged"] == 249 and d["counts"]["update"] == 0 for d in final.values())


def test_push_survives_429_5xx_and_a_dropped_connection(mini: Path,
                                                        servers: tuple[DestinationServer, DestinationServer]) -> None:
    hubspot, _ = servers
    hubspot.script = [("/batch/upsert", 429, {"Retry-After": "1"}), ("/batch/upsert", 503, {}),
                      ("/batch/upsert", 0, {})]
    waits: list[float] = []
    run = push(mini, sleep=waits.append)
    assert waits == [1.0, 0.01, 0.02]  # Retry-After honoured, then exponential backoff
    assert [b.acknowledged for b in run.batches] == [100, 100, 50]
    # 3 failed attempts, then 3 acknowledged batches; every key acknowledged exactly once
    assert len(hubspot.calls("/batch/upsert")) == 6
    answered = hubspot.calls("/batch/upsert")[3:]
    assert Counter(i["id"] for r in answered for i in r["body"]["inputs"]) == Counter(str(i) for i in range(1, 251))
    assert plan(mini, HUBSPOT)[HUBSPOT]["counts"]["unchanged"] == 250


def test_push_gives_up_after_bounded_retries(mini: Path, servers: tuple[DestinationServer, DestinationServer]) -> None:
    from kcrm_gov.sync.plan import SyncError

    hubspot, _ = servers
    hubspot.script = [("/batch/upsert", 500, {})] * 6
    with pytest.raises(SyncError, match=r"gave up after 6 attempts \(last status 500\)"):
        push(mini)
    assert plan(mini, HUBSPOT)[HUBSPOT]["counts"]["insert"] == 250  # nothing marked


def test_crash_between_batches_resumes_without_duplicates(mini: Path,
                                                          servers: tuple[DestinationServer, DestinationServer]) -> None:
    hubspot, _ = servers

    class Crash(Exception):
        pass

    def crash(result: Any) -> None:
        raise Crash(result.batch_id)

    with pytest.raises(Crash):
        push(mini, after_batch=crash)
    first = [i["id"] for r in hubspot.requests for i in r["body"]["inputs"]]
    assert len(hubspot.requests) == 1 and len(first) == 100
    assert query_rows(mini, "SELECT COUNT(*) FROM sync.sync_state") == [(100,)]
    assert query_rows(mini, "SELECT COUNT(*) FROM sync.sync_batches") == [(1,)]

    run = push(mini)  # resumed: only the two remaining batches
    assert [b.records for b in run.batches] == [100, 50]
    resumed = [i["id"] for r in hubspot.requests[1:] for i in r["body"]["inputs"]]
    assert len(hubspot.requests) == 3
    assert not set(first) & set(resumed)  # nothing twice
    assert Counter(first + resumed) == Counter(str(i) for i in range(1, 251))  # nothing lost
    assert plan(mini, HUBSPOT)[HUBSPOT]["counts"]["unchanged"] == 250


def test_partial_batch_errors_mark_only_acknowledged_records(
        mini: Path, servers: tuple[DestinationServer, DestinationServer]) -> None:
    hubspot, salesforce = servers
    hubspot.fail_keys = salesforce.fail_keys = {"3", "120"}
    code, out = cli(mini, "sync", "push")
    assert code == 1, out
    assert "failed keys: 120, 3" in out and HOSTILE.splitlines()[0] not in out
    assert out.strip().endswith("4 batches, 496 records acknowledged, 4 failed")
    assert [(job, state) for job, state, _, _ in sync_runs(mini)[-4:]] == [
        (f"sync.{HUBSPOT}", "START"), (f"sync.{HUBSPOT}", "FAIL"), (f"sync.{SALESFORCE}", "START"),
        (f"sync.{SALESFORCE}", "FAIL")]  # some records failed: the run says so (by count, no values)
    assert query_rows(mini, "SELECT system, COUNT(*) FROM sync.sync_state GROUP BY 1 ORDER BY 1") == \
        [("hubspot", 248), ("salesforce", 248)]
    assert query_rows(mini, "SELECT system, status, failed FROM sync.sync_batches WHERE failed > 0 ORDER BY 1, 2") == \
        [("hubspot", "partial", 1), ("hubspot", "partial", 1), ("salesforce", "partial", 2)]
    pending = plan(mini)
    assert {t: d["keys"]["insert"] for t, d in pending.items()} == {HUBSPOT: ["120", "3"], SALESFORCE: ["120", "3"]}

    hubspot.fail_keys = salesforce.fail_keys = set()
    before = len(hubspot.requests)
    code, out = cli(mini, "sync", "push")
    assert code == 0, out
    assert [i["id"] for r in hubspot.requests[before:] for i in r["body"]["inputs"]] == ["120", "3"]
    assert all(sum(d["counts"][op] for op in ("insert", "update", "delete")) == 0 for d in plan(mini).values())


def test_on_delete_keep_and_unsupported_archive(tmp_path: Path,
                                                servers: tuple[DestinationServer, DestinationServer]) -> None:
    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project
    from kcrm_gov.sync.plan import SyncError, export
    from kcrm_gov.sync.plan import plan as do_plan

    hubspot, _ = servers
    root = make_retl(tmp_path / "keep", on_delete="keep")
    build(root, items(3))
    assert cli(root, "sync", "push", "--select", HUBSPOT)[0] == 0
    edit(root, "DELETE FROM core.items WHERE item_id = 2")
    kept = plan(root, HUBSPOT)[HUBSPOT]
    assert kept["counts"] == {"insert": 0, "update": 0, "delete": 0, "archive": 0, "unchanged": 2, "kept": 1}
    before = len(hubspot.requests)
    assert cli(root, "sync", "push", "--select", HUBSPOT)[0] == 0
    assert len(hubspot.requests) == before  # keep: nothing sent, the state row stays
    assert query_rows(root, "SELECT key_value FROM sync.sync_state WHERE system = 'hubspot' ORDER BY 1") == \
        [("1",), ("2",), ("3",)]

    # archive on HubSpot by a match key that is not its record id: refused before anything is written or sent
    for table in ("hubspot__companies", "salesforce__accounts"):
        path = root / f"contracts/retl/{table}.odcs.yaml"
        path.write_text(path.read_text().replace("onDelete: keep", "onDelete: archive"))
    project = Project.load(root)
    with open_engine(project, read_only=True) as engine:
        plans = do_plan(project, engine, [HUBSPOT, SALESFORCE])
    assert [p.counts()["archive"] for p in plans] == [1, 0]  # Salesforce was never pushed: nothing to archive
    with pytest.raises(SyncError, match="the match key must be hs_object_id"):
        export(plans, tmp_path / "out")


def test_records_matched_by_their_hubspot_id_are_updated_not_upserted(
        servers: tuple[DestinationServer, DestinationServer], tmp_path: Path) -> None:
    """A retl table keyed by ``hs_object_id`` (companies and contacts HubSpot already has) goes to
    ``batch/update`` with the record ids: batch upsert takes only a unique property of the portal's own."""
    hubspot, _ = servers
    root = make_retl(tmp_path / "by-id")
    path = root / "contracts/retl/hubspot__companies.odcs.yaml"
    text = path.read_text().replace("matchKey: kcrm_item_id", "matchKey: hs_object_id")
    path.write_text(text.replace("field: kcrm_item_id, write", "field: hs_object_id, write"))
    build(root, items(3))
    code, out = cli(root, "sync", "export", "--select", HUBSPOT, "--out", str(tmp_path / "out"))
    assert code == 0, out
    (update,) = sorted((tmp_path / "out/hubspot.kcrm-test.companies").iterdir())
    assert update.name == "0001-update.json"
    assert json.loads(update.read_text())["inputs"][1] == {"id": "2", "properties": {"name": "Item 2",
                                                                                       "kcrm_amount_usd": "3"}}
    assert cli(root, "sync", "push", "--select", HUBSPOT)[0] == 0
    assert not hubspot.calls("/batch/upsert")
    (sent,) = hubspot.calls("/batch/update")
    assert [i["id"] for i in sent["body"]["inputs"]] == ["1", "2", "3"]
    assert all("idProperty" not in i for i in sent["body"]["inputs"])
    assert plan(root, HUBSPOT)[HUBSPOT]["counts"]["unchanged"] == 3  # the ids HubSpot returned were acknowledged


def test_dry_runs_send_nothing_and_change_no_state(mini: Path, servers: tuple[DestinationServer, DestinationServer],
                                                   tmp_path: Path) -> None:
    hubspot, salesforce = servers

    def state() -> list[tuple[str]]:  # the sync schema's tables: none before the first real push
        return query_rows(mini, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync' "
                                "ORDER BY 1")

    code, out = cli(mini, "sync", "push", "--dry-run")
    assert code == 0, out
    assert f"{HUBSPOT} -> hubspot://kcrm-test/companies (match key kcrm_item_id, onDelete clear): 250 insert" in out
    assert "fields changed most: kcrm_amount_usd (250), name (250)" in out
    assert f"{HUBSPOT} -> hubspot://kcrm-test/companies: would send 3 batch(es) (upsert), 250 records" in out
    assert f"{SALESFORCE} -> salesforce://kcrm-test/Account: would send 1 batch(es) (upsert), 250 records" in out
    assert HOSTILE.splitlines()[0] not in out  # keys, counts and field names, never values
    code, out = cli(mini, "sync", "export", "--dry-run", "--out", str(tmp_path / "out"))
    assert code == 0 and "4 files would be written" in out, out
    assert not (tmp_path / "out").exists()
    assert hubspot.requests == [] and salesforce.requests == [] and state() == [] and sync_runs(mini) == []

    # after a real push and one changed row, the dry run names the update, its field and the batch ids push
    # would log, and still sends and marks nothing
    code, out = cli(mini, "sync", "push")
    assert code == 0, out
    sent = len(hubspot.requests) + len(salesforce.requests)
    batches = query_rows(mini, "SELECT * FROM sync.sync_batches")
    edit(mini, "UPDATE core.items SET amount_usd = 99 WHERE item_id = 7")
    code, out = cli(mini, "sync", "push", "--dry-run", "--json")
    assert code == 0, out
    preview = {d["table"]: d for d in json.loads(out)["destinations"]}
    assert json.loads(out)["dryRun"] is True and json.loads(out)["skipped"] == []
    assert preview[HUBSPOT]["counts"]["update"] == 1 and preview[HUBSPOT]["keys"]["update"] == ["7"]
    assert preview[HUBSPOT]["topFields"] == [{"field": "kcrm_amount_usd", "records": 1}]
    assert [(b["kind"], b["records"]) for b in preview[SALESFORCE]["batches"]] == [("upsert", 1)]
    assert len(hubspot.requests) + len(salesforce.requests) == sent
    assert query_rows(mini, "SELECT * FROM sync.sync_batches") == batches
    assert plan(mini)[HUBSPOT]["counts"]["update"] == 1  # the state still holds the old value
    (hs_batch,) = preview[HUBSPOT]["batches"]
    code, out = cli(mini, "sync", "push")
    assert code == 0, out
    assert hs_batch["batchId"] in {r[0] for r in query_rows(mini, "SELECT batch_id FROM sync.sync_batches")}

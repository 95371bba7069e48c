"""OpenLineage reaches the destination: each retl table with a destination has a sync job
``sync.<layer.table>`` whose input is the retl table and whose output is the destination object
(namespace ``<system>://<instance>``), with a schema of the mapped fields and column lineage from
the retl columns. The events validate against the official OpenLineage schemas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import retlproject
from test_lineage import events_file, read_events, run, validate


@pytest.fixture(autouse=True)
def _no_openlineage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)


def test_publish_adds_the_sync_job_and_the_destination_dataset(tmp_path: Path) -> None:
    root = retlproject.make(tmp_path / "retl")
    code, out = run(root, "lineage", "publish", "--json")
    assert code == 0, out
    assert json.loads(out)["datasets"] == 5 and json.loads(out)["jobs"] == 4  # 4 tables + HubSpot; 3 models + sync
    events = read_events(events_file(root))
    sync = [e for e in events if e.get("job", {}).get("name") == "sync.retl.hubspot__companies"]
    assert len(sync) == 1
    job = sync[0]
    inputs = [(i["namespace"], i["name"]) for i in job["inputs"]]
    assert inputs == [("duckdb://kcrm-gov/mini/local", "retl.hubspot__companies")]
    (output,) = job["outputs"]
    assert (output["namespace"], output["name"]) == ("hubspot://kcrm-portal", "companies")
    fields = {f["name"]: f for f in output["facets"]["schema"]["fields"]}
    assert list(fields) == ["hs_object_id", "name", "kcrm_amount", "kcrm_tier"]
    assert fields["kcrm_tier"]["type"] == "enumeration" and fields["hs_object_id"]["type"] == "number"
    assert "match key" in fields["hs_object_id"]["description"] and "written" in fields["name"]["description"]
    lineage = output["facets"]["columnLineage"]["fields"]
    assert {f: [(i["name"], i["field"]) for i in v["inputFields"]] for f, v in lineage.items()} == {
        "hs_object_id": [("retl.hubspot__companies", "company_id")],
        "name": [("retl.hubspot__companies", "company_name")],
        "kcrm_amount": [("retl.hubspot__companies", "amount_usd")],
        "kcrm_tier": [("retl.hubspot__companies", "size_tier")]}
    assert {o["name"] for o in job["job"]["facets"]["ownership"]["owners"]} == {"team:revops", "user:maria.chen"}
    datasets = {(e["dataset"]["namespace"], e["dataset"]["name"]) for e in events if "dataset" in e}
    assert ("hubspot://kcrm-portal", "companies") in datasets
    validate(events_file(root))


def test_a_retl_table_without_a_destination_has_no_sync_job(tmp_path: Path) -> None:
    root = retlproject.make(tmp_path / "retl")
    (root / retlproject.RETL).write_text(retlproject.retl_contract(destination=""))
    code, out = run(root, "lineage", "publish", "--json")
    assert code == 0, out
    assert not any(e.get("job", {}).get("name", "").startswith("sync.") for e in read_events(events_file(root)))


def test_a_sync_run_is_start_then_complete_with_the_records_sent(tmp_path: Path) -> None:
    from kcrm_gov.lineage.events import emit_sync_run
    from kcrm_gov.project import Project

    root = retlproject.make(tmp_path / "retl")
    project = Project.load(root)
    assert emit_sync_run(project, project.config.target(None), "retl.hubspot__companies", records=3) is not None
    assert emit_sync_run(project, project.config.target(None), "retl.hubspot__companies", error="HTTP 500") \
        is not None
    assert emit_sync_run(project, project.config.target(None), "core.items") is None  # no destination
    events = read_events(events_file(root))
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "START", "FAIL"]
    assert {e["job"]["name"] for e in events} == {"sync.retl.hubspot__companies"}
    assert events[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert events[1]["outputs"][0]["namespace"] == "hubspot://kcrm-portal"
    assert events[3]["run"]["facets"]["errorMessage"]["message"] == "HTTP 500"
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]
    validate(events_file(root))

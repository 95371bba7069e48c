"""OpenLineage: spec-valid run events for builds and tests, column lineage, transports, spool and flush."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import miniproject
import pytest
from click.testing import CliRunner

from kcrm_gov.cli import cli
from kcrm_gov.lineage import columns as columns_module
from kcrm_gov.lineage.columns import Source, column_lineage, model_lineage
from kcrm_gov.lineage.events import emit_test_runs
from kcrm_gov.project import Project

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KCRM_GOV_SHARED", REPO.parent / "shared"))
VALIDATOR = SHARED / "tools" / "validate_openlineage.py"


# --- helpers -----------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_openlineage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's OpenLineage settings never leak into a test."""
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    root = miniproject.make(tmp_path / "mini")
    miniproject.load_raw(root, miniproject.ROWS)
    return root


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], catch_exceptions=False)
    return result.exit_code, result.output


def events_file(root: Path) -> Path:
    return root / ".kcrm" / "lineage" / "events" / "events.jsonl"


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def validate(path: Path) -> None:
    """Every event in ``path`` validates against the official OpenLineage schemas (../shared)."""
    if not VALIDATOR.exists():
        pytest.skip(f"the OpenLineage validator is not here ({VALIDATOR}); set KCRM_GOV_SHARED")
    done = subprocess.run([sys.executable, str(VALIDATOR), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 problems" in done.stdout


def write_config(root: Path, text: str) -> None:
    (root / "lineage").mkdir(exist_ok=True)
    (root / "lineage" / "openlineage.yml").write_text(textwrap.dedent(text))


def by_job(events: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in events:
        out.setdefault(e["job"]["name"], []).append(e)
    return out


class Receiver:
    """An OpenLineage HTTP endpoint on 127.0.0.1 that records what it gets; can die after N events."""

    def __init__(self, port: int = 0, die_after: int | None = None) -> None:
        self.events: list[dict] = []
        self.paths: list[str] = []
        self.die_after = die_after
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.events.append(json.loads(body))
                receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()
                if receiver.die_after is not None and len(receiver.events) >= receiver.die_after:
                    threading.Thread(target=receiver.stop).start()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


# --- run events of a build ---------------------------------------------------------------------------

def test_build_emits_parent_and_child_runs_that_validate(mini: Path) -> None:
    code, out = run(mini, "build", "--nominal-time", "2024-05-01T03:00:00Z")
    assert code == 0, out
    events = read_events(events_file(mini))
    validate(events_file(mini))
    jobs = by_job(events)
    assert set(jobs) == {"kcrm-gov.build", "stg.src__items", "core.items"}
    for name, evs in jobs.items():
        assert [e["eventType"] for e in evs] == ["START", "COMPLETE"], name
        assert evs[0]["run"]["runId"] == evs[1]["run"]["runId"]
        assert evs[0]["job"]["namespace"] == "kcrm-gov"
        assert evs[1]["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2024-05-01T03:00:00.000Z"
        assert evs[1]["run"]["facets"]["processing_engine"]["name"] == "kcrm-gov"
    parent_id = jobs["kcrm-gov.build"][0]["run"]["runId"]
    complete = jobs["core.items"][1]
    parent = complete["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == parent_id and parent["job"]["name"] == "kcrm-gov.build"
    # datasets: the documented duckdb://kcrm-gov/{project}/{target} namespace, schema.table names
    namespace = "duckdb://kcrm-gov/mini/local"
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == (namespace, "core.items")
    assert [(i["namespace"], i["name"]) for i in complete["inputs"]] == [(namespace, "stg.src__items")]
    facets = output["facets"]
    assert [f["name"] for f in facets["schema"]["fields"]] == ["item_id", "item_name", "amount_usd"]
    assert facets["schema"]["fields"][2]["type"] == "NUMERIC"
    assert {o["name"]: o["type"] for o in facets["ownership"]["owners"]} == {"team:revops": "OWNER",
                                                                          "user:maria.chen": "DATA_STEWARD"}
    assert "Test table items." in facets["documentation"]["description"]
    assert {"key": "layer", "value": "core", "source": "KCRM_GOV"} in facets["tags"]["tags"]
    contract = facets["kcrmGov_contract"]
    assert (contract["id"], contract["version"], contract["status"]) == ("kcrm.core.items", "1.0.0", "active")
    assert contract["_schemaURL"].endswith("KcrmGovContractDatasetFacet.json#/$defs/KcrmGovContractDatasetFacet")
    assert facets["lifecycleStateChange"]["lifecycleStateChange"] == "CREATE"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    name_lineage = facets["columnLineage"]["fields"]["item_name"]["inputFields"]
    assert [(f["name"], f["field"], f["transformations"][0]["subtype"]) for f in name_lineage] == [
        ("stg.src__items", "item_name", "TRANSFORMATION")]
    job = complete["job"]["facets"]
    assert job["sql"]["dialect"] == "bigquery" and "FROM stg.src__items" in job["sql"]["query"]
    assert (job["jobType"]["processingType"], job["jobType"]["integration"], job["jobType"]["jobType"]) == (
        "BATCH", "KCRM_GOV", "QUERY")
    # a second build overwrites
    assert run(mini, "build")[0] == 0
    later = by_job(read_events(events_file(mini))[len(events):])["core.items"][1]
    assert later["outputs"][0]["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "OVERWRITE"


def test_failed_model_sends_fail_with_error_message_and_skipped_downstream_aborts(mini: Path) -> None:
    (mini / "models/stg/src__items.sql").write_text("SELECT CAST(id AS INT64) AS item_id, name AS item_name "
                                                     "FROM raw.src__items\n")  # amount is missing
    code, _ = run(mini, "build")
    assert code == 1
    validate(events_file(mini))
    jobs = by_job(read_events(events_file(mini)))
    assert [e["eventType"] for e in jobs["stg.src__items"]] == ["START", "FAIL"]
    assert "amount" in jobs["stg.src__items"][1]["run"]["facets"]["errorMessage"]["message"]
    assert [e["eventType"] for e in jobs["core.items"]] == ["START", "FAIL"]
    skipped = jobs["core.items"][1]["run"]["facets"]["errorMessage"]["message"]
    assert "skipped: upstream stg.src__items failed" in skipped
    assert [e["eventType"] for e in jobs["kcrm-gov.build"]] == ["START", "FAIL"]
    assert "1 failed: stg.src__items" in jobs["kcrm-gov.build"][1]["run"]["facets"]["errorMessage"]["message"]


def test_sql_facet_on_bigquery_names_the_real_tables(mini: Path) -> None:
    from kcrm_gov.config import Target
    from kcrm_gov.lineage.events import EventFactory

    project = Project.load(mini)
    factory = EventFactory(project, Target(name="prod", type="bigquery", project="kcrm-prod", dataset_prefix="gtm_"))
    assert factory.namer("core.items") == ("bigquery", "kcrm-prod.gtm_core.items")
    assert "FROM `kcrm-prod`.gtm_stg.src__items" in factory.sql("core.items")


def test_input_datasets_carry_the_test_results_and_test_runs_validate(mini: Path) -> None:
    results = {"command": "test", "tables": [{"table": "stg.src__items", "outcome": "fail", "errors": [], "checks": [
        {"name": "row_count", "kind": "row_count", "outcome": "pass", "severity": "fail", "columns": [],
         "value": 3, "rule": "row_count > 0", "description": "The table is not empty."},
        {"name": "required: item_name", "kind": "required", "outcome": "fail", "severity": "fail",
         "columns": ["item_name"], "value": 1, "rule": "missing_count(item_name) = 0"}]}]}
    (mini / ".kcrm").mkdir(exist_ok=True)
    (mini / ".kcrm" / "test_results.json").write_text(json.dumps(results))
    assert run(mini, "build")[0] == 0
    validate(events_file(mini))
    complete = by_job(read_events(events_file(mini)))["core.items"][1]
    facets = complete["inputs"][0]["inputFacets"]
    assertions = {a["name"]: a for a in facets["dataQualityAssertions"]["assertions"]}
    assert assertions["row_count"]["success"] is True and assertions["row_count"]["actual"] == "3"
    assert assertions["required: item_name"]["success"] is False
    assert assertions["required: item_name"]["column"] == "item_name"
    assert facets["dataQualityMetrics"]["rowCount"] == 3
    assert facets["dataQualityMetrics"]["columnMetrics"]["item_name"]["nullCount"] == 1

    project = Project.load(mini)
    before = len(read_events(events_file(mini)))
    emit_test_runs(project, project.config.target())
    validate(events_file(mini))
    jobs = by_job(read_events(events_file(mini))[before:])
    assert [e["eventType"] for e in jobs["kcrm-gov.test"]] == ["START", "COMPLETE"]
    assert [e["eventType"] for e in jobs["stg.src__items.test"]] == ["START", "COMPLETE"]
    tested = jobs["stg.src__items.test"][1]["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert len(tested) == 2


# --- transports ----------------------------------------------------------------------------------------

def test_http_receiver_gets_every_event(mini: Path, receiver: Receiver) -> None:
    write_config(mini, f"""\
        transport:
          type: http
          url: {receiver.url}
          endpoint: api/v1/lineage
        """)
    code, out = run(mini, "build")
    assert code == 0, out
    assert len(receiver.events) == 6 and set(receiver.paths) == {"/api/v1/lineage"}
    assert not events_file(mini).exists()
    assert not (mini / ".kcrm" / "lineage" / "spool.jsonl").exists()
    dump = mini / "received.jsonl"
    dump.write_text("".join(json.dumps(e) + "\n" for e in receiver.events))
    validate(dump)


def test_env_overrides_the_file(mini: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    assert run(mini, "build")[0] == 0
    assert len(receiver.events) == 6 and not events_file(mini).exists()
    monkeypatch.delenv("OPENLINEAGE_URL")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(mini / "elsewhere.jsonl"))
    assert run(mini, "build")[0] == 0
    assert len(read_events(mini / "elsewhere.jsonl")) == 6
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert run(mini, "build")[0] == 0
    assert len(read_events(mini / "elsewhere.jsonl")) == 6 and len(receiver.events) == 6


def test_lineage_off_emits_nothing(mini: Path) -> None:
    write_config(mini, "transport:\n  type: off\n")
    assert run(mini, "build")[0] == 0
    assert not (mini / ".kcrm" / "lineage").exists()


def test_receiver_dies_mid_build_events_spool_and_flush_delivers_each_once(mini: Path) -> None:
    first = Receiver(die_after=3)
    port = first.port
    write_config(mini, f"transport:\n  type: http\n  url: http://127.0.0.1:{port}\n  timeout: 2\n")
    try:
        code, out = run(mini, "build")
        assert code == 0, out  # the observer never breaks the build
    finally:
        first.stop()
    spool = mini / ".kcrm" / "lineage" / "spool.jsonl"
    spooled = read_events(spool)
    assert len(first.events) == 3 and len(spooled) == 3
    code, out = run(mini, "lineage", "flush")  # still down
    assert code == 1 and "3 remain" in out
    assert len(read_events(spool)) == 3

    second = Receiver(port=port)
    try:
        code, out = run(mini, "lineage", "flush", "--json")
        assert code == 0, out
        assert json.loads(out)["sent"] == 3 and not spool.exists()
        assert run(mini, "lineage", "flush")[0] == 0  # nothing left, nothing resent
    finally:
        second.stop()
    delivered = first.events + second.events
    keys = [(e["run"]["runId"], e["eventType"]) for e in delivered]
    assert len(keys) == 6 and len(set(keys)) == 6  # all six, none twice
    assert second.events == spooled
    for evs in by_job(delivered).values():
        assert sorted(e["eventType"] for e in evs) == ["COMPLETE", "START"]


def test_slow_endpoint_costs_one_bounded_timeout(mini: Path) -> None:
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections, never answers
    try:
        write_config(mini, f"transport:\n  type: http\n  url: http://127.0.0.1:{listener.getsockname()[1]}\n"
                           "  timeout: 0.5\n")
        start = time.perf_counter()
        assert run(mini, "build")[0] == 0
        assert time.perf_counter() - start < 5
    finally:
        listener.close()
    assert len(read_events(mini / ".kcrm" / "lineage" / "spool.jsonl")) == 6


def test_publish_sends_static_dataset_and_job_events(mini: Path) -> None:
    code, out = run(mini, "lineage", "publish", "--json")
    assert code == 0, out
    assert json.loads(out)["datasets"] == 3 and json.loads(out)["jobs"] == 2
    validate(events_file(mini))
    events = read_events(events_file(mini))
    datasets = {e["dataset"]["name"]: e["dataset"]["facets"] for e in events if "dataset" in e}
    assert set(datasets) == {"raw.src__items", "stg.src__items", "core.items"}
    assert "columnLineage" in datasets["core.items"] and "columnLineage" not in datasets["raw.src__items"]
    assert datasets["raw.src__items"]["kcrmGov_contract"]["id"] == "kcrm.raw.src__items"
    jobs = [e for e in events if "dataset" not in e]
    assert {j["job"]["name"] for j in jobs} == {"stg.src__items", "core.items"}
    assert all("run" not in j for j in jobs)


# --- column lineage: hand-worked answers ----------------------------------------------------------------

ORDERS = [("id", "INT64", True), ("item_id", "INT64", True), ("qty", "INT64", False), ("price", "NUMERIC", False),
          ("status", "STRING", False), ("_fivetran_synced", "TIMESTAMP", True)]

MODELS = {
    # a CTE with a filter, a join, aggregates and GROUP BY
    "stg.src__item_sales": """
        WITH orders AS (
          SELECT item_id, qty * price AS revenue, status FROM raw.src__orders WHERE status != 'cancelled'
        )
        SELECT i.id AS item_id, UPPER(i.name) AS item_name, SUM(o.revenue) AS revenue, COUNT(*) AS order_count
        FROM raw.src__items AS i
        JOIN orders AS o ON o.item_id = i.id
        GROUP BY i.id, UPPER(i.name)
        """,
    # UNNEST in FROM, nested struct fields
    "stg.ga4__params": """
        SELECT e.user_pseudo_id, p.key AS param_key, p.value.string_value AS param_value,
               e.device.category AS device_category
        FROM raw.ga4__events AS e, UNNEST(e.event_params) AS p
        WHERE p.key = 'page_location'
        """,
    # a correlated scalar subquery over UNNEST (the GA4 idiom)
    "stg.ga4__sessions": """
        SELECT user_pseudo_id,
          (SELECT p.value.int_value FROM UNNEST(event_params) AS p WHERE p.key = 'ga_session_id') AS ga_session_id
        FROM raw.ga4__events
        """,
    # SELECT * from the contract, QUALIFY, a hash, CASE, a window aggregate
    "stg.src__items_latest": """
        WITH latest AS (
          SELECT * FROM raw.src__items
          QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
        )
        SELECT id, TO_HEX(MD5(name)) AS name_hash,
          CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size_band,
          SUM(amount) OVER (PARTITION BY name) AS name_total
        FROM latest
        """,
    # UNION ALL in a CTE, then SELECT *
    "stg.src__all_names": """
        WITH all_items AS (
          SELECT id, name FROM raw.src__items
          UNION ALL
          SELECT item_id AS id, status AS name FROM raw.src__orders
        )
        SELECT * FROM all_items
        """,
}


@pytest.fixture
def lineage_project(tmp_path: Path) -> Project:
    root = miniproject.make(tmp_path / "cl")
    miniproject.write(root, "contracts/raw/src__orders.odcs.yaml",
                      miniproject.contract_yaml("raw", "src__orders", ORDERS, ["id", "_fivetran_synced"]))
    shutil.copy(REPO / "contracts" / "raw" / "ga4__events.odcs.yaml", root / "contracts" / "raw")
    for table, sql in MODELS.items():
        miniproject.write(root, f"models/{table.replace('.', '/')}.sql", textwrap.dedent(sql))
    return Project.load(root)


def S(table: str, column: str, type_: str = "DIRECT", subtype: str = "IDENTITY", masking: bool = False) -> Source:
    return Source(f"raw.{table}", column, type_, subtype, masking)


def test_cte_join_aggregate(lineage_project: Project) -> None:
    lineage = model_lineage(lineage_project, "stg.src__item_sales")
    assert lineage.columns == {
        "item_id": [S("src__items", "id")],
        "item_name": [S("src__items", "name", subtype="TRANSFORMATION")],
        "revenue": [S("src__orders", "price", subtype="AGGREGATION"), S("src__orders", "qty", subtype="AGGREGATION")],
        "order_count": [],
    }
    assert lineage.dataset == sorted([
        S("src__items", "id", "INDIRECT", "GROUP_BY"), S("src__items", "id", "INDIRECT", "JOIN"),
        S("src__items", "name", "INDIRECT", "GROUP_BY"), S("src__orders", "item_id", "INDIRECT", "JOIN"),
        S("src__orders", "status", "INDIRECT", "FILTER")])


def test_unnest_and_nested_fields(lineage_project: Project) -> None:
    lineage = model_lineage(lineage_project, "stg.ga4__params")
    assert lineage.columns == {
        "user_pseudo_id": [S("ga4__events", "user_pseudo_id")],
        "param_key": [S("ga4__events", "event_params.key", subtype="TRANSFORMATION")],
        "param_value": [S("ga4__events", "event_params.value.string_value", subtype="TRANSFORMATION")],
        "device_category": [S("ga4__events", "device.category")],
    }
    assert lineage.dataset == [S("ga4__events", "event_params.key", "INDIRECT", "FILTER")]


def test_scalar_subquery_over_unnest(lineage_project: Project) -> None:
    assert column_lineage(lineage_project, "stg.ga4__sessions") == {
        "user_pseudo_id": [S("ga4__events", "user_pseudo_id")],
        "ga_session_id": [S("ga4__events", "event_params.key", "INDIRECT", "FILTER"),
                          S("ga4__events", "event_params.value.int_value", subtype="TRANSFORMATION")],
    }


def test_star_from_contract_window_case_and_masking(lineage_project: Project) -> None:
    lineage = model_lineage(lineage_project, "stg.src__items_latest")
    assert lineage.columns == {
        "id": [S("src__items", "id")],
        "name_hash": [S("src__items", "name", subtype="TRANSFORMATION", masking=True)],
        "size_band": [S("src__items", "amount", "INDIRECT", "CONDITIONAL")],
        "name_total": [S("src__items", "amount", subtype="AGGREGATION"), S("src__items", "name", "INDIRECT", "WINDOW")],
    }
    assert lineage.dataset == [S("src__items", "_fivetran_synced", "INDIRECT", "FILTER"),
                               S("src__items", "id", "INDIRECT", "FILTER")]


def test_union_and_select_star(lineage_project: Project) -> None:
    assert column_lineage(lineage_project, "stg.src__all_names") == {
        "id": [S("src__items", "id"), S("src__orders", "item_id")],
        "name": [S("src__items", "name"), S("src__orders", "status")],
    }


def test_lineage_is_cached_by_sql_hash(lineage_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = columns_module.analyse_model
    monkeypatch.setattr(columns_module, "analyse_model", lambda p, t: calls.append(t) or real(p, t))
    columns_module._CACHES.clear()
    column_lineage(lineage_project, "stg.src__all_names")
    columns_module._CACHES.clear()  # a new process: read from the JSON file
    again = Project.load(lineage_project.root)
    column_lineage(again, "stg.src__all_names")
    assert calls == ["stg.src__all_names"]
    cache = json.loads((again.state_dir / "lineage" / "column_lineage.json").read_text())
    assert cache["models"]["stg.src__all_names"]["key"] == columns_module.cache_key(again, "stg.src__all_names")
    model = again.root / "models/stg/src__all_names.sql"
    model.write_text(model.read_text().replace("status AS name", "UPPER(status) AS name"))
    changed = Project.load(again.root)
    assert S("src__orders", "status", subtype="TRANSFORMATION") in column_lineage(changed, "stg.src__all_names")["name"]
    assert calls == ["stg.src__all_names", "stg.src__all_names"]


def test_real_stg_models(tmp_path: Path) -> None:
    project = Project.load(REPO)
    wanted = {"stg.hubspot__companies", "stg.ga4__events"}
    if not wanted <= set(project.models):
        pytest.skip("the stg models are not in this checkout yet")
    companies = column_lineage(project, "stg.hubspot__companies")
    assert companies["company_id"] == [S("hubspot__companies", "id", subtype="TRANSFORMATION")]
    assert companies["domain"] == [S("hubspot__companies", "property_domain", subtype="TRANSFORMATION")]
    ga4 = column_lineage(project, "stg.ga4__events")
    assert ga4["browser"] == [S("ga4__events", "device.web_info.browser")]
    assert S("ga4__events", "event_params.value.int_value", subtype="AGGREGATION") in ga4["ga_session_id"] or \
        S("ga4__events", "event_params.value.int_value", subtype="TRANSFORMATION") in ga4["ga_session_id"]
    assert {s.column for s in ga4["event_id"]} >= {"user_pseudo_id", "event_timestamp", "event_name"}
    assert all(s.masking for s in ga4["event_id"])  # an MD5 of the raw key


# --- lineage show ------------------------------------------------------------------------------------------

def test_show_column_walks_across_layers(mini: Path) -> None:
    code, out = run(mini, "lineage", "show", "core.items.item_name", "--json")
    assert code == 0, out
    report = json.loads(out)
    [stg] = report["upstream"]
    assert (stg["name"], stg["how"]) == ("stg.src__items.item_name", "transformation")
    assert [(n["name"], n["how"]) for n in stg["upstream"]] == [("raw.src__items.name", "transformation")]
    code, out = run(mini, "lineage", "show", "raw.src__items.id")
    assert code == 0
    assert "raw.src__items.id (column lineage)" in out
    assert "stg.src__items.item_id (transformation)" in out and "core.items.item_id (identity)" in out


def test_show_table_and_errors(mini: Path) -> None:
    code, out = run(mini, "lineage", "show", "stg.src__items")
    assert code == 0
    assert "upstream" in out and "raw.src__items" in out and "core.items" in out
    report = json.loads(run(mini, "lineage", "show", "items", "--json")[1])
    assert report["table"] == "core.items" and report["upstream"][0]["upstream"][0]["name"] == "raw.src__items"
    code, out = run(mini, "lineage", "show", "core.items.nope")
    assert code == 1 and "has no column 'nope'" in out
    code, out = run(mini, "lineage", "show", "core.nothing")
    assert code == 1 and "no table" in out


def test_raw_columns_feeding_the_cross_source_account_key() -> None:
    """Hand-worked: core.account_company_map.account_key = TO_HEX(MD5(stg.hubspot__companies.domain)), falling
    back to the HubSpot company id for companies without a domain; stg.domain is the normalised
    raw.hubspot__companies.property_domain and stg.company_id is raw id. Nothing else feeds it directly, and
    core.accounts takes its key from the map (the formula is written once)."""
    from kcrm_gov.lineage.graph import show_lineage

    project = Project.load(Path(__file__).resolve().parent.parent)
    report = show_lineage(project, "core.account_company_map.account_key")

    def leaves(nodes: list[dict]) -> set[str]:
        out: set[str] = set()
        for node in nodes:
            out |= leaves(node["upstream"]) if node["upstream"] else {node["name"]}
        return out

    assert {n["name"] for n in report["upstream"]} == {"stg.hubspot__companies.domain",
                                                        "stg.hubspot__companies.company_id"}
    assert leaves(report["upstream"]) == {"raw.hubspot__companies.property_domain", "raw.hubspot__companies.id"}
    assert all(n["masking"] for n in report["upstream"])  # the MD5 hides the domain it is made of
    def below(nodes: list[dict]) -> set[str]:
        return {n["name"] for n in nodes} | {name for n in nodes for name in below(n["downstream"])}

    assert {n["name"] for n in report["downstream"]} == {"core.accounts.account_key", "core.contacts.account_key",
                                                          "core.leads.account_key"}
    assert {"core.opportunities.account_key", "core.tickets.account_key", "core.usage_events.account_key",
            "core.invoices.account_key"} <= below(report["downstream"])
    accounts = show_lineage(project, "core.accounts.account_key")
    assert {n["name"] for n in accounts["upstream"]} == {"core.account_company_map.account_key"}

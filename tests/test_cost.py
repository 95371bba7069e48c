"""Cost before it is spent: ``build --dry-run`` prices each model from the bytes the BigQuery
client reports, and ``check --target`` fails a build that scans more than the target's budget.

The BigQuery API emulator validates a dry run and returns its schema, but always reports 0 bytes
processed (.ci/BQEMULATOR.md). So that the arithmetic is proved on figures that are not zero, the
emulator tests talk to it through :class:`BytesReportingProxy`: a plain HTTP relay that passes
every request and answer through untouched, except that a dry-run job's answer carries
``totalBytesProcessed`` = a figure the proxy chooses from the query text and records. That figure
then travels the real path: HTTP JSON → google-cloud-bigquery's ``QueryJob.total_bytes_processed``
→ ``BigQueryEngine.dry_run`` → the report, where the test compares it with what the proxy sent.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from miniproject import make

from kcrm_gov.config import ConfigError, load_config, parse_bytes
from kcrm_gov.gate import cost_step
from kcrm_gov.project import Project

ENDPOINT = os.environ.get("KCRM_GOV_BQ_ENDPOINT")
GCP_PROJECT = os.environ.get("KCRM_GOV_BQ_PROJECT", "kcrm-test")
TIB = 2**40
needs_emulator = pytest.mark.skipif(not ENDPOINT, reason="KCRM_GOV_BQ_ENDPOINT is not set (no BigQuery API emulator)")

BASE_CONFIG = "name: mini\ndefault_target: local\ntargets:\n  local:\n    type: duckdb\n" \
              "    path: .kcrm/warehouse.duckdb\n    threads: 2\n"


def run_cli(root: Path, *args: str) -> Result:
    """``kcrm-gov --project-dir root ARGS`` (its exit code is the test's to check)."""
    from kcrm_gov.cli import cli

    return CliRunner().invoke(cli, ["--project-dir", str(root), *args])


def with_target(root: Path, prod: str) -> Path:
    """The mini project with a ``prod`` BigQuery target whose body is ``prod`` (indented YAML)."""
    (root / "kcrm_gov.yml").write_text(BASE_CONFIG + "  prod:\n    type: bigquery\n" + prod)
    return root


# --- settings --------------------------------------------------------------------------------------
def test_target_settings_parse_with_defaults_for_real_bigquery(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = with_target(make(tmp_path / "p"), "    project: p\n    max_bytes_per_model: 50 GiB\n"
                                             "    max_bytes_per_build: 2000000\n    api_timeout: 300\n")
    prod = load_config(root).targets["prod"]
    assert (prod.api_timeout, prod.api_deadline, prod.job_timeout, prod.threads) == (300.0, 120.0, 3600.0, 4)
    assert prod.price_per_tib == 6.25
    assert (prod.max_bytes_per_model, prod.max_bytes_per_build) == (50 * 2**30, 2_000_000)
    monkeypatch.setenv("KCRM_GOV_PROD__PRICE_PER_TIB", "5.5")  # the environment overrides the file
    monkeypatch.setenv("KCRM_GOV_PROD__MAX_BYTES_PER_MODEL", "1.5 TB")
    prod = load_config(root).targets["prod"]
    assert (prod.price_per_tib, prod.max_bytes_per_model) == (5.5, 1_500_000_000_000)
    assert parse_bytes("10 MiB") == 10 * 2**20 and parse_bytes(7) == 7
    for bad in ("ten GiB", "5 parsecs", -1):
        with pytest.raises(ValueError, match="not a size"):
            parse_bytes(bad)
    monkeypatch.setenv("KCRM_GOV_PROD__API_DEADLINE", "0")
    with pytest.raises(ConfigError, match="api_deadline must be a positive number"):
        load_config(root)


# --- where no figure can be had ----------------------------------------------------------------------
def test_duckdb_dry_run_says_it_has_no_cost_model_and_check_skips_the_budget(tmp_path: Path) -> None:
    root = with_target(make(tmp_path / "p"), "    project: p\n    max_bytes_per_model: 1\n")
    result = run_cli(root, "build", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [m["table"] for m in report["models"]] == ["stg.src__items", "core.items"]
    assert report["total_bytes"] is None and all(m["bytes"] is None for m in report["models"])
    assert "has no cost model" in report["notes"][0]
    step = cost_step(Project.load(root))  # the default target: DuckDB
    assert step.ok and step.summary.startswith("skipped: target 'local' (duckdb) has no cost model")


def test_budget_is_skipped_with_the_reason_without_credentials_or_when_unreachable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make(tmp_path / "p")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    with_target(root, "    project: p\n    max_bytes_per_model: 1 GiB\n")
    step = cost_step(Project.load(root), "prod")
    assert step.ok and "cannot be reached or has no credentials" in step.summary
    assert "no Google credentials for target 'prod'" in step.details[0]
    # an endpoint where nothing listens: every call fails within the target's api_deadline
    with_target(root, "    project: p\n    max_bytes_per_model: 1 GiB\n    api_endpoint: http://127.0.0.1:9\n"
                      "    api_deadline: 1\n    api_timeout: 1\n")
    step = cost_step(Project.load(root), "prod")
    assert step.ok and "cannot reach BigQuery at http://127.0.0.1:" in step.details[0]
    with_target(root, "    project: p\n")
    assert cost_step(Project.load(root), "prod").summary.startswith("skipped: target 'prod' sets no scan budget")


# --- on the BigQuery emulator ------------------------------------------------------------------------
class BytesReportingProxy:
    """An HTTP relay to the emulator that fills in a dry run's ``totalBytesProcessed``.

    ``reported[query] = bytes`` records what it said for each dry-run query. The figure is chosen
    from the query text (between 1 and 1,000 GiB), so different models get different figures."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.reported: dict[str, int] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers,
                                                 method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=120) as answer:
                        status, payload, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
                except urllib.error.HTTPError as error:
                    status, payload, kind = error.code, error.read(), error.headers.get("Content-Type")
                job = json.loads(body) if body and self.command == "POST" and self.path.split("?")[0].endswith(
                    "/jobs") else None
                if job and status == 200 and job.get("configuration", {}).get("dryRun"):
                    payload = proxy.report_bytes(job["configuration"]["query"]["query"], payload)
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def figure(query: str) -> int:
        """The bytes reported for ``query``: 1 to 1,000 GiB, from its text."""
        return (sum(query.encode()) % 1000 + 1) * 2**30

    def report_bytes(self, query: str, payload: bytes) -> bytes:
        figure = self.reported[query] = self.figure(query)
        answer = json.loads(payload)
        statistics = answer.setdefault("statistics", {})
        statistics["totalBytesProcessed"] = str(figure)  # the API sends int64 as text
        statistics.setdefault("query", {})["totalBytesProcessed"] = str(figure)
        return json.dumps(answer).encode()

    def __enter__(self) -> BytesReportingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def priced_project(tmp_path: Path) -> Iterator[tuple[Path, BytesReportingProxy]]:
    """The mini project built on the emulator (its tables must exist to be dry-run), with a
    ``prod`` target that reaches the emulator through the proxy, at 5 USD per TiB."""
    from miniproject import load_raw

    from kcrm_gov.config import Target
    from kcrm_gov.engines import open_engine
    from kcrm_gov.engines.bigquery import BigQueryEngine

    root = make(tmp_path / "p")
    load_raw(root, [(1, "a", 10.5, "2024-01-01T00:00:00Z"), (2, "b", 3, "2024-01-01T00:00:00Z")])
    prefix = f"kc{uuid.uuid4().hex[:8]}_"
    with BytesReportingProxy(ENDPOINT or "") as proxy:
        with_target(root, f"    project: {GCP_PROJECT}\n    api_endpoint: {proxy.url}\n    dataset_prefix: {prefix}\n"
                          "    price_per_tib: 5\n    threads: 1\n    api_timeout: 120\n")
        project = Project.load(root)
        local = open_engine(project)
        raw = project.contract("raw.src__items")
        rows = local.query_arrow(f"SELECT * FROM {local.relation('raw', 'src__items')}")
        local.close()
        # the raw rows go straight to the emulator (a load is a resumable upload the relay does not
        # speak); the models are built through the proxy, as `prod`
        remote = BigQueryEngine(project, Target(name="emulator", type="bigquery", project=GCP_PROJECT,
                                                api_endpoint=ENDPOINT, dataset_prefix=prefix))
        try:
            remote.write_arrow(raw, rows)
            assert run_cli(root, "build", "--target", "prod", "--no-seed").exit_code == 0
            yield root, proxy
        finally:
            for dataset in list(remote.client.list_datasets()):
                if dataset.dataset_id.startswith(prefix):
                    remote.client.delete_dataset(dataset.reference, delete_contents=True, not_found_ok=True)
            remote.close()


@needs_emulator
@pytest.mark.bigquery
def test_dry_run_cost_is_the_bytes_the_client_reports_times_the_price(
        priced_project: tuple[Path, BytesReportingProxy]) -> None:
    root, proxy = priced_project
    proxy.reported.clear()
    result = run_cli(root, "build", "--dry-run", "--target", "prod", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"] == "bigquery" and report["price_per_tib_usd"] == 5.0
    models = {m["table"]: m for m in report["models"]}
    assert sorted(models) == ["core.items", "stg.src__items"]

    from kcrm_gov.build import compile_model
    from kcrm_gov.engines import open_engine

    project = Project.load(root)
    with open_engine(project, "prod") as engine:
        sent = {t: compile_model(project, engine, t) for t in models}
    for table, model in models.items():
        reported = proxy.reported[sent[table]]  # what the client was told for exactly this model's SQL
        assert reported >= 2**30
        assert model["bytes"] == reported
        assert Decimal(str(model["cost_usd"])) == pytest.approx(Decimal(reported) / TIB * 5, rel=Decimal("1e-12"))
    total = sum(proxy.reported[sent[t]] for t in models)
    assert report["total_bytes"] == total
    assert report["total_cost_usd"] == pytest.approx(total / TIB * 5, rel=1e-12)

    text = run_cli(root, "build", "--dry-run", "--target", "prod")
    assert text.exit_code == 0
    assert f"{total:,}" in text.output and f"{total / TIB * 5:,.4f}" in text.output


@needs_emulator
@pytest.mark.bigquery
def test_check_fails_a_build_over_the_scan_budget_and_passes_within_it(
        priced_project: tuple[Path, BytesReportingProxy], monkeypatch: pytest.MonkeyPatch) -> None:
    root, proxy = priced_project
    # what each model scans, as the proxy reports it
    project = Project.load(root)
    from kcrm_gov.build import compile_model
    from kcrm_gov.engines import open_engine

    with open_engine(project, "prod") as engine:
        scans = {t: proxy.figure(compile_model(project, engine, t)) for t in ("stg.src__items", "core.items")}
    largest = max(scans, key=lambda t: scans[t])

    monkeypatch.setenv("KCRM_GOV_PROD__MAX_BYTES_PER_MODEL", str(scans[largest] - 1))
    result = run_cli(root, "check", "--target", "prod", "--json")
    step = next(s for s in json.loads(result.stdout)["steps"] if s["name"] == "cost")
    assert result.exit_code == 1 and not step["ok"], step
    assert len(step["details"]) == 1 + (min(scans.values()) > scans[largest] - 1)
    message = step["details"][0] if largest in step["details"][0] else step["details"][1]
    assert f"{largest} would scan" in message and f"({scans[largest]:,} bytes" in message
    assert f"${scans[largest] / TIB * 6.25:,.4f}" not in message  # priced at the target's 5 USD, not the default
    assert f"${scans[largest] / TIB * 5:,.4f}" in message and f"({scans[largest] - 1:,} bytes; max_bytes_per_model" \
        in message
    assert step["annotations"][0]["path"].endswith(f"models/{largest.replace('.', '/')}.sql")

    total = sum(scans.values())
    monkeypatch.setenv("KCRM_GOV_PROD__MAX_BYTES_PER_MODEL", str(scans[largest]))
    monkeypatch.setenv("KCRM_GOV_PROD__MAX_BYTES_PER_BUILD", str(total - 1))
    step = cost_step(Project.load(root), "prod")
    assert not step.ok and step.details == [next(d for d in step.details if d.startswith("a build of all 2 models"))]
    assert f"({total:,} bytes" in step.details[0] and f"{largest} " in step.details[0]

    monkeypatch.setenv("KCRM_GOV_PROD__MAX_BYTES_PER_BUILD", str(total))  # exactly the budget: within it
    step = cost_step(Project.load(root), "prod")
    assert step.ok and step.exit_code == 0 and "0 over budget" in step.summary, step


@needs_emulator
@pytest.mark.bigquery
def test_dry_run_prices_an_incremental_model_by_the_window_its_next_build_reads(tmp_path: Path) -> None:
    """Before its first build an incremental model is priced in full; once built, by its window (each
    source read from the high-water mark minus the lookback, a literal the warehouse prunes on); with
    --full-refresh in full again. What the client was told for exactly that SQL is what is reported."""
    import datetime as dt

    import test_incremental as inc

    from kcrm_gov.build import compile_model, window_sql
    from kcrm_gov.config import Target
    from kcrm_gov.engines import open_engine
    from kcrm_gov.engines.bigquery import BigQueryEngine

    root = inc.make(tmp_path / "p")
    table = "stg.src__events"
    prefix = f"kw{uuid.uuid4().hex[:8]}_"
    with BytesReportingProxy(ENDPOINT or "") as proxy:
        with_target(root, f"    project: {GCP_PROJECT}\n    api_endpoint: {proxy.url}\n    dataset_prefix: {prefix}\n"
                          "    price_per_tib: 5\n    threads: 1\n    api_timeout: 120\n")
        project = Project.load(root)
        raw = project.contract("raw.src__events")
        def dry_run(*extra: str) -> dict[str, object]:
            result = run_cli(root, "build", "--dry-run", "--target", "prod", "--json", "--select", table, *extra)
            assert result.exit_code == 0, result.output
            [model] = json.loads(result.stdout)["models"]
            return model

        remote = BigQueryEngine(project, Target(name="emulator", type="bigquery", project=GCP_PROJECT,
                                                api_endpoint=ENDPOINT, dataset_prefix=prefix))
        try:
            remote.write_arrow(raw, inc.raw_rows(raw, inc.history()))
            with open_engine(project, "prod") as engine:
                full_sql = compile_model(project, engine, table)

            first = dry_run()  # not built yet: its first build reads every row
            assert first["window_from"] is None and "not built yet" in str(first["note"])
            assert first["bytes"] == proxy.reported[full_sql]

            assert run_cli(root, "build", "--target", "prod", "--no-seed", "--select", table).exit_code == 0
            remote.write_arrow(raw, inc.raw_rows(raw, inc.APPENDED), mode="append")
            proxy.reported.clear()
            windowed = dry_run()
            # the last load in the history is 2023-01-08 22:00 UTC; the lookback is 3 days
            cutoff = dt.datetime(2023, 1, 5, 22, tzinfo=dt.UTC)
            assert windowed["window_from"] == cutoff.isoformat() and windowed["note"] is None
            with open_engine(project, "prod") as engine:
                window = window_sql(project, engine, table, cutoff)
            assert "2023-01-05T22:00:00+00:00" in window and window != full_sql
            assert list(proxy.reported) == [window]  # the window was priced, not the full model
            assert windowed["bytes"] == proxy.reported[window]

            text = run_cli(root, "build", "--dry-run", "--target", "prod", "--select", table)
            assert text.exit_code == 0
            assert "priced by its window: each source read from 2023-01-05T22:00:00+00:00" in text.output

            refresh = dry_run("--full-refresh")
            assert refresh["window_from"] is None and "--full-refresh" in str(refresh["note"])
            assert refresh["bytes"] == proxy.reported[full_sql]
        finally:
            for dataset in list(remote.client.list_datasets()):
                if dataset.dataset_id.startswith(prefix):
                    remote.client.delete_dataset(dataset.reference, delete_contents=True, not_found_ok=True)
            remote.close()

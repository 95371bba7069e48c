"""Faults end in a clear message, never a traceback, and never lose the summary (issue 12, item 5).

Each test makes one fault for real on the tiny mini project (raw.src__items -> stg -> core, built
once per module and copied per test): a file where ``.kcrm/runs`` or ``.kcrm`` should be (fails
even for root, unlike chmod), a cache entry of the wrong shape at its real key, a truncated results
file under the catalog, data dated after ``--now``, an empty ``--now``, a missing warehouse, a
BigQuery target without credentials and a sensitive freshness element.
"""

from __future__ import annotations

import html
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import miniproject
import pytest
from click.testing import CliRunner, Result
from conftest import REPO

from kcrm_gov.checks.sodacl import CheckSpec
from kcrm_gov.cli import cli

NOW = "2023-01-02T06:00:00Z"  # 6 h after the mini project's newest raw row (2023-01-02T00:00:00Z)
KCRM_GOV = str(Path(sys.executable).parent / "kcrm-gov")


def run(root: Path, *args: str) -> Result:
    """The CLI in this process; exceptions are caught so that a traceback shows as a failed assertion."""
    return CliRunner().invoke(cli, ["--project-dir", str(root), *args], obj={}, env={"KCRM_GOV_TARGET": None})


def run_process(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed ``kcrm-gov`` in a process of its own, as a user or a scheduler runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KCRM_GOV_")}
    return subprocess.run([KCRM_GOV, "--project-dir", str(root), *args], capture_output=True, text=True,
                          env={**base, **env}, timeout=300)


def assert_no_traceback(result: Result | subprocess.CompletedProcess[str]) -> None:
    if isinstance(result, Result):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
    else:
        assert "Traceback" not in result.stdout + result.stderr, result.stderr


@pytest.fixture(scope="module")
def built_mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = miniproject.make(tmp_path_factory.mktemp("faults") / "mini")
    miniproject.load_raw(root, miniproject.ROWS)
    result = run(root, "build")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def mini(built_mini: Path, tmp_path: Path) -> Path:
    """A private copy of the built mini project (its warehouse and results included)."""
    return Path(shutil.copytree(built_mini, tmp_path / "mini"))


# --- run artifacts that cannot be written --------------------------------------------------------
SUMMARIES = {
    "build": "2 built, 0 failed, 0 skipped",
    "build --test": "quality checks of 2 tables: 9 passed, 0 warned, 0 failed, 0 errors; results: not written",
    "test": "3 tables: 15 checks passed, 0 warned, 0 failed, 0 errors",
    "freshness": "1 tables: 1 fresh, 0 warn, 0 breach, 0 error, 0 unknown",
}


@pytest.mark.parametrize("command", list(SUMMARIES))
def test_unwritable_runs_folder_keeps_the_summary_then_says_so_and_exits_2(mini: Path, command: str) -> None:
    (mini / ".kcrm" / "runs").rename(mini / ".kcrm" / "runs.old")
    (mini / ".kcrm" / "runs").write_text("a file where the run history folder should be\n")
    args = [*command.split(), *(["--now", NOW] if command in ("test", "freshness") else [])]
    env = {"KCRM_GOV_NOW": NOW} if command == "build --test" else {}
    result = CliRunner().invoke(cli, ["--project-dir", str(mini), *args], obj={}, env=env)
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert SUMMARIES[command] in " ".join(result.stdout.split())
    error = "error: could not write the run results: .kcrm/runs/"
    assert error in result.stderr and ".kcrm/runs is a file, not a folder" in result.stderr
    assert output.index(SUMMARIES[command]) < output.index(error)  # the summary comes first
    assert result.output.count("error: could not write") == (2 if command == "build --test" else 1)
    # the latest results, which the catalog reads, are still written (atomically: no temporary file left)
    name = {"build --test": "build"}.get(command, command)
    assert json.loads((mini / ".kcrm" / f"{name}_results.json").read_text())["run_id"]
    assert not list((mini / ".kcrm").glob(".*.tmp"))


@pytest.mark.parametrize("command", ["build", "test", "freshness"])
def test_unwritable_runs_folder_with_json_still_prints_the_json(mini: Path, command: str) -> None:
    (mini / ".kcrm" / "runs").rename(mini / ".kcrm" / "runs.old")
    (mini / ".kcrm" / "runs").write_text("")
    result = run(mini, command, "--json", *(["--now", NOW] if command != "build" else []))
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)  # the JSON is the summary: printed whole
    assert data["run_id"] and data["counts"]
    assert "error: could not write the run results: .kcrm/runs/" in result.stderr


def test_kcrm_folder_replaced_by_a_file_is_a_message_not_a_traceback(mini: Path) -> None:
    shutil.rmtree(mini / ".kcrm")
    (mini / ".kcrm").write_text("not a folder\n")
    result = run(mini, "build")
    assert_no_traceback(result)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message
    assert message.endswith(f"{mini / '.kcrm'} is a file, not a folder")


# --- a cache entry of the wrong shape is rebuilt -------------------------------------------------
def test_disk_full_commit_leaves_the_warehouse_as_it_was(mini: Path) -> None:
    """A real fault, not a mock: the build runs with a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored)
    below what DuckDB's write-ahead log needs at COMMIT, as on a full disk the write fails."""
    import duckdb

    miniproject.write(mini, "models/stg/src__items.sql", miniproject.STG_SQL.replace("TRIM(name)", "UPPER(TRIM(name))"))
    warehouse = mini / ".kcrm" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute("SELECT * FROM stg.src__items ORDER BY item_id").fetchall()

    def limited() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    base = {k: v for k, v in os.environ.items() if not k.startswith("KCRM_GOV_")}
    result = subprocess.run([KCRM_GOV, "--project-dir", str(mini), "build", "--no-seed"], capture_output=True,
                            text=True, env=base, timeout=300, preexec_fn=limited)
    assert_no_traceback(result)
    assert result.returncode == 2  # the models failed (1), and the run results could not be written (2)
    output = result.stdout + result.stderr
    assert "could not commit (nothing was changed)" in output and "File too large" in output
    assert "1 failed, 1 skipped" in output  # the summary is there, core.items skipped
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT * FROM stg.src__items ORDER BY item_id").fetchall() == before
    assert run(mini, "build", "--no-seed").exit_code == 0  # with room again, the same build succeeds
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT item_name FROM stg.src__items WHERE item_id = 1").fetchone() == ("ALPHA",)


def _summary(text: str) -> str:
    return re.search(r"\d+ tables: .* errors", text).group(0)


def test_cache_entries_of_the_wrong_shape_are_rebuilt(mini: Path) -> None:
    first = run_process(mini, "test", "--now", NOW)
    assert first.returncode == 0, first.stderr
    entries = {kind: sorted((mini / ".kcrm" / "cache" / kind).glob("*.pickle")) for kind in ("checks", "sodacl")}
    assert entries["checks"] and entries["sodacl"], entries
    wrong = {"checks": {"raw.src__items": "not a (specs, text) pair"}, "sodacl": {"duckdb_raw": ["not", "a cfg"]}}
    for kind, paths in entries.items():
        for path in paths:  # the real key of each entry, now holding a value of the wrong shape
            path.write_bytes(pickle.dumps(wrong[kind]))

    second = run_process(mini, "test", "--now", NOW)  # a new process: the entries come from disk
    assert_no_traceback(second)
    assert second.returncode == 0, second.stderr
    assert _summary(second.stdout) == _summary(first.stdout) == "3 tables: 15 checks passed, 0 warned, 0 failed, " \
                                                                "0 errors"
    # ... and re-stored in the right shape under the same keys
    generated = pickle.loads(entries["checks"][0].read_bytes())
    assert set(generated) == {"raw.src__items", "stg.src__items", "core.items"}
    specs, text = generated["raw.src__items"]
    assert all(isinstance(s, CheckSpec) for s in specs) and "checks for src__items" in text
    from soda.sodacl.data_source_scan_cfg import DataSourceScanCfg

    for path in entries["sodacl"]:
        parsed = pickle.loads(path.read_bytes())
        assert parsed and all(isinstance(cfg, DataSourceScanCfg) for cfg in parsed.values())


# --- the catalog and a truncated results file ----------------------------------------------------
def test_truncated_results_file_is_reported_by_the_catalog_not_a_failed_build(mini: Path) -> None:
    shutil.copy(REPO / "mkdocs.yml", mini / "mkdocs.yml")
    shutil.copytree(REPO / "docs", mini / "docs")
    assert run(mini, "freshness", "--now", NOW).exit_code == 0
    results = mini / ".kcrm" / "freshness_results.json"
    results.write_text(results.read_text()[:150])  # as a full disk or a killed writer leaves it

    site = mini / "site-out"
    result = run(mini, "catalog", "build", "-q", "--site-dir", str(site))  # strict, the default
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: \.kcrm/freshness_results\.json is unreadable \(JSONDecodeError: .*\): the catalog "
                     r"shows no results from it", result.stderr), result.stderr
    page = html.unescape((site / "tables" / "raw" / "src__items" / "index.html").read_text())
    freshness = page[page.index('id="freshness"'):page.index('id="quality"')]
    assert ".kcrm/freshness_results.json is unreadable" in freshness
    assert "never run" not in freshness  # it ran: its results are unreadable, which is not the same
    assert "never run" in page[page.index('id="quality"'):]  # quality checks really never ran
    home = html.unescape((site / "index.html").read_text())
    assert "Unreadable run artifacts" in home and "all clear" not in home


# --- freshness: future-dated data, --now '' ------------------------------------------------------
def test_future_dated_data_is_an_error_not_fresh(mini: Path) -> None:
    result = run(mini, "freshness", "--now", "2023-01-01T20:48:00Z")  # 3.2 h before the newest row
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert ("error raw.src__items: MAX(_fivetran_synced) is 3.2 h in the future of now: freshness cannot be measured "
            "(clock skew, a bad source timestamp, or --now before the data)") in result.stdout
    assert "0 fresh, 0 warn, 0 breach, 1 error" in result.stdout
    data = json.loads((mini / ".kcrm" / "freshness_results.json").read_text())
    assert data["tables"][0]["status"] == "error" and data["exit_code"] == 2


def test_a_few_minutes_of_clock_skew_is_tolerated(mini: Path) -> None:
    result = run(mini, "freshness", "--now", "2023-01-01T23:56:00Z", "--json")  # 4 min before the newest row
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)["tables"][0]
    assert table["status"] == "fresh"
    assert table["message"] == ("MAX(_fivetran_synced) is 4.0 min ahead of now, within the 5 min clock-skew "
                                "tolerance: current")


@pytest.mark.parametrize("command", ["freshness", "test"])
@pytest.mark.parametrize("now", ["", "   "])
def test_empty_now_is_refused(mini: Path, command: str, now: str) -> None:
    result = run(mini, command, "--now", now)
    assert_no_traceback(result)
    assert result.exit_code == 2
    option = "--now" if command == "freshness" else "--now / KCRM_GOV_NOW"  # test and build --test read the env too
    assert result.stderr.startswith(f"error: {option} is empty: give an ISO timestamp (e.g. 2024-01-02T06:00:00Z), "
                                    f"or leave {'the option out' if command == 'freshness' else 'it unset'} to measure "
                                    "from the clock")
    assert result.stdout == ""  # refused before anything ran


# --- commands that could not run at all exit 2 ---------------------------------------------------
@pytest.mark.parametrize("command", ["freshness", "test"])
def test_missing_warehouse_exits_2_with_one_line(tmp_path: Path, command: str) -> None:
    root = miniproject.make(tmp_path / "fresh")  # never built: no .kcrm/warehouse.duckdb
    done = run_process(root, command)
    assert_no_traceback(done)
    assert done.returncode == 2
    assert done.stderr == (f"error: the warehouse {root / '.kcrm' / 'warehouse.duckdb'} does not exist yet: run "
                           "`kcrm-gov build` first\n")
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["freshness", "test", "build"])
def test_bigquery_target_without_credentials_exits_2_with_one_line(tmp_path: Path, command: str) -> None:
    root = miniproject.make(tmp_path / "bq")
    with (root / "kcrm_gov.yml").open("a") as config:
        config.write("  prod:\n    type: bigquery\n    project: kcrm-no-credentials\n")
    home = tmp_path / "empty-home"  # no ~/.config/gcloud: no Application Default Credentials
    home.mkdir()
    env = {"HOME": str(home), "CLOUDSDK_CONFIG": str(home / "gcloud"), "GOOGLE_APPLICATION_CREDENTIALS": "",
           "NO_GCE_CHECK": "True"}  # not on GCE either: no metadata-server probe
    done = run_process(root, command, "--target", "prod", **env)
    assert_no_traceback(done)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: no Google credentials for target 'prod' (")
    assert done.stderr.count("\n") == 1  # one line: no library warnings around it
    assert done.stdout == ""


# --- a sensitive freshness element ---------------------------------------------------------------
def test_sensitive_freshness_element_reports_the_age_only(mini: Path) -> None:
    contract = mini / "contracts" / "raw" / "src__items.odcs.yaml"
    text = contract.read_text()
    at = text.index("name: _fivetran_synced")
    text = text[:at] + text[at:].replace("classification: internal", "classification: restricted", 1)
    # a late-arrival allowance on a load-time element reports a provisional window: latest - 72 h
    text = text.replace("    element: src__items._fivetran_synced\n", "    element: src__items._fivetran_synced\n"
                        "    customProperties:\n      - property: lateArrivalAllowance\n        value: 72\n")
    contract.write_text(text)
    shutil.rmtree(mini / ".kcrm" / "lineage", ignore_errors=True)

    shown = run(mini, "freshness", "--now", NOW)
    as_json = run(mini, "freshness", "--now", NOW, "--json")
    assert shown.exit_code == as_json.exit_code == 0, shown.output
    assert "(sensitive)" in shown.stdout and "6.0 h" in shown.stdout
    table = json.loads(as_json.stdout)["tables"][0]
    assert table["latest"] is None and table["provisional_since"] is None and table["latest_hidden"] is True
    assert table["age_hours"] == 6.0 and table["message"].startswith("MAX(_fivetran_synced) is 6.0 h old")
    events = list((mini / ".kcrm" / "lineage").rglob("*.jsonl"))
    assert events  # the freshness run was sent as OpenLineage events ...
    for where in [shown.stdout, as_json.stdout, (mini / ".kcrm" / "freshness_results.json").read_text(),
                  *(p.read_text() for p in events)]:
        # ... and neither they, the console nor the results hold the newest value (or latest - 72 h)
        assert "2023-01-02T00" not in where and "2023-01-02 00" not in where and "2022-12-30" not in where

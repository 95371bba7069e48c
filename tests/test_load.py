"""Contract-checked raw loading: row accounting, quarantine, schema drift, bad files, atomicity."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import kcrm_gov.load as load_module
from kcrm_gov.cli import cli
from kcrm_gov.engines.duckdb import DuckDBEngine
from kcrm_gov.load import (
    EmptyFileError,
    GarbledFileError,
    MissingFileError,
    SchemaDriftError,
    UnknownTableError,
    load,
)
from kcrm_gov.project import Project
from kcrm_gov.seed import seed_to_files

TICKETS = "zendesk__tickets"

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.load(REPO)


@pytest.fixture(scope="module")
def exports(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small exports of two tables in every format (seed scale 0.01)."""
    out = tmp_path_factory.mktemp("exports")
    for fmt in ("csv", "jsonl", "parquet"):
        seed_to_files(project, out / fmt, fmt, scale=0.01, seed=3, tables=[TICKETS, "ga4__events"])
    return out


@pytest.fixture
def engine(project: Project, tmp_path: Path):
    eng = DuckDBEngine(project, replace(project.config.target(), path=tmp_path / "wh.duckdb"))
    yield eng
    eng.close()


def count(engine: DuckDBEngine, table: str = TICKETS) -> int | None:
    if not engine.table_exists("raw", table):
        return None
    return engine.con.execute(f'SELECT COUNT(*) FROM raw."{table}"').fetchone()[0]


def quarantine(engine: DuckDBEngine, load_id: str | None = None) -> list[dict]:
    if not engine.table_exists("raw", "_quarantine"):
        return []
    where = f"WHERE load_id = '{load_id}'" if load_id else ""
    cur = engine.con.execute(f"SELECT * FROM raw._quarantine {where} ORDER BY source_file, row_number")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def assert_accounting(engine: DuckDBEngine, result, before: int) -> None:
    assert result.loaded + result.quarantined == result.total
    assert count(engine) - before == result.loaded
    rejected = [r for r in quarantine(engine, result.load_id) if r["rule"] != "new_column"]
    assert len(rejected) == result.quarantined
    assert sum(result.rules.values()) == result.quarantined


def ticket_rows(exports: Path, n: int = 5) -> tuple[list[str], list[dict]]:
    with open(exports / "csv" / f"{TICKETS}.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = [row for _, row in zip(range(n), reader, strict=False)]
        return list(reader.fieldnames or []), rows


def write_csv(path: Path, header: list[str], rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- clean files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_clean_file_loads_every_row(project: Project, engine: DuckDBEngine, exports: Path, fmt: str) -> None:
    result = load(project, engine, TICKETS, [exports / fmt / f"{TICKETS}.{fmt}"])
    # 200 tickets at scale 0.01, one row each (the loader's grain: no re-synced copies)
    assert result.total == 200 and result.loaded == 200 and result.quarantined == 0
    assert count(engine) == 200
    assert quarantine(engine) == []


def test_nested_ga4_round_trips_through_csv_jsonl_and_parquet(project: Project, tmp_path: Path,
                                                              exports: Path) -> None:
    import pyarrow.parquet as pq

    events = pq.read_metadata(exports / "parquet" / "ga4__events.parquet").num_rows
    assert events > 300  # 300 sessions at scale 0.01, several events each
    tables = []
    for fmt in ("csv", "jsonl", "parquet"):
        eng = DuckDBEngine(project, replace(project.config.target(), path=tmp_path / f"{fmt}.duckdb"))
        result = load(project, eng, "raw.ga4__events", [exports / fmt / f"ga4__events.{fmt}"])
        assert (result.loaded, result.quarantined) == (events, 0)
        tables.append(eng.con.execute("SELECT * FROM raw.ga4__events ORDER BY event_timestamp").to_arrow_table())
        eng.close()
    assert tables[0].equals(tables[2])
    assert tables[1].equals(tables[2])


def test_several_files_in_one_load(project: Project, engine: DuckDBEngine, exports: Path, tmp_path: Path) -> None:
    header, rows = ticket_rows(exports, 10)
    a = write_csv(tmp_path / "a.csv", header, rows[:6])
    b = write_csv(tmp_path / "b.csv", header, rows[6:])
    result = load(project, engine, TICKETS, [a, b])
    assert (result.total, result.loaded, result.quarantined) == (10, 10, 0)


# --- bad rows -----------------------------------------------------------------------------------------
def test_each_kind_of_bad_row_is_quarantined(project: Project, engine: DuckDBEngine, exports: Path,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = project.contract(f"raw.{TICKETS}").column("status")
    monkeypatch.setattr(status, "allowed_values",
                        ("new", "open", "pending", "hold", "solved", "closed", "deleted"))
    header, rows = ticket_rows(exports, 8)
    bad = [dict(r) for r in rows]
    bad[1]["id"] = "abc"  # wrong type
    bad[2]["id"] = "10.5"  # not a whole number
    bad[3]["created_at"] = "yesterday"  # wrong type
    bad[4]["status"] = ""  # missing required (empty CSV cell is null)
    bad[5]["status"] = "exploded"  # not an allowed value
    bad[6] = dict(bad[0])  # duplicate key within the file
    path = write_csv(tmp_path / "bad.csv", header, bad)
    result = load(project, engine, TICKETS, [path])
    assert (result.total, result.loaded, result.quarantined) == (8, 2, 6)
    assert result.rules == {"type": 3, "required": 1, "allowed_values": 1, "duplicate_key": 1}
    assert_accounting(engine, result, 0)
    q = {r["row_number"]: r for r in quarantine(engine)}
    assert set(q) == {2, 3, 4, 5, 6, 7}
    assert (q[2]["rule"], q[2]["column_name"]) == ("type", "id")
    assert json.loads(q[2]["original_values"])["id"] == "abc"
    assert (q[4]["rule"], q[4]["column_name"]) == ("type", "created_at")
    assert (q[5]["rule"], q[5]["column_name"]) == ("required", "status")
    assert (q[6]["rule"], q[6]["column_name"]) == ("allowed_values", "status")
    assert (q[7]["rule"], q[7]["column_name"]) == ("duplicate_key", "id")
    assert q[2]["source_file"] == str(path) and q[2]["target_table"] == f"raw.{TICKETS}"


def test_duplicate_key_against_loaded_rows(project: Project, engine: DuckDBEngine, exports: Path,
                                           tmp_path: Path) -> None:
    header, rows = ticket_rows(exports, 6)
    first = load(project, engine, TICKETS, [write_csv(tmp_path / "first.csv", header, rows[:4])])
    assert first.loaded == 4
    second = load(project, engine, TICKETS, [write_csv(tmp_path / "second.csv", header, rows[2:])])
    assert (second.total, second.loaded, second.quarantined) == (4, 2, 2)
    assert second.rules == {"duplicate_key_loaded": 2}
    assert_accounting(engine, second, 4)


def test_missing_required_column_quarantines_every_row(project: Project, engine: DuckDBEngine, exports: Path,
                                                       tmp_path: Path) -> None:
    header, rows = ticket_rows(exports, 3)
    header = [h for h in header if h != "status"]
    rows = [{k: v for k, v in r.items() if k != "status"} for r in rows]
    result = load(project, engine, TICKETS, [write_csv(tmp_path / "nostatus.csv", header, rows)])
    assert (result.loaded, result.quarantined, result.rules) == (0, 3, {"required": 3})


def test_jsonl_bad_rows(project: Project, engine: DuckDBEngine, exports: Path, tmp_path: Path) -> None:
    lines = (exports / "jsonl" / f"{TICKETS}.jsonl").read_text().splitlines()[:3]
    row = json.loads(lines[1])
    row["requester_id"] = "not a number"
    lines[1] = json.dumps(row)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = load(project, engine, TICKETS, [path])
    assert (result.loaded, result.quarantined, result.rules) == (2, 1, {"type": 1})
    (q,) = quarantine(engine)
    assert q["row_number"] == 2 and json.loads(q["original_values"]) == row


# --- schema drift -------------------------------------------------------------------------------------
def test_unknown_column_fails_and_names_it(project: Project, engine: DuckDBEngine, exports: Path,
                                           tmp_path: Path) -> None:
    header, rows = ticket_rows(exports, 3)
    for r in rows:
        r["sla_policy"] = "gold"
    path = write_csv(tmp_path / "drift.csv", [*header, "sla_policy"], rows)
    with pytest.raises(SchemaDriftError, match="sla_policy") as err:
        load(project, engine, TICKETS, [path])
    assert "drift.csv" in str(err.value)
    assert count(engine) is None and quarantine(engine) == []


def test_unknown_column_recorded_with_allow_new_columns(project: Project, engine: DuckDBEngine, exports: Path,
                                                        tmp_path: Path) -> None:
    header, rows = ticket_rows(exports, 3)
    for i, r in enumerate(rows):
        r["sla_policy"] = ["gold", "silver", ""][i]
    path = write_csv(tmp_path / "drift.csv", [*header, "sla_policy"], rows)
    result = load(project, engine, TICKETS, [path], allow_new_columns=True)
    assert (result.total, result.loaded, result.quarantined) == (3, 3, 0)
    assert result.new_columns == ["sla_policy"]
    assert_accounting(engine, result, 0)
    (notice,) = quarantine(engine, result.load_id)
    assert (notice["rule"], notice["column_name"], notice["row_number"]) == ("new_column", "sla_policy", None)
    assert json.loads(notice["original_values"]) == {"non_null_values": 2, "sample": ["gold", "silver"]}


# --- unusable input: clear errors, nothing written ------------------------------------------------
def _preload(project: Project, engine: DuckDBEngine, exports: Path, tmp_path: Path) -> int:
    header, rows = ticket_rows(exports, 5)
    load(project, engine, TICKETS, [write_csv(tmp_path / "pre.csv", header, rows)])
    return count(engine)


def test_empty_files(project: Project, engine: DuckDBEngine, exports: Path, tmp_path: Path) -> None:
    before = _preload(project, engine, exports, tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(EmptyFileError, match="empty"):
        load(project, engine, TICKETS, [empty])
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(ticket_rows(exports, 1)[0]) + "\n")
    with pytest.raises(EmptyFileError, match="no data rows") as err:
        load(project, engine, TICKETS, [header_only])
    assert "header.csv" in str(err.value)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n")
    with pytest.raises(EmptyFileError):
        load(project, engine, TICKETS, [blank])
    assert count(engine) == before


def test_truncated_or_garbled_files(project: Project, engine: DuckDBEngine, exports: Path, tmp_path: Path) -> None:
    before = _preload(project, engine, exports, tmp_path)
    quarantined_before = len(quarantine(engine))
    text = (exports / "csv" / f"{TICKETS}.csv").read_text().splitlines()[:6]
    text[4] = ",".join(text[4].split(",")[:3])  # a line cut short
    garbled = tmp_path / "garbled.csv"
    garbled.write_text("\n".join(text) + "\n")
    fields = len(text[0].split(","))  # the header: one field per column of the contract
    with pytest.raises(GarbledFileError, match=f"expected {fields} fields, found 3") as err:
        load(project, engine, TICKETS, [garbled])
    assert err.value.location.line == 5 and "garbled.csv:5" in str(err.value)

    lines = (exports / "jsonl" / f"{TICKETS}.jsonl").read_text()
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(lines[: len(lines) // 2])  # cut in the middle of a record
    with pytest.raises(GarbledFileError, match="JSONL") as err:
        load(project, engine, TICKETS, [truncated])
    assert err.value.location.line > 1

    data = (exports / "parquet" / f"{TICKETS}.parquet").read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(GarbledFileError, match="PARQUET"):
        load(project, engine, TICKETS, [cut])
    not_json = tmp_path / "list.jsonl"
    not_json.write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(GarbledFileError, match="record 2 is not a JSON object"):
        load(project, engine, TICKETS, [not_json])
    assert count(engine) == before
    assert len(quarantine(engine)) == quarantined_before


def test_missing_file_and_unknown_table(project: Project, engine: DuckDBEngine, exports: Path,
                                        tmp_path: Path) -> None:
    good = exports / "csv" / f"{TICKETS}.csv"
    with pytest.raises(MissingFileError, match="no such file") as err:
        load(project, engine, TICKETS, [good, tmp_path / "nope.csv"])
    assert "nope.csv" in str(err.value)
    with pytest.raises(UnknownTableError, match=r"did you mean raw\.zendesk__tickets"):
        load(project, engine, "zendesk__ticket", [good])
    with pytest.raises(UnknownTableError, match="raw tables only"):
        load(project, engine, "stg.zendesk__tickets", [good])
    assert count(engine) is None


# --- all or nothing -------------------------------------------------------------------------------------
def test_crash_half_way_leaves_everything_as_it_was(project: Project, engine: DuckDBEngine, exports: Path,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _preload(project, engine, exports, tmp_path)
    header, rows = ticket_rows(exports, 12)
    rows[8]["id"] = "oops"  # one quarantined row, written before the append
    path = write_csv(tmp_path / "crash.csv", header, rows[5:])
    snapshot = engine.con.execute(f"SELECT * FROM raw.{TICKETS} ORDER BY ALL").fetchall()
    quarantined_before = quarantine(engine)
    written = []

    def crash(engine_, contract, relation):
        written.append(engine_.con.execute("SELECT COUNT(*) FROM raw._quarantine").fetchone()[0])
        raise RuntimeError("disk full")

    monkeypatch.setattr(load_module, "_append_valid", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        load(project, engine, TICKETS, [path])
    assert written == [len(quarantined_before) + 1]  # the quarantine insert had happened ...
    assert engine.con.execute(f"SELECT * FROM raw.{TICKETS} ORDER BY ALL").fetchall() == snapshot
    assert quarantine(engine) == quarantined_before  # ... and was rolled back
    assert count(engine) == before
    monkeypatch.undo()
    result = load(project, engine, TICKETS, [path])  # the retry works
    assert (result.loaded, result.quarantined) == (6, 1)


# --- the CLI --------------------------------------------------------------------------------------------
def test_cli_load(project_dir: Path, exports: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    header, rows = ticket_rows(exports, 4)
    rows[1]["id"] = "x"
    path = write_csv(tmp_path / "cli.csv", header, rows)
    base = ["--project-dir", str(project_dir), "load"]
    result = runner.invoke(cli, [*base, TICKETS, str(path)])
    assert result.exit_code == 0, result.output
    assert "loaded 3 / quarantined 1 / total 4" in result.stdout
    result = runner.invoke(cli, [*base, TICKETS, str(path), "--json"])
    data = json.loads(result.stdout)
    assert (data["loaded"], data["quarantined"], data["total"]) == (0, 4, 4)
    assert data["rules"] == {"type": 1, "duplicate_key_loaded": 3}
    result = runner.invoke(cli, [*base, TICKETS, str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "no such file" in result.stderr

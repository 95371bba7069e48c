"""kcrm-gov build on DuckDB: DAG order, selection, contract enforcement, and every fault path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import duckdb
import miniproject
import pytest
from click.testing import CliRunner

from kcrm_gov.cli import cli
from kcrm_gov.dag import DagError, build_dag, select
from kcrm_gov.project import Project


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    root = miniproject.make(tmp_path / "mini")
    miniproject.load_raw(root, miniproject.ROWS)
    return root


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], catch_exceptions=False)
    return result.exit_code, result.output


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / ".kcrm" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def write_model(root: Path, rel: str, sql: str) -> None:
    (root / rel).write_text(textwrap.dedent(sql))


def test_build_runs_models_in_order_and_writes_results(mini: Path) -> None:
    code, out = run(mini, "build")
    assert code == 0, out
    assert "2 built, 0 failed, 0 skipped" in out
    # the re-sync of id 1 is de-duplicated to its latest row
    assert query(mini, "SELECT item_id, item_name, amount_usd FROM core.items ORDER BY 1") == [
        (1, "Alpha", pytest.approx(11.25)), (2, "Beta", None), (3, "unknown", 3)]
    results = json.loads((mini / ".kcrm" / "build_results.json").read_text())
    assert [m["table"] for m in results["models"]] == ["stg.src__items", "core.items"]
    assert results["ok"] and results["models"][1]["rows_written"] == 3
    assert results["target"] == "local" and results["engine"] == "duckdb"


def test_json_output_is_the_run_artifact(mini: Path) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(mini), "build", "--json"])
    data = json.loads(result.stdout)
    assert data["counts"] == {"success": 2, "error": 0, "skipped": 0}
    assert {"run_id", "target", "models", "started_at", "seconds"} <= set(data)


def test_contract_enforced_types_are_built_as_the_contract_says(mini: Path) -> None:
    run(mini, "build")
    types = dict(query(mini, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = 'core' AND table_name = 'items'"))
    assert types == {"item_id": "BIGINT", "item_name": "VARCHAR", "amount_usd": "DECIMAL(38,9)"}
    nullable = dict(query(mini, "SELECT column_name, is_nullable FROM information_schema.columns "
                                "WHERE table_schema = 'core' AND table_name = 'items'"))
    assert nullable["item_id"] == "NO" and nullable["amount_usd"] == "YES"


def test_schema_mismatch_fails_keeps_previous_table_and_skips_downstream(mini: Path) -> None:
    assert run(mini, "build")[0] == 0
    write_model(mini, "models/stg/src__items.sql", """\
        SELECT CAST(id AS INT64) AS item_id, name AS item_name, CAST(amount AS FLOAT64) AS amount, 1 AS extra
        FROM raw.src__items
        QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
        """)
    code, out = run(mini, "build")
    assert code == 1
    assert "stg.src__items does not match its contract" in out
    assert "amount" in out and "DECIMAL(38, 9)" in out and "DOUBLE" in out and "type differs" in out
    assert "extra" in out and "not in the contract" in out
    assert "skipped" in out  # core.items
    assert query(mini, "SELECT COUNT(*) FROM stg.src__items") == [(3,)]
    results = json.loads((mini / ".kcrm" / "build_results.json").read_text())
    stg, core = results["models"]
    assert stg["status"] == "error" and {m["column"] for m in stg["mismatches"]} == {"amount", "extra"}
    assert core["status"] == "skipped" and "upstream stg.src__items failed" in core["error"]


def test_missing_column_is_a_mismatch(mini: Path) -> None:
    write_model(mini, "models/core/items.sql", "SELECT item_id, item_name FROM stg.src__items\n")
    code, out = run(mini, "build")
    assert code == 1 and "amount_usd" in out and "missing from the model's output" in out


def test_null_in_required_column_fails_and_keeps_previous_table(mini: Path) -> None:
    assert run(mini, "build")[0] == 0
    write_model(mini, "models/core/items.sql",
                "SELECT item_id, item_name, amount AS amount_usd FROM stg.src__items\n")
    code, out = run(mini, "build")
    assert code == 1
    assert "column 'item_name' is required by the contract, but the model produced NULL in 1 row" in out
    assert query(mini, "SELECT item_name FROM core.items WHERE item_id = 3") == [("unknown",)]


def test_duplicate_primary_key_fails(mini: Path) -> None:
    write_model(mini, "models/stg/src__items.sql",
                "SELECT CAST(id AS INT64) AS item_id, name AS item_name, amount FROM raw.src__items\n")
    code, out = run(mini, "build")
    assert code == 1 and "primary key (item_id)" in out and "not unique" in out
    assert not query(mini, "SELECT * FROM information_schema.tables WHERE table_name LIKE '__kcrm_build__%'")


def test_built_tables_carry_no_key_index_and_their_key_columns_are_not_null(mini: Path) -> None:
    """The build checks keys by query: a DuckDB key index would hold memory DuckDB cannot evict while
    other models write (8.4 GiB at scale 100)."""
    assert run(mini, "build")[0] == 0
    assert query(mini, "SELECT table_name FROM duckdb_constraints() WHERE constraint_type IN "
                       "('PRIMARY KEY', 'UNIQUE')") == []
    assert query(mini, "SELECT count(*) FROM duckdb_indexes()") == [(0,)]
    assert query(mini, "SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'stg' "
                       "AND table_name = 'src__items' AND column_name = 'item_id'") == [("NO",)]


def test_model_failing_at_run_time_keeps_previous_table(mini: Path) -> None:
    assert run(mini, "build")[0] == 0
    write_model(mini, "models/core/items.sql", """\
        SELECT item_id, COALESCE(item_name, 'unknown') AS item_name,
               CAST(CAST(CAST(item_id AS STRING) || '.5' AS INT64) AS NUMERIC) AS amount_usd
        FROM stg.src__items
        """)
    code, out = run(mini, "build")
    assert code == 1 and "models/core/items.sql" in out and "failed at run time" in out
    assert query(mini, "SELECT COUNT(*), SUM(amount_usd) FROM core.items") == [(3, pytest.approx(14.25))]


def test_syntax_error_names_file_line_and_column(mini: Path) -> None:
    write_model(mini, "models/core/items.sql", "SELECT item_id,\n  (item_name\nFROM stg.src__items\n")
    code, out = run(mini, "build")
    assert code == 1
    assert "models/core/items.sql:3:4: SQL syntax error: Expecting )" in out


@pytest.mark.parametrize("command", ["check", "build"])
def test_unterminated_string_is_a_syntax_error_not_a_traceback(mini: Path, command: str) -> None:
    """sqlglot's tokenizer fails with no position (its TokenError is no ParseError): the model's file
    is still named, and nothing is built."""
    assert run(mini, "build")[0] == 0
    write_model(mini, "models/core/items.sql", "SELECT item_id, 'unknown AS item_name\nFROM stg.src__items\n")
    code, out = run(mini, command)
    assert "Traceback" not in out
    assert "models/core/items.sql:1:1: SQL syntax error: Error tokenizing" in out
    assert code == 1
    assert query(mini, "SELECT COUNT(*) FROM core.items") == [(3,)]

def test_unknown_column_names_line_in_check(mini: Path) -> None:
    write_model(mini, "models/core/items.sql",
                "SELECT item_id,\n  item_name,\n  amount_eur AS amount_usd\nFROM stg.src__items\n")
    code, out = run(mini, "check")
    assert code == 1
    assert "models/core/items.sql:3:" in out and "amount_eur" in out


def test_unknown_table_is_refused(mini: Path) -> None:
    write_model(mini, "models/core/items.sql", "SELECT * FROM stg.src__things\n")
    code, out = run(mini, "build")
    assert code == 1 and "reads unknown table stg.src__things" in out


def test_layer_violation_names_model_table_and_rule(mini: Path) -> None:
    write_model(mini, "models/core/items.sql",
                "SELECT id AS item_id, name AS item_name, amount AS amount_usd FROM raw.src__items\n")
    with pytest.raises(DagError) as info:
        build_dag(Project.load(mini))
    assert "layer violation: core.items reads raw.src__items; core may read stg, core" in str(info.value)
    code, out = run(mini, "build")
    assert code == 1 and "layer violation" in out


def test_cycle_is_named(mini: Path) -> None:
    write_model(mini, "models/core/items.sql", "SELECT * FROM core.items_copy\n")
    (mini / "contracts/core/items.odcs.yaml").read_text()
    text = (mini / "contracts/core/items.odcs.yaml").read_text().replace("core.items", "core.items_copy") \
        .replace("name: items", "name: items_copy").replace("physicalName: items", "physicalName: items_copy")
    (mini / "contracts/core/items_copy.odcs.yaml").write_text(text)
    write_model(mini, "models/core/items_copy.sql", "SELECT * FROM core.items\n")
    code, out = run(mini, "build")
    assert code == 1
    assert "cycle: core.items -> core.items_copy -> core.items" in out or \
        "cycle: core.items_copy -> core.items -> core.items_copy" in out


def test_model_without_contract_and_contract_without_model(mini: Path) -> None:
    write_model(mini, "models/core/orphans.sql", "SELECT 1 AS x\n")
    (mini / "models/stg/src__items.sql").unlink()
    code, out = run(mini, "build")
    assert code == 1
    assert "model core.orphans has no contract" in out
    assert "contract stg.src__items has no model" in out


def test_farm_fingerprint_is_refused_at_its_line(mini: Path) -> None:
    write_model(mini, "models/core/items.sql", "SELECT item_id,\n  item_name,\n"
                "  CAST(FARM_FINGERPRINT(item_name) AS NUMERIC) AS amount_usd\nFROM stg.src__items\n")
    code, out = run(mini, "build")
    assert code == 1 and "models/core/items.sql:3:" in out and "FARM_FINGERPRINT" in out


def test_interrupted_build_leaves_tables_intact_and_rerun_succeeds(mini: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(mini, "build")[0] == 0
    before = query(mini, "SELECT * FROM core.items ORDER BY 1")
    from kcrm_gov.engines.duckdb import DuckDBEngine

    original = DuckDBEngine._insert

    def interrupted(self, contract, insert, select):
        if contract.table == "items":
            original(self, contract, insert, select)
            raise KeyboardInterrupt  # Ctrl-C after the rows went in, before the swap
        return original(self, contract, insert, select)

    monkeypatch.setattr(DuckDBEngine, "_insert", interrupted)
    result = CliRunner().invoke(cli, ["--project-dir", str(mini), "build", "--threads", "1"])
    assert result.exit_code == 1 and "Aborted" in result.output  # click's answer to Ctrl-C
    monkeypatch.undo()
    assert query(mini, "SELECT * FROM core.items ORDER BY 1") == before
    assert not query(mini, "SELECT * FROM information_schema.tables WHERE table_name LIKE '__kcrm_build__%'")
    assert run(mini, "build")[0] == 0


def test_second_build_on_the_same_file_says_the_warehouse_is_in_use(mini: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', "
         "flush=True); time.sleep(30)", str(mini / ".kcrm" / "warehouse.duckdb")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        code, out = run(mini, "build")
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    assert "is in use by another kcrm-gov process" in out
    assert run(mini, "build")[0] == 0


def test_selection_like_dbt(mini: Path) -> None:
    project = Project.load(mini)
    dag = build_dag(project)
    assert select(project, dag, ["core.items"]) == ["core.items"]
    assert select(project, dag, ["+core.items"]) == ["raw.src__items", "stg.src__items", "core.items"]
    assert select(project, dag, ["stg.src__items+"]) == ["stg.src__items", "core.items"]
    assert select(project, dag, ["layer:core"]) == ["core.items"]
    assert select(project, dag, ["source:src"]) == ["raw.src__items", "stg.src__items"]
    assert select(project, dag, ["items"]) == ["core.items"]
    assert select(project, dag, [], ["layer:raw layer:stg"]) == ["core.items"]
    assert select(project, dag, ["tag:pii"]) == []
    with pytest.raises(Exception, match="no table 'nothing'"):
        select(project, dag, ["nothing"])


def test_select_builds_only_the_selection(mini: Path) -> None:
    code, out = run(mini, "build", "--select", "stg.src__items")
    assert code == 0 and "1 built" in out
    assert query(mini, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'core'") == [(0,)]


def test_concurrent_threads_build_the_same_result(mini: Path) -> None:
    assert run(mini, "build", "--threads", "4")[0] == 0
    assert query(mini, "SELECT COUNT(*) FROM core.items") == [(3,)]


def test_a_warehouse_file_named_like_a_layer_is_refused(mini: Path) -> None:
    (mini / "kcrm_gov.yml").write_text((mini / "kcrm_gov.yml").read_text().replace("warehouse.duckdb", "raw.duckdb"))
    code, out = run(mini, "build", "--no-seed")
    assert code == 1
    assert "is named like the schema 'raw'" in out and "rename the file" in out


def add_model_too_big_for_64mb(mini: Path) -> None:
    """3,000 items, a 64MB memory limit, and core.item_names: every item with the list of all 3,000 names
    (9 M names in lists: DuckDB holds a list aggregate in memory whole, it cannot spill it)."""
    miniproject.load_raw(mini, [(i, f"name {i}", i, "2023-01-01T00:00:00") for i in range(1, 3001)])
    (mini / "kcrm_gov.yml").write_text((mini / "kcrm_gov.yml").read_text() + "    memory_limit: 64MB\n")
    miniproject.write(mini, "contracts/core/item_names.odcs.yaml", miniproject.contract_yaml(
        "core", "item_names", [("item_id", "INT64", True), ("names", "INT64", True)], ["item_id"], source=None))
    write_model(mini, "models/core/item_names.sql", """\
        SELECT a.item_id, ARRAY_LENGTH(ARRAY_AGG(b.item_name ORDER BY b.item_name)) AS names
        FROM stg.src__items AS a CROSS JOIN stg.src__items AS b
        GROUP BY a.item_id
        """)


def test_a_model_out_of_memory_beside_others_runs_again_alone(mini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """core.item_names runs out of memory beside core.items, so the build runs it once more with nothing
    else running, after a checkpoint; it fails again, and the error says both and what to do. The rest
    of the build stands."""
    from kcrm_gov.engines.duckdb import DuckDBEngine

    checkpoints: list[float] = []
    checkpoint = DuckDBEngine.checkpoint
    monkeypatch.setattr(DuckDBEngine, "checkpoint", lambda self: (checkpoints.append(time.time()), checkpoint(self)))
    add_model_too_big_for_64mb(mini)
    code, out = run(mini, "build", "--threads", "2", "--json")
    assert code == 1
    models = {m["table"]: m for m in json.loads(out)["models"]}
    heavy = models["core.item_names"]
    assert heavy["status"] == "error" and heavy["out_of_memory"] and heavy["retried_alone"]
    assert "models/core/item_names.sql" in heavy["error"] and "Out of Memory" in heavy["error"]
    assert "again when it ran alone: raise the target's memory_limit" in heavy["error"]
    # DuckDB's own sizes survive the scrubber (they are not data): what it held of its 64MB limit
    assert re.search(r"of size [\d.]+ [KMG]iB \([\d.]+ [KMG]iB/6\d\.\d MiB used\)", heavy["error"]), \
        heavy["error"]
    assert models["core.items"]["status"] == "success" and not models["core.items"]["retried_alone"]

    def ended(m: dict) -> float:
        return datetime.fromisoformat(m["started_at"]).timestamp() + m["seconds"]
    # the retry (its own started_at) began after every other model had ended
    others_ended = max(ended(m) for t, m in models.items() if t != "core.item_names")
    retried = datetime.fromisoformat(heavy["started_at"]).timestamp()
    assert retried >= others_ended - 0.001
    # and the engine checkpointed in between (freeing what it held for the tables built so far)
    assert any(others_ended - 0.001 <= at <= retried + 0.001 for at in checkpoints), checkpoints
    assert query(mini, "SELECT COUNT(*) FROM core.items") == [(3000,)]
    assert query(mini, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'item_names'") == [(0,)]


def test_out_of_memory_with_one_thread_is_not_retried(mini: Path) -> None:
    """Alone from the start, a second try could not have more memory: the failure is reported at once."""
    add_model_too_big_for_64mb(mini)
    code, out = run(mini, "build", "--threads", "1", "--json")
    heavy = {m["table"]: m for m in json.loads(out)["models"]}["core.item_names"]
    assert code == 1 and heavy["out_of_memory"] and not heavy["retried_alone"]
    assert "Out of Memory" in heavy["error"] and "again when it ran alone" not in heavy["error"]


def test_a_checkpoint_frees_the_primary_key_indexes_an_open_write_kept_in_memory(mini: Path) -> None:
    """DuckDB keeps a built table's primary-key index in memory, where it cannot be evicted, until a
    checkpoint, and no automatic checkpoint runs while another write is open (the other models of a
    build). The build checkpoints when nothing runs, before a model runs alone: this is what it frees."""
    from kcrm_gov.engines import open_engine

    project = Project.load(mini)
    with open_engine(project, building=True) as engine:
        def index_mib() -> float:
            rows = engine.cursor().execute(
                "SELECT memory_usage_bytes / 2**20 FROM duckdb_memory() WHERE tag = 'ART_INDEX'").fetchall()
            return float(rows[0][0]) if rows else 0.0

        other = engine.cursor()
        other.execute("BEGIN TRANSACTION")
        other.execute("CREATE TABLE core.other_model (x INTEGER)")  # another model's write, still open
        engine.execute("CREATE TABLE core.big (key VARCHAR PRIMARY KEY)")
        engine.execute("INSERT INTO core.big SELECT 'key ' || i FROM range(1000000) AS r(i)")
        assert index_mib() > 10  # held although committed
        engine.checkpoint()  # refused quietly while the other write is open: nothing changes
        assert index_mib() > 10
        other.execute("COMMIT")
        engine.checkpoint()
        assert index_mib() < 1

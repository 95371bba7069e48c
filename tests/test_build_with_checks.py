"""`kcrm-gov build --test`: a table's checks run once every table they read is built in this run.

A reference check such as `stg.hubspot__companies.owner_id -> stg.hubspot__owners` reads another
table of the same layer, which is not upstream of it in the DAG: without waiting, the check ran
right after its own table was built, while the table it refers to might not exist yet (or be about
to be replaced), and failed or passed by thread timing.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import connect_warehouse, copy_warehouse

from kcrm_gov.build import build
from kcrm_gov.cli import cli
from kcrm_gov.engines import open_engine
from kcrm_gov.project import Project

NOW = "2024-01-02T06:00:00Z"
SOURCES = ("hubspot", "quickbooks")
REFERENCE = "stg.reference__internal_domains"  # the internal-domain list they read (not every reference table)
"""The sources whose stg tables refer to each other (owners, pipeline stages, customers, invoices)."""


def invoke(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], env={"KCRM_GOV_NOW": NOW})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def raw_only(tmp_path_factory: pytest.TempPathFactory, seeded_warehouse: Path) -> Path:
    """The shipped project with only its raw layer seeded (scale 1: its freshness checks pass at NOW): a
    copy of the session's seeded warehouse with every built layer dropped, cheaper than seeding again."""
    root = copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("raw-only") / "project")
    with connect_warehouse(root, read_only=False) as con:
        built = [s for (s,) in con.execute("""
            SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_schema != 'raw'""").fetchall()]
        assert built and "raw" not in built
        for schema in built:
            con.execute(f'DROP SCHEMA "{schema}" CASCADE')
        assert {s for (s,) in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()} \
            == {"raw"}
    return root


def fresh_copy(raw_only: Path, dest: Path) -> Path:
    shutil.copytree(raw_only, dest, ignore=shutil.ignore_patterns("runs", "*_results.json", "lineage"))
    return dest


def test_the_dag_knows_the_tables_each_tables_checks_read() -> None:
    dag = Project.load(Path(__file__).resolve().parent.parent).dag
    assert "stg.hubspot__owners" in dag.checks_read["stg.hubspot__companies"]
    assert "stg.hubspot__owners" not in dag.upstream["stg.hubspot__companies"]  # same layer, not upstream
    building = {"stg.hubspot__companies", "stg.hubspot__owners"}
    assert dag.check_waits("stg.hubspot__companies", building) == ["stg.hubspot__owners"]
    # a table downstream of the one being checked is never waited for (it waits for this one)
    assert dag.check_waits("core.accounts", {"core.accounts", "core.contacts"}) == []


@pytest.mark.parametrize("threads", [1])  # one thread: the old order (each table checked at once) always fails
def test_checks_run_only_after_every_table_they_read_is_built(raw_only: Path, tmp_path: Path, threads: int) -> None:
    root = fresh_copy(raw_only, tmp_path / "project")
    project = Project.load(root)
    dag = project.dag
    tables = [t for t in dag.order() if (t.startswith("stg.") and t.split(".")[1].split("__")[0] in SOURCES)
              or t == REFERENCE]
    built: set[str] = set()
    lock = threading.Lock()
    violations: list[str] = []
    checked: list[str] = []

    def after_build(table: str) -> str | None:
        with lock:
            missing = [t for t in dag.check_waits(table, set(tables)) if t not in built]
            if missing:
                violations.append(f"{table} checked before {missing} was built")
            checked.append(table)
        return None

    from kcrm_gov.build import SUCCESS, run_model

    def recording_run_model(project: Project, engine: object, table: str, **options: object):
        # the real build of the model, plus a note of the moment it is built (instrumentation only)
        result = run_model(project, engine, table, **options)  # type: ignore[arg-type]
        if result.status == SUCCESS:
            with lock:
                built.add(table)
        return result

    import kcrm_gov.build as build_module

    original = build_module.run_model
    build_module.run_model = recording_run_model
    try:
        with open_engine(project) as engine:
            run = build(project, engine, dag, tables, threads=threads, after_build=after_build)
    finally:
        build_module.run_model = original
    assert run.ok, [(m.table, m.error) for m in run.models if m.status != "success"]
    assert not violations, violations
    assert sorted(checked) == sorted(tables)


@pytest.mark.parametrize("threads, attempt", [("1", 1), ("4", 1), ("4", 2)])  # 4 threads: timing varies
def test_build_with_checks_from_a_raw_only_warehouse_passes(raw_only: Path, tmp_path: Path, threads: str,
                                                            attempt: int) -> None:
    root = fresh_copy(raw_only, tmp_path / "project")
    selectors = [arg for source in SOURCES for arg in ("-s", f"source:{source}")]
    code, output = invoke(root, "build", "--test", "--no-seed", "--threads", threads, *selectors, "-s", REFERENCE)
    assert code == 0, output
    assert "0 failed, 0 skipped" in output and "0 failed, 0 errors" in output

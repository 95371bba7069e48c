"""Shared fixtures: a throwaway copy of the real project, so tests run on the shipped contracts."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KCRM_GOV_SHARED", REPO.parent / "shared"))
PROJECT_FILES = ("kcrm_gov.yml", "contracts", "catalog", "models", "checks", "lookml", "lineage", "docs", "mkdocs.yml",
                 ".github")
MEMORY_TEMP = Path("/dev/shm")
MEMORY_TEMP_FREE = 4 << 30  # the run's scratch peaks near 1 GB: a few ~300 MB warehouses at once


def pytest_configure(config: pytest.Config) -> None:
    """Each worker collects garbage as the ``kcrm-gov`` command does: with CPython's default thresholds
    the collector took 18 % of a run of three test files, walking the contracts and SQL trees it keeps."""
    from kcrm_gov.cli import tune_garbage_collector

    tune_garbage_collector()
    _scratch_in_memory(config)


def _scratch_in_memory(config: pytest.Config) -> None:
    """Put the run's temporary folders (``tmp_path``) in memory, on ``/dev/shm``, where there is room.

    The tests copy the project (~490 small files) and write DuckDB warehouses and caches hundreds of
    times: on a virtual machine's ext4 disk creating a file costs ~0.8 ms (a project copy 0.39 s, on
    tmpfs 0.01 s), and the suite spent 100 s of system time there (39 s on tmpfs; the whole run
    341-379 s -> 313 s). pytest's own ``PYTEST_DEBUG_TEMPROOT`` moves the root and keeps its numbered,
    per-user folders and retention. Left alone when ``--basetemp`` or ``PYTEST_DEBUG_TEMPROOT`` is
    given (a pytest-xdist worker gets its controller's ``--basetemp``), and where ``/dev/shm`` is
    missing, not writable or small (a container's default is 64 MB)."""
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    try:
        roomy = shutil.disk_usage(MEMORY_TEMP).free >= MEMORY_TEMP_FREE
    except OSError:
        return
    if roomy and os.access(MEMORY_TEMP, os.W_OK | os.X_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY_TEMP)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: xdist's own count (a worker per core, or ``PYTEST_XDIST_AUTO_NUM_WORKERS``), and one
    more when the BigQuery emulator is configured and that variable is not set. The worker
    that runs the whole-DAG parity file waits on the emulator for about two minutes (the emulator, a
    separate process, uses the core meanwhile, the worker hardly any): with one worker more the other
    files keep both cores busy (2 cores, alternated back to back: two workers 280 / 271 / 288 s, three
    255 / 268 / 258 s)."""
    if not os.environ.get("KCRM_GOV_BQ_ENDPOINT") or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own implementation decides
    from xdist.plugin import pytest_xdist_auto_num_workers as per_core

    return per_core(config) + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order pytest-xdist hands out test files in (``--dist loadfile``, ``--no-loadscope-reorder``):
    files that declare ``RUNS_LONG = True`` first, then by number of tests, as xdist itself orders them.
    By count alone the whole-DAG parity file (4 tests, about two minutes on the emulator) started among
    the last, and one worker ran it while the other had nothing left to do."""
    def file(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    counts = Counter(file(item) for item in items)
    items.sort(key=lambda item: (not getattr(getattr(item, "module", None), "RUNS_LONG", False), -counts[file(item)]))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's target or project overrides."""
    for key in list(os.environ):
        if key.startswith("KCRM_GOV_") and key not in ("KCRM_GOV_SHARED", "KCRM_GOV_BQ_ENDPOINT",
                                                       "KCRM_GOV_BQ_PROJECT"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module", autouse=True)
def _module_scratch_cleanup(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove the scratch folders a test file made once its tests have all passed. Most hold a copy
    of the seeded warehouse (~300 MB): a whole run keeping them all filled a CI disk."""
    base = tmp_path_factory.getbasetemp()
    before, failed = set(base.iterdir()), request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        return  # keep them to look at
    for path in set(base.iterdir()) - before:
        if not path.name.startswith(("seeded-warehouse", "session-")):  # the run's own (session fixtures)
            shutil.rmtree(path, ignore_errors=True)


def copy_project(dest: Path) -> Path:
    """Copy the project files (not build outputs) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def _shared_dir(factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Where the run's workers share what they make once: the run's base folder above each
    pytest-xdist worker's own (the worker's own folder without xdist)."""
    base = factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def _make_once(shared: Path, name: str, make: Callable[[Path], object],
               meanwhile: Callable[[], object] | None = None) -> Path:
    """``shared/name``, made by ``make`` once for the whole run: the first worker makes it under a file
    lock, the others wait for it. A worker that finds it being made runs ``meanwhile`` first (making
    the run's other shared folder) instead of waiting idle."""
    root, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if meanwhile is not None:
                meanwhile()
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if root.exists():
                shutil.rmtree(root)  # made half by a worker that failed: again, here
            make(root)
            done.touch()
    return root


def _make_warm_state(root: Path) -> None:
    from click.testing import CliRunner

    from kcrm_gov.cli import cli

    copy_project(root / "project")
    shutil.copy2(REPO / "README.md", root / "project" / "README.md")
    result = CliRunner().invoke(cli, ["--project-dir", str(root / "project"), "check"])
    assert result.exit_code == 0, result.output


def _warm_state(shared: Path, meanwhile: bool = True) -> Path:
    seeded = (lambda: _seeded_warehouse(shared, meanwhile=False)) if meanwhile else None
    return _make_once(shared, "session-warm-state", _make_warm_state, seeded) / "project" / ".kcrm"


def _seeded_warehouse(shared: Path, meanwhile: bool = True) -> Path:
    warm = (lambda: _warm_state(shared, meanwhile=False)) if meanwhile else None
    return _make_once(shared, "seeded-warehouse", seeded_build, warm)


@pytest.fixture(scope="session")
def warm_state(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The state dir a first ``kcrm-gov check`` of the project (README included) leaves: the models'
    read lists, column lineage, generated checks and the README's rendered examples, all cached by
    content. A ``project_dir`` starts from it, as a developer's checkout does, instead of parsing and
    rendering everything again (seconds per test); whatever a test changes misses the cache. Made
    once for the whole run and shared by the workers (read only: tests link or copy from it)."""
    return _warm_state(_shared_dir(tmp_path_factory, worker_id))


def with_warm_state(root: Path, state: Path) -> Path:
    """``root`` (a project copy) given a copy of :func:`warm_state`'s caches.

    The cache entries are hard links, not copies (copying ~400 files was a third of a lint test): the
    cache only ever replaces an entry whole (a new file renamed over the old name), so a test that
    rebuilds an entry never writes into the shared one, and one that damages an entry in place would
    only cost a later test a rebuild, which is what the cache does with a damaged entry."""
    shutil.copytree(state, root / ".kcrm", dirs_exist_ok=True, ignore=shutil.ignore_patterns("cache"))
    link_cache(state / "cache", root / ".kcrm" / "cache")
    return root


def link_cache(src: Path, dest: Path) -> None:
    """Hard-link the cache entries of ``src`` into ``dest`` (copies where the file system has no hard
    links). An entry ``dest`` already holds is kept: an entry's name is the key of its content."""
    def link(entry: str, to: str) -> None:
        if os.path.exists(to):
            return
        try:
            os.link(entry, to)
        except OSError:
            shutil.copy2(entry, to)

    shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.tmp"), copy_function=link)


@pytest.fixture
def project_dir(tmp_path: Path, warm_state: Path) -> Iterator[Path]:
    """A private copy of the project that a test may change freely."""
    yield with_warm_state(copy_project(tmp_path / "project"), warm_state)


SEED_NOW = "2024-01-02T06:00:00Z"  # the seeded sources' last loader sync


def run_cli(root: Path, *args: str, now: str = SEED_NOW) -> None:
    """``kcrm-gov --project-dir root ARGS`` at the seeded clock; a failure fails the test with its output."""
    from click.testing import CliRunner

    from kcrm_gov.cli import cli

    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], env={"KCRM_GOV_NOW": now})
    assert result.exit_code == 0, result.output


def seeded_build(dest: Path, select: str | None = None, now: str = SEED_NOW) -> Path:
    """A copy of the project in ``dest``, seeded (scale 1, seed 42) and built: ``select`` (dbt-style,
    space-separated) or everything; a failure fails the test with the CLI's output."""
    root = copy_project(dest)
    run_cli(root, "seed", now=now)
    run_cli(root, *(["build", "--select", select] if select else ["build"]), now=now)
    return root


def warehouse_path(root: Path) -> Path:
    """The DuckDB file of the project's default target (read from ``kcrm_gov.yml`` alone: loading the
    whole project for it cost the suite more than a minute and a half)."""
    from kcrm_gov.config import load_config

    path = load_config(root.resolve()).target().path
    assert path is not None, "the default target has no local file"
    return path


def connect_warehouse(root: Path, read_only: bool = True) -> Any:
    """A DuckDB connection to the project's local warehouse."""
    import duckdb

    return duckdb.connect(str(warehouse_path(root)), read_only=read_only)


def query_rows(root: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the project's local warehouse, read-only."""
    with connect_warehouse(root) as con:
        return con.execute(sql).fetchall()


def clone_row(con: Any, table: str, values: dict[str, Any], where: str = "TRUE") -> None:
    """Insert a hand-made row into ``table``: a copy of one real row (matching ``where``) with ``values``
    replacing the columns that matter, each cast to its column's type."""
    schema, name = table.split(".")
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = ? AND table_name = ?", [schema, name]).fetchall())
    replace = ", ".join(f"CAST(? AS {types[c]}) AS {c}" for c in values)
    con.execute(f"INSERT INTO {table} SELECT * REPLACE ({replace}) FROM {table} WHERE {where} LIMIT 1",
                list(values.values()))


def failing_rules(root: Path, select: str, layer: str = "marts") -> set[str]:
    """The names of the quality rules ``kcrm-gov test`` fails on ``select``: it must fail some, and nothing else."""
    import re

    from click.testing import CliRunner

    from kcrm_gov.cli import cli

    result = CliRunner().invoke(cli, ["--project-dir", str(root), "test", "--select", select],
                                env={"KCRM_GOV_NOW": SEED_NOW})
    assert result.exit_code != 0, result.output
    failed = {m.group(1) for m in re.finditer(rf"^fail {layer}\.\w+: quality: table #\d+ (\w+) ", result.output, re.M)}
    assert f", {len(failed)} failed, 0 errors" in result.output, result.output
    return failed


@pytest.fixture(scope="session")
def seeded_warehouse(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The shipped project seeded (scale 1, seed 42) and built in full, once for the whole run: the
    pytest-xdist workers share it through a lock (a worker that would wait makes the shared warm state
    meanwhile). Read it (``query_rows``, ``kcrm-gov test``, which opens the warehouse read-only); to
    change data, work on ``copy_warehouse`` of it."""
    return _seeded_warehouse(_shared_dir(tmp_path_factory, worker_id))


def copy_warehouse(src: Path, dest: Path) -> Path:
    """A fresh copy of the project in ``dest`` holding a copy of ``src``'s built warehouse, to change."""
    root = copy_project(dest)
    target = warehouse_path(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse_path(src), target)
    # its caches too, keyed by content (whatever the test changes misses them), hard-linked as in
    # with_warm_state; another worker may be writing an entry meanwhile, and a cache entry missed only
    # costs time
    with contextlib.suppress(shutil.Error, OSError):
        link_cache(src / ".kcrm" / "cache", root / ".kcrm" / "cache")
    return root

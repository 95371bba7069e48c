"""Build: run the selected models in DAG order on an engine, contracts enforced.

For each model: rewrite its ``layer.table`` references to the engine's names, translate it
to the engine's dialect, compare its output schema with the contract, then let the engine
build it into a temporary relation made from the contract's DDL and swap it in atomically.
A failed model keeps its previous table and its downstream is skipped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlglot import exp

from . import __version__
from .dag import Dag
from .enforce import ContractViolation, Mismatch, compare_schema
from .engines.base import Engine, OutOfMemory
from .errors import KcrmGovError, Location
from .incremental import fingerprint
from .project import Project

SUCCESS, ERROR, SKIPPED = "success", "error", "skipped"


@dataclass
class ModelResult:
    """What happened to one model in one run."""

    table: str
    status: str
    started_at: str | None = None
    seconds: float = 0.0
    rows_written: int | None = None
    bytes_processed: int | None = None
    error: str | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    out_of_memory: bool = False  # the engine's memory limit was hit (see OutOfMemory)
    retried_alone: bool = False  # it ran out of memory beside other models and was run again alone


@dataclass
class RunResult:
    """One build: the artifact written to ``.kcrm/runs/`` and printed by ``--json``."""

    run_id: str
    command: str
    target: str
    engine: str
    started_at: str
    finished_at: str | None = None
    seconds: float = 0.0
    kcrm_gov_version: str = __version__
    models: list[ModelResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(m.status == SUCCESS for m in self.models)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        out = {SUCCESS: 0, ERROR: 0, SKIPPED: 0}
        for m in self.models:
            out[m.status] = out.get(m.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = self.counts()
        return data


Listener = Callable[[str, ModelResult | None], None]
"""Called with ``(table, None)`` when a model starts and ``(table, result)`` when it ends."""
AfterBuild = Callable[[str], str | None]
"""Called with a model's table right after it is built; a returned message fails the model, so
its downstream is skipped (``build --test`` runs the table's quality checks here)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


COMPILED_KEEP = 2_000
"""Transpiled models kept in ``.kcrm/cache/compiled-<engine>/``: one entry per model version."""


def compile_model(project: Project, engine: Engine, table: str) -> str:
    """The model's SQL in the engine's dialect, its references pointing at the engine's tables.

    Transpiling is most of what a build costs beyond the engine's own work (about a tenth of a
    second a model), so a model whose text, target schemas and toolchain are unchanged reuses its
    SQL from ``.kcrm/cache``. A model that fails to transpile is never cached."""
    from . import LAYERS
    from .cache import cache_key, cached

    model = project.models[table]
    schemas = [engine.table_sql(layer, "t").sql(dialect="bigquery") for layer in LAYERS]
    key = cache_key(["model", engine.kind, *schemas, model.sql])
    return cached(project.state_dir, f"compiled-{engine.kind}", key, lambda: _compile(project, engine, table),
                  valid=lambda value: isinstance(value, str), keep=COMPILED_KEEP)


def _compile(project: Project, engine: Engine, table: str) -> str:
    from .sql.transpile import TranspileError

    model = project.models[table]
    bigquery_sql = model.render(engine.table_sql).sql(dialect="bigquery")
    try:
        return engine.prepare(bigquery_sql)
    except TranspileError:
        try:  # the same refusal, located in the model's own text rather than the rewritten SQL
            engine.prepare(model.sql)
        except TranspileError as located:
            raise TranspileError(located.message, line=located.line, col=located.col,
                                 source=str(model.path)) from None
        raise


def located(project: Project, table: str, error: KcrmGovError) -> KcrmGovError:
    """The same failure pointed at the model's own line where sqlglot can find it.

    The engine reports an unknown column against the translated SQL; qualifying the model with
    the contracts' schemas names the line and column in the model file. Only failures pay for it.
    """
    try:
        project.models[table].output_columns(project.contracts)
    except KcrmGovError as found:
        return found
    return error


class FullRefreshNeeded(KcrmGovError):
    """An incremental model's contract changed since its table was built: merging is refused."""


def incremental_sql(project: Project, engine: Engine, table: str, sql: str, *,
                    full_refresh: bool) -> tuple[str, Any]:
    """``(sql, cutoff)`` for an incremental model: its window's SQL and cutoff when the table exists
    and was built from the same contract columns, else the full ``sql`` and None (first build,
    ``--full-refresh``, a table built before the model was incremental, an empty table).

    A changed contract without ``--full-refresh`` is refused: rows already in the table were made
    for the old columns, and merging new rows into them would mix two shapes."""
    contract = project.contracts[table]
    spec = contract.incremental
    assert spec is not None
    stored = engine.stored_fingerprint(contract)  # first: it creates the state table outside any transaction
    if full_refresh or stored is None or not engine.table_exists(contract.layer, contract.table):
        return sql, None
    if stored != fingerprint(contract):
        raise FullRefreshNeeded(
            f"{table} is incremental and its contract's columns or unique key changed since the table was "
            f"built: its rows no longer fit the contract, so it must be rebuilt in full; run `kcrm-gov build "
            f"--full-refresh --select {table}`", Location(contract.path))
    high = engine.high_water_mark(contract, spec.time_column)
    if high is None:
        return sql, None
    cutoff = spec.cutoff(high)
    return window_sql(project, engine, table, cutoff), cutoff


def window_sql(project: Project, engine: Engine, table: str, cutoff: Any) -> str:
    """An incremental model's window in the engine's dialect, each source read from ``cutoff`` on.

    Transpiling is most of an incremental run's fixed cost (over a second for the Mixpanel model), so
    the window is transpiled once per model version with a sentinel string where the cutoff goes, kept
    in ``.kcrm/cache`` like :func:`compile_model`'s SQL, and the sentinel replaced by the cutoff's ISO
    text: a value from the data (digits, ``-``, ``:``, ``.``, ``+``, ``T``), never contract text."""
    from . import LAYERS
    from .cache import cache_key, cached
    from .incremental import CUTOFF_SENTINEL, cutoff_literal, render_window

    model, spec = project.models[table], project.contracts[table].incremental
    assert spec is not None
    sentinel = cutoff_literal(cutoff)
    sentinel.this.set("this", CUTOFF_SENTINEL)
    quoted = exp.Literal.string(CUTOFF_SENTINEL).sql(dialect="bigquery")

    def transpile() -> str:
        window = render_window(model, spec, engine.table_sql, sentinel)
        return engine.prepare(window.sql(dialect="bigquery"))

    if CUTOFF_SENTINEL in model.sql:  # never confuse the model's own text with the sentinel
        return engine.prepare(render_window(model, spec, engine.table_sql, cutoff).sql(dialect="bigquery"))
    schemas = [engine.table_sql(layer, "t").sql(dialect="bigquery") for layer in LAYERS]
    key = cache_key(["window", engine.kind, *schemas, model.sql, sentinel.sql(dialect="bigquery"),
                     *[f"{s.table}.{s.time_column}" for s in spec.sources]])
    sql = cached(project.state_dir, f"compiled-{engine.kind}", key, transpile,
                 valid=lambda value: isinstance(value, str) and quoted in value, keep=COMPILED_KEEP)
    return sql.replace(quoted, cutoff_literal(cutoff).this.sql(dialect="bigquery"))


def run_model(project: Project, engine: Engine, table: str, *, full_refresh: bool = False) -> ModelResult:
    """Build one model; never raises for a model failure (it is recorded in the result).

    An incremental model (``customProperties.incremental``) merges only its window's rows into the
    existing table unless ``full_refresh`` (see :mod:`kcrm_gov.incremental`)."""
    result = ModelResult(table=table, status=SUCCESS, started_at=now_iso())
    start = time.perf_counter()
    model = project.models[table]
    contract = project.contracts[table]
    try:
        sql = compile_model(project, engine, table)
        cutoff = None
        if contract.incremental is not None:
            sql, cutoff = incremental_sql(project, engine, table, sql, full_refresh=full_refresh)
        try:
            actual = engine.model_schema(sql, stage_for=contract)
        except KcrmGovError as exc:
            raise located(project, table, exc) from None
        mismatches = compare_schema(contract, actual, engine.type_text)
        if mismatches:
            raise ContractViolation(contract, mismatches)
        if contract.incremental is None:
            stats = engine.replace_table(contract, sql)
        elif cutoff is None:  # a first or full build: the fingerprint commits with the table
            with engine.transaction():
                stats = engine.replace_table(contract, sql)
                engine.record_fingerprint(contract, fingerprint(contract))
        else:
            stats = engine.merge_table(contract, sql, cutoff, fingerprint(contract))
        result.rows_written = stats.rows_written
        result.bytes_processed = stats.bytes_processed
    except ContractViolation as exc:
        result.status, result.error, result.mismatches = ERROR, str(exc), exc.mismatches
    except KcrmGovError as exc:
        where = exc.location or Location(model.path)
        result.status, result.error = ERROR, f"{where}: {exc.message}"
        result.out_of_memory = isinstance(exc, OutOfMemory)
    result.seconds = round(time.perf_counter() - start, 3)
    return result


def build(project: Project, engine: Engine, dag: Dag, tables: list[str], *, fail_fast: bool = False,
          threads: int = 1, listener: Listener | None = None, command: str = "build",
          after_build: AfterBuild | None = None, full_refresh: bool = False) -> RunResult:
    """Build ``tables`` (models only; raw tables are skipped silently) in DAG order.

    Independent models run concurrently on ``threads`` workers when the engine allows it. A model
    that runs out of the engine's memory while other models run is run once more, alone: nothing
    else starts until it is done (each of the largest models fits a memory limit that four at once
    do not).
    ``after_build`` may fail a model that was built (see :data:`AfterBuild`). ``full_refresh``
    rebuilds incremental models in full.
    """
    run = RunResult(run_id=str(uuid.uuid4()), command=command, target=engine.target.name,
                    engine=engine.kind, started_at=now_iso())
    start = time.perf_counter()
    todo = [t for t in tables if t in project.models]
    chosen = set(todo)
    results: dict[str, ModelResult] = {}
    stop = threading.Event()

    def upstream_of(table: str) -> list[str]:
        return [u for u in dag.upstream.get(table, []) if u in chosen]

    def skip_reason(table: str) -> str | None:
        for parent in upstream_of(table):
            status = results[parent].status
            if status != SUCCESS:
                return f"skipped: upstream {parent} {'failed' if status == ERROR else 'was skipped'}"
        return "skipped: the build stopped at the first failure (--fail-fast)" if stop.is_set() else None

    shared: set[str] = set()  # models that had another model's build or checks beside them while built
    executing: set[tuple[str, str]] = set()  # (table, phase) the workers run now, not queued ones
    lock = threading.Lock()

    @contextmanager
    def executes(table: str, phase: str) -> Iterator[None]:
        with lock:
            if executing:
                shared.update(t for t, p in executing if p == "build")
                if phase == "build":
                    shared.add(table)
            executing.add((table, phase))
        try:
            yield
        finally:
            with lock:
                executing.discard((table, phase))

    def work(table: str, *, retry: bool = False) -> ModelResult:
        if listener and not retry:  # a retry continues the model's run: it has started already
            listener(table, None)
        with executes(table, "build"):
            return run_model(project, engine, table, full_refresh=full_refresh)

    def test(table: str, result: ModelResult) -> ModelResult:
        with executes(table, "test"):
            problem = after_build(table) if after_build is not None else None
        if problem:
            result.status, result.error = ERROR, problem
        return result

    # A model is done when it is built and, with `after_build`, checked. Its checks wait until every
    # other table they read (a reference, a quality rule's query) that this build builds is built:
    # a check must never read a table that is about to change, or not exist yet.
    pending = list(todo)
    built: dict[str, ModelResult] = {}  # built, checks still to run
    running: dict[Future[ModelResult], tuple[str, str]] = {}  # future -> (table, "build" | "test")
    alone: list[str] = []  # out of memory beside other models: to run again once the pool is empty
    solo: str | None = None  # the model running alone now; nothing else starts meanwhile
    checkpoint_due = False  # a table was built since the engine last checkpointed

    def finish(table: str, result: ModelResult) -> None:
        results[table] = result  # only this scheduling thread touches results
        if result.status == ERROR and fail_fast:
            stop.set()
        if listener:
            listener(table, result)

    with ThreadPoolExecutor(max_workers=max(1, threads) if engine.concurrent else 1) as pool:
        while pending or running or built or alone:
            if checkpoint_due and not running:
                # Nothing runs: the engine can free what it holds for the tables built so far (DuckDB's
                # primary-key indexes stay in memory until a checkpoint, which an open write prevents).
                engine.checkpoint()
                checkpoint_due = False
            holding = bool(alone) or solo is not None  # nothing else starts while a model waits to run alone
            if holding and not running:
                solo = alone.pop(0)
                running[pool.submit(work, solo, retry=True)] = (solo, "build")
            for table in [] if holding else list(pending):
                if any(u not in results for u in upstream_of(table)):
                    continue  # an upstream model is still to run
                pending.remove(table)
                reason = skip_reason(table)
                if reason:
                    finish(table, ModelResult(table=table, status=SKIPPED, error=reason))
                    continue
                running[pool.submit(work, table)] = (table, "build")
            for table in [] if holding else list(built):
                if all(t in built or t in results for t in dag.check_waits(table, chosen)):
                    running[pool.submit(test, table, built.pop(table))] = (table, "test")
            if not running:
                if built:  # nothing left to build could unblock them: a cycle of checks; run them now
                    table = next(iter(built))
                    running[pool.submit(test, table, built.pop(table))] = (table, "test")
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                table, phase = running.pop(future)
                result = future.result()
                checkpoint_due = checkpoint_due or (phase == "build" and result.status == SUCCESS)
                with lock:
                    again = phase == "build" and result.out_of_memory and table in shared and table != solo
                    shared.discard(table)
                if again:
                    alone.append(table)
                    continue
                if table == solo:
                    solo = None
                    result.retried_alone = True
                    if result.out_of_memory:
                        result.error = (f"{result.error} (it ran out of memory beside other models, and again "
                                        "when it ran alone: raise the target's memory_limit)")
                    elif result.status == SUCCESS:
                        run.notes.append(f"{table} ran out of memory beside other models; it was built again "
                                         "alone")
                if phase == "build" and after_build is not None and result.status == SUCCESS:
                    built[table] = result
                else:
                    finish(table, result)
    run.models = [results[t] for t in todo]
    run.finished_at = now_iso()
    run.seconds = round(time.perf_counter() - start, 3)
    return run


def write_run_results(project: Project, run: RunResult) -> Path:
    """Write the build's artifact (see :func:`~kcrm_gov.artifacts.write_run_artifact`); return its history file."""
    from .artifacts import write_run_artifact

    return write_run_artifact(project, run.command, run.run_id, run.started_at, run.to_dict())[0]

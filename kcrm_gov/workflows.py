"""Multi-step operations that commands share (kept out of the CLI, which only prints)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .build import FullRefreshNeeded, compile_model, incremental_sql
from .engines.base import Engine, WarehouseUnavailable
from .errors import KcrmGovError
from .project import Project

DEFAULT_SEED = 42


def ensure_raw_layer(project: Project, engine: Engine, console: Any = None,
                     models: list[str] | None = None) -> str | None:
    """Seed synthetic sources when no raw table exists on the target yet (a fresh clone).

    ``models``: tables about to be built; while the seed writes, they are compiled for the engine
    (see :func:`precompile`). Returns a note saying what was done, or None when the raw layer
    already had data.
    """
    raw = project.layer("raw")
    if any(engine.table_exists(c.layer, c.table) for c in raw):
        return None
    from .seed import seed

    if console is not None:
        console.print(f"the raw layer of target '{engine.target.name}' is empty: seeding synthetic "
                      f"sources (scale 1, seed {DEFAULT_SEED}) first", highlight=False, soft_wrap=True)
    stop = threading.Event()  # a seed that fails (or is interrupted) does not wait for the compiling
    compiling = threading.Thread(target=precompile, args=(project, engine, models or [], stop),
                                 name="kcrm-gov precompile", daemon=True)
    compiling.start()
    try:
        results = seed(project, engine, scale=1.0, seed=DEFAULT_SEED)
    except BaseException:
        stop.set()
        raise
    finally:
        compiling.join()
    rows = sum(r.rows for r in results)
    return f"seeded {len(results)} raw tables, {rows:,} rows"


def precompile(project: Project, engine: Engine, tables: list[str], stop: threading.Event | None = None) -> None:
    """Compile ``tables``' models for ``engine`` into the compiled-SQL cache, ignoring failures.

    On a fresh clone the build first seeds the raw layer and then transpiles every model (a few
    seconds of Python). The seed spends most of its time in the engine, which releases the
    interpreter, so a thread transpiling meanwhile uses the other core and the build finds the
    SQL ready. A model that does not compile is not cached: the build meets the error again and
    reports it in its place."""
    for table in tables:
        if stop is not None and stop.is_set():
            return
        if table in project.models:
            with contextlib.suppress(Exception):
                compile_model(project, engine, table)


TIB = 2**40
NO_COST_MODEL = ("has no cost model: --dry-run only compiles each model (DuckDB runs on this machine and bills "
                 "nothing); point --target at a BigQuery target for bytes and cost")


def on_demand_cost(bytes_processed: int, price_per_tib: float) -> float:
    """Estimated on-demand cost in USD of scanning ``bytes_processed`` (BigQuery bills per TiB,
    2^40 bytes). BigQuery's minimum of 10 MiB per table read is not added: the estimate is the
    dry run's own figure times the price."""
    return bytes_processed / TIB * price_per_tib


@dataclass
class ModelCost:
    """What one model would scan and cost, from a dry run."""

    table: str
    status: str = "ok"  # ok | error
    bytes: int | None = None  # bytes processed, as the warehouse's dry run reports them
    cost_usd: float | None = None
    input_bytes: int | None = None  # the full size of the tables it reads (None: unknown)
    error: str | None = None
    window_from: str | None = None  # an incremental model's cutoff: the dry run priced only rows from it on
    note: str | None = None  # how an incremental model was priced when not by its window

    @property
    def scanned_fraction(self) -> float | None:
        """``bytes / input_bytes``: below 1 when the warehouse reads only some of the inputs'
        columns or partitions (pruning), None when either is unknown."""
        if self.bytes is None or not self.input_bytes:
            return None
        return self.bytes / self.input_bytes


@dataclass
class CostReport:
    """``build --dry-run``: every selected model's dry run on one target."""

    target: str
    engine: str
    price_per_tib: float
    models: list[ModelCost] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def priced(self) -> bool:
        """Whether the engine reported bytes (BigQuery) rather than nothing (DuckDB)."""
        return any(m.bytes is not None for m in self.models)

    @property
    def total_bytes(self) -> int | None:
        return sum(m.bytes or 0 for m in self.models) if self.priced else None

    @property
    def total_cost_usd(self) -> float | None:
        total = self.total_bytes
        return None if total is None else on_demand_cost(total, self.price_per_tib)

    @property
    def ok(self) -> bool:
        return all(m.status == "ok" for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "engine": self.engine, "price_per_tib_usd": self.price_per_tib,
                "ok": self.ok, "total_bytes": self.total_bytes, "total_cost_usd": self.total_cost_usd,
                "models": [{**asdict(m), "scanned_fraction": m.scanned_fraction} for m in self.models],
                "notes": self.notes}


def dry_run_models(project: Project, engine: Engine, tables: list[str], *, full_refresh: bool = False) -> CostReport:
    """Compile each selected model for the engine and ask it what the model would scan, priced at
    the target's ``price_per_tib``. Each model's inputs (the tables it reads) are sized too, so a
    model that scans less than they hold shows its pruning.

    An incremental model is priced as the next build would run it (see :func:`priced_sql`): its
    window, each source read from the cutoff on, unless ``full_refresh``."""
    price = engine.target.price_per_tib
    report = CostReport(target=engine.target.name, engine=engine.kind, price_per_tib=price)
    sizes: dict[str, int | None] = {}

    def size(table: str) -> int | None:
        if table not in sizes:
            contract = project.contracts.get(table)
            sizes[table] = None if contract is None else engine.table_bytes(contract.layer, contract.table)
        return sizes[table]

    dag = project.dag

    def price_model(table: str) -> ModelCost:
        row = ModelCost(table=table)
        try:
            sql, row.window_from, row.note = priced_sql(project, engine, table, full_refresh=full_refresh)
            row.bytes = engine.dry_run(sql)
            if row.bytes is not None:
                row.cost_usd = on_demand_cost(row.bytes, price)
                inputs = [size(u) for u in dag.upstream.get(table, [])]
                row.input_bytes = None if not inputs or None in inputs else sum(i or 0 for i in inputs)
        except WarehouseUnavailable:
            raise  # no model can be priced: the command fails (build) or skips (check) as a whole
        except KcrmGovError as exc:
            row.status, row.error = "error", str(exc)
        return row

    # dry runs are independent (each reads only existing tables): as many at once as a build runs models
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, engine.target.threads) if engine.concurrent else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        report.models = list(pool.map(price_model, [t for t in tables if t in project.models]))
    if not report.priced and report.models:
        report.notes.append(f"target '{engine.target.name}' ({engine.kind}) {NO_COST_MODEL}")
    return report


def priced_sql(project: Project, engine: Engine, table: str, *,
               full_refresh: bool) -> tuple[str, str | None, str | None]:
    """``(sql, window_from, note)``: the SQL a dry run prices for ``table``, as the next build runs it.

    A model is priced by its compiled SQL. An incremental model whose table exists, built from the
    same contract, is priced by its window (the engine's high-water mark minus the lookback, a
    literal in the SQL, so the warehouse prunes the sources' partitions before it runs): the bytes
    show what an incremental build reads, and ``window_from`` says from when. The window is worked
    out only on an engine that prices queries (its first read creates DuckDB's state table)."""
    sql = compile_model(project, engine, table)
    if project.contracts[table].incremental is None or not engine.prices_queries:
        return sql, None, None
    if full_refresh:
        return sql, None, "priced in full (--full-refresh)"
    try:
        window, cutoff = incremental_sql(project, engine, table, sql, full_refresh=False)
    except FullRefreshNeeded:
        return sql, None, ("priced in full: its contract's columns changed since the table was built, so "
                           "the next build must be --full-refresh")
    if cutoff is None:
        return sql, None, "priced in full: the table is not built yet (its first build reads every row)"
    return window, cutoff.isoformat(), None


def budget_problems(report: CostReport, max_per_model: int | None, max_per_build: int | None) -> list[str]:
    """Each way ``report`` goes over the scan budget, naming the model and the figures."""
    problems = []
    for m in report.models:
        if max_per_model is not None and m.bytes is not None and m.bytes > max_per_model:
            problems.append(f"{m.table} would scan {format_bytes(m.bytes)} ({m.bytes:,} bytes, "
                            f"${m.cost_usd or 0:,.4f}), over the per-model budget of {format_bytes(max_per_model)} "
                            f"({max_per_model:,} bytes; max_bytes_per_model of target '{report.target}')")
    total = report.total_bytes
    if max_per_build is not None and total is not None and total > max_per_build:
        biggest = sorted((m for m in report.models if m.bytes), key=lambda m: -(m.bytes or 0))[:3]
        top = ", ".join(f"{m.table} {format_bytes(m.bytes or 0)}" for m in biggest)
        problems.append(f"a build of all {len(report.models)} models would scan {format_bytes(total)} "
                        f"({total:,} bytes, ${report.total_cost_usd or 0:,.4f}), over the per-build budget of "
                        f"{format_bytes(max_per_build)} ({max_per_build:,} bytes; max_bytes_per_build of target "
                        f"'{report.target}'); the largest: {top}")
    return problems


def format_bytes(size: int) -> str:
    """``size`` in binary units as BigQuery's console shows them (``1.50 GiB``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size:,} B" if unit == "B" else f"{value:,.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")

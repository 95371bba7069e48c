"""Writing the generated tables: into a warehouse (``seed``) or into export files (``seed_to_files``)."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .common import SeedError, shaper, table_rng
from .world import World, build_world

if TYPE_CHECKING:
    from ..contracts import Contract
    from ..engines import Engine
    from ..project import Project

FORMATS = ("parquet", "jsonl", "csv")
Progress = Callable[[str, int, int], None]
"""``progress(table, index, count)`` is called before each table is generated."""


@dataclass
class SeedResult:
    """One raw table written by the seed."""

    table: str  # layer.table
    rows: int
    seconds: float
    path: str | None = None  # the file written, for seed_to_files
    skipped: str | None = None  # why nothing was written (no generator for the contract)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generators() -> dict[str, Callable[..., Any]]:
    """Every raw table the seed can generate, by table name."""
    from . import cs, ga4, hubspot, hubspot_forms, hubspot_line_items, mixpanel, quickbooks, zendesk

    out: dict[str, Callable[..., Any]] = {}
    for module in (hubspot, hubspot_forms, hubspot_line_items, ga4, mixpanel, quickbooks, zendesk, cs):
        out.update(module.TABLES)
    return out


def generate(contract: Contract, world: World) -> Iterator[pa.Table]:
    """The contract's table as one or more Arrow tables (big tables come in chunks)."""
    gen = generators().get(contract.table)
    if gen is None:
        raise SeedError(f"no generator for {contract.qualified_name}")
    result = gen(world, table_rng(world.seed, contract.table), shaper(contract))
    if isinstance(result, pa.Table):
        yield result
    else:
        yield from result


def _contracts(project: Project, tables: list[str] | None) -> list[Contract]:
    contracts = project.layer("raw")
    if tables:
        wanted = {t.split(".", 1)[-1] for t in tables}
        unknown = wanted - {c.table for c in contracts}
        if unknown:
            raise SeedError(f"no raw contract for: {', '.join(sorted(unknown))}")
        contracts = [c for c in contracts if c.table in wanted]
    return contracts


def _check_args(scale: float, seed: int) -> None:
    if not scale > 0:
        raise SeedError(f"--scale must be greater than 0, not {scale}")
    if seed < 0:
        raise SeedError(f"--seed must be 0 or more, not {seed}")


def seed(project: Project, engine: Engine, scale: float = 1.0, seed: int = 42, progress: Progress | None = None,
         tables: list[str] | None = None) -> list[SeedResult]:
    """Generate every raw table and write it to ``engine``, table by table.

    Each table is (re)created from its contract and filled all or nothing
    (:meth:`Engine.replace_with_chunks`: a failed seed leaves the table as it was, never half a
    table). Generation runs ahead of writing on a background thread
    (:class:`_Ahead`): numpy, pyarrow and DuckDB release the GIL, so the next table is drawn
    while DuckDB compresses and commits the previous one. At most ``_AHEAD`` chunks wait between
    the two, so memory is bounded by a few chunks, not by the scale. Tables are generated and
    written in contract order as before, and every table draws from its own random stream, so
    the data is the same whichever thread draws it. Raw contracts without a generator are
    reported as skipped.
    """
    _check_args(scale, seed)
    world = build_world(seed, scale)
    known = generators()
    contracts = _contracts(project, tables)
    results = []
    with _Ahead(contracts, world, known) as ahead:
        for i, contract in enumerate(contracts):
            if progress:
                progress(contract.qualified_name, i, len(contracts))
            started = time.perf_counter()
            if contract.table not in known:
                results.append(SeedResult(contract.qualified_name, 0, 0.0, skipped="no generator for this table"))
                continue
            rows = engine.replace_with_chunks(contract, ahead.chunks(i))  # a failed seed leaves no half table
            results.append(SeedResult(contract.qualified_name, rows, time.perf_counter() - started))
    if progress:
        progress("", len(contracts), len(contracts))
    if any(r.rows for r in results):
        from .common import SYNC_END

        engine.record_seed_clock(datetime.fromtimestamp(SYNC_END / 1_000_000, UTC))
    return results


SEED_MEMORY_LIMIT = "1GB"
"""DuckDB's memory limit while ``kcrm-gov seed`` writes, unless the target sets its own. The seed only
appends, so a bigger buffer pool would only keep written blocks cached: with 1GB the whole process
peaks at 3.2 GiB at scale 100 (4.1 GiB with 2GB; ``benchmarks/scale.py``), at about the same speed."""

_AHEAD = 2
"""Chunks the generator thread may have ready before the writer takes them (bounds memory)."""


class _Stopped(Exception):
    """The writer gave up (an error, or it finished early): the generator thread stops."""


class _Ahead:
    """Generates the contracts' tables on a background thread, in order, one bounded queue ahead.

    ``chunks(i)`` yields contract ``i``'s chunks as they come; an error raised while generating
    is raised again there, in the writer's thread.
    """

    _END = object()

    def __init__(self, contracts: list[Contract], world: World, known: dict[str, Callable[..., Any]]) -> None:
        self._contracts, self._world, self._known = contracts, world, known
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kcrm-gov-seed-generate", daemon=True)

    def __enter__(self) -> _Ahead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a generator waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _put(self, item: tuple[int, Any]) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.05)
                return
        raise _Stopped

    def _run(self) -> None:
        try:
            for i, contract in enumerate(self._contracts):
                if contract.table not in self._known:
                    continue
                for chunk in generate(contract, self._world):
                    self._put((i, chunk))
                    del chunk
                self._put((i, self._END))
        except _Stopped:
            return
        except BaseException as exc:  # handed to the writer, which raises it
            with contextlib.suppress(_Stopped):
                self._put((-1, exc))

    def chunks(self, index: int) -> Iterator[pa.Table]:
        while True:
            got, item = self._queue.get()
            if got == -1:
                raise item
            if got != index:  # pragma: no cover - the writer and the generator walk the same list
                raise SeedError(f"seed pipeline out of order: expected table {index}, got {got}")
            if item is self._END:
                return
            yield item


def seed_to_files(project: Project, out_dir: Path, fmt: str = "parquet", scale: float = 1.0, seed: int = 42,
                  progress: Progress | None = None, tables: list[str] | None = None) -> list[SeedResult]:
    """Write every raw table as one export file ``<out_dir>/<table>.<fmt>``.

    ``parquet`` keeps every type (nested GA4 records included); ``jsonl`` writes one JSON
    object per line (nested records as JSON objects and arrays, timestamps as ISO text);
    ``csv`` has a header line, and writes nested columns (GA4 ``event_params``,
    ``user_properties``, ``device``, ``geo``, ...) as JSON text in their cell — which is how
    ``kcrm-gov load`` reads them back.
    """
    import duckdb

    if fmt not in FORMATS:
        raise SeedError(f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    _check_args(scale, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = build_world(seed, scale)
    known = generators()
    contracts = _contracts(project, tables)
    results = []
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    try:
        for i, contract in enumerate(contracts):
            if progress:
                progress(contract.qualified_name, i, len(contracts))
            started = time.perf_counter()
            if contract.table not in known:
                results.append(SeedResult(contract.qualified_name, 0, 0.0, skipped="no generator for this table"))
                continue
            path = out_dir / f"{contract.table}.{fmt}"
            rows = _write_file(con, contract, generate(contract, world), path, fmt)
            results.append(SeedResult(contract.qualified_name, rows, time.perf_counter() - started, str(path)))
    finally:
        con.close()
    if progress:
        progress("", len(contracts), len(contracts))
    return results


def _write_file(con: Any, contract: Contract, chunks: Iterator[pa.Table], path: Path, fmt: str) -> int:
    rows = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer = None
        try:
            for chunk in chunks:
                if writer is None:
                    writer = pq.ParquetWriter(str(path), chunk.schema, compression="zstd")
                writer.write_table(chunk)
                rows += chunk.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows
    # jsonl and csv go through DuckDB's writers, one part per chunk, concatenated in order
    parts: list[Path] = []
    try:
        for chunk in chunks:
            view = f"_seed_{uuid.uuid4().hex[:8]}"
            con.register(view, chunk)
            part = path.with_name(f".{path.name}.{len(parts)}")
            columns = ", ".join(_export_column(c) if fmt == "csv" else f'"{c.name}"' for c in contract.columns)
            options = "FORMAT JSON" if fmt == "jsonl" else f"FORMAT CSV, HEADER {'true' if not parts else 'false'}"
            con.execute(f"COPY (SELECT {columns} FROM {view}) TO '{part}' ({options})")
            con.unregister(view)
            parts.append(part)
            rows += chunk.num_rows
        with path.open("wb") as out:
            for part in parts:
                out.write(part.read_bytes())
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return rows


def _export_column(column: Any) -> str:
    name = '"' + column.name.replace('"', '""') + '"'
    if column.fields:  # nested: JSON text in the CSV cell
        return f"CAST(to_json({name}) AS VARCHAR) AS {name}"
    return name

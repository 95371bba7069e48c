"""Seed benchmark: wall time and peak memory of `kcrm-gov seed` into a fresh DuckDB file.

Run: ``python benchmarks/seed.py [SCALE ...]`` (default: 1 and 10). Each scale runs in its
own process so that peak RSS is that run's own. Goals on the 2-core CI machines:
scale 1 ≤ 5 s, scale 10 ≤ 40 s. The floor, measured in the same run, is the generators plus the
same rows written by a bare DuckDB connection (peak RSS is read before the floor runs).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

GOALS = {1.0: 5.0, 10.0: 40.0}


def run_one(scale: float) -> dict[str, Any]:
    from kcrm_gov.engines.duckdb import BUILD_THREADS, DuckDBEngine
    from kcrm_gov.project import Project
    from kcrm_gov.seed import SEED_MEMORY_LIMIT, seed

    project = Project.load(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        # opened as `kcrm-gov seed` opens it (open_engine(..., building=True, memory_limit=SEED_MEMORY_LIMIT)):
        # one DuckDB thread per statement, the seed's memory limit
        target = project.config.target()
        engine = DuckDBEngine(project, replace(target, path=Path(tmp) / "warehouse.duckdb",
                                               memory_limit=target.memory_limit or SEED_MEMORY_LIMIT),
                              statement_threads=BUILD_THREADS)
        started = time.perf_counter()
        results = seed(project, engine, scale=scale, seed=42)
        seconds = time.perf_counter() - started
        engine.close()
        size = (Path(tmp) / "warehouse.duckdb").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    slowest = max(results, key=lambda r: r.seconds)
    return {"scale": scale, "seconds": seconds, "peak_rss_mb": peak, "rows": sum(r.rows for r in results),
            "file_mb": size / 2**20, "slowest_table": slowest.table, "slowest_seconds": slowest.seconds,
            **floor(project, scale)}


def floor(project: object, scale: float) -> dict[str, float]:
    """The same rows written by a bare DuckDB connection: the generators' time plus one
    ``CREATE TABLE AS`` per table in one transaction (no contract DDL, no per-table commit)."""
    import duckdb
    import pyarrow as pa

    from kcrm_gov.seed import build_world
    from kcrm_gov.seed.write import generate, generators

    known = generators()
    started = time.perf_counter()
    world = build_world(42, scale)
    tables = {c.table: pa.concat_tables(list(generate(c, world)))
              for c in project.layer("raw") if c.table in known}  # type: ignore[attr-defined]
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        started = time.perf_counter()
        con.execute("BEGIN")
        for name, data in tables.items():
            con.register("rows", data)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM rows')
            con.unregister("rows")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        written = time.perf_counter() - started
        con.close()
    return {"generate_seconds": generated, "floor_seconds": generated + written}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(float(argv[1]))))
        return 0
    scales = [float(a) for a in argv] or [1.0, 10.0]
    for scale in scales:
        out = subprocess.run([sys.executable, __file__, "--one", str(scale)], check=True, capture_output=True,
                             text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        goal = GOALS.get(scale)
        verdict = "" if goal is None else f" (goal ≤ {goal:g} s: {'met' if r['seconds'] <= goal else 'MISSED'})"
        print(f"seed scale={scale:g}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"{r['rows']:,} rows, {r['file_mb']:.0f} MB file; slowest {r['slowest_table']} "
              f"{r['slowest_seconds']:.1f} s{verdict}")
        print(f"  floor (generators {r['generate_seconds']:.1f} s + bare DuckDB CREATE TABLE AS, one commit): "
              f"{r['floor_seconds']:.1f} s; kcrm-gov seed = {r['seconds'] / r['floor_seconds']:.2f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

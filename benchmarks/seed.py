"""Seed benchmark: wall time and peak memory of `kcrm-gov seed` into a fresh DuckDB file.

Run: ``python benchmarks/seed.py [SCALE ...]`` (default: 1 and 10). Each scale runs in its
own process so that peak RSS is that run's own. Goals on the 2-core CI machines:
scale 1 ≤ 5 s, scale 10 ≤ 40 s.
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

GOALS = {1.0: 5.0, 10.0: 40.0}


def run_one(scale: float) -> dict[str, float]:
    from kcrm_gov.engines.duckdb import DuckDBEngine
    from kcrm_gov.project import Project
    from kcrm_gov.seed import seed

    project = Project.load(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        engine = DuckDBEngine(project, replace(project.config.target(), path=Path(tmp) / "warehouse.duckdb"))
        started = time.perf_counter()
        results = seed(project, engine, scale=scale, seed=42)
        seconds = time.perf_counter() - started
        engine.close()
        size = (Path(tmp) / "warehouse.duckdb").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    slowest = max(results, key=lambda r: r.seconds)
    return {"scale": scale, "seconds": seconds, "peak_rss_mb": peak, "rows": sum(r.rows for r in results),
            "file_mb": size / 2**20, "slowest_table": slowest.table, "slowest_seconds": slowest.seconds}


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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Time of `kcrm-gov test` over every table at scale 1, and its ratio to a floor (goal: <= 3x).

Usage: python benchmarks/checks.py [--project-dir DIR] [--runs N]

The floor is measured in the same run: for each table, ONE aggregate SQL query in DuckDB that
computes the same metrics the generated checks compute (row count, missing counts, duplicate
counts, invalid counts, reference orphans and user SQL rules as scalar subqueries, the max of the
freshness column, failed-rows conditions as filtered counts; the schema check reads metadata and
is left out).

Each figure is shown twice. *Cold*: no cache, as the first run after a contract changed (or a
fresh clone) -- the checks are generated from the contracts and parsed by Soda. *Warm*: the
generated and parsed checks come from ``.kcrm/cache/`` (what every later run of unchanged
contracts does). The scan in-process is what ``kcrm-gov test`` spends after start-up (Python,
Soda, DuckDB and pandas imports, ~1.2 s on this machine); the goal is judged on it.

The warehouse must be seeded and built; when it is missing, the script runs `kcrm-gov build`
first (which seeds the raw layer at scale 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).parent / "kcrm-gov")


def floor_sql(tc, relation) -> str | None:  # tc: TableChecks; relation(table) -> qualified name
    """One aggregate query computing the metrics of ``tc``'s checks."""
    import re

    parts: list[str] = []
    table = relation(tc.table)
    for spec in tc.specs:
        key, config = spec.key, spec.config
        cols = ", ".join(spec.columns)
        if spec.kind == "schema":
            continue
        if key.startswith("row_count"):
            parts.append("COUNT(*)")
        elif key.startswith("missing_"):
            parts.append(f"COUNT(*) - COUNT({spec.columns[0]})")
        elif key.startswith("duplicate_"):
            not_null = " AND ".join(f"{c} IS NOT NULL" for c in spec.columns)
            parts.append(f"COUNT(*) FILTER (WHERE {not_null}) - COUNT(DISTINCT ({cols}))")
        elif key.startswith("invalid_"):
            col = spec.columns[0]
            if "valid values" in config:
                values = ", ".join("'" + str(v).replace("'", "''") + "'" if isinstance(v, str) else str(v)
                                   for v in config["valid values"])
                parts.append(f"COUNT(*) FILTER (WHERE {col} IS NOT NULL AND {col} NOT IN ({values}))")
            elif "valid regex" in config:
                parts.append(f"COUNT(*) FILTER (WHERE {col} IS NOT NULL AND NOT regexp_matches({col}, "
                             f"'{config['valid regex']}'))")
            else:
                parts.append(f"COUNT(*) FILTER (WHERE {col} IS NOT NULL)")
        elif key.startswith("values in"):
            m = re.match(r"values in \((\w+)\) must exist in (\w+) \((\w+)\)", key)
            col, other, other_col = m.groups()
            parts.append(f"(SELECT COUNT(*) FROM {table} s LEFT JOIN {relation(other)} r ON s.{col} = r.{other_col} "
                         f"WHERE s.{col} IS NOT NULL AND r.{other_col} IS NULL)")
        elif key.startswith("freshness"):
            parts.append(f"MAX({spec.columns[0]})")
        elif key == "failed rows":
            parts.append(f"COUNT(*) FILTER (WHERE {config['fail condition']})")
        else:
            query = next((v for k, v in config.items() if k.endswith(" query")), None)
            if query:
                parts.append(f"({query})")
    return f"SELECT {', '.join(parts)} FROM {table}" if parts else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from kcrm_gov import cache
    from kcrm_gov.checks import generate_all, soda_parser
    from kcrm_gov.checks.scan import run_tests
    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project

    root = args.project_dir.resolve()
    project = Project.load(root)
    tables = [c.qualified_name for c in project.ordered()]
    with open_engine(project) as engine:
        missing = [t for t in tables if not engine.table_exists(*t.split(".", 1))]
    if missing:
        print(f"{len(missing)} tables missing: running `kcrm-gov build` (seeds scale 1 first)", flush=True)
        subprocess.run([EXE, "--project-dir", str(root), "build"], check=True, capture_output=True)

    from kcrm_gov.seed.common import SYNC_END

    now = dt.datetime.fromtimestamp(SYNC_END / 1e6, tz=dt.UTC).isoformat()
    when = dt.datetime.fromisoformat(now)
    command = [EXE, "--project-dir", str(root), "test", "--now", now, "--json"]

    def forget() -> None:
        """Start from no cache: no entries on disk, nothing remembered in this process."""
        shutil.rmtree(project.state_dir / cache.CACHE_DIR, ignore_errors=True)
        cache._memory.clear()
        soda_parser._parser_class.cache_clear()

    cli_cold, cli_warm, lib_cold, lib_warm, floor_times = [], [], [], [], []
    checks = 0
    with open_engine(project, read_only=True) as engine:
        run_tests(project, engine, tables, now=when)  # imports Soda's modules once, outside the timings
    for _ in range(args.runs):
        forget()
        for times in (cli_cold, cli_warm):
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        with open_engine(project, read_only=True) as engine:
            forget()
            fresh = Project.load(root)  # nothing rendered yet (column types are rendered once per load)
            for times in (lib_cold, lib_warm):
                start = time.perf_counter()
                run = run_tests(fresh, engine, tables, now=when)
                times.append(time.perf_counter() - start)
            checks = sum(len(t.checks) for t in run.tables)
            generated = generate_all(project, "duckdb", target=engine.target, tables=tables)
            queries = [floor_sql(tc, lambda t, layer=tc.contract.layer: engine.relation(layer, t))
                       for tc in generated]
            con = engine.con
            start = time.perf_counter()
            for sql in queries:
                if sql:
                    con.execute(sql).fetchall()
            floor_times.append(time.perf_counter() - start)
    rows = 0
    with open_engine(project, read_only=True) as engine:
        for t in tables:
            rows += engine.row_count(project.contracts[t]) or 0
    median = statistics.median
    floor = median(floor_times)
    print(f"{len(tables)} tables, {rows:,} rows, {checks} checks (median of {args.runs} runs)")
    print(f"floor (1 aggregate query per table):            {floor:.2f} s")
    print("                                         cold (no cache)    warm (cache from the last run)")
    print(f"the scan in-process                      {median(lib_cold):5.2f} s {median(lib_cold) / floor:4.1f}x"
          f"      {median(lib_warm):5.2f} s {median(lib_warm) / floor:4.1f}x")
    print(f"kcrm-gov test (a fresh process)          {median(cli_cold):5.2f} s {median(cli_cold) / floor:4.1f}x"
          f"      {median(cli_warm):5.2f} s {median(cli_warm) / floor:4.1f}x")
    ratio = median(lib_warm) / floor
    print(f"goal <= 3x (the scan, warm): {'met' if ratio <= 3 else 'NOT met'} at {ratio:.1f}x; "
          f"cold it is {median(lib_cold) / floor:.1f}x")

if __name__ == "__main__":
    main()

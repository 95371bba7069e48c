"""An incremental rebuild of the event models after one new day of events, against a full build.

Usage: python benchmarks/incremental.py [--scale 1] [--seed 42]

Seeds the raw layer, builds everything the incremental event models read, then appends one new
day of Mixpanel and GA4 events (the last day's rows again, one day later in event and load time,
with new ids), and builds the incremental models on identical copies: incrementally (only rows
loaded since the high-water mark minus the lookback), twice, and with ``--full-refresh``. The
project is a fresh copy, so the first incremental run also translates each model's window SQL,
as the first run after a model changes does; the second finds it in ``.kcrm/cache``, as every
later run does (the goal: incremental <= 10 % of the full build, is for that steady state). Prints
each model's seconds and rows written, the ratios, and whether every result is the same row for
row. A printed figure, never a timed test.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EVENT_MODELS = ["stg.mixpanel__events", "stg.ga4__events", "core.usage_events", "core.login_events",
                "core.feature_adoption_events", "enr.account_usage_daily"]

NEW_DAY = [
    # Mixpanel: the last day's events again a day later, new row ids, synced a day later
    """INSERT INTO raw.mixpanel__events BY NAME
    SELECT * REPLACE (_fivetran_id || '~next' AS _fivetran_id, insert_id || '~next' AS insert_id,
                      time + INTERVAL 1 DAY AS time, _fivetran_synced + INTERVAL 1 DAY AS _fivetran_synced)
    FROM raw.mixpanel__events
    WHERE time >= (SELECT max(time) FROM raw.mixpanel__events) - INTERVAL 1 DAY""",
    # GA4: the last day's shard again a day later (a new event_timestamp is a new event)
    """INSERT INTO raw.ga4__events BY NAME
    SELECT * REPLACE (strftime(strptime(event_date, '%Y%m%d') + INTERVAL 1 DAY, '%Y%m%d') AS event_date,
                      event_timestamp + 86400000000 AS event_timestamp,
                      _loaded_at + INTERVAL 1 DAY AS _loaded_at)
    FROM raw.ga4__events
    WHERE event_timestamp >= (SELECT max(event_timestamp) FROM raw.ga4__events) - 86400000000""",
]


def checksum(path: Path, table: str) -> tuple[int, str]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(f"SELECT count(*), md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY CAST(t AS VARCHAR))) "
                          f"FROM {table} AS t").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


PROJECT_FILES = ("kcrm_gov.yml", "contracts", "models", "catalog", "lineage", "checks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.scale, args.seed)


def run(tmp: Path, scale: float, seed_value: int) -> None:
    import duckdb

    from kcrm_gov.build import build
    from kcrm_gov.config import Target
    from kcrm_gov.dag import build_dag, select
    from kcrm_gov.engines.duckdb import DuckDBEngine
    from kcrm_gov.project import Project
    from kcrm_gov.seed import seed

    root = tmp / "project"  # a copy with an empty .kcrm/cache: no window SQL translated yet
    root.mkdir()
    for name in PROJECT_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, root / name)
    project = Project.load(root)
    dag = build_dag(project)
    upstream = [t for t in select(project, dag, [f"+{t}" for t in EVENT_MODELS]) if t in project.models]
    base = tmp / "base.duckdb"
    with DuckDBEngine(project, Target(name="bench", type="duckdb", path=base)) as engine:
        t0 = time.perf_counter()
        seed(project, engine, scale=scale, seed=seed_value)
        print(f"seeded scale {scale:g} in {time.perf_counter() - t0:.1f} s")
        built = build(project, engine, dag, upstream, threads=engine.target.threads)
        assert built.ok, [m.error for m in built.models if m.error]
        print(f"built the {len(upstream)} models the event models need in {built.seconds:.1f} s")
    with duckdb.connect(str(base)) as con:
        for statement in NEW_DAY:
            con.execute(statement)
        counts = con.execute("SELECT (SELECT count(*) FROM raw.mixpanel__events), "
                             "(SELECT count(*) FROM raw.ga4__events)").fetchone()
        print(f"appended one day of events: now {counts} raw Mixpanel and GA4 rows")
    files = {label: tmp / f"{label}.duckdb" for label in ("first", "incremental", "full")}
    for path in files.values():
        shutil.copy(base, path)

    results = {}  # in this order: the first incremental run translates the windows, the second reads them
    for label, full_refresh in (("first", False), ("incremental", False), ("full", True)):
        with DuckDBEngine(project, Target(name="bench", type="duckdb", path=files[label])) as engine:
            results[label] = build(project, engine, dag, EVENT_MODELS, threads=1, full_refresh=full_refresh)
        assert results[label].ok, [m.error for m in results[label].models if m.error]
    print(f"\n{'model':<30}{'full s':>9}{'rows':>10}{'1st s':>8}{'incr s':>9}{'rows':>8}{'ratio':>8}  same rows")
    for full, first, incr in zip(*(results[k].models for k in ("full", "first", "incremental")), strict=True):
        expected = checksum(files["full"], full.table)
        same = all(checksum(files[k], full.table) == expected for k in ("first", "incremental"))
        print(f"{full.table:<30}{full.seconds:>9.2f}{full.rows_written or 0:>10,}{first.seconds:>8.2f}"
              f"{incr.seconds:>9.2f}{incr.rows_written or 0:>8,}{incr.seconds / full.seconds:>8.1%}  "
              f"{'yes' if same else 'NO'}")
    totals = {k: sum(m.seconds for m in results[k].models) for k in results}
    label = f"all {len(EVENT_MODELS)}"
    print(f"{label:<30}{totals['full']:>9.2f}{'':>10}{totals['first']:>8.2f}{totals['incremental']:>9.2f}{'':>8}"
          f"{totals['incremental'] / totals['full']:>8.1%}  (goal <= 10 %)")
    print(f"the first incremental run after a model changes (its window SQL translated, then cached): "
          f"{totals['first'] / totals['full']:.1%} of the full build")


if __name__ == "__main__":
    main()

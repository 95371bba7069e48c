"""What OpenLineage costs a build: the same build with lineage off and on, and the overhead in percent.

Usage: python benchmarks/lineage.py [--scale 1] [--repeat 5] [--threads N] [--mini]

Builds a throwaway copy of the project (seeded at ``--scale``; ``--mini`` uses the three-table test
project instead) with ``kcrm_gov.build.build`` in process, alternating lineage off (no emitter) and
on (the default file transport: every START / COMPLETE event with schema, column lineage, SQL,
ownership and contract facets written as JSON lines). The column-lineage cache is cold for the first
"on" build (reported apart) and warm after, as in every build but the first after a model changes.
Prints medians and the overhead; goal <= 10 % with a warm cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PROJECT_FILES = ("kcrm_gov.yml", "contracts", "catalog", "models", "lineage")


def make_project(folder: Path, mini: bool, scale: float, seed_value: int) -> Path:
    if mini:
        import miniproject

        root = miniproject.make(folder)
        miniproject.load_raw(root, miniproject.ROWS)
        return root
    from kcrm_gov.engines import open_engine
    from kcrm_gov.project import Project
    from kcrm_gov.seed import seed

    folder.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, folder / name)
        elif src.is_file():
            shutil.copy2(src, folder / name)
    for model in sorted((folder / "models").rglob("*.sql")):  # work in progress: a model still without a contract
        contract = folder / "contracts" / model.parent.name / f"{model.stem}.odcs.yaml"
        if not contract.exists():
            print(f"  (leaving out {model.parent.name}.{model.stem}: no contract yet)")
            model.unlink()
    project = Project.load(folder)
    with open_engine(project) as engine:
        seed(project, engine, scale=scale, seed=seed_value)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mini", action="store_true", help="Use the three-table test project.")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        del os.environ[key]

    from kcrm_gov.build import build
    from kcrm_gov.dag import build_dag, select
    from kcrm_gov.engines import open_engine
    from kcrm_gov.lineage import columns
    from kcrm_gov.lineage.events import build_lineage
    from kcrm_gov.project import Project

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = make_project(Path(tmp) / "project", args.mini, args.scale, args.seed)
        prepared = time.perf_counter() - t0
        project = Project.load(root)
        dag = build_dag(project)
        tables = [t for t in select(project, dag) if t in project.models]

        def once(lineage: bool) -> tuple[float, int]:
            with open_engine(project) as engine:
                threads = args.threads or engine.target.threads
                start = time.perf_counter()
                if lineage:
                    with build_lineage(project, engine) as emitter:
                        run = build(project, engine, dag, tables, threads=threads, listener=emitter.listener())
                        emitter.finish(run)
                else:
                    run = build(project, engine, dag, tables, threads=threads)
                seconds = time.perf_counter() - start
            if not run.ok:
                sys.exit(f"the build failed: {run.counts()}")
            return seconds, sum(m.rows_written or 0 for m in run.models)

        once(False)  # warm the warehouse file and the imports
        columns._CACHES.clear()
        (project.state_dir / columns.CACHE_FILE).unlink(missing_ok=True)
        cold, rows = once(True)
        off, on = [], []
        for _ in range(args.repeat):
            off.append(once(False)[0])
            on.append(once(True)[0])
        events = project.state_dir / "lineage" / "events" / "events.jsonl"
        count = sum(1 for _ in events.open()) if events.exists() else 0
    off_m, on_m = statistics.median(off), statistics.median(on)
    overhead = (on_m - off_m) / off_m * 100 if off_m else float("inf")
    what = "mini project" if args.mini else f"scale {args.scale:g}"
    print(f"{what}: {len(tables)} models, {rows:,} rows (prepared in {prepared:.1f} s); {count} events written")
    print(f"  build, lineage off: {off_m:.3f} s   on: {on_m:.3f} s   (medians of {args.repeat})")
    print(f"  first build with a cold column-lineage cache: {cold:.3f} s")
    print(f"  lineage overhead: {overhead:+.1f} % (goal <= 10 %: {'met' if overhead <= 10 else 'NOT met'})")


if __name__ == "__main__":
    main()

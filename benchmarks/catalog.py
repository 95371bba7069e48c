"""Cold-process time of `kcrm-gov catalog build` for every table (goal: <= 10 s).

Usage: python benchmarks/catalog.py [--runs N]
Builds the whole catalog (strict) into a temporary folder N times in fresh processes and prints
the median, with the number of tables and pages. The first run may also fill the column-lineage
cache (.kcrm/lineage/); it is reported separately.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed_build(exe: str, site: Path) -> float:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    done = subprocess.run([exe, "catalog", "build", "--quiet", "--site-dir", str(site)], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"catalog build failed (exit {done.returncode}):\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exe = shutil.which("kcrm-gov") or str(Path(sys.executable).parent / "kcrm-gov")
    tables = len(list((REPO / "contracts").rglob("*.odcs.yaml")))
    with tempfile.TemporaryDirectory(prefix="kcrm-catalog-") as tmp:
        site = Path(tmp) / "site"
        first = timed_build(exe, site)
        times = [timed_build(exe, site) for _ in range(args.runs)]
        pages = sum(1 for _ in site.rglob("index.html"))
    median = statistics.median(times)
    print(f"kcrm-gov catalog build, {tables} tables, {pages} pages, cold process: {median:.2f} s "
          f"(median of {args.runs}; first run {first:.2f} s); goal <= 10 s: {'met' if median <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Cold-process time of `kcrm-gov lint` over every contract (goal: <= 2 s on 2 cores).

Usage: python benchmarks/lint.py [--runs N]
Prints the median of N fresh processes, and for comparison the floor of starting a bare
Python interpreter that imports nothing, measured in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("kcrm-gov") or str(Path(sys.executable).parent / "kcrm-gov")
    contracts = len(list((REPO / "contracts").rglob("*.odcs.yaml")))
    lint = statistics.median(timed([exe, "lint"]) for _ in range(args.runs))
    floor = statistics.median(timed([sys.executable, "-c", "pass"]) for _ in range(args.runs))
    print(f"kcrm-gov lint, {contracts} contracts, cold process: {lint:.2f} s (median of {args.runs}); "
          f"bare python start: {floor:.2f} s; goal <= 2 s: {'met' if lint <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
